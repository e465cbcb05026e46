"""How far a UML cell can be trusted: its results against a VM cell of the same kernel version and
objects, every divergence classified by cause (pure).

A program is ``identical`` when verdict and insns agree.  A program UML never verified while the VM
did is ``not-covered``: the fast lane says nothing about it, and says so.  That is every program UML
rejected before its first instruction (no JIT for a kfunc call or a trampoline, program type or
attach target unavailable), and every program UML saw other than the VM did (libbpf poisoned an
instruction because UML's kernel lacks a kfunc or a type).  Every other divergence gets a cause;
``other`` always carries its error lines.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from typing import TYPE_CHECKING, Mapping, Protocol

if TYPE_CHECKING:
    from harness.store import CellRecord


class Cell(Protocol):
    """What the renderers read of a cell: a stored :class:`~harness.store.CellRecord` or a recorded one."""
    kernel_id: str
    release: str | None
    corpus_id: str


class Cause(enum.Enum):
    NO_JIT_KFUNC = "no-JIT kfunc call"
    NO_JIT_TAILCALL = "no-JIT tail call in subprograms"
    NO_JIT_OTHER = "no-JIT (other JIT-only feature)"
    NO_JIT_TRAMPOLINE = "no-JIT trampoline (fentry/fexit/fmod_ret/LSM)"
    NO_JIT_RUNTIME = "verified, then refused: no JIT to run it"
    ARENA = "arena/mmap"
    ALIGNMENT = "alignment"
    ATTACH_TARGET = "attach target missing"
    PROG_TYPE = "program type unavailable"
    CONFIG = "kfunc/helper/BTF type missing from the UML config"
    CORE_RELO = "CO-RE relocation failed against UML's types"
    ONE_CPU = "UML runs one CPU (no SMP): per-cpu symbols, CPU-sized maps"
    LOAD = "both failed to load, differently"
    VM_LOAD = "the VM failed to load what UML verified"
    COST = "same verdict, other insns"
    OTHER = "other"


NOT_COVERED = (Cause.ATTACH_TARGET, Cause.PROG_TYPE, Cause.CONFIG, Cause.CORE_RELO, Cause.ONE_CPU, Cause.LOAD,
               Cause.ARENA, Cause.NO_JIT_TRAMPOLINE)
"""Causes that mean UML never verified the program as the VM did: not covered by the fast lane.
Any other cause is not covered either when UML stopped before the first instruction."""

_ENOTSUPP = (r"unknown error \(-524\)|failed to load: -524\b|strerror_r\(524\)"
             r"|Failed to load program \S+ -524\b")
"""Patch 0003: the verifier accepted the program, then loading needs a JIT image UML cannot make (ENOTSUPP), as
each selftests' libbpf and veristat say it: 6.12's libbpf names it, 6.1's cannot ("ERROR: strerror_r(524)=22"),
7.x's veristat prints the number ("Failed to load program NAME -524")."""

