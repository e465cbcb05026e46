import collections

import pytest

from harness.parse import veristat
from harness.parse.verifier_log import FailureClass, LoadReason, classify, error_lines
from conftest import data, read_lines

RECS = {r["program"]: r for r in veristat.parse(read_lines("veristat-v-l4-6.12.117.txt"))}


def cls(prog):
    r = RECS[prog]
    return classify(r["verdict"], r["log"], r["libbpf"])


def test_recorded_run_classes():
    counts = collections.Counter((c and c.value, why and why.value) for c, why, _ in map(cls, RECS))
    assert counts == {("verifier", None): 44, ("load", "post-verification"): 22, (None, None): 14}


def test_verifier_rejection_error_line_is_the_last_message():
    assert cls("invalid_range_check") == (FailureClass.VERIFIER, None,
                                          "R0 max value is outside of the allowed memory range")
    assert cls("task_kfunc_raw_tp")[2] == "calling kernel function bpf_task_from_pid is not allowed"
    assert cls("reference_tracking_leak_potential_reference")[2] == "Unreleased reference id=2 alloc_insn=12"


def test_stats_are_not_messages():
    log = RECS["invalid_range_check"]["log"]
    # 6.12 prints the "doesn't return scalar" note before the real error; on 6.1 it *is* the error
    assert error_lines(log) == ["Global function invalid_range_check() doesn't return scalar. Only those are supported.",
                                "invalid access to map value, value_size=48 off=268435456 size=4",
                                "R0 max value is outside of the allowed memory range"]


def test_verified_but_libbpf_failed_is_a_load_failure():
    c, why, line = cls("dummy_prog_42_tc")
    assert (c, why) == (FailureClass.LOAD, LoadReason.POST_VERIFICATION)
    assert line.startswith("map 'map_prog1_tc': failed to initialize slot")


def test_success_has_no_class():
    assert cls("known_subreg_with_unknown_reg") == (None, None, None)


@pytest.mark.parametrize("libbpf,reason", [
    (["extern (func ksym) 'bpf_kfunc_call_test1': not found in kernel or module BTFs",
      "failed to load object 'x.bpf.o'"], LoadReason.MISSING_KFUNC),
    (["prog 'p': failed to find kernel BTF type ID of 'bpf_fentry_test1': -3",
      "prog 'p': failed to prepare load attributes: -3"], LoadReason.ATTACH_TARGET),
    (["map 'arena': failed to create: -22", "failed to load object 'x.bpf.o'"], LoadReason.MAP),
])
def test_load_failures_before_verification(libbpf, reason):
    c, why, line = classify("failure", [], libbpf)
    assert (c, why) == (FailureClass.LOAD, reason)
    assert line == libbpf[0]


def test_kernel_refused_without_log():
    c, why, line = classify("failure", [], ["prog 'p': BPF program load failed: Invalid argument",
                                            "prog 'p': failed to load: -22"])
    assert (c, why, line) == (FailureClass.LOAD, LoadReason.KERNEL, "prog 'p': BPF program load failed: Invalid argument")


def test_core_relocation_poison_is_a_load_failure():
    log = ["0: (85) call unknown#195896080", "invalid func unknown#195896080",
           "processed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0"]
    c, why, line = classify("failure", log, ["prog 'p': relo #0: <byte_off> [7] struct x.y (0:1 @ offset 4) failed"])
    assert (c, why) == (FailureClass.LOAD, LoadReason.CORE_RELO)
    assert line.startswith("prog 'p': relo #0:")


