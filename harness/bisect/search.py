"""``bpf-harness bisect``: the first commit of GOOD..BAD where named programs' results changed.

Each step builds one commit (incrementally, :mod:`harness.kernels.built.kbuild`) and verifies only the named
programs in a cell of that kernel, into a store of its own next to the results store (one per program
set, so a step that was verified once is never verified again).  "Changed" is what the reports call a
change: another verdict, another normalized error, a load failure that came or went, or insns past
the thresholds (:func:`harness.diff.diff`), relative to GOOD's results.  Only commits that touch the
BPF paths are candidates unless ``--all-commits``; BAD is always tested, so a change made by a commit
outside the paths is reported as such, never blamed on a BPF commit.  A commit whose build fails is
skipped, as ``git bisect skip`` does, and listed.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Mapping

from harness.kernels.built import git
from harness.kernels.built.kbuild import BuildFailed
from harness.diff import Change, diff
from harness.errors import UserError
from harness.matrix import GitKernel, KernelSpec, Matrix
from harness.backends import UML

if TYPE_CHECKING:
    from harness.engine import Context

log = logging.getLogger(__name__)

Program = tuple[str, str]
Results = Mapping[Program, Mapping]
IGNORED = (Change.NEW, Change.GONE)


@dataclasses.dataclass(frozen=True)
class Step:
    commit: str
    subject: str
    outcome: str
    """``good`` (same results as GOOD), ``bad`` (changed), ``skip`` (build failed), ``no-verdict``."""
    seconds: float
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Outcome:
    good: str
    bad: str
    candidates: int
    """Commits in the range that were candidates (touching the paths, or all)."""
    total: int
    """Commits in the range."""
    paths: tuple[str, ...]
    steps: tuple[Step, ...]
    culprit: str | None
    """The first commit whose results differ from GOOD's; None when BAD's do not differ."""
    verdict: str
    """``found``, ``unchanged`` (BAD behaves as GOOD), ``outside-paths`` (the change is in a commit that
    touches none of the paths), ``ambiguous`` (skipped builds hide it: see ``suspects``)."""
    suspects: tuple[str, ...] = ()
    info: git.CommitInfo | None = None
    before: dict = dataclasses.field(default_factory=dict)
    """program -> result at the culprit's parent (the last good step)."""
    after: dict = dataclasses.field(default_factory=dict)
    findings: tuple = ()
    parent: str | None = None
    warnings: tuple[str, ...] = ()
    """UML results the fast lane does not stand behind (a program it stopped before verifying)."""


def changed(base: Results, new: Results, programs: list[Program], thresholds,
            answer: Callable[[Mapping], Mapping] | None = None) -> list:
    """Findings between two steps' results for the named programs (pure); ``answer`` as :func:`harness.diff.diff`'s
    (UML steps: the verifier's own answer)."""
    b = {k: v for k, v in base.items() if k in programs}
    n = {k: v for k, v in new.items() if k in programs}
    findings, _ = diff(b, n, thresholds, answer=answer)
    return [f for f in findings if f.change not in IGNORED]


def search(candidates: list[str], test: Callable[[str], str],
           cheap: Callable[[int], bool] | None = None) -> tuple[int | None, list[int]]:
    """Binary search for the first ``bad`` over ``candidates`` (the last one known bad, GOOD before the first).

    ``test(commit)`` returns ``good``, ``bad`` or ``skip``.  Returns (index of the first bad, []) or, when skipped
    commits hide it, (None, the indices it may be: the skipped ones left, then the first known bad), as
    ``git bisect`` says "the first bad commit could be any of".  ``cheap(i)``, asked again before each step, says
    whether testing candidate ``i`` now costs little (:meth:`Rebuilds.cheap`: its headers were built already, or
    differ only in headers few objects include): a cheap candidate in the middle half of what is left is tested
    instead of the midpoint, which costs at most one step per halving and saves a build of every object that
    includes a changed header.  Pure but for ``test`` and ``cheap``.
    """
    lo, hi = -1, len(candidates) - 1
    skipped: set[int] = set()
    while hi - lo > 1:
        mids = sorted((i for i in range(lo + 1, hi) if i not in skipped), key=lambda i: abs(i - (lo + hi) / 2))
        if not mids:
            return None, [*sorted(i for i in skipped if lo < i < hi), hi]
        quarter = (hi - lo) / 4
        near = [i for i in mids if cheap is not None and lo + quarter <= i <= hi - quarter and cheap(i)]
        mid = near[0] if near and not cheap(mids[0]) else mids[0]
        result = test(candidates[mid])
        if result == "skip":
            skipped.add(mid)
        elif result == "bad":
            hi = mid
        else:
            lo = mid
    return hi, []


