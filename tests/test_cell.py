"""The host side of a cell against a fake vng replaying a recorded real guest."""

import sqlite3
from collections import OrderedDict
from pathlib import Path

import pytest

from harness import backends, cell
from harness.errors import InfraError
from harness.corpus import Corpus, CorpusObject
from harness.kernels import Kernel
from harness.matrix import Accel, VmSettings
from harness.parse import console
from harness.store import CellStatus, Store, Verdict
from harness.vm import AccelChoice
from conftest import recorded_results


def corpus_from_recording() -> Corpus:
    progs: "OrderedDict[str, list[str]]" = OrderedDict()
    for r in recorded_results():
        if r["kind"] == "result":
            progs.setdefault(r["object"], []).append(r["program"])
    objs = tuple(CorpusObject(o, Path(f"/nonexistent/{o}.bpf.o"), "0" * 64, tuple(p)) for o, p in progs.items())
    return Corpus("c0ffee", "rec", "x86_64", "linux-source-6.12", "6.12.117-1~deb12u1", "clang 19.1.7",
                  Path("/nonexistent/veristat"), "1" * 64, objs, (), Path("/nonexistent"))


def job(tmp_path, **vm) -> cell.CellJob:
    k = Kernel(id="6.12.117", arch="x86_64", release="6.12.117+deb12-amd64", source="debian",
               image=Path("/nonexistent/vmlinux"), vmlinux=None, modules=None, package="linux-image-x",
               package_version="6.12.117-1~deb12u1")
    store = Store(tmp_path / "r.db")
    corpus = corpus_from_recording()
    store.add_corpus(corpus)
    return cell.CellJob(run_id=store.start_run("m", "", []), branch="6.12.y", kernel=k, corpus=corpus, vm=VmSettings(**vm),
                        accel=AccelChoice(Accel.TCG, "test"), out_dir=tmp_path / "out", db=tmp_path / "r.db")


def rows(tmp_path, cell_id):
    db = sqlite3.connect(tmp_path / "r.db")
    db.row_factory = sqlite3.Row
    return {(r["object"], r["program"]): r for r in db.execute("SELECT * FROM results WHERE cell_id=?", (cell_id,))}


def test_complete_cell_stores_every_recorded_result(fake_vng, tmp_path):
    fake_vng("complete", "console-6.12.117-ok.txt")
    out = cell.run_cell(job(tmp_path))
    assert out.status is CellStatus.COMPLETE, out.detail  # even though the fake vng exits 255
    got = rows(tmp_path, out.cell_id)
    assert len(got) == 96
    r = got[("verifier_and", "invalid_range_check")]
    assert (r["verdict"], r["failure_class"], r["error"], r["insns"]) == (
        "failure", "verifier", "R0 max value is outside of the allowed memory range", 19)
    assert got[("verifier_loops1", "loop_after_a_conditional_jump")]["verdict"] == "timeout"
    assert got[("verifier_and", "known_subreg_with_unknown_reg")]["insns"] == 7
    tails = [r for r in got.values() if r["tail"]]
    assert tails and all(r["tail_log_level"] == 1 for r in tails)
    log = (tmp_path / "out" / "6.12.117_x86_64" / "console.log").read_text().splitlines()
    assert log[0].startswith("# reproduce: ") and " --force-9p " in log[0] and "--disable-kvm" in log[0]
    assert any("Linux version 6.12.117" in ln for ln in log)


def test_guest_that_panics_mid_run(fake_vng, tmp_path):
    fake_vng("panic", "console-6.12.117-panic.txt")
    out = cell.run_cell(job(tmp_path))
    assert out.status is CellStatus.PANIC
    assert out.detail.startswith("[") and "Kernel panic - not syncing" in out.detail
    got = rows(tmp_path, out.cell_id)
    done = [r for r in got.values() if r["verdict"] != "not-run"]
    assert len(got) == 96 and 0 < len(done) < 96  # what came back is kept, the rest is marked not-run
    store = Store(tmp_path / "r.db")
    kinds = {f["kind"] for f in store.findings(out.cell_id)}
    assert "panic" in kinds


