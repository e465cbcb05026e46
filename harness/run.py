"""A matrix run: fetch kernels, build corpora, run cells (in parallel with --jobs), all into one store."""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import hashlib
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Iterable, Iterator

from harness import backends, cache, proc, userspace, vm
from harness.arch import get_arch, host_arch
from harness.cell import CellJob, CellOutcome, run_cell
from harness.corpus import Builder, Corpus
from harness.errors import HarnessError, UserError
from harness.kernels import Kernel, acquire, debian
from harness.kernels.apt import Apt
from harness.matrix import Accel, Cell, DebianKernel, Host, KernelSpec, Matrix, SourceKernel, UmlKernel
from harness.progress import Progress
from harness.remote.slots import Slots
from harness.store import CellStatus, Store

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class RunSummary:
    run_id: int
    outcomes: tuple[CellOutcome, ...]
    skipped: tuple[str, ...]
    confirmations: tuple[CellOutcome, ...] = ()
    """Re-runs of regressed programs (``vm: confirm``)."""
    logs: tuple[CellOutcome, ...] = ()
    """Re-runs for the report's log diffs (``vm: log_diffs``): they change no verdict, so they are not
    part of ``ok``; a finding whose logs could not be fetched has no log diff."""

    @property
    def ok(self) -> bool:
        return all(o.status.ok for o in self.outcomes + self.confirmations)


class Preparer:
    """Fetches kernels and builds corpora for a set of cells, each once."""

    def __init__(self, matrix: Matrix, cache_root: Path, jobs: int | None = None):
        self.matrix = matrix
        self.cache_root = cache_root
        self.jobs = jobs
        self._apt: dict[str, Apt] = {}
        self._kernels: dict[tuple[str, str], Kernel] = {}
        self._corpora: dict[tuple[str, str], Corpus] = {}

    def apt(self, arch: str) -> Apt:
        if arch not in self._apt:
            a = Apt(self.cache_root, get_arch(arch), self.matrix.debian)
            a.update()
            self._apt[arch] = a
        return self._apt[arch]

    def kernel(self, spec: KernelSpec, arch: str) -> Kernel:
        key = (spec.id, arch)
        if key not in self._kernels:
            apt = self.apt(arch) if isinstance(spec.source, (DebianKernel, UmlKernel, SourceKernel)) else None
            self._kernels[key] = acquire.fetch(spec, arch, self.matrix, self.cache_root, apt)
        return self._kernels[key]

    def corpus(self, cell: Cell) -> Corpus:
        key = (cell.corpus.name, cell.arch)
        if key not in self._corpora:
            spec = cell.corpus
            apt = self.apt(cell.arch)
            pkg, tarball = debian.fetch_source(spec.source, apt, self.cache_root)
            # vmlinux.h comes from the BTF of the kernel of the same version as the selftests.
            btf_kernel = self.kernel(KernelSpec(f"btf-{spec.source}", DebianKernel(spec.source), spec.name), cell.arch)
            arch = get_arch(cell.arch)
            sysroot = userspace.sysroot(self.cache_root, arch) if arch is not host_arch() else None
            builder = Builder(self.cache_root, arch, pkg.name, pkg.version, tarball, btf_kernel.vmlinux, self.jobs,
                              sysroot)
            self._corpora[key] = builder.build(spec)
        return self._corpora[key]