def test_every_class_on_real_6_1_190_records():
    """Records from a real 6.1.190 guest (6.1.192 selftests): one or more per failure reason."""
    from harness.cell import row_of
    from conftest import recorded_results
    rows = {}
    for rec in recorded_results("results-6.1.190-classes.jsonl"):
        if rec["kind"] == "result":
            r = row_of(rec)
            rows[(r.object, r.program)] = r
    want = {
        ("test_global_func16", "global_func16"): ("verifier", None, "Caller passes invalid args into func#1"),
        ("test_global_func7", "global_func7"):
            ("verifier", None, "Global function foo() doesn't return scalar. Only those are supported."),
        ("kfunc_call_race", "kfunc_call_fail"): ("load", "missing-kfunc",
            "extern (func ksym) 'bpf_testmod_test_mod_kfunc': not found in kernel or module BTFs"),
        ("ksym_race", "ksym_fail"): ("load", "missing-btf",
            "extern (var ksym) 'bpf_testmod_ksym_percpu': not found in kernel BTF"),
        ("fexit_bpf2bpf", "test_main"): ("load", "attach-target",
            "prog 'test_main': failed to find kernel BTF type ID of 'test_pkt_access': -3"),
        ("fexit_bpf2bpf", "new_get_constant"): ("load", "attach-target",
            "prog 'new_get_constant': attach program FD is not set"),
        ("bloom_filter_bench", "bloom_lookup"): ("load", "map",
            "map 'bloom_map': failed to create: Invalid argument(-22)"),
        ("sockmap_parse_prog", "bpf_prog1"): ("load", "prog-type",
            "prog 'bpf_prog1': missing BPF prog type, check ELF section name 'sk_skb1'"),
        ("test_core_autosize", "handle_signed"): ("load", "core-relocation", "invalid func unknown#195896080"),
    }
    for key, (cls_, reason, error) in want.items():
        r = rows[key]
        assert (r.failure_class, r.load_reason, r.error) == (cls_, reason, error), key
    # __kconfig externs resolve because the runner provides the kernel's own config in the guest
    assert all(r.verdict.value == "success" for k, r in rows.items() if k[0] == "bpf_cubic")


def _by_hand(kernel: str) -> dict:
    import re
    from harness.parse.veristat import parse
    text = data(f"veristat-7.3.4-v-by-hand-on-{kernel}.txt").read_text(errors="replace")
    parts = re.split(r"^=== (\S+)/(\S+)\n", text, flags=re.M)[1:]
    out = {}
    for i in range(0, len(parts), 3):
        (rec,) = list(parse(parts[i + 2].split("\n"), None))
        out[(parts[i], parts[i + 1])] = rec
    return out


@pytest.mark.parametrize("kernel,rejected", [("7.3.4", 22), ("6.12.117", 26)])
def test_errors_of_a_batch_equal_each_programs_own_log_run_by_hand(kernel, rejected):
    """Issue 17: 7.3.4's veristat, on a 6.12.117 and a 7.3.4 kernel.  The runner's batch (level 4, several objects
    in one veristat) must give every rejected program the error line of its own `veristat -v` log, run by hand."""
    from harness.parse.veristat import parse
    batch = {(r["object"], r["program"]): r for r in
             parse(read_lines(f"veristat-7.3.4-v-l4-batch-on-{kernel}.txt"))}
    hand = _by_hand(kernel)
    assert set(batch) == set(hand) and len(batch) == 53
    failed = [k for k, r in batch.items() if r["verdict"] == "failure"]
    assert len(failed) == rejected
    for key in failed:
        ours = classify("failure", batch[key]["log"], batch[key]["libbpf"])
        assert ours == classify("failure", hand[key]["log"], hand[key]["libbpf"]), key
        assert ours[0] is FailureClass.VERIFIER and not ours[2].startswith(("subprog ", "Failed to load", "stack depth"))
        # veristat's own line about a failed load is with the program it names, never with the one before
        assert all(ln.split()[4] == key[1] for ln in batch[key]["libbpf"] if ln.startswith("Failed to load program"))
    for key, r in batch.items():
        assert not any(ln.startswith("Failed to load program") for ln in r["log"]), key


def test_the_7x_case_from_the_issue():
    from harness.parse.veristat import parse
    batch = {(r["object"], r["program"]): r for r in parse(read_lines("veristat-7.3.4-v-l4-batch-on-7.3.4.txt"))}
    r = batch[("verifier_set_retval", "cgroup_dev_set_retval_pruning_bypass")]
    assert classify("failure", r["log"], r["libbpf"])[2] == (
        "At bpf_set_retval the register R1 has unknown scalar value should have been in [-4095, 0]")
    assert r["libbpf"] == ["Failed to load program cgroup_dev_set_retval_pruning_bypass -22"]
    # the object's BTF, refused by the kernel at open, is nobody's log and nobody's error
    first = batch[("verifier_set_retval", "lsm_cgroup_set_retval_zero_valid")]
    assert not any(ln.startswith("[") for ln in first["libbpf"]) and first["verdict"] == "success"


