"""What every report shows: the per-commit pairs of a matrix and their findings, read from the store."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

from harness import fidelity, judge
from harness.corpus import SELFTESTS
from harness.diff import ORDER, Change, Finding, diff, no_verdict
from harness.matrix import Matrix, Thresholds
from harness.engine import Rerun
from harness.store import CellRecord, Store
from harness.backends import UML, VM


@dataclasses.dataclass(frozen=True)
class Pair:
    branch: str
    kind: str
    """``commit``: a kernel and its predecessor on the branch; ``reference``: a branch head vs the reference."""
    base: dict
    new: dict
    comparable: str
    same_objects: bool
    findings: tuple[Finding, ...]
    unchanged: int
    not_covered: int = 0
    """UML pairs: programs UML verified on neither side (see :func:`harness.fidelity.uncovered`)."""
    no_verdict: int = 0
    """Programs without a verdict on either side (not-run, timeout, crash): never counted as unchanged."""

    @property
    def total(self) -> int:
        return len(self.findings) + self.unchanged + self.not_covered + self.no_verdict

    @property
    def compared(self) -> int:
        """Programs with a verdict on both kernels."""
        return self.unchanged + sum(f.change not in (Change.INCONCLUSIVE, Change.NEW, Change.GONE)
                                    for f in self.findings)

    @property
    def tested(self) -> str:
        """``complete``: both cells ran to the end; ``incomplete``: one did not, but some programs have a
        verdict on both; ``not-tested``: none has."""
        if self.base["status"] == "complete" and self.new["status"] == "complete":
            return "complete"
        return "incomplete" if self.compared else "not-tested"

    @property
    def warning(self) -> str:
        """What a reader must see before any count: a cell that did not complete ('' when both did)."""
        if self.tested == "complete":
            return ""
        bad = "; ".join(f"cell {c['kernel_id']}/{c['arch']} is {c['status']}: {c.get('detail') or ''}"
                        for c in (self.base, self.new) if c["status"] != "complete")
        if self.tested == "not-tested":
            return f"NOT TESTED: no program was verified on both kernels ({bad})"
        return (f"INCOMPLETE: only {self.compared} of {self.total} programs have a verdict on both kernels "
                f"({bad})")

    @property
    def coverage_note(self) -> str:
        """For a UML pair that could not verify everything: how much it covers, in words ('' otherwise)."""
        if not self.not_covered:
            return ""
        return (f"UML verified {self.total - self.not_covered} of {self.total} programs on both releases; the "
                f"other {self.not_covered} it verified on neither (stopped before the first instruction -- kfunc "
                f"calls and trampolines need a JIT; hooks, types, program types UML lacks -- or changed by libbpf "
                f"for want of a kfunc or type), so they are not counted as unchanged; `bpf-harness fidelity` "
                f"against a VM cell says which of them the VM verifies")

    @property
    def title(self) -> str:
        return f"{self.branch}: {self.base['kernel_id']} -> {self.new['kernel_id']} ({self.new['arch']})"

    @property
    def commit(self) -> dict | None:
        """The new kernel's commit when it was built from a git tree: what a per-commit finding names."""
        return commit_of(self.new) if self.kind == "commit" else None

    @property
    def commit_line(self) -> str:
        """``commit abcdef123456 "subject"`` for a source-built new kernel ('' otherwise)."""
        c = self.commit
        return f'commit {c["id"][:12]} "{c["subject"]}"' if c else ""

    @property
    def rejections_accepted(self) -> list[Finding]:
        """Reference pairs: tests that expect a rejection, accepted by the branch head, rejected by the reference
        (a fix the branch lacks: the dangerous direction)."""
        return [f for f in self.findings if self.kind == "reference" and _expects(f, "failure")
                and _verdict(f.base) == "success" and _verdict(f.new) == "failure"
                and (f.new or {}).get("failure_class") == "verifier"]

    @property
    def successes_rejected(self) -> list[Finding]:
        """Reference pairs: tests that expect success, rejected by the branch head, verified by the reference
        (a missing feature or fix)."""
        return [f for f in self.findings if self.kind == "reference" and _expects(f, "success")
                and _verdict(f.base) == "failure" and _verdict(f.new) == "success"]

    def count(self, change: Change) -> int:
        return sum(f.change is change for f in self.findings)

    @property
    def regressions(self) -> list[Finding]:
        return [f for f in self.findings if f.change is Change.REGRESSION]


def commit_of(cell: dict) -> dict | None:
    """``{"id", "subject"}`` of a cell whose kernel was built from a commit (pure): such a cell's package_version
    is the full commit id and its package the subject."""
    cid = str(cell.get("package_version") or "")
    if len(cid) == 40 and all(ch in "0123456789abcdef" for ch in cid):
        return {"id": cid, "subject": cell.get("package") or ""}
    return None


