"""The backport checker on recorded real data (tests/data/backports/README.md says where each file comes from):
Debian changelog parsing, commit messages, stable containment, behaviour read through expectations (incl. the
real verifier_mtu/tc_uninit_mtu case), the selftest map's program finder, confirmation verdicts, the report
formats, and one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from harness import cli
from harness.backports import Candidate, Report, behaviour, changelog, commits, confirm, maps, report
from harness.backports.evidence import series_of

DATA = Path(__file__).parent / "data" / "backports"
ROWS = json.loads((DATA / "rows-6.12.117-vs-7.3.4.json").read_text())["cells"]


def rows(cell: str) -> dict:
    return {tuple(k.split("/", 1)): v for k, v in ROWS[cell]["rows"].items()}


# --- Debian changelog -------------------------------------------------------------------------------

def test_changelog_entries_by_release_with_cves_arches_and_continuations():
    es = changelog.parse((DATA / "changelog-6.12.117-excerpt.txt").read_text())
    by = {e.subject: e for e in es}
    assert {e.release for e in es} == {"6.12.114", "6.12.115", "6.12.116"}
    e = by["bpf: Fix exception exit lock checking for subprogs"]
    assert (e.release, e.cves, e.arches) == ("6.12.114", ("CVE-2026-31526",), ())
    # a continuation line joins the subject; the CVE at its end is split off
    assert by["mm/mremap: fix locked_vm leak by splitting VMA for MREMAP_DONTUNMAP"].cves == ("CVE-2026-23371",)
    amd = by["iommu/amd: Disable AMD IOMMU if CMPXCHG16B feature is not supported"]
    assert amd.arches == ("amd64",) and amd.release == "6.12.114"
    assert by["rose: keep the route needed for routing loop detection"].release == "6.12.115"
    # Debian's own entries (reverts, rebuilds) are not upstream commits
    assert not any("Revert" in s or "Rebuild" in s or "ALSA: usb-audio: Use the right limit" in s for s in by)
    assert len(changelog.upto(es, "6.12.114")) == sum(1 for e in es if e.release == "6.12.114")


def test_norm_subject_folds_what_stable_tools_fold():
    assert changelog.norm_subject("[PATCH 6.12 014/309] bpf: Fix  X.") == "bpf: fix x"


# --- commit messages and containment -------------------------------------------------------------------

def mail_commit() -> commits.Commit:
    text = (DATA / "stable-review-6.11-165-mem-uninit.mail").read_text()
    head, _, body = text.partition("\n\n")
    subject = next(line for line in head.splitlines() if line.startswith("Subject:")).split("] ", 1)[1]
    return commits.parse_message("0" * 40, subject, body, ("net/core/filter.c",))


def test_stable_review_mail_gives_upstream_fixes_links_and_series():
    c = mail_commit()
    assert c.subject == "bpf: Remove MEM_UNINIT from skb/xdp MTU helpers"
    assert c.upstream == "14a3d3ef02ba53447d5112a2641aac0d10dc994f"
    assert c.fixes == (commits.FixRef("4b3786a6c539", "bpf: Zero former ARG_PTR_TO_{LONG,INT} args in case of error"),)
    assert maps.series(c) == "20241021152809.33343-daniel@iogearbox.net"  # 3/5 of the series, number dropped


def test_containment_is_labelled_with_how_it_was_made():
    up = commits.Commit("14a3d3ef02ba53447d5112a2641aac0d10dc994f", "bpf: Remove MEM_UNINIT from skb/xdp MTU helpers")
    stable = mail_commit()
    assert commits.StableIndex([stable]).contains(up) == commits.Match("upstream-id", stable.short)
    renamed = commits.Commit("1" * 40, "bpf: Remove MEM_UNINIT from skb/xdp MTU helpers.")
    assert commits.StableIndex([commits.Commit("2" * 40, "bpf: remove mem_uninit from skb/xdp mtu helpers")]) \
        .contains(renamed).how == "subject"
    es = changelog.parse((DATA / "changelog-6.12.117-excerpt.txt").read_text())
    fix = commits.Commit("6c2128505f61b504c79a20b89596feba61388112", "bpf: Fix exception exit lock checking for subprogs")
    assert commits.StableIndex((), es).contains(fix) == commits.Match("subject (Debian changelog 6.12.114)", "6.12.114")
    assert commits.StableIndex((), changelog.upto(es, "6.12.113")).contains(fix) is None
    pid = commits.StableIndex(patch_ids={"abc": "deadbeef0000"})
    assert pid.contains(commits.Commit("3" * 40, "x"), "abc") == commits.Match("patch-id", "deadbeef0000")


def test_fixes_target_placement_without_a_mainline_tree_is_unknown_not_clean():
    idx = commits.StableIndex()
    assert idx.place(commits.FixRef("f18b03fabaa9", "bpf: Implement BPF exceptions"), None)[0] == "unknown"


def test_git_log_parsing_keeps_paths_per_commit():
    out = (f"{commits.SEP}{'a' * 40}\x00bpf: one\x00Fixes: 123456789012 (\"x\")\n\x00\nkernel/bpf/verifier.c\n\n"
           f"{commits.SEP}{'b' * 40}\x00selftests/bpf: two\x00Link: https://patch.msgid.link/20260101.1-2-a@b\n\x00\n"
           "tools/testing/selftests/bpf/progs/x.c\n")
    a, b = commits.parse_log(out)
    assert a.paths == ("kernel/bpf/verifier.c",) and a.fixes[0].id == "123456789012"
    assert b.paths == ("tools/testing/selftests/bpf/progs/x.c",) and maps.series(b) == "20260101.1-a@b"


# --- behaviour ---------------------------------------------------------------------------------------

def test_behaviour_reads_differences_through_the_tests_expectations():
    found, unjudged = behaviour.compare("6.12.117", rows("newer"), "7.3.4", rows("reference"))
    kinds = {b.program: b.kind for b in found}
    assert kinds["verifier_direct_packet_access/pkt_range_clear_after_add"] == "missing-fix"
    assert kinds["verifier_set_retval/cgroup_dev_set_retval_pruning_bypass"] == "missing-fix"
    assert kinds["verifier_div_mod_bounds/sdiv32_neg_divisor_1"] == "missing-feature-or-fix"
    assert kinds["verifier_align/dubious_pointer_arithmetic"] == "message-differs"
    assert found[0].kind == "missing-fix"  # the dangerous direction first
    # the same verdict on both kernels is not a difference, whatever the test says
    assert "verifier_mtu/tc_uninit_mtu" not in kinds and "verifier_and/invalid_and_of_negative_number" not in kinds
    # a timeout is never read as agreement
    assert unjudged == ["verifier_liveness_exp/liveness_exponential_complexity"]
    b = next(b for b in found if b.program.endswith("pkt_range_clear_after_add"))
    assert b.reference.error == "R9 min value is outside of the allowed memory range" and b.branch.verdict == "success"


def test_tc_uninit_mtu_is_an_expectation_changed_upstream_not_a_missing_fix():
    cases, load = behaviour.own_unexpected("6.12.117", rows("own"), rows("newer"), rows("reference"), "7.3.4")
    by = {c.program: c for c in cases}
    mtu = by["verifier_mtu/tc_uninit_mtu"]
    assert (mtu.expect, mtu.verdict, mtu.reason) == ("failure", "success", "expectation-changed-upstream")
    assert "not a kernel fix" in mtu.explanation
    assert by["verifier_global_subprogs/arg_tag_ctx_fmod_ret"].reason == "fix-missing"
    assert by["verifier_direct_packet_access/packet_access_test17_pruning_alignment"].reason == "reference-too"
    # a map the test's runner would have set up is a load failure: listed, not judged
    assert load == ["verifier_ref_tracking/acquire_release_user_key_reference (own selftests: load failure)"]


def test_uml_results_a_vm_would_not_give_are_not_judged():
    d = json.loads((DATA / "confirm-uml-6.12.113-exceptions_fail.json").read_text())["cells"]
    before = {tuple(k.split("/")): v for k, v in d["6.12.113-base"].items()}
    after = {tuple(k.split("/")): v for k, v in d["6.12.113+32f2eeae24c0"].items()}
    # the branch (UML 6.12.113) against the same release with the fix (UML): both rcu tests differ, but UML stopped
    # one of them at a kfunc call a VM's JIT would have taken, so only the other is judged
    found, unjudged = behaviour.compare("6.12.113", before, "6.12.113+fix", after, (True, True))
    assert [(b.program, b.kind) for b in found] == [("exceptions_fail/reject_with_rcu_read_lock", "message-differs")]
    assert "exceptions_fail/reject_subprog_with_rcu_read_lock (UML: no-JIT kfunc call)" in unjudged
    # read as if both sides had run in VMs, the same rows would judge both
    found, _ = behaviour.compare("6.12.113", before, "6.12.113+fix", after, (False, False))
    assert [b.program for b in found] == ["exceptions_fail/reject_subprog_with_rcu_read_lock",
                                          "exceptions_fail/reject_with_rcu_read_lock"]


# --- selftest maps -----------------------------------------------------------------------------------

def test_program_finder_and_added_lines_on_real_sources():
    progs = maps.programs_in((DATA / "exceptions_fail-6.12.115.c").read_text())
    assert len(progs) == 22 and progs["reject_subprog_with_rcu_read_lock"] == (150, 158)
    assert "throwing_subprog" not in progs  # a static subprog, no SEC()
    assert maps.programs_in((DATA / "verifier_mtu-6.12.c").read_text()) == {"tc_uninit_mtu": (7, 16)}
    diff = "@@ -147,11 +148,13 @@\n SEC(\"?tc\")\n-a\n+b\n ctx\n+c\n+d\n"
    assert maps.added_lines(diff) == {149, 151, 152}


def git_tree(tmp_path: Path) -> Path:
    """A small git tree with real content: the 6.12 verifier_mtu.c added with its kernel-side fix in the same
    series (the MEM_UNINIT mail's Link: ids), then a later commit that only touches the test."""
    t = tmp_path / "t"
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "GIT_AUTHOR_DATE": "2024-10-21T00:00:00Z",
           "GIT_COMMITTER_DATE": "2024-10-21T00:00:00Z", "PATH": "/usr/bin:/bin"}

    def g(*a):
        return subprocess.run(["git", "-C", str(t), *a], check=True, capture_output=True, text=True, env=env).stdout

    t.mkdir()
    g("init", "-q", "-b", "main")
    (t / "README").write_text("base\n")
    g("add", "-A")
    g("commit", "-q", "-m", "base")
    g("tag", "v6.11")
    (t / "net/core").mkdir(parents=True)
    (t / "net/core/filter.c").write_text("\t.arg3_type      = ARG_PTR_TO_FIXED_SIZE_MEM | MEM_WRITE | MEM_ALIGNED,\n")
    g("add", "-A")
    g("commit", "-q", "-m", "bpf: Remove MEM_UNINIT from skb/xdp MTU helpers\n\n"
      "Fixes: 4b3786a6c539 (\"bpf: Zero former ARG_PTR_TO_{LONG,INT} args in case of error\")\n"
      "Link: https://lore.kernel.org/r/20241021152809.33343-3-daniel@iogearbox.net\n")
    progs = t / "tools/testing/selftests/bpf/progs"
    progs.mkdir(parents=True)
    (progs / "verifier_mtu.c").write_text((DATA / "verifier_mtu-6.12.c").read_text())
    g("add", "-A")
    g("commit", "-q", "-m", "selftests/bpf: Add test for passing in uninit mtu_len\n\n"
      "Link: https://lore.kernel.org/r/20241021152809.33343-5-daniel@iogearbox.net\n")
    text = (progs / "verifier_mtu.c").read_text().replace(
        '__failure __msg("invalid indirect read from stack")',
        '__success\n__caps_unpriv(CAP_BPF|CAP_NET_ADMIN)\n__failure_unpriv __msg_unpriv("invalid indirect read from stack")')
    (progs / "verifier_mtu.c").write_text(text)
    g("commit", "-q", "-am", "selftests/bpf: Introduce __caps_unpriv annotation for tests\n\n"
      "Link: https://lore.kernel.org/r/20241204044757.1483141-4-memxor@gmail.com\n")
    return t


