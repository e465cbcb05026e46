"""One entry point over the kernel sources."""

from __future__ import annotations

from pathlib import Path

from harness.arch import PRIMARY, get_arch
from harness.kernels import Kernel, debian, local
from harness.kernels.apt import Apt
from harness.matrix import BUILT, DebianKernel, KernelSpec, LocalKernel, Matrix, SourceKernel, UmlKernel


def fetch(spec: KernelSpec, arch_name: str, matrix: Matrix, cache_root: Path, apt: Apt | None = None) -> Kernel:
    arch = get_arch(arch_name)
    if isinstance(spec.source, DebianKernel):
        if apt is None:
            apt = Apt(cache_root, arch, matrix.debian)
            apt.update()
        return debian.fetch(spec, arch, apt, cache_root)
    if isinstance(spec.source, UmlKernel):
        import logging
        import os
        from harness.kernels import uml
        if apt is None:
            apt = Apt(cache_root, arch, matrix.debian)
            apt.update()
        return uml.build(spec.source.version, spec.id, apt, cache_root, os.cpu_count() or 2,
                         logging.getLogger("harness.kernels.uml").info)
    if isinstance(spec.source, LocalKernel):
        return local.fetch(spec, arch, cache_root)
    assert isinstance(spec.source, BUILT)
    from harness.kernels import built as build
    if isinstance(spec.source, SourceKernel) and apt is None:
        apt = Apt(cache_root, get_arch(PRIMARY.name), matrix.debian)
        apt.update()
    return build.fetch(spec, arch_name, cache_root, apt)


def check_supported(matrix: Matrix) -> Matrix:
    """Refuse, before any download, what ``fetch`` would refuse later (validation and run must agree);
    returns the matrix with commit ranges expanded into their commits."""
    from harness.kernels import built as build
    return build.check(matrix)