_RULES: tuple[tuple[re.Pattern[str], Cause], ...] = (
    (re.compile(r"JIT is required for calling kernel function|calling kernel functions are not allowed in non-JITed"),
     Cause.NO_JIT_KFUNC),
    (re.compile(r"tail_calls are not allowed in non-JITed programs|mixing of tail_calls and bpf-to-bpf calls"),
     Cause.NO_JIT_TAILCALL),
    # 7.x names no feature: every JIT-only one sets prog->jit_required, refused once the walk is done
    (re.compile(r"non-JITed|JIT does not support|requires JIT|jit_requested|requires BPF JIT compiler"),
     Cause.NO_JIT_OTHER),
    (re.compile(_ENOTSUPP), Cause.NO_JIT_RUNTIME),
    # libbpf poisons a call to a weak kfunc the kernel's BTF lacks (POISON_CALL_KFUNC_BASE 2002000000):
    # the kfunc is not built into this UML (e.g. cpumask kfuncs need CONFIG_BPF_JIT)
    (re.compile(r"invalid func unknown#2002\d{6}\b"), Cause.CONFIG),
    # a helper the program type has only with a config UML lacks (e.g. seg6 helpers: IPV6_SEG6_BPF), or that the
    # kernel does not build at all without one (bpf_skb_get_xfrm_state: XFRM)
    (re.compile(r"program of this type cannot use helper|unknown func bpf_\w+#\d+"), Cause.CONFIG),
    # UML is not SMP: its per-cpu variables are plain data that pahole does not describe (it emits per-cpu ones
    # only), so a typed __ksym variable (bpf_prog_active, ...) is not found, a weak one is left 0 by libbpf and
    # __per_cpu_start is not resolved; a cpumap larger than its one CPU is refused (E2BIG)
    (re.compile(r"type=scalar expected=percpu_ptr_|extern '__per_cpu_\w+'"
                r"|extern \(var ksym\) '\w+': not found in kernel BTF"
                r"|map '\w*cpu\w*': failed to create: (Argument list too long|-E2BIG)"), Cause.ONE_CPU),
    # a strong __ksym the kernel does not have
    (re.compile(r"extern '\w+' \(strong\): not resolved"), Cause.CONFIG),
    # a struct_ops type the kernel does not build without an option UML's fragment lacks (bpf qdisc: NET_SCH_BPF)
    (re.compile(r"struct_ops init_kern: struct \w+ is not found in kernel BTF"), Cause.CONFIG),
    # two types of UML's BTF match the program's CO-RE relocation with different answers
    (re.compile(r"relocation decision ambiguity"), Cause.CORE_RELO),
    # libbpf poisons an instruction whose CO-RE relocation failed (0xbad2310): UML's own kernel types
    # (its pt_regs, no x86 syscall wrappers) are not the ones the program was written against
    (re.compile(r"invalid func unknown#195896080\b"), Cause.CORE_RELO),
    # an fmod_ret target that UML's kernel does not register as modifiable
    (re.compile(r"is not modifiable"), Cause.ATTACH_TARGET),
    (re.compile(r"arena|failed to mmap|mmap\b", re.I), Cause.ARENA),
    (re.compile(r"misaligned|unaligned", re.I), Cause.ALIGNMENT),
)


@dataclasses.dataclass(frozen=True)
class Divergence:
    object: str
    program: str
    cause: Cause
    uml: Mapping
    vm: Mapping

    @property
    def not_covered(self) -> bool:
        return self.cause in NOT_COVERED or (self.uml["verdict"] == "failure" and not self.uml.get("insns"))

    @property
    def verifier_agrees(self) -> bool:
        """UML's kernel refused it only after its verifier accepted it as the VM's did (same insns)."""
        return verifier_agrees(self.uml, self.vm) and self.uml["verdict"] != self.vm["verdict"]

    @property
    def detail(self) -> str:
        u = f"UML {self.uml['verdict']} {self.uml.get('insns')} insns"
        v = f"VM {self.vm['verdict']} {self.vm.get('insns')} insns"
        if self.uml.get("error"):
            u += f": {self.uml['error']}"
        if self.vm.get("error"):
            v += f": {self.vm['error']}"
        return f"{u}; {v}"


def _texts(uml: Mapping) -> str:
    """What the rules search in a UML result: its error line, verifier log and libbpf output."""
    return "\n".join(str(uml.get(k) or "") for k in ("error", "log", "libbpf"))


