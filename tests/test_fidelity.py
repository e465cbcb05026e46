"""UML vs VM fidelity on results recorded from a real UML 6.12.117 cell and a real 6.12.117 TCG guest."""

from pathlib import Path
from types import SimpleNamespace

from harness import fidelity
from harness.fidelity import Cause
from conftest import stored_rows


UML, VM = stored_rows("results-6.12.117-uml.jsonl"), stored_rows("results-6.12.117-vm-uml-pairs.jsonl")
RECORDS = Path(__file__).resolve().parent.parent / "docs" / "fidelity"
"""The fidelity records the docs' tables are generated from (real UML and TCG cells' results)."""


def test_every_divergence_has_a_cause_and_identical_ones_count():
    f = fidelity.compare(UML, VM)
    assert f.total == 17 and f.identical == 2
    causes = {(d.object, d.program): d.cause for d in f.divergences}
    assert causes[("verifier_tailcall_jit", "main")] is Cause.NO_JIT_TAILCALL
    assert causes[("arena_atomics", "add")] is Cause.ARENA
    assert causes[("verifier_iterating_callbacks", "bpf_loop_iter_limit_nested")] is Cause.NO_JIT_OTHER
    # libbpf's poisoned call: the cpumask kfuncs are only built with CONFIG_BPF_JIT
    assert causes[("verifier_kfunc_prog_types", "cpumask_kfunc_syscall")] is Cause.CONFIG
    assert sum(c is Cause.NO_JIT_KFUNC for c in causes.values()) == 2
    assert sum(c is Cause.PROG_TYPE for c in causes.values()) == 3  # raw_tp etc.: no BPF_EVENTS in UML
    assert sum(c is Cause.ATTACH_TARGET for c in causes.values()) == 2
    assert sum(c is Cause.CONFIG for c in causes.values()) == 3
    assert all(isinstance(c, Cause) for c in causes.values()) and len(causes) == len(f.divergences)


def test_programs_that_never_reached_the_verifier_are_not_covered_never_unchanged():
    f = fidelity.compare(UML, VM)
    assert sum(d.cause in fidelity.NOT_COVERED for d in f.divergences) == 11
    # and the two kfunc calls an interpreter cannot make: rejected before the first instruction
    kfunc = [d for d in f.divergences if d.cause is Cause.NO_JIT_KFUNC]
    assert len(kfunc) == 2 and all(d.uml["insns"] == 0 and d.not_covered for d in kfunc)
    assert f.not_covered == 13 and f.covered == f.total - 13
    # a JIT-only feature met after verifying instructions: covered
    assert not next(d for d in f.divergences if d.cause is Cause.NO_JIT_TAILCALL).not_covered


def test_the_rendering_gives_the_share_and_other_with_its_error_lines():
    f = fidelity.compare(UML, VM)
    cell = lambda kid, rel: SimpleNamespace(kernel_id=kid, release=rel, corpus_id="c31a")  # noqa: E731
    text = fidelity.render(f, cell("6.12.117-uml", "6.12.117"), cell("6.12.117", "6.12.117+deb12-amd64"))
    assert "identical (verdict and insns): 2/17 (11.8%)" in text
    assert "not-covered: 13" in text
    assert "  no-JIT kfunc call [not-covered]: 2\n" in text and "  no-JIT tail call in subprograms: 1\n" in text
    assert ("verifier_kfunc_prog_types/cpumask_kfunc_syscall: UML failure 1 insns: invalid func "
            "unknown#2002000004; VM success 20 insns") in text


BPF_EVENTS_UML = stored_rows("results-6.12.117-uml-bpf-events.jsonl")


