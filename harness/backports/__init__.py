"""The backport candidate checker: mainline BPF fixes (and their selftests) missing from a stable branch.

Public face: :func:`check` gathers the evidence into a :class:`Report`; :mod:`harness.backports.report`
renders it (md, json, html); :func:`harness.backports.maps.generate` writes ``selftest_maps/``.

Evidence, strongest first:

- **confirmed**: the fix applied to the branch's newest release, built and verified (``--confirm``): its
  paired tests now behave as they expect and nothing else regresses;
- **behaviour**: newer selftests on the branch's kernel and on the reference kernel differ where the
  reference meets the test's expectation (the store's cells, see :mod:`.evidence`);
- **commit**: a mainline commit with ``Fixes:`` on BPF paths that the branch does not contain
  (:mod:`.commits`: upstream id, patch-id, subject, or the Debian changelog's subject).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

from harness.backports import behaviour as beh
from harness.backports import changelog, commits, evidence, maps
from harness.backports.confirm import Confirmation
from harness.kernels.built import git
from harness.errors import UserError
from harness.store import Store
from harness.version import KernelVersion
from harness.arch import PRIMARY
from harness.backends import UML


@dataclasses.dataclass
class Candidate:
    id: str
    """The mainline commit (full id), or ``""`` for behaviour no selftest map ties to a commit."""
    subject: str
    fixes: list[dict] = dataclasses.field(default_factory=list)
    """Each ``Fixes:`` target: id, subject, placement (in-branch/backported/not-in-branch/unknown), how."""
    cves: list[str] = dataclasses.field(default_factory=list)
    tests: list[str] = dataclasses.field(default_factory=list)
    """Paired selftest programs (selftest_maps), object/program."""
    behaviour: list[beh.Behaviour] = dataclasses.field(default_factory=list)
    queued: str | None = None
    """The stable-review mail subject that queues it, when one does."""
    contained: str | None = None
    """How the branch's contents (stable tree, changelog) show it is already in a release of the branch, when
    behaviour evidence on an older kernel of the branch still points at it: update, no backport needed."""
    confirmation: Confirmation | None = None
    reproduce: list[str] = dataclasses.field(default_factory=list)
    from_log: bool = False
    """Found by commit evidence (a mainline commit with Fixes: the branch lacks), not only through a map."""

    @property
    def evidence(self) -> list[str]:
        out = []
        if self.confirmation is not None and self.confirmation.verdict == "confirmed":
            out.append("confirmed")
        if self.behaviour:
            out.append("behaviour")
        if self.from_log:
            out.append("commit")
        return out

    @property
    def rank(self) -> tuple:
        confirmed = self.confirmation is not None and self.confirmation.verdict == "confirmed"
        worst = min((beh.RANK[b.kind] for b in self.behaviour), default=9)
        return (self.contained is not None, not confirmed, not self.behaviour, worst, not self.from_log, not self.cves,
                self.queued is not None, self.subject)


@dataclasses.dataclass
class Report:
    branch: str
    candidates: list[Candidate]
    own: list[beh.OwnCase]
    """The branch's own selftests that do not behave as they expect on its newest kernel."""
    fixes_without_tests: list[dict]
    """Fixes the branch contains whose paired selftest (selftest_maps) its own selftests lack."""
    cells: evidence.Cells | None
    sources: list[str]
    """What was read (trees, ranges, changelogs, cells, maps), for the report's header."""
    gaps: list[str]
    """Evidence that could not be gathered, each with why: never read as 'nothing missing'."""
    unjudged: list[str] = dataclasses.field(default_factory=list)
    notes: dict = dataclasses.field(default_factory=dict)
    """Reviewed explanations from selftest_maps/notes.yaml: program -> text."""

    @property
    def missing(self) -> list[Candidate]:
        """What ``--fail-on missing`` counts: commit candidates not queued and not shown to have no effect, and
        programs in the dangerous direction (the branch accepts what the reference rejects as the test expects)."""
        return [c for c in self.candidates
                if (c.id or any(b.kind == "missing-fix" for b in c.behaviour)) and c.queued is None
                and c.contained is None and (c.confirmation is None or c.confirmation.verdict != "no-effect")]


def queued_subjects(inbox: Path, series: tuple[int, int]) -> dict[str, str]:
    """Subjects of ``[PATCH X.Y NNN/MMM] subject`` stable-review mails in a public-inbox git (one commit per
    mail, the mail's subject as the commit's): normalized subject -> the mail's subject."""
    import re
    inbox = git.check_tree(inbox, "backports --queue")
    out = git.git(inbox, "log", "--all", "--format=%s", timeout=600).output
    pat = re.compile(rf"^\s*\[PATCH\s+{series[0]}\.{series[1]}(?:\.y)?\b[^\]]*\]\s*(.+)$", re.I)
    found = {}
    for line in out.splitlines():
        m = pat.match(line)
        if m:
            found[changelog.norm_subject(m.group(1))] = line.strip()
    return found