def cause_of(uml: Mapping, vm: Mapping) -> Cause:
    """Why UML's result differs from the VM's (pure)."""
    if uml["verdict"] == vm["verdict"] and uml.get("insns") and vm.get("insns") is not None:
        # Both verified instructions (0 insns: UML stopped before the first one).  When both rejected
        # it, UML's own error may still be one only UML has (no JIT, a poisoned call): that is why.
        error = str(uml.get("error") or "") if uml["verdict"] == "failure" else ""
        return next((cause for rx, cause in _RULES if rx.search(error)), Cause.COST)
    text = _texts(uml)
    for rx, cause in _RULES:
        if rx.search(text):
            return cause
    if uml["verdict"] == "failure" and uml.get("insns") == 0 and "Cannot allocate memory" in text:
        # fentry/fexit/fmod_ret/LSM attach through a trampoline, which only a JIT builds: without one
        # the kernel fails the load with ENOMEM before verifying a single instruction
        return Cause.NO_JIT_TRAMPOLINE
    if uml.get("failure_class") == "load":
        reason = uml.get("load_reason")
        if reason == "attach-target":
            return Cause.ATTACH_TARGET
        if reason in ("missing-kfunc", "missing-btf"):
            return Cause.CONFIG
        if vm.get("failure_class") == "load":
            return Cause.LOAD  # the VM never verified it either
        if reason == "prog-type" or not (uml.get("log") or "").strip():
            return Cause.PROG_TYPE  # rejected with EINVAL and an empty log, before verification
    if uml.get("insns") and vm.get("failure_class") == "load" and not vm.get("insns"):
        return Cause.VM_LOAD  # the VM's kernel refused the object (a map it lacks) before verifying
    return Cause.OTHER


def uncovered(uml: Mapping) -> bool:
    """Judging a UML result alone (no VM result beside it, as in a diff of two UML releases): UML
    never verified this program as a VM would -- rejected before its first instruction, or libbpf
    changed it for want of a kfunc or type, or a cause only UML has (pure)."""
    if uml["verdict"] != "failure":
        return False
    if not uml.get("insns"):
        return True
    text = _texts(uml)
    return any(cause in NOT_COVERED and rx.search(text) for rx, cause in _RULES)


UML_ONLY = NOT_COVERED + (Cause.NO_JIT_KFUNC, Cause.NO_JIT_TAILCALL, Cause.NO_JIT_OTHER, Cause.NO_JIT_RUNTIME)


def uml_only(uml: Mapping) -> Cause | None:
    """The cause when a UML rejection is one a VM with a JIT would not make (a kfunc call or tail call without a JIT,
    a hook or type UML lacks), or when UML stopped before the first instruction; None otherwise (pure).  Stricter
    than :func:`uncovered`: a program UML verified up to a JIT-only instruction counts here.  A refusal after the
    verifier accepted (:func:`verifier_verdict`) still counts: a selftest's recorded outcome, which backport
    confirmation reads, is the refusal's, not the VM's answer (diffs judge :func:`verifier_answer`)."""
    if uml["verdict"] != "failure":
        return None
    text = _texts(uml)
    for rx, cause in _RULES:
        if cause in UML_ONLY and rx.search(text):
            return cause
    return Cause.OTHER if not uml.get("insns") else None


AFTER_VERIFICATION = re.compile(
    # fixup_call_args(), which bpf_check() runs once do_check() has accepted every path, refuses these without a JIT
    r"calling kernel functions are not allowed in non-JITed programs"
    r"|tail_calls are not allowed in non-JITed programs with bpf-to-bpf calls"
    r"|callbacks are not allowed in non-JITed programs"
    # 7.x's bpf_fixup_call_args(): the same refusals, or one line for every JIT-only feature (jit_required)
    r"|program requires BPF JIT compiler but it is not available"
    r"|stack args are not supported in non-JITed programs"
    r"|" + _ENOTSUPP)
"""A UML refusal that comes after the verifier accepted the program: its log has the whole walk's stats."""


def verifier_agrees(uml: Mapping, vm: Mapping) -> bool:
    """UML's verifier gave the VM's answer (pure): the same verdict and insns, or a refusal for want of a JIT
    after it accepted the program with the VM's insns (:func:`verifier_verdict`).  What the fast lane judges:
    a change of either shows in UML too."""
    return verifier_verdict(uml) == vm["verdict"] and uml.get("insns") == vm.get("insns")


def verifier_verdict(uml: Mapping) -> str:
    """The verifier's own answer in a UML result (pure): a program the verifier accepted and the kernel then
    refused for want of a JIT (:data:`AFTER_VERIFICATION`, with the instructions it processed) is ``success``,
    the verdict a VM with a JIT records; any other result keeps its verdict."""
    if uml["verdict"] == "failure" and uml.get("insns") and AFTER_VERIFICATION.search(str(uml.get("error") or "")):
        return "success"
    return uml["verdict"]


