"""Diffs over results recorded from two real point releases (6.1.190, 6.1.192: same 6.1.192 objects)."""

import pytest

from harness.cell import row_of
from harness.cli import main
from harness.diff import Change, Thresholds, classify, diff
from harness.parse.normalize import error_key
from harness.store import CellStatus, Store
from conftest import add_corpus, recorded_results, stored_rows


BASE, NEW = stored_rows("results-6.1.190-classes.jsonl"), stored_rows("results-6.1.192-classes.jsonl")


def test_real_point_release_pair():
    findings, same = diff(BASE, NEW)
    assert [(f.change, f.object, f.program) for f in findings] == [
        (Change.FIXED, "test_global_func16", "global_func16")]
    assert findings[0].detail == "was: Caller passes invalid args into func#1"
    assert same == 30


def test_reverse_direction_is_a_regression():
    (f,), _ = diff(NEW, BASE)
    assert (f.change, f.detail) == (Change.REGRESSION, "Caller passes invalid args into func#1")
    assert f.error_key == "Caller passes invalid args into func#"


def test_a_regression_that_reproduces_on_both_kernels_is_confirmed():
    again = ({GF16: NEW[GF16]}, {GF16: BASE[GF16]})  # the re-runs gave the same verdicts and errors
    (f,), _ = diff(NEW, BASE, Thresholds(), again)
    assert (f.change, f.confirmed) == (Change.REGRESSION, True)
    (f,), _ = diff(NEW, BASE, Thresholds(), ({GF16: NEW[GF16]}, {}))  # one side not re-run
    assert (f.change, f.confirmed) == (Change.REGRESSION, None)


def test_a_regression_that_does_not_reproduce_is_flaky_not_a_regression():
    again = ({GF16: NEW[GF16]}, {GF16: NEW[GF16]})  # on the re-run the new kernel verified it
    (f,), _ = diff(NEW, BASE, Thresholds(), again)
    assert (f.change, f.confirmed) == (Change.FLAKY, False)
    assert f.detail == ("did not reproduce on a re-run: new kernel failure -> success. "
                        "First run: Caller passes invalid args into func#1")
    # rejected again, but for another reason: not the same result either
    other = {**BASE[GF16], "error": "R1 invalid mem access 'scalar'"}
    (f,), _ = diff(NEW, BASE, Thresholds(), ({GF16: NEW[GF16]}, {GF16: other}))
    assert f.change is Change.FLAKY and "new kernel failure -> failure (R1 invalid mem access 'scalar')" in f.detail


def derived(key, **changes):
    return {**NEW[key], **changes}


GF16 = ("test_global_func16", "global_func16")
CUBIC = ("bpf_cubic", "bpf_cubic_init")
KFUNC = ("kfunc_call_race", "kfunc_call_fail")


@pytest.mark.parametrize("base,new,change", [
    # constructed from real rows where the two releases have no instance of the class
    (NEW[GF16], derived(GF16, verdict="failure", failure_class="verifier",
                        error="R1 invalid mem access 'scalar'"), Change.REGRESSION),
    (BASE[GF16], derived(GF16, verdict="failure", failure_class="verifier",
                         error="invalid indirect read from stack R2 off -48+0 size 48"), Change.ERROR_CHANGED),
    (NEW[CUBIC], derived(CUBIC, insns=NEW[CUBIC]["insns"] + 5000), Change.COMPLEXITY),
    (NEW[CUBIC], derived(CUBIC, insns=850_000), Change.NEAR_LIMIT),
    (NEW[CUBIC], derived(CUBIC, verdict="failure", failure_class="load", load_reason="missing-kfunc",
                         error="extern (func ksym) 'bpf_x': not found in kernel or module BTFs"), Change.LOAD_CHANGED),
    (NEW[KFUNC], derived(KFUNC, verdict="success", failure_class=None, error=None), Change.LOAD_CHANGED),
    (NEW[CUBIC], derived(CUBIC, verdict="timeout"), Change.INCONCLUSIVE),
    (None, NEW[CUBIC], Change.NEW),
    (NEW[CUBIC], None, Change.GONE),
])
def test_each_class(base, new, change):
    assert classify(base, new, Thresholds())[0] is change


