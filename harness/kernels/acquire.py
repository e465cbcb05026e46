"""One entry point over the kernel sources."""

from __future__ import annotations

from pathlib import Path

from harness.arch import get_arch
from harness.kernels import Kernel, debian, git, local
from harness.kernels.apt import Apt
from harness.matrix import DebianKernel, GitKernel, KernelSpec, LocalKernel, Matrix, UmlKernel


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
        from harness import uml
        if apt is None:
            apt = Apt(cache_root, arch, matrix.debian)
            apt.update()
        return uml.build(spec.source.version, spec.id, apt, cache_root, os.cpu_count() or 2,
                         logging.getLogger("harness.uml").info)
    if isinstance(spec.source, LocalKernel):
        return local.fetch(spec, arch, cache_root)
    assert isinstance(spec.source, GitKernel)
    git.fetch(spec)
    raise AssertionError("unreachable")


def check_supported(matrix: Matrix) -> None:
    """Refuse, before any download, what ``fetch`` would refuse later: validation and run must agree."""
    for spec in matrix.kernels():
        if isinstance(spec.source, GitKernel):
            git.fetch(spec)
