"""Commit evidence: mainline BPF fixes (``Fixes:`` tags) and whether a stable branch already contains them.

"Contains" is decided as stable maintainers do, each match labelled with how it was made:

1. ``upstream-id``: a stable commit says ``commit X upstream.`` or ``[ Upstream commit X ]``;
2. ``patch-id``: a stable commit has the same ``git patch-id --stable`` (the same diff);
3. ``subject``: a stable commit -- or, with no stable git tree, a Debian changelog entry -- has the same
   subject (weakest: a subject can be reused).

Parsing commit messages is pure (:func:`parse_message`); reading trees goes through :mod:`harness.kernels.built.git`.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Iterable, Sequence

from harness.backports.changelog import Entry, norm_subject
from harness.kernels.built import git

_FIXES = re.compile(r"^\s*Fixes:\s*([0-9a-f]{7,40})\b(?:\s*\(\"(.*)\"\))?", re.I | re.M)
_UPSTREAM = re.compile(r"^\s*(?:\[\s*Upstream commit ([0-9a-f]{7,40})\s*\]|commit ([0-9a-f]{7,40}) upstream\.?)",
                       re.I | re.M)
_LINK = re.compile(r"^\s*Link:\s*(\S+)", re.I | re.M)
_CVE = re.compile(r"CVE-\d{4}-\d{4,}")
SEP = "\x1e"


@dataclasses.dataclass(frozen=True)
class FixRef:
    id: str
    subject: str | None


@dataclasses.dataclass(frozen=True)
class Commit:
    id: str
    subject: str
    fixes: tuple[FixRef, ...] = ()
    upstream: str | None = None
    """The mainline id a stable commit names (``[ Upstream commit X ]``)."""
    links: tuple[str, ...] = ()
    cves: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()

    @property
    def short(self) -> str:
        return self.id[:12]


def parse_message(cid: str, subject: str, body: str, paths: Sequence[str] = ()) -> Commit:
    """One commit's evidence from its message (pure)."""
    fixes = tuple(FixRef(m.group(1).lower(), m.group(2)) for m in _FIXES.finditer(body))
    up = _UPSTREAM.search(body)
    return Commit(cid, subject.strip(), fixes, (up.group(1) or up.group(2)).lower() if up else None,
                  tuple(_LINK.findall(body)), tuple(dict.fromkeys(_CVE.findall(subject + "\n" + body))),
                  tuple(paths))


def read_log(tree: Path, rev_range: str, paths: Sequence[str] = ()) -> list[Commit]:
    """The commits of ``rev_range`` (oldest first) touching ``paths``, with the files each one touches."""
    spec = [p.rstrip("/") if not any(c in p for c in "*?[") else f":(glob){p}" for p in paths]
    out = git.git(tree, "log", "--reverse", "--no-merges", "--name-only", f"--format={SEP}%H%x00%s%x00%b%x00",
                  rev_range, "--", *spec, timeout=1800).output
    return parse_log(out)


def parse_log(out: str) -> list[Commit]:
    """``git log --name-only --format=<SEP>%H%x00%s%x00%b%x00`` output as commits (pure)."""
    commits = []
    for chunk in out.split(SEP)[1:]:
        cid, subject, body, files = (chunk.split("\x00", 3) + ["", "", ""])[:4]
        commits.append(parse_message(cid.strip(), subject, body,
                                     tuple(f for f in files.split("\n") if f.strip())))
    return commits


@dataclasses.dataclass(frozen=True)
class Match:
    how: str
    """``upstream-id``, ``patch-id``, ``subject`` or ``subject (Debian changelog <release>)``."""
    where: str
    """The stable commit (short id) or the release whose changelog lists it."""


class StableIndex:
    """What a stable branch contains, from its git history and/or a Debian changelog."""

    def __init__(self, commits: Iterable[Commit] = (), changelog: Iterable[Entry] = (),
                 patch_ids: dict[str, str] | None = None, base_tree: Path | None = None, base: str | None = None):
        self.by_upstream: dict[str, str] = {}
        self.by_subject: dict[str, str] = {}
        for c in commits:
            if c.upstream:
                self.by_upstream[c.upstream] = c.short
            self.by_subject.setdefault(norm_subject(c.subject), c.short)
        self.by_prefix = {uid[:12]: short for uid, short in self.by_upstream.items() if len(uid) >= 12}
        """Upstream id (first 12 digits) -> stable commit: one lookup per mainline commit, not a scan."""
        self.changelog: dict[str, Entry] = {}
        for e in changelog:
            self.changelog.setdefault(norm_subject(e.subject), e)
        self.patch_ids = patch_ids or {}
        """patch-id -> stable commit (short id)."""
        self.base_tree, self.base = base_tree, base
        """A tree in which ``base`` (the branch point, e.g. v6.12) is an ancestor of everything the branch
        inherited from mainline: a mainline commit reachable from it is in the branch without a backport."""

    def contains(self, c: Commit, patch_id: str | None = None) -> Match | None:
        short = self.by_prefix.get(c.id[:12])
        if short is None:  # ids abbreviated below 12 digits (either side) are rare: scan for those alone
            short = next((s for uid, s in self.by_upstream.items()
                          if (len(uid) < 12 and c.id.startswith(uid)) or (len(c.id) < 12 and uid.startswith(c.id))),
                         None)
        if short is not None:
            return Match("upstream-id", short)
        if patch_id and patch_id in self.patch_ids:
            return Match("patch-id", self.patch_ids[patch_id])
        s = norm_subject(c.subject)
        if s in self.by_subject:
            return Match("subject", self.by_subject[s])
        if s in self.changelog:
            e = self.changelog[s]
            return Match(f"subject (Debian changelog {e.release})", e.release)
        return None

    def place(self, ref: FixRef, mainline: Path | None) -> tuple[str, str]:
        """Where a ``Fixes:`` target sits for this branch: (``in-branch``/``backported``/``not-in-branch``/
        ``unknown``, how that was decided)."""
        if mainline is not None and self.base:
            res = git.git(mainline, "rev-parse", "--verify", "--quiet", f"{ref.id}^{{commit}}", check=False)
            if res.returncode == 0:
                full = res.output.strip()
                if git.is_ancestor(mainline, full, self.base):
                    return "in-branch", f"{ref.id[:12]} is an ancestor of {self.base}"
                m = self.contains(Commit(full, ref.subject or git.info(mainline, full).subject))
                if m:
                    return "backported", f"{m.how} {m.where}"
                return "not-in-branch", f"{ref.id[:12]} came after {self.base} and is not in the branch"
        m = self.contains(Commit(ref.id, ref.subject or ""))
        if ref.subject and m:
            return "backported", f"{m.how} {m.where}"
        return "unknown", (f"{ref.id[:12]} is not in the mainline tree given" if mainline is not None and self.base
                           else "no mainline tree with --base to place it")


def stable_commits(tree: Path, rev_range: str) -> list[Commit]:
    """A stable branch's own commits (``v6.12..v6.12.117``), with their upstream lines."""
    return read_log(tree, rev_range)


def patch_ids(tree: Path, commits: Sequence[str]) -> dict[str, str]:
    """``git patch-id --stable`` of each commit: patch-id -> commit id."""
    out: dict[str, str] = {}
    for cid in commits:
        diff = git.git(tree, "show", "--format=", "--no-color", cid, timeout=300).output
        pid = git.git(tree, "patch-id", "--stable", input_text=diff).output.split()
        if pid:
            out[pid[0]] = cid[:12]
    return out