def test_with_bpf_events_tracing_programs_reach_the_verifier_and_match_the_vm():
    """UML built with patch 0002 (BPF_EVENTS): raw_tp/tracepoint/perf_event programs are verified."""
    f = fidelity.compare(BPF_EVENTS_UML, VM)
    assert f.total == 52 and f.identical == 36
    spill_fill = [k for k in BPF_EVENTS_UML if k[0] == "verifier_spill_fill"]
    assert len(spill_fill) == 35  # 5 of them raw_tp: not-covered before BPF_EVENTS
    for k in spill_fill:
        assert (BPF_EVENTS_UML[k]["verdict"], BPF_EVENTS_UML[k]["insns"]) == (VM[k]["verdict"], VM[k]["insns"])
    causes = {(d.object, d.program): d.cause for d in f.divergences}
    # the program types load now; what stops them is the kfunc call an interpreter cannot make
    assert causes[("verifier_kfunc_prog_types", "task_kfunc_raw_tp")] is Cause.NO_JIT_KFUNC
    assert causes[("verifier_kfunc_prog_types", "task_kfunc_perf_event")] is Cause.NO_JIT_KFUNC
    assert Cause.PROG_TYPE not in causes.values()


def test_fentry_without_a_jit_trampoline_is_not_covered_even_when_both_reject():
    f = fidelity.compare(BPF_EVENTS_UML, VM)
    causes = {(d.object, d.program): d.cause for d in f.divergences}
    assert causes[("verifier_d_path", "d_path_accept")] is Cause.NO_JIT_TRAMPOLINE
    # both reject, but UML never verified an instruction (ENOMEM from the missing trampoline): not "cost"
    assert BPF_EVENTS_UML[("verifier_d_path", "d_path_reject")]["insns"] == 0
    assert causes[("verifier_d_path", "d_path_reject")] is Cause.NO_JIT_TRAMPOLINE
    assert Cause.NO_JIT_TRAMPOLINE in fidelity.NOT_COVERED
    # 4 trampolines, 3 cpumask kfuncs (built only with CONFIG_BPF_JIT), 8 kfunc calls without a JIT
    assert f.not_covered == 15
    other = [d for d in f.divergences if d.cause is Cause.OTHER]
    assert [(d.object, d.program) for d in other] == [("verifier_bpf_fastcall", "cumulative_stack_depth")]
    assert "combined stack size of 2 calls is 544" in other[0].detail


SCREEN_UML, SCREEN_VM = stored_rows("results-6.12.117-uml-screen.jsonl"), stored_rows("results-6.12.117-vm-screen.jsonl")


def test_whole_corpus_causes_uml_own_types_helpers_and_hooks():
    """Programs from the whole 6.12 corpus (configs/fast-lane.yaml) whose UML results have causes
    the verifier_* objects do not show."""
    f = fidelity.compare(SCREEN_UML, SCREEN_VM)
    causes = {(d.object, d.program): d for d in f.divergences}
    # libbpf poisoned the instruction whose CO-RE relocation failed: UML's pt_regs is not x86's
    d = causes[("bpf_syscall_macro", "handle_sys_prctl")]
    assert d.cause is Cause.CORE_RELO and d.not_covered and "unknown#195896080" in d.uml["error"]
    assert causes[("test_vmlinux", "handle__tp")].cause is Cause.CORE_RELO
    assert causes[("test_seg6_loop", "__add_egr_x")].cause is Cause.CONFIG  # seg6 helpers: IPV6_SEG6_BPF
    assert causes[("mptcpify", "mptcpify")].cause is Cause.ATTACH_TARGET  # fmod_ret hook not registered
    # both reject, but UML for a reason only UML has: that reason, not "same verdict, other insns"
    assert causes[("cpumask_failure", "test_alloc_double_release")].cause is Cause.CONFIG
    assert causes[("tailcall_bpf2bpf_hierarchy2", "classifier_0")].cause is Cause.NO_JIT_TAILCALL
    # both verified, other costs: UML's kernel types steer the CO-RE branches (no MPTCP, other structs)
    assert causes[("mptcp_sock", "_sockops")].cause is Cause.COST
    assert not causes[("mptcp_sock", "_sockops")].not_covered
    assert causes[("cgrp_kfunc_failure", "cgrp_kfunc_acquire_null")].not_covered  # 0 insns in UML
    assert f.not_covered == 7 and Cause.OTHER not in {d.cause for d in f.divergences}
    # bpf_testmod's kfuncs are in neither kernel: identical, and verified by neither backend
    assert (SCREEN_UML[("cb_refs", "leak_prog")]["verdict"], SCREEN_VM[("cb_refs", "leak_prog")]["verdict"]) == \
        ("failure", "failure")
    assert (f.total, f.identical, f.covered, f.neither) == (11, 1, 3, 1)


