"""Kernels fetched or built and corpora built for a run's cells, each once."""

from __future__ import annotations

from pathlib import Path

from harness import userspace
from harness.arch import get_arch, host_arch
from harness.corpus import Builder, Corpus
from harness.kernels import Kernel, acquire, debian
from harness.kernels.apt import Apt
from harness.matrix import Cell, DebianKernel, KernelSpec, Matrix


class Preparer:
    """Fetches kernels and builds corpora for a set of cells, each once."""

    def __init__(self, matrix: Matrix, cache_root: Path, jobs: int | None = None):
        self.matrix = matrix
        self.cache_root = cache_root
        self.jobs = jobs
        self._apt: dict[str, Apt] = {}
        self._kernels: dict[tuple[str, str], Kernel] = {}
        self._corpora: dict[tuple[str, str], Corpus] = {}

    def apt(self, arch: str) -> Apt:
        if arch not in self._apt:
            a = Apt(self.cache_root, get_arch(arch), self.matrix.debian)
            a.update()
            self._apt[arch] = a
        return self._apt[arch]

    def kernel(self, spec: KernelSpec, arch: str) -> Kernel:
        key = (spec.id, arch)
        if key not in self._kernels:
            apt = self.apt(arch) if spec.source.needs_apt else None
            self._kernels[key] = acquire.fetch(spec, arch, self.matrix, self.cache_root, apt)
        return self._kernels[key]

    def corpus(self, cell: Cell) -> Corpus:
        key = (cell.corpus.name, cell.arch)
        if key not in self._corpora:
            spec = cell.corpus
            apt = self.apt(cell.arch)
            pkg, tarball = debian.fetch_source(spec.source, apt, self.cache_root)
            # vmlinux.h comes from the BTF of the kernel of the same version as the selftests.
            btf_kernel = self.kernel(KernelSpec(f"btf-{spec.source}", DebianKernel(spec.source), spec.name), cell.arch)
            arch = get_arch(cell.arch)
            sysroot = userspace.sysroot(self.cache_root, arch) if arch is not host_arch() else None
            builder = Builder(self.cache_root, arch, pkg.name, pkg.version, tarball, btf_kernel.vmlinux, self.jobs,
                              sysroot)
            self._corpora[key] = builder.build(spec)
        return self._corpora[key]
