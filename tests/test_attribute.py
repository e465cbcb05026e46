"""Which findings get named by a commit, and how the reports say it (harness.attribute), on the store of results
recorded in real 6.1.190 and 6.1.192 guests (6.1.192 fixed test_global_func16)."""

from __future__ import annotations

import json

from harness import attribute, matrix
from harness.attribute.bisection import upstream
from harness.cli import main
from harness.report import model
from conftest import recorded_61_store

TEXT = "corpora: {c: {source: 6.1.192}}\nbranches:\n  6.1.y:\n    corpus: c\n    kernels: [6.1.190, 6.1.192]\n"


def test_a_branch_with_a_stable_tree_plans_one_bisection_per_release_pair(tmp_path):
    s = recorded_61_store(tmp_path / "r.db")
    m = matrix.parse(TEXT.replace("    corpus: c\n", "    corpus: c\n    stable_tree: /src/linux-stable\n"), "m.yaml")
    pairs = model.pairs(s, m)
    (job,) = attribute.plan(pairs, m)
    assert (job.branch, job.base, job.new, job.good, job.bad, str(job.tree), job.corpus) == (
        "6.1.y", "6.1.190", "6.1.192", "v6.1.190", "v6.1.192", "/src/linux-stable", "c")
    wanted = {(f.object, f.program) for p in pairs for f in p.findings if attribute.eligible(p, f)}
    assert ("test_global_func16", "global_func16") in job.programs and set(job.programs) == wanted
    assert all(f.change in attribute.CHANGES for p in pairs for f in p.findings if (f.object, f.program) in wanted)
    assert attribute.plan(pairs, matrix.parse(TEXT, "m.yaml")) == []  # no tree, no bisection
    s.close()


def test_every_format_says_the_commit_or_why_there_is_none(tmp_path, capsys):
    s = recorded_61_store(tmp_path / "r.db")
    (tmp_path / "m.yaml").write_text(TEXT)
    s.close()

    def report(fmt: str) -> str:
        assert main(["report", "-m", str(tmp_path / "m.yaml"), "--db", str(tmp_path / "r.db"), "--format", fmt,
                     "-o", str(tmp_path / f"r.{fmt}")]) == 0
        return (tmp_path / f"r.{fmt}").read_text()
    doc = json.loads(report("json"))
    (fix,) = [f for q in doc["pairs"] for f in q["findings"] if f["program"] == "global_func16"]
    assert fix["attribution"] == {"reason": "no tree: branch 6.1.y has no stable_tree: to bisect 6.1.190..6.1.192 in"}
    # a bisection recorded for it (what bisect_job returns), then every format names the commit
    with __import__("harness.store", fromlist=["Store"]).Store(tmp_path / "r.db") as st:
        st.add_attribution("6.1.y", "x86_64", "6.1.190", "6.1.192", json.dumps(["test_global_func16/global_func16"]),
                           json.dumps({"commit": "a" * 40, "subject": "bpf: Fix a verifier fact", "upstream": "b" * 40,
                                       "backend": "uml", "steps": 6, "range": "v6.1.190..v6.1.192", "warnings": [],
                                       "reproduce": "bpf-harness run -m /x/attribution-aaaaaaaaaaaa.yaml"}))
    line = ('commit aaaaaaaaaaaa "bpf: Fix a verifier fact" (upstream bbbbbbbbbbbb); UML bisection of '
            'v6.1.190..v6.1.192, 6 steps; reproduce: bpf-harness run -m /x/attribution-aaaaaaaaaaaa.yaml')
    doc = json.loads(report("json"))
    (fix,) = [f for q in doc["pairs"] for f in q["findings"] if f["program"] == "global_func16"]
    assert fix["attribution"]["commit"] == "a" * 40
    assert f"attributed: {line}" in report("md")
    assert line in report("email")
    assert "bpf: Fix a verifier fact" in report("html")
    capsys.readouterr()


def test_words_and_upstream_ids():
    assert attribute.words({"reason": "budget spent"}) == "no commit: budget spent"
    assert upstream(("Fixes: f18b03fabaa9 (\"bpf: Implement BPF exceptions\")",
                     "[ Upstream commit 6c2128505f61b504c79a20b89596feba61388112 ]")) == \
        "6c2128505f61b504c79a20b89596feba61388112"
    assert upstream(("commit 0123456789abcdef0123456789abcdef01234567 upstream.",)) == \
        "0123456789abcdef0123456789abcdef01234567"
    assert upstream(("Link: https://lore.kernel.org/r/x",)) is None
