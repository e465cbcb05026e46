"""Kernels by rule, resolved (pure): what ``kernels: {latest: N}`` and ``{git: {follow: BRANCH}}`` stand for
today, given what the archive and the tree hold.

A release is taken only when every arch of its branch has an image: one that lacks one is *pending*, and said
so, never dropped in silence.  The branch's selftests come from the newest taken release with a
``linux-source`` package; a newer release without one is said so too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import Iterable, Mapping

from harness.errors import NotFoundError
from harness.kernels.debian import SOURCE_PATTERNS
from harness.matrix import Branch, DebianKernel, GitFollow, GitKernel, KernelSpec, LatestRule, Queue
from harness.version import KernelVersion, upstream_of_debian


@dataclasses.dataclass(frozen=True)
class Resolved:
    """One branch's rule as resolved at one time."""
    branch: str
    rule: str
    """In words: ``latest 3 of 6.12``, ``follow linux-6.12.y in /src/linux``."""
    kernels: tuple[KernelSpec, ...]
    """Oldest first, as a branch's kernels are."""
    corpus_source: KernelVersion | None = None
    """The release whose ``linux-source`` builds the branch's selftests (rules without a ``corpus:``)."""
    notes: tuple[str, ...] = ()
    """What a reader must know: releases pending an arch's image or a source, fewer releases than asked."""
    untested: tuple[str, ...] = ()
    """What the branch should have verified and could not (a queue's patches after one that does not apply):
    a gate exits 3 for them, never a pass."""
    at: float = 0.0
    """When it was resolved (recorded); 0 while not recorded."""
    new: tuple[str, ...] = ()
    """Kernel ids not in the branch's previous different resolution; at the store's first resolution, the ones
    no earlier run of the store verified on the branch."""
    previous_at: float | None = None
    """When the previous different resolution was recorded; None: this is the store's first."""

    @property
    def digest(self) -> str:
        """The identity of what was resolved (kernels, corpus source, notes), not of when."""
        return hashlib.sha256(json.dumps([self.rule, [encode(k) for k in self.kernels], str(self.corpus_source),
                                          list(self.notes), list(self.untested)], sort_keys=True).encode()).hexdigest()[:16]


def encode(k: KernelSpec) -> dict:
    """A resolved kernel as the store keeps it (JSON)."""
    if isinstance(k.source, DebianKernel):
        return {"id": k.id, "debian": str(k.source.version)}
    assert isinstance(k.source, GitKernel), k
    return {"id": k.id, "tree": str(k.source.tree), "commit": k.source.commit, "backend": k.source.backend,
            "subject": k.source.subject}


def decode(d: Mapping, where: str) -> KernelSpec:
    if "debian" in d:
        return KernelSpec(d["id"], DebianKernel(KernelVersion.parse(d["debian"])), where)
    return KernelSpec(d["id"], GitKernel(Path(d["tree"]), d["commit"], d["backend"], d.get("subject", "")), where)


@dataclasses.dataclass(frozen=True)
class Archive:
    """What the configured Debian suites hold: upstream versions with a stock image, per arch, and with a
    ``linux-source`` package."""
    images: Mapping[str, frozenset[KernelVersion]]
    sources: frozenset[KernelVersion]
    suites: tuple[str, ...] = ()


def archive(images: Mapping[str, Iterable[tuple[str, str]]], sources: Iterable[tuple[str, str]],
            patterns: Mapping[str, tuple[re.Pattern[str], ...]], suites: tuple[str, ...] = ()) -> Archive:
    """An :class:`Archive` from (package, Debian version) pairs per arch, keeping the packages of the arch's stock
    image (``patterns``: :meth:`harness.arch.Arch.image_package_patterns`) and ``linux-source*``."""
    def versions(pairs: Iterable[tuple[str, str]], pats: tuple[re.Pattern[str], ...]) -> frozenset[KernelVersion]:
        out = set()
        for name, version in pairs:
            v = upstream_of_debian(version)
            if v is not None and v.rc is None and any(p.match(name) for p in pats):
                out.add(v)
        return frozenset(out)
    return Archive({arch: versions(pairs, patterns[arch]) for arch, pairs in images.items()},
                   versions(sources, SOURCE_PATTERNS), suites)


