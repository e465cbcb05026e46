"""Triage: where two kernels' verifiers parted ways on a program, from their whole verifier logs.

``log_diffs`` reads both cells' logs of the programs from the store; the ones it lacks are fetched
first by verifying just those programs again in fresh guests of the same kernels and corpus
(:meth:`harness.engine.Engine.reverify`, stored as ``logs`` cells), never made up.  ``logdiff`` (pure) aligns
two logs and finds the first divergence.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

from harness.errors import InfraError, NotFoundError
from harness.triage.logdiff import LogDiff, diff_logs, render_html, render_text

__all__ = ["LogDiff", "ProgramLogs", "diff_logs", "log_diffs", "render_html", "render_text"]

Key = tuple[str, str]


@dataclasses.dataclass(frozen=True)
class ProgramLogs:
    key: Key
    diff: LogDiff
    verdicts: tuple[str, str]


def _name(cell) -> str:
    return cell.key


def log_diffs(db: Path, base: str, new: str, programs: list[Key], level: int,
              fetch: Callable[[list[tuple[dict, set[Key]]], int], list] | None) -> list[ProgramLogs]:
    """The log diff of each program between the newest cells of ``base`` and ``new`` (``KERNEL[/ARCH]``).

    ``fetch(sides, level)`` re-verifies what the store lacks (``None``: a missing log is an error)."""
    from harness.store import CellStatus, Store
    with Store(db) as store:
        a, b = store.find_cell(base), store.find_cell(new)
        if a.arch != b.arch:
            raise NotFoundError(f"cannot compare logs of {base} and {new}: different arches")
        for cell in (a, b):
            have = store.done_programs(cell.id)
            for k in programs:
                if k not in have:
                    raise NotFoundError(f"{db}: cell {_name(cell)} has no program {k[0]}/{k[1]}")
        missing = [(c, {k for k in programs if k not in store.logs(c.id, level)}) for c in (a, b)]
        missing = [(c, ks) for c, ks in missing if ks]
    if missing:
        if fetch is None:
            raise NotFoundError(f"{db}: no level-{level} logs of {', '.join(f'{o}/{p}' for o, p in programs)} "
                                f"for {', '.join(_name(c) for c, _ in missing)}; fetch them (without --no-fetch)")
        bad = [o for o in fetch(missing, level) if o.status is not CellStatus.COMPLETE]
        if bad:
            raise InfraError(f"fetching logs: {bad[0].key}: {bad[0].status.value}: {bad[0].detail}")
    out = []
    with Store(db) as store:
        logs_a, logs_b = store.logs(a.id, level), store.logs(b.id, level)
        res_a = {(r["object"], r["program"]): r["verdict"] for r in store.results(a.id)}
        res_b = {(r["object"], r["program"]): r["verdict"] for r in store.results(b.id)}
        for k in programs:
            if k not in logs_a or k not in logs_b:
                side = _name(a) if k not in logs_a else _name(b)
                raise InfraError(f"no level-{level} log of {k[0]}/{k[1]} on {side} after fetching it "
                                 f"(see that cell's console.log)")
            out.append(ProgramLogs(k, diff_logs(logs_a[k], logs_b[k], _name(a), _name(b)), (res_a[k], res_b[k])))
    return out
