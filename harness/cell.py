"""One cell: boot one guest for (kernel, arch), verify the corpus in it, store every result.

:func:`run_cell` is a plain function of a frozen :class:`CellJob` with no
global state: the CLI runs cells in threads, a later scheduler can run them as
pytest-xdist items.  Results are read from the guest's rwdir while it runs
and committed one by one; the cell's status comes from the files the guest
wrote and the console, never from vng's exit code.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Callable

from harness import backends, cache, expect, msgcheck, vm
from harness.arch import get_arch
from harness.corpus import Corpus, CorpusObject
from harness.guest import protocol
from harness.errors import HarnessError
from harness.kernels import Kernel
from harness.matrix import Host, VmSettings
from harness.parse import console
from harness.parse.verifier_log import classify, has_stats
from harness.parse.veristat import unprepared
from harness.store import CellStatus, ResultRow, Store, Verdict

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int, str], None]
"""progress(cell key, programs done, programs total, note)"""

POLL_S = 0.25


@dataclasses.dataclass(frozen=True)
class CellJob:
    run_id: int
    branch: str
    kernel: Kernel
    corpus: Corpus
    vm: VmSettings
    accel: vm.AccelChoice
    out_dir: Path
    """Per-run output directory; the cell's console log and rwdir go below it."""
    db: Path
    versions: dict = dataclasses.field(default_factory=dict, hash=False, compare=False)
    programs: frozenset[tuple[str, str]] | None = None
    """Only these (object, program) pairs (a confirmation re-run); None: the whole corpus."""
    confirms: int | None = None
    """The cell whose results this job re-verifies; it is then stored as a ``confirm`` cell."""
    log_level: int | None = None
    """A logs re-run of ``confirms`` (``bpf-harness logdiff``): its programs verified at this verifier log
    level, each one's whole log kept; stored as a ``logs`` cell."""
    root: Path | None = None
    """The guest's own root filesystem (a foreign arch); None: the guest sees the host's."""
    host: Host | None = None
    """The matrix host the cell runs on over SSH; None: this machine."""
    select: bool = False
    """Only ``programs`` of a pytest ``-k``/``--lf`` selection: stored as a ``select`` cell, so a partial cell
    never stands in for a complete one in reports or in a later run's "already complete"."""

    @property
    def key(self) -> str:
        return f"{self.kernel.id}/{self.kernel.arch}"

    @property
    def backend(self) -> backends.Backend:
        """Where the guest runs: on ``host`` over SSH, else this machine's backend for the kernel."""
        return backends.RemoteVm(self.host) if self.host is not None else backends.of(self.kernel)


@dataclasses.dataclass(frozen=True)
class CellOutcome:
    key: str
    cell_id: int
    status: CellStatus
    detail: str
    programs: int
    seconds: float
    findings: tuple[str, ...] = ()
    lost: bool = False
    """The cell's host went away while it ran (an infrastructure error there, not the cell's: it runs again)."""


def selected(job: CellJob) -> list[tuple[CorpusObject, tuple[str, ...]]]:
    """The objects and programs this job verifies, in corpus order."""
    out = []
    for o in job.corpus.objects:
        progs = tuple(p for p in o.programs if job.programs is None or (o.name, p) in job.programs)
        if progs:
            out.append((o, progs))
    return out


def message_checks(job: CellJob) -> tuple[dict[str, dict[str, dict]], list[tuple[str, str, str]]]:
    """Per object, the ``__msg`` checks the guest runs; and (object, program, reason) for those it cannot."""
    arch = get_arch(job.kernel.arch)
    checks: dict[str, dict[str, dict]] = {}
    na: list[tuple[str, str, str]] = []
    if not job.vm.check_messages or job.confirms is not None:
        return checks, na
    for o, progs in selected(job):
        for prog, exp in o.expectations:
            if prog not in progs:
                continue
            got = msgcheck.plan(exp, arch, job.corpus.veristat_opts)
            if isinstance(got, msgcheck.Check):
                checks.setdefault(o.name, {})[prog] = got.to_json()
            elif isinstance(got, str):
                na.append((o.name, prog, got))
    return checks, na