def test_a_diff_of_two_uml_releases_never_counts_what_uml_did_not_verify_as_unchanged():
    """The same recorded UML rows as both releases: nothing moved, but only the programs UML really
    verified are unchanged; the rest UML verified on neither side."""
    from harness.diff import diff
    alone = {k for k, row in SCREEN_UML.items() if fidelity.uncovered(row)}
    assert alone == {("cgroup_ancestor", "log_cgroup_id"), ("cgrp_kfunc_failure", "cgrp_kfunc_acquire_null"),
                     ("mptcpify", "mptcpify"), ("bpf_syscall_macro", "handle_sys_prctl"), ("test_vmlinux", "handle__tp"),
                     ("cpumask_failure", "test_alloc_double_release"), ("test_seg6_loop", "__add_egr_x"),
                     ("cb_refs", "leak_prog")}
    assert diff(SCREEN_UML, SCREEN_UML) == ([], 11)
    assert diff(SCREEN_UML, SCREEN_UML, uncovered=fidelity.uncovered) == ([], 3)
    # judged alone, UML's verdict agrees with what the comparison against the VM says
    f = fidelity.compare(SCREEN_UML, SCREEN_VM)
    assert {(d.object, d.program) for d in f.divergences if d.not_covered} == alone - {("cb_refs", "leak_prog")}


JIT_UML, JIT_VM = stored_rows("results-6.12.117-uml-jit.jsonl"), stored_rows("results-6.12.117-vm-jit.jsonl")


def test_with_the_jit_capability_patch_uml_verifies_what_needed_a_jit():
    """UML built with patch 0003 (the verifier's JIT hooks answered as x86-64's, CONFIG_BPF_JIT): kfunc
    calls, trampolines and the cpumask kfuncs are verified with the VM's insns; what needs a JIT image
    is refused only after verification."""
    f = fidelity.compare(JIT_UML, JIT_VM)
    causes = {(d.object, d.program): d for d in f.divergences}
    assert (JIT_UML[("verifier_d_path", "d_path_accept")]["verdict"], JIT_UML[("verifier_d_path", "d_path_accept")]["insns"]) == \
        ("success", 9)  # an fentry program: the trampoline is made at attach, not at load
    assert JIT_UML[("verifier_kfunc_prog_types", "task_kfunc_raw_tp")]["insns"] == 3  # rejected as in the VM
    for key in (("verifier_bits_iter", "bad_words"), ("verifier_kfunc_prog_types", "cpumask_kfunc_syscall")):
        d = causes[key]
        assert d.cause is Cause.NO_JIT_RUNTIME and not d.not_covered and d.uml["insns"] == d.vm["insns"] > 0
    d = causes[("verifier_global_ptr_args", "trusted_acq_rel")]  # with subprograms: refused in fixup, after do_check
    assert d.cause is Cause.NO_JIT_KFUNC and d.uml["insns"] == d.vm["insns"] == 10 and not d.not_covered
    assert causes[("verifier_tailcall_jit", "main")].cause is Cause.NO_JIT_TAILCALL
    assert (f.total, f.identical, f.not_covered) == (6, 2, 0)
    # the verifier's own answer: the four refused after the verifier accepted them, each with the VM's insns
    # (ENOTSUPP for a JIT image twice, fixup_call_args' kfunc and tail call refusals once each), count
    assert f.verifier_identical == 6
    assert [fidelity.verifier_verdict(JIT_UML[k]) for k in (("verifier_bits_iter", "bad_words"),
                                                             ("verifier_global_ptr_args", "trusted_acq_rel"))] == \
        ["success", "success"]