def matrix_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_matrix(matrix: Matrix, *, db: Path, only: tuple[str, ...] = (), jobs: int = 1, force: bool = False,
               cache_root: Path | None = None, progress: Progress | None = None,
               argv: list[str] | None = None, programs: frozenset[tuple[str, str]] | None = None,
               logs: list[tuple[dict, set[tuple[str, str]]]] | None = None, log_level: int = 2,
               select: bool = False) -> RunSummary:
    """Run the matrix's cells (``only``: some of them; ``programs``: only these (object, program) pairs, as
    bisect does) into the store at ``db``.  With ``logs`` ((stored cell, programs), ...), run nothing else
    but those programs again on those cells' kernels at ``log_level``, for their whole logs.  ``select``: the
    ``programs`` are a pytest selection, stored as ``select`` cells (see :class:`harness.cell.CellJob`)."""
    cache_root = cache_root or cache.root()
    progress = progress or Progress()
    cells = matrix.cells(only) if logs is None else []
    store = Store(db)
    for key in store.reap_interrupted():
        progress.message(f"[{key}] was interrupted by a harness that died; its VM is stopped and it runs again")
    run_id = store.start_run(str(matrix.path), matrix_sha256(matrix.path) if matrix.path.exists() else "",
                             argv or [])
    out_dir = db.parent / "runs" / f"run-{run_id}"
    prep = Preparer(matrix, cache_root)
    skipped: list[str] = []
    accel: dict[tuple[str, str], vm.AccelChoice] = {}
    versions: dict[tuple[str, str], dict] = {}
    roots: dict[tuple[str, str], Path | None] = {}
    status = "failed"

    def job(cell: Cell, kernel: Kernel, corpus: Corpus, **kw) -> CellJob:
        backend, arch = backends.of(kernel), get_arch(cell.arch)
        key = (backend.name, arch.name)
        if key not in accel:  # chosen once per run, with the tools' versions and a foreign arch's own root
            accel[key] = backend.accel(matrix.vm.accel, arch)
            versions[key] = backend.versions(arch)
            roots[key] = backend.root(cache_root, arch)
            if backend.on_hosts or accel[key].accel is not Accel.NATIVE:
                progress.message(f"{cell.arch}: {accel[key].accel.value} ({accel[key].reason})")
        return CellJob(run_id, cell.branch, kernel, corpus, matrix.vm.for_arch(cell.arch), accel[key], out_dir, db,
                       versions[key], root=roots[key], **kw)

    try:
        for name, arch in sorted({(c.kernel.backend, c.arch) for c in cells}):  # before any download
            backends.named(name).require(get_arch(arch))
        patched = [c for c in cells if isinstance(c.kernel.source, SourceKernel) and c.kernel.source.patches]
        if patched:  # before any build: a patch that does not apply is the answer
            from harness.kernels.built import check_patches
            check_patches([c.kernel for c in patched], prep.apt(patched[0].arch), cache_root)
        def ready() -> Iterator[CellJob]:
            """Each cell's job once its kernel and corpus are ready (downloads and builds happen here)."""
            for i, cell in enumerate(cells):
                # after the first cell, preparing overlaps running cells: at the lowest CPU priority
                with proc.background() if i else contextlib.nullcontext():
                    kernel = prep.kernel(cell.kernel, cell.arch)
                    corpus = prep.corpus(cell)
                    new_job = job(cell, kernel, corpus, programs=programs, select=select)  # arm64: root unpacked here
                store.add_corpus(corpus)
                if corpus.failed:
                    log.info("corpus %s: %d object(s) failed to build, skipped", corpus.name, len(corpus.failed))
                done = store.complete_cell(kernel.key, cell.arch, corpus.id, cell.kernel.backend)
                if done is not None and not force:
                    skipped.append(cell.key)
                    progress.message(f"[{cell.key}] already complete for corpus {corpus.id} (cell {done}); "
                                     "--force reruns it")
                    continue
                yield new_job

        def reruns(sides: list[tuple[dict, set[tuple[str, str]]]], what: str, not_done: str,
                   **kw) -> list[CellOutcome]:
            """Some programs of stored cells again, in fresh guests of the same kernels and corpora."""
            todo = []
            for side, progs in sides:
                cell = next((c for c in matrix.cells() if c.kernel.id == side["kernel_id"] and c.arch == side["arch"]),
                            None)
                if cell is None:
                    raise UserError(f"{matrix.path} has no cell {side['kernel_id']}/{side['arch']}: give the matrix "
                                    f"that ran it (-m)")
                kernel, corpus = prep.kernel(cell.kernel, cell.arch), prep.corpus(cell)
                if corpus.id != side["corpus_id"]:
                    progress.message(f"[{cell.key}] {not_done}: its cell verified corpus {side['corpus_id']}, the "
                                     f"matrix now builds {corpus.id}")
                    continue
                progress.message(f"[{cell.key}] re-verifying {len(progs)} program(s) {what}")
                todo.append(job(cell, kernel, corpus, programs=frozenset(progs), confirms=side["id"], **kw))
            return _run_jobs(todo, jobs, progress, out_dir, matrix.hosts)

        outcomes = _run_jobs(ready(), jobs, progress, out_dir, matrix.hosts)
        confirmations: list[CellOutcome] = []
        if logs is not None:
            outcomes = reruns(logs, f"for their whole logs at level {log_level}", "no logs fetched",
                              log_level=log_level)
        elif matrix.vm.confirm:
            confirmations = reruns(to_confirm(store, matrix), "to confirm their regressions",
                                   "regressions not confirmed")
        fetched: list[CellOutcome] = []
        if logs is None and programs is None and matrix.vm.log_diffs:  # not in bisect's targeted runs
            fetched = reruns(to_fetch_logs(store, matrix, matrix.vm.log_diffs),
                             "for their whole logs (the report's log diffs)", "no log diffs", log_level=2)
        summary = RunSummary(run_id, tuple(outcomes), tuple(skipped), tuple(confirmations), tuple(fetched))
        status = "complete" if summary.ok else "infra-error"
        return summary
    finally:
        store.finish_run(run_id, status)
        store.close()


