"""How a kernel is configured and built from a source tree (pure data and argv lists); each backend of
:mod:`harness.backends` gives its recipe per arch (``backends.named(name).recipe(arch)``).

- ``uml``: ``make ARCH=um defconfig`` + the fast lane's fragment and patches (``harness/kernels/uml_data``),
  target ``linux``: the same recipe as the Debian-source UML kernels, so a git commit and a Debian
  release built for the fast lane differ only in their source.
- ``vm`` x86_64 / arm64: what the selftests' own ``vmtest.sh`` (BPF CI) builds -- an empty config, the
  tree's ``tools/testing/selftests/bpf/config``, ``config.vm`` and ``config.<arch>`` (``=m`` made ``=y``:
  the guest boots without modules), then ``olddefconfig`` -- plus this package's guest fragment (what
  virtme-ng needs), targets ``vmlinux`` and the arch's boot image.  Not ``defconfig``: its drivers
  tripled the build (0.7 files/s for ~2,800 objects, measured here) for nothing a guest uses.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
COMMON = DATA / "common.config"
GUEST = DATA / "guest.config"
GUEST_DROP = DATA / "guest-drop.txt"
VM_CONFIGS = ("guest", "vmtest")
"""The VM recipe's two configurations: ``guest`` (the default, made for verifying in a guest) and ``vmtest``
(the selftests' own, as BPF CI builds it)."""
SELFTESTS = ("tools/testing/selftests/bpf/config", "tools/testing/selftests/bpf/config.vm")
NO_VAR_TRACKING = "KCFLAGS=-fno-var-tracking"
"""What the fast recipes (``uml``, ``guest-*``) add to the compiler's flags: no location lists for variables in the
DWARF.  Nothing reads them here (pahole builds the BTF from the types), the code is the same, and they cost
6-8% of a compile (15% for the biggest files); the kernel sets the same flag for ``DEBUG_INFO_REDUCED``.  Checked
object by object (``docs/source-built-kernels.md``): the same code, data and relocations, and the same BTF."""


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
    base: str = "defconfig"
    """The make target the fragments are merged over; empty: an empty config (as vmtest.sh)."""
    kept: str = "vmlinux"
    """The build's ELF kernel with the BTF, kept as ``vmlinux`` (UML's is the runnable ``linux``)."""
    source: str = "git"
    """:attr:`harness.kernels.Kernel.source` of what it builds."""
    drop: Path | None = None
    """A list of options left out of :attr:`tree_fragments` (:func:`dropped`), part of the key."""

    def key(self, compiler: str) -> str:
        """Hash of everything besides the source that decides the binary (pure)."""
        h = hashlib.sha256()
        for part in (self.name, self.base, *self.make_vars, self.cc, compiler, *self.tree_fragments, *self.targets):
            h.update(part.encode() + b"\0")
        for p in (*self.fragments, *self.patches, *((self.drop,) if self.drop else ())):
            h.update(p.name.encode() + b"\0" + p.read_bytes())
        return h.hexdigest()[:12]

    def make(self, src: Path, out: Path, jobs: int, *targets: str, cc: str | None = None) -> list[str]:
        argv = ["make", "-C", str(src), f"O={out}", *self.make_vars, f"-j{jobs}"]
        if cc:
            argv.append(f"CC={cc}")
        return argv + list(targets)


def dropped(text: str) -> frozenset[str]:
    """The option names of a drop list: whitespace-separated symbols without ``CONFIG_``, ``#`` comments (pure)."""
    return frozenset(w for line in text.splitlines() for w in line.split("#", 1)[0].split())


def _symbol(line: str) -> str:
    """The option a fragment line sets (``CONFIG_X=...`` or ``# CONFIG_X is not set``), "" for other lines."""
    body = line.removeprefix("# ") if line.endswith(" is not set") else line
    return body.split("=", 1)[0].split(" ", 1)[0].removeprefix("CONFIG_") if body.startswith("CONFIG_") else ""


def builtin_fragment(text: str, drop: frozenset[str] = frozenset()) -> str:
    """A selftests config fragment with modules made built-in and the options in ``drop`` left out (pure)."""
    return "\n".join(line[:-2] + "=y" if line.startswith("CONFIG_") and line.endswith("=m") else line
                     for line in text.splitlines() if _symbol(line) not in drop) + "\n"
