"""Expectations from decl tags, read from objects compiled here by the real clang (objects are never committed)."""

import pytest

from conftest import compile_bpf

from harness import btf, corpus
from harness.diff import Change, Thresholds, classify
from harness.expect import NONE, Expectation, Outcome, outcome, parse_tags

# the macros as progs/bpf_misc.h defines them in 6.12 (numbered) and 6.1 (plain __msg)
SRC = r"""
#define SEC(n) __attribute__((section(n), used))
#define XSTR(s) STR(s)
#define STR(s) #s
#define __success __attribute__((btf_decl_tag("comment:test_expect_success")))
#define __failure __attribute__((btf_decl_tag("comment:test_expect_failure")))
#define __msg(msg) __attribute__((btf_decl_tag("comment:test_expect_msg=" XSTR(__COUNTER__) "=" msg)))
#define __msg61(msg) __attribute__((btf_decl_tag("comment:test_expect_msg=" msg)))
#define __log_level(lvl) __attribute__((btf_decl_tag("comment:test_log_level="#lvl)))
#define __flag(flag) __attribute__((btf_decl_tag("comment:test_prog_flags="#flag)))
#define __arch(arch) __attribute__((btf_decl_tag("comment:test_arch=" arch)))
#define __description(d) __attribute__((btf_decl_tag("comment:test_description=" d)))
#define __auxiliary __attribute__((btf_decl_tag("comment:test_auxiliary")))
SEC("socket") __description("two messages") __failure __msg("first") __msg("R1 !read_ok") __log_level(2)
int rejected(void *ctx) { return 0; }
SEC("socket") __success __flag(BPF_F_TEST_STATE_FREQ) __arch("ARM64") int arm_only(void *ctx) { return 0; }
SEC("socket") __failure __msg61("invalid access to map value") int old_style(void *ctx) { return 0; }
SEC("socket") __auxiliary int helper_prog(void *ctx) { return 0; }
SEC("socket") __msg("only a message") int implied_success(void *ctx) { return 0; }
SEC("socket") int untagged(void *ctx) { return 0; }
"""


@pytest.fixture(scope="module")
def obj(tmp_path_factory):
    return compile_bpf(tmp_path_factory, SRC)


def test_expectations_from_a_compiled_object(obj):
    progs = ["rejected", "arm_only", "old_style", "helper_prog", "implied_success", "untagged"]
    exp = {p: Expectation.from_json(e) for p, e in corpus.expectations_of(obj, progs).items()}
    assert exp["rejected"] == Expectation("failure", ("first", "R1 !read_ok"), (), 2, (), (), "two messages")
    assert exp["arm_only"] == Expectation("success", flags=("BPF_F_TEST_STATE_FREQ",), arches=("ARM64",))
    assert exp["old_style"].messages == ("invalid access to map value",)
    assert exp["helper_prog"].auxiliary
    assert exp["implied_success"].expect == "success"
    assert "untagged" not in exp


def test_numbered_messages_keep_source_order_whatever_the_btf_order():
    tags = ["comment:test_expect_msg=12=second", "comment:test_expect_failure", "comment:test_expect_msg=3=first"]
    assert parse_tags(tags).messages == ("first", "second")
    assert parse_tags(["comment:other"]) is NONE


def test_outcomes():
    ok, fail = Expectation("success"), Expectation("failure")
    assert outcome(ok, "success", None, "x86_64") is Outcome.AS_EXPECTED
    assert outcome(ok, "failure", "verifier", "x86_64") is Outcome.UNEXPECTED
    assert outcome(fail, "failure", "verifier", "x86_64") is Outcome.AS_EXPECTED
    assert outcome(fail, "failure", "load", "x86_64") is Outcome.UNEXPECTED  # never reached the verifier
    assert outcome(fail, "success", None, "x86_64") is Outcome.UNEXPECTED
    assert outcome(Expectation("success", arches=("ARM64",)), "failure", "verifier", "x86_64") is Outcome.NOT_APPLICABLE
    assert outcome(Expectation("success", auxiliary=True), "failure", "verifier", "x86_64") is Outcome.NOT_APPLICABLE
    assert outcome(ok, "timeout", None, "x86_64") is Outcome.NOT_APPLICABLE
    assert outcome(None, "failure", "verifier", "x86_64") is Outcome.NOT_APPLICABLE


def test_flips_are_read_through_the_expectation():
    accepted = {"verdict": "success", "insns": 10, "expect": "failure", "outcome": "unexpected"}
    rejected = {"verdict": "failure", "failure_class": "verifier", "error": "R1 !read_ok", "expect": "failure",
                "outcome": "as-expected"}
    change, detail = classify(accepted, rejected, Thresholds())
    assert change is Change.FIXED and detail.startswith("now rejected, as the test expects (__failure)")
    change, detail = classify(rejected, accepted, Thresholds())
    assert change is Change.REGRESSION and detail.startswith("now accepted, but the test expects rejection")


def test_btf_errors(obj):
    with pytest.raises(btf.BtfError):
        btf.func_tags(b"\x00" * 40)
    assert btf.object_func_tags(obj)["rejected"][0] == "comment:test_description=two messages"
