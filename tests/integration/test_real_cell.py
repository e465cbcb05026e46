"""A real Debian kernel under qemu (TCG here) verifying real selftest objects.

The harness's verdicts and insns must equal a plain ``veristat`` run by hand
(``vng --exec 'veristat ...'``) on the same kernel and objects.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import matrix, vm
from harness.arch import X86_64
from harness.matrix import Accel
from harness.report import writers
from harness.engine import Context, Engine, Preparer
from harness.store import CellStatus
from integration.conftest import KERNEL, MATRIX, ROOT

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def real_run(tmp_path_factory, tools):
    d = tmp_path_factory.mktemp("real")
    (d / "m.yaml").write_text(MATRIX)
    m = matrix.load(d / "m.yaml")
    summary = Engine(m, d / "results.db", Context.make()).run()
    return m, d, summary


def results(db: Path) -> dict[tuple[str, str], sqlite3.Row]:
    c = sqlite3.connect(db)
    c.row_factory = sqlite3.Row
    return {(r["object"], r["program"]): r for r in c.execute("SELECT * FROM results")}


def test_cell_completes_with_real_verdicts(real_run):
    m, d, summary = real_run
    (o,) = summary.outcomes
    assert o.status is CellStatus.COMPLETE, o.detail
    db = sqlite3.connect(d / "results.db")
    db.row_factory = sqlite3.Row
    cell = db.execute("SELECT * FROM cells").fetchone()
    assert cell["arch"] == "x86_64" and cell["release"] == "6.12.117+deb12-amd64"
    assert cell["accel"] == vm.choose_accel(Accel.AUTO, X86_64).accel.value
    assert cell["qemu"].startswith("QEMU emulator version") and cell["vng"].startswith("virtme-ng")
    assert cell["clang"].startswith("Debian clang version 19")
    assert cell["boot_s"] > 0 and cell["package_version"] == "6.12.117-1~deb12u1"
    r = results(d / "results.db")
    ok = r[("verifier_and", "known_subreg_with_unknown_reg")]
    assert ok["verdict"] == "success" and ok["insns"] > 0
    bad = r[("verifier_and", "invalid_range_check")]
    assert (bad["verdict"], bad["failure_class"], bad["error"]) == (
        "failure", "verifier", "R0 max value is outside of the allowed memory range")
    assert bad["tail"] and "R0 max value is outside of the allowed memory range" in bad["tail"]
    kf = r[("verifier_kfunc_prog_types", "task_kfunc_raw_tp")]
    assert kf["error"] == "calling kernel function bpf_task_from_pid is not allowed"
    assert r[("verifier_ref_tracking", "dummy_prog_42_tc")]["load_reason"] == "post-verification"
    timeouts = [k for k, v in r.items() if v["verdict"] == "timeout"]
    assert timeouts and all(obj == "verifier_loops1" for obj, _ in timeouts)
    assert len(timeouts) <= 2
    others = [v for k, v in r.items() if k[0] == "verifier_loops1" and v["verdict"] != "timeout"]
    assert len(others) >= 10  # the cell went on after the timeout
    # __msg checks, at each test's own log level and flags
    assert bad["msg_check"] == "matched" and bad["msg_log_level"] == 1
    lvl2 = r[("verifier_spill_fill", "partial_stack_load_preserves_zeros")]
    assert (lvl2["verdict"], lvl2["msg_check"], lvl2["msg_log_level"]) == ("success", "matched", 2)
    assert lvl2["msg_detail"] == "14 message(s) in order"
    strict = r[("verifier_map_ret_val", "access_memory_with_incorrect_alignment_1")]
    assert strict["msg_check"] == "n/a" and "BPF_F_STRICT_ALIGNMENT" in strict["msg_detail"]
    checks = [v["msg_check"] for k, v in r.items() if k[0] != "verifier_loops1"]
    assert checks.count("matched") >= 40 and "missing" not in checks  # these are 6.12.117's own selftests
    console = Path(cell["console_log"]).read_text(errors="replace").splitlines()
    assert console[0].startswith("# reproduce: ") and "vng" in console[0]
    assert any("Linux version 6.12.117" in ln for ln in console)


def test_same_verdicts_and_insns_as_veristat_by_hand(real_run, tools, tmp_path):
    """Run veristat directly in a guest of the same kernel; every program must agree."""
    m, d, _ = real_run
    prep = Preparer(m, __import__("harness.cache", fromlist=["root"]).root())
    cell = m.cells()[0]
    kernel = prep.kernel(cell.kernel, "x86_64")
    corpus = prep.corpus(cell)
    light = [o for o in corpus.objects if o.name != "verifier_loops1"]
    rw = tmp_path / "rw"
    rw.mkdir()
    out = rw / "by-hand.csv"
    # the command goes in a script: vng passes --exec on the kernel command line (2 KiB on x86)
    script = rw / "by-hand.sh"
    script.write_text(" ".join([str(corpus.veristat), "-o", "csv", *[str(o.path) for o in light], ">", str(out)]) + "\n")
    accel = vm.choose_accel(Accel.AUTO, X86_64).accel
    argv = [str(tools), "--force-9p", "--run", str(kernel.image), "--cpus", "1", "--memory", "2G",
            "--rwdir", str(rw)] + (["--disable-kvm"] if accel is Accel.TCG else []) + ["--exec", f"sh {script}"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}:/usr/sbin"}
    subprocess.run(argv, env=env, timeout=900, stdin=subprocess.DEVNULL, capture_output=True)
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == sum(len(o.programs) for o in light)
    ours = results(d / "results.db")
    for row in rows:
        mine = ours[(row["file_name"].removesuffix(".bpf.o"), row["prog_name"])]
        assert mine["verdict"] == row["verdict"], row
        assert mine["insns"] == int(row["total_insns"]), row
    # our CSV export is read by the real veristat -C against veristat's own output, unchanged
    names = {o.name for o in light}
    ours_csv = tmp_path / "ours.csv"
    ours_csv.write_text(writers.veristat_csv(r for r in ours.values() if r["object"] in names))
    cmp = subprocess.run([str(corpus.veristat), "-C", str(ours_csv), str(out)], capture_output=True, text=True)
    assert cmp.returncode == 0, cmp.stderr
    body = cmp.stdout.splitlines()[2:]
    assert len(body) == len(rows) and not any("MISMATCH" in ln for ln in body)


def test_kill_9_mid_run_then_rerun_skips_finished_cells(tools, tmp_path):
    """Two cells; kill -9 the harness once the first is stored; a re-run reaps and finishes only the rest."""
    (tmp_path / "m.yaml").write_text(MATRIX.replace(f"kernels: [{KERNEL}]", f"kernels: [6.12.115, {KERNEL}]")
                                     .replace(", verifier_loops1]", "]"))
    db = tmp_path / "r.db"
    cli = [str(Path(sys.executable).parent / "bpf-harness"), "run", "-m", str(tmp_path / "m.yaml"), "--db", str(db)]
    p = subprocess.Popen(cli, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    deadline = time.monotonic() + 900
    first = None
    while time.monotonic() < deadline and p.poll() is None:
        if db.exists():
            c = sqlite3.connect(db)
            try:
                rows = c.execute("SELECT kernel_id, status FROM cells ORDER BY id").fetchall()
            except sqlite3.OperationalError:
                rows = []
            c.close()
            if len(rows) == 2 and rows[0][1] == "complete":
                first = rows[0][0]
                break
        time.sleep(0.5)
    assert first == "6.12.115", p.stdout.read() if p.poll() is not None else "first cell never completed"
    time.sleep(3)  # the second cell's VM is booting or verifying
    p.send_signal(signal.SIGKILL)
    p.wait()
    res = subprocess.run(cli, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "[6.12.117/x86_64] was interrupted by a harness that died" in res.stderr
    assert "[6.12.115/x86_64] already complete" in res.stderr
    assert "run 2: 1 cell(s) run, 1 already complete, 0 infrastructure failure(s)" in res.stdout
    c = sqlite3.connect(db)
    statuses = c.execute("SELECT kernel_id, status FROM cells ORDER BY id").fetchall()
    assert statuses == [("6.12.115", "complete"), ("6.12.117", "interrupted"), ("6.12.117", "complete")]
    n115 = c.execute("SELECT COUNT(*) FROM results WHERE cell_id=1 AND verdict != 'not-run'").fetchone()[0]
    assert n115 > 0


def test_a_cell_that_does_not_complete_makes_run_and_the_gate_exit_3(real_run, tmp_path):
    """A guest that cannot boot in time (a 5 s boot deadline under TCG, no retry): ``run`` exits 3, not 0, and the
    nightly's gate (``report --fail-on regression``) on that store exits 3 too."""
    (tmp_path / "m.yaml").write_text(MATRIX.replace("  boot_timeout: 180\n", "  boot_timeout: 5\n  boot_retries: 0\n"))
    cli = str(Path(sys.executable).parent / "bpf-harness")
    db = tmp_path / "r.db"
    p = subprocess.run([cli, "run", "-m", str(tmp_path / "m.yaml"), "--db", str(db), "--report", str(tmp_path / "rep")],
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert p.returncode == 3, p.stdout + p.stderr
    (status,) = sqlite3.connect(db).execute("SELECT status FROM cells").fetchone()
    assert status == CellStatus.BOOT_TIMEOUT.value
    g = subprocess.run([cli, "report", "-m", str(tmp_path / "m.yaml"), "--db", str(db), "--format", "md", "-o",
                        str(tmp_path / "r.md"), "--fail-on", "regression"], capture_output=True, text=True, cwd=ROOT)
    assert g.returncode == 3 and g.stderr.strip() == f"not complete: {KERNEL}/x86_64: boot-timeout", g.stderr