def test_the_verifiers_answer_is_told_apart_from_a_refusal_after_it():
    """A refusal for want of a JIT counts as the verifier's acceptance only when it comes after the walk (the
    walk's insns are there); the same words before the first instruction, or a verifier rejection, keep the
    verdict."""
    row = {"verdict": "failure", "insns": 12, "error": "calling kernel functions are not allowed in non-JITed programs"}
    assert fidelity.verifier_verdict(row) == "success"
    assert fidelity.verifier_verdict(dict(row, insns=0)) == "failure"  # refused before verifying anything
    assert fidelity.verifier_verdict(dict(row, error="JIT is required for calling kernel function")) == "failure"
    assert fidelity.verifier_verdict(dict(row, error="bpf_throw cannot be used inside bpf_rcu_read_lock-ed region")) \
        == "failure"
    assert fidelity.verifier_verdict(dict(row, error="unknown error (-524)")) == "success"
    assert fidelity.verifier_verdict(dict(row, verdict="success", error=None)) == "success"


def test_uml_only_names_rejections_a_vm_would_not_make():
    """Recorded in a UML 6.12.113 cell (tests/integration/test_build.py): the verifier walked 12 insns, then
    refused the kfunc call for want of a JIT; a VM verifies the program."""
    row = {"verdict": "failure", "insns": 12, "error": "calling kernel functions are not allowed in non-JITed programs",
           "log": "", "libbpf": ""}
    assert fidelity.uncovered(row) is False  # UML verified up to the call: covered for release-to-release diffs
    assert fidelity.uml_only(row) is fidelity.Cause.NO_JIT_KFUNC
    assert fidelity.uml_only(dict(row, error="bpf_throw cannot be used inside bpf_rcu_read_lock-ed region", insns=8)) is None
    assert fidelity.uml_only(dict(row, verdict="success")) is None
    assert fidelity.uml_only(dict(row, error="", insns=0)) is fidelity.Cause.OTHER


def test_the_markdown_section_is_the_same_figures_and_causes():
    """`bpf-harness fidelity --format md` (what docs/fast-lane-fidelity.md is generated with): the figures and one row
    per cause, with how many of the cause still give the VM's verifier answer."""
    f = fidelity.compare(JIT_UML, JIT_VM)
    cell = lambda kid, rel: SimpleNamespace(kernel_id=kid, release=rel, corpus_id="c")  # noqa: E731
    md = fidelity.render_md(f, cell("6.12.117-uml", "6.12.117"), cell("6.12.117", "6.12.117+deb12-amd64"), limit=1)
    lines = md.splitlines()
    assert lines[0] == "### UML 6.12.117-uml vs VM 6.12.117 (6.12.117+deb12-amd64), 6 programs"
    assert "| identical (verdict and insns) | 2 | 33.3% |" in lines
    assert "| the verifier's answer identical | 6 | 100.0% |" in lines
    assert "| verified, then refused: no JIT to run it | 2 | 0 | 2 | `verifier_bits_iter/bad_words` |" in lines
    assert "| no-JIT kfunc call | 1 | 0 | 1 | `verifier_global_ptr_args/trusted_acq_rel` |" in lines


def test_a_cell_that_stopped_early_is_never_compared():
    """A UML cell that panicked at boot has every program not-run: compared, it would read as 919 divergences
    (seen on a 6.1 store).  The pairing skips it; naming it gets one line saying so."""
    import pytest
    from harness.errors import ConfigError
    cell = lambda kid, backend, status: SimpleNamespace(  # noqa: E731
        kernel_id=kid, arch="x86_64", backend=backend, status=status, complete=status == "complete",
        package_version="6.1.192-3", corpus_id="c", key=f"{kid}/x86_64")
    dead, good, vm = cell("6.1.192-uml", "uml", "panic"), cell("6.1.192-uml", "uml", "complete"), cell("6.1.192", "vm", "complete")
    assert fidelity.pairs([dead, good, vm]) == [(good, vm)]
    with pytest.raises(ConfigError, match="cell 6.1.192-uml/x86_64 is panic: fidelity compares complete cells only"):
        fidelity.check_pair(dead, vm)


