"""The matrix: which kernels, arches and corpora a run covers.

Two halves: :mod:`harness.matrix.model` (the frozen records every stage reads) and
:mod:`harness.matrix.load` (strict YAML -> those records, with ``file:line`` in every error).
"""

from harness.matrix.model import (BUILT, Accel, Attribution, Branch, Cell, CorpusSpec, DebianKernel, DebianSettings,
                                  GitFollow, GitKernel, GitRange, Host, KernelSpec, LatestRule, LocalKernel, Matrix,
                                  Queue, SourceKernel, Thresholds, UmlKernel, VmSettings)
from harness.matrix.load import load, parse

__all__ = ["BUILT", "Accel", "Attribution", "Branch", "Cell", "CorpusSpec", "DebianKernel", "DebianSettings",
           "GitFollow", "GitKernel", "GitRange", "Host", "KernelSpec", "LatestRule", "LocalKernel", "Matrix", "Queue",
           "SourceKernel", "Thresholds", "UmlKernel", "VmSettings", "load", "parse"]
