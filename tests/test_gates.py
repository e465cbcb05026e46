"""The gates CI relies on, through the CLI on a store of results recorded in real 6.1.190 and 6.1.192 guests:
``report --fail-on`` (what a nightly's merge job exits with) and the exit decision of ``run``.

6.1.192 fixed ``test_global_func16/global_func16`` (its own selftest says ``__success``; 6.1.190 rejects it).
Read 6.1.190 -> 6.1.192 that is a fix (exit 0); with 6.1.190 as the reference of a branch whose head is 6.1.192
it is a regression (exit 1).  A cell that did not complete, or a kernel of the matrix the store never ran, is
exit 3: the gate never passes what was not verified.
"""

from __future__ import annotations

from harness.cli import main
from harness.store import CellStatus
from conftest import recorded_61_store

COMMIT = "corpora: {c: {source: 6.1.192}}\nbranches:\n  6.1.y:\n    corpus: c\n    kernels: [6.1.190, 6.1.192]\n"
REFERENCE = ("corpora: {c: {source: 6.1.192}}\nbranches:\n  head: {corpus: c, kernels: [6.1.192]}\n"
             "  ref: {corpus: c, kernels: [6.1.190]}\nreference: ref\n")


def report(tmp_path, matrix_text: str, *extra: str) -> int:
    (tmp_path / "m.yaml").write_text(matrix_text)
    return main(["report", "-m", str(tmp_path / "m.yaml"), "--db", str(tmp_path / "r.db"), "--format", "json",
                 "-o", str(tmp_path / "r.json"), *extra])


def test_a_fix_passes_the_gate_and_a_regression_fails_it(tmp_path, capsys):
    recorded_61_store(tmp_path / "r.db").close()
    assert report(tmp_path, COMMIT, "--fail-on", "regression") == 0
    assert report(tmp_path, REFERENCE, "--fail-on", "regression") == 1
    assert report(tmp_path, REFERENCE, "--fail-on", "unexpected") == 1
    assert report(tmp_path, REFERENCE) == 0  # report's own default: --fail-on never
    assert report(tmp_path, REFERENCE, "--fail-on", "never") == 0
    capsys.readouterr()


def test_a_cell_that_did_not_complete_is_exit_3_never_a_pass(tmp_path, capsys):
    s = recorded_61_store(tmp_path / "r.db")
    s.db.execute("UPDATE cells SET status=?, detail='guest hung: no result for 600 s' WHERE kernel_id='6.1.192'",
                 (CellStatus.HUNG.value,))
    s.db.commit()
    s.close()
    assert report(tmp_path, COMMIT, "--fail-on", "regression") == 3
    assert capsys.readouterr().err.strip() == "not complete: 6.1.192/x86_64: hung"
    assert report(tmp_path, COMMIT, "--fail-on", "never") == 0  # rendering alone gates nothing


def test_a_kernel_the_store_never_ran_is_exit_3(tmp_path, capsys):
    recorded_61_store(tmp_path / "r.db").close()
    assert report(tmp_path, COMMIT.replace("6.1.192]", "6.1.192, 6.1.193]"), "--fail-on", "regression") == 3
    assert capsys.readouterr().err.strip() == "not complete: 6.1.193/x86_64: not run"


def test_a_regression_outranks_an_incomplete_cell(tmp_path, capsys):
    """A nightly with a real regression and a cell that did not complete exits 1: the regression is what a
    maintainer must see first (the incomplete cell is still said in every report)."""
    recorded_61_store(tmp_path / "r.db").close()
    text = REFERENCE.replace("  ref:", "  other: {corpus: c, kernels: [6.1.193]}\n  ref:")
    assert report(tmp_path, text, "--fail-on", "regression") == 1
    capsys.readouterr()