def test_the_docs_page_is_what_the_recorded_runs_give():
    """docs/fast-lane-fidelity.md is generated from docs/fidelity/*.json.gz (real UML and TCG cells' results):
    a page edited by hand, or a record replaced without regenerating the page, fails here."""
    import subprocess
    import sys
    root = Path(__file__).resolve().parent.parent
    records = sorted(RECORDS.glob("*.json.gz"))
    assert records, "no fidelity record in docs/fidelity"
    done = subprocess.run([sys.executable, str(root / "ci" / "fidelity_docs.py"), "--check"], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    page = (root / "docs" / "fast-lane-fidelity.md").read_text()
    for path in records:
        rec = fidelity.load(path)
        f = rec.fidelity()
        assert f.total == len(rec.uml_results) and f"| the verifier's answer identical | {f.verifier_identical} |" in page


def test_a_record_keeps_what_the_classification_reads(tmp_path):
    """A record of the recorded 6.12.117 pair gives the same figures, causes and rendering as the results it was
    made from, though it keeps no VM log and only the tails of UML's texts."""
    cell = SimpleNamespace(kernel_id="6.12.117-uml", release="6.12.117", corpus_id="c", backend="uml", accel="native",
                           seconds=41.0, finished=1764979200.0, started=1764979100.0)
    vm = SimpleNamespace(kernel_id="6.12.117", release="6.12.117+deb12-amd64", corpus_id="c", backend="vm",
                         accel="tcg", seconds=700.0, finished=1764979900.0, started=1764979200.0)
    rec = fidelity.Record.of("6.12.117", cell, vm, UML, VM)
    fidelity.save(rec, tmp_path / "r.json.gz")
    first = (tmp_path / "r.json.gz").read_bytes()
    fidelity.save(rec, tmp_path / "r.json.gz")
    assert (tmp_path / "r.json.gz").read_bytes() == first  # same record, same bytes (no timestamp inside)
    back = fidelity.load(tmp_path / "r.json.gz")
    assert all("log" not in r and "libbpf" not in r for r in back.vm_results.values())
    assert fidelity.render(back.fidelity(), back.uml, back.vm, 100) == fidelity.render(fidelity.compare(UML, VM),
                                                                                      cell, vm, 100)
    page = fidelity.render_page([back])
    assert "## 6.12.117 (2025-12-06; UML cell 41 s, TCG cell 700 s)" in page
    assert f"| identical (verdict and insns) | {fidelity.compare(UML, VM).identical} |" in page


def test_a_damaged_record_is_one_line_naming_it(tmp_path):
    import pytest
    from harness.errors import ConfigError
    bad = tmp_path / "bad.json.gz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(ConfigError, match="bad.json.gz: not a fidelity record"):
        fidelity.load(bad)
    with pytest.raises(ConfigError, match="no such fidelity record"):
        fidelity.load(tmp_path / "none.json.gz")


def test_the_6_1_libbpf_refusal_after_verification_is_read_as_the_verifiers_acceptance():
    """6.1.192's selftests carry a libbpf that cannot name ENOTSUPP ("ERROR: strerror_r(524)=22"): the refusal
    for want of a JIT after the verifier accepted is still read as acceptance (the recorded 6.1.192 pair)."""
    rec = fidelity.load(RECORDS / "6.1.192.json.gz")
    key = ("kfunc_call_test", "kfunc_call_test1")
    uml, vm = rec.uml_results[key], rec.vm_results[key]
    assert "strerror_r(524)" in uml["error"] and uml["insns"] == vm["insns"] == 20
    assert fidelity.verifier_verdict(uml) == "success" == vm["verdict"] and fidelity.verifier_agrees(uml, vm)
    assert fidelity.cause_of(uml, vm) is Cause.NO_JIT_RUNTIME


def test_every_divergence_of_the_recorded_releases_has_a_cause_other_than_other():
    """The recorded 6.12.113 and 6.1.192 pairs (docs/fidelity): no divergence is left as `other`; UML's one CPU,
    its CO-RE ambiguities and the VM's own load failures each get theirs."""
    new = {(d.object, d.program): d.cause for d in fidelity.load(RECORDS / "6.12.113.json.gz").fidelity().divergences}
    old = {(d.object, d.program): d.cause for d in fidelity.load(RECORDS / "6.1.192.json.gz").fidelity().divergences}
    assert Cause.OTHER not in new.values() and Cause.OTHER not in old.values()
    assert new[("test_ksyms", "handler")] is Cause.ONE_CPU  # extern '__per_cpu_start' (strong): not resolved
    assert new[("test_ksyms_btf", "handler")] is Cause.ONE_CPU  # no per-cpu variables in UML's BTF
    assert new[("test_xdp_with_cpumap_helpers", "xdp_dummy_cm")] is Cause.ONE_CPU  # E2BIG: more CPUs than UML has
    assert new[("connect_unix_prog", "connect_unix_prog")] is Cause.CORE_RELO  # relocation decision ambiguity
    assert old[("test_sk_assign_libbpf", "bpf_sk_assign_test")] is Cause.VM_LOAD


def test_bench_fidelity_prints_the_targets_from_the_records():
    import subprocess
    import sys
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, str(root / "ci" / "bench_fidelity.py"), str(RECORDS / "6.12.113.json.gz")],
                          capture_output=True, text=True)
    rec = fidelity.load(RECORDS / "6.12.113.json.gz")
    f, v = rec.fidelity(), rec.verifier()
    assert f"the verifier's answer {v.verifier_identical}/{v.total}" in done.stdout
    assert f"the verifier's answer {f.verifier_identical}/{f.total}" in done.stdout
    met = v.verifier_identical >= 0.99 * v.total and f.verifier_identical >= 0.95 * f.total
    assert done.returncode == (0 if met else 1) and ("NOT met" in done.stdout) != met


