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
import time
from pathlib import Path
from typing import Callable

from harness import cache, msgcheck, proc, uml, userspace, vm
from harness.arch import get_arch
from harness.corpus import Corpus, CorpusObject
from harness.errors import HarnessError
from harness.kernels import Kernel
from harness.matrix import VmSettings
from harness.parse import console
from harness.parse.verifier_log import classify
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
    root: Path | None = None
    """The guest's own root filesystem (a foreign arch); None: the guest sees the host's."""

    @property
    def key(self) -> str:
        return f"{self.kernel.id}/{self.kernel.arch}"

    @property
    def backend(self) -> str:
        return "uml" if self.kernel.source == "uml" else "vm"


@dataclasses.dataclass(frozen=True)
class CellOutcome:
    key: str
    cell_id: int
    status: CellStatus
    detail: str
    programs: int
    seconds: float
    findings: tuple[str, ...] = ()


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


def plan_for(job: CellJob, rwdir: Path) -> dict:
    checks, _ = message_checks(job)
    objects = selected(job)
    workers = 1 if job.backend == "uml" else job.vm.cpus  # UML is uniprocessor
    return {
        "veristat": str(job.corpus.veristat),
        "workers": workers,
        # Objects share a veristat (starting one costs more than most programs in a guest).  In a VM,
        # four batches per worker keep the workers evenly loaded.  UML has one worker, and there a
        # veristat gets faster the longer it runs: over the 93 verifier_* objects one took 26 s,
        # four (a quarter each) 76 s in all; so UML cells run a single veristat.
        "objects_per_veristat": len(objects) if job.backend == "uml" else max(1, -(-len(objects) // (workers * 4))),
        "program_timeout": job.vm.program_timeout,
        "log_size": "--log-size" in job.corpus.veristat_opts,
        "fsync": job.backend != "uml",  # hostfs writes are the host's own
        "private_tmp": True,  # a guest's own tmpfs for scratch files and the staged vmlinux BTF
        "failure_log_level": job.vm.failure_log_level if job.confirms is None else 0,
        "deadline_s": job.vm.cell_timeout + 30,
        "kconfig": str(job.kernel.config) if job.kernel.config else None,
        "objects": [{"name": o.name, "path": str(o.path), "programs": list(progs),
                     **({"checks": checks[o.name]} if o.name in checks else {})}
                    for o, progs in objects],
    }


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
    return ResultRow(
        rec["object"], rec["program"], Verdict(rec["verdict"]),
        failure_class=cls.value if cls else None, load_reason=reason.value if reason else None, error=error,
        log=tuple(log_lines), libbpf=tuple(libbpf), insns=rec.get("insns"), states=rec.get("states"),
        peak_states=rec.get("peak_states"), max_states_per_insn=rec.get("max_states_per_insn"),
        mark_read=rec.get("mark_read"), duration_us=rec.get("duration_us"), wall_s=rec.get("wall_s"))


class _Tail:
    """Reads complete JSON lines appended to a file since the last call."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.partial = b""

    def read(self) -> list[dict]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        *lines, self.partial = (self.partial + data).split(b"\n")
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                log.warning("%s: unreadable result line skipped: %r", self.path, line[:200])
        return out


def decide(started: bool, done: bool, timed_out: str | None, findings: list[console.Finding]) -> tuple[CellStatus, str]:
    """The cell's status from what the guest left behind (pure)."""
    panics = [f for f in findings if f.kind is console.Splat.PANIC]
    if timed_out == "boot":
        return CellStatus.BOOT_TIMEOUT, "guest runner did not start within the boot timeout"
    if timed_out == "cell":
        return CellStatus.TIMEOUT, "cell timeout: guest killed, results so far kept"
    if done:
        return CellStatus.COMPLETE, "ok" if not findings else f"{len(findings)} kernel splat(s) on the console"
    if panics:
        return CellStatus.PANIC, panics[0].line
    if not started:
        return CellStatus.BOOT_FAILED, "guest exited before the runner started"
    return CellStatus.GUEST_DIED, "guest exited without finishing (no done.json)"


def run_cell(job: CellJob, progress: Progress | None = None) -> CellOutcome:
    progress = progress or (lambda *a: None)
    store = Store(job.db)
    cell_dir = job.out_dir / cache.safe_name(f"{job.kernel.id}_{job.kernel.arch}")
    if job.confirms is not None:
        cell_dir = cell_dir.with_name(cell_dir.name + f"_confirm-{job.confirms}")
    console_path = cell_dir / "console.log"
    total = sum(len(progs) for _, progs in selected(job))
    cell_id = store.start_cell(
        purpose="run" if job.confirms is None else "confirm", confirms=job.confirms, run_id=job.run_id, branch=job.branch, kernel_id=job.kernel.id, kernel_key=job.kernel.key,
        release=job.kernel.release, kernel_source=job.kernel.source, package=job.kernel.package,
        package_version=job.kernel.package_version, arch=job.kernel.arch, backend=job.backend,
        accel=job.accel.accel.value, accel_reason=job.accel.reason, qemu=job.versions.get("qemu"),
        vng=job.versions.get("vng"), corpus_id=job.corpus.id, clang=job.corpus.clang,
        programs_total=total, console_log=str(console_path), image=str(job.kernel.image),
        veristat=str(job.corpus.veristat))
    log.info("%s: booting %s (%s: %s)", job.key, job.kernel.release, job.accel.accel.value, job.accel.reason)
    t0 = time.monotonic()
    findings: list[console.Finding] = []
    accel = job.accel
    attempt = 0
    while True:
        attempt += 1
        try:
            status, detail, findings, done_n = _boot(job, accel, store, cell_id, cell_dir, progress, total)
        except HarnessError as e:
            status, detail, findings, done_n = CellStatus.INFRA, str(e), [], 0
        except Exception as e:  # a bug or an OS error must not lose the cell's record
            status, detail, findings, done_n = CellStatus.INFRA, f"{type(e).__name__}: {e}", [], 0
        if findings:
            store.add_findings(cell_id, [(f.kind.value, f.line, f.lineno) for f in findings])
        if done_n or status not in BOOT_FAILURES:
            break
        # The guest died before verifying anything: a boot problem, never a result.
        if accel.auto:
            # machine.md: a /dev/kvm that cannot run a stock kernel (PVM) passes every static check.
            accel = accel.fallback(f"the guest did not start ({status.value})")
            store.update_cell(cell_id, accel=accel.accel.value, accel_reason=accel.reason)
            why = accel.reason
        elif attempt > job.vm.boot_retries:
            break
        else:  # seen here: an int3 Oops while the kernel live-patches itself under multi-threaded TCG
            why = f"{status.value} before the runner started ({detail})"
        kept = cell_dir / f"console-attempt{attempt}.log"
        console_path.replace(kept)
        log.warning("%s: %s; booting again (console kept in %s)", job.key, why, kept)
        progress(job.key, 0, total, f"{status.value}, booting again ({accel.accel.value})")
    seen = store.done_programs(cell_id)
    missing = [(o.name, prog) for o, progs in selected(job) for prog in progs if (o.name, prog) not in seen]
    for obj, prog in missing:
        store.add_result(cell_id, ResultRow(obj, prog, Verdict.NOT_RUN, error=f"cell ended: {status.value}"))
    for obj, prog, reason in message_checks(job)[1]:
        store.set_msg_check(cell_id, obj, prog, "n/a", reason, None, only_if_unset=True)
    if status is CellStatus.COMPLETE and missing:
        detail = f"{detail}; {len(missing)} program(s) never reported"
    if attempt > 1:
        detail = f"{detail} (boot attempt {attempt})"
    seconds = round(time.monotonic() - t0, 2)
    store.finish_cell(cell_id, status, detail, seconds=seconds)
    store.close()
    progress(job.key, done_n, total, f"{status.value} in {seconds:.0f}s")
    return CellOutcome(job.key, cell_id, status, detail, done_n, seconds,
                       tuple(f"{f.kind.value}: {f.line}" for f in findings))


BOOT_FAILURES = (CellStatus.BOOT_FAILED, CellStatus.BOOT_TIMEOUT, CellStatus.PANIC, CellStatus.GUEST_DIED)


def _command(job: CellJob, accel: vm.AccelChoice, rwdir: Path, plan_path: Path) -> list[str]:
    """What boots the cell: UML as a host process, or vng with the host's root or the arch's own."""
    if job.backend == "uml":
        init = rwdir / "init.sh"
        init.write_text(uml.init_script(vm.guest_argv(plan_path)))
        init.chmod(0o755)
        return uml.boot_argv(job.kernel.image, job.vm.memory, init)
    common = dict(vng=vm.vng_path(), image=job.kernel.image, arch=get_arch(job.kernel.arch), accel=accel.accel,
                  cpus=job.vm.cpus, memory=job.vm.memory, rwdir=rwdir)
    if job.root is None:
        return vm.vng_argv(**common, guest=vm.guest_argv(plan_path))
    # the guest runs its own python from its root; the runner, corpus and config come in read-only
    rodirs = tuple(sorted({vm.package_root(), job.corpus.build_dir,
                           *([job.kernel.config.parent] if job.kernel.config else [])}))
    userspace.expose(job.root, [rwdir, *rodirs])
    return vm.vng_argv(**common, guest=vm.guest_argv(plan_path, python=userspace.GUEST_PYTHON), root=job.root,
                       rodirs=rodirs)


def _boot(job: CellJob, accel: vm.AccelChoice, store: Store, cell_id: int, cell_dir: Path,
          progress: Progress, total: int) -> tuple[CellStatus, str, list[console.Finding], int]:
    """One boot of the cell's guest; results are stored as they arrive."""
    rwdir = cell_dir / "rw"
    if rwdir.exists():
        shutil.rmtree(rwdir)
    rwdir.mkdir(parents=True)
    plan_path = rwdir / "plan.json"
    plan_path.write_text(json.dumps(plan_for(job, rwdir)))
    argv = _command(job, accel, rwdir, plan_path)
    console_path = cell_dir / "console.log"
    store.update_cell(cell_id, reproducer=proc.reproducer(argv))
    t0 = time.monotonic()
    done_n = logs_n = 0
    started = False
    timed_out: str | None = None
    tail = _Tail(rwdir / "results.jsonl")

    def ingest() -> None:
        nonlocal done_n, logs_n
        for rec in tail.read():
            kind = rec.get("kind")
            if kind == "result":
                store.add_result(cell_id, row_of(rec))
                done_n += 1
            elif kind == "tail":
                store.add_tail(cell_id, rec["object"], rec["program"], rec["tail"], rec["log_level"])
                logs_n += 1
            elif kind == "msg":
                logs_n += 1
                store.set_msg_check(cell_id, rec["object"], rec["program"], rec["check"], rec.get("detail"),
                                    rec.get("log_level"))
                if rec.get("tail"):
                    store.add_tail(cell_id, rec["object"], rec["program"], rec["tail"], rec["log_level"])
            elif kind == "error":
                log.warning("%s: guest runner error on %s: %s", job.key, rec.get("object"), rec.get("error"))

    progress(job.key, 0, total, "booting")
    header = f"# accel: {accel.accel.value} ({accel.reason})\n"
    boot_timeout = min(job.vm.boot_timeout, vm.KVM_PROBE_S) if accel.auto else job.vm.boot_timeout
    p, tee = proc.start(argv, env=vm.vng_env(), log_path=console_path, header=header)
    store.update_cell(cell_id, pgid=p.pid)
    try:
        while True:
            ingest()
            now = time.monotonic() - t0
            if not started and (rwdir / "started.json").exists():
                started = True
                store.update_cell(cell_id, boot_s=round(now, 2))
                progress(job.key, done_n, total, f"booted in {now:.1f}s")
            elif done_n >= total and total:
                # every verdict is in; the runner re-verifies rejected programs for their logs
                progress(job.key, done_n, total, f"second pass: {logs_n} logs")
            else:
                progress(job.key, done_n, total, "")
            if p.poll() is not None:
                break
            if not started and now > boot_timeout:
                timed_out = "boot"
                break
            if now > job.vm.cell_timeout:
                timed_out = "cell"
                break
            time.sleep(POLL_S)
    finally:
        proc.stop(p)
        tee.join(timeout=30)
    ingest()
    started = started or (rwdir / "started.json").exists()
    with open(console_path, encoding="utf-8", errors="replace") as f:
        findings = console.scan(f)
    status, detail = decide(started, (rwdir / "done.json").exists(), timed_out, findings)
    return status, detail, findings, done_n