def test_maps_pair_a_test_with_the_kernel_commit_of_its_series(tmp_path):
    t = git_tree(tmp_path)
    data = maps.generate(t, "v6.11..main")
    added, changed = data["programs"]["verifier_mtu/tc_uninit_mtu"]
    fix = next(cid for cid, c in data["commits"].items() if c["subject"].startswith("bpf: Remove MEM_UNINIT"))
    assert added["change"] == "added" and added["fixes"] == [fix]
    assert changed["change"] == "changed" and changed["fixes"] == []  # a test-only series
    assert data["commits"][fix]["series"] == "20241021152809.33343-daniel@iogearbox.net"
    text = maps.dump(data)
    (tmp_path / "m.yaml").write_text(text)
    m = maps.load([tmp_path / "m.yaml"])
    assert m.tests_of(fix[:12]) == ["verifier_mtu/tc_uninit_mtu"] and m.fixes_of("verifier_mtu/tc_uninit_mtu") == [fix]
    assert yaml.safe_load(text) == data  # what is committed reads back the same


# --- confirmation ------------------------------------------------------------------------------------

def test_uml_confirmation_judges_only_what_the_fast_lane_covers():
    d = json.loads((DATA / "confirm-uml-6.12.113-exceptions_fail.json").read_text())["cells"]
    before = {tuple(k.split("/")): v for k, v in d["6.12.113-base"].items()}
    after = {tuple(k.split("/")): v for k, v in d["6.12.113+32f2eeae24c0"].items()}
    from harness.matrix import Thresholds
    tests = [("exceptions_fail", "reject_subprog_with_rcu_read_lock"), ("exceptions_fail", "reject_with_rcu_read_lock")]
    c = confirm.judge(tests, before, after, Thresholds(), uml=True)
    assert c.verdict == "confirmed", c
    assert "not judged on UML: exceptions_fail/reject_subprog_with_rcu_read_lock" in c.detail
    assert c.before["exceptions_fail/reject_with_rcu_read_lock"] == "failure (unexpected)"
    assert c.after["exceptions_fail/reject_with_rcu_read_lock"] == "failure (as-expected)"
    assert confirm.judge(tests[:1], before, after, Thresholds(), uml=True).verdict == "not-covered"
    assert confirm.judge(tests[1:], before, before, Thresholds(), uml=True).verdict == "no-effect"
    assert confirm.judge(tests, before, {}, Thresholds()).verdict == "not-run"