def test_a_uml_pair_is_judged_on_the_verifiers_answer_as_a_vm_pair_is():
    """Two real UML cells of the fixture range (tests/data/bisect-...json): before "bpf: Fix exception exit lock
    checking for subprogs" the verifier accepted the __failure test and the kernel refused it for want of a JIT;
    from it on the verifier rejects it.  As recorded that is an error change; as the verifier answered, it is the fix
    a VM pair reports.  The findings keep the results as recorded, and a refusal alike on both sides is unchanged."""
    import json
    from harness.diff import Change, diff
    recorded = json.loads((Path(__file__).parent / "data" / "bisect-6.12.113-uml-reject_subprog_with_rcu_read_lock.json")
                          .read_text())
    by_subject = {v["subject"]: v for v in recorded.values()}
    key = ("exceptions_fail", "reject_subprog_with_rcu_read_lock")
    before = {key: by_subject["bpf: Mark bpf_refcount field as unique"]}
    after = {key: by_subject["bpf: Fix exception exit lock checking for subprogs"]}
    assert before[key]["verdict"] == after[key]["verdict"] == "failure"
    (f,), _ = diff(before, after)
    assert f.change is Change.ERROR_CHANGED
    (f,), _ = diff(before, after, answer=fidelity.verifier_answer)
    assert f.change is Change.FIXED and f.base is before[key] and "bpf_throw cannot be used" in f.detail
    assert fidelity.verifier_answer(before[key])["verdict"] == "success"
    assert fidelity.verifier_answer(before[key])["insns"] == before[key]["insns"] == 12
    assert fidelity.verifier_answer(after[key]) is after[key]
    assert diff(before, before, answer=fidelity.verifier_answer) == ([], 1)


