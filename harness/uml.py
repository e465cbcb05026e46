"""User-mode Linux kernels: built from the same Debian ``linux-source`` as the VM kernels, booted as
an ordinary host process that verifies at native speed.

The build is ``make ARCH=um defconfig``, the config fragment in ``uml_data/`` merged over it, the
patches in ``uml_data/patches/`` applied (each says why it exists; none changes verifier logic),
``make ARCH=um linux``.  It is cached by (source package version, fragment hash, patch hashes, gcc
version); only the ``linux`` binary and its ``.config`` are kept.

A UML cell boots with the host's filesystem as its root (hostfs, read-write: the runner writes its
results straight into the cell's rwdir) and an init script that mounts what the runner needs,
runs it and powers off.  The console is UML's stdout.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shlex
import shutil
import threading
import time
from pathlib import Path
from typing import Callable

from harness import cache, proc
from harness.errors import BuildError
from harness.kernels import Kernel, check_config
from harness.kernels import debian
from harness.kernels.apt import Apt
from harness.version import KernelVersion

log = logging.getLogger(__name__)

DATA = Path(__file__).resolve().parent / "uml_data"
FRAGMENT = DATA / "config-fragment"
PATCHES = DATA / "patches"

REQUIRED = ("CONFIG_BPF_SYSCALL", "CONFIG_DEBUG_INFO_BTF", "CONFIG_HOSTFS", "CONFIG_IKCONFIG_PROC")


def recipe_hash(gcc: str) -> str:
    h = hashlib.sha256()
    h.update(FRAGMENT.read_bytes())
    for p in sorted(PATCHES.glob("*.patch")):
        h.update(p.name.encode() + p.read_bytes())
    h.update(gcc.encode())
    return h.hexdigest()[:12]


def make_argvs(src: Path, jobs: int) -> list[list[str]]:
    """The build after the patches, as argv lists (pure)."""
    return [
        ["make", "-C", str(src), "ARCH=um", "defconfig"],
        [str(src / "scripts" / "kconfig" / "merge_config.sh"), "-m", "-O", str(src), str(src / ".config"), str(FRAGMENT)],
        ["make", "-C", str(src), "ARCH=um", "olddefconfig"],
        ["make", "-C", str(src), "ARCH=um", f"-j{jobs}", "linux"],
    ]


def missing_options(config_text: str, fragment_text: str) -> list[str]:
    """Fragment options (``=y``) that did not survive olddefconfig: a dependency is missing (pure)."""
    have = {line.strip() for line in config_text.splitlines()}
    return [line.strip() for line in fragment_text.splitlines()
            if line.strip().endswith("=y") and not line.startswith("#") and line.strip() not in have]


def build(version: KernelVersion, kid: str, apt: Apt, cache_root: Path, jobs: int,
          progress: Callable[[str], None] | None = None) -> Kernel:
    progress = progress or (lambda msg: None)
    pkg, tarball = debian.fetch_source(version, apt, cache_root)
    gcc = proc.version_of(["gcc", "--version"])
    final = cache_root / "kernels" / "uml" / cache.safe_name(f"{pkg.name}_{pkg.version}-{recipe_hash(gcc)}")
    with cache.locked(final.with_name(final.name + ".lock")):
        if not (final / "linux").exists():
            with cache.building(final) as tmp:
                _build(tarball, tmp, jobs, progress, f"uml {version}")
    config = final / "config"
    text = config.read_text()
    check_config(text, f"uml {version}")
    release = json.loads((final / "build.json").read_text())["release"]
    return Kernel(id=kid, arch="x86_64", release=release, source="uml", image=final / "linux",
                  vmlinux=final / "linux", modules=None, config=config, package=f"{pkg.name} (ARCH=um)",
                  package_version=pkg.version, package_sha256=recipe_hash(gcc))


def _build(tarball: Path, out: Path, jobs: int, progress: Callable[[str], None], what: str) -> None:
    src = out / "src"
    logs = out / "logs"
    t0 = time.monotonic()
    progress(f"{what}: extracting {tarball.name}")
    src.mkdir(parents=True)
    proc.run(["tar", "-xf", tarball, "-C", src, "--strip-components=1"], timeout=1800, what=f"tar -x {tarball.name}")
    for patch in sorted(PATCHES.glob("*.patch")):
        proc.run(["patch", "-p1", "-d", src, "-i", patch], timeout=60, log_path=logs / "patch.log",
                 what=f"patch {patch.name} (does it still apply to {tarball.name}?)")
    argvs = make_argvs(src, jobs)
    for argv in argvs[:3]:
        proc.run(argv, timeout=600, log_path=logs / "config.log", what=f"{what}: {argv[-1]}")
    missing = missing_options((src / ".config").read_text(), FRAGMENT.read_text())
    if missing:
        raise BuildError(f"{what}: config options dropped by olddefconfig (a dependency is off): "
                         f"{', '.join(missing)}; fix {FRAGMENT}")
    progress(f"{what}: building with -j{jobs} (a few minutes)")
    log_path = logs / "build.log"
    p, tee = proc.start(argvs[3], log_path=log_path)
    stop = threading.Event()

    def ticker() -> None:
        while not stop.wait(15):
            n = log_path.read_text(errors="replace").count("\n  CC ") if log_path.exists() else 0
            progress(f"{what}: {n} files compiled, {time.monotonic() - t0:.0f}s")

    t = threading.Thread(target=ticker, daemon=True)
    t.start()
    try:
        rc = p.wait()
    finally:
        stop.set()
        proc.stop(p)
        tee.join(timeout=30)
    if rc != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-5:]
        raise BuildError(f"{what}: make linux failed with exit {rc} (log: {log_path}): {' | '.join(tail)}")
    shutil.copy2(src / "linux", out / "linux")
    shutil.copy2(src / ".config", out / "config")
    release = (src / "include" / "config" / "kernel.release").read_text().strip()
    (out / "build.json").write_text(json.dumps({"release": release, "seconds": round(time.monotonic() - t0, 1),
                                                "tarball": tarball.name, "jobs": jobs}))
    shutil.rmtree(src)
    progress(f"{what}: built in {time.monotonic() - t0:.0f}s")


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
