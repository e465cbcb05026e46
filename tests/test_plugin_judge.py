"""One judge: the pytest plugin (``pytest --bpf-matrix``) and the CLI's gate (``report --fail-on unexpected``)
read the same recorded store and must give the same verdicts, program by program.

The store holds results recorded in real 6.1.190 and 6.1.192 guests (tests/data), under kernel ids that put the
6.1.192 results first in a lane: read in that order, 6.1.192's fix of ``test_global_func16`` is a regression.
Every cell is complete, so the plugin boots nothing; its corpus is the store's own program list (building the
6.1.192 selftests is the integration tests' job: tests/integration/test_pytest_plugin.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.cli import main
from conftest import recorded_61_store

pytest_plugins = ["pytester"]

MATRIX = """\
corpora: {c: {source: 6.1.192}}
branches:
  lane:
    corpus: c
    kernels: [{id: fixed, local: {image: /nonexistent/fixed}}, {id: unfixed, local: {image: /nonexistent/unfixed}}]
"""


@pytest.fixture
def store_and_matrix(tmp_path, monkeypatch):
    s = recorded_61_store(tmp_path / "r.db")
    s.db.execute("UPDATE cells SET kernel_id = CASE kernel_id WHEN '6.1.192' THEN 'fixed' ELSE 'unfixed' END, "
                 "branch = 'lane'")
    # one program without a verdict on the new kernel: skipped by the plugin, never a pass or a failure
    s.db.execute("UPDATE results SET verdict = 'timeout', insns = NULL WHERE object = 'bpf_cubic' AND "
                 "program = 'bpf_cubic_cong_avoid' AND cell_id = (SELECT id FROM cells WHERE kernel_id = 'unfixed')")
    s.db.commit()
    programs = [tuple(r) for r in s.db.execute("SELECT DISTINCT object, program FROM results ORDER BY 1, 2")]
    s.close()
    (tmp_path / "m.yaml").write_text(MATRIX)

    from harness.corpus import Corpus, CorpusObject
    from harness.engine import Preparer
    objects: dict[str, list[str]] = {}
    for o, p in programs:
        objects.setdefault(o, []).append(p)
    corpus = Corpus("c1", "c", "x86_64", "linux-source-6.1", "6.1.192", "clang 19.1.7", Path("/nonexistent/veristat"),
                    "1" * 64, tuple(CorpusObject(o, Path(f"/nonexistent/{o}.bpf.o"), "0" * 64, tuple(ps))
                                    for o, ps in objects.items()), (), Path("/nonexistent"))
    monkeypatch.setattr(Preparer, "corpus", lambda self, cell: corpus)
    return tmp_path, len(programs)


def plugin(pytester, d: Path, *extra: str):
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "--bpf-matrix", str(d / "m.yaml"), "--bpf-db",
                                        str(d / "r.db"), "--bpf-cache", str(d / "cache"), "-rfsx", *extra)


def cli_failures(d: Path) -> tuple[int, set[str]]:
    rc = main(["report", "-m", str(d / "m.yaml"), "--db", str(d / "r.db"), "--format", "json", "-o",
               str(d / "r.json"), "--fail-on", "unexpected"])
    data = json.loads((d / "r.json").read_text())
    return rc, {f"{f['object']}/{f['program']}" for p in data["pairs"] for f in p["findings"]
                if f["change"] == "regression" or f["newly_unexpected"]}


def test_the_plugin_and_the_cli_gate_agree_on_a_recorded_store(pytester, store_and_matrix, capsys):
    d, n = store_and_matrix
    r = plugin(pytester, d)  # first: the plugin records the night's history, and says what is new
    rc, failing = cli_failures(d)
    capsys.readouterr()
    assert rc == 1 and "test_global_func16/global_func16" in failing
    out = r.stdout.str()
    got = set(re.findall(r"^FAILED \S*?unfixed/x86_64::(\S+) ", out, re.M))
    assert got == failing, out[-3000:]
    assert r.ret == 1
    outcomes = r.parseoutcomes()
    # every program of both cells has an item: the baseline's pass, the new kernel's pass / fail / skip
    assert outcomes["failed"] == len(failing) and outcomes["skipped"] == 1
    assert outcomes["passed"] == 2 * n - len(failing) - 1
    assert "SKIPPED [1]" in out and "no verdict: timeout" in out
    assert "regression (first night): test_global_func16/global_func16 on unfixed/x86_64" in out
    assert "Caller passes invalid args into func#1" in out  # the error line, not only a class


def test_a_known_issue_turns_the_same_failure_into_xfail(pytester, store_and_matrix):
    d, _ = store_and_matrix
    _, failing = cli_failures(d)
    (d / "k.yaml").write_text("- id: func16\n  programs: [test_global_func16/global_func16]\n  reason: r\n"
                              "  expires: 2099-01-01\n")
    r = plugin(pytester, d, "--bpf-known-issues", str(d / "k.yaml"))
    outcomes = r.parseoutcomes()
    assert outcomes.get("xfailed") == 1 and outcomes.get("failed", 0) == len(failing) - 1
    assert "known issue func16" in r.stdout.str()


def test_a_cell_that_cannot_run_is_not_tested_and_exit_3_unless_a_regression_outranks_it(pytester, store_and_matrix,
                                                                                           capsys):
    """A kernel after the two recorded ones whose image cannot be had: its items skip with the reason, the session
    says NOT TESTED; the regression before it still fails the session (exit 1, as ``bpf-harness run``).  Without
    that regression, the same session exits 3, never 0."""
    import sqlite3
    d, n = store_and_matrix
    later = "{id: later, local: {image: /nonexistent/later}}"
    (d / "m.yaml").write_text(MATRIX.replace("}]\n", f"}}, {later}]\n"))
    r = plugin(pytester, d)
    out = r.stdout.str()
    assert r.ret == 1 and "NOT TESTED: cell(s) not complete: later/x86_64" in out, out[-3000:]
    assert r.parseoutcomes()["skipped"] == 1 + n  # the timeout, and every program of the kernel that did not run
    assert "the cell did not run: " in out and "image /nonexistent/later does not exist" in out
    rc, failing = cli_failures(d)
    capsys.readouterr()
    assert rc == 1 and failing == {"test_global_func16/global_func16"}  # the gate: the same answer
    with sqlite3.connect(d / "r.db") as c:  # as if the new kernel had not regressed
        c.execute("UPDATE results SET verdict = 'success', failure_class = NULL, error = NULL WHERE "
                  "program = 'global_func16'")
    r = plugin(pytester, d)
    rc, failing = cli_failures(d)
    capsys.readouterr()
    assert r.ret == rc == 3 and failing == set()
    assert "NOT TESTED: cell(s) not complete: later/x86_64" in r.stdout.str()