def store_name(programs: list[Program], backend: str, arch: str, corpus: str) -> str:
    digest = hashlib.sha256("\n".join(sorted(f"{o}/{p}" for o, p in programs)).encode()).hexdigest()[:10]
    return f"bisect-{backend}-{arch}-{corpus}-{digest}.db"


@dataclasses.dataclass(frozen=True)
class Target:
    """What each step verifies: named programs of a matrix's corpus, in a backend's guest on an arch."""
    corpus: str
    programs: tuple[Program, ...]
    backend: str
    """A :mod:`harness.backends` name (``auto`` only before :func:`harness.bisect.bisect_range` chooses)."""
    arch: str

    def store_name(self) -> str:
        """The steps' own store, one per target (a step verified once is never verified again)."""
        return store_name(list(self.programs), self.backend, self.arch, self.corpus)


class Bisector:
    """Builds and verifies one commit per step; caches each step's results by commit."""

    def __init__(self, matrix: Matrix, tree: Path, target: Target, db: Path, ctx: "Context"):
        self.matrix, self.tree, self.target, self.db, self.ctx = matrix, tree, target, db, ctx
        self.results: dict[str, Results] = {}
        self.failed: dict[str, str] = {}

    @property
    def programs(self) -> list[Program]:
        return list(self.target.programs)

    @property
    def corpus(self) -> str:
        return self.target.corpus

    @property
    def backend(self) -> str:
        return self.target.backend

    @property
    def arch(self) -> str:
        return self.target.arch

    def progress(self, line: str) -> None:
        self.ctx.say(line)

    def spec(self, commit: str) -> KernelSpec:
        info = git.info(self.tree, commit)
        return KernelSpec(f"bisect-{commit[:12]}", GitKernel(self.tree, commit, self.backend, info.subject),
                          "bisect")

    def build_dir(self, commit: str) -> Path:
        """The out-of-tree (``O=``) build directory ``commit``'s kernel is built in."""
        from harness.kernels.built import kbuild, specs
        r = specs.recipe_of(self.spec(commit), self.arch, git.kernel_version(self.tree, commit))
        return kbuild.work_dir(self.ctx.cache_root, git.check_tree(self.tree, "bisect"), r) / "out"

    def verify(self, commit: str) -> Results | None:
        """The named programs' results on ``commit``'s kernel; None when it does not build."""
        if commit in self.results:
            return self.results[commit]
        if commit in self.failed:
            return None
        from harness.engine import Engine
        spec = self.spec(commit)
        engine = Engine(self.matrix, self.db, self.ctx.doing("bisect", commit))
        try:
            (got,) = engine.verify([spec], self.corpus, self.arch, frozenset(self.programs), name="bisect")
        except BuildFailed as e:
            self.failed[commit] = str(e)
            return None
        res, status = got.results, got.status
        missing = [f"{o}/{p}" for o, p in self.programs if (o, p) not in res]
        if missing:
            raise UserError(f"{', '.join(missing)}: not in corpus {self.corpus} (cell {spec.id}/{self.arch} is "
                            f"{status}); name programs as OBJECT/PROGRAM of that corpus")
        self.results[commit] = res
        return res


