"""A kernel the user built: an image plus (optionally) its modules directory."""

from __future__ import annotations

import hashlib
from pathlib import Path

from harness.arch import Arch
from harness.errors import UserError
from harness.kernels import Kernel, check_config, vmlinux
from harness.matrix import KernelSpec, LocalKernel


def fetch(spec: KernelSpec, arch: Arch, cache_root: Path) -> Kernel:
    src = spec.source
    assert isinstance(src, LocalKernel)
    if not src.image.is_file():
        raise UserError(f"{spec.where}: kernel {spec.id}: image {src.image} does not exist")
    if src.modules is not None and not src.modules.is_dir():
        raise UserError(f"{spec.where}: kernel {spec.id}: modules directory {src.modules} does not exist")
    data = src.image.read_bytes()
    release = vmlinux.release_from_image(data) or (src.modules.name if src.modules else None)
    if not release:
        raise UserError(f"{spec.where}: kernel {spec.id}: cannot tell the release of {src.image}; "
                        "give modules: <dir>/lib/modules/<release>")
    config = next((c for c in (src.image.parent / f"config-{release}", src.image.parent / ".config")
                   if c.is_file()), None)
    if config is not None:
        check_config(config.read_text(errors="replace"), f"{spec.where}: kernel {spec.id}")
    vml_path: Path | None = None
    if data.startswith(vmlinux.ELF_MAGIC):
        vml_path = src.image
    else:
        try:
            out = vmlinux.extract(data)
        except Exception:
            out = b""
        if out:
            vml_path = cache_root / "kernels" / "local" / f"{spec.id}-{release}.vmlinux"
            vml_path.parent.mkdir(parents=True, exist_ok=True)
            vml_path.write_bytes(out)
    boot = vml_path if (vml_path and arch.boots_uncompressed) else src.image
    return Kernel(id=spec.id, arch=arch.name, release=release, source="local", image=boot,
                  vmlinux=vml_path, modules=src.modules, config=config,
                  package_sha256=hashlib.sha256(data).hexdigest())
