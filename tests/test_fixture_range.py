"""The recorded 32-commit range (tests/data/fixture-6.12.115-range) is what its README says: one mail
per changelog entry, in the changelog's order, on the BPF paths only, consistent with the small fixture."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

from harness.kernels.built import git

DATA = Path(__file__).resolve().parent / "data"
RANGE = DATA / "fixture-6.12.115-range"
SMALL = DATA / "fixture-6.12.113-bpf"
SELFTEST = "tools/testing/selftests/bpf/progs/exceptions_fail.c"


def mails(d: Path) -> list[tuple[str, str, str]]:
    """(name, subject, diff) of each patch of ``d``'s series, in order."""
    out = []
    for name in (d / "series").read_text().split():
        text = (d / name).read_text()
        assert git.is_mail(text), name
        subject = re.search(r"(?m)^Subject: \[PATCH\] (.*)$", text).group(1)
        out.append((name, subject, text.split("\n---\n", 1)[1]))
    return out


def changelog_subjects() -> list[str]:
    lines = (RANGE / "changelog-6.12.115-1-bpf.txt").read_text().splitlines()
    return [re.sub(r" \(CVE-[0-9-]+\)$", "", ln.strip()[2:]) for ln in lines if ln.startswith("    - ")]


def test_one_commit_per_changelog_entry_in_changelog_order():
    entries = changelog_subjects()
    got = mails(RANGE)
    assert len(got) == 32
    # a commit that carries several entries names them in its subject ("a(), b() and c()"); the others
    # are changelog subjects verbatim
    positions = []
    for name, subject, _ in got:
        if subject in entries:
            positions.append(entries.index(subject))
        else:
            assert name.startswith("0004"), subject
            positions.append(entries.index("bpf: Factor out check_atomic_rmw()"))
    assert positions == sorted(positions)


def test_only_bpf_paths_and_one_selftest():
    for name, _, diff in mails(RANGE):
        files = re.findall(r"(?m)^\+\+\+ b/(\S+)$", diff)
        assert files, name
        for f in files:
            assert f == SELFTEST or any(fnmatch.fnmatch(f, p + ("*" if p.endswith("/") else ""))
                                        for p in git.BPF_PATHS), (name, f)


def test_the_small_fixture_is_four_of_these_commits():
    small = {subject: diff for _, subject, diff in mails(SMALL)}
    big = {subject: diff for _, subject, diff in mails(RANGE)}
    assert len(small) == 4
    for subject, diff in small.items():
        assert big[subject] == diff, subject
