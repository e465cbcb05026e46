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


STALLS = frozenset({Splat.SOFT_LOCKUP, Splat.HARD_LOCKUP, Splat.RCU_STALL, Splat.HUNG_TASK})
"""Splats after which a guest that also stops producing results is hung, not slow."""

_TRACEBACK = "Traceback (most recent call last):"
_EXCEPTION = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Interrupt|Exit)\b(?::.*)?$")


def runner_crash(lines: Iterable[str], keep: int = 6) -> list[str] | None:
    """The last lines of a Python traceback on the console (the guest runner crashed), or None.

    The runner's stderr reaches the console as plain lines among the kernel's timestamped ones;
    the traceback ends at its exception line (``OSError: [Errno 30] Read-only file system: ...``).
    Returns the last ``keep`` lines of the last traceback, the exception line last.
    """
    found = None
    current: list[str] | None = None
    for raw in lines:
        line = raw.rstrip("\r\n")
        text = re.sub(_PREFIX, "", line) if re.match(_PREFIX, line) else line
        if _TRACEBACK in text:
            current = [text[text.index(_TRACEBACK):]]
            continue
        if current is None:
            continue
        current.append(text.strip())
        if _EXCEPTION.match(text.strip()):
            found, current = current, None
        elif len(current) > 200:
            current = None
    return found[-keep:] if found else None