def latest(branch: Branch, rule: LatestRule, found: Archive, need_source: bool) -> Resolved:
    """The newest ``rule.count`` releases of ``rule.series`` that every arch of ``branch`` has an image of.
    ``need_source``: the branch builds its selftests from its newest release (no ``corpus:``)."""
    series = rule.series
    if series == "newest":
        held = [v for a in branch.arches for v in found.images.get(a, frozenset())]
        series = max(held).series if held else "newest"

    def in_series(v: KernelVersion) -> bool:
        return v.series == series
    per_arch = {a: {v for v in found.images.get(a, frozenset()) if in_series(v)} for a in branch.arches}
    seen = sorted(set().union(*per_arch.values()))
    everywhere = [v for v in seen if all(v in per_arch[a] for a in branch.arches)]
    suites = ", ".join(found.suites) or "the configured suites"
    if not everywhere:
        near = sorted({v.series for vs in found.images.values() for v in vs})
        raise NotFoundError(f"{rule.where}: branch {branch.name}: no {series} release has an image for "
                            f"{' and '.join(branch.arches)} in {suites}"
                            + (f"; series there: {', '.join(near)}" if near else ""))
    taken = everywhere[-rule.count:]
    notes = []
    if len(taken) < rule.count:
        notes.append(f"only {len(taken)} {series} release(s) on {' and '.join(branch.arches)} in {suites}; "
                     f"{rule.count} wanted")
    for v in seen:
        if v > taken[-1] and v not in everywhere:
            lacking = [a for a in branch.arches if v not in per_arch[a]]
            notes.append(f"{v}: pending, no {' or '.join(lacking)} image in {suites} yet (not tested until every "
                         f"arch of the branch has one)")
    source = None
    if need_source:
        with_source = [v for v in taken if v in found.sources]
        if not with_source:
            raise NotFoundError(f"{rule.where}: branch {branch.name}: none of {', '.join(map(str, taken))} has a "
                                f"linux-source package in {suites} to build the selftests from; give the branch a "
                                f"corpus:")
        source = with_source[-1]
        if source != taken[-1]:
            notes.append(f"{taken[-1]}: no linux-source in {suites} yet; the selftests come from {source}")
    kernels = tuple(KernelSpec(rule.id.replace("{version}", str(v)), DebianKernel(v), rule.where) for v in taken)
    return Resolved(branch.name, str(rule), kernels, source, tuple(notes))


@dataclasses.dataclass(frozen=True)
class Followed:
    """A git branch's state: its newest release tag reachable from its head, the head, and the commits between
    them that touch the BPF paths (oldest first, the head left out)."""
    tag: str
    tag_commit: str
    tag_subject: str
    head: str
    head_subject: str
    between: tuple[tuple[str, str], ...] = ()


def follow(spec: KernelSpec, state: Followed) -> tuple[list[KernelSpec], list[str]]:
    """The kernels a followed branch stands for: its release tag, each BPF commit after it, and its head."""
    src = spec.source
    assert isinstance(src, GitFollow), spec
    prefix = "" if spec.id == src.branch else f"{spec.id}-"

    def kernel(name: str, commit: str, subject: str) -> KernelSpec:
        return KernelSpec(re.sub(r"[^A-Za-z0-9._+-]", "-", prefix + name),
                          GitKernel(src.tree, commit, src.backend, subject), spec.where)
    tag = kernel(state.tag, state.tag_commit, state.tag_subject)
    if state.head == state.tag_commit:
        return [tag], [f"{src.branch} is at its release tag {state.tag}: nothing queued after it"]
    return ([tag] + [kernel(f"{src.branch}-{c[:12]}", c, subject) for c, subject in state.between]
            + [kernel(f"{src.branch}-head", state.head, state.head_subject)], [])


def queued(spec: KernelSpec, tree: Path, base: tuple[str, str], commits: list[tuple[str, str, bool]],
           failed: str = "", untested: tuple[str, ...] = ()) -> tuple[list[KernelSpec], list[str], list[str]]:
    """A queue's kernels (pure): its release (``ID-base``), each commit touching the BPF paths but the last
    (``ID-<commit>``), and the whole queue as far as it applied (``ID``); its notes; what it left untested.
    ``base``: (commit, subject) of the release's source in ``tree``; ``commits``: (commit, subject, touches the
    BPF paths) of each patch that applied, in order."""
    src = spec.source
    assert isinstance(src, Queue), spec

    def kernel(kid: str, commit: str, subject: str) -> KernelSpec:
        return KernelSpec(kid, GitKernel(tree, commit, src.backend, subject), spec.where)
    kernels = [kernel(f"{spec.id}-base", *base)]
    notes, left = [], []
    if commits:
        kernels += [kernel(f"{spec.id}-{c[:12]}", c, subject) for c, subject, bpf in commits[:-1] if bpf]
        kernels.append(kernel(spec.id, commits[-1][0], commits[-1][1]))
        notes.append(f"{spec.id}: {len(commits)} patch(es) on {src.on}, {sum(b for _, _, b in commits)} touching the "
                     f"BPF paths; {spec.id} is the whole queue" + (" as far as it applies" if failed else ""))
    if failed:
        notes.append(f"{spec.id}: {failed}; stopped there")
        left = [f"{spec.id}: {name} (after a patch that does not apply)" for name in untested]
        if untested:
            notes.append(f"{spec.id}: not tested: {len(untested)} later patch(es): {', '.join(untested)}")
    return kernels, notes, left
