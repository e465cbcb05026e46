"""Follow the stable stream: kernels by rule instead of by number.

A branch's ``kernels: {latest: N}`` and a ``{git: {tree, follow: BRANCH}}`` kernel are resolved at run time
(:func:`resolve`: the Debian archive through the harness's private apt, the git tree), recorded in the store
whenever the answer changes (:func:`record`), and read back by everything that reads a store
(:func:`recorded`), so a report says what the run ran and which kernels are new since the previous
resolution.  :func:`apply` turns a matrix with rules into one with kernels.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import time
from pathlib import Path

from harness.errors import UserError
from harness.matrix import CorpusSpec, GitFollow, Matrix, Queue
from harness.stream.rules import Archive, Followed, Resolved, archive, decode, encode, follow, latest, queued
from harness.version import KernelVersion

__all__ = ["Resolved", "apply", "describe", "for_run", "latest_matrix", "record", "recorded", "recorded_matrix",
           "resolve", "resolve_with", "to_json", "untested"]


def for_run(matrix: Matrix, db: Path, cache_root: Path) -> tuple[Matrix, list[str], list[tuple[str, str]]]:
    """What a run runs: the rules resolved now and recorded in the store at ``db``; returns the matrix with its
    kernels, what to tell the user (see :func:`describe`) and what it cannot test (see :func:`untested`)."""
    if not matrix.follows:
        return matrix, [], []
    from harness.store import Store
    resolved = resolve(matrix, cache_root)
    with Store(db) as store:
        now, changed = record(store, matrix, resolved)
    return apply(matrix, now), describe(now, changed), untested(now)


def untested(resolved: list[Resolved]) -> list[tuple[str, str]]:
    """(what, why) a gate counts as not tested, as :func:`harness.judge.incomplete` does cells (pure)."""
    return [(item, "not tested") for r in resolved for item in r.untested]


def recorded_matrix(matrix: Matrix, store) -> tuple[Matrix, list[Resolved]]:
    """What a reader of a store reads: the rules as the store's runs last resolved them (never the archive's
    answer today, which may be newer than what ran)."""
    if not matrix.follows:
        return matrix, []
    got = recorded(store, matrix)
    return apply(matrix, got), got


def latest_matrix(matrix: Matrix, db: Path | None, cache_root: Path) -> Matrix:
    """For commands that build from a matrix (bisect, backports): the store's resolution when it has one, else
    the rules resolved now (not recorded: nothing ran)."""
    if not matrix.follows:
        return matrix
    if db is not None and db.exists():
        from harness.store import Store
        with Store(db) as store:
            try:
                return recorded_matrix(matrix, store)[0]
            except UserError:
                pass
    return apply(matrix, resolve(matrix, cache_root))


def resolve(matrix: Matrix, cache_root: Path) -> list[Resolved]:
    """What every following branch of ``matrix`` stands for today (reads the archive, the trees, the queues)."""
    found = _archive(matrix, cache_root) if any(b.rule is not None for b in matrix.branches) else None
    return resolve_with(matrix, found, _git_state, lambda spec: _queue_state(spec, matrix, cache_root))


def resolve_with(matrix: Matrix, found: Archive | None, git_state, queue_state=None) -> list[Resolved]:
    """:func:`resolve` over a given archive, ``git_state(spec) -> Followed`` and ``queue_state(spec) -> (kernels,
    notes, untested)`` (pure but for those two)."""
    out = []
    for b in matrix.branches:
        if b.rule is not None:
            assert found is not None
            wanted = b.corpus not in matrix.corpora or any(c.source_of == b.name for c in matrix.corpora.values())
            out.append(latest(b, b.rule, found, need_source=wanted))
        elif b.follows:
            kernels, notes, rules, untested = [], [], [], []
            for k in b.kernels:
                if isinstance(k.source, GitFollow):
                    got, said = follow(k, git_state(k))
                    kernels += got
                    notes += said
                    rules.append(f"follow {k.source.branch} in {k.source.tree}")
                elif isinstance(k.source, Queue):
                    got, said, left = queue_state(k)
                    kernels += got
                    notes += said
                    untested += left
                    rules.append(f"queue {k.source.path} on {k.source.on}")
                else:
                    kernels.append(k)
            out.append(Resolved(b.name, "; ".join(rules), tuple(kernels), None, tuple(notes), tuple(untested)))
    return out


def _archive(matrix: Matrix, cache_root: Path) -> Archive:
    from harness.arch import get_arch
    from harness.kernels.apt import Apt
    arches = sorted({a for b in matrix.branches if b.rule is not None for a in b.arches})
    images, patterns, sources = {}, {}, []
    for name in arches:
        apt = Apt(cache_root, get_arch(name), matrix.debian)
        apt.update()
        images[name] = [(p.name, p.version) for p in apt.packages("linux-image-")]
        patterns[name] = get_arch(name).image_package_patterns()
        if not sources:
            sources = [(p.name, p.version) for p in apt.packages("linux-source")]
    return archive(images, sources, patterns, matrix.debian.suites)


def _git_state(spec) -> Followed:
    from harness.kernels.built import git
    src = spec.source
    where = f"{spec.where}: kernel {spec.id}"
    tree = git.check_tree(src.tree, where)
    head = git.resolve(tree, src.branch, where)
    res = git.git(tree, "describe", "--tags", "--abbrev=0", "--match", "v[0-9]*", head, check=False)
    if res.returncode != 0:
        raise UserError(f"{where}: no release tag (v*) reachable from {src.branch} in {tree}; fetch the tags")
    tag = res.output.strip()
    tag_commit = git.resolve(tree, tag, where)
    between = tuple((c, git.info(tree, c).subject) for c in git.commits_touching(tree, tag_commit, head, git.BPF_PATHS)
                    if c != head)
    return Followed(tag, tag_commit, git.info(tree, tag_commit).subject, head, git.info(tree, head).subject, between)


def _queue_state(spec, matrix: Matrix, cache_root: Path):
    from harness.arch import host_arch
    from harness.kernels.built import debsrc, git
    from harness.kernels.apt import Apt
    from harness.stream import queue
    src = spec.source
    where = f"{spec.where}: kernel {spec.id}"
    patches = queue.read(src.path)
    apt = Apt(cache_root, host_arch(), matrix.debian)
    apt.update()
    tree, base, pkg = debsrc.repo(src.on, apt, cache_root)
    applied = queue.apply(tree, base, patches, cache_root / "queues" / queue.digest(patches), where)
    bpf = set(git.commits_touching(tree, base, applied.commits[-1][0], git.BPF_PATHS)) if applied.commits else set()
    commits = [(c, git.info(tree, c).subject, c in bpf) for c, _ in applied.commits]
    return queued(spec, tree, (base, f"{pkg.name} {pkg.version}"), commits, applied.failed, applied.untested)


def _doc(r: Resolved) -> str:
    return json.dumps({"rule": r.rule, "kernels": [encode(k) for k in r.kernels],
                       "corpus_source": str(r.corpus_source) if r.corpus_source else None, "notes": list(r.notes),
                       "untested": list(r.untested)}, sort_keys=True)


def record(store, matrix: Matrix, resolved: list[Resolved], at: float | None = None) -> tuple[list[Resolved], set[str]]:
    """Record each branch's resolution when it differs from the newest recorded; returns them as recorded
    (with when, and what is new) and the branches whose resolution changed (the others: nothing new)."""
    now = time.time() if at is None else at
    changed = {r.branch for r in resolved if store.add_resolution(matrix.path.name, r.branch, r.digest, now, _doc(r))}
    return recorded(store, matrix), changed


def recorded(store, matrix: Matrix) -> list[Resolved]:
    """Each following branch's newest recorded resolution, with the kernels not in the one before it."""
    out = []
    for b in matrix.branches:
        if not b.follows:
            continue
        rows = store.resolutions(matrix.path.name, b.name)
        if not rows:
            raise UserError(f"{matrix.path}: branch {b.name} takes its kernels by rule, and {store.path} has never "
                            f"resolved it: run the matrix into this store first (bpf-harness run)")
        r = _read(b.name, rows[0])
        before = next((row for row in rows[1:] if row["digest"] != rows[0]["digest"]), None)
        if before is None:  # the first: new is what no earlier run verified (a store of numbered nights, say)
            first = float(rows[-1]["at"])
            out.append(dataclasses.replace(r, new=tuple(k.id for k in r.kernels
                                                          if not store.had_cell(b.name, k.id, first))))
            continue
        old = {json.dumps(encode(k), sort_keys=True) for k in _read(b.name, before).kernels}
        new = tuple(k.id for k in r.kernels if json.dumps(encode(k), sort_keys=True) not in old)
        out.append(dataclasses.replace(r, new=new, previous_at=float(before["at"])))
    return out


