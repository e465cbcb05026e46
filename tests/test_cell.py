"""The host side of a cell against a fake vng replaying a recorded real guest."""

import sqlite3
from collections import OrderedDict
from pathlib import Path

from harness import cell
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


def test_row_of_timeout_and_crash():
    t = cell.row_of({"status": "timeout", "object": "o", "program": "p", "detail": "timeout", "wall_s": 60.0})
    assert t.verdict is Verdict.TIMEOUT and t.wall_s == 60.0
    c = cell.row_of({"status": "crash", "object": "o", "program": "p", "detail": "crash:-11"})
    assert c.verdict is Verdict.CRASH and c.error == "veristat died (crash:-11)"


def test_tail_reader_waits_for_complete_lines(tmp_path):
    f = tmp_path / "r.jsonl"
    t = cell._Tail(f)
    assert t.read() == []
    f.write_text('{"a": 1}\n{"b"')
    assert t.read() == [{"a": 1}]
    with open(f, "a") as fh:
        fh.write(': 2}\n')
    assert t.read() == [{"b": 2}]


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
    assert s.latest_cell("6.12.117", "x86_64")["id"] == first.cell_id
    assert s.complete_cell("6.12.117", "x86_64", "c0ffee", "vm") in (first.cell_id, None)
    assert set(s.confirmations(first.cell_id)) == want
    assert s.confirmations(again.cell_id) == {}