def _run_jobs(todo: Iterable[CellJob], jobs: int, progress: Progress, out_dir: Path,
              hosts: tuple[Host, ...] = ()) -> list[CellOutcome]:
    """Run cells ``jobs`` at a time while ``todo`` prepares the next ones: the first cell boots as soon as its
    own kernel and corpus are there, and the other downloads and builds overlap the cells already running.

    A preparation that fails stops the preparing; the cells already started finish (their results are
    worth keeping) before the error is raised.  Ctrl-C or SIGTERM kills every running guest at once, and
    cells not yet started never start.

    With ``hosts``, a cell runs in the best free slot for its arch, here or on a host over SSH (see
    :mod:`harness.remote.slots`); a cell that lost its host's connection runs again in another slot."""
    cancel = threading.Event()
    slots = Slots(jobs, hosts, progress.message)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=slots.total, thread_name_prefix="cell")
    futures: list[concurrent.futures.Future[CellOutcome]] = []
    try:
        try:
            for job in todo:
                futures.append(pool.submit(_in_a_slot, job, slots, progress, cancel))
        except HarnessError:
            concurrent.futures.wait(futures)
            raise
    except BaseException:
        if not isinstance(sys.exc_info()[1], HarnessError):
            cancel.set()
        raise
    finally:
        try:
            pool.shutdown(wait=True, cancel_futures=cancel.is_set())
        except BaseException:  # Ctrl-C again while the pool drains: kill the guests now
            cancel.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    outcomes: list[CellOutcome] = []
    for f in futures:
        outcome = f.result()
        outcomes.append(outcome)
        if not outcome.status.ok:
            progress.message(f"[{outcome.key}] {outcome.status.value}: {outcome.detail} (console: {out_dir})")
    return outcomes


def _in_a_slot(job: CellJob, slots: Slots, progress: Progress, cancel: threading.Event) -> CellOutcome:
    while True:
        slot = slots.acquire(job.kernel.arch, job.backend, cancel)
        try:
            run = job
            if slot.host is not None:
                info = slots.host_info(slot.host, job.kernel.arch)
                if info is None:
                    continue  # left out: another slot
                run = dataclasses.replace(job, host=slot.host, accel=info.accel, versions=info.versions, root=None)
            outcome = run_cell(run, progress, cancel)
            if slot.host is not None and outcome.lost:
                slots.drop(slot.host, outcome.detail)
                progress.message(f"[{job.key}] runs again elsewhere: {outcome.detail}")
                continue
            return outcome
        finally:
            slots.release(slot)


def to_confirm(store: Store, matrix: Matrix) -> list[tuple[dict, set[tuple[str, str]]]]:
    """(cell, programs) still to re-verify: both sides of every regression not yet re-run there."""
    from harness.diff import Change
    from harness.report.model import pairs
    todo: dict[int, tuple[dict, set[tuple[str, str]]]] = {}
    for p in pairs(store, matrix):
        for f in p.findings:
            if f.change is not Change.REGRESSION or f.confirmed is not None:
                continue
            for side in (p.base, p.new):
                if (f.object, f.program) not in store.confirmations(side["id"]):
                    todo.setdefault(side["id"], (side, set()))[1].add((f.object, f.program))
    return list(todo.values())


LOG_DIFF_CHANGES = ("regression", "flaky", "fixed", "error-changed", "msg-check")
"""Findings where where two verifiers parted is the question: a verdict flip, an error or a message change."""


def to_fetch_logs(store: Store, matrix: Matrix, per_pair: int) -> list[tuple[dict, set[tuple[str, str]]]]:
    """(cell, programs) whose level-2 logs the report's log diffs still need: per pair, the first
    ``per_pair`` findings of those classes in the order a maintainer works through them."""
    from harness.report.model import pairs, work_first
    todo: dict[int, tuple[dict, set[tuple[str, str]]]] = {}
    for p in pairs(store, matrix):
        wanted = sorted((f for f in p.findings if f.change.value in LOG_DIFF_CHANGES), key=work_first)[:per_pair]
        for f in wanted:
            for side in (p.base, p.new):
                if (f.object, f.program) not in store.logs(side["id"], 2):
                    todo.setdefault(side["id"], (side, set()))[1].add((f.object, f.program))
    return list(todo.values())


def fit_jobs(cores: int, mem_available: int, cpus: int, memory: str) -> int:
    """How many guests of ``cpus`` vCPUs and ``memory`` this machine runs at once (pure): one vCPU per
    core (a TCG vCPU is a busy host thread) and the guests' memory within what is available; at least 1."""
    per_guest = int(memory[:-1]) << (30 if memory.endswith("G") else 20)
    return max(1, min(cores // max(1, cpus), mem_available // per_guest))


def default_jobs(matrix: Matrix) -> int:
    """``--jobs`` when not given: the guests the matrix's ``vm:`` settings fit on this machine."""
    return fit_jobs(len(os.sched_getaffinity(0)), mem_available(), matrix.vm.cpus, matrix.vm.memory)


def mem_available(meminfo: Path = Path("/proc/meminfo")) -> int:
    """Bytes of memory available for new processes (``MemAvailable``), 0 when unknown."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def infra_failures(summary: RunSummary) -> list[CellOutcome]:
    return [o for o in summary.outcomes + summary.confirmations if o.status is not CellStatus.COMPLETE]