def _read(branch: str, row) -> Resolved:
    doc = json.loads(row["doc"])
    where = f"store: branch {branch} resolved {day(float(row['at']))}"
    return Resolved(branch, doc["rule"], tuple(decode(k, where) for k in doc["kernels"]),
                    KernelVersion.parse(doc["corpus_source"]) if doc["corpus_source"] else None,
                    tuple(doc["notes"]), tuple(doc.get("untested", ())), float(row["at"]))


def apply(matrix: Matrix, resolved: list[Resolved]) -> Matrix:
    """``matrix`` with each following branch's kernels as resolved (its rule kept, for reports)."""
    by_branch = {r.branch: r for r in resolved}
    corpora = dict(matrix.corpora)
    branches = []
    for b in matrix.branches:
        r = by_branch.get(b.name)
        if r is None:
            branches.append(b)
            continue
        if b.corpus not in corpora:
            assert r.corpus_source is not None, r
            corpora[b.corpus] = CorpusSpec(b.corpus, r.corpus_source)
        branches.append(dataclasses.replace(b, kernels=r.kernels))
    for name, c in corpora.items():
        if c.source_of is not None and c.source_of in by_branch:
            assert by_branch[c.source_of].corpus_source is not None
            corpora[name] = dataclasses.replace(c, source=by_branch[c.source_of].corpus_source)
    seen: dict[str, str] = {}
    for b in branches:
        for k in b.kernels:
            if k.id in seen:
                raise UserError(f"{k.where}: kernel id {k.id} of branch {b.name} is also in branch {seen[k.id]} once "
                                f"the rules are resolved; give one of them an id:")
            seen[k.id] = b.name
    return dataclasses.replace(matrix, branches=tuple(branches), corpora=corpora)


