"""Kernels built from source: a git commit, a commit range (one kernel per commit), a Debian
``linux-source`` release with patches; and ``bpf-harness bisect`` over a range.

The public face: :func:`expand` (a matrix's commit ranges into one kernel per commit), :func:`fetch`
(a built kernel's record, building it when the cache lacks it) and :func:`check` (what ``validate``
can refuse before anything is built).
"""

from __future__ import annotations

from harness.build.kernels import check, expand, fetch

__all__ = ["check", "expand", "fetch"]