# --- report ------------------------------------------------------------------------------------------

def sample_report() -> Report:
    found, unjudged = behaviour.compare("6.12.117", rows("newer"), "7.3.4", rows("reference"))
    own, load = behaviour.own_unexpected("6.12.117", rows("own"), rows("newer"), rows("reference"), "7.3.4")
    c = Candidate("14a3d3ef02ba53447d5112a2641aac0d10dc994f", "bpf: Remove MEM_UNINIT from skb/xdp MTU helpers",
                  cves=[], tests=["verifier_mtu/tc_uninit_mtu"],
                  confirmation=confirm.Confirmation("does-not-apply", "patch failed: net/core/filter.c:6263"),
                  from_log=True)
    loose = [Candidate("", f"{b.program}: no selftest map names its commit", behaviour=[b]) for b in found]
    return Report("6.12.y", sorted([c, *loose], key=lambda x: x.rank), own, [], None, ["store x"],
                  ["commit evidence: no --mainline tree given"], unjudged + load,
                  {"verifier_mtu/tc_uninit_mtu": "Not a missing kernel fix."})


def test_report_leads_with_what_was_not_checked_and_ranks_the_dangerous_direction_first():
    r = sample_report()
    md = report.markdown(r)
    assert md.index("**Not checked**") < md.index("## Candidates") < md.index("## Selftests without their fix")
    assert "does-not-apply" in md and "patch failed: net/core/filter.c:6263" in md
    assert md.index("### missing-fix: 2 program(s)") < md.index("### missing-feature-or-fix")
    assert "why (selftest_maps/notes.yaml): Not a missing kernel fix." in md
    assert "**3 missing**" in md  # one commit candidate + two programs in the dangerous direction
    j = json.loads(report.dumps(r))
    assert j["schema"] == "bpf-harness-backports/1" and j["missing"] == 3
    assert j["selftests_without_their_fix"][0]["program"].startswith("verifier_direct_packet_access")
    assert any(o["reason"] == "expectation-changed-upstream" and o["note"] for o in j["selftests_without_their_fix"])
    page = report.page(r)
    assert page.startswith("<!doctype html>") and "Not checked" in page and "tc_uninit_mtu" in page


