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


def test_tags_read_from_real_objects_of_6_1_6_12_and_7_3():
    """Issue 17: 7.x numbers every tag (comment:N:test_...), and 0 of 2029 programs of 7.3.4's verifier_*
    objects got an expectation.  Tags recorded from real objects of each tree."""
    import json
    from conftest import data
    tags = json.loads(data("decl-tags-6.1-6.12-7.3.json").read_text())["tags"]
    got = {(v, o, p): parse_tags(t) for v, objs in tags.items() for o, progs in objs.items() for p, t in progs.items()}
    assert all(e.expect in ("success", "failure") for e in got.values()) and len(got) > 30
    assert any(t[0].startswith("comment:") and t[0].split(":")[1].isdigit() for t in tags["7.3"]["verifier_and"].values())
    bypass = got[("7.3", "verifier_set_retval", "cgroup_dev_set_retval_pruning_bypass")]
    assert (bypass.expect, bypass.messages, bypass.description) == (
        "failure", ("should have been in [-4095, 0]",), "bpf_set_retval bounds check survives state pruning")
    prec = got[("7.3", "verifier_precision", "bpf_atomic_fetch_add_map_precision")]
    assert prec.log_level == 2 and len(prec.messages) == 2 and prec.messages[0].startswith("mark_precise: frame0: regs=r1")
    assert prec.not_messages == ((2, "falling back to forcing all scalars precise"),)
    core = got[("7.3", "verifier_bitfield_write", "single_field_roundtrip")]
    assert core.skip.startswith("__btf_path: the selftest loads it against its own BTF (btf__core_reloc_bitfields.bpf.o)")
    assert outcome(core, "failure", "load", "x86_64") is Outcome.NOT_APPLICABLE
    assert got[("7.3", "verifier_and", "invalid_range_check")] == got[("6.12", "verifier_and", "invalid_range_check")]
    assert got[("6.1", "test_global_func10", "global_func10")].messages == ("invalid indirect access to stack",)


def test_7x_tags_in_source_order_and_what_veristat_cannot_check():
    tags = ["comment:12:test_expect_msg=second", "comment:3:test_expect_failure", "comment:9:test_expect_msg=first",
            "comment:10:test_expect_not_msg=between", "comment:13:test_expect_xlated=r0 = 0",
            "comment:14:test_jited=  endbr64", "comment:15:load_mode=jited"]
    e = parse_tags(tags)
    assert (e.expect, e.messages, e.not_messages) == ("failure", ("first", "second"), ((1, "between"),))
    assert [u.split(":")[0] for u in e.unchecked] == ["__xlated", "__jited"] and e.skip is None
    assert parse_tags(["comment:1:load_mode=no_jited", "comment:2:test_expect_success"]).skip.startswith(
        "__load_if_no_JITed")
    # a 7.x message that happens to start with digits and '=' is the message itself, not a 6.12 number
    assert parse_tags(["comment:4:test_expect_msg=0=zero"]).messages == ("0=zero",)
