"""Every finding named by its commit: after a run, the findings between two releases of a branch with a
``stable_tree:`` are bisected in that tree (one bisection per release pair and set of programs that moved
together), within the matrix's ``attribution:`` budget; a queue's whole-update findings are named by its
per-commit cells.  The answer, or why there is none, is recorded in the store and shown next to the finding in
every report.

Public face: :func:`plan` (pure: what to bisect), :func:`attribute` (bisect it, record it), :func:`read` (what
the reports show).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from harness.arch import PRIMARY
from harness.diff import Change
from harness.matrix import DebianKernel, Matrix

if TYPE_CHECKING:
    from harness.engine import Context

CHANGES = (Change.REGRESSION, Change.FIXED, Change.ERROR_CHANGED, Change.MSG_CHANGED)
"""What is attributed: a confirmed regression, a fix, an error change, a ``__msg`` change."""


@dataclasses.dataclass(frozen=True)
class Job:
    """One bisection: ``good..bad`` of ``tree`` for ``programs`` (what moved together between two releases)."""
    branch: str
    base: str
    """Kernel ids (the releases)."""
    new: str
    good: str
    """Tags in the tree."""
    bad: str
    tree: Path
    corpus: str
    programs: tuple[tuple[str, str], ...]


def eligible(p, f) -> bool:
    """Whether finding ``f`` of pair ``p`` is one a maintainer wants named by its commit (pure)."""
    if f.change not in CHANGES or p.kind == "reference":
        return False
    return not (f.change is Change.REGRESSION and f.confirmed is False)


def plan(pairs, matrix: Matrix) -> list[Job]:
    """The bisections a run's findings need (pure): per branch with a ``stable_tree:``, per pair of Debian releases
    that has eligible findings, the union of their programs over the arches."""
    jobs: dict[tuple[str, str, str], set] = {}
    for p in pairs:
        b = next((b for b in matrix.branches if b.name == p.branch), None)
        if b is None or b.stable_tree is None or p.kind != "commit":
            continue
        specs = {k.id: k for k in b.kernels}
        base, new = specs.get(p.base["kernel_id"]), specs.get(p.new["kernel_id"])
        if base is None or new is None or not isinstance(base.source, DebianKernel) \
                or not isinstance(new.source, DebianKernel):
            continue
        progs = {(f.object, f.program) for f in p.findings if eligible(p, f)}
        if progs:
            jobs.setdefault((b.name, base.id, new.id), set()).update(progs)
    out = []
    for (branch, base, new), progs in jobs.items():
        b = next(b for b in matrix.branches if b.name == branch)
        specs = {k.id: k for k in b.kernels}
        tag = b.stable_tag.replace
        out.append(Job(branch, base, new, tag("{version}", str(specs[base].version)),
                       tag("{version}", str(specs[new].version)), b.stable_tree,  # type: ignore[arg-type]
                       b.corpus_for(PRIMARY.name), tuple(sorted(progs))))
    return out


def read(store) -> dict[tuple[str, str, str, str], dict]:
    """(branch, base kernel id, new kernel id, OBJECT/PROGRAM) -> the recorded attribution (``commit``, ``subject``,
    ``upstream``, ``steps``, ``backend``, ``reproduce``, ``warnings``; or ``reason`` when there is none)."""
    out = {}
    for row in store.attributions():
        doc = json.loads(row["doc"])
        for prog in json.loads(row["programs"]):
            out[(row["branch"], row["base_key"], row["new_key"], prog)] = doc
    return out


def explain(p, f, found: dict, matrix: Matrix | None) -> dict | None:
    """What a report shows next to finding ``f`` of pair ``p`` (pure): its commit, or why there is none; None for a
    finding that is not attributed (a cost move, a new program) or that its own pair names (a per-commit cell)."""
    if not eligible(p, f) or p.commit is not None:
        return None
    prog = f"{f.object}/{f.program}"
    if p.kind == "queue":
        return found.get(("queue", p.branch, p.new["arch"], prog)) or {
            "reason": "no per-commit cell of the queue changed it alone (the change needs several of its commits)"}
    got = found.get((p.branch, p.base["kernel_id"], p.new["kernel_id"], prog))
    if got is not None:
        return got
    b = next((b for b in matrix.branches if b.name == p.branch), None) if matrix is not None else None
    if b is not None and b.stable_tree is None:
        return {"reason": f"no tree: branch {p.branch} has no stable_tree: to bisect {p.base['kernel_id']}.."
                          f"{p.new['kernel_id']} in"}
    return {"reason": "not bisected yet: bpf-harness run attributes findings after the run"}


def words(a: dict) -> str:
    """One line for a report (pure): ``commit 6c2128505f61 "subject" (upstream ..., UML bisection, 4 steps)`` or
    ``no commit: why``."""
    if not a.get("commit"):
        return f"no commit: {a['reason']}"
    how = a.get("how") or f"{a.get('backend', '?').upper() if a.get('backend') == 'uml' else 'VM'} bisection of " \
                          f"{a.get('range', '?')}, {a.get('steps', '?')} steps"
    text = f"commit {a['commit'][:12]} \"{a['subject']}\"" + (f" (upstream {a['upstream'][:12]})" if a.get("upstream") else "")
    text += f"; {how}"
    if a.get("outside_paths"):
        text += "; the change is in a commit outside the BPF paths"
    if a.get("warnings"):
        text += "; UML-derived: a VM confirms it"
    if a.get("reproduce"):
        text += f"; reproduce: {a['reproduce']}"
    return text


def for_report(store, matrix: Matrix, pairs) -> Callable:
    """``attributed(pair, finding) -> dict | None`` for the writers."""
    found = {**read(store), **queue_commits(pairs)}
    return lambda p, f: explain(p, f, found, matrix)


def queue_commits(pairs) -> dict[tuple[str, str, str, str], dict]:
    """A queue's whole-update findings named by the per-commit pair that has the same change of the same program
    (pure): the per-commit cells already are the bisection."""
    out = {}
    for p in pairs:
        if p.kind != "commit" or p.commit is None:
            continue
        for f in p.findings:
            if eligible(p, f):
                out.setdefault(("queue", p.branch, p.new["arch"], f"{f.object}/{f.program}"), {
                    "commit": p.commit["id"], "subject": p.commit["subject"],
                    "steps": 0, "backend": p.new.get("backend"), "how": "its per-commit cell in the queue"})
    return out


def attribute(store, matrix: Matrix, pairs, db: Path, ctx: "Context") -> list[str]:
    """Bisect what :func:`plan` asks within the budget and record each answer; returns one line per bisection."""
    from harness.attribute.bisection import bisect_job
    jobs = plan(pairs, matrix)
    done = read(store)
    deadline = time.monotonic() + matrix.attribution.minutes * 60
    lines = []
    for job in jobs:
        if all((job.branch, job.base, job.new, f"{o}/{p}") in done for o, p in job.programs):
            lines.append(f"{job.branch} {job.base}..{job.new}: attributed before (the store has it)")
            continue
        if time.monotonic() > deadline:
            doc = {"reason": f"budget spent: the run's {matrix.attribution.minutes} minutes of bisection were used up "
                             f"before this one"}
        else:
            doc = bisect_job(job, matrix, db.parent / "attribution", ctx, deadline)
        store.add_attribution(job.branch, PRIMARY.name, job.base, job.new,
                              json.dumps([f"{o}/{p}" for o, p in job.programs]), json.dumps(doc, sort_keys=True))
        what = (f"{doc['commit'][:12]} {doc['subject']}" if doc.get("commit") else f"no commit: {doc['reason']}")
        lines.append(f"{job.branch} {job.base}..{job.new} ({len(job.programs)} program(s)): {what}")
    return lines