Key = tuple[str, str]


def expected_rejections(job: CellJob) -> dict[str, list[str]]:
    """Per object, the programs whose selftest expects the verifier to reject them on this arch.  With
    ``failure_tails: unexpected`` their rejection gets no second pass for its log tail: the main pass has
    the error line, and the tail of a rejection the test asks for tells a maintainer nothing."""
    if job.vm.failure_tails == "all":
        return {}
    out: dict[str, list[str]] = {}
    for o, progs in selected(job):
        for prog, exp in o.expectations:
            if prog in progs and expect.outcome(exp, "failure", "verifier", job.kernel.arch) is expect.Outcome.AS_EXPECTED:
                out.setdefault(o.name, []).append(prog)
    return out


@dataclasses.dataclass
class Seen:
    """What the host has received of a cell so far, across boots (a resumed boot skips it)."""
    results: dict[Key, tuple[str | None, bool]] = dataclasses.field(default_factory=dict)
    """(verdict, the verifier ran) per program with a result."""
    tails: set[Key] = dataclasses.field(default_factory=set)
    msgs: set[Key] = dataclasses.field(default_factory=set)
    batches: dict[int, list[Key]] = dataclasses.field(default_factory=dict)
    """The veristat batch each guest worker started last, in verification order."""
    last_record: float = 0.0
    """time.monotonic() of the last record (any kind) of the current boot."""
    suspects: dict[Key, int] = dataclasses.field(default_factory=dict)
    """Programs in flight when a guest hung, and how often."""
    lost: str | None = None
    """Why the guest's host went away (a remote backend), if it did."""

    def in_flight(self) -> list[Key]:
        """Per worker, the first program of its current batch without a result."""
        out = []
        for _, keys in sorted(self.batches.items()):
            first = next((k for k in keys if k not in self.results), None)
            if first is not None:
                out.append(first)
        return out

    def needs_second_pass(self, key: Key, level: int, checked: bool, tail_wanted: bool = True) -> bool:
        """A program with a result whose log tail or message check has not arrived yet."""
        verdict, ran = self.results[key]
        tail = (bool(level) and tail_wanted and verdict == "failure" and ran and key not in self.tails
                and key not in self.msgs)
        msg = checked and verdict in ("success", "failure") and key not in self.msgs
        return tail or msg


def plan_for(job: CellJob, rwdir: Path, seen: Seen | None = None, deadline_s: float | None = None) -> dict:
    """The guest's plan; with ``seen``, a resumed boot: programs with a result are not verified again,
    only given their second pass if it had not run."""
    checks, _ = message_checks(job)
    objects = selected(job)
    level = job.vm.failure_log_level if job.confirms is None else 0
    no_tail = expected_rejections(job) if level else {}
    plan_objects = []
    for o, progs in objects:
        have = [p for p in progs if seen is not None and (o.name, p) in seen.results]
        done = {p: list(seen.results[(o.name, p)]) for p in have  # type: ignore[union-attr]
                if seen.needs_second_pass((o.name, p), level, p in checks.get(o.name, {}),  # type: ignore[union-attr]
                                          p not in no_tail.get(o.name, ()))}
        if len(have) < len(progs) or done:
            plan_objects.append((o, progs, done, have))
    tuning = job.backend.tune(job.vm, len(plan_objects))
    return protocol.Plan(
        veristat=str(job.corpus.veristat),
        workers=tuning.workers,
        objects_per_veristat=tuning.objects_per_veristat,
        program_timeout=job.vm.program_timeout,
        log_size="--log-size" in job.corpus.veristat_opts,
        fsync=tuning.fsync,
        private_tmp=True,  # a guest's own tmpfs for scratch files and the staged vmlinux BTF
        failure_log_level=level,
        main_log_level=job.log_level or 0,
        deadline_s=(deadline_s if deadline_s is not None else job.vm.cell_timeout) + 30,
        kconfig=str(job.kernel.config) if job.kernel.config else None,
        objects=[protocol.PlanObject(name=o.name, path=str(o.path), programs=list(progs),
                                     **({"checks": checks[o.name]} if o.name in checks else {}),  # type: ignore[typeddict-item]
                                     **({"no_tail": no_tail[o.name]} if o.name in no_tail else {}),
                                     **({"done": done} if done else {}), **({"skip": skip} if skip else {}))
                 for o, progs, done, skip in plan_objects],
    ).to_json()