def test_guest_that_never_boots(fake_vng, tmp_path):
    fake_vng("hang", "console-6.12.117-ok.txt")
    out = cell.run_cell(job(tmp_path, boot_timeout=5))
    assert out.status is CellStatus.BOOT_TIMEOUT
    assert all(r["verdict"] == "not-run" for r in rows(tmp_path, out.cell_id).values())


def test_cell_timeout_keeps_results(fake_vng, tmp_path):
    fake_vng("slow", "console-6.12.117-ok.txt")
    out = cell.run_cell(job(tmp_path, cell_timeout=10))
    assert out.status is CellStatus.TIMEOUT
    verdicts = [r["verdict"] for r in rows(tmp_path, out.cell_id).values()]
    assert "not-run" in verdicts and "success" in verdicts


def test_decide():
    splat = console.Finding(console.Splat.WARNING, "[ 1.0] WARNING: x", 3)
    panic = console.Finding(console.Splat.PANIC, "[ 2.0] Kernel panic - not syncing: Oops", 9)
    assert cell.decide(True, True, None, [])[0] is CellStatus.COMPLETE
    assert cell.decide(True, True, None, [splat]) == (CellStatus.COMPLETE, "1 kernel splat(s) on the console")
    assert cell.decide(True, False, None, [splat, panic]) == (CellStatus.PANIC, panic.line)
    assert cell.decide(False, False, None, [])[0] is CellStatus.BOOT_FAILED
    assert cell.decide(True, False, None, [])[0] is CellStatus.GUEST_DIED
    assert cell.decide(False, False, "boot", [])[0] is CellStatus.BOOT_TIMEOUT
    assert cell.decide(True, False, "cell", [])[0] is CellStatus.TIMEOUT
    crash = ["Traceback (most recent call last):", "OSError: [Errno 30] Read-only file system: '/x/rw/tmp'"]
    assert cell.decide(False, False, None, [], crash) == (
        CellStatus.RUNNER_CRASHED, "the harness's guest runner crashed before it started: " + " | ".join(crash))
    assert cell.decide(True, False, "hung", [], None, "no result for 99 s") == (
        CellStatus.HUNG, "guest hung (no result for 99 s): killed, results so far kept")


def test_row_of_timeout_and_crash():
    t = cell.row_of({"status": "timeout", "object": "o", "program": "p", "detail": "timeout", "wall_s": 60.0})
    assert t.verdict is Verdict.TIMEOUT and t.wall_s == 60.0
    c = cell.row_of({"status": "crash", "object": "o", "program": "p", "detail": "crash:-11"})
    assert c.verdict is Verdict.CRASH and c.error == "veristat died (crash:-11)"


def test_tail_reader_waits_for_complete_lines(tmp_path):
    f = tmp_path / "r.jsonl"
    t = cell._Tail(f)
    assert t.records() == []
    f.write_text('{"a": 1}\n{"b"')
    assert t.records() == [{"a": 1}]
    with open(f, "a") as fh:
        fh.write(': 2}\n')
    assert t.records() == [{"b": 2}]
    # the console reader: a UTF-8 character split across two reads is decoded whole
    c = tmp_path / "console.log"
    lines = cell._Lines(c)
    c.write_bytes("[ 1.0] rcu: INFO: stall \u00b5".encode()[:-1])
    assert lines.read() == []
    with open(c, "ab") as fh:
        fh.write("\u00b5\n".encode()[-2:])
    assert [ln.decode() for ln in lines.read()] == ["[ 1.0] rcu: INFO: stall \u00b5"]


def test_a_guest_that_dies_at_boot_is_booted_again(fake_vng, tmp_path):
    fake_vng("bootpanic-once", "console-6.12.117-ok.txt")
    out = cell.run_cell(job(tmp_path))
    assert out.status is CellStatus.COMPLETE and out.detail == "ok (boot attempt 2)"
    cell_dir = tmp_path / "out" / "6.12.117_x86_64"
    assert "Kernel panic - not syncing" in (cell_dir / "console-attempt1.log").read_text()
    assert "Kernel panic" not in (cell_dir / "console.log").read_text()
    store = Store(tmp_path / "r.db")
    assert [f["kind"] for f in store.findings(out.cell_id)] == ["panic"]  # the failed boot stays on record
    assert len(rows(tmp_path, out.cell_id)) == 96


