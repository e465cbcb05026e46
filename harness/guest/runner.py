"""Runs inside the guest: verify every program of the plan, streaming each result to the rwdir.

Stdlib only (the guest sees the host's filesystem read-only and runs this
with ``python3 -S``).  One worker per vCPU takes batches of objects from a
shared queue and runs one ``veristat -v -l 4`` over each batch, line-buffered,
parsing its stream as it comes: every finished program is appended to
``results.jsonl`` (fsynced in a VM) at once, so whatever happens to the guest
later, what was verified is kept.

Per-program timeout: if no program finishes within ``program_timeout`` the
veristat process is killed; the first unreported program (veristat's order is
the plan's) is recorded as ``timeout`` and the rest go on in a new veristat.
When the order cannot tell which program it was, the batch is narrowed to one
object, then one program per veristat.

Files in the rwdir (:mod:`harness.guest.protocol`): ``plan.json`` (in), ``started.json``,
``results.jsonl``, ``done.json`` (out).  The host reads only these, never vng's exit code.
"""

from __future__ import annotations

import json
import os
import queue
import resource
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from harness.guest.protocol import BATCH, DONE, ERROR, MSG, RESULT, RESULTS, STARTED, TAIL, Plan
from harness.guest.match import first_missing, first_present
from harness.parse.veristat import Stream

TAIL_LINES = 40
LOG_LINES = (15000, 5000)
"""A logs re-run (``main_log_level``) keeps this many first and last lines of a program's log."""

# veristat -v mallocs its log buffer (16 MB unless --log-size) and never clears it.  When libbpf fails
# before the kernel writes a log, veristat prints the buffer anyway: a reused heap chunk holds garbage
# or another program's log.  Two ways to get a clean buffer every time:
#  - with --log-size, small buffers (64 KB at level 4, as veristat's own non-verbose mode uses; 2 MB
#    for full logs, test_loader's size) from a heap that glibc zeroes on every malloc (perturb byte 255);
#  - without it (6.1's veristat), every allocation from 1 MB up as a fresh, zeroed mmap.
# The second costs ~32 ms per program in UML (16 MB mmap/munmap; 65 s vs 28 s over the 1342 verifier_*
# programs).  With the first, the heap is also kept: glibc's defaults hand big blocks (libbpf's copy of
# the vmlinux BTF, ~6 MB, parsed for every program that needs it) back to the kernel on free, and in
# UML every page faulted back in is a round trip through ptrace.  Measured over those programs in UML
# 6.12 (vmlinux BTF staged, see private_tmp): 13.8 s with the perturb byte alone, 7.2 s with the
# heap kept too (either threshold alone: 101 s / 114 s, as glibc then trims or maps every big block);
# natively 4.0 s and 3.9 s.  Identical output.
MAIN_LOG_SIZE = 64 * 1024
FULL_LOG_SIZE = 2 * 1024 * 1024
ZEROED_HEAP = {"MALLOC_PERTURB_": "255",
               "MALLOC_MMAP_THRESHOLD_": str(32 << 20),  # glibc's maximum: heap blocks up to 32 MB
               "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}  # and the heap never shrinks
FRESH_MMAP = {"MALLOC_MMAP_THRESHOLD_": str(1 << 20)}


class Writer:
    """Appends records; each is on the host once written.

    In a VM each record is also fsynced (the rwdir is a shared filesystem).  A UML guest's hostfs
    turns every write into the host's own write(2): once it returns the record survives the guest,
    and an fsync per record (a host disk flush) would cost more than verifying most programs.
    """

    def __init__(self, path: Path, fsync: bool = True):
        self._f = open(path, "a", encoding="utf-8")
        self._lock = threading.Lock()
        self._fsync = fsync
        self.count = 0

    def write(self, rec: dict) -> None:
        line = json.dumps(rec, sort_keys=True) + "\n"
        with self._lock:
            self._f.write(line)
            self._f.flush()
            if self._fsync:
                os.fsync(self._f.fileno())
            self.count += 1


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, sort_keys=True))
    with open(tmp) as f:
        os.fsync(f.fileno())
    tmp.replace(path)