STAT_KEYS = ("insns", "states", "peak_states", "max_states_per_insn", "mark_read")


def row_of(rec: dict) -> ResultRow:
    """A guest result record -> a stored row, classified on the host (pure)."""
    status = rec.get("status", "done")
    if status == "timeout":
        return ResultRow(rec["object"], rec["program"], Verdict.TIMEOUT, error=rec.get("detail"),
                         libbpf=tuple(rec.get("libbpf", ())), wall_s=rec.get("wall_s"))
    if status == "crash":
        return ResultRow(rec["object"], rec["program"], Verdict.CRASH, error=f"veristat died ({rec.get('detail')})",
                         libbpf=tuple(rec.get("libbpf", ())), wall_s=rec.get("wall_s"))
    log_lines, libbpf = rec.get("log", []), rec.get("libbpf", [])
    cls, reason, error = classify(rec["verdict"], log_lines, libbpf)
    # an unprepared object's program (a load failure): the walk of its unrelocated instructions is not its cost
    stats = {} if unprepared(libbpf) else {k: rec.get(k) for k in STAT_KEYS}
    return ResultRow(
        rec["object"], rec["program"], Verdict.FAILURE if cls else Verdict(rec["verdict"]),
        failure_class=cls.value if cls else None, load_reason=reason.value if reason else None, error=error,
        log=tuple(log_lines), libbpf=tuple(libbpf), **stats, duration_us=rec.get("duration_us"),
        wall_s=rec.get("wall_s"))


class _Lines:
    """Complete lines appended to a file since the last call (a line still being written waits)."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.partial = b""

    def read(self) -> list[bytes]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        *lines, self.partial = (self.partial + data).split(b"\n")
        return lines


class _Tail(_Lines):
    """The JSON records appended to the guest's results file since the last call."""

    def records(self) -> list[dict]:
        out = []
        for line in self.read():
            try:
                out.append(json.loads(line))
            except ValueError:
                log.warning("%s: unreadable result line skipped: %r", self.path, line[:200])
        return out


STALL_GRACE_S = 30
"""After a lockup/stall splat, seconds without a new result before the guest counts as hung."""


def decide(started: bool, done: bool, timed_out: str | None, findings: list[console.Finding],
           crash: list[str] | None = None, hung: str = "") -> tuple[CellStatus, str]:
    """The cell's status from what the guest left behind (pure)."""
    panics = [f for f in findings if f.kind is console.Splat.PANIC]
    if timed_out == "boot":
        return CellStatus.BOOT_TIMEOUT, "guest runner did not start within the boot timeout"
    if timed_out == "cell":
        return CellStatus.TIMEOUT, "cell timeout: guest killed, results so far kept"
    if timed_out == "hung":
        return CellStatus.HUNG, f"guest hung ({hung}): killed, results so far kept"
    if timed_out == "interrupted":
        return CellStatus.INTERRUPTED, "the run was interrupted (Ctrl-C or SIGTERM): guest killed, results so far kept"
    if done:
        return CellStatus.COMPLETE, "ok" if not findings else f"{len(findings)} kernel splat(s) on the console"
    if panics:
        return CellStatus.PANIC, panics[0].line
    if crash:
        # our own code failed in the guest: a harness bug or a harness/guest mismatch, never the kernel's
        return CellStatus.RUNNER_CRASHED, ("the harness's guest runner crashed " +
                                           ("before it started" if not started else "while verifying") +
                                           ": " + " | ".join(crash[-3:]))
    if not started:
        return CellStatus.BOOT_FAILED, "guest exited before the runner started"
    return CellStatus.GUEST_DIED, "guest exited without finishing (no done.json)"


