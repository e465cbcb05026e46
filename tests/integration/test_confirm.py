"""A real regression, confirmed by re-running it on both real kernels.

6.1.192 carries a backported verifier fix that makes 6.1.192's own ``test_global_func16``
(``__success``) verify; 6.1.190 rejects it.  With 6.1.190 as the reference branch, the head
6.1.192 -> reference 6.1.190 pair is a real regression (the matrix refuses a branch listed newest
first): the run re-verifies that one program on both kernels in fresh guests, marks it confirmed,
and exits 1.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from integration.conftest import ROOT

pytestmark = [pytest.mark.integration]

MATRIX = """\
debian:
  suites: [bookworm-security]
corpora:
  gf16:
    source: 6.1.192
    include: [test_global_func16, test_global_func1]
branches:
  head:
    corpus: gf16
    kernels: [6.1.192]
  older:
    corpus: gf16
    kernels: [6.1.190]
reference: older
vm:
  cpus: 2
  program_timeout: 30
"""


def test_real_regression_is_confirmed_on_both_kernels(tools, tmp_path):
    (tmp_path / "m.yaml").write_text(MATRIX)
    db = tmp_path / "r.db"
    cli = Path(sys.executable).parent / "bpf-harness"
    p = subprocess.run([str(cli), "run", "-m", str(tmp_path / "m.yaml"), "--db", str(db), "--report",
                        str(tmp_path / "rep")], capture_output=True, text=True, cwd=ROOT, timeout=1500)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "1 verifier regression(s): test_global_func16/global_func16" in p.stdout
    assert p.stdout.count("confirmation re-run complete (1 programs") == 2, p.stdout
    # vm: log_diffs: then its level-2 logs, from one more fresh guest of each kernel, for the report's log diff
    assert p.stdout.count("logs re-run for the report's log diffs complete (1 programs") == 2, p.stdout
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "verifier log diff: first divergence at insn 3 (end)" in page
    c = sqlite3.connect(db)
    c.row_factory = sqlite3.Row
    confirms = c.execute("SELECT * FROM cells WHERE purpose='confirm' ORDER BY id").fetchall()
    assert [r["status"] for r in confirms] == ["complete", "complete"]
    runs = {r["id"]: r["kernel_id"] for r in c.execute("SELECT * FROM cells WHERE purpose='run'")}
    assert sorted(runs[r["confirms"]] for r in confirms) == ["6.1.190", "6.1.192"]
    again = {runs[r["confirms"]]: r for r in c.execute(
        "SELECT r.*, c.confirms FROM results r JOIN cells c ON c.id = r.cell_id WHERE c.purpose='confirm'")}
    assert again["6.1.192"]["verdict"] == "success"
    assert (again["6.1.190"]["verdict"], again["6.1.190"]["error"]) == ("failure", "Caller passes invalid args into func#1")
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    (pair,) = report["pairs"]
    (f,) = [f for f in pair["findings"] if f["change"] == "regression"]
    assert (f["program"], f["confirmed"]) == ("global_func16", True)
    assert "confirmed by a re-run on both kernels" in (tmp_path / "rep" / "report.md").read_text()
    # a second run finds everything complete and confirmed: no VM boots, same verdict
    p = subprocess.run([str(cli), "run", "-m", str(tmp_path / "m.yaml"), "--db", str(db)],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert p.returncode == 1 and "0 cell(s) run, 2 already complete" in p.stdout and "re-run" not in p.stdout
    # where the two kernels part: logdiff reads the level-2 logs the run stored as logs cells (boots nothing)
    cmd = [str(cli), "logdiff", "6.1.190", "6.1.192", "test_global_func16/global_func16", "-m",
           str(tmp_path / "m.yaml"), "--db", str(db), "--html", str(tmp_path / "ld.html")]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert p.returncode == 0, p.stdout + p.stderr
    assert ("first divergence (end): 6.1.190/x86_64 stops after 2: (85) call pc+5: Caller passes invalid args into "
            "func#1; 6.1.192/x86_64 goes on at 3: (bc) w1 = w0") in p.stdout
    logs = {r["kernel_id"]: r for r in c.execute(
        "SELECT c.kernel_id, c.log_level, c.status, r.log FROM results r JOIN cells c ON c.id = r.cell_id "
        "WHERE c.purpose='logs'")}
    assert {k: (r["log_level"], r["status"]) for k, r in logs.items()} == {"6.1.190": (2, "complete"),
                                                                          "6.1.192": (2, "complete")}
    # checked against the logs themselves: 6.1.190's walk ends at the call, 6.1.192's goes on at insn 3
    assert "2: (85) call pc+5\ninvalid indirect read from stack R1 off -40+0 size 40" in logs["6.1.190"]["log"]
    assert "\n3: (bc) w1 = w0" in logs["6.1.192"]["log"] and "\n3: (bc)" not in logs["6.1.190"]["log"]
    assert 'class="diverge" id="test_global_func16/global_func16/diverge" data-idx="3"' in (tmp_path / "ld.html").read_text()
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 0 and "booting" not in p.stderr + p.stdout