def work_first(f: Finding) -> tuple[int, int]:
    """A finding's place in what a maintainer works through (pure): first a result the selftest's own
    expectation calls unexpected on the newer kernel (and not on the older), then a confirmed regression,
    then a test that expects a rejection the newer kernel now accepts; then the rest by class."""
    return (next((i for i, (_, test) in enumerate(_FIRST) if test(f)), len(_FIRST)), ORDER.index(f.change))


_FIRST = (
    ("unexpected on the newer kernel", lambda f: bool(
        f.new and f.new.get("outcome") == "unexpected" and not (f.base and f.base.get("outcome") == "unexpected"))),
    ("confirmed regression", lambda f: f.change is Change.REGRESSION and bool(f.confirmed)),
    ("expects a rejection, now accepted", lambda f: bool(
        f.new and f.new.get("expect") == "failure" and f.new.get("verdict") == "success")),
)


def act_first(p: "Pair") -> list[tuple[Finding, str]]:
    """The pair's findings to act on first, in that order, each with why."""
    out = [(f, work_first(f)) for f in p.findings]
    return [(f, _FIRST[rank][0]) for f, (rank, _) in sorted(out, key=lambda x: x[1]) if rank < len(_FIRST)]


def _expects(f: Finding, what: str) -> bool:
    return any(side and side.get("expect") == what for side in (f.new, f.base))


def _verdict(side) -> str | None:
    return side.get("verdict") if side else None


def comparability(store: Store, base: dict, new: dict) -> tuple[str, bool]:
    """Whether both cells loaded byte-identical objects; a diff across corpora is labelled as such."""
    if base["corpus_id"] == new["corpus_id"]:
        return f"same objects (corpus {base['corpus_id']}, {base['clang']})", True
    bh, nh = store.object_hashes(base["corpus_id"]), store.object_hashes(new["corpus_id"])
    differ = sorted(o for o in set(bh) & set(nh) if bh[o] != nh[o])
    return (f"DIFFERENT corpora {base['corpus_id']} vs {new['corpus_id']} ({base['clang']} vs {new['clang']}); "
            f"{len(differ)} object(s) differ in bytes"), False


def pair(store: Store, branch: str, kind: str, base: dict, new: dict, th: Thresholds) -> Pair:
    label, same = comparability(store, base, new)
    b, n = store.result_map(base["id"]), store.result_map(new["id"])
    findings, unchanged = diff(b, n, th, (store.confirmations(base["id"]), store.confirmations(new["id"])),
                               uncovered=fidelity.uncovered if base["backend"] == UML.name else None,
                               answer=fidelity.verifier_answer if base["backend"] == UML.name else None)
    keys = set(b) | set(n)
    found = {(f.object, f.program) for f in findings}
    none = sum(1 for k in keys - found if k in b and k in n and no_verdict(b[k]) and no_verdict(n[k]))
    not_covered = len(keys) - len(findings) - unchanged - none
    return Pair(branch, kind, base, new, label, same, tuple(findings), unchanged, not_covered, none)


def pairs(store: Store, matrix: Matrix) -> list[Pair]:
    """Every kernel vs its predecessor on its branch and arch, then every branch head vs the reference head."""
    out: list[Pair] = []
    heads: dict[tuple[str, str], dict] = {}
    for b in matrix.branches:
        for arch in b.arches:
            cells = judge.lane(matrix, b.name, arch, store.latest_cell)
            for base, new in judge.commit_pairs(cells):
                out.append(pair(store, b.name, "commit", base, new, matrix.thresholds))
            whole = judge.queue_pair(cells) if b.queued else None
            if whole is not None:
                out.append(pair(store, b.name, "queue", *whole, matrix.thresholds))
            if cells:
                heads[(b.name, arch)] = cells[-1]
    refs = {b.name: b.reference or matrix.reference for b in matrix.branches}
    targets = set(refs.values())  # a branch others are compared with is not itself compared with another
    for (name, arch), head in heads.items():
        ref_branch = refs.get(name) if name not in targets else None
        ref = heads.get((ref_branch, arch)) if ref_branch else None
        if name != ref_branch and ref is not None and ref["backend"] == head["backend"]:
            out.append(pair(store, name, "reference", head, ref, matrix.thresholds))
    return out