def test_real_notes_file_explains_tc_uninit_mtu():
    notes = yaml.safe_load((Path(__file__).parents[1] / "selftest_maps" / "notes.yaml").read_text())
    assert "CAP_PERFMON" in notes["verifier_mtu/tc_uninit_mtu"]


# --- bad input: one line, documented exit code ------------------------------------------------------

@pytest.mark.parametrize("argv,needle", [
    (["backports", "--branch", "6.12"], None),
    (["backports", "--branch", "six"], "write MAJOR.MINOR.y"),
    (["backports", "--branch", "6.12.y", "--at", "6.1.5"], "not a release of 6.12.y"),
    (["backports", "--branch", "6.12.y", "--mainline", "/"], "is not a git repository"),
    (["backports", "--branch", "6.12.y", "--changelog", "/nonexistent/changelog.Debian.gz"], "no such file"),
    (["backports", "--branch", "6.12.y", "--maps", "/nonexistent.yaml"], "no such file"),
    (["maps", "--tree", "/nonexistent", "--range", "a..b"], "does not exist"),
])
def test_bad_input_is_one_line_and_exit_2(argv, needle, tmp_path, capsys):
    rc = cli.main([*argv, "--db", str(tmp_path / "none.db")] if argv[0] == "backports" else argv)
    err = capsys.readouterr().err.strip()
    if needle is None:  # a valid branch with nothing to read: exit 0, and the report says what it could not check
        assert rc == 0
        return
    assert rc == 2 and needle in err and len(err.splitlines()) == 1, err