def run(tree: Path, good_rev: str, bad_rev: str, bisector: Bisector, paths: tuple[str, ...], all_commits: bool,
        ) -> Outcome:
    tree = git.check_tree(tree, "bisect")
    good = git.resolve(tree, good_rev, "bisect GOOD")
    bad = git.resolve(tree, bad_rev, "bisect BAD")
    if good == bad or not git.is_ancestor(tree, good, bad):
        raise UserError(f"bisect: {good_rev} is not an ancestor of {bad_rev}; give GOOD (older) then BAD (newer)")
    every = git.commits_touching(tree, good, bad)
    cands = every if all_commits else git.commits_touching(tree, good, bad, paths)
    n_cands = len(cands)
    touches_bad = bool(cands) and cands[-1] == bad
    if not cands:
        raise UserError(f"bisect: no commit in {good_rev}..{bad_rev} touches {' '.join(paths)} ({len(every)} "
                        "commit(s) in all); --all-commits tests every one")
    if cands[-1] != bad:
        cands = [*cands, bad]  # BAD is a candidate too: a change outside the paths shows there
    steps: list[Step] = []
    th = bisector.matrix.thresholds

    def record(commit: str, outcome: str, t0: float, note: str = "") -> str:
        steps.append(Step(commit, git.info(tree, commit).subject, outcome, time.monotonic() - t0, note))
        bisector.progress(f"bisect: {commit[:12]} {outcome}" + (f" ({note})" if note else "")
                          + f", {time.monotonic() - t0:.0f}s")
        return outcome

    t0 = time.monotonic()
    base = bisector.verify(good)
    if base is None:
        raise UserError(f"bisect: GOOD {good_rev} does not build ({bisector.failed[good]}); pick a GOOD that builds")
    record(good, "good", t0, "GOOD")

    from harness import fidelity
    answer = fidelity.verifier_answer if bisector.backend == UML.name else None
    states = header_states(tree, good, bad, cands)
    built = [states[good]]

    def test(commit: str) -> str:
        t = time.monotonic()
        res = bisector.verify(commit)
        if res is None:
            return record(commit, "skip", t, f"build failed: {bisector.failed[commit]}")
        built.append(states[commit])
        return record(commit, "bad" if changed(base, res, bisector.programs, th, answer) else "good", t)

    t1 = time.monotonic()
    bad_res = bisector.verify(bad)
    if bad_res is None:
        raise UserError(f"bisect: BAD {bad_rev} does not build ({bisector.failed[bad]}); pick a BAD that builds")
    if not changed(base, bad_res, bisector.programs, th, answer):
        record(bad, "good", t1, "BAD: same results as GOOD")
        return Outcome(good, bad, n_cands, len(every), paths, tuple(steps), None, "unchanged")
    record(bad, "bad", t1, "BAD")
    built.append(states[bad])
    warnings = uml_warnings(bisector, {"GOOD": base, "BAD": bad_res})
    rebuilds = Rebuilds.read(bisector.build_dir(bad), {f for st in states.values() for f in st})
    idx, suspects = search(cands, test, lambda i: rebuilds.cheap(states[cands[i]], built))
    if idx is None:
        return Outcome(good, bad, n_cands, len(every), paths, tuple(steps), None, "ambiguous",
                       suspects=tuple(cands[i] for i in suspects), warnings=warnings)
    culprit = cands[idx]
    parent = next((c for c in reversed(cands[:idx]) if c in bisector.results), good)
    verdict = "found"
    if culprit == bad and not touches_bad:
        verdict = "outside-paths"
    before, after = bisector.results[parent], bisector.results[culprit]
    return Outcome(good, bad, n_cands, len(every), paths, tuple(steps), culprit, verdict,
                   info=git.info(tree, culprit), before={k: dict(v) for k, v in before.items()},
                   after={k: dict(v) for k, v in after.items()},
                   findings=tuple(changed(before, after, bisector.programs, th, answer)), parent=parent, warnings=warnings)


State = Mapping[str, str]
"""A commit's header state: path -> blob id of each file GOOD..BAD changes that many objects may depend on."""


def header_states(tree: Path, good: str, bad: str, commits: list[str]) -> dict[str, State]:
    """Each of GOOD and ``commits`` -> the blob ids, at that commit, of the files GOOD..BAD changes that many
    objects may depend on (headers under an ``include/`` directory, Kconfig, Makefiles, linker scripts): commits
    with the same state rebuild a few files from one another, or get every object back from ccache; another
    state recompiles every object that includes a header that differs (597 of the UML kernel's for
    ``include/linux/bpf.h``, 18 for ``include/linux/bpf_verifier.h``: :class:`Rebuilds` counts them).  C
    sources and local headers (``kernel/bpf/mmap_unlock_work.h``: two users) do not count."""
    names = git.git(tree, "diff", "--name-only", "--no-renames", good, bad).output.split()
    files = [f for f in names if not f.endswith(".c") and not f.startswith(("tools/", "Documentation/"))
             and not (f.endswith(".h") and "include/" not in f)]
    if not files:
        return {c: {} for c in (good, *commits)}
    return {c: _blobs(git.git(tree, "ls-tree", "-r", c, "--", *files).output) for c in (good, *commits)}


def _blobs(listing: str) -> dict[str, str]:
    """``git ls-tree -r`` lines -> path: blob id (pure)."""
    return {line.split("\t", 1)[1]: line.split()[2] for line in listing.splitlines() if "\t" in line}


