"""The nightly job as a pytest session (``pytest --bpf-matrix``), on real kernels: UML lanes for the mechanics
(node ids, lanes on xdist workers with one boot per cell, JUnit, -k selections stored apart, expired and stale
known issues), and a VM lane with a real change: 6.12.113's own exceptions_fail on Debian 6.12.113 and 6.12.115, where the fix of
CVE-2026-31526 (6.12.114) rejects two tests at bpf_throw instead of at the exit, so the messages 6.12.113's tests
expect are gone -- newly unexpected results, the failures a nightly must show; then --lf and a known issue's
xfail."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from integration.conftest import FIXTURE

pytestmark = [pytest.mark.integration]
pytest_plugins = ["pytester"]
CACHE = __import__("harness.cache", fromlist=["root"]).root()
"""The cache as it is before pytester points HOME at its own directory."""

FIX = FIXTURE / "0002-bpf-Fix-exception-exit-lock-checking-for-subprogs.patch"
# UML lanes on the one UML kernel the suite builds from cold (6.12.113) and that release with the fix of
# CVE-2026-31526 applied (an incremental build of the same directory, shared with test_build.py)
UML = f"""\
debian:
  suites: [bookworm-security]
corpora:
  exc:
    source: 6.12.117
    include: [exceptions_fail, verifier_mtu]
branches:
  a:
    corpus: exc
    kernels: [{{uml: 6.12.113}}, {{id: fixed-uml, source: 6.12.113, patches: [{FIX}], backend: uml}}]
  b:
    corpus: exc
    kernels: [{{id: again-113, uml: 6.12.113}}]
arches: [x86_64]
"""
VM = """\
debian:
  suites: [bookworm-security]
corpora:
  exc:
    source: 6.12.113
    include: [exceptions_fail]
branches:
  6.12.y:
    corpus: exc
    kernels: [6.12.113, 6.12.115]
arches: [x86_64]
vm:
  cpus: 2
  confirm: false
  log_diffs: 0