def verifier_answer(uml: Mapping) -> Mapping:
    """A UML result as its verifier answered (pure): a refusal after the verifier accepted (:func:`verifier_verdict`)
    reads as the acceptance, with the insns and states of the whole walk; any other result is itself.  What a UML
    pair is judged on (reports, bisection, backport confirmation), so that it flags what a VM pair would: a cost
    that moved, or a rejection where the verifier used to accept."""
    if verifier_verdict(uml) == uml["verdict"]:
        return uml
    return {**uml, "verdict": "success", "failure_class": None, "error": None}


@dataclasses.dataclass(frozen=True)
class Fidelity:
    total: int
    identical: int
    divergences: tuple[Divergence, ...]
    unverified: int = 0
    """Programs UML did not verify (:func:`uncovered`), whether or not the VM did."""
    verifier_identical: int = 0
    """Programs whose verifier answer is the VM's, verdict (:func:`verifier_verdict`) and insns: the identical
    ones and those UML's kernel refused only after its verifier accepted them as the VM's did."""

    @property
    def not_covered(self) -> int:
        """The lane's gap: programs the VM verified as UML could not."""
        return sum(d.not_covered for d in self.divergences)

    @property
    def covered(self) -> int:
        """Programs UML verified: what a diff of two UML releases can speak for."""
        return self.total - self.unverified

    @property
    def neither(self) -> int:
        """Programs neither backend verified (both stopped before the first instruction)."""
        return self.unverified - self.not_covered

    def by_cause(self) -> dict[Cause, list[Divergence]]:
        out: dict[Cause, list[Divergence]] = {}
        for d in self.divergences:
            out.setdefault(d.cause, []).append(d)
        return out


def compare(uml: Mapping[tuple[str, str], Mapping], vm: Mapping[tuple[str, str], Mapping]) -> Fidelity:
    """UML vs VM over the programs both verified-or-tried (pure)."""
    keys = sorted(set(uml) & set(vm))
    same, div = 0, []
    for k in keys:
        u, v = uml[k], vm[k]
        if u["verdict"] == v["verdict"] and u.get("insns") == v.get("insns"):
            same += 1
        else:
            div.append(Divergence(k[0], k[1], cause_of(u, v), u, v))
    return Fidelity(len(keys), same, tuple(div), sum(uncovered(uml[k]) for k in keys),
                    same + sum(d.verifier_agrees for d in div))


def render(f: Fidelity, uml_cell: Cell, vm_cell: Cell, limit: int = 10) -> str:
    """Terminal text: the identical share, coverage, and every cause with examples (pure)."""
    pct = lambda n: f"{100 * n / f.total:.1f}%" if f.total else "n/a"  # noqa: E731
    out = [f"fidelity: UML {uml_cell.kernel_id} ({uml_cell.release}) vs VM {vm_cell.kernel_id} "
           f"({vm_cell.release}), corpus {uml_cell.corpus_id}",
           f"  identical (verdict and insns): {f.identical}/{f.total} ({pct(f.identical)})",
           f"  the verifier's answer identical (a refusal for want of a JIT after the verifier accepted counts as "
           f"its acceptance): {f.verifier_identical}/{f.total} ({pct(f.verifier_identical)})",
           f"  covered (verified in UML): {f.covered}/{f.total} ({pct(f.covered)}); not-covered: {f.not_covered} "
           f"(verified in the VM, not in UML)" + (f"; {f.neither} verified in neither" if f.neither else "")]
    for cause, ds in sorted(f.by_cause().items(), key=lambda kv: -len(kv[1])):
        n = sum(d.not_covered for d in ds)
        tag = " [not-covered]" if n == len(ds) else f" [{n} not-covered]" if n else ""
        out.append(f"  {cause.value}{tag}: {len(ds)}")
        shown = ds if cause is Cause.OTHER else ds[:limit]
        for d in shown:
            out.append(f"    {d.object}/{d.program}: {d.detail}")
        if len(ds) > len(shown):
            out.append(f"    ... {len(ds) - len(shown)} more")
    return "\n".join(out) + "\n"


