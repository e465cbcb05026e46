"""Kernels built from source: a git commit, a commit range (one kernel per commit), a Debian
``linux-source`` release with patches (``bpf-harness bisect`` over a range is :mod:`harness.bisect`).

The public face: :func:`expand` (a matrix's commit ranges into one kernel per commit), :func:`fetch`
(a built kernel's record, building it when the cache lacks it), :func:`check` (what ``validate``
can refuse before anything is built) and :func:`check_patches` (what a run refuses before it builds).
"""

from __future__ import annotations

from harness.kernels.built.specs import check, check_patches, expand, fetch

__all__ = ["check", "check_patches", "expand", "fetch"]
