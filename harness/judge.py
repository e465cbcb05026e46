"""The one judge of a matrix's results: which cells are compared, which findings fail a run, which cells leave
it not tested.

Every gate reads its answer here, so that no two can disagree on one store: ``bpf-harness run --fail-on`` and
``report --fail-on`` (:func:`fails`, :func:`incomplete`), the reports' pairs (:func:`lane`, :func:`commit_pairs`),
and the pytest plugin, whose items are the same pairs' findings read program by program (:func:`failure`) and
whose session exits 3 for the same :func:`incomplete` cells.  The nights' history keys findings with
:func:`harness.nightly.history.key` everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from harness.diff import Change, Finding
from harness.matrix import Matrix

if TYPE_CHECKING:
    from harness.store import CellRecord

FAIL_ON = ("regression", "unexpected", "never")
"""``regression``: a program verified on the base kernel and rejected on the new one (re-verified on both when
``vm: confirm`` is on: one that does not reproduce is ``flaky``, which never fails); ``unexpected``: that, or a
result the selftest's own expectation meets on the base kernel and not on the new one; ``never``."""

Row = dict
"""A cell in a pair or a lane: :meth:`harness.store.CellRecord.to_dict` (the reports' view)."""
RowOf = Callable[[str, str], "CellRecord | None"]
"""(kernel id, arch) -> the stored cell that stands for that kernel on that arch, or None."""


def lane(matrix: Matrix, branch: str, arch: str, row_of: RowOf, until: str | None = None) -> list[Row]:
    """The cells of a lane (a branch on an arch) in the branch's order, up to kernel ``until`` when given; a
    kernel without a cell is left out, so its successor is compared with the kernel before it."""
    b = next(b for b in matrix.branches if b.name == branch)
    kernels = [k.id for k in b.kernels]
    if until is not None:
        kernels = kernels[:kernels.index(until) + 1]
    return [r.to_dict() for r in (row_of(k, arch) for k in kernels) if r is not None]


def commit_pairs(cells: Sequence[Row]) -> list[tuple[Row, Row]]:
    """Each cell and its predecessor in the lane (pure); UML and VM results are never compared as if alike."""
    return [(base, new) for base, new in zip(cells, cells[1:], strict=False) if base["backend"] == new["backend"]]


def queue_pair(cells: Sequence[Row]) -> tuple[Row, Row] | None:
    """A queued branch's whole update against its release: the lane's last cell and its first, when commits lie
    between them (pure)."""
    if len(cells) > 2 and cells[0]["backend"] == cells[-1]["backend"]:
        return cells[0], cells[-1]
    return None


def failure(f: Finding | None, fail_on: str) -> str | None:
    """Why this finding fails a run under ``fail_on`` (``regression`` / ``newly unexpected``), or None (pure)."""
    if f is None or fail_on == "never":
        return None
    if f.change is Change.REGRESSION:
        return "regression"
    if fail_on == "unexpected" and f.newly_unexpected:
        return "newly unexpected"
    return None


def fails(pairs: Iterable, fail_on: str) -> bool:
    """Whether the pairs' findings make a run exit 1 (pure)."""
    return any(failure(f, fail_on) for p in pairs for f in p.findings)


def incomplete(matrix: Matrix, row_of: RowOf, only: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(``KERNEL/ARCH``, status) of every cell of the matrix that is not complete in the store (``not run`` when
    it has none): what makes a gate exit 3, never a pass."""
    out = []
    for c in matrix.cells(only):
        row = row_of(c.kernel.id, c.arch)
        if row is None or not row.complete:
            out.append((c.key, row.status if row is not None else "not run"))
    return out


def follow_up(engine, matrix: Matrix, *, logs: bool = True) -> tuple[tuple, tuple]:
    """What a run does after its cells, each a step of the engine's: both sides of every regression verified
    again (``vm: confirm``: one that does not reproduce is flaky), then the level-2 logs the report's log diffs
    need (``vm: log_diffs``, when ``logs``).  Returns (confirmations, log re-runs)."""
    from harness.engine import Purpose
    from harness.report.model import to_confirm, to_fetch_logs
    from harness.store import Store
    confirmations: tuple = ()
    if matrix.vm.confirm:
        with Store(engine.db) as store:
            todo = to_confirm(store, matrix)
        confirmations = engine.reverify(todo, Purpose.CONFIRM, what="to confirm their regressions",
                                        not_done="regressions not confirmed")
    fetched: tuple = ()
    if logs and matrix.vm.log_diffs:
        with Store(engine.db) as store:
            todo = to_fetch_logs(store, matrix, matrix.vm.log_diffs)
        fetched = engine.reverify(todo, Purpose.LOGS, log_level=2, what="for their whole logs (the report's log diffs)",
                                  not_done="no log diffs")
    return confirmations, fetched
