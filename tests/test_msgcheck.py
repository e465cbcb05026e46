"""``__msg`` checks: test_loader's matching rules on a real level-2 log, and how each check is planned."""

import pytest

from harness.arch import ARM64, X86_64
from harness.expect import Expectation, MSG_MISSING, Outcome, outcome
from harness.guest.match import compile_pattern, first_missing
from harness.msgcheck import Check, plan
from harness.parse.veristat import parse
from conftest import read_lines

# Recorded in a 6.12.117 guest: veristat -v -l 2 -r on verifier_spill_fill's
# partial_stack_load_preserves_zeros (__success __log_level(2), 14 __msg lines, 6.12.117 selftests).
SPILL_FILL_MSGS = (
    "2: (7a) *(u64 *)(r10 -8) = 0          ; R10=fp0 fp-8_w=0",
    "4: (7b) *(u64 *)(r10 -16) = r0        ; R0_w=0 R10=fp0 fp-16_w=0",
    "6: (71) r2 = *(u8 *)(r10 -1)          ; R2_w=0 R10=fp0 fp-8_w=0",
    "10: (71) r2 = *(u8 *)(r10 -9)         ; R2_w=0 R10=fp0 fp-16_w=0",
    "11: (0f) r1 += r2",
    "mark_precise: frame0: last_idx 11 first_idx 0 subseq_idx -1",
    "mark_precise: frame0: regs=r2 stack= before 10: (71) r2 = *(u8 *)(r10 -9)",
    "mark_precise: frame0: regs= stack=-16 before 9: (bf) r1 = r6",
    "mark_precise: frame0: regs= stack=-16 before 8: (73) *(u8 *)(r1 +0) = r2",
    "mark_precise: frame0: regs= stack=-16 before 7: (0f) r1 += r2",
    "mark_precise: frame0: regs= stack=-16 before 6: (71) r2 = *(u8 *)(r10 -1)",
    "mark_precise: frame0: regs= stack=-16 before 5: (bf) r1 = r6",
    "mark_precise: frame0: regs= stack=-16 before 4: (7b) *(u64 *)(r10 -16) = r0",
    "mark_precise: frame0: regs=r0 stack= before 3: (b7) r0 = 0",
)


@pytest.fixture(scope="module")
def spill_fill_log() -> str:
    (rec,) = parse(read_lines("veristat-v-l2-r-6.12.117-spill_fill.txt"), max_log_lines=None)
    assert rec["program"] == "partial_stack_load_preserves_zeros" and rec["verdict"] == "success"
    return "\n".join(rec["log"]) + "\n"


def test_real_level2_log_has_every_message_in_order(spill_fill_log):
    assert first_missing(SPILL_FILL_MSGS, spill_fill_log) is None


def test_order_matters_and_the_first_missing_one_is_named(spill_fill_log):
    swapped = (SPILL_FILL_MSGS[4], SPILL_FILL_MSGS[0])  # "11: ..." comes after "2: ..." in the log
    assert first_missing(swapped, spill_fill_log) == 1
    wrong = SPILL_FILL_MSGS[:3] + ("R2_w=1 R10=fp0",) + SPILL_FILL_MSGS[3:]
    assert first_missing(wrong, spill_fill_log) == 3


def test_the_parser_keeps_whole_logs_for_checks_but_trims_them_by_default():
    lines = read_lines("veristat-v-l2-r-6.12.117-spill_fill.txt")
    (trimmed,) = parse(lines)
    assert trimmed["log_truncated"] and len(trimmed["log"]) == 200
    (whole,) = parse(lines, max_log_lines=None)
    assert len(whole["log"]) > 200 and whole["log"][5].startswith("2: (7a)") and "log_truncated" not in whole


def test_braces_are_regexes_and_everything_else_is_literal(spill_fill_log):
    # a real 6.12 __msg with {{.*}} (verifier_bounds); outside the braces '(' and '=' are literal
    rx = compile_pattern("3: (2d) if r0 > r1 {{.*}} R0_w=scalar(smin=smin32=0,smax=umax=smax32=umax32=127,"
                         "var_off=(0x0; 0x7f))")
    assert rx.search("3: (2d) if r0 > r1 goto pc+2         ; R0_w=scalar(smin=smin32=0,smax=umax=smax32=umax32=127,"
                     "var_off=(0x0; 0x7f)) R1=127")
    assert compile_pattern("R1 !read_ok") is None
    assert first_missing(["2: (7a) {{.*}} fp-8_w=0", "11: (0f) r1 += r2"], spill_fill_log) is None
    # REG_NEWLINE: '.' never crosses a line
    assert first_missing(["2: (7a){{.*}}3: (b7)"], spill_fill_log) == 0
    with pytest.raises(ValueError, match="no closing"):
        compile_pattern("r1 {{.*")


