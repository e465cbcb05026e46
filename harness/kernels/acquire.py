"""One entry point over the kernel sources."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from harness.arch import PRIMARY, get_arch
from harness.kernels import Kernel, debian, local
from harness.kernels.apt import Apt
from harness.matrix import DebianKernel, KernelSpec, LocalKernel, Matrix, UmlKernel


def fetch(spec: KernelSpec, arch_name: str, matrix: Matrix, cache_root: Path, apt: Apt | None = None) -> Kernel:
    """The kernel of ``spec`` on ``arch_name``: downloaded, unpacked or built (cached by its key)."""
    src = spec.source
    if src.needs_apt and apt is None:  # linux-source is the same on every arch: a built kernel reads the primary's
        apt = Apt(cache_root, get_arch(PRIMARY.name) if src.built else get_arch(arch_name), matrix.debian)
        apt.update()
    return FETCHERS.get(type(src), _built)(spec, arch_name, cache_root, apt)


def _debian(spec: KernelSpec, arch: str, cache_root: Path, apt: Apt | None) -> Kernel:
    assert apt is not None
    return debian.fetch(spec, get_arch(arch), apt, cache_root)


def _uml(spec: KernelSpec, arch: str, cache_root: Path, apt: Apt | None) -> Kernel:
    from harness.kernels import uml
    assert apt is not None and spec.version is not None
    return uml.build(spec.version, spec.id, apt, cache_root, os.cpu_count() or 2,
                     logging.getLogger("harness.kernels.uml").info)


def _local(spec: KernelSpec, arch: str, cache_root: Path, apt: Apt | None) -> Kernel:
    return local.fetch(spec, get_arch(arch), cache_root)


def _built(spec: KernelSpec, arch: str, cache_root: Path, apt: Apt | None) -> Kernel:
    from harness.kernels import built
    return built.fetch(spec, arch, cache_root, apt)


FETCHERS = {DebianKernel: _debian, UmlKernel: _uml, LocalKernel: _local}
"""Per source kind, how its kernel is had; every other kind is built from source."""


def check_supported(matrix: Matrix) -> Matrix:
    """Refuse, before any download, what ``fetch`` would refuse later (validation and run must agree);
    returns the matrix with commit ranges expanded into their commits."""
    from harness.kernels import built as build
    return build.check(matrix)
