"""User-mode Linux kernels: built from the same Debian ``linux-source`` as the VM kernels, booted as
an ordinary host process that verifies at native speed.

The build is ``make ARCH=um defconfig``, the config fragment in ``uml_data/`` merged over it, the
patches in ``uml_data/patches/`` applied (each says why it exists; none changes verifier logic),
``make ARCH=um linux``: the ``uml`` recipe of :mod:`harness.kernels.built.recipe`, run by
:mod:`harness.kernels.built.kbuild` over the release's source imported into git, cached by commit and recipe
hash (fragment, patches, gcc version); only the ``linux`` binary and its ``.config`` are kept.

A UML cell boots with the host's filesystem as its root (hostfs, read-write: the runner writes its
results straight into the cell's rwdir) and an init script that mounts what the runner needs,
runs it and powers off.  The console is UML's stdout.
"""

from __future__ import annotations

import dataclasses
import logging
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from harness.arch import PRIMARY
from harness.kernels import Kernel, check_config
from harness.version import KernelVersion

if TYPE_CHECKING:
    from harness.kernels.apt import Apt

log = logging.getLogger(__name__)

DATA = Path(__file__).resolve().parent / "uml_data"
FRAGMENT = DATA / "config-fragment"
PATCHES = DATA / "patches"
"""One directory per kernel series (``6.1``, ``6.12``): the same changes, each fitted to that series' source."""


def series_dirs() -> list[tuple[tuple[int, int], Path]]:
    """The patch series kept, oldest first."""
    out = []
    for d in PATCHES.iterdir():
        major, _, minor = d.name.partition(".")
        if d.is_dir() and major.isdigit() and minor.isdigit():
            out.append(((int(major), int(minor)), d))
    return sorted(out)


def patches_for(version: KernelVersion | None) -> tuple[Path, ...]:
    """The fast lane's patches for a kernel of ``version``: the newest series kept at or below it (a 6.6 source
    takes 6.1's, 6.13 to 7.2 take 6.12's, 7.3 and later 7.3's); None (version unknown): the newest."""
    kept = series_dirs()
    chosen = kept[-1][1]
    if version is not None:
        below = [d for s, d in kept if s <= (version.major, version.minor)]
        chosen = below[-1] if below else kept[0][1]
    return tuple(sorted(chosen.glob("*.patch")))

REQUIRED = ("CONFIG_BPF_SYSCALL", "CONFIG_DEBUG_INFO_BTF", "CONFIG_HOSTFS", "CONFIG_IKCONFIG_PROC")


def missing_options(config_text: str, fragment_text: str) -> list[str]:
    """Fragment options (``=y``) that did not survive olddefconfig: a dependency is missing (pure)."""
    have = {line.strip() for line in config_text.splitlines()}
    return [line.strip() for line in fragment_text.splitlines()
            if line.strip().endswith("=y") and not line.startswith("#") and line.strip() not in have]


def build(version: KernelVersion, kid: str, apt: Apt, cache_root: Path, jobs: int,
          progress: Callable[[str], None] | None = None) -> Kernel:
    """The UML kernel of a Debian release: its ``linux-source`` as a git repository, built with the ``uml``
    recipe of :mod:`harness.kernels.built` -- the same build a ``{source: V, backend: uml}`` kernel or a commit of a
    git tree gets, sharing its out-of-tree directory and compiler cache."""
    from harness.backends import UML
    from harness.kernels.built import debsrc, kbuild
    repo, base, pkg = debsrc.repo(version, apt, cache_root)
    built = kbuild.build(repo, base, UML.recipe(PRIMARY, version), kid=kid, cache_root=cache_root, jobs=jobs,
                         progress=progress)
    k = built.kernel
    check_config(k.config.read_text() if k.config else "", f"uml {version}")
    # a Debian release, not a commit: reports name the package, fidelity pairs it with the VM kernel of the same
    # package version
    return dataclasses.replace(k, package=f"{pkg.name} (ARCH=um)", package_version=pkg.version)


INIT = """#!/bin/sh
# bpf-harness UML init: the host's filesystem is the root (hostfs); give the runner what it needs.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
ulimit -l unlimited
{command}
echo "bpf-harness: runner exited with $?"
sync
echo o > /proc/sysrq-trigger
sleep 10
"""


def init_script(guest: list[str]) -> str:
    """The guest's init: mounts, the runner, power off (pure)."""
    return INIT.format(command=shlex.join(guest))


def boot_argv(image: Path, memory: str, init: Path) -> list[str]:
    """The UML command line (pure): the host's / as root via hostfs, console on stdout.

    ``printk.time=1``: UML's defconfig prints no timestamps, and the console
    scanner only trusts timestamped lines (kernel lines, not our output), so a
    UML panic or splat went unseen without it.
    """
    return [str(image), f"mem={memory}", "root=/dev/root", "rootfstype=hostfs", "rootflags=/", "rw",
            f"init={init}", "con=null", "con0=null,fd:1", "panic=-1", "printk.time=1"]