def test_the_7_x_refusals_after_verification_are_read_as_the_verifiers_acceptance():
    """7.3.4's veristat prints ENOTSUPP as a number ("Failed to load program NAME -524") and 7.x's verifier says
    one line for every JIT-only feature ("program requires BPF JIT compiler but it is not available"), both once
    the walk is done: the recorded 7.3.4 pair reads them as acceptance with the VM's insns."""
    rec = fidelity.load(RECORDS / "7.3.4.json.gz")
    for key, error, cause in ((("bpf_cc_cubic", "bpf_cubic_cong_control"), "Failed to load program "
                               "bpf_cubic_cong_control -524", Cause.NO_JIT_RUNTIME),
                              (("bpf_for_bench", "benchmark"), "program requires BPF JIT compiler but it is not "
                               "available", Cause.NO_JIT_OTHER)):
        uml, vm = rec.uml_results[key], rec.vm_results[key]
        assert uml["verdict"] == "failure" and uml["error"] == error and uml["insns"] == vm["insns"] > 0
        assert fidelity.verifier_verdict(uml) == "success" == vm["verdict"] and fidelity.verifier_agrees(uml, vm)
        assert fidelity.cause_of(uml, vm) is cause
    # a -524 before the walk (no insns processed) is no acceptance
    destroy = rec.uml_results[("bpf_qdisc_fifo", "bpf_fifo_destroy")]
    assert "-524" in destroy["libbpf"] and fidelity.verifier_verdict(destroy) == "failure"
    f = rec.fidelity()
    read = [d for d in f.divergences if d.verifier_agrees and not d.cause.name.startswith("NO_JIT")]
    assert not read  # every refusal read as the verifier's acceptance is one for want of a JIT
    assert sum(d.verifier_agrees for d in f.divergences) >= 600
    assert not any(fidelity.AFTER_VERIFICATION.search(str(d.uml.get("error") or "")) and d.uml.get("insns")
                   for d in f.divergences if d.cause is Cause.OTHER)


def test_a_program_of_an_object_7_x_veristat_could_not_prepare_is_not_covered_for_the_objects_reason():
    """7.3's veristat prepares each object once and, when that fails, still loads its programs unrelocated: the
    parser gives each program of the object libbpf's reason (recorded 7.3.4 pair), so UML never counts as
    verified what it walked unrelocated, and the cause is the object's."""
    rec = fidelity.load(RECORDS / "7.3.4.json.gz")
    causes = {(d.object, d.program): d.cause for d in rec.fidelity().divergences}
    cases = (  # a program that failed for its object's reason, the reason, its cause
        (("verifier_arena", "basic_alloc1"), "map 'arena': failed to create: -ENOMEM", Cause.ARENA),
        (("bpf_qdisc_fifo", "bpf_fifo_reset"), "struct_ops init_kern: struct bpf_struct_ops_Qdisc_ops is not "
         "found in kernel BTF", Cause.CONFIG),
        # before the fix, UML walked 3 unrelocated instructions of it ("R2 type=scalar expected=map_ptr")
        (("verifier_unpriv", "dummy_prog_loop1_socket"), "extern (var ksym) 'bpf_prog_active': not found in "
         "kernel BTF", Cause.ONE_CPU),
    )
    for key, reason, cause in cases:
        uml = rec.uml_results[key]
        assert uml["verdict"] == "failure" and uml["failure_class"] == "load" and not uml.get("insns"), key
        assert uml["error"].startswith("object not prepared: ") and reason in uml["libbpf"], key
        assert causes[key] is cause and fidelity.uncovered(uml) and rec.vm_results[key]["verdict"] == "success"
    assert sum(c is Cause.OTHER for c in causes.values()) <= 4