def run_cell(job: CellJob, progress: Progress | None = None, cancel: threading.Event | None = None) -> CellOutcome:
    """Run one cell to its end.  Setting ``cancel`` (the run was interrupted) kills the guest at once; the
    cell is recorded as interrupted with what it verified so far."""
    progress = progress or (lambda *a: None)
    cancel = cancel or threading.Event()
    store = Store(job.db)
    cell_dir = job.out_dir / cache.safe_name(f"{job.kernel.id}_{job.kernel.arch}")
    purpose = ("select" if job.select else "run") if job.confirms is None else \
        "confirm" if job.log_level is None else "logs"
    if job.confirms is not None:
        cell_dir = cell_dir.with_name(cell_dir.name + f"_{purpose}-{job.confirms}")
    console_path = cell_dir / "console.log"
    total = sum(len(progs) for _, progs in selected(job))
    cell_id = store.start_cell(
        purpose=purpose, confirms=job.confirms, log_level=job.log_level, run_id=job.run_id,
        branch=job.branch, kernel_id=job.kernel.id, kernel_key=job.kernel.key,
        release=job.kernel.release, kernel_source=job.kernel.source, package=job.kernel.package,
        package_version=job.kernel.package_version, arch=job.kernel.arch, backend=job.backend.name,
        accel=job.accel.accel.value, accel_reason=job.accel.reason, qemu=job.versions.get("qemu"),
        vng=job.versions.get("vng"), corpus_id=job.corpus.id, clang=job.corpus.clang,
        programs_total=total, console_log=str(console_path), image=str(job.kernel.image),
        veristat=str(job.corpus.veristat), host=f"{job.host.name} ({job.host.where})" if job.host else None)
    log.info("%s: booting %s (%s: %s)", job.key, job.kernel.release, job.accel.accel.value, job.accel.reason)
    t0 = time.monotonic()
    deadline = t0 + job.vm.cell_timeout
    findings: list[console.Finding] = []
    accel = job.accel
    seen = Seen()
    boots = failed_boots = hangs = 0
    notes: list[str] = []
    while True:
        boots += 1
        before = len(seen.results)
        try:
            status, detail, findings = _boot(job, accel, store, cell_id, cell_dir, progress, total, seen, deadline,
                                              cancel)
        except HarnessError as e:
            status, detail, findings = CellStatus.INFRA, str(e), []
        except Exception as e:  # a bug or an OS error must not lose the cell's record
            log.warning("%s: %s: %s", job.key, type(e).__name__, e, exc_info=True)
            status, detail, findings = CellStatus.INFRA, f"{type(e).__name__}: {e}", []
        if findings:
            store.add_findings(cell_id, [(f.kind.value, f.line, f.lineno) for f in findings])
        if status is CellStatus.INTERRUPTED:
            break
        if status is CellStatus.HUNG and hangs < job.vm.hang_retries and time.monotonic() < deadline - 10:
            hangs += 1
            for key in seen.in_flight():
                seen.suspects[key] = seen.suspects.get(key, 0) + 1
                if seen.suspects[key] >= 2:  # it was in flight at every hang: give up on it, not on the cell
                    store.add_result(cell_id, ResultRow(key[0], key[1], Verdict.TIMEOUT, error=(
                        f"the guest hung twice while verifying this program ({detail})")))
                    seen.results[key] = (Verdict.TIMEOUT.value, False)
            flight = ", ".join(f"{o}/{p}" for o, p in seen.in_flight())
            notes.append(f"guest hung after {len(seen.results)} programs ({_why(detail)}"
                         + (f"; in flight: {flight}" if flight else "") + f"), resumed in boot {boots + 1}")
            why = notes[-1]
        elif len(seen.results) > before or status not in BOOT_FAILURES:
            break
        elif accel.auto:  # The guest died before verifying anything: a boot problem, never a result.
            # machine.md: a /dev/kvm that cannot run a stock kernel (PVM) passes every static check.
            accel = accel.fallback(f"the guest did not start ({status.value})")
            store.update_cell(cell_id, accel=accel.accel.value, accel_reason=accel.reason)
            why = accel.reason
        elif failed_boots >= job.vm.boot_retries:
            break
        else:  # seen here: an int3 Oops while the kernel live-patches itself under multi-threaded TCG
            failed_boots += 1
            why = f"{status.value} before the runner started ({detail})"
        kept = cell_dir / f"console-attempt{boots}.log"
        console_path.replace(kept)
        log.warning("%s: %s; booting again (console kept in %s)", job.key, why, kept)
        progress(job.key, len(seen.results), total, f"{status.value}, booting again ({accel.accel.value})")
    done_n = len(seen.results)
    have = store.done_programs(cell_id)
    missing = [(o.name, prog) for o, progs in selected(job) for prog in progs if (o.name, prog) not in have]
    for obj, prog in missing:
        store.add_result(cell_id, ResultRow(obj, prog, Verdict.NOT_RUN, error=f"cell ended: {status.value}"))
    for obj, prog, reason in message_checks(job)[1]:
        store.set_msg_check(cell_id, obj, prog, "n/a", reason, None, only_if_unset=True)
    if status is CellStatus.COMPLETE and missing:
        detail = f"{detail}; {len(missing)} program(s) never reported"
    if notes:
        detail = f"{detail}; " + "; ".join(notes)
    if boots > 1 and not hangs:
        detail = f"{detail} (boot attempt {boots})"
    seconds = round(time.monotonic() - t0, 2)
    store.finish_cell(cell_id, status, detail, seconds=seconds)
    store.close()
    progress(job.key, done_n, total, f"{status.value} in {seconds:.0f}s")
    return CellOutcome(job.key, cell_id, status, detail, done_n, seconds,
                       tuple(f"{f.kind.value}: {f.line}" for f in findings), lost=seen.lost is not None)


