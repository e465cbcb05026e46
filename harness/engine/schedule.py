"""Cells in slots: here (``--jobs``) and on the matrix's hosts, each as soon as it is ready; how many guests
this machine fits."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import sys
import threading
from pathlib import Path
from typing import Iterable

from harness.cell import CellJob, CellOutcome, run_cell
from harness.errors import HarnessError
from harness.matrix import Host, Matrix
from harness.progress import Progress
from harness.remote.slots import Slots


def run_jobs(todo: Iterable[CellJob], jobs: int, progress: Progress, out_dir: Path,
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