def reproducer(store: Store, cell: dict, obj: str, prog: str) -> str:
    """One command that verifies exactly this program on exactly this kernel, with the full log.

    A UML-derived finding gets the VM command for the Debian kernel of the same version instead:
    the fast lane screens, the VM confirms.
    """
    if cell.get("backend") == UML.name and commit_of(cell):
        c = commit_of(cell)
        return (f"UML-derived; confirm in a VM: add commit {c['id'][:12]} (backend: vm) to a VM branch, "
                f"{{id: ..., git: {{tree: ..., commit: {c['id']}}}}}, and run bpf-harness run --cell ID/{cell['arch']}")
    if cell.get("backend") == UML.name:
        version = cell.get("release")
        vm_cell = store.db.execute(  # the Debian kernel built from the same source package version
            "SELECT * FROM cells WHERE backend=? AND purpose='run' AND arch=? AND package_version=? "
            "ORDER BY id DESC LIMIT 1", (VM.name, cell["arch"], cell.get("package_version"))).fetchone()
        if vm_cell is None:
            return (f"UML-derived; confirm in a VM: add Debian kernel {version} to a VM branch and run "
                    f"bpf-harness run --cell {version}/{cell['arch']}")
        return "UML-derived; confirm in a VM: " + reproducer(store, dict(vm_cell), obj, prog)
    row = store.db.execute("SELECT build_dir FROM corpora WHERE id=?", (cell["corpus_id"],)).fetchone()
    path = Path(row[0]) / "src" / SELFTESTS / f"{obj}.bpf.o" if row else Path(f"{obj}.bpf.o")
    guest = [cell.get("veristat") or "veristat", "-v", "-l", "1", "-f", f"{obj}.bpf.o/{prog}", str(path)]
    narrowed = narrow(cell.get("reproducer") or "", guest)
    if narrowed is not None:
        return narrowed
    # a store from before cells recorded their command line
    argv = ["vng", "--verbose", "--force-9p", "--run", cell.get("image") or "<kernel image>"]
    if cell.get("accel") == "tcg":
        argv.append("--disable-kvm")
    return shlex.join(argv + ["--exec", shlex.join(guest)])


def narrow(cell_command: str, guest: list[str]) -> str | None:
    """The command that booted the cell (its console's first line), running ``guest`` instead of the runner.

    Everything that made the cell's guest what it was stays: arch and root of a foreign-arch guest, its
    read-only directories (corpus, kernel config), accel, CPUs and memory.  The cell's rwdir goes: it
    held that boot's plan and results and is gone by the time anyone reproduces (pure).
    """
    try:
        argv = shlex.split(cell_command)
    except ValueError:
        return None
    if "--exec" not in argv:
        return None
    out: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--rwdir":
            i += 2
            continue
        if a.startswith("--rwdir="):
            i += 1
            continue
        if a == "--exec":
            out += ["--exec", shlex.join(guest)]
            i += 2
            continue
        out.append(a)
        i += 1
    return shlex.join(out)


# --- what a run verifies again after its cells (harness.judge.follow_up) ------------------------------

def to_confirm(store: Store, matrix: Matrix) -> list[Rerun]:
    """Both sides of every regression not yet re-run there (``vm: confirm``)."""
    todo: dict[int, tuple[dict, set[tuple[str, str]]]] = {}
    for p in pairs(store, matrix):
        for f in p.findings:
            if f.change is not Change.REGRESSION or f.confirmed is not None:
                continue
            for side in (p.base, p.new):
                if (f.object, f.program) not in store.confirmations(side["id"]):
                    todo.setdefault(side["id"], (side, set()))[1].add((f.object, f.program))
    return [Rerun(CellRecord.of(side), frozenset(progs)) for side, progs in todo.values()]  # type: ignore[arg-type]


LOG_DIFF_CHANGES = ("regression", "flaky", "fixed", "error-changed", "msg-check")
"""Findings where where two verifiers parted is the question: a verdict flip, an error or a message change."""


def to_fetch_logs(store: Store, matrix: Matrix, per_pair: int) -> list[Rerun]:
    """Cells and programs whose level-2 logs the report's log diffs still need: per pair, the first ``per_pair``
    findings of those classes in the order a maintainer works through them."""
    todo: dict[int, tuple[dict, set[tuple[str, str]]]] = {}
    for p in pairs(store, matrix):
        wanted = sorted((f for f in p.findings if f.change.value in LOG_DIFF_CHANGES), key=work_first)[:per_pair]
        for f in wanted:
            for side in (p.base, p.new):
                if (f.object, f.program) not in store.logs(side["id"], 2):
                    todo.setdefault(side["id"], (side, set()))[1].add((f.object, f.program))
    return [Rerun(CellRecord.of(side), frozenset(progs)) for side, progs in todo.values()]  # type: ignore[arg-type]
