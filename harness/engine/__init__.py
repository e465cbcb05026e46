"""The engine: verify programs of a corpus on kernels, in guests of their backend, into one store.

Every caller goes through one :class:`Engine` over a matrix and a store, with a shared :class:`Context` (cache,
parallel guests, progress, the command line recorded with the run):

- :meth:`Engine.run`: a matrix's cells (``bpf-harness run``; the pytest plugin's cell, whole or its selection);
- :meth:`Engine.verify`: named kernels outside the matrix's branches, their results read back (a bisection step,
  a backport confirmed before/after);
- :meth:`Engine.reverify`: programs of stored cells again in fresh guests of the same kernels and corpora, as a
  step of its own (a regression's confirmation, the whole logs a log diff needs).

Which programs to confirm or to fetch logs for is the judge's and the reports' call
(:func:`harness.judge.follow_up`); the engine imports no report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import hashlib
import logging
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

from harness import backends, cache, proc, vm
from harness.arch import get_arch
from harness.cell import CellJob, CellOutcome
from harness.corpus import Corpus
from harness.engine.prepare import Preparer
from harness.engine.schedule import default_jobs, fit_jobs, mem_available, run_jobs
from harness.errors import UserError
from harness.kernels import Kernel
from harness.matrix import Accel, Branch, Cell, KernelSpec, Matrix, SourceKernel
from harness.progress import Progress
from harness.store import CellRecord, CellStatus, Store

__all__ = ["Context", "Engine", "Purpose", "Rerun", "RunSummary", "Verified", "default_jobs", "fit_jobs",
           "infra_failures", "mem_available", "Preparer"]

log = logging.getLogger("harness.run")

Program = tuple[str, str]
_SAY = logging.getLogger("harness").info


@dataclasses.dataclass(frozen=True)
class Context:
    """What every stage of one invocation shares."""
    cache_root: Path
    jobs: int = 1
    """Guests at a time on this machine (the matrix's hosts add their own)."""
    progress: Progress = dataclasses.field(default_factory=Progress)
    argv: tuple[str, ...] = ()
    """The command recorded with each run in the store."""
    say: Callable[[str], None] = _SAY
    """One line of narration for the user (a bisection's steps, a confirmation's start)."""

    @classmethod
    def make(cls, cache_root: Path | None = None, jobs: int = 1, argv: Sequence[str] = (),
             progress: Progress | None = None, say: Callable[[str], None] | None = None) -> "Context":
        return cls(cache_root or cache.root(), jobs, progress or Progress(), tuple(argv), say or _SAY)

    def doing(self, *argv: str) -> "Context":
        """The same context for a step recorded in the store as ``argv``."""
        return dataclasses.replace(self, argv=tuple(argv))


class Purpose(enum.Enum):
    """Why a cell ran; stored with it, so that a partial or repeated cell never stands in for a run."""
    RUN = "run"
    SELECT = "select"
    """Only a pytest ``-k``/``--lf`` selection of the cell's programs."""
    CONFIRM = "confirm"
    """A regression's programs verified again on both sides."""
    LOGS = "logs"
    """Programs verified again for their whole verifier logs."""


@dataclasses.dataclass(frozen=True)
class Rerun:
    """Programs of a stored cell to verify again."""
    cell: CellRecord
    """The stored cell whose kernel and corpus verify the programs again."""
    programs: frozenset[Program]


@dataclasses.dataclass(frozen=True)
class RunSummary:
    run_id: int
    outcomes: tuple[CellOutcome, ...]
    skipped: tuple[str, ...]
    confirmations: tuple[CellOutcome, ...] = ()
    """Re-runs of regressed programs (``vm: confirm``)."""
    logs: tuple[CellOutcome, ...] = ()
    """Re-runs for the report's log diffs (``vm: log_diffs``): they change no verdict, so they are not part of
    ``ok``; a finding whose logs could not be fetched has no log diff."""

    @property
    def ok(self) -> bool:
        return all(o.status.ok for o in self.outcomes + self.confirmations)


@dataclasses.dataclass(frozen=True)
class Verified:
    """One kernel's answer from :meth:`Engine.verify`."""
    kernel_id: str
    arch: str
    status: str
    """The cell's status (``missing``: no cell was stored)."""
    results: dict[Program, Mapping]


def matrix_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Engine:
    def __init__(self, matrix: Matrix, db: Path, ctx: Context):
        self.matrix, self.db, self.ctx = matrix, db, ctx
        self.prep = Preparer(matrix, ctx.cache_root)
        self._accel: dict[tuple[str, str], vm.AccelChoice] = {}
        self._versions: dict[tuple[str, str], dict] = {}
        self._roots: dict[tuple[str, str], Path | None] = {}

    # --- the three entry points -------------------------------------------------------------------------

    def run(self, only: tuple[str, ...] = (), *, force: bool = False, programs: frozenset[Program] | None = None,
            select: bool = False) -> RunSummary:
        """The matrix's cells (``only``: some of them; ``programs``: only these, as a pytest selection when
        ``select``).  A cell already complete for its kernel and corpus is skipped unless ``force``."""
        cells = self.matrix.cells(only)
        with self._run() as (run_id, out_dir, store):
            self._preflight(cells)

            def ready() -> Iterator[CellJob]:
                """Each cell's job once its kernel and corpus are ready (downloads and builds happen here)."""
                for i, cell in enumerate(cells):
                    # after the first cell, preparing overlaps running cells: at the lowest CPU priority
                    with proc.background() if i else contextlib.nullcontext():
                        kernel = self.prep.kernel(cell.kernel, cell.arch)
                        corpus = self.prep.corpus(cell)
                        job = self._job(run_id, out_dir, cell, kernel, corpus, programs=programs, select=select)
                    store.add_corpus(corpus)
                    if corpus.failed:
                        log.info("corpus %s: %d object(s) failed to build, skipped", corpus.name, len(corpus.failed))
                    done = store.complete_cell(kernel.key, cell.arch, corpus.id, cell.kernel.backend)
                    if done is not None and not force:
                        skipped.append(cell.key)
                        self.ctx.progress.message(f"[{cell.key}] already complete for corpus {corpus.id} (cell "
                                                  f"{done}); --force reruns it")
                        continue
                    yield job

            skipped: list[str] = []
            outcomes = run_jobs(ready(), self.ctx.jobs, self.ctx.progress, out_dir, self.matrix.hosts)
            return self._finish(RunSummary(run_id, tuple(outcomes), tuple(skipped)))

    def verify(self, kernels: Sequence[KernelSpec], corpus: str, arch: str,
               programs: frozenset[Program] | None = None, *, name: str = "verify") -> list[Verified]:
        """Kernels outside the matrix's branches (one lane ``name`` of ``corpus`` on ``arch``, the matrix's
        settings), verified and their results read back in order."""
        lane = dataclasses.replace(self.matrix, branches=(Branch(name, tuple(kernels), corpus, (arch,)),),
                                   reference=None)
        Engine(lane, self.db, self.ctx).run(programs=programs)
        out = []
        with Store(self.db) as store:
            for k in kernels:
                cell = store.latest_cell(k.id, arch)
                out.append(Verified(k.id, arch, cell.status if cell is not None else "missing",
                                    store.result_map(cell.id) if cell is not None else {}))
        return out

    def reverify(self, reruns: Sequence[Rerun], purpose: Purpose, *, log_level: int = 0, what: str = "again",
                 not_done: str = "not re-verified") -> tuple[CellOutcome, ...]:
        """Programs of stored cells again, in fresh guests of the same kernels and corpora: stored as
        ``purpose`` cells that point at the cell they re-verify (``logs``: at ``log_level``, whole logs kept)."""
        if not reruns:
            return ()
        with self._run() as (run_id, out_dir, store):
            todo = []
            for r in reruns:
                side = r.cell
                cell = next((c for c in self.matrix.cells() if c.kernel.id == side.kernel_id and c.arch == side.arch),
                            None)
                if cell is None:
                    raise UserError(f"{self.matrix.path} has no cell {side.key}: give the matrix that ran it (-m)")
                kernel, corpus = self.prep.kernel(cell.kernel, cell.arch), self.prep.corpus(cell)
                if corpus.id != side.corpus_id:
                    self.ctx.progress.message(f"[{cell.key}] {not_done}: its cell verified corpus "
                                              f"{side.corpus_id}, the matrix now builds {corpus.id}")
                    continue
                self.ctx.progress.message(f"[{cell.key}] re-verifying {len(r.programs)} program(s) {what}")
                todo.append(self._job(run_id, out_dir, cell, kernel, corpus, programs=r.programs,
                                      confirms=side.id, log_level=log_level if purpose is Purpose.LOGS else None))
            outcomes = tuple(run_jobs(todo, self.ctx.jobs, self.ctx.progress, out_dir, self.matrix.hosts))
            self._finish(RunSummary(run_id, outcomes, (), outcomes if purpose is Purpose.CONFIRM else ()))
            return outcomes

    # --- pieces ---------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _run(self) -> Iterator[tuple[int, Path, Store]]:
        """A run in the store: started, its output directory, finished ``failed`` unless :meth:`_finish` said
        otherwise (an exception, Ctrl-C)."""
        store = Store(self.db)
        for key in store.reap_interrupted():
            self.ctx.progress.message(f"[{key}] was interrupted by a harness that died; its VM is stopped and it "
                                      "runs again")
        path = self.matrix.path
        run_id = store.start_run(str(path), matrix_sha256(path) if path.exists() else "", list(self.ctx.argv))
        self._status = "failed"
        try:
            yield run_id, self.db.parent / "runs" / f"run-{run_id}", store
        finally:
            store.finish_run(run_id, self._status)
            store.close()

    def _finish(self, summary: RunSummary) -> RunSummary:
        """The run's status in the store when :meth:`_run` closes it."""
        self._status = "complete" if summary.ok else "infra-error"
        return summary

    def _preflight(self, cells: list[Cell]) -> None:
        """Before any download: each backend's tools; before any build: every patch applies."""
        for name, arch in sorted({(c.kernel.backend, c.arch) for c in cells}):
            backends.named(name).require(get_arch(arch))
        patched = [c for c in cells if isinstance(c.kernel.source, SourceKernel) and c.kernel.source.patches]
        if patched:  # a patch that does not apply is the answer
            from harness.kernels.built import check_patches
            check_patches([c.kernel for c in patched], self.prep.apt(patched[0].arch), self.ctx.cache_root)

    def _job(self, run_id: int, out_dir: Path, cell: Cell, kernel: Kernel, corpus: Corpus, **kw) -> CellJob:
        backend, arch = backends.of(kernel), get_arch(cell.arch)
        key = (backend.name, arch.name)
        if key not in self._accel:  # chosen once, with the tools' versions and a foreign arch's own root
            self._accel[key] = backend.accel(self.matrix.vm.accel, arch)
            self._versions[key] = backend.versions(arch)
            self._roots[key] = backend.root(self.ctx.cache_root, arch)
            if self._accel[key].accel is not Accel.NATIVE:
                self.ctx.progress.message(f"{cell.arch}: {self._accel[key].accel.value} ({self._accel[key].reason})")
        return CellJob(run_id, cell.branch, kernel, corpus, self.matrix.vm.for_arch(cell.arch), self._accel[key],
                       out_dir, self.db, self._versions[key], root=self._roots[key], **kw)


def infra_failures(summary: RunSummary) -> list[CellOutcome]:
    return [o for o in summary.outcomes + summary.confirmations if o.status is not CellStatus.COMPLETE]