CHEAP_SHARE = 0.05
"""A commit is cheap to test when reaching it from a header state already built recompiles at most this share of the
build's objects: ``include/linux/bpf_verifier.h`` (18 of the UML kernel's 1262 objects, seconds) is cheap,
``include/linux/bpf.h`` (597, minutes) is not."""


@dataclasses.dataclass(frozen=True)
class Rebuilds:
    """What moving the build directory from one header state to another recompiles, counted from its dependency files
    (kbuild's ``.*.o.cmd``); ``dependents`` None: no build directory to count from, and any other state is costly."""
    dependents: Mapping[str, int] | None
    """Header path -> objects of the build that include it."""
    objects: int

    @classmethod
    def read(cls, out: Path, files: set[str]) -> "Rebuilds":
        """Count ``files``' dependents in the build directory ``out``."""
        cmds = sorted(out.rglob(".*.o.cmd")) if out.is_dir() else []
        if not cmds:
            return cls(None, 0)
        texts = (p.read_text(errors="replace") for p in cmds)
        return cls(count_dependents(texts, files), len(cmds))

    def cost(self, a: State, b: State) -> int:
        """Objects recompiled from state ``a`` to ``b``: a changed header's dependents; a Kconfig, Makefile or linker
        script that changed counts as every object (pure)."""
        assert self.dependents is not None
        changed_files = [f for f in a.keys() | b.keys() if a.get(f) != b.get(f)]
        return sum(self.dependents.get(f, 0) if f.endswith(".h") else self.objects for f in changed_files)

    def cheap(self, state: State, built: list[State]) -> bool:
        if self.dependents is None:
            return state in built
        return min(self.cost(b, state) for b in built) <= self.objects * CHEAP_SHARE


def count_dependents(cmd_texts: Iterable[str], files: set[str]) -> dict[str, int]:
    """Header path -> how many of kbuild's ``.*.o.cmd`` texts list it among their dependencies (``deps_...`` entries
    such as ``../src/include/linux/bpf.h``: a path ending in ``/`` + the header's path in the tree) (pure)."""
    headers = sorted(f for f in files if f.endswith(".h"))
    counts = dict.fromkeys(headers, 0)
    suffixes = {"/" + h: h for h in headers}
    for text in cmd_texts:
        tokens = {tok for tok in text.split() if tok.endswith(".h")}
        for suffix, h in suffixes.items():
            if h in tokens or any(tok.endswith(suffix) for tok in tokens):
                counts[h] += 1
    return counts


def uml_warnings(bisector: "Bisector", sides: Mapping[str, Results]) -> tuple[str, ...]:
    """For a UML bisection: the named programs UML rejected on GOOD or BAD for a reason a VM would not have (a kfunc
    call without a JIT, a hook UML lacks: :func:`harness.fidelity.uml_only`); the commit found is where UML's answer
    changed, which a VM must confirm."""
    if bisector.backend != UML.name:
        return ()
    from harness import fidelity
    out = []
    for prog in bisector.programs:
        for side, res in sides.items():
            r = res.get(prog)
            cause = fidelity.uml_only(r) if r is not None else None
            if cause is None:
                continue
            what = f"({cause.value}: {r.get('error') or r.get('verdict')})"
            if fidelity.verifier_verdict(r) != r["verdict"]:
                out.append(f"UML's kernel refused {prog[0]}/{prog[1]} on {side} after its verifier accepted it "
                           f"{what}: the verifier's answer is the one compared; a VM confirms the commit found (the "
                           "default; --no-confirm skips it)")
            else:
                out.append(f"UML does not verify {prog[0]}/{prog[1]} on {side} as a VM would {what}: the commit "
                           "found is where UML's answer changed; a VM confirms it (the default; --no-confirm skips it)")
    return tuple(out)


def log_diff(before: Mapping | None, after: Mapping | None, context: int = 3, limit: int = 40) -> list[str]:
    """The verifier log diff around the change (pure): the level-1 tails when kept, else the logs."""
    def text(r):
        return ((r or {}).get("tail") or (r or {}).get("log") or "").splitlines()
    lines = list(difflib.unified_diff(text(before), text(after), "parent", "culprit", n=context, lineterm=""))
    return lines[:limit] + ([f"... {len(lines) - limit} more lines"] if len(lines) > limit else [])