def test_a_7x_rejection_explained_by_the_kernel():
    """7.x kernels append "Verification failed: ..." with a reason and a suggestion at log level 1: the error
    line is the verifier's message before it, and the explanation is kept apart."""
    from harness.parse.verifier_log import diagnosis
    log = _by_hand("7.3.4")[("verifier_and", "invalid_range_check")]["log"]
    assert classify("failure", log, [])[2] == "R0 max value is outside of the allowed memory range"
    why = diagnosis(log)
    assert why[0] == "Verification failed: Memory Safety: Access outside bounds"
    assert "Suggestion:" in why and not any(ln.startswith("verification time") for ln in why)
    assert diagnosis(_by_hand("6.12.117")[("verifier_and", "invalid_range_check")]["log"]) == []


def test_a_log_of_stats_alone_has_no_error_line():
    """6.12.117 running 7.3.4's verifier_cgroup_storage: -EFAULT, and a log of stats only ("stack depth " empty)."""
    log = ["verification time 18 usec", "stack depth ", "processed 0 insns (limit 1000000) max_states_per_insn 0 "
           "total_states 0 peak_states 0 mark_read 0"]
    libbpf = ["Failed to load program cpu_cgroup_storage_access_1 -14"]
    assert classify("failure", log, libbpf) == (FailureClass.LOAD, LoadReason.POST_VERIFICATION,
                                                "Failed to load program cpu_cgroup_storage_access_1 -14")


def test_a_source_line_after_the_error_is_not_the_error():
    """Recorded in this session's default run (6.12.115, x86_64 and arm64, level 4): the verifier prints the failing
    instruction's source line (BTF line info) after its message; it was stored as the error."""
    log = ["Global function ldsx_ctx_1() doesn't return scalar. Only those are supported.",
           "invalid bpf_context access off=0 size=4", "; asm volatile ( @ verifier_ldsx.c:152",
           "verification time 518 usec", "stack depth 0",
           "processed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0"]
    assert classify("failure", log, [])[2] == "invalid bpf_context access off=0 size=4"


def test_an_object_7x_veristat_could_not_prepare_gives_load_failures_not_verdicts():
    """Recorded in a 7.3.4 guest (tests/data/veristat-7.3.4-unprepared-recorded.sh): mem_rdonly_untrusted's
    bpf_testmod kfunc is not in the kernel, so veristat cannot prepare the object, yet it loads each program
    unrelocated.  The kernel then "accepts" btf_id_to_ptr_mem and rejects the rest with "last insn is not an exit
    or jmp" or "jump out of range".  None of that is the kernel's answer for these programs: each is a load failure
    naming libbpf's reason, with no cost.  The objects before and after it are read as before."""
    from harness.cell import row_of
    from harness.store import Verdict
    recs = list(veristat.parse(read_lines("veristat-7.3.4-v-l4-batch-unprepared-on-7.3.4.txt")))
    by_obj = collections.defaultdict(dict)
    for r in recs:
        by_obj[r["object"]][r["program"]] = r
    bad = by_obj["mem_rdonly_untrusted"]
    assert len(bad) == 20 and bad["btf_id_to_ptr_mem"]["verdict"] == "success"
    assert {r["log"][0] for r in bad.values() if r["verdict"] == "failure"} >= {"last insn is not an exit or jmp"}
    reason = "extern (func ksym) 'bpf_kfunc_trusted_num_test': not found in kernel or module BTFs"
    for prog, r in bad.items():
        assert veristat.unprepared(r["libbpf"]) and r["libbpf"][:2] == [
            reason, "Failed to prepare BPF object for loading -22"], prog
        row = row_of(r)
        assert (row.verdict, row.failure_class, row.load_reason) == (Verdict.FAILURE, "load", "missing-kfunc"), prog
        assert row.error == f"object not prepared: {reason}" and row.insns is None and row.states is None
    for obj in ("verifier_and", "verifier_bswap"):
        for prog, r in by_obj[obj].items():
            assert not veristat.unprepared(r["libbpf"]) and not any("prepare" in ln for ln in r["libbpf"]), prog
            row = row_of(r)
            assert row.verdict.value == r["verdict"] and row.insns == r["insns"] > 0, prog
    assert row_of(by_obj["verifier_bswap"]["bswap_reset_reg_id"]).failure_class == "verifier"
    assert row_of(by_obj["verifier_and"]["invalid_range_check"]).error == (
        "R0 max value is outside of the allowed memory range")
