"""UML vs VM fidelity on results recorded from a real UML 6.12.117 cell and a real 6.12.117 TCG guest."""

from harness import fidelity
from harness.fidelity import Cause
from conftest import stored_rows


UML, VM = stored_rows("results-6.12.117-uml.jsonl"), stored_rows("results-6.12.117-vm-uml-pairs.jsonl")


def test_every_divergence_has_a_cause_and_identical_ones_count():
    f = fidelity.compare(UML, VM)
    assert f.total == 17 and f.identical == 2
    causes = {(d.object, d.program): d.cause for d in f.divergences}
    assert causes[("verifier_tailcall_jit", "main")] is Cause.NO_JIT_TAILCALL
    assert causes[("arena_atomics", "add")] is Cause.ARENA
    assert causes[("verifier_iterating_callbacks", "bpf_loop_iter_limit_nested")] is Cause.NO_JIT_OTHER
    assert causes[("verifier_kfunc_prog_types", "cpumask_kfunc_syscall")] is Cause.OTHER
    assert sum(c is Cause.NO_JIT_KFUNC for c in causes.values()) == 2
    assert sum(c is Cause.PROG_TYPE for c in causes.values()) == 3  # raw_tp etc.: no BPF_EVENTS in UML
    assert sum(c is Cause.ATTACH_TARGET for c in causes.values()) == 2
    assert sum(c is Cause.CONFIG for c in causes.values()) == 2
    assert set(causes.values()) <= set(Cause)


def test_programs_that_never_reached_the_verifier_are_not_covered_never_unchanged():
    f = fidelity.compare(UML, VM)
    assert f.not_covered == sum(d.cause in fidelity.NOT_COVERED for d in f.divergences) == 10
    assert f.covered == f.total - 10


def test_the_rendering_gives_the_share_and_other_with_its_error_lines():
    f = fidelity.compare(UML, VM)
    cell = lambda kid, rel: {"kernel_id": kid, "release": rel, "corpus_id": "c31a"}  # noqa: E731
    text = fidelity.render(f, cell("6.12.117-uml", "6.12.117"), cell("6.12.117", "6.12.117+deb12-amd64"))
    assert "identical (verdict and insns): 2/17 (11.8%)" in text
    assert "not-covered: 10" in text
    assert ("verifier_kfunc_prog_types/cpumask_kfunc_syscall: UML failure 1 insns: invalid func "
            "unknown#2002000004; VM success 20 insns") in text