def test_boot_retries_zero_reports_the_boot_panic(fake_vng, tmp_path):
    fake_vng("bootpanic-once", "console-6.12.117-ok.txt")
    out = cell.run_cell(job(tmp_path, boot_retries=0))
    assert out.status is CellStatus.PANIC
    assert out.detail == "[    6.746946] Kernel panic - not syncing: sysrq triggered crash"


def test_auto_kvm_that_does_not_boot_falls_back_to_tcg(fake_vng, tmp_path, monkeypatch):
    """Like the PVM /dev/kvm here: every static check passes, the guest never starts."""
    import dataclasses
    from harness import vm
    monkeypatch.setattr(vm, "KVM_PROBE_S", 3)
    fake_vng("hang-under-kvm", "console-6.12.117-ok.txt")
    j = dataclasses.replace(job(tmp_path), accel=AccelChoice(Accel.KVM, "/dev/kvm usable, cpu has vmx", auto=True))
    out = cell.run_cell(j)
    assert out.status is CellStatus.COMPLETE
    store = Store(tmp_path / "r.db")
    row = store.db.execute("SELECT accel, accel_reason FROM cells WHERE id=?", (out.cell_id,)).fetchone()
    assert tuple(row) == ("tcg", "KVM looked usable but the guest did not start (boot-timeout); using TCG")
    cell_dir = tmp_path / "out" / "6.12.117_x86_64"
    assert "--disable-kvm" not in (cell_dir / "console-attempt1.log").read_text().splitlines()[0]
    assert "--disable-kvm" in (cell_dir / "console.log").read_text().splitlines()[0]


def test_explicit_kvm_does_not_fall_back(fake_vng, tmp_path):
    import dataclasses
    fake_vng("hang-under-kvm", "console-6.12.117-ok.txt")
    j = dataclasses.replace(job(tmp_path, boot_timeout=5, boot_retries=0),
                            accel=AccelChoice(Accel.KVM, "kvm requested"))
    assert cell.run_cell(j).status is CellStatus.BOOT_TIMEOUT


def _wedge(fake_vng, monkeypatch, mode: str) -> tuple[str, str]:
    """The fake guest wedges at the 41st program of the recording, printing the real soft-lockup console."""
    from conftest import data
    order = [(o.name, p) for o in corpus_from_recording().objects for p in o.programs]
    fake_vng(mode, "console-6.12.117-ok.txt")
    monkeypatch.setenv("FAKE_VNG_WEDGE_CONSOLE", str(data("console-6.1.190-tcg-soft-lockup.log")))
    monkeypatch.setenv("FAKE_VNG_WEDGE_AT", "/".join(order[40]))
    return order[40]


def test_a_wedged_guest_is_killed_and_the_cell_resumed(fake_vng, tmp_path, monkeypatch):
    """The recorded 6.1.190 TCG console: an RCU stall, then soft lockups, and no result after it."""
    at = _wedge(fake_vng, monkeypatch, "wedge-once")
    import time
    t0 = time.monotonic()
    out = cell.run_cell(job(tmp_path, hang_timeout=4))
    assert time.monotonic() - t0 < 30  # the hang costs seconds here (hang_timeout), not the cell timeout
    assert out.status is CellStatus.COMPLETE, out.detail
    assert out.detail.startswith("ok; guest hung after 40 programs (rcu-stall, then no result for ")
    assert out.detail.endswith(f"; in flight: {at[0]}/{at[1]}), resumed in boot 2"), out.detail
    got = rows(tmp_path, out.cell_id)
    assert len(got) == 96 and not [k for k, r in got.items() if r["verdict"] == "not-run"]
    recorded = {(r["object"], r["program"]): r for r in recorded_results() if r["kind"] == "result"}
    assert all(got[k]["verdict"] == (recorded[k]["verdict"] or recorded[k]["status"]) for k in recorded)  # in flight too
    assert sum(1 for r in got.values() if r["tail"]) == 69  # log tails of both boots
    cell_dir = tmp_path / "out" / "6.12.117_x86_64"
    assert "watchdog: BUG: soft lockup - CPU#1 stuck" in (cell_dir / "console-attempt1.log").read_text()
    kinds = [f["kind"] for f in Store(tmp_path / "r.db").findings(out.cell_id)]
    assert kinds[:2] == ["rcu-stall", "soft-lockup"]


