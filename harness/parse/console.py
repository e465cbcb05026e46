"""Scan a guest console for kernel splats, panics and lockups (pure).

What BPF CI greps dmesg for, plus panics, stalls and hung tasks.  Each
finding keeps the line that showed it.  A cell with findings is a kernel or
infrastructure finding, never a verifier regression.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from typing import Iterable


class Splat(enum.Enum):
    PANIC = "panic"
    OOPS = "oops"
    BUG = "bug"
    WARNING = "warning"
    KASAN = "kasan"
    UBSAN = "ubsan"
    SOFT_LOCKUP = "soft-lockup"
    HARD_LOCKUP = "hard-lockup"
    RCU_STALL = "rcu-stall"
    HUNG_TASK = "hung-task"


@dataclasses.dataclass(frozen=True)
class Finding:
    kind: Splat
    line: str
    lineno: int


# Kernel lines carry a printk timestamp; matching after it avoids our own output.
_PREFIX = r"^(?:<\d+>)?\[\s*\d+\.\d+\]\s+(?:\[\s*[CT]\d+\]\s+)?"
_PATTERNS: tuple[tuple[Splat, re.Pattern[str]], ...] = tuple((k, re.compile(_PREFIX + p)) for k, p in (
    (Splat.PANIC, r"Kernel panic - not syncing"),
    (Splat.KASAN, r"BUG: KASAN:"),
    (Splat.SOFT_LOCKUP, r"watchdog: BUG: soft lockup"),
    (Splat.HARD_LOCKUP, r"(watchdog: )?(Watchdog detected hard LOCKUP|BUG: hard lockup)"),
    (Splat.BUG, r"(kernel )?BUG(: | at )"),
    (Splat.OOPS, r"(Oops|Internal error: Oops)"),
    (Splat.WARNING, r"WARNING: "),
    (Splat.UBSAN, r"UBSAN: "),
    (Splat.RCU_STALL, r"rcu: INFO: \S+ (self-)?detected stall|INFO: rcu_\S+ (self-)?detected stall"),
    (Splat.HUNG_TASK, r"INFO: task \S+ blocked for more than"),
))


def scan(lines: Iterable[str]) -> list[Finding]:
    found = []
    for n, line in enumerate(lines, 1):
        for kind, pat in _PATTERNS:
            if pat.search(line):
                found.append(Finding(kind, line.strip()[:500], n))
                break
    return found