def test_unknown_revision_and_malformed_map(tmp_path, capsys):
    t = git_tree(tmp_path)
    assert cli.main(["maps", "--tree", str(t), "--range", "v6.11..nosuch"]) == 2
    assert "unknown revision 'nosuch'" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("programs: [1, 2\n")
    assert cli.main(["backports", "--branch", "6.12.y", "--maps", str(bad), "--db", str(tmp_path / "x.db")]) == 2
    assert "not a readable selftest map" in capsys.readouterr().err
    assert cli.main(["backports", "--branch", "6.12.y", "--mainline", str(t), "--db", str(tmp_path / "x.db")]) == 2
    assert "needs --since" in capsys.readouterr().err


def test_queue_marks_a_fix_queued_not_missing(tmp_path):
    from harness.backports import queued_subjects
    q = tmp_path / "inbox"
    subprocess.run(["git", "init", "-q", str(q)], check=True)
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "PATH": "/usr/bin:/bin"}
    for subject in ("[PATCH 6.11 165/261] bpf: Remove MEM_UNINIT from skb/xdp MTU helpers",
                    "[PATCH 6.6 152/208] bpf: Remove MEM_UNINIT from skb/xdp MTU helpers"):
        subprocess.run(["git", "-C", str(q), "commit", "-q", "--allow-empty", "-m", subject], check=True, env=env)
    got = queued_subjects(q, series_of("6.11.y"))
    assert got == {"bpf: remove mem_uninit from skb/xdp mtu helpers":
                   "[PATCH 6.11 165/261] bpf: Remove MEM_UNINIT from skb/xdp MTU helpers"}
    assert queued_subjects(q, series_of("6.12.y")) == {}