def test_a_program_in_flight_at_two_hangs_is_recorded_and_the_rest_still_runs(fake_vng, tmp_path, monkeypatch):
    at = _wedge(fake_vng, monkeypatch, "wedge-always")
    out = cell.run_cell(job(tmp_path, hang_timeout=3))
    assert out.status is CellStatus.COMPLETE, out.detail
    assert "resumed in boot 2" in out.detail and "resumed in boot 3" in out.detail
    got = rows(tmp_path, out.cell_id)
    assert got[at]["verdict"] == "timeout"
    assert got[at]["error"].startswith("the guest hung twice while verifying this program (guest hung (rcu-stall")
    assert {k for k, r in got.items() if r["verdict"] in ("timeout", "not-run")} == {
        ("verifier_loops1", "loop_after_a_conditional_jump"), at}  # the first timed out in the recording itself


def test_a_guest_that_keeps_hanging_is_reported_hung_never_complete(fake_vng, tmp_path, monkeypatch):
    _wedge(fake_vng, monkeypatch, "wedge-always")
    out = cell.run_cell(job(tmp_path, hang_timeout=3, hang_retries=0))
    assert out.status is CellStatus.HUNG
    assert out.detail.startswith("guest hung (rcu-stall, then no result for ")
    verdicts = [r["verdict"] for r in rows(tmp_path, out.cell_id).values()]
    assert verdicts.count("not-run") == 96 - 40


def test_a_resumed_plan_skips_what_has_a_result_and_keeps_second_pass_work(tmp_path):
    j = job(tmp_path)
    seen = cell.Seen()
    seen.results[("verifier_and", "invalid_range_check")] = ("failure", True)  # no tail yet
    seen.results[("verifier_and", "invalid_and_of_negative_number")] = ("failure", True)
    seen.tails.add(("verifier_and", "invalid_and_of_negative_number"))
    plan = cell.plan_for(j, tmp_path, seen)
    first = plan["objects"][0]
    assert first["name"] == "verifier_and"
    assert set(first["skip"]) == {"invalid_range_check", "invalid_and_of_negative_number"}
    assert first["done"] == {"invalid_range_check": ["failure", True]}
    assert len(plan["objects"]) == len(cell.selected(j))


def test_a_crashed_guest_runner_is_reported_as_such_never_as_a_boot_failure(fake_vng, tmp_path):
    fake_vng("runner-crash", "console-6.12.115-arm64-runner-crash.txt")
    out = cell.run_cell(job(tmp_path))
    assert out.status is CellStatus.RUNNER_CRASHED
    assert out.detail.startswith("the harness's guest runner crashed before it started: ")
    assert "OSError: [Errno 30] Read-only file system" in out.detail
    assert "(boot attempt" not in out.detail  # our bug: booting again would not help


def test_a_confirmation_cell_verifies_only_its_programs_and_never_becomes_the_latest_cell(fake_vng, tmp_path):
    fake_vng("complete", "console-6.12.117-ok.txt")
    first = cell.run_cell(job(tmp_path))
    want = frozenset({("verifier_and", "invalid_range_check"), ("verifier_and", "known_subreg_with_unknown_reg")})
    import dataclasses
    again = cell.run_cell(dataclasses.replace(job(tmp_path), programs=want, confirms=first.cell_id))
    assert again.status is CellStatus.COMPLETE and again.programs == 2
    assert set(rows(tmp_path, again.cell_id)) == want
    plan = (tmp_path / "out" / f"6.12.117_x86_64_confirm-{first.cell_id}" / "rw" / "plan.json").read_text()
    assert '"failure_log_level": 0' in plan and "verifier_loops1" not in plan
    s = Store(tmp_path / "r.db")
    assert s.latest_cell("6.12.117", "x86_64").id == first.cell_id
    key = job(tmp_path).kernel.key
    assert key == "6.12.117@6.12.117-1~deb12u1"
    assert s.complete_cell(key, "x86_64", "c0ffee", "vm") == first.cell_id  # never the confirmation cell
    assert set(s.confirmations(first.cell_id)) == want
    assert s.confirmations(again.cell_id) == {}


