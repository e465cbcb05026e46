"""Kernel acquisition: Debian packages, local images, git trees.

Every source produces the same frozen :class:`Kernel` record.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from harness.errors import UserError


@dataclasses.dataclass(frozen=True)
class Kernel:
    id: str
    """The matrix's kernel id (``6.12.117``)."""
    arch: str
    release: str
    """``uname -r`` of the kernel (``6.12.117+deb12-amd64``)."""
    source: str
    """``debian``, ``local`` or ``git``."""
    image: Path
    """What the VM boots: the uncompressed vmlinux when the arch allows, else the image."""
    vmlinux: Path | None
    """Uncompressed ELF vmlinux with its .BTF section, if known."""
    modules: Path | None
    """``.../lib/modules/<release>`` directory."""
    config: Path | None = None
    """The kernel's .config (libbpf reads it for ``__kconfig`` externs)."""
    package: str = ""
    package_version: str = ""
    package_sha256: str = ""
    commit: str = ""
    """A source-built kernel's commit (with any patches the matrix applies)."""
    tree: str = ""
    """The git tree it was built from."""

    @property
    def key(self) -> str:
        """Identity of the exact kernel build: id plus package version, or the image's content hash (a local
        kernel: rebuilt at the same path, it is another kernel and is verified again)."""
        if self.commit:
            return f"{self.id}@{self.commit[:16]}+{self.package_sha256[:12]}"
        if self.package_version:
            return f"{self.id}@{self.package_version}"
        return f"{self.id}@sha256:{self.package_sha256[:16]}" if self.package_sha256 else f"{self.id}@{self.image}"

    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, Path):
                d[k] = str(v)
        return json.dumps(d, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Kernel":
        d = json.loads(text)
        for k in ("image", "vmlinux", "modules", "config"):
            if d.get(k) is not None:
                d[k] = Path(d[k])
        return cls(**d)


REQUIRED_CONFIG = ("CONFIG_BPF_SYSCALL", "CONFIG_DEBUG_INFO_BTF")


def check_config(config_text: str, where: str) -> None:
    """Fail unless the kernel config enables what verifier testing needs."""
    have = {}
    for line in config_text.splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            k, v = line.split("=", 1)
            have[k] = v
    missing = [k for k in REQUIRED_CONFIG if have.get(k) != "y"]
    if missing:
        raise UserError(f"{where}: kernel config lacks {', '.join(m + '=y' for m in missing)}; "
                        "pick a kernel built with BPF and BTF")