def test_patch_id_and_branch_point_placement_on_a_git_tree(tmp_path):
    """A stable branch made from the tree: a cherry-pick with another subject is found by patch-id; a Fixes:
    target that is an ancestor of the branch point is in the branch; one after it, never picked, is not."""
    t = git_tree(tmp_path)

    def g(*a):
        return subprocess.run(["git", "-C", str(t), *a], check=True, capture_output=True, text=True,
                              env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                                   "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"}).stdout.strip()

    fix = g("rev-parse", "main~2")  # bpf: Remove MEM_UNINIT ... (touches net/core/filter.c)
    g("checkout", "-q", "-b", "stable", "v6.11")
    g("cherry-pick", fix)
    g("commit", "-q", "--amend", "-m", "net: reworded backport of the MTU helper change")
    log = commits.read_log(t, "v6.11..stable")
    pids = commits.patch_ids(t, [c.id for c in log])
    mainline = commits.parse_message(fix, "bpf: Remove MEM_UNINIT from skb/xdp MTU helpers", "")
    own_pid = next(iter(commits.patch_ids(t, [fix])))
    idx = commits.StableIndex(log, patch_ids=pids, base=g("rev-parse", "v6.11"))
    assert idx.contains(mainline) is None  # no upstream line, another subject
    assert idx.contains(mainline, own_pid) == commits.Match("patch-id", log[0].short)
    where, how = idx.place(commits.FixRef(g("rev-parse", "v6.11")[:12], "base"), t)
    assert where == "in-branch" and "ancestor of" in how
    later = g("rev-parse", "main")  # the __caps_unpriv commit: after the branch point, not in the branch
    assert idx.place(commits.FixRef(later[:12], None), t)[0] == "not-in-branch"
    assert idx.place(commits.FixRef("f18b03fabaa9", "bpf: Implement BPF exceptions"), t)[0] == "unknown"


# --- backports.check over a store -----------------------------------------------------------------------

def _rows_store(path: Path):
    """The recorded rows (own 6.12 selftests on 6.12.117; 7.3.4's on 6.12.117 and on 7.3.4) as a real store:
    corpora, expectations and results; outcomes are computed again by the store from the expectations."""
    from harness.corpus import Corpus, CorpusObject
    from harness.store import CellStatus, ResultRow, Store, Verdict
    s = Store(path)
    run = s.start_run("m", "", [])
    versions = {"6.12-verifier": ("linux-source-6.12", "6.12.117-1~deb12u1"),
                "mainline-verifier": ("linux-source", "7.3.4-1")}
    for name, cell in ROWS.items():
        corpus = cell["corpus"]
        pkg, version = versions[corpus]
        progs: dict[str, list[str]] = {}
        for key in cell["rows"]:
            o, p = key.split("/", 1)
            progs.setdefault(o, []).append(p)
        s.add_corpus(Corpus(corpus, corpus, "x86_64", pkg, version, "clang 19.1.7", Path("/v"), "1" * 64,
                            tuple(CorpusObject(o, Path(f"/c/{o}.bpf.o"), "0" * 64, tuple(ps))
                                  for o, ps in progs.items()), (), Path("/c")))
        kernel = cell["kernel"]
        cid = s.start_cell(run_id=run, branch="b", kernel_id=kernel, kernel_key=f"{kernel}-{name}", arch="x86_64",
                           backend="vm", corpus_id=corpus, release=f"{kernel}+deb12-amd64", clang="clang 19.1.7")
        for key, r in cell["rows"].items():
            o, p = key.split("/", 1)
            s.db.execute("INSERT OR REPLACE INTO expectations(corpus_id, object, program, expect, messages, regexes, "
                         "log_level, flags, arches, description, auxiliary) VALUES(?,?,?,?,'[]','[]',NULL,'[]','[]',?,?)",
                         (corpus, o, p, r["expect"], r.get("description"), r.get("auxiliary", 0)))
            s.add_result(cid, ResultRow(o, p, Verdict(r["verdict"]), failure_class=r.get("failure_class"),
                                        error=r.get("error"), insns=r.get("insns")))
            s.db.execute("UPDATE results SET msg_check=? WHERE cell_id=? AND object=? AND program=?",
                         (r.get("msg_check"), cid, o, p))
        s.finish_cell(cid, CellStatus.COMPLETE, "ok")
    s.close()


def test_check_reads_own_newer_and_reference_cells_from_a_store(tmp_path):
    """Issue 28: check() never reached the own-selftests path.  Over a store of the recorded rows it finds the
    three cells, judges the branch's own selftests (tc_uninit_mtu: an expectation changed upstream) and the
    newer selftests (a missing fix), and says what it was not given."""
    from harness import backports
    _rows_store(tmp_path / "r.db")
    r = backports.check(branch="6.12.y", db=tmp_path / "r.db")
    assert (r.cells.own.kernel, r.cells.own.corpus) == ("6.12.117", "6.12-verifier")
    assert (r.cells.newer.kernel, r.cells.reference.kernel) == ("6.12.117", "7.3.4")
    own = {c.program: c.reason for c in r.own}
    assert own["verifier_mtu/tc_uninit_mtu"] == "expectation-changed-upstream"
    assert any(b.kind == "missing-fix" for c in r.candidates for b in c.behaviour)
    assert any(s.startswith("own selftests: corpus 6.12-verifier on 6.12.117") for s in r.sources)
    assert r.gaps == ["what the branch contains: no --stable tree and no Debian changelog, so no commit is known "
                      "to be in it",
                      "commit evidence: no --mainline tree given (mainline fixes with Fixes: tags are read from it)"]