def to_json(resolved: list[Resolved]) -> list[dict]:
    """The report's ``kernels_by_rule`` (pure)."""
    return [{"branch": r.branch, "rule": r.rule, "kernels": [k.id for k in r.kernels],
             "selftests_from": str(r.corpus_source) if r.corpus_source else None, "resolved_at": int(r.at),
             "new": list(r.new),
             "previous_resolution_at": int(r.previous_at) if r.previous_at else None, "notes": list(r.notes)}
            for r in resolved]


def day(t: float | None) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if t else "?"


def describe(resolved: list[Resolved], changed: set[str] | None = None) -> list[str]:
    """One line per branch and one per note (pure).  ``changed``: the branches a run just resolved anew (the
    others are unchanged since their recorded resolution); None: a report of what is recorded."""
    lines = []
    for r in resolved:
        text = f"{r.branch}: {r.rule} -> {', '.join(k.id for k in r.kernels)}"
        if r.corpus_source is not None:
            text += f" (selftests from {r.corpus_source})"
        if changed is not None and r.at and r.branch not in changed:
            text += f"; unchanged since {day(r.at)}: nothing new to resolve"
        elif r.at:
            text += f"; resolved {day(r.at)}"
            if r.previous_at is None:
                text += ", the first in this store; " + (
                    "every kernel is new to it" if len(r.new) == len(r.kernels) else
                    f"new to it: {', '.join(r.new)}" if r.new else "every kernel was verified here before")
            elif r.new:
                text += f"; new since the resolution of {day(r.previous_at)}: {', '.join(r.new)}"
            else:
                text += f"; the same kernels as the resolution of {day(r.previous_at)}"
        lines.append(text)
        lines += [f"  {r.branch}: {n}" for n in r.notes]
    return lines
