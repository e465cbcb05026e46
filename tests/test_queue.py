"""An unreleased stable update (harness.stream.queue): a stable-queue directory or a review-series mbox, read
in order and applied patch by patch with real git; the first patch that does not apply stops it, named, and the
rest is reported as not tested."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness import matrix, stream
from harness.errors import ConfigError, UserError
from harness.matrix import GitKernel, Queue
from harness.stream import queue, rules
from harness.version import KernelVersion
from conftest import DATA

FIXTURE = DATA / "fixture-6.12.115-range"
PLANTED = DATA / "queue-6.12.114-planted"


def test_a_stable_queue_directory_is_its_series_in_order():
    got = queue.read(FIXTURE)
    assert len(got) == 32 and got[1].name == "0002-bpf-Fix-exception-exit-lock-checking-for-subprogs.patch"
    assert "[ Upstream commit 6c2128505f61b504c79a20b89596feba61388112 ]" in got[1].text
    planted = queue.read(PLANTED)  # comments and paths into another directory
    assert [p.name.split("/")[-1][:4] for p in planted] == ["0001", "0002", "0003", "0004", "0005"]


def test_a_series_naming_a_missing_patch_or_none_is_one_line(tmp_path):
    (tmp_path / "series").write_text("# queue-6.12\n\n0001-a.patch\n")
    with pytest.raises(UserError) as e:
        queue.read(tmp_path)
    assert str(e.value) == f"{tmp_path}/series:3: patch 0001-a.patch is not in {tmp_path}"
    (tmp_path / "series").write_text("# nothing yet\n")
    with pytest.raises(UserError, match="names no patch"):
        queue.read(tmp_path)
    with pytest.raises(UserError, match="no series file"):
        queue.read(tmp_path / "..")
    with pytest.raises(UserError, match="no such directory or mbox"):
        queue.read(tmp_path / "nope")


def mbox(numbers: list[int], total: int = 3) -> str:
    """A review series as the list sends it: the cover letter, the patches as replies, a tester's reply; the
    patches are the fixture's real mails, renumbered as [PATCH 6.12 NNN/MMM]."""
    mails = sorted(FIXTURE.glob("0*.patch"))
    out = [f"From gregkh@linuxfoundation.org Tue Mar 31 18:19:10 2026\nFrom: Greg Kroah-Hartman <gregkh@linuxfoundation.org>\n"
           f"Subject: [PATCH 6.12 000/{total:03d}] 6.12.114-rc1 review\n\nThis is the start of the stable review cycle.\n"]
    for n in numbers:
        text = mails[n - 1].read_text()
        text = text.replace("Subject: [PATCH] ", f"Subject: [PATCH 6.12 {n:03d}/{total:03d}] ", 1)
        out.append(f"From gregkh@linuxfoundation.org Tue Mar 31 18:19:{10 + n} 2026\n{text}")
    out.append("From tester@example.org Wed Apr  1 10:00:00 2026\nFrom: A Tester <tester@example.org>\n"
               f"Subject: Re: [PATCH 6.12 000/{total:03d}] 6.12.114-rc1 review\n\nTested-by: A Tester\n")
    return "\n".join(out)


def test_a_review_series_mbox_is_its_patches_by_number(tmp_path):
    f = tmp_path / "6.12.114-rc1.mbox"
    f.write_text(mbox([3, 1, 2]))
    got = queue.read(f)
    assert [p.name for p in got] == ["0001-bpf-Mark-bpf-refcount-field-as-unique",
                                     "0002-bpf-Fix-exception-exit-lock-checking-for-subprogs",
                                     "0003-bpf-Factor-out-atomic-ptr-type-ok"]
    assert "Subject: [PATCH 6.12 002/003] bpf: Fix exception exit lock checking for subprogs" in got[1].text
    with pytest.raises(UserError) as e:
        queue.split_mbox(mbox([1, 3]), "q.mbox")
    assert str(e.value) == "q.mbox: the series lacks patch(es) 2 of 3; the mbox must hold the whole series"
    with pytest.raises(UserError, match="patch 1/3 is in the mbox twice"):
        queue.split_mbox(mbox([1, 1, 2, 3]), "q.mbox")
    with pytest.raises(UserError, match=r"no \[PATCH X.Y NNN/MMM\] mail in it"):
        queue.split_mbox(mbox([]), "q.mbox")


def git(tree: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "PATH": "/usr/bin:/bin"}
    return subprocess.run(["git", "-C", str(tree), *args], check=True, capture_output=True, text=True, env=env).stdout.strip()


def diff(path: str, old: str, new: str) -> str:
    return (f"--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-{old}\n+{new}\n")