def test_same_failure_with_other_numbers_is_not_a_diff():
    a = derived(GF16, verdict="failure", failure_class="verifier",
                error="invalid indirect read from stack R1 off -40+0 size 40")
    b = derived(GF16, verdict="failure", failure_class="verifier",
                error="invalid indirect read from stack R3 off -56+8 size 16")
    assert classify(a, b, Thresholds()) is None


def test_small_cost_moves_are_not_complexity():
    assert classify(NEW[CUBIC], derived(CUBIC, insns=NEW[CUBIC]["insns"] + 999), Thresholds()) is None
    assert classify(NEW[CUBIC], derived(CUBIC, insns=NEW[CUBIC]["insns"] + 999),
                    Thresholds(insns_abs=500, insns_pct=1))[0] is Change.COMPLEXITY


@pytest.mark.parametrize("line,key", [
    ("R1 invalid mem access 'scalar'", "R# invalid mem access 'scalar'"),
    ("invalid indirect read from stack R1 off -40+0 size 40", "invalid indirect read from stack R# off # size #"),
    ("Unreleased reference id=2 alloc_insn=12", "Unreleased reference id=# alloc_insn=#"),
    ("invalid func unknown#195896080", "invalid func unknown#"),
    ("prog 'test_main': failed to find kernel BTF type ID of 'test_pkt_access': -3",
     "failed to find kernel BTF type ID of 'test_pkt_access': #"),
    ("calling kernel function bpf_task_from_pid is not allowed", "calling kernel function bpf_task_from_pid is not allowed"),
    ("R2 type=ptr_ expected=percpu_ptr_, ptr_to_u64", "R# type=ptr_ expected=percpu_ptr_, ptr_to_u64"),
])
def test_error_keys(line, key):
    assert error_key(line) == key


def store_with(tmp_path, base, new):
    s = Store(tmp_path / "r.db")
    add_corpus(s, "c1")
    run = s.start_run("m", "", [])
    for kid, recs in (("6.1.190", base), ("6.1.192", new)):
        cid = s.start_cell(run_id=run, branch="6.1.y", kernel_id=kid, kernel_key=kid, arch="x86_64",
                           backend="vm", corpus_id="c1", release=kid, clang="clang 19")
        for rec in recorded_results(recs):
            if rec["kind"] == "result":
                s.add_result(cid, row_of(rec))
        s.finish_cell(cid, CellStatus.COMPLETE, "ok")
    s.close()
    return str(tmp_path / "r.db")


def test_diff_cli_exit_codes(tmp_path, capsys):
    db = store_with(tmp_path, "results-6.1.190-classes.jsonl", "results-6.1.192-classes.jsonl")
    assert main(["diff", "6.1.190", "6.1.192", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "fixed: 1" in out and "No BPF verifier regressions from 6.1.190 to 6.1.192 on x86_64." in out
    assert main(["diff", "6.1.192/x86_64", "6.1.190/x86_64", "--db", db]) == 1
    assert "regression (1)\n  test_global_func16/global_func16: success 14 insns -> failure 8 insns" in capsys.readouterr().out
    assert main(["diff", "6.1.192", "9.9.9", "--db", db]) == 2
    assert "no cell '9.9.9'; cells: 6.1.190/x86_64, 6.1.192/x86_64" in capsys.readouterr().err


def test_complexity_on_states_alone():
    """Issue 18: only insns moves were tested.  Same insns, states past both thresholds (10% and 100)."""
    before = derived(CUBIC, states=1000)
    change, detail = classify(before, derived(CUBIC, states=1200), Thresholds())
    assert (change, detail) == (Change.COMPLEXITY, "states 1000 -> 1200")
    assert classify(before, derived(CUBIC, states=1099), Thresholds()) is None  # under 100 states
    assert classify(derived(CUBIC, states=10), derived(CUBIC, states=150), Thresholds())[1] == "states 10 -> 150"
