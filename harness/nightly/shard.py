"""Which cells of a matrix one CI job of N runs (pure)."""

from __future__ import annotations

import re

from harness.errors import UserError
from harness.matrix import Cell


def parse_shard(text: str) -> tuple[int, int]:
    """``I/N`` (1 <= I <= N) -> (I, N), or a UserError naming the expected form."""
    m = re.fullmatch(r"([1-9][0-9]*)/([1-9][0-9]*)", text)
    if not m or int(m.group(1)) > int(m.group(2)):
        raise UserError(f"--shard {text!r}: give I/N with 1 <= I <= N (e.g. 2/4)")
    return int(m.group(1)), int(m.group(2))


def shard(cells: list[Cell], i: int, n: int) -> list[Cell]:
    """Shard ``i`` of ``n``: whole lanes (a branch on an arch, so each pair of consecutive kernels stays in
    one job), dealt round-robin in the matrix's order; the same matrix always splits the same way."""
    lanes = {lane: k for k, lane in enumerate(dict.fromkeys((c.branch, c.arch) for c in cells))}
    return [c for c in cells if lanes[(c.branch, c.arch)] % n == i - 1]  # in the matrix's order
