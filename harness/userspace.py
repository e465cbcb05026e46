"""Foreign-arch userspace from Debian packages: the root an arm64 guest boots into, and the sysroot
veristat is cross-built against.

Each tree is the dependency closure of a short package list (resolved by apt under a private
configuration, signatures verified, the host's dpkg architectures untouched), unpacked with
``dpkg-deb -x`` into a cache directory keyed by the exact (package, version) list, with a
``contents.json`` that records what it holds.  Nothing is hand-made or fetched outside the archive.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

from harness import cache, proc
from harness.arch import Arch
from harness.kernels.apt import Apt
from harness.matrix import DebianSettings

log = logging.getLogger(__name__)

SUITES = ("bookworm",)
"""The userspace comes from the host's Debian release, whatever suites the kernels come from."""

ROOT_PACKAGES = ("bash", "dash", "coreutils", "grep", "sed", "mount", "util-linux", "busybox-static", "python3.11-minimal",
                 "libpython3.11-stdlib")
"""vng's virtme-init is a bash script (mount, setsid, ...); its initramfs, which loads the 9p modules
before the root is mounted, is built from the root's busybox; the runner is ``python3 -S`` and runs
veristat under coreutils' ``stdbuf``.  Everything else comes in as their dependencies."""

SYSROOT_PACKAGES = ("libc6-dev", "libgcc-12-dev", "libelf-dev", "zlib1g-dev", "libzstd-dev", "linux-libc-dev")
"""Headers and static libraries for a static veristat (libbpf, libelf, zlib, zstd, glibc)."""

GUEST_PYTHON = "/usr/bin/python3.11"

MOUNT_POINTS = ("proc", "sys", "dev", "dev/pts", "tmp", "run", "boot", "root", "home", "opt", "srv", "mnt",
                "var/tmp", "var/log", "etc/lvm")
"""Directories virtme-init mounts over (a package-only tree has no postinst to create them)."""

ETC_FILES = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/bash\n",
    "etc/group": "root:x:0:\n",
    "etc/shadow": "",
    "etc/fstab": "",
}
"""Files virtme-init reads or bind-mounts over; written by base-passwd's postinst on a real system."""

BUSYBOX_LINKS = ("sbin/poweroff",)
"""virtme-init ends with ``poweroff -f``; without it init exits and the kernel panics at the very end
of every cell.  busybox-static (in the root anyway, for vng's initramfs) provides the applet."""


def tree(cache_root: Path, arch: Arch, kind: str, packages: tuple[str, ...]) -> Path:
    """The unpacked closure of ``packages`` for ``arch`` (built once per exact package set)."""
    apt = Apt(cache_root, arch, DebianSettings(suites=SUITES), label=f"{arch.name}-userspace")
    apt.update()
    closure = apt.closure(packages)
    layout = [ETC_FILES, MOUNT_POINTS, BUSYBOX_LINKS] if kind == "root" else []
    key = hashlib.sha256(json.dumps([closure, layout]).encode()).hexdigest()[:12]
    final = cache_root / "userspace" / arch.name / f"{kind}-{key}"
    with cache.locked(final.with_name(final.name + ".lock")):
        if not final.exists():
            log.info("%s %s: unpacking %d Debian packages", arch.name, kind, len(closure))
            with cache.building(final) as tmp:
                debs = apt.download_closure(packages, tmp / "debs")
                for deb in debs:
                    proc.run(["dpkg-deb", "-x", deb, tmp / "tree"], timeout=600, what=f"dpkg-deb -x {deb.name}")
                shutil.rmtree(tmp / "debs")
                if kind == "root":
                    for d in MOUNT_POINTS:
                        (tmp / "tree" / d).mkdir(parents=True, exist_ok=True)
                    for name, text in ETC_FILES.items():
                        (tmp / "tree" / name).write_text(text)
                    for link in BUSYBOX_LINKS:
                        (tmp / "tree" / link).parent.mkdir(parents=True, exist_ok=True)
                        (tmp / "tree" / link).symlink_to("/bin/busybox")
                (tmp / "contents.json").write_text(json.dumps(
                    {"arch": arch.debian, "suites": list(SUITES), "requested": list(packages),
                     "added": sorted(ETC_FILES) + [d + "/" for d in MOUNT_POINTS] + [f"{link} -> /bin/busybox" for link in BUSYBOX_LINKS]
                     if kind == "root" else [],
                     "packages": [f"{n}={v}" for n, v in closure]}, indent=1))
    return final / "tree"


def guest_root(cache_root: Path, arch: Arch) -> Path:
    return tree(cache_root, arch, "root", ROOT_PACKAGES)


def sysroot(cache_root: Path, arch: Arch) -> Path:
    return tree(cache_root, arch, "sysroot", SYSROOT_PACKAGES)


def expose(root: Path, paths: list[Path]) -> None:
    """Mount points inside the root for host directories the guest gets (--rodir/--rwdir)."""
    for p in paths:
        (root / p.relative_to("/")).mkdir(parents=True, exist_ok=True)
