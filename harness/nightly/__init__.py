"""What a CI matrix of jobs needs around ``run``: a deterministic share of the cells per job (``shard``)
and one store from the jobs' stores (``merge``), so several jobs produce one report."""

from harness.nightly.merge import MergeResult, merge
from harness.nightly.shard import parse_shard, shard

__all__ = ["MergeResult", "merge", "parse_shard", "shard"]