def test_regex_resumes_as_regexec_does_with_caret_at_the_resume_point():
    assert first_missing(["abc", "{{^def}}"], "abcdef\n") is None


def exp(**kw) -> Expectation:
    return Expectation(**{"expect": "failure", "messages": ("R1 !read_ok",), **kw})


def test_level_0_failure_is_checked_in_a_level_1_log_with_reg_invariants_when_veristat_has_r():
    assert plan(exp(), X86_64, frozenset({"-t", "-r"})) == Check(("R1 !read_ok",), 1, ("-r",), True)
    # 6.1's veristat has neither option, and 6.1's test_loader sets no testing flags
    assert plan(exp(), X86_64, frozenset()) == Check(("R1 !read_ok",), 1, (), True)


def test_flags_map_to_veristat_options_or_make_the_check_not_applicable():
    opts = frozenset({"-t", "-r"})
    assert plan(exp(flags=("BPF_F_TEST_STATE_FREQ",), log_level=2), X86_64, opts).options == ("-r", "-t")
    assert plan(exp(flags=("!BPF_F_TEST_REG_INVARIANTS",)), X86_64, opts).options == ()
    assert plan(exp(flags=("BPF_F_ANY_ALIGNMENT",)), X86_64, opts).options == ("-r",)  # no-op: x86 is efficient
    assert plan(exp(flags=("BPF_F_TEST_RND_HI32",)), X86_64, opts).options == ("-r",)  # post-verification only
    assert plan(exp(flags=("BPF_F_STRICT_ALIGNMENT",)), X86_64, opts) == \
        "needs program flag BPF_F_STRICT_ALIGNMENT, which veristat cannot set"
    assert plan(exp(flags=("BPF_F_TEST_STATE_FREQ",)), X86_64, frozenset()) == \
        "needs program flag BPF_F_TEST_STATE_FREQ, which veristat cannot set"


def test_levels_and_programs_without_checks():
    stats_only = plan(exp(expect="success", log_level=4), X86_64, frozenset())
    assert (stats_only.log_level, stats_only.empty_if_verified) == (4, False)
    assert plan(exp(messages=()), X86_64, frozenset()) is None
    assert plan(exp(auxiliary=True), X86_64, frozenset()) is None
    assert plan(exp(arches=("ARM64",)), X86_64, frozenset()) is None
    assert plan(exp(arches=("ARM64",)), ARM64, frozenset()) is not None
    assert plan(exp(messages=(), regexes=("r[0-9]",)), X86_64, frozenset()).patterns == ("{{r[0-9]}}",)


def test_a_missing_message_makes_an_expected_verdict_unexpected():
    e = exp()
    assert outcome(e, "failure", "verifier", "x86_64") is Outcome.AS_EXPECTED
    assert outcome(e, "failure", "verifier", "x86_64", "matched") is Outcome.AS_EXPECTED
    assert outcome(e, "failure", "verifier", "x86_64", MSG_MISSING) is Outcome.UNEXPECTED
    assert outcome(e, "failure", "verifier", "x86_64", "n/a") is Outcome.AS_EXPECTED
    assert outcome(e, "failure", "verifier", "arm64") is Outcome.AS_EXPECTED
    assert outcome(exp(arches=("ARM64",)), "success", None, "x86_64") is Outcome.NOT_APPLICABLE


def test_not_msg_is_searched_between_the_surrounding_matches():
    """7.x's __not_msg: absent between the __msg before it and the __msg after it (test_loader.c's spans)."""
    from harness.guest.match import first_present
    log = "a: r1 = 0\nb: precise r1\nc: r2 = 1\nd: precise r2\n"
    assert first_present(["a:", "c:"], [(1, "precise r2")], log) is None  # r2 is precise only after c:
    assert first_present(["a:", "c:"], [(1, "precise r1")], log) == 0  # between a: and c:
    assert first_present(["a:"], [(1, "precise")], log) == 0  # after the last __msg: to the end of the log
    assert first_present(["c:"], [(0, "precise r1")], log) == 0  # before the first __msg
    assert first_present(["c:"], [(0, "precise r2")], log) is None
    assert first_present(["a:", "x:"], [(1, "precise")], log) is None  # the __msg after it is missing instead
    assert first_present(["a:", "c:"], [(1, "{{precise r[0-9]}}")], log) == 0  # regexes as in __msg


def test_a_not_msg_only_test_gets_a_check():
    exp = Expectation("success", log_level=2, not_messages=((0, "mark_precise"),))
    got = plan(exp, X86_64, frozenset({"-r"}))
    assert isinstance(got, Check) and got.patterns == () and got.not_patterns == ((0, "mark_precise"),)
