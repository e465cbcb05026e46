"""A stable update before its release: the patches the stable team queued, read and applied.

Two shapes, as the stable team keeps them: a stable-queue style directory (a ``series`` file naming the
patches in order, ``#`` comments) and an mbox of a ``[PATCH X.Y NNN/MMM]`` review series (its ``000`` cover
letter and any reply left out).  Applied one by one on the release's Debian source as commits (fixed
identities: the same queue gives the same commits on every machine); applying stops at the first patch that
does not apply, and what follows it is reported as not tested.
"""

from __future__ import annotations

import dataclasses
import email
import email.message
import email.policy
import hashlib
import re
from pathlib import Path

from harness.errors import UserError

_SUBJECT = re.compile(r"^\[PATCH[^\]]*?\s(\d+)/(\d+)\]\s*(.*)$", re.S)
_MBOX_FROM = re.compile(r"^From (?=\S+ +\w{3} \w{3} +\d)", re.M)
"""An mbox's separator line: ``From <sender or commit> <weekday> <month> <day> ...``."""


def mails(text: str) -> list[tuple[str, email.message.Message]]:
    """The mails of an mbox, or the one mail of a mail file, each with its text (pure)."""
    out = []
    for i, raw in enumerate(_MBOX_FROM.split(text)):
        if raw.strip():
            whole = raw if i == 0 else "From " + raw  # the split took each later mail's "From " line start
            out.append((whole, email.message_from_string(whole, policy=email.policy.compat32)))
    return out


@dataclasses.dataclass(frozen=True)
class Patch:
    name: str
    """File name (a directory's) or ``NNN-subject`` (an mbox's)."""
    text: str


def read_series(directory: Path) -> list[Patch]:
    """The patches a stable-queue style directory's ``series`` names, in order."""
    series = directory / "series"
    if not series.is_file():
        raise UserError(f"queue {directory}: no series file (a stable-queue directory lists its patches in series)")
    out = []
    for n, line in enumerate(series.read_text(errors="replace").splitlines(), 1):
        name = line.split("#", 1)[0].strip()
        if not name:
            continue
        path = directory / name
        if not path.is_file():
            raise UserError(f"{series}:{n}: patch {name} is not in {directory}")
        out.append(Patch(name, path.read_text(errors="replace")))
    if not out:
        raise UserError(f"{series}: names no patch")
    return out


def split_mbox(text: str, where: str) -> list[Patch]:
    """The patches of a review series mbox, by their ``NNN/MMM`` numbers (pure): the cover letter (000) and
    replies left out; a number given twice or a gap in the numbers is an error."""
    by_number: dict[int, Patch] = {}
    total = None
    for whole, msg in mails(text):
        subject = " ".join(str(msg.get("Subject", "")).split())
        got = _SUBJECT.match(subject)
        if got is None or subject.lower().startswith("re:"):
            continue
        number, total = int(got.group(1)), int(got.group(2))
        if number == 0:
            continue
        if number in by_number:
            raise UserError(f"{where}: patch {number}/{total} is in the mbox twice")
        name = f"{number:04d}-" + re.sub(r"[^A-Za-z0-9]+", "-", got.group(3)).strip("-")[:52]
        by_number[number] = Patch(name, whole)
    if not by_number:
        raise UserError(f"{where}: no [PATCH X.Y NNN/MMM] mail in it")
    missing = [n for n in range(1, max(by_number) + 1) if n not in by_number]
    if missing:
        raise UserError(f"{where}: the series lacks patch(es) {', '.join(map(str, missing[:10]))} of {total}; "
                        f"the mbox must hold the whole series")
    return [by_number[n] for n in sorted(by_number)]


def read(path: Path) -> list[Patch]:
    """A queue's patches: a directory with ``series``, or an mbox file."""
    if path.is_dir():
        return read_series(path)
    if not path.is_file():
        raise UserError(f"queue {path}: no such directory or mbox")
    return split_mbox(path.read_text(errors="replace"), f"queue {path}")


def digest(patches: list[Patch]) -> str:
    return hashlib.sha256("\0".join(p.name + "\0" + p.text for p in patches).encode()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class Applied:
    base: str
    commits: tuple[tuple[str, str], ...]
    """(commit, patch name) of each patch that applied, in order."""
    failed: str = ""
    """The first patch that did not apply, and why ('' when all did)."""
    untested: tuple[str, ...] = ()
    """The patches after it."""


def apply(repo: Path, base: str, patches: list[Patch], work: Path, where: str) -> Applied:
    """Commit ``patches`` one by one on ``base`` in ``repo`` (``work``: where the patch files are written)."""
    from harness.kernels.built import git
    work.mkdir(parents=True, exist_ok=True)
    head, commits = base, []
    for i, p in enumerate(patches):
        f = work / f"{i + 1:04d}-{Path(p.name).name.removesuffix('.patch')}.patch"
        f.write_text(p.text)
        try:
            head = git.commit_patches(repo, head, [f], where)
        except git.PatchDoesNotApply as e:
            why = str(e).rsplit(" does not apply on ", 1)[-1]
            return Applied(base, tuple(commits), f"{p.name} does not apply on {why}",
                           tuple(q.name for q in patches[i + 1:]))
        commits.append((head, p.name))
    git.git(repo, "update-ref", f"refs/bpf-harness/queues/{digest(patches)}", head)  # kept from gc
    return Applied(base, tuple(commits))