def test_applying_stops_at_the_first_patch_that_does_not_apply_and_names_the_rest(tmp_path):
    repo = tmp_path / "src"
    (repo / "kernel" / "bpf").mkdir(parents=True)
    (repo / "kernel" / "bpf" / "verifier.c").write_text("one\n")
    (repo / "README").write_text("readme\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "linux-source-6.12 6.12.113")
    base = git(repo, "rev-parse", "HEAD")
    patches = [queue.Patch("0001-verifier.patch", diff("kernel/bpf/verifier.c", "one", "two")),
               queue.Patch("0002-readme.patch", diff("README", "readme", "read me")),
               queue.Patch("0003-stale.patch", diff("kernel/bpf/verifier.c", "one", "three")),
               queue.Patch("0004-later.patch", diff("README", "read me", "later"))]
    got = queue.apply(repo, base, patches, tmp_path / "work", "m.yaml:9: kernel q")
    assert [name for _, name in got.commits] == ["0001-verifier.patch", "0002-readme.patch"]
    assert got.failed == (f"0003-stale.patch does not apply on {got.commits[-1][0][:12]}: "
                          f"patch failed: kernel/bpf/verifier.c:1")
    assert got.untested == ("0004-later.patch",)
    spec = matrix.KernelSpec("q", Queue(tmp_path / "q", KernelVersion(6, 12, 113), "uml"), "m.yaml:9")
    commits = [(c, name, name.endswith("verifier.patch")) for c, name in got.commits]
    kernels, notes, left = rules.queued(spec, repo, (base, "linux-source-6.12 6.12.113"), commits, got.failed,
                                        got.untested)
    assert [(k.id, k.source) for k in kernels] == [
        ("q-base", GitKernel(repo, base, "uml", "linux-source-6.12 6.12.113")),
        (f"q-{got.commits[0][0][:12]}", GitKernel(repo, got.commits[0][0], "uml", "0001-verifier.patch")),
        ("q", GitKernel(repo, got.commits[1][0], "uml", "0002-readme.patch"))]  # the whole queue, as far as it applies
    assert notes == ["q: 2 patch(es) on 6.12.113, 1 touching the BPF paths; q is the whole queue as far as it applies",
                     f"q: {got.failed}; stopped there", "q: not tested: 1 later patch(es): 0004-later.patch"]
    assert left == ["q: 0004-later.patch (after a patch that does not apply)"]
    assert stream.untested([rules.Resolved("b", "queue", tuple(kernels), untested=tuple(left))]) == [
        ("q: 0004-later.patch (after a patch that does not apply)", "not tested")]


def test_a_queue_kernel_is_a_branch_of_its_own_and_needs_an_id_and_a_release(tmp_path):
    m = matrix.parse("branches:\n  rc:\n    kernels:\n      - {id: 6.12.114-rc1, queue: q, on: 6.12.113, backend: uml}\n",
                     tmp_path / "m.yaml")
    b = m.branches[0]
    assert (b.follows, b.queued, b.corpus, m.corpora[b.corpus].source) == (True, True, "rc-selftests",
                                                                          KernelVersion(6, 12, 113))
    assert b.kernels[0].source == Queue(tmp_path / "q", KernelVersion(6, 12, 113), "uml")
    for text, message in (
            ("      - {queue: q, on: 6.12.113}\n", "a queue needs an id"),
            ("      - {id: q, queue: q}\n", r"a queue needs on: \(the release it applies on\)"),
            ("      - {id: q, queue: q, on: 6.12.113}\n      - 6.12.113\n", "a queue or a followed branch is a branch of"),
            ("      - {id: q, debian: 6.12.113, on: 6.12.113}\n", "on: goes with a queue only")):
        with pytest.raises(ConfigError, match=message):
            matrix.parse("branches:\n  rc:\n    kernels:\n" + text, "m.yaml")


def test_a_queue_that_stopped_early_gates_as_not_tested(tmp_path, capsys):
    """Its later patches are not tested: report --fail-on exits 3 for them, as for a cell that did not complete,
    even with every cell of the branch complete (the real 6.1.190/6.1.192 results stand for the queue's cells)."""
    from harness.cli import main
    from conftest import recorded_61_store
    (tmp_path / "m.yaml").write_text("corpora: {c: {source: 6.1.192}}\nbranches:\n  6.1.y:\n    corpus: c\n"
                                     "    kernels:\n      - {id: rc, queue: q, on: 6.1.190}\n")
    m = matrix.load(tmp_path / "m.yaml")
    s = recorded_61_store(tmp_path / "r.db")
    repo = tmp_path / "src"
    kernels = [matrix.KernelSpec("6.1.190", GitKernel(repo, "a" * 40, "vm", "linux-source-6.1 6.1.190"), "m.yaml:6"),
               matrix.KernelSpec("6.1.192", GitKernel(repo, "b" * 40, "vm", "0001-a.patch"), "m.yaml:6")]
    left = ("rc: 0003-c.patch (after a patch that does not apply)",)
    stream.record(s, m, [rules.Resolved("6.1.y", "queue q on 6.1.190", tuple(kernels),
                                        notes=("rc: 0002-b.patch does not apply on bbbbbbbbbbbb: patch failed: x:1; "
                                               "stopped there",), untested=left)])
    s.close()
    args = ["report", "-m", str(tmp_path / "m.yaml"), "--db", str(tmp_path / "r.db"), "--format", "md",
            "-o", str(tmp_path / "r.md")]
    assert main(args + ["--fail-on", "regression"]) == 3
    assert capsys.readouterr().err.strip() == f"not complete: {left[0]}: not tested"
    assert "0002-b.patch does not apply" in (tmp_path / "r.md").read_text()
    assert main(args) == 0  # rendering alone gates nothing