def test_a_foreign_root_guest_gets_the_runner_in_its_rwdir_not_the_checkout(tmp_path):
    """Issue 12: with the output inside the checkout, a read-only checkout mount hid the rwdir of every arm64 cell."""
    import dataclasses
    import shlex
    from harness import vm
    j = job(tmp_path)
    k = dataclasses.replace(j.kernel, arch="arm64")
    j = dataclasses.replace(j, kernel=k, root=tmp_path / "root", out_dir=tmp_path / "out")
    rwdir = tmp_path / "out" / "rw"
    rwdir.mkdir(parents=True)
    argv = backends.VM.command(j, j.accel, rwdir, rwdir / "plan.json")
    rodirs = [a.split("=", 2)[2] for a in argv if a.startswith("--rodir=")]
    assert str(vm.package_root()) not in rodirs and rodirs == ["/nonexistent"]  # the corpus's build dir only
    guest = shlex.split(argv[argv.index("--exec") + 1])
    assert guest[:3] == ["env", f"PYTHONPATH={rwdir / 'runner'}", "/usr/bin/python3.11"]
    assert (rwdir / "runner" / "harness" / "guest" / "runner.py").read_text() == \
        (vm.package_root() / "harness" / "guest" / "runner.py").read_text()
    with pytest.raises(InfraError, match="read-only"):  # and a rodir that would hide the rwdir is refused
        backends.VM.command(dataclasses.replace(j, corpus=dataclasses.replace(j.corpus, build_dir=tmp_path)), j.accel,
                               rwdir, rwdir / "plan.json")


def test_message_checks_from_a_real_guest_are_stored_and_read_through_the_expectation(fake_vng, tmp_path):
    """Issue 18: the host side of __msg checks had no unit test.  Recorded in a 6.12.117 guest verifying 7.3.4's
    selftests (verifier_and, verifier_set_retval, verifier_precision): matches from the main pass's own log,
    __not_msg checks, level-0 checks of programs that verified, and the batch records of the watchdog."""
    import dataclasses
    import json
    from conftest import data
    from harness.expect import parse_tags
    rec_name = "results-7.3.4-tests-on-6.12.117.jsonl"
    tags = json.loads(data("decl-tags-6.1-6.12-7.3.json").read_text())["tags"]["7.3"]
    progs: "OrderedDict[str, list[str]]" = OrderedDict()
    for r in recorded_results(rec_name):
        if r["kind"] == "result":
            progs.setdefault(r["object"], []).append(r["program"])
    objs = tuple(CorpusObject(o, Path(f"/nonexistent/{o}.bpf.o"), "0" * 64, tuple(p),
                              tuple((q, parse_tags(tags[o][q])) for q in p if q in tags.get(o, {})))
                 for o, p in progs.items())
    j = job(tmp_path)
    corpus = dataclasses.replace(j.corpus, objects=objs, id="c7", veristat_opts=frozenset({"-r", "-t"}))
    Store(tmp_path / "r.db").add_corpus(corpus)
    fake_vng("complete", "console-6.12.117-ok.txt", results=rec_name)
    out = cell.run_cell(dataclasses.replace(j, corpus=corpus))
    assert out.status is CellStatus.COMPLETE and out.programs == 40
    got = Store(tmp_path / "r.db").result_map(out.cell_id)
    bypass = got[("verifier_set_retval", "cgroup_dev_set_retval_pruning_bypass")]
    # 6.12.117 verifies what 7.3.4's test expects rejected: unexpected, and the message is missing too
    assert (bypass["verdict"], bypass["expect"], bypass["msg_check"], bypass["outcome"]) == (
        "success", "failure", "missing", "unexpected")
    prec = got[("verifier_precision", "bpf_atomic_fetch_add_map_precision")]
    assert (prec["msg_check"], prec["msg_detail"], prec["outcome"]) == (
        "matched", "2 message(s) in order, 1 absent as expected", "as-expected")
    assert got[("verifier_and", "invalid_range_check")]["msg_detail"] == "1 message(s) in order (in the main pass's log)"
    assert got[("verifier_and", "invalid_range_check")]["outcome"] == "as-expected"
    assert sum(1 for r in got.values() if r["msg_check"]) == 35