def reproducer_matrix(outcome: Outcome, tree: Path, backend: str, arch: str, corpus_name: str,
                      corpus: dict, suites: tuple[str, ...]) -> str:
    """A matrix that rebuilds the culprit and its parent and diffs them (pure)."""
    import yaml
    kernels = [{"id": f"parent-{outcome.parent[:12]}", "git": {"tree": str(tree), "commit": outcome.parent},
                "backend": backend},
               {"id": f"culprit-{outcome.culprit[:12]}", "git": {"tree": str(tree), "commit": outcome.culprit},
                "backend": backend}] if outcome.culprit and outcome.parent else []
    doc = {"debian": {"suites": list(suites)}, "corpora": {corpus_name: corpus},
           "branches": {"bisect": {"corpus": corpus_name, "arches": [arch], "kernels": kernels}}}
    return "# written by bpf-harness bisect: the culprit and its parent, diffed\n" + yaml.safe_dump(doc, sort_keys=False)


def _result_line(r: Mapping | None) -> str:
    if not r:
        return "no result"
    s = str(r.get("verdict"))
    if r.get("insns") is not None:
        s += f", {r['insns']} insns"
    if r.get("verdict") == "failure" and r.get("error"):
        s += f": {r['error']}"
    return s


def render_text(o: Outcome, programs: list[Program], tree: Path, reproduce: str) -> str:
    """What a maintainer reads (pure)."""
    scope = f"{o.candidates} of {o.total} commits touch {' '.join(o.paths)}" if o.paths else f"all {o.total} commits"
    out = [f"bisect {o.good[:12]}..{o.bad[:12]} in {tree}: {scope}; {len(o.steps)} step(s)"]
    for s in o.steps:
        out.append(f"  {s.commit[:12]} {s.outcome:<5} {s.seconds:6.0f}s  {s.subject}" + (f"  [{s.note}]" if s.note else ""))
    skipped = [s for s in o.steps if s.outcome == "skip"]
    if o.verdict == "unchanged":
        out.append(f"no change: {', '.join(f'{a}/{b}' for a, b in programs)} give the same results on "
                   f"{o.bad[:12]} as on {o.good[:12]}")
        return "\n".join(out) + "\n"
    if o.verdict == "ambiguous":
        out.append("ambiguous: builds that failed hide the first changed commit; it is one of:")
        out += [f"  {c[:12]}" for c in o.suspects]
        return "\n".join(out) + "\n"
    assert o.info is not None
    out += [f"warning: {w}" for w in o.warnings]
    if o.verdict == "outside-paths":
        out.append(f"the results change at BAD {o.bad[:12]}, after the last commit touching the paths: a commit "
                   "outside them did it; run again with --all-commits")
    out += ["", f"first changed commit: {o.info.id}", f"    {o.info.subject}"]
    out += [f"    {t}" for t in o.info.trailers]
    for f in o.findings:
        out += ["", f"{f.object}/{f.program}: {f.change.value}",
                f"  parent {o.parent[:12] if o.parent else '?'}: {_result_line(f.base)}",
                f"  culprit {o.culprit[:12] if o.culprit else '?'}: {_result_line(f.new)}"]
        d = log_diff(f.base, f.new)
        if d:
            out += ["  verifier log diff:", *(f"    {line}" for line in d)]
    if skipped:
        out += ["", f"skipped (build failed): {', '.join(s.commit[:12] for s in skipped)}"]
    out += ["", "reproduce:", f"  git -C {tree} show {o.culprit}", f"  {reproduce}"]
    return "\n".join(out) + "\n"


def to_json(o: Outcome, programs: list[Program], reproduce: str) -> dict:
    return {
        "good": o.good, "bad": o.bad, "verdict": o.verdict, "culprit": o.culprit, "parent": o.parent,
        "subject": o.info.subject if o.info else None, "trailers": list(o.info.trailers) if o.info else [],
        "candidates": o.candidates, "commits": o.total, "paths": list(o.paths), "suspects": list(o.suspects),
        "warnings": list(o.warnings),
        "programs": [f"{a}/{b}" for a, b in programs],
        "steps": [dataclasses.asdict(s) for s in o.steps],
        "findings": [{"program": f"{f.object}/{f.program}", "change": f.change.value,
                      "parent": _brief(f.base), "culprit": _brief(f.new), "log_diff": log_diff(f.base, f.new)}
                     for f in o.findings],
        "reproduce": reproduce,
    }


def _brief(r: Mapping | None) -> dict | None:
    return None if r is None else {k: r.get(k) for k in ("verdict", "error", "insns", "failure_class")}
