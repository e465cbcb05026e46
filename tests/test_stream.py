"""Kernels by rule (harness.stream), over what the Debian archive really held on 2026-12-05
(tests/data/stream/archive-2026-12-05.tsv: bookworm-security, x86_64 and arm64, recorded through the harness's
private apt): ``latest N`` takes the newest releases every arch has, says what is pending, records each changed
resolution in the store, and reports which kernels are new since the previous one."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from harness import matrix, stream
from harness.arch import get_arch
from harness.cli import main
from harness.errors import ConfigError, NotFoundError, UserError
from harness.matrix import DebianKernel, GitKernel, LatestRule
from harness.store import Store
from harness.stream import rules
from conftest import data, recorded_61_store

RULES = ("branches:\n  6.12.y:\n    kernels: {latest: 3}\n  6.1.y:\n    arches: [x86_64]\n"
         "    kernels: {latest: 2}\narches: [x86_64, arm64]\ndebian: {suites: [bookworm-security]}\n")


def recorded_archive(drop=lambda arch, name, version: False) -> rules.Archive:
    images: dict[str, list] = {}
    sources = []
    for line in data("stream/archive-2026-12-05.tsv").read_text().splitlines():
        if line.startswith("#"):
            continue
        arch, name, version = line.split("\t")
        if drop(arch, name, version):
            continue
        if name.startswith("linux-image-"):
            images.setdefault(arch, []).append((name, version))
        elif arch == "x86_64":
            sources.append((name, version))
    return rules.archive(images, sources, {a: get_arch(a).image_package_patterns() for a in images},
                         ("bookworm-security",))


def resolved(text: str = RULES, found: rules.Archive | None = None, path="/ci/nightly.yaml"):
    m = matrix.parse(text, path)
    return m, stream.resolve_with(m, found or recorded_archive(), None)


def ids(r: rules.Resolved) -> list[str]:
    return [k.id for k in r.kernels]


def test_a_rule_is_parsed_with_its_series_from_the_branch_name_or_series_key():
    m = matrix.parse(RULES, "m.yaml")
    b = m.branches[0]
    assert (b.rule, b.kernels, b.follows, m.cells()) == (LatestRule(3, "6.12", "m.yaml:3"), (), True, [])
    m = matrix.parse("branches:\n  stable:\n    series: 7.3\n    kernels: {latest: 1}\n", "m.yaml")
    assert m.branches[0].rule == LatestRule(1, "7.3", "m.yaml:4")
    assert not matrix.parse("branches:\n  b:\n    kernels: [6.1.190]\n", "m.yaml").follows


@pytest.mark.parametrize("text,message", [
    ("branches:\n  mainline:\n    kernels: {latest: 2}\n",
     "m.yaml:3: branch mainline: kernels: {latest: 2} needs a series: name the branch MAJOR.MINOR.y (6.12.y) or give "
     "series: MAJOR.MINOR"),
    ("branches:\n  6.12.y:\n    kernels: {latest: 0}\n", "m.yaml:3: branch 6.12.y: kernels: latest must be between 1 and 50, not 0"),
    ("branches:\n  6.12.y:\n    kernels: {newest: 2}\n", "m.yaml:3: branch 6.12.y: kernels: unknown key 'newest'; allowed: latest, id"),
    ("branches:\n  b:\n    series: 6.12\n    kernels: [6.12.117]\n", "m.yaml:3: branch b: series goes with kernels: {latest: N}"),
    ("branches:\n  b:\n    series: '6'\n    kernels: {latest: 2}\n",
     "m.yaml:3: branch b: series must be MAJOR.MINOR (6.12) or newest, not '6'"),
])
def test_bad_rules_are_one_line_with_their_place(text, message):
    with pytest.raises(ConfigError) as e:
        matrix.parse(text, "m.yaml")
    assert str(e.value) == message


def test_latest_takes_the_newest_releases_every_arch_has_and_the_selftests_of_the_newest():
    m, got = resolved()
    assert [(r.branch, ids(r), str(r.corpus_source), r.notes) for r in got] == [
        ("6.12.y", ["6.12.115", "6.12.117", "6.12.118"], "6.12.118", ()),
        ("6.1.y", ["6.1.190", "6.1.192"], "6.1.192", ())]
    applied = stream.apply(m, got)
    assert [c.key for c in applied.cells()] == ["6.12.115/x86_64", "6.12.115/arm64", "6.12.117/x86_64",
                                                "6.12.117/arm64", "6.12.118/x86_64", "6.12.118/arm64",
                                                "6.1.190/x86_64", "6.1.192/x86_64"]
    assert applied.corpora["6.12.y-selftests"].source == got[0].corpus_source
    assert applied.branches[0].rule == m.branches[0].rule  # kept: reports say what the kernels came from


def test_a_release_without_an_arm64_image_is_pending_and_said_so():
    found = recorded_archive(lambda arch, name, version: arch == "arm64" and version.startswith("6.12.118"))
    _, got = resolved(found=found)
    assert ids(got[0]) == ["6.12.113", "6.12.115", "6.12.117"]
    assert got[0].notes == ("6.12.118: pending, no arm64 image in bookworm-security yet (not tested until every arch "
                            "of the branch has one)",)
    # a branch that runs on x86_64 only takes it
    _, got = resolved(RULES.replace("arches: [x86_64, arm64]", "arches: [x86_64]"), found)
    assert ids(got[0])[-1] == "6.12.118" and got[0].notes == ()


def test_a_release_without_linux_source_takes_the_selftests_of_the_one_before():
    found = recorded_archive(lambda arch, name, version: name.startswith("linux-source") and version.startswith("6.12.118"))
    _, got = resolved(found=found)
    assert (ids(got[0])[-1], str(got[0].corpus_source)) == ("6.12.118", "6.12.117")
    assert got[0].notes == ("6.12.118: no linux-source in bookworm-security yet; the selftests come from 6.12.117",)
    # a branch with its own corpus needs no source
    _, got = resolved("corpora: {c: {source: 6.12.117}}\n" + RULES.replace("  6.12.y:\n", "  6.12.y:\n    corpus: c\n"),
                      found)
    assert (got[0].corpus_source, got[0].notes) == (None, ())


def test_fewer_releases_than_asked_and_an_absent_series():
    _, got = resolved("branches:\n  6.12.y:\n    kernels: {latest: 50}\n")
    assert len(got[0].kernels) == 8 and got[0].notes == (
        "only 8 6.12 release(s) on x86_64 in bookworm-security; 50 wanted",)
    with pytest.raises(NotFoundError) as e:
        resolved("branches:\n  6.13.y:\n    kernels: {latest: 2}\n", path="m.yaml")
    assert str(e.value) == ("m.yaml:3: branch 6.13.y: no 6.13 release has an image for x86_64 in bookworm-security; "
                            "series there: 6.1, 6.12")


def test_each_changed_resolution_is_recorded_and_says_what_is_new(tmp_path):
    m = matrix.parse(RULES, "/ci/nightly.yaml")
    yesterday = stream.resolve_with(m, recorded_archive(lambda a, n, v: v.startswith("6.12.118")), None)
    today = stream.resolve_with(m, recorded_archive(), None)
    with Store(tmp_path / "r.db") as s:
        first, changed = stream.record(s, m, yesterday, at=86400 * 20000)
        assert changed == {"6.12.y", "6.1.y"} and [r.new for r in first] == [tuple(ids(r)) for r in yesterday]
        assert stream.describe(first, changed)[0].endswith(", the first in this store; every kernel is new to it")
        now, changed = stream.record(s, m, today, at=86400 * 20001)
        assert changed == {"6.12.y"}  # 6.1.y resolved the same: not recorded again
        assert [(ids(r), r.new) for r in now] == [(["6.12.115", "6.12.117", "6.12.118"], ("6.12.118",)),
                                                  (["6.1.190", "6.1.192"], ("6.1.190", "6.1.192"))]
        lines = stream.describe(now, changed)
        assert lines[0].endswith("; new since the resolution of 2024-10-04 00:00 UTC: 6.12.118")
        assert lines[1].endswith("; unchanged since 2024-10-04 00:00 UTC: nothing new to resolve")
        # a second run the same day: nothing new anywhere, nothing recorded
        again, changed = stream.record(s, m, stream.resolve_with(m, recorded_archive(), None), at=86400 * 20001 + 60)
        assert changed == set() and again == now
        assert s.db.execute("SELECT COUNT(*) FROM resolutions").fetchone()[0] == 3


def test_resolutions_travel_with_merge(tmp_path):
    """CI shards resolve the same rules each; the merged store reads as one history."""
    from harness.nightly.merge import merge
    m = matrix.parse(RULES, "/ci/nightly.yaml")
    yesterday = stream.resolve_with(m, recorded_archive(lambda a, n, v: v.startswith("6.12.118")), None)
    today = stream.resolve_with(m, recorded_archive(), None)
    with Store(tmp_path / "night1.db") as s:
        stream.record(s, m, yesterday, at=100.0)
    for shard in ("a", "b"):
        with Store(tmp_path / f"{shard}.db") as s:
            stream.record(s, m, today, at=200.0 if shard == "a" else 201.0)
    merge(tmp_path / "all.db", [tmp_path / "night1.db", tmp_path / "a.db", tmp_path / "b.db"])
    merge(tmp_path / "all.db", [tmp_path / "b.db"])  # again: nothing added
    with Store(tmp_path / "all.db") as s:
        got = stream.recorded(s, m)
        assert s.db.execute("SELECT COUNT(*) FROM resolutions").fetchone()[0] == 6  # 2 branches x 3 stores; b twice: once
    assert [(r.branch, r.new, r.previous_at) for r in got] == [("6.12.y", ("6.12.118",), 100.0), ("6.1.y", ("6.1.190", "6.1.192"), None)]


def test_a_report_of_a_rule_matrix_shows_the_resolution_the_run_recorded(tmp_path, capsys):
    """Real 6.1.190/6.1.192 results; the rule resolved to 6.1.187, 6.1.190 before 6.1.192 reached the archive."""
    text = "corpora: {c: {source: 6.1.192}}\nbranches:\n  6.1.y:\n    corpus: c\n    kernels: {latest: 2}\n"
    (tmp_path / "m.yaml").write_text(text)
    m = matrix.load(tmp_path / "m.yaml")
    s = recorded_61_store(tmp_path / "r.db")
    stream.record(s, m, stream.resolve_with(m, recorded_archive(lambda a, n, v: v.startswith("6.1.192")), None), at=1e9)
    stream.record(s, m, stream.resolve_with(m, recorded_archive(), None), at=1e9 + 86400)
    s.close()
    for fmt in ("md", "json", "email", "html", "junit"):
        assert main(["report", "-m", str(tmp_path / "m.yaml"), "--db", str(tmp_path / "r.db"), "--format", fmt,
                     "-o", str(tmp_path / f"r.{fmt}"), "--fail-on", "regression"]) == 0
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["kernels_by_rule"] == [{
        "branch": "6.1.y", "rule": "latest 2 of 6.1", "kernels": ["6.1.190", "6.1.192"], "selftests_from": None,
        "resolved_at": 1000086400, "new": ["6.1.192"], "previous_resolution_at": 1000000000, "notes": []}]
    assert [(p["base"]["kernel_id"], p["new"]["kernel_id"]) for p in doc["pairs"]] == [("6.1.190", "6.1.192")]
    md = (tmp_path / "r.md").read_text()
    assert "## Kernels by rule" in md and "new since the resolution of 2001-09-09 01:46 UTC: 6.1.192" in md
    assert "new since the resolution of 2001-09-09 01:46 UTC: 6.1.192" in (tmp_path / "r.email").read_text()
    assert "6.1.192" in (tmp_path / "r.html").read_text().split("Kernels by rule")[1].split("</ul>")[0]
    capsys.readouterr()


def test_the_first_resolution_in_a_store_of_numbered_nights_says_which_kernels_it_never_verified(tmp_path):
    """The nightly store before the matrix took rules: real 6.1.190 results (6.1.192's cell removed)."""
    import time
    s = recorded_61_store(tmp_path / "r.db")
    s.db.execute("DELETE FROM results WHERE cell_id IN (SELECT id FROM cells WHERE kernel_id='6.1.192')")
    s.db.execute("DELETE FROM cells WHERE kernel_id='6.1.192'")
    m = matrix.parse("branches:\n  6.1.y:\n    kernels: {latest: 2}\n", "/ci/nightly.yaml")
    got, _ = stream.record(s, m, stream.resolve_with(m, recorded_archive(), None), at=time.time() + 1)
    assert (ids(got[0]), got[0].new, got[0].previous_at) == (["6.1.190", "6.1.192"], ("6.1.192",), None)
    assert stream.describe(got)[0].endswith(", the first in this store; new to it: 6.1.192")
    s.close()


def test_a_store_that_never_resolved_the_rule_is_one_line(tmp_path):
    (tmp_path / "m.yaml").write_text("branches:\n  6.1.y:\n    kernels: {latest: 2}\n")
    recorded_61_store(tmp_path / "r.db").close()
    with pytest.raises(UserError) as e:
        with Store(tmp_path / "r.db") as s:
            stream.recorded_matrix(matrix.load(tmp_path / "m.yaml"), s)
    assert str(e.value) == (f"{tmp_path}/m.yaml: branch 6.1.y takes its kernels by rule, and {tmp_path}/r.db has never "
                            f"resolved it: run the matrix into this store first (bpf-harness run)")
    assert main(["report", "-m", str(tmp_path / "m.yaml"), "--db", str(tmp_path / "r.db"), "--format", "md",
                 "-o", str(tmp_path / "r.md")]) == 2


def test_a_rule_kernel_named_in_another_branch_needs_an_id(tmp_path):
    m, got = resolved("branches:\n  6.1.y:\n    kernels: {latest: 2}\n  old:\n    kernels: [6.1.190]\n", path="m.yaml")
    with pytest.raises(UserError) as e:
        stream.apply(m, got)
    assert "kernel id 6.1.190 of branch old is also in branch 6.1.y once the rules are resolved" in str(e.value)


def git(tree: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "PATH": "/usr/bin:/bin"}
    return subprocess.run(["git", "-C", str(tree), *args], check=True, capture_output=True, text=True, env=env).stdout.strip()


def test_a_followed_git_branch_is_its_release_tag_and_its_head(tmp_path):
    tree = tmp_path / "linux"
    tree.mkdir()
    git(tree, "init", "-q", "-b", "linux-6.12.y")
    git(tree, "commit", "-q", "--allow-empty", "-m", "Linux 6.12.117")
    git(tree, "tag", "v6.12.117")
    git(tree, "commit", "-q", "--allow-empty", "-m", "Linux 6.12.118")
    git(tree, "tag", "-a", "-m", "Linux 6.12.118", "v6.12.118")
    text = (f"corpora: {{c: {{source: 6.12.117}}}}\nbranches:\n  rc:\n    corpus: c\n    kernels:\n"
            f"      - {{git: {{tree: {tree}, follow: linux-6.12.y}}, backend: uml}}\n")
    m = matrix.parse(text, tmp_path / "m.yaml")
    got = stream.resolve(m, tmp_path / "cache")  # no rule: the archive is not read
    assert got[0].notes == ("linux-6.12.y is at its release tag v6.12.118: nothing queued after it",)
    assert [(k.id, k.source) for k in got[0].kernels] == [
        ("v6.12.118", GitKernel(tree, git(tree, "rev-parse", "HEAD"), "uml", "Linux 6.12.118"))]
    git(tree, "commit", "-q", "--allow-empty", "-m", "bpf: Fix exception exit lock checking for subprogs")
    head = git(tree, "rev-parse", "HEAD")
    got = stream.resolve(m, tmp_path / "cache")
    assert [(k.id, k.source.commit[:12], k.source.subject) for k in got[0].kernels] == [
        ("v6.12.118", git(tree, "rev-parse", "v6.12.118^{commit}")[:12], "Linux 6.12.118"),
        ("linux-6.12.y-head", head[:12], "bpf: Fix exception exit lock checking for subprogs")]
    assert got[0].rule == f"follow linux-6.12.y in {tree}" and got[0].notes == ()
    with Store(tmp_path / "r.db") as s:
        stream.record(s, m, stream.resolve(m, tmp_path / "cache"), at=1.0)
        git(tree, "commit", "-q", "--allow-empty", "-m", "bpf: another queued fix")
        now, changed = stream.record(s, m, stream.resolve(m, tmp_path / "cache"), at=2.0)
    assert changed == {"rc"} and now[0].new == ("linux-6.12.y-head",)  # the head moved: a new kernel
    git(tree, "tag", "-d", "v6.12.117")
    git(tree, "tag", "-d", "v6.12.118")
    with pytest.raises(UserError) as e:
        stream.resolve(m, tmp_path / "cache")
    assert str(e.value).endswith(f"no release tag (v*) reachable from linux-6.12.y in {tree}; fetch the tags")


def test_validate_prints_what_the_nightly_rules_resolve_to_today(capsys):
    """configs/nightly.yaml against the real archive through the private apt (network on a fresh machine): no version
    number in it, and still five releases of each stable branch, the newest 6.12 on both arches (6.12.118 or later:
    published 2026-11-28), mainline's 7.x, and the 6.12 head on mainline's tests."""
    nightly = Path(__file__).resolve().parent.parent / "configs" / "nightly.yaml"
    assert not [ln for ln in nightly.read_text().splitlines() if re.search(r"[0-9]+\.[0-9]+\.[0-9]+", ln.split("#")[0])]
    assert main(["validate", str(nightly)]) == 0
    out = dict(ln.split(": ", 2)[1:] for ln in capsys.readouterr().out.splitlines() if ": ok: " not in ln
               and not ln.split(": ", 2)[1].startswith(" "))
    got = {b: line.split(" -> ")[1].split(" (")[0].split(", ") for b, line in out.items()}
    assert [len(got[b]) for b in ("6.1.y", "6.12.y", "mainline", "6.12.y-mainline-tests")] == [5, 5, 1, 1]
    assert int(got["6.12.y"][-1].split(".")[2]) >= 118
    assert got["6.12.y-mainline-tests"] == [f"{got['6.12.y'][-1]}-mainline-tests"]
    assert got["mainline"][0].split(".")[0] >= "7" and got["mainline-verifier"] == [f"{got['mainline'][0]}-verifier-tests"]


def test_debian_kernel_ids_are_versions():
    _, got = resolved()
    assert all(isinstance(k.source, DebianKernel) and k.id == str(k.source.version) for k in got[0].kernels)