def test_two_cells_at_once_each_in_its_own_guest(fake_vng, tmp_path, monkeypatch):
    """Issue 18: --jobs > 1 had no test.  Two cells through the run's own pool: two guests, two consoles, one store;
    each fake guest waits at a barrier for the other, so the cells must overlap in time."""
    import dataclasses
    import json
    from harness.progress import Progress
    from harness.engine.schedule import run_jobs
    fake_vng("complete", "console-6.12.117-ok.txt")
    monkeypatch.setenv("FAKE_VNG_BARRIER", str(tmp_path / "barrier"))
    a = job(tmp_path)
    b = dataclasses.replace(a, kernel=dataclasses.replace(a.kernel, id="6.12.115", package_version="6.12.115-2~deb12u1"))
    import io
    outs = run_jobs([a, b], 2, Progress(io.StringIO(), live=False), a.out_dir)
    assert [o.status for o in outs] == [CellStatus.COMPLETE] * 2 and {o.key for o in outs} == {
        "6.12.117/x86_64", "6.12.115/x86_64"}
    for o in outs:
        assert len(rows(tmp_path, o.cell_id)) == 96
    consoles = sorted(p.parent.name for p in (tmp_path / "out").glob("*/console.log"))
    assert consoles == ["6.12.115_x86_64", "6.12.117_x86_64"]
    met = [json.loads(p.read_text())["others"] for p in sorted((tmp_path / "out").glob("*/rw/overlap.json"))]
    assert met == [1, 1], met  # each guest saw the other one running


def _wait_for(path: Path, seconds: float = 30) -> bool:
    import time
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if path.exists():
            return True
        time.sleep(0.05)
    return False


def test_next_cell_is_prepared_while_the_first_runs(fake_vng, tmp_path):
    """Issue 12 (cold-run budget): downloads and builds for later cells overlap the cells already running.
    The generator stands for the preparer: it may only yield the second job once the first guest runs."""
    import dataclasses
    import io
    from harness.progress import Progress
    from harness.engine.schedule import run_jobs
    fake_vng("complete", "console-6.12.117-ok.txt")
    a = job(tmp_path)
    b = dataclasses.replace(a, kernel=dataclasses.replace(a.kernel, id="6.12.115", package_version="6.12.115-2~deb12u1"))
    overlapped = []

    def ready():
        yield a
        overlapped.append(_wait_for(tmp_path / "out" / "6.12.117_x86_64" / "console.log"))
        yield b

    outs = run_jobs(ready(), 1, Progress(io.StringIO(), live=False), a.out_dir)
    assert overlapped == [True]
    assert [o.status for o in outs] == [CellStatus.COMPLETE] * 2


def test_a_failed_preparation_lets_started_cells_finish(fake_vng, tmp_path):
    import io
    from harness.progress import Progress
    from harness.engine.schedule import run_jobs
    fake_vng("complete", "console-6.12.117-ok.txt")
    a = job(tmp_path)

    def ready():
        yield a
        raise InfraError("apt-get download linux-image-6.1.0-57-arm64-unsigned failed")

    with pytest.raises(InfraError, match="arm64-unsigned"):
        run_jobs(ready(), 1, Progress(io.StringIO(), live=False), a.out_dir)
    got = sqlite3.connect(tmp_path / "r.db").execute("SELECT status FROM cells").fetchall()
    assert got == [("complete",)]
    assert len(rows(tmp_path, 1)) == 96


