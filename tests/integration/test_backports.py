"""The backport checker end to end on real data: the fixture tree (Debian's 6.12.113 source + four real BPF
commits of 6.12.114/115) as the newer tree, Debian's 6.12.113 changelog as what the branch contains, the 6.12.117
selftests' exceptions_fail verified on the UML kernel of 6.12.113 and the Debian 6.12.117 kernel (the reference: a
newer release; a VM, so that the suite builds one UML kernel from cold), and ``--confirm``: the branch's
source rebuilt with the fix applied and verified before/after.

- ``bpf-harness maps`` pairs both exceptions_fail tests the fix's commit changes with that commit;
- ``backports`` reports "bpf: Fix exception exit lock checking for subprogs" (CVE-2026-31526) from commit and
  behaviour evidence, and the UML build with the fix confirms it for the test the fast lane covers (the other
  one, a kfunc call without a JIT, is said not judged);
- with 6.12.117's changelog the fix is contained (by subject, labelled), so it is no candidate;
- on 6.12.117's source the fix does not apply: ``does-not-apply`` names the file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from integration.conftest import EXC, ROOT

pytestmark = [pytest.mark.integration]

CLI = str(Path(sys.executable).parent / "bpf-harness")
CULPRIT = "bpf: Fix exception exit lock checking for subprogs"
TESTS = ["exceptions_fail/reject_subprog_with_rcu_read_lock", "exceptions_fail/reject_with_rcu_read_lock"]
MATRIX = EXC + """\
branches:
  6.12.y:
    corpus: exc
    kernels: [{uml: 6.12.113}]
  ref:
    corpus: exc
    kernels: [6.12.117]
arches: [x86_64]
reference: ref
"""


def run(*argv: str, timeout: int = 3000) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *argv], capture_output=True, text=True, cwd=ROOT, timeout=timeout)


@pytest.fixture(scope="module")
def setup(tree, tmp_path_factory, tools):
    d = tmp_path_factory.mktemp("backports")
    (d / "m.yaml").write_text(MATRIX)
    p = run("maps", "--tree", str(tree), "--range", "v6.12.113..fixture", "-o", str(d / "maps.yaml"))
    assert p.returncode == 0, p.stderr
    p = run("run", "-m", str(d / "m.yaml"), "--db", str(d / "r.db"))
    assert p.returncode in (0, 1), p.stdout + p.stderr
    return d


def backports(tree, d, *extra):
    """In this process (the checker's own code is what these tests measure), as the CLI runs it."""
    import contextlib
    import io
    from harness import cli
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(["backports", "--branch", "6.12.y", "--db", str(d / "r.db"), "-m", str(d / "m.yaml"),
                       "--mainline", str(tree), "--since", "v6.12.113", "--head", "fixture", "--maps",
                       str(d / "maps.yaml"), "--format", "json", *extra])
    return subprocess.CompletedProcess(["backports"], rc, out.getvalue(), err.getvalue())


def test_maps_pair_the_tests_with_the_fix(tree, setup):
    data = yaml.safe_load((setup / "maps.yaml").read_text())
    fix = subprocess.run(["git", "-C", str(tree), "rev-parse", "fixture~2"], capture_output=True, text=True).stdout.strip()
    for t in TESTS:
        (change,) = data["programs"][t]
        assert change["commit"] == fix and change["fixes"] == [fix] and change["change"] == "changed"
    assert data["commits"][fix]["upstream"] == "6c2128505f61b504c79a20b89596feba61388112"
    assert data["commits"][fix]["cves"] == ["CVE-2026-31526"]
    # the committed map is what the command writes (the tree's commits are the same on every machine)
    assert (setup / "maps.yaml").read_text() == (ROOT / "selftest_maps" / "fixture-6.12.113-bpf.yaml").read_text()


def test_a_missing_fix_is_found_and_confirmed_by_a_real_build(tree, setup):
    p = backports(tree, setup, "--at", "6.12.113", "--changelog", "6.12.113", "--confirm", "--backend", "uml",
                  "--fail-on", "missing")
    assert p.returncode == 1, p.stdout + p.stderr  # a candidate is missing
    out = json.loads(p.stdout)
    (c,) = [c for c in out["candidates"] if c["id"]]
    assert c["subject"] == CULPRIT and c["cves"] == ["CVE-2026-31526"]
    assert c["evidence"] == ["confirmed", "behaviour", "commit"]
    assert sorted(c["tests"]) == TESTS
    assert c["fixes"] == [{"id": "f18b03fabaa9", "subject": "bpf: Implement BPF exceptions", "placement": "unknown",
                           "how": "no mainline tree with --base to place it"}]
    (b,) = c["behaviour"]  # the other test is one UML cannot judge (a kfunc call without a JIT)
    assert b["program"] == TESTS[1] and b["kind"] == "message-differs"
    assert f"{TESTS[0]} (UML: no-JIT kfunc call)" in out["unjudged"]
    k = c["confirmation"]
    assert k["verdict"] == "confirmed", k
    assert k["before"][TESTS[1]] == "failure (unexpected)" and k["after"][TESTS[1]] == "failure (as-expected)"
    assert f"not judged on UML: {TESTS[0]}" in k["detail"] and k["regressions"] == []
    assert out["cells"]["newer"]["kernel"] == "6.12.113-uml" and out["cells"]["reference"]["kernel"] == "6.12.117"


def test_a_fix_the_branch_contains_is_no_candidate(tree, setup):
    p = backports(tree, setup, "--at", "6.12.113", "--changelog", "6.12.117")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    # the mainline commit is in the branch by subject: no commit candidate; the behaviour on the 6.12.113
    # kernel still points at it, as a fix a later release of the branch has
    (c,) = [c for c in out["candidates"] if c["id"]]
    assert c["evidence"] == ["behaviour"] and c["contained"] == "subject (Debian changelog 6.12.114) 6.12.114"
    assert out["missing"] == 0
    assert any("Debian changelog" in s for s in out["sources"])


def test_a_fix_that_does_not_apply_says_which_file(tree, setup):
    p = backports(tree, setup, "--at", "6.12.117", "--changelog", "6.12.113", "--confirm", "--backend", "uml")
    assert p.returncode == 0, p.stdout + p.stderr
    (c,) = [c for c in json.loads(p.stdout)["candidates"] if c["id"]]
    k = c["confirmation"]
    assert k["verdict"] == "does-not-apply" and "patch failed: kernel/bpf/verifier.c:" in k["detail"], k