"""
PROGRAMS = ["exceptions_fail/reject_subprog_with_rcu_read_lock", "exceptions_fail/reject_with_rcu_read_lock"]


def pytest_run(d: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-o", f"cache_dir={d / '.cache'}", "-p", "no:randomly",
                           "--bpf-matrix", str(d / "m.yaml"), "--bpf-db", str(d / "r.db"), *argv],
                          capture_output=True, text=True, cwd=d, timeout=3000)


def cells(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as c:
        return c.execute("SELECT kernel_id, purpose, status FROM cells ORDER BY id").fetchall()


def test_lanes_on_workers_one_boot_per_cell_junit_and_readable_ids(tmp_path, tools):
    (tmp_path / "m.yaml").write_text(UML)
    ids = pytest_run(tmp_path, "--collect-only", "-q")
    assert "6.12.113-uml/x86_64::exceptions_fail/reject_with_lock" in ids.stdout.splitlines(), ids.stdout[-2000:]
    p = pytest_run(tmp_path, "-n", "2", "--junitxml", str(tmp_path / "j.xml"))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    m = re.search(r"bpf-harness: 3 cell\(s\) booted this session, each once: (.*) \(store", p.stdout)
    assert m, p.stdout[-2000:]
    assert "6.12.113-uml/x86_64 on gw" in m.group(1) and {"gw0", "gw1"} <= set(re.findall(r"gw\d", m.group(1)))
    # a lane stays on one worker: its second kernel is judged against the first there
    lane = re.findall(r"(6\.12\.113-uml|fixed-uml)/x86_64 on (gw\d)", m.group(1))
    assert len(lane) == 2
    assert len({w for _, w in lane}) == 1
    cases = ET.parse(tmp_path / "j.xml").findall(".//testcase")
    assert len(cases) == 3 * 23
    props = {p.get("name"): p.get("value") for p in cases[0].findall(".//property")}
    assert props["cell_status"] == "complete" and props["verdict"] in ("success", "failure")
    # one cell per kernel (the logs re-runs for the report's log diffs are the run's own, as in bpf-harness run)
    assert [c[1:] for c in cells(tmp_path / "r.db") if c[1] != "logs"] == [("run", "complete")] * 3
    # the same session again reads the complete cells: nothing boots
    again = pytest_run(tmp_path, "-q")
    assert again.returncode == 0 and "no cell booted this session" in again.stdout


def test_a_kernel_that_cannot_be_had_is_not_tested_and_exit_3(tmp_path, tools):
    (tmp_path / "m.yaml").write_text(UML.replace("kernels: [{id: again-113, uml: 6.12.113}]", "kernels: [6.12.99]"))
    p = pytest_run(tmp_path, "-q", "-rs")
    assert p.returncode == 3, p.stdout[-2000:]
    assert "NOT TESTED: cell(s) not complete: 6.12.99/x86_64" in p.stdout
    assert "inconclusive: the cell did not run: kernel x86_64 6.12.99 is not in the Debian archive" in p.stdout


def test_a_selection_runs_only_its_programs_and_is_stored_apart(tmp_path, tools):
    (tmp_path / "m.yaml").write_text(UML)
    p = pytest_run(tmp_path, "-q", "-k", "reject_with_lock and not again")
    assert p.returncode == 0 and "2 passed, 67 deselected" in p.stdout, p.stdout[-2000:]
    assert cells(tmp_path / "r.db") == [("6.12.113-uml", "select", "complete"), ("fixed-uml", "select", "complete")]
    with sqlite3.connect(tmp_path / "r.db") as c:
        assert c.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 2


def test_expired_known_issue_fails_the_run_and_unmatched_is_stale(tmp_path, tools):
    (tmp_path / "m.yaml").write_text(UML)
    (tmp_path / "k.yaml").write_text(
        "- id: old\n  programs: [verifier_mtu/tc_uninit_mtu]\n  reason: privileged load\n  expires: 2026-01-01\n"
        "- id: unused\n  programs: [nosuch/prog]\n  reason: r\n  expires: 2099-01-01\n")
    p = pytest_run(tmp_path, "-q", "-k", "tc_uninit or old", "--bpf-known-issues", str(tmp_path / "k.yaml"))
    assert p.returncode == 1, p.stdout[-2000:]
    assert "known issue old expired on 2026-01-01" in p.stdout
    assert "stale known issue(s), matched nothing this run: unused" in p.stdout
    (tmp_path / "k.yaml").write_text("- id: broken\n  programs: [x]\n  reason: r\n  expires: 2099-01-01\n")
    bad = pytest_run(tmp_path, "-q", "--bpf-known-issues", str(tmp_path / "k.yaml"))
    assert bad.returncode != 0 and "write OBJECT/PROGRAM" in bad.stdout + bad.stderr


def test_a_real_change_fails_reruns_with_lf_and_a_known_issue_makes_it_xfail(tmp_path, tools):
    (tmp_path / "m.yaml").write_text(VM)
    p = pytest_run(tmp_path, "-q", "-rf")
    assert p.returncode == 1, p.stdout[-3000:]
    failed = sorted(re.findall(r"^FAILED (\S+)", p.stdout, re.M))
    assert failed == [f"6.12.115/x86_64::{x}" for x in PROGRAMS], p.stdout[-3000:]
    assert "newly unexpected (first night)" in p.stdout and "reproduce: " in p.stdout
    assert "bpf_throw cannot be used inside bpf_rcu_read_lock-ed region" in p.stdout
    # the CLI's gate on the same store gives the same verdicts (one judge: harness.judge)
    cli = Path(sys.executable).parent / "bpf-harness"
    g = subprocess.run([str(cli), "report", "-m", str(tmp_path / "m.yaml"), "--db", str(tmp_path / "r.db"), "--format",
                        "json", "-o", str(tmp_path / "r.json"), "--fail-on", "unexpected"], capture_output=True, text=True)
    assert g.returncode == 1, g.stdout + g.stderr
    pairs = json.loads((tmp_path / "r.json").read_text())["pairs"]
    gated = sorted(f"{q['new']['kernel_id']}/{q['new']['arch']}::{f['object']}/{f['program']}" for q in pairs
                   for f in q["findings"] if f["change"] == "regression" or f["newly_unexpected"])
    assert gated == failed
    lf = pytest_run(tmp_path, "-q", "--lf")
    assert lf.returncode == 1 and "2 failed" in lf.stdout and "42 deselected" in lf.stdout, lf.stdout[-2000:]
    (tmp_path / "k.yaml").write_text(
        "- id: cve-2026-31526-fix\n  programs: ['exceptions_fail/reject_*rcu_read_lock']\n"
        "  kernels: ['6.12.11[4-9]']\n  reason: the fix of CVE-2026-31526 (6.12.114) rejects at bpf_throw; "
        "6.12.115's own selftests expect that message\n  expires: 2099-01-01\n")
    k = pytest_run(tmp_path, "-q", "-rx", "--bpf-known-issues", str(tmp_path / "k.yaml"))
    assert k.returncode == 0 and "2 xfailed" in k.stdout and "cve-2026-31526-fix" in k.stdout, k.stdout[-2000:]
    assert [c[0] for c in cells(tmp_path / "r.db") if c[1] == "run"] == ["6.12.113", "6.12.115"]  # booted once


def test_in_process_session_judges_selects_and_reports(pytester, monkeypatch, tools):
    """The same plugin in this process (pytester): collection, the cells run, JUnit properties, the end of the
    session (history, one boot per cell).  Selections and known issues: the subprocess tests above."""
    monkeypatch.setenv("BPF_HARNESS_CACHE", str(CACHE))  # pytester moves HOME: keep the real cache
    pytester.path.joinpath("m.yaml").write_text(UML)
    db = pytester.path / "r.db"
    r = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--bpf-matrix", "m.yaml", "--bpf-db", str(db),
                                     "--junitxml", "j.xml", "-q")
    assert r.ret == 0, r.stdout.str()[-2000:]
    r.assert_outcomes(passed=69)
    out = r.stdout.str()
    assert "bpf-harness: first night of this matrix in this store" in out
    assert "bpf-harness: 3 cell(s) booted this session, each once" in out
    props = ET.parse(pytester.path / "j.xml").find(".//testcase/properties")
    assert {p.get("name") for p in props} >= {"cell", "kernel", "verdict", "outcome", "insns"}
