"""How each backend's kernel is configured and built from a source tree (pure data and argv lists).

- ``uml``: ``make ARCH=um defconfig`` + the fast lane's fragment and patches (``harness/uml_data``),
  target ``linux``: the same recipe as the Debian-source UML kernels, so a git commit and a Debian
  release built for the fast lane differ only in their source.
- ``vm`` x86_64 / arm64: ``defconfig`` + ``kernel/configs/kvm_guest.config`` + this package's guest
  fragment + the tree's own ``tools/testing/selftests/bpf/config`` and ``config.<arch>`` (``=m``
  made ``=y``: the guest boots without modules), targets ``vmlinux`` and the arch's boot image.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from harness import uml

DATA = Path(__file__).resolve().parent / "data"
COMMON = DATA / "common.config"


@dataclasses.dataclass(frozen=True)
class Recipe:
    name: str
    """``uml``, ``vm-x86_64``, ``vm-arm64``: part of every cache key."""
    backend: str
    arch: str
    make_vars: tuple[str, ...]
    cc: str
    """The C compiler (``ccache`` goes in front of it when installed)."""
    fragments: tuple[Path, ...]
    """Ours, merged in order after the base config."""
    tree_fragments: tuple[str, ...]
    """The tree's own, relative to its top (skipped when a tree lacks one)."""
    patches: tuple[Path, ...]
    targets: tuple[str, ...]
    image: str
    """What the backend boots, relative to the build directory."""

    def key(self, compiler: str) -> str:
        """Hash of everything besides the source that decides the binary (pure)."""
        h = hashlib.sha256()
        for part in (self.name, *self.make_vars, self.cc, compiler, *self.tree_fragments, *self.targets):
            h.update(part.encode() + b"\0")
        for p in (*self.fragments, *self.patches):
            h.update(p.name.encode() + b"\0" + p.read_bytes())
        return h.hexdigest()[:12]

    def make(self, src: Path, out: Path, jobs: int, *targets: str, cc: str | None = None) -> list[str]:
        argv = ["make", "-C", str(src), f"O={out}", *self.make_vars, f"-j{jobs}"]
        if cc:
            argv.append(f"CC={cc}")
        return argv + list(targets)


def get(backend: str, arch: str) -> Recipe:
    if backend == "uml":
        if arch != "x86_64":
            raise ValueError("uml kernels are x86_64 only")
        return Recipe("uml", "uml", "x86_64", ("ARCH=um", "LOCALVERSION="), "gcc", (uml.FRAGMENT, COMMON), (),
                      tuple(sorted(uml.PATCHES.glob("*.patch"))), ("linux",), "linux")
    if arch == "x86_64":
        return Recipe("vm-x86_64", "vm", arch, ("ARCH=x86_64", "LOCALVERSION="), "gcc", (DATA / "vm-x86_64.config", COMMON),
                      ("kernel/configs/kvm_guest.config", "tools/testing/selftests/bpf/config",
                       "tools/testing/selftests/bpf/config.x86_64"), (), ("vmlinux", "bzImage"), "vmlinux")
    if arch == "arm64":
        return Recipe("vm-arm64", "vm", arch, ("ARCH=arm64", "CROSS_COMPILE=aarch64-linux-gnu-", "LOCALVERSION="),
                      "aarch64-linux-gnu-gcc", (DATA / "vm-arm64.config", COMMON),
                      ("kernel/configs/kvm_guest.config", "tools/testing/selftests/bpf/config",
                       "tools/testing/selftests/bpf/config.aarch64"), (), ("vmlinux", "Image"),
                      "arch/arm64/boot/Image")
    raise ValueError(f"no build recipe for {backend} {arch}")


def builtin_fragment(text: str) -> str:
    """A selftests config fragment with modules made built-in (pure)."""
    return "\n".join(line[:-2] + "=y" if line.startswith("CONFIG_") and line.endswith("=m") else line
                     for line in text.splitlines()) + "\n"