def check(*, branch: str, db: Path | None, maps_paths: Sequence[Path] = (), mainline: Path | None = None,
          since: str | None = None, head: str = "HEAD", base: str | None = None, stable: Path | None = None,
          stable_rev: str | None = None, changelog_path: Path | None = None, queue: Path | None = None,
          notes_path: Path | None = None, arch: str = PRIMARY.name, at: str | None = None) -> Report:
    """Gather every kind of evidence this machine has for ``branch``; what it lacks goes in ``gaps``."""
    try:
        series = evidence.series_of(branch)
    except ValueError as e:
        raise UserError(str(e)) from None
    at_v = None
    if at is not None:
        try:
            at_v = KernelVersion.parse(at)
        except ValueError as e:
            raise UserError(f"backports --at: {e}") from None
        if (at_v.major, at_v.minor) != series:
            raise UserError(f"backports --at {at}: not a release of {branch}")
    sources, gaps = [], []
    m = maps.load(maps_paths)
    sources += [f"selftest map {p}" for p in maps_paths]
    notes = _notes(notes_path)

    # What the branch contains.
    stable_log: list[commits.Commit] = []
    if stable is not None:
        stable = git.check_tree(stable, "backports --stable")
        rev = git.resolve(stable, stable_rev or "HEAD", "backports --stable-rev")
        sbase = base or f"v{series[0]}.{series[1]}"
        git.resolve(stable, sbase, "backports --base (the branch point in --stable)")
        stable_log = commits.read_log(stable, f"{sbase}..{rev}", git.BPF_PATHS)
        sources.append(f"stable tree {stable} {sbase}..{rev[:12]}: {len(stable_log)} BPF commits")
    entries: list[changelog.Entry] = []
    if changelog_path is not None:
        if not changelog_path.is_file():
            raise UserError(f"backports --changelog {changelog_path}: no such file (a changelog.Debian.gz)")
        entries = changelog.read(changelog_path)
        if not entries:
            raise UserError(f"backports --changelog {changelog_path}: no 'New upstream stable update' entries "
                            "in it; give a Debian linux/linux-source changelog.Debian.gz")
        sources.append(f"Debian changelog {changelog_path}: {len(entries)} upstream subjects")
    if stable is None and not entries:
        gaps.append("what the branch contains: no --stable tree and no Debian changelog, so no commit is known "
                    "to be in it")
    index = commits.StableIndex(stable_log, entries, base_tree=mainline if base else None, base=base)

    queued: dict[str, str] = {}
    if queue is not None:
        queued = queued_subjects(queue, series)
        sources.append(f"stable queue {queue}: {len(queued)} review mails for {series[0]}.{series[1]}")

    cands: dict[str, Candidate] = {}
    # Commit evidence.
    if mainline is not None:
        mainline = git.check_tree(mainline, "backports --mainline")
        if not since:
            raise UserError("backports --mainline needs --since REV (where to start reading mainline)")
        git.resolve(mainline, since, "backports --since")
        top = git.resolve(mainline, head, "backports --head")
        log = commits.read_log(mainline, f"{since}..{top}", git.BPF_PATHS)
        sources.append(f"mainline {mainline} {since}..{top[:12]}: {len(log)} commits on BPF paths")
        fixes = [c for c in log if c.fixes]
        pids = commits.patch_ids(stable, [c.id for c in stable_log]) if stable is not None else {}
        index.patch_ids = pids
        for c in fixes:
            pid = None
            if pids:
                pid = next(iter(commits.patch_ids(mainline, [c.id])), None)
            if index.contains(c, pid):
                continue
            placed = [(f, *index.place(f, mainline)) for f in c.fixes]
            if placed and all(p[1] == "not-in-branch" for p in placed):
                continue  # it fixes something the branch never had
            cands[c.id] = Candidate(c.id, c.subject, [
                {"id": f.id[:12], "subject": f.subject, "placement": where, "how": how} for f, where, how in placed],
                list(c.cves), m.tests_of(c.id[:12]), queued=queued.get(changelog.norm_subject(c.subject)),
                from_log=True)
    else:
        gaps.append("commit evidence: no --mainline tree given (mainline fixes with Fixes: tags are read from it)")

    # Behaviour evidence.
    cells = None
    own_cases: list[beh.OwnCase] = []
    unjudged: list[str] = []
    if db is not None and db.exists():
        with Store(db) as store:
            cells = evidence.find(store, series, arch, at_v)
            sources.append(f"store {db}")
            if cells.newer and cells.reference:
                bn, br = store.result_map(cells.newer.id), store.result_map(cells.reference.id)
                found, unjudged = beh.compare(cells.newer.kernel, bn, cells.reference.kernel, br,
                                              (cells.newer.backend == UML.name, cells.reference.backend == UML.name))
                sources.append(f"behaviour: corpus {cells.newer.corpus} on {cells.newer.kernel} vs "
                               f"{cells.reference.kernel}: {len(found)} differences read through the tests' "
                               f"expectations")
                _attach(cands, found, m, index)
            else:
                bn = br = None
                gaps.append(f"behaviour evidence: the store has no complete {arch} cells of newer selftests on both a "
                            f"{series[0]}.{series[1]} kernel and a newer one (run a matrix with a newer corpus on the "
                            "branch's kernel and on the reference)")
            if cells.own is None and cells.newer is None:
                gaps.append(f"the store has no complete {arch} cell of a {at or branch} kernel")
            if cells.own:
                own = store.result_map(cells.own.id)
                own_cases, own_load = beh.own_unexpected(cells.own.kernel, own, bn, br,
                                                         cells.reference.kernel if cells.reference else None,
                                                         uml=cells.own.backend == UML.name)
                unjudged += own_load
                sources.append(f"own selftests: corpus {cells.own.corpus} on {cells.own.kernel}")
            else:
                gaps.append(f"own selftests: no complete {arch} cell of the branch's own selftests on a "
                            f"{series[0]}.{series[1]} kernel")
            for i in cells.incomplete:
                gaps.append(f"cell {i}: not complete, not read")
    else:
        gaps.append(f"behaviour evidence: no store{f' at {db}' if db else ''}")

    fwt = _fixes_without_tests(m, index, cells, db) if (stable_log or entries) else []
    for c in cands.values():
        c.reproduce = _reproduce(c, mainline)
    out = sorted(cands.values(), key=lambda c: c.rank)
    return Report(branch, out, own_cases, fwt, cells, sources, gaps, unjudged, notes)


