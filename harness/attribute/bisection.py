"""One attribution: check that the two releases, built from the stable tree, reproduce the change, then bisect
between them (:mod:`harness.bisect`) within the budget."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from harness import bisect
from harness.kernels.built import git
from harness.errors import UserError
from harness.matrix import Matrix
from harness.arch import PRIMARY
from harness.backends import UML, VM

if TYPE_CHECKING:
    from harness.engine import Context

_UPSTREAM = re.compile(r"\[ ?Upstream commit ([0-9a-f]{7,40}) ?\]|commit ([0-9a-f]{40}) upstream", re.I)


class BudgetSpent(Exception):
    pass


class _Budgeted(bisect.Bisector):
    """A bisector that stops at the matrix's step budget or the run's deadline."""

    def __init__(self, *args, steps: int, deadline: float, **kw):
        super().__init__(*args, **kw)
        self.left, self.deadline = steps, deadline

    def verify(self, commit: str):
        if commit not in self.results and commit not in self.failed:
            if self.left <= 0:
                raise BudgetSpent("its steps")
            if time.monotonic() > self.deadline:
                raise BudgetSpent("the run's minutes")
            self.left -= 1
        return super().verify(commit)


def upstream(trailers: tuple[str, ...]) -> str | None:
    """The upstream commit a stable commit names (pure)."""
    for t in trailers:
        m = _UPSTREAM.search(t)
        if m:
            return m.group(1) or m.group(2)
    return None


def bisect_job(job, matrix: Matrix, directory: Path, ctx: "Context", deadline: float) -> dict:
    """The attribution of ``job`` as the store keeps it: the commit, or the reason there is none."""
    from harness import fidelity
    say = ctx.say
    t0 = time.monotonic()
    try:
        tree = git.check_tree(job.tree, f"branch {job.branch}: stable_tree")
        good = git.resolve(tree, job.good, f"branch {job.branch}: stable_tree")
        bad = git.resolve(tree, job.bad, f"branch {job.branch}: stable_tree")
    except UserError as e:
        return {"reason": f"no tree to bisect in: {e}"}
    directory.mkdir(parents=True, exist_ok=True)
    backends = [UML.name, VM.name] if matrix.attribution.backend == "auto" else [matrix.attribution.backend]
    programs = list(job.programs)
    spent = 0
    for backend in backends:
        target = bisect.Target(job.corpus, tuple(programs), backend, PRIMARY.name)
        bis = _Budgeted(matrix, tree, target, directory / target.store_name(), ctx,
                        steps=matrix.attribution.steps - spent, deadline=deadline)
        say(f"attribute: {job.branch} {job.base}..{job.new}: building the ends {job.good} and {job.bad} ({backend})")
        try:
            ends = bis.verify(good), bis.verify(bad)
        except BudgetSpent as e:
            return {"reason": f"budget spent ({e}) before the ends were built", "backend": backend}
        spent = matrix.attribution.steps - bis.left
        if None in ends:
            which = job.good if ends[0] is None else job.bad
            return {"reason": f"build failed: {which} ({bis.failed.get(good if ends[0] is None else bad, '')[:200]})",
                    "backend": backend}
        if bisect.changed(ends[0], ends[1], programs, matrix.thresholds):
            break
        judged = all(fidelity.uml_only(r[p]) is None for r in ends for p in programs if p in r)
        if backend == UML.name and not judged and VM.name in backends:
            say("attribute: UML does not judge these programs as a VM would, and its ends agree: the VM then")
            continue
        return {"reason": f"the ends do not reproduce it: built from the stable tree at {job.good} and {job.bad} "
                          f"({backend}), the programs give the same results (the Debian kernels' config differs, or "
                          f"the change is not in the tree's history)", "backend": backend}
    try:
        o = bisect.run(tree, good, bad, bis, git.BPF_PATHS, False)
    except BudgetSpent as e:
        return {"reason": f"budget spent: {e} ({matrix.attribution.steps} steps, {matrix.attribution.minutes} minutes) "
                          f"ran out before the commit was found", "backend": bis.backend}
    except UserError as e:
        return {"reason": str(e), "backend": bis.backend}
    steps = [{"commit": s.commit[:12], "outcome": s.outcome, "seconds": round(s.seconds)} for s in o.steps]
    doc = {"backend": bis.backend, "steps": len(o.steps), "trail": steps, "seconds": round(time.monotonic() - t0),
           "range": f"{job.good}..{job.bad}", "candidates": o.candidates, "warnings": list(o.warnings)}
    if o.verdict == "ambiguous":
        return {**doc, "reason": "builds that failed hide the commit; it is one of: "
                                 + ", ".join(c[:12] for c in o.suspects)}
    if o.culprit is None or o.info is None:
        return {**doc, "reason": "the ends do not reproduce it"}
    spec = matrix.corpora[job.corpus]
    repro = directory / f"attribution-{o.culprit[:12]}.yaml"
    repro.write_text(bisect.reproducer_matrix(o, tree, bis.backend, PRIMARY.name, job.corpus, {
        "source": str(spec.source), "include": list(spec.include), "exclude": list(spec.exclude)}, matrix.debian.suites))
    return {**doc, "commit": o.culprit, "subject": o.info.subject, "upstream": upstream(o.info.trailers),
            "outside_paths": o.verdict == "outside-paths",
            "reproduce": f"bpf-harness run -m {repro} --db {directory / 'repro.db'} --report {directory / 'repro'}"}
