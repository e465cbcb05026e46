"""Every finding named by its commit, end to end: Debian's 6.12.113 and 6.12.115 in VM cells (the 6.12.117
selftests' exceptions_fail) on a branch whose stable_tree is the fixture tree (Debian's 6.12.113 with the four real
BPF commits of 6.12.114/115, tests/data/fixture-6.12.113-bpf; the test tags its tip as the branch's 6.12.115).
After the run, the harness bisects reject_subprog_with_rcu_read_lock's finding by itself, on UML (builds shared
with tests/integration/test_build.py), and every report names the real commit, its upstream id and the steps."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from integration.conftest import EXC

pytestmark = [pytest.mark.integration]

CLI = str(Path(sys.executable).parent / "bpf-harness")
PROGRAM = "exceptions_fail/reject_subprog_with_rcu_read_lock"
CULPRIT = "bpf: Fix exception exit lock checking for subprogs"


def test_a_run_names_the_commit_of_a_finding_between_two_releases(tree, tmp_path, tools):
    subprocess.run(["git", "-C", str(tree), "tag", "-f", "it-v6.12.113", "v6.12.113"], check=True, capture_output=True)
    subprocess.run(["git", "-C", str(tree), "tag", "-f", "it-v6.12.115", "fixture"], check=True, capture_output=True)
    m = tmp_path / "m.yaml"
    m.write_text(EXC + f"""\
branches:
  6.12.y:
    corpus: exc
    arches: [x86_64]
    stable_tree: {{tree: {tree}, tag: "it-v{{version}}"}}
    kernels: [6.12.113, 6.12.115]
attribution: {{steps: 8, minutes: 30}}
vm: {{cpus: 1, memory: 2G, boot_timeout: 180, confirm: false, log_diffs: 0}}
""")
    t0 = time.monotonic()
    p = subprocess.run([CLI, "run", "-m", str(m), "--db", str(tmp_path / "r.db"), "--report", str(tmp_path / "rep")],
                       capture_output=True, text=True, timeout=3600)
    assert p.returncode in (0, 1), p.stdout + p.stderr
    line = next(ln for ln in p.stdout.splitlines() if ln.startswith("attribution: 6.12.y 6.12.113..6.12.115"))
    assert CULPRIT in line, p.stdout
    doc = json.loads((tmp_path / "rep" / "report.json").read_text())
    (a,) = [f["attribution"] for q in doc["pairs"] for f in q["findings"] if f"{f['object']}/{f['program']}" == PROGRAM]
    fix = subprocess.run(["git", "-C", str(tree), "rev-parse", "fixture~2"], capture_output=True, text=True).stdout.strip()
    assert (a["commit"], a["subject"], a["upstream"], a["backend"], a["range"]) == (
        fix, CULPRIT, "6c2128505f61b504c79a20b89596feba61388112", "uml", "it-v6.12.113..it-v6.12.115")
    assert a["steps"] == 4 and a["candidates"] == 4  # GOOD, BAD, then log2(4)
    assert a["warnings"]  # UML stops at the kfunc call where a VM goes on: a VM confirms it
    assert Path(a["reproduce"].split()[3]).is_file()
    assert CULPRIT in (tmp_path / "rep" / "report.md").read_text()
    assert CULPRIT in (tmp_path / "rep" / "report.html").read_text()
    print(f"run with its attribution: {(time.monotonic() - t0) / 60:.1f} min; the attribution: {a['seconds']} s")


def test_ends_that_do_not_reproduce_the_finding_are_said_so_and_not_bisected(tree, tmp_path, tools):
    from harness import cache, matrix
    from harness.attribute import Job
    from harness.attribute.bisection import bisect_job
    from harness.engine import Context
    subprocess.run(["git", "-C", str(tree), "tag", "-f", "it-same", "v6.12.113"], check=True, capture_output=True)
    m = matrix.parse("debian: {suites: [bookworm-security]}\ncorpora: {exc: {source: 6.12.117, include: [exceptions_fail]}}\n"
                     "branches: {b: {corpus: exc, kernels: [6.12.113]}}\nattribution: {backend: uml}\n", tmp_path / "m.yaml")
    job = Job("b", "6.12.113", "6.12.115", "v6.12.113", "it-same", tree, "exc",
              (("exceptions_fail", "reject_subprog_with_rcu_read_lock"),))
    got = bisect_job(job, m, tmp_path / "attribution", Context.make(cache.root(), say=print), time.monotonic() + 1800)
    assert got == {"backend": "uml", "reason": "the ends do not reproduce it: built from the stable tree at v6.12.113 "
                   "and it-same (uml), the programs give the same results (the Debian kernels' config differs, or the "
                   "change is not in the tree's history)"}