def veristat_env(small_log: bool) -> dict[str, str]:
    """veristat's environment: ours, with only the malloc settings above (none of this process's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    return {**env, **(ZEROED_HEAP if small_log else FRESH_MMAP)}


def veristat_argv(veristat: str, objs: list[str], log_level: int, filters: Path | None,
                  options: tuple[str, ...] = (), log_size: int | None = None) -> list[str]:
    argv = ["stdbuf", "-oL", veristat, "-v", "-l", str(log_level), *options, "-o", "csv"]
    if log_size is not None:
        argv += ["--log-size", str(log_size)]
    if filters is not None:
        argv += ["-f", f"@{filters}"]
    return argv + objs


def run_veristat(argv: list[str], timeout: float, on_record, full_logs: bool = False) -> tuple[str, Stream]:
    """Run one veristat, calling ``on_record`` per finished program.

    Returns ("ok" | "timeout" | "crash:<rc>", stream).  The timeout clock
    restarts whenever a program finishes.  Records carry the last lines of
    each log, or the whole log with ``full_logs`` (message checks).
    """
    stream = Stream(None) if full_logs else Stream()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True, env=veristat_env("--log-size" in argv))
    fd = p.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    status = "ok"
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                status = "timeout"
                break
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for raw in lines:
                rec = stream.feed(raw.decode("utf-8", "replace"))
                if rec is not None:
                    deadline = time.monotonic() + timeout
                    on_record(rec)
    finally:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        rc = p.wait()
    if buf:
        rec = stream.feed(buf.decode("utf-8", "replace"))
        if rec is not None:
            on_record(rec)
    rec = stream.close()
    if rec is not None:
        on_record(rec)
    if status == "ok" and rc != 0:
        status = f"crash:{rc}"
    return status, stream


Key = tuple[str, str]  # (object name, program name), in the order veristat verifies them


class Worker:
    def __init__(self, plan: Plan, out: Writer, tmpdir: Path, index: int):
        self.plan = plan
        self.out = out
        self.tmp = tmpdir
        self.index = index
        self.seconds = {"main": 0.0, "second": 0.0}  # time in each pass, for done.json

    def _argv(self, objs: list[dict], keys: list[Key], log_level: int, options: tuple[str, ...] = ()) -> list[str]:
        """One veristat over the objects holding ``keys``; a filter file unless that is all their programs."""
        names = dict.fromkeys(k[0] for k in keys)
        used = [o for o in objs if o["name"] in names]
        path = None
        if keys != [(o["name"], p) for o in used for p in o["programs"]]:
            path = self.tmp / f"filters-{self.index}"
            base = {o["name"]: Path(o["path"]).name for o in used}
            path.write_text("".join(f"{base[o]}/{p}\n" for o, p in keys))
        size = (MAIN_LOG_SIZE if log_level == 4 else FULL_LOG_SIZE) if self.plan.log_size else None
        return veristat_argv(self.plan.veristat, [o["path"] for o in used], log_level, path, options, size)

    def verify_objects(self, objs: list[dict]) -> None:
        """Verify every program of ``objs``: one veristat for all of them while that works.

        Starting a process costs far more than verifying a small program in a guest (UML: ~0.35 s,
        more under TCG), so objects share a veristat.  If one stops early (timeout, crash), the
        program in flight is the first unreported one in verification order: it is recorded and
        the rest goes on in a new veristat.  Whatever cannot be attributed that way is narrowed
        down, first to one object per veristat, then to one program per veristat.
        """
        # A resumed boot (the host restarted a hung guest) skips programs that already have a result;
        # those whose second pass had not run come with their verdict ("done").
        skip = {(o["name"], p) for o in objs for p in o.get("skip", ())}
        order: list[Key] = [(o["name"], p) for o in objs for p in o["programs"] if (o["name"], p) not in skip]
        pending = dict.fromkeys(order)
        verdicts: dict[Key, str] = {}
        failed_in_verifier: list[Key] = []
        checked = {(o["name"], p) for o in objs for p in o.get("checks", {})}
        main_logs: dict[Key, list[str]] = {}  # the main pass's (level 4) logs of programs with message checks
        for o in objs:
            for p, (verdict, ran) in o.get("done", {}).items():
                verdicts[(o["name"], p)] = verdict
                if verdict == "failure" and ran:
                    failed_in_verifier.append((o["name"], p))
        mode = "batch" if len(objs) > 1 else "object"
        t_last = t_pass = time.monotonic()
        # a logs re-run verifies at a higher log level (stats still asked for) and keeps whole logs
        full = self.plan.main_log_level

        def emit(rec: dict) -> None:
            nonlocal t_last
            key = (rec["object"], rec["program"])
            if key not in pending:
                return  # not ours (cannot happen with filters; be safe)
            del pending[key]
            now = time.monotonic()
            rec.update(kind="result", status="done", wall_s=round(now - t_last, 3), worker=self.index)
            if full and len(rec["log"]) > sum(LOG_LINES):
                head, tail = LOG_LINES
                rec["log"] = [*rec["log"][:head], f"[bpf-harness: {len(rec['log']) - head - tail} lines left out]",
                              *rec["log"][-tail:]]
            t_last = now
            verdicts[key] = rec["verdict"]
            if rec["verdict"] == "failure" and _verifier_ran(rec["log"]):
                failed_in_verifier.append(key)
            if key in checked and not rec.get("log_truncated"):
                main_logs[key] = rec["log"]
            self.out.write(rec)

        while pending:
            keys = list(pending)
            if mode == "object":
                keys = [k for k in keys if k[0] == keys[0][0]]
            elif mode == "single":
                keys = keys[:1]
            t_start = time.monotonic()
            # the host tells the program in flight from this if the guest hangs
            self.out.write({"kind": BATCH, "worker": self.index, "keys": keys})
            status, stream = run_veristat(self._argv(objs, keys, 4 | full), self.plan.program_timeout, emit,
                                          full_logs=bool(full))
            left = [k for k in keys if k in pending]
            if not left:
                continue
            if status == "ok" and mode != "batch":
                # veristat finished without reporting these: it could not open or process them.
                msg = stream.open_failures + stream.orphan_lines
                for key in left:
                    del pending[key]
                    self.out.write({"kind": RESULT, "status": "done", "object": key[0], "program": key[1],
                                    "verdict": "failure", "log": [], "libbpf": msg[-20:] or
                                    ["veristat reported nothing for this program"], "worker": self.index,
                                    "wall_s": round(time.monotonic() - t_start, 3)})
                continue
            reported = [k for k in keys if k not in pending]
            if status != "ok" and (mode == "single" or keys[:len(reported)] == reported):
                key = left[0]
                del pending[key]
                self.out.write({"kind": RESULT, "status": "timeout" if status == "timeout" else "crash",
                                "object": key[0], "program": key[1], "verdict": None,
                                "log": [], "libbpf": stream.orphan_lines[-20:], "worker": self.index,
                                "wall_s": (float(self.plan.program_timeout) if status == "timeout"
                                           else round(time.monotonic() - t_start, 3)),
                                "detail": status})
                t_last = time.monotonic()
            else:
                mode = "object" if mode == "batch" else "single"
        t_second = time.monotonic()
        self.seconds["main"] += t_second - t_pass
        self._second_pass(objs, failed_in_verifier, verdicts, main_logs)
        self.seconds["second"] += time.monotonic() - t_second

    def _second_pass(self, objs: list[dict], failed: list[Key], verdicts: dict[Key, str],
                     main_logs: dict[Key, list[str]] | None = None) -> None:
        """Re-verify with full logs: rejected programs for the failing instruction's context ("tail"),
        and programs with expected messages at the test's own log level and flags ("msg").

        Programs that share a log level and options share one veristat; a rejected program whose
        test expects its messages in a level-1 log is verified once for both.  A check whose messages
        are all in the main pass's own log is matched without re-verifying (see ``found_in_main_log``).
        """
        level = self.plan.failure_log_level
        # rejections the selftest expects: the main pass has their error line, no tail wanted
        no_tail = {(o["name"], p) for o in objs for p in o.get("no_tail", ())}
        failed = [k for k in failed if k not in no_tail]
        checks = {(o["name"], p): c for o in objs for p, c in o.get("checks", {}).items()
                  if verdicts.get((o["name"], p)) in ("success", "failure")}
        for key in list(checks):
            log = (main_logs or {}).get(key)
            if log is not None and found_in_main_log(checks[key], log, verdicts[key]):
                self.out.write({"kind": MSG, "object": key[0], "program": key[1], "check": "matched",
                                "log_level": checks[key]["log_level"], "detail":
                                f"{len(checks[key]['patterns'])} message(s) in order (in the main pass's log)"})
                del checks[key]
        # A rejected program gets its tail from its message-check run when that log is detailed enough.
        tail_group = {k: _group(checks[k]) if k in checks and checks[k]["log_level"] & 3 >= level else (level, ())
                      for k in (failed if level else [])}
        groups: dict[tuple[int, tuple[str, ...]], list[Key]] = {}
        for key in ((o["name"], p) for o in objs for p in o["programs"]):  # veristat's order
            wanted = {tail_group[key]} if key in tail_group else set()
            if key in checks:
                wanted.add(_group(checks[key]))
            for g in wanted:
                groups.setdefault(g, []).append(key)
        for group, keys in groups.items():
            pending = dict.fromkeys(keys)

            def emit(rec: dict, pending: dict = pending, group: tuple = group) -> None:
                key = (rec["object"], rec["program"])
                if key not in pending:
                    return
                del pending[key]
                if tail_group.get(key) == group and rec["verdict"] == "failure":
                    self.out.write({"kind": TAIL, "object": key[0], "program": key[1],
                                    "log_level": group[0], "tail": rec["log"][-TAIL_LINES:]})
                if key in checks and _group(checks[key]) == group:
                    self.out.write(_msg_record(key[0], key[1], checks[key], rec, verdicts[key]))

            while pending:
                run = list(pending)
                status, _ = run_veristat(self._argv(objs, run, *group), self.plan.program_timeout, emit,
                                         full_logs=True)
                left = [k for k in run if k in pending]
                # The main pass verified all of these; one that stops veristat now is given up on,
                # and the programs after it get their own veristat.
                lost = left if status == "ok" else left[:1]
                for key in lost:
                    del pending[key]
                    if key in checks and _group(checks[key]) == group:
                        self.out.write({"kind": MSG, "object": key[0], "program": key[1], "check": "n/a",
                                        "detail": f"no log at level {group[0]} ({status})", "log_level": group[0]})

    def loop(self, q: "queue.Queue[list[dict]]") -> None:
        while True:
            try:
                objs = q.get_nowait()
            except queue.Empty:
                return
            try:
                self.verify_objects(objs)
            except Exception as e:  # keep the other objects going; the host sees the gap
                for obj in objs:
                    self.out.write({"kind": ERROR, "object": obj["name"], "error": repr(e)})


def found_in_main_log(check: dict, log: list[str], verdict: str) -> bool:
    """Whether a message check is settled by the main pass's level-4 log alone: every message found in it.

    The verifier prints its messages (``verbose()``) at any non-zero log level; level 1 and 2 add
    instruction and state lines around them, so the level-4 log is a subsequence of the lines of the
    test's own log.  Messages found in order in a subsequence are found in order in the whole (a
    message within one line; none that spans lines is shortcut).  Only when the test's flags do not
    change what the verifier explores (``-t``, state-freq, does; ``-r`` only turns a register-
    invariant violation, a verifier bug, into a rejection) and the test's log is not the empty one of
    a verified program at level 0.  A message not found here is searched in a re-verification as before.
    """
    if not set(check["options"]) <= {"-r"} or (check["empty_if_verified"] and verdict == "success"):
        return False
    if check.get("not_patterns") or not check["patterns"]:  # an absence needs the whole log
        return False
    if any("\n" in p or "\\n" in p for p in check["patterns"]):
        return False
    return first_missing(check["patterns"], "\n".join(log) + "\n") is None


def _group(check: dict) -> tuple[int, tuple[str, ...]]:
    return check["log_level"], tuple(check["options"])


def _verifier_ran(log: list[str]) -> bool:
    return any(line.startswith("processed ") for line in log)


def _msg_record(obj: str, prog: str, check: dict, rec: dict, main_verdict: str) -> dict:
    """Whether the test's expected messages appear, in order, in this log (test_loader's rules)."""
    out = {"kind": MSG, "object": obj, "program": prog, "log_level": check["log_level"]}
    if rec["verdict"] == "failure" and not _verifier_ran(rec["log"]):
        why = " ".join(rec.get("libbpf", [])[-2:]) or "no verifier log"
        flags = f" with the test's flags {' '.join(check['options'])}" if rec["verdict"] != main_verdict else ""
        return {**out, "check": "n/a", "detail": f"the program did not reach the verifier{flags}: {why}"[:500]}
    log = "" if check["empty_if_verified"] and rec["verdict"] == "success" else "\n".join(rec["log"]) + "\n"
    missing = first_missing(check["patterns"], log)
    present = first_present(check["patterns"], check.get("not_patterns", ()), log) if missing is None else None
    if present is not None:
        return {**out, "check": "missing", "detail": "a message the test says must not be there is in the log "
                f"(__not_msg): {check['not_patterns'][present][1]}"[:500], "tail": rec["log"][-TAIL_LINES:]}
    if missing is None:
        nots = len(check.get("not_patterns", ()))
        return {**out, "check": "matched", "detail": f"{len(check['patterns'])} message(s) in order"
                + (f", {nots} absent as expected" if nots else "")}
    note = " (log level 0: a verified program has no log)" if not log else ""
    return {**out, "check": "missing", "detail": f"expected message {missing + 1}/{len(check['patterns'])} not found"
            f"{note}: {check['patterns'][missing]}"[:500], "tail": rec["log"][-TAIL_LINES:]}


def provide_kconfig(config: str | None) -> str:
    """Make the kernel's own config readable where libbpf looks for it (``__kconfig`` externs).

    The guest sees the host's /boot, which holds the host kernel's configs; a tmpfs over /boot in
    the guest (the host is untouched) holds the config of the kernel under test instead.
    """
    release = os.uname().release
    target = Path("/boot") / f"config-{release}"
    if target.exists():
        return f"{target} present"
    if Path("/proc/config.gz").exists():
        return "/proc/config.gz present"
    if not config or not Path(config).exists():
        return "no kernel config available: programs with __kconfig externs will fail to load"
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "bpf-harness-boot", "/boot"], check=True)
    shutil.copyfile(config, target)
    return f"{target} from {config}"


VMLINUX_BTF = Path("/sys/kernel/btf/vmlinux")


def private_tmp(tmp: Path) -> str:
    """The runner's scratch dir as a tmpfs of the guest's own, with the kernel's BTF staged in it.

    libbpf reads /sys/kernel/btf/vmlinux (~6 MB) for every program that needs it (CO-RE relocations,
    kfuncs, BTF-typed attach targets), and sysfs hands a binary attribute out one page per read(2):
    ~1,400 syscalls each time, a ptrace round trip apiece in UML, emulated under TCG.  A copy in the
    tmpfs, bind-mounted over the sysfs file inside the guest (the host is untouched), is the same bytes
    in one read.  The 1342 verifier_* programs in UML 6.12: 27.1 s -> 13.8 s, identical output.
    """
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m,mode=0700", "bpf-harness-tmp", str(tmp)],
                       check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        return f"scratch dir not a tmpfs ({getattr(e, 'stderr', '') or e}); vmlinux BTF read from sysfs"
    if not VMLINUX_BTF.exists():
        return "scratch dir on a tmpfs; no vmlinux BTF"
    data = VMLINUX_BTF.read_bytes()
    copy = tmp / "vmlinux.btf"
    copy.write_bytes(data)
    try:
        subprocess.run(["mount", "--bind", str(copy), str(VMLINUX_BTF)], check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        return f"scratch dir on a tmpfs; vmlinux BTF read from sysfs (bind mount failed: {getattr(e, 'stderr', '') or e})"
    if VMLINUX_BTF.read_bytes() != data:  # cannot happen; never verify against other BTF than the kernel's
        subprocess.run(["umount", str(VMLINUX_BTF)], check=True)
        return "scratch dir on a tmpfs; vmlinux BTF read from sysfs (the staged copy differed)"
    return f"scratch dir on a tmpfs; vmlinux BTF ({len(data)} bytes) staged there"


def main(argv: list[str]) -> int:
    plan_path = Path(argv[1])
    plan = Plan.from_json(json.loads(plan_path.read_text()))
    rw = plan_path.parent
    resource.setrlimit(resource.RLIMIT_MEMLOCK, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    tmp = rw / "tmp"  # not /tmp: a UML guest shares the host's filesystem
    tmp.mkdir(parents=True, exist_ok=True)
    kconfig = provide_kconfig(plan.kconfig)
    scratch = private_tmp(tmp) if plan.private_tmp else "scratch dir in the rwdir"
    _write_json(rw / STARTED, {"time": time.time(), "release": os.uname().release, "kconfig": kconfig,
                                      "scratch": scratch,
                                      "cpus": os.cpu_count(),
                                      "btf": os.path.exists("/sys/kernel/btf/vmlinux")})
    out = Writer(rw / RESULTS, fsync=plan.fsync)
    q: "queue.Queue[list[dict]]" = queue.Queue()
    objs, per = plan.objects, max(1, plan.objects_per_veristat)
    for i in range(0, len(objs), per):
        q.put(objs[i:i + per])
    t0 = time.monotonic()
    deadline = plan.deadline_s
    if deadline:
        # If the host harness died (kill -9), nobody stops this VM: power off on our own.
        timer = threading.Timer(float(deadline), lambda: os._exit(124))
        timer.daemon = True
        timer.start()
    workers = [Worker(plan, out, tmp, i) for i in range(max(1, plan.workers))]
    threads = [threading.Thread(target=w.loop, args=(q,), daemon=True) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Worker-seconds in each pass (the wall time with one worker, as in UML).
    passes = {k: round(sum(w.seconds[k] for w in workers), 3) for k in ("main", "second")}
    _write_json(rw / DONE, {"seconds": round(time.monotonic() - t0, 3), "records": out.count,
                                   "pass_seconds": passes})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