def _attach(cands: dict[str, Candidate], found: list[beh.Behaviour], m: maps.Maps, index: commits.StableIndex) -> None:
    for b in found:
        fixes = m.fixes_of(b.program)
        hit = [c for cid, c in cands.items() if any(cid.startswith(f[:12]) for f in fixes)]
        if hit:
            for c in hit:
                c.behaviour.append(b)
                if b.program not in c.tests:
                    c.tests.append(b.program)
            continue
        key = "program:" + b.program
        if fixes:
            key = "commit:" + fixes[0]
            info = m.commits.get(fixes[0], {})
            c = cands.get(key)
            if c is None:
                c = cands[key] = Candidate(fixes[0], info.get("subject", "(subject not in the map)"),
                                           cves=list(info.get("cves", ())))
                hit = index.contains(commits.Commit(info.get("upstream") or fixes[0], info.get("subject", "")))
                if hit:
                    c.contained = f"{hit.how} {hit.where}"
            if b.program not in c.tests:
                c.tests.append(b.program)
        else:
            c = cands.setdefault(key, Candidate("", f"{b.program}: no selftest map names its commit",
                                                tests=[b.program]))
        c.behaviour.append(b)


def _fixes_without_tests(m: maps.Maps, index: commits.StableIndex, cells, db) -> list[dict]:
    """Fixes the branch contains (by the index) whose paired tests are not in its own selftests."""
    if cells is None or cells.own is None or db is None:
        return []
    with Store(db) as store:
        have = {f"{o}/{p}" for o, p in store.result_map(cells.own.id)}
    out = []
    for cid, info in sorted(m.commits.items()):
        tests = m.tests_of(cid[:12])
        if not tests or cid in {t.commit for p in tests for t in m.programs[p] if t.fixes == ()}:
            continue
        hit = index.contains(commits.Commit(cid, info.get("subject", "")))
        if hit is None:
            continue
        absent = [t for t in tests if t not in have]
        if absent:
            out.append({"id": cid[:12], "subject": info.get("subject"), "how": f"{hit.how} {hit.where}",
                        "tests": absent})
    return out


def _notes(path: Path | None) -> dict:
    """Reviewed explanations (``selftest_maps/notes.yaml``): object/program -> text."""
    import yaml
    if path is None or not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise UserError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: not a mapping of object/program -> explanation")
    return {str(k): " ".join(str(v).split()) for k, v in data.items()}


def _reproduce(c: Candidate, mainline: Path | None) -> list[str]:
    out = []
    if c.id and mainline is not None:
        out.append(f"git -C {mainline} show {c.id[:12]}")
        out.append(f"git -C {mainline} format-patch -1 {c.id[:12]}")
    return out
