"""Kernels built from a git tree at a commit with ``vng --build``: the shape is in the matrix, the build is not yet."""

from __future__ import annotations

from harness.errors import UserError
from harness.matrix import KernelSpec


def fetch(spec: KernelSpec) -> None:
    raise UserError(f"{spec.where}: kernel {spec.id}: git kernels (tree + commit built with vng --build) "
                    "are not implemented yet; use a debian or local kernel")