def test_interrupt_kills_running_guests_and_keeps_their_results(fake_vng, tmp_path):
    """Ctrl-C (and SIGTERM, which the CLI turns into it) must not wait for a running cell to end.  The fake guest
    streams half its recorded results, then hangs for an hour: the interrupt comes once results are stored."""
    import io
    import time
    from harness.progress import Progress
    from harness.engine.schedule import run_jobs
    fake_vng("slow", "console-6.12.117-ok.txt")
    a = job(tmp_path)
    recorded = recorded_results()
    half = sum(r["kind"] == "result" for r in recorded[:len(recorded) // 2])

    def stored() -> int:
        try:
            with sqlite3.connect(tmp_path / "r.db") as c:
                return c.execute("SELECT COUNT(*) FROM results WHERE verdict != 'not-run'").fetchone()[0]
        except sqlite3.OperationalError:
            return 0

    def ready():
        yield a
        end = time.monotonic() + 30
        while time.monotonic() < end and stored() < half:
            time.sleep(0.05)
        raise KeyboardInterrupt

    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_jobs(ready(), 1, Progress(io.StringIO(), live=False), a.out_dir)
    assert time.monotonic() - t0 < 40  # the fake guest would hang for an hour
    status, detail, pgid = sqlite3.connect(tmp_path / "r.db").execute(
        "SELECT status, detail, pgid FROM cells").fetchone()
    assert status == "interrupted" and "Ctrl-C" in detail
    assert half > 10 and stored() == half  # what the guest had written before the interrupt: kept
    assert pgid is not None
    cmdline = Path(f"/proc/{pgid}/cmdline")  # the fake vng, unless its pid was reused since
    assert not (cmdline.exists() and b"vng" in cmdline.read_bytes()), "the guest survived the interrupt"


def test_the_plan_names_the_rejections_the_tests_expect(tmp_path):
    """failure_tails: unexpected (the default) -- real 7.3 tags: every __failure program of verifier_and is listed
    under no_tail, no __success one is; a resumed boot does not wait for their tails either."""
    import dataclasses
    import json
    from conftest import data
    from harness.expect import parse_tags
    tags = json.loads(data("decl-tags-6.1-6.12-7.3.json").read_text())["tags"]["7.3"]["verifier_and"]
    exps = tuple((p, parse_tags(t)) for p, t in sorted(tags.items()))
    j = job(tmp_path)
    obj = CorpusObject("verifier_and", Path("/nonexistent/verifier_and.bpf.o"), "0" * 64, tuple(p for p, _ in exps), exps)
    j = dataclasses.replace(j, corpus=dataclasses.replace(j.corpus, objects=(obj,)))
    failing = sorted(p for p, e in exps if e.expect == "failure")
    assert failing and len(failing) < len(exps)
    plan = cell.plan_for(j, tmp_path)
    assert sorted(plan["objects"][0]["no_tail"]) == failing
    j = dataclasses.replace(j, vm=dataclasses.replace(j.vm, check_messages=False))  # tails only
    seen = cell.Seen()
    seen.results[("verifier_and", failing[0])] = ("failure", True)
    resumed = cell.plan_for(j, tmp_path, seen)["objects"][0]
    assert failing[0] in resumed["skip"] and failing[0] not in resumed.get("done", {})
    every = dataclasses.replace(j, vm=dataclasses.replace(j.vm, failure_tails="all"))
    assert "no_tail" not in cell.plan_for(every, tmp_path)["objects"][0]
    assert failing[0] in cell.plan_for(every, tmp_path, seen)["objects"][0]["done"]


def test_a_logs_job_plans_its_level_and_nothing_else(tmp_path):
    """bpf-harness logdiff: a logs re-run verifies its programs at its level with whole logs; no tails, no
    message checks (its logs are the point)."""
    import dataclasses
    j = dataclasses.replace(job(tmp_path), confirms=7, log_level=2,
                            programs=frozenset({("verifier_and", "p")}))
    plan = cell.plan_for(j, tmp_path)
    assert plan["main_log_level"] == 2 and plan["failure_log_level"] == 0
    assert [o.get("checks") for o in plan["objects"]] == [None] * len(plan["objects"])
    assert "main_log_level" not in cell.plan_for(job(tmp_path), tmp_path)