def _why(detail: str) -> str:
    """'guest hung (soft-lockup: ...): killed, ...' -> 'soft-lockup: ...'"""
    return detail.partition("(")[2].rpartition("): killed")[0] or detail


BOOT_FAILURES = (CellStatus.BOOT_FAILED, CellStatus.BOOT_TIMEOUT, CellStatus.PANIC, CellStatus.GUEST_DIED)


def _boot(job: CellJob, accel: vm.AccelChoice, store: Store, cell_id: int, cell_dir: Path,
          progress: Progress, total: int, seen: Seen, deadline: float,
          cancel: threading.Event) -> tuple[CellStatus, str, list[console.Finding]]:
    """One boot of the cell's guest; results are stored as they arrive and noted in ``seen``.

    The guest is hung when it produces no record for ``hang_after`` seconds, or for
    ``STALL_GRACE_S`` after a lockup or stall splat on its console: it is killed then, so that
    the caller can resume the cell in a new boot.
    """
    rwdir = cell_dir / "rw"
    seen.batches.clear()
    if rwdir.exists():
        shutil.rmtree(rwdir)
    rwdir.mkdir(parents=True)
    plan_path = rwdir / protocol.PLAN
    t0 = time.monotonic()
    plan = plan_for(job, rwdir, seen, max(10.0, deadline - t0))
    plan_path.write_text(json.dumps(plan))
    console_path = cell_dir / "console.log"
    logs_n = 0
    started = False
    timed_out: str | None = None
    hung = ""
    tail = _Tail(rwdir / protocol.RESULTS)
    lines = _Lines(console_path)
    stall: console.Finding | None = None
    stall_t = 0.0

    def ingest() -> None:
        nonlocal logs_n
        for rec in tail.records():
            seen.last_record = time.monotonic()
            kind = rec.get("kind")
            key = (rec.get("object"), rec.get("program"))
            if kind == protocol.RESULT:
                store.add_result(cell_id, row_of(rec))
                seen.results[key] = (rec.get("verdict"), has_stats(rec.get("log", [])))
            elif kind == protocol.BATCH:
                seen.batches[rec["worker"]] = [tuple(k) for k in rec["keys"]]
            elif kind == protocol.TAIL:
                store.add_tail(cell_id, rec["object"], rec["program"], rec["tail"], rec["log_level"])
                seen.tails.add(key)
                logs_n += 1
            elif kind == protocol.MSG:
                logs_n += 1
                seen.msgs.add(key)
                store.set_msg_check(cell_id, rec["object"], rec["program"], rec["check"], rec.get("detail"),
                                    rec.get("log_level"))
                if rec.get("tail"):
                    store.add_tail(cell_id, rec["object"], rec["program"], rec["tail"], rec["log_level"])
            elif kind == protocol.ERROR:
                log.warning("%s: guest runner error on %s: %s", job.key, rec.get("object"), rec.get("error"))

    progress(job.key, len(seen.results), total, "booting")
    header = f"# accel: {accel.accel.value} ({accel.reason})\n"
    boot_timeout = min(job.vm.boot_timeout, vm.KVM_PROBE_S) if accel.auto else job.vm.boot_timeout
    guest = job.backend.start(job, accel, rwdir, plan, console_path, header)
    store.update_cell(cell_id, reproducer=guest.reproducer, **({"pgid": guest.pid} if guest.pid else {}))
    try:
        while True:
            ingest()
            mono = time.monotonic()
            now = mono - t0
            done_n = len(seen.results)
            for f in console.scan(ln.decode("utf-8", "replace") for ln in lines.read()):
                if f.kind in console.STALLS and stall is None:
                    stall, stall_t = f, mono
            if stall is not None and seen.last_record > stall_t:
                stall = None  # results came after the splat: the guest recovered
            if not started and (rwdir / protocol.STARTED).exists():
                started = True
                seen.last_record = mono
                store.update_cell(cell_id, boot_s=round(now, 2))
                progress(job.key, done_n, total, f"booted in {now:.1f}s")
            elif done_n >= total and total and job.confirms is None:
                # every verdict is in; the runner re-verifies rejected programs for their logs
                progress(job.key, done_n, total, f"second pass: {logs_n} logs")
            else:
                progress(job.key, done_n, total, "")
            if guest.poll() is not None:
                break
            if cancel.is_set():
                timed_out = "interrupted"
                break
            if not started and now > boot_timeout:
                timed_out = "boot"
                break
            if mono > deadline:
                timed_out = "cell"
                break
            if started and not (rwdir / protocol.DONE).exists():
                quiet = mono - seen.last_record
                if stall is not None and mono - stall_t > min(STALL_GRACE_S, job.vm.hang_after):
                    timed_out, hung = "hung", f"{stall.kind.value}, then no result for {quiet:.0f} s"
                    break
                if quiet > job.vm.hang_after:
                    timed_out, hung = "hung", f"no result for {quiet:.0f} s"
                    break
            time.sleep(POLL_S)
    finally:
        guest.stop()
        guest.join(timeout=30)
    ingest()
    if guest.lost:
        seen.lost = guest.lost
        return CellStatus.INFRA, guest.lost, console.scan(console_path.read_text(errors="replace").splitlines())
    started = started or (rwdir / protocol.STARTED).exists()
    with open(console_path, encoding="utf-8", errors="replace") as f:
        text = f.read().splitlines()
    findings = console.scan(text)
    status, detail = decide(started, (rwdir / protocol.DONE).exists(), timed_out, findings,
                            console.runner_crash(text), hung)
    return status, detail, findings

