"""A stable queue before its release, end to end on real data: the stable-queue directory
tests/data/queue-6.12.114-planted (four real BPF backports of 6.12.114/115 and one planted verifier change) applied
on Debian's 6.12.113 source, UML builds (the fixture's commits are the ones tests/integration/test_build.py builds:
the same commits, the same incremental build directory), the 6.12.117 selftests.

The queue runs as its release, one cell per commit touching the BPF paths, and the whole queue; the planted
change's regression is reported on its commit and on the whole queue, and on no other commit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from integration.conftest import ROOT

pytestmark = [pytest.mark.integration]

CLI = str(Path(sys.executable).parent / "bpf-harness")
PLANTED = "bpf: Refuse bpf_get_prandom_u32 (a planted verifier change)"
PROGRAM = "verifier_and/known_subreg_with_unknown_reg"


def test_a_queue_runs_as_one_cell_plus_per_commit_cells_and_names_the_planted_commit(tree, tmp_path, tools):
    m = tmp_path / "m.yaml"
    m.write_text(f"""\
debian:
  suites: [bookworm-security]
corpora:
  q:
    source: 6.12.117
    include: [exceptions_fail, verifier_and]
branches:
  6.12.114-rc1:
    corpus: q
    arches: [x86_64]
    kernels:
      - {{id: rc, queue: {ROOT / 'tests' / 'data' / 'queue-6.12.114-planted'}, on: 6.12.113, backend: uml}}
""")
    v = subprocess.run([CLI, "validate", str(m)], capture_output=True, text=True, timeout=1800)
    assert v.returncode == 0, v.stdout + v.stderr
    assert "6 kernel(s), 6 cell(s)" in v.stdout and "rc: 5 patch(es) on 6.12.113, 5 touching the BPF paths" in v.stdout
    p = subprocess.run([CLI, "run", "-m", str(m), "--db", str(tmp_path / "r.db"), "--report", str(tmp_path / "rep")],
                       capture_output=True, text=True, timeout=3600)
    assert p.returncode == 1, p.stdout + p.stderr  # the planted regression
    doc = json.loads((tmp_path / "rep" / "report.json").read_text())
    pairs = [(q["kind"], q["base"]["kernel_id"], q["new"]["kernel_id"], q["commit"]["subject"] if q["commit"] else None,
              sorted(f"{f['object']}/{f['program']}" for f in q["findings"] if f["change"] == "regression"))
             for q in doc["pairs"]]
    assert [k for k, *_ in pairs] == ["commit"] * 5 + ["queue"]
    assert pairs[0][1] == "rc-base" and pairs[-1][1:3] == ("rc-base", "rc")
    regressed = [(kind, subject) for kind, _, _, subject, regs in pairs if regs]
    assert regressed == [("commit", PLANTED), ("queue", None)], pairs
    assert PROGRAM in pairs[4][4] and PROGRAM in pairs[5][4]
    assert doc["kernels_by_rule"][0]["rule"].startswith("queue ") and doc["kernels_by_rule"][0]["notes"][0] == (
        "rc: 5 patch(es) on 6.12.113, 5 touching the BPF paths; rc is the whole queue")
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "the whole queue against its release" in md and PLANTED in md