def test_check_says_each_kind_of_evidence_it_could_not_gather(tmp_path):
    """No store, then a store without the branch's cells: every missing source is a gap, never 'nothing missing'."""
    from harness import backports
    from harness.store import Store
    r = backports.check(branch="6.12.y", db=None)
    assert r.candidates == [] and r.own == []
    assert "behaviour evidence: no store" in r.gaps and len(r.gaps) == 3
    Store(tmp_path / "empty.db").close()
    r = backports.check(branch="6.12.y", db=tmp_path / "empty.db")
    assert [g.split(":")[0] for g in r.gaps] == ["what the branch contains", "commit evidence", "behaviour evidence",
                                                  "the store has no complete x86_64 cell of a 6.12.y kernel",
                                                  "own selftests"]


def test_a_fix_the_branch_has_without_its_selftest_is_listed(tmp_path):
    """Issue 28: _fixes_without_tests was never reached.  Debian's changelog says 6.12.114 took "bpf: Fix
    exception exit lock checking for subprogs"; the committed fixture map pairs it with two exceptions_fail tests;
    the branch's own selftests in the store (the recorded 6.12 verifier_* rows) have neither."""
    from harness import backports
    _rows_store(tmp_path / "r.db")
    root = Path(__file__).resolve().parent.parent
    r = backports.check(branch="6.12.y", db=tmp_path / "r.db",
                        maps_paths=[root / "selftest_maps" / "fixture-6.12.113-bpf.yaml"],
                        changelog_path=DATA / "changelog-6.12.117-excerpt.txt")
    (f,) = r.fixes_without_tests
    assert f["id"] == "32f2eeae24c0" and f["subject"] == "bpf: Fix exception exit lock checking for subprogs"
    assert f["how"].startswith("subject (Debian changelog 6.12.114)")
    assert f["tests"] == ["exceptions_fail/reject_subprog_with_rcu_read_lock", "exceptions_fail/reject_with_rcu_read_lock"]
    assert r.gaps == ["commit evidence: no --mainline tree given (mainline fixes with Fixes: tags are read from it)"]


def test_a_fix_of_something_the_branch_never_had_is_no_candidate(tmp_path):
    """Issue 28: the drop of fixes whose every Fixes: target is not in the branch was never reached.  A stable
    branch cut at v6.11 lacks the later __caps_unpriv commit, so a fix of that commit is no candidate for it;
    the MEM_UNINIT fix (its target unknown here) still is."""
    from harness import backports
    t = git_tree(tmp_path)
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "PATH": "/usr/bin:/bin"}

    def g(*a):
        return subprocess.run(["git", "-C", str(t), *a], check=True, capture_output=True, text=True, env=env).stdout.strip()

    caps = g("rev-parse", "main")
    (t / "kernel/bpf").mkdir(parents=True)
    (t / "kernel/bpf/verifier.c").write_text("/* unpriv caps */\n")
    g("add", "-A")
    g("commit", "-q", "-m", f"bpf: Check unpriv caps once\n\nFixes: {caps[:12]} (\"selftests/bpf: Introduce "
      "__caps_unpriv annotation for tests\")\n")
    later_fix = g("rev-parse", "main")
    g("branch", "stable", "v6.11")
    r = backports.check(branch="6.11.y", db=None, mainline=t, since="v6.11", head="main", base="v6.11", stable=t,
                        stable_rev="stable")
    ids = [c.id for c in r.candidates if c.id]
    assert later_fix not in ids
    (mem,) = ids
    assert g("log", "-1", "--format=%s", mem) == "bpf: Remove MEM_UNINIT from skb/xdp MTU helpers"