def pairs(cells: list["CellRecord"]) -> list[tuple["CellRecord", "CellRecord"]]:
    """(UML cell, VM cell) of the same version, arch and corpus (stored cell rows).

    A UML cell's package version is its linux-source's, which Debian builds from the same source
    as the kernel image of that version (``6.12.117-1~deb12u1`` both), so it matches where a
    ``uname -r`` would not (``6.1.0-56-amd64`` vs ``6.1.192``).
    """
    from harness.backends import UML, VM
    cells = [c for c in cells if c.complete]  # a cell that stopped early would read as a divergence per program
    vms = [c for c in cells if c.backend == VM.name]
    return [(u, v) for u in cells if u.backend == UML.name for v in vms
            if u.package_version == v.package_version and u.arch == v.arch and u.corpus_id == v.corpus_id]


def check_pair(uml: "CellRecord", vm: "CellRecord") -> None:
    """Refuse a pair that is not a UML cell then a VM cell."""
    from harness.backends import UML, VM
    from harness.errors import ConfigError
    if uml.backend != UML.name or vm.backend != VM.name:
        raise ConfigError(f"fidelity compares a UML cell with a VM cell, not {uml.backend} with {vm.backend}")
    for c in (uml, vm):
        if not c.complete:
            raise ConfigError(f"cell {c.key} is {c.status}: fidelity compares complete cells only (run it again)")


VERIFIER_OBJECTS = "verifier_"
"""The selftests' verifier_* objects: the subset the fast lane's targets name beside the whole corpus."""


def subset(results: Mapping[tuple[str, str], Mapping], prefix: str) -> dict[tuple[str, str], Mapping]:
    """The results of the objects named ``prefix*`` (pure)."""
    return {k: v for k, v in results.items() if k[0].startswith(prefix)}


def render_md(f: Fidelity, uml_cell: Cell, vm_cell: Cell, limit: int = 3, verifier: Fidelity | None = None) -> str:
    """The same as a Markdown section (pure): what the fast lane cannot judge, by cause, for the docs
    (``bpf-harness fidelity --format md``), regenerated from a run's store rather than written by hand;
    ``verifier``: the same measure over the verifier_* objects alone."""
    def pct(n: int, of: Fidelity = f) -> str:
        return f"{100 * n / of.total:.1f}%" if of.total else "n/a"
    out = [f"### UML {uml_cell.kernel_id} vs VM {vm_cell.kernel_id} ({vm_cell.release}), {f.total} programs", "",
           "| measure | programs | share |", "|---|---|---|",
           f"| identical (verdict and insns) | {f.identical} | {pct(f.identical)} |",
           f"| the verifier's answer identical | {f.verifier_identical} | {pct(f.verifier_identical)} |"]
    if verifier is not None:
        out += [f"| verifier_* objects ({verifier.total} programs): identical | {verifier.identical} | "
                f"{pct(verifier.identical, verifier)} |",
                f"| verifier_* objects: the verifier's answer identical | {verifier.verifier_identical} | "
                f"{pct(verifier.verifier_identical, verifier)} |"]
    out += [f"| verified in UML | {f.covered} | {pct(f.covered)} |",
            f"| not covered (verified in the VM, not in UML) | {f.not_covered} | {pct(f.not_covered)} |",
            f"| verified in neither | {f.neither} | {pct(f.neither)} |", "",
           "| cause | programs | not covered | the verifier's answer still the VM's | e.g. |", "|---|---|---|---|---|"]
    for cause, ds in sorted(f.by_cause().items(), key=lambda kv: (-len(kv[1]), kv[0].value)):
        eg = ", ".join(f"`{d.object}/{d.program}`" for d in ds[:limit])
        out.append(f"| {cause.value} | {len(ds)} | {sum(d.not_covered for d in ds)} | "
                   f"{sum(d.verifier_agrees for d in ds)} | {eg} |")
    return "\n".join(out) + "\n"
