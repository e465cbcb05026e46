"""Report writers on a store built from results recorded in real 6.1.190 and 6.1.192 guests.

Golden files: BPF_HARNESS_REGOLDEN=1 re-renders them.
"""

import csv
import io
import json
import os
import xml.etree.ElementTree as ET

import pytest

from harness import diff as diff_mod, matrix
from harness.cell import row_of
from harness.report import model, writers
from harness.store import CellStatus, ResultRow, Store, Verdict
from conftest import DATA, add_corpus, recorded_61_store, recorded_results

GOLDEN = DATA / "golden"
MATRIX = "branches:\n  6.1.y:\n    corpus: c\n    kernels: [6.1.190, 6.1.192]\ncorpora:\n  c: {source: 6.1.192}\n"


@pytest.fixture
def store(tmp_path):
    s = recorded_61_store(tmp_path / "r.db")
    yield s
    s.close()


def golden(name: str, text: str) -> None:
    """Compare with a golden file; BPF_HARNESS_REGOLDEN=1 re-renders it and fails, so no run that re-renders
    is ever green: review the diff, then run again without it.  Every golden is also pinned by assertions."""
    path = GOLDEN / name
    if os.environ.get("BPF_HARNESS_REGOLDEN"):
        old = path.read_text() if path.exists() else None
        path.write_text(text)
        if old != text:
            pytest.fail(f"{name} re-rendered (BPF_HARNESS_REGOLDEN): review `git diff {path}`, rerun without it")
    assert text == path.read_text(), f"{name} differs; BPF_HARNESS_REGOLDEN=1 re-renders it"


def render(store):
    m = matrix.parse(MATRIX, "m.yaml")
    pairs = model.pairs(store, m)
    return pairs, (lambda c, o, p: model.reproducer(store, c, o, p))


def test_markdown_golden(store):
    pairs, repro = render(store)
    text = writers.markdown(pairs, repro)
    golden("report.md", text)
    assert "### fixed (1)" in text and "invalid indirect read from stack R1 off -40+0 size 40" in text
    # reproduce on the kernel where it fails (6.1.190 for a fix), with the console shown
    assert "reproduce: `vng --verbose --force-9p --run /cache/kernels/6.1.190/vmlinux --disable-kvm" in text


def test_json_golden_and_schema(store):
    pairs, repro = render(store)
    doc = writers.to_json(pairs, repro, generated=0)
    golden("report.json", json.dumps(doc, indent=1, sort_keys=True) + "\n")
    (p,) = doc["pairs"]
    assert doc["schema"] == 1 and p["counts"]["fixed"] == 1 and p["unchanged"] == 30
    (f,) = p["findings"]
    assert (f["change"], f["base"]["outcome"], f["new"]["outcome"]) == ("fixed", "unexpected", "as-expected")


def test_email(store):
    pairs, _ = render(store)
    text = writers.email(pairs)
    assert text.startswith("No BPF verifier regressions found on x86_64 between 6.1.190 and 6.1.192 (6.1.y).\n")
    # and the reverse direction lists the regression with its error line
    rev = [model.pair(store, "6.1.y", "commit", pairs[0].new, pairs[0].base, matrix.Thresholds())]
    assert writers.email(rev).splitlines()[:2] == [
        "BPF verifier regressions found on x86_64 between 6.1.192 and 6.1.190 (6.1.y):",
        "  - test_global_func16/global_func16: Caller passes invalid args into func#1"]


def test_junit_failures_only_for_regressions(store):
    pairs, _ = render(store)
    rev = [model.pair(store, "6.1.y", "commit", pairs[0].new, pairs[0].base, matrix.Thresholds())]
    for ps, want in ((pairs, 0), (rev, 1)):
        root = ET.fromstring(writers.junit(ps, store.result_map))
        (suite,) = root
        assert suite.get("tests") == "31" and suite.get("failures") == str(want) and suite.get("errors") == "0"
    failing = [c for c in ET.fromstring(writers.junit(rev, store.result_map)).iter("testcase") if c.find("failure") is not None]
    assert [(c.get("classname"), c.get("name")) for c in failing] == [("6.1.190.test_global_func16", "global_func16")]


def test_junit_infra_is_an_error_not_a_failure(store):
    store.db.execute("UPDATE cells SET status='panic', detail='Kernel panic' WHERE kernel_id='6.1.192'")
    pairs, _ = render(store)
    (suite,) = ET.fromstring(writers.junit(pairs, store.result_map))
    assert suite.get("errors") == "1" and suite.get("failures") == "0"
    assert suite.find("testcase/error").get("type") == "infrastructure"


def test_veristat_csv_columns(store):
    pairs, _ = render(store)
    text = writers.veristat_csv(store.result_map(pairs[0].new["id"]).values())
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == writers.VERISTAT_COLUMNS
    gf = next(r for r in rows if r["prog_name"] == "global_func16")
    assert (gf["file_name"], gf["verdict"], gf["total_insns"]) == ("test_global_func16.bpf.o", "success", "14")


def test_html_renders_in_headless_chromium(store, tmp_path):
    import shutil
    import struct
    import subprocess
    from harness.report import html
    pairs, repro = render(store)
    rev = [model.pair(store, "6.1.y", "commit", pairs[0].new, pairs[0].base, matrix.Thresholds())]
    page = tmp_path / "report.html"
    page.write_text(html.render(pairs + rev, repro, store.result_map))
    text = page.read_text()
    assert "http://" not in text and "https://" not in text  # no external assets
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        pytest.fail("chromium not installed: run ci/setup.sh")
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1600"]
    shot = tmp_path / "report.png"
    subprocess.run(flags + [f"--screenshot={shot}", page.as_uri()], check=True, timeout=120, capture_output=True)
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (1280, 1600)
    assert len(png) > 20_000  # a rendered page, not a blank one
    dom = subprocess.run(flags + ["--dump-dom", page.as_uri()], check=True, timeout=120,
                         capture_output=True, text=True).stdout
    assert 'data-ready="3"' in dom  # the sorting script ran over the 3 sortable tables
    # the reversed pair's finding row: its class cell says regression, on the program that regressed
    import re
    rows = re.findall(r'<tr id="([^"]*)" class="regression"[^>]*><td data-v="0">regression</td><td><code>([^<]*)</code>', dom)
    assert rows == [("6.1.192..6.1.190/x86_64/test_global_func16/global_func16", "test_global_func16/global_func16")], rows
    assert "invalid indirect read from stack R1 off -40+0 size 40" in dom
    assert "No verified program moved past the complexity thresholds." in dom  # none in this pair


def test_html_chart_shows_cost_moves(store):
    from harness.diff import diff
    from harness.report import html
    pairs, _ = render(store)
    p = pairs[0]
    new = store.result_map(p.new["id"])
    key = ("bpf_cubic", "bpf_cubic_cong_avoid")
    new[key] = {**new[key], "insns": new[key]["insns"] + 5000}
    findings, same = diff(store.result_map(p.base["id"]), new)
    moved = model.Pair(p.branch, p.kind, p.base, p.new, p.comparable, True, tuple(findings), same)
    chart = html._chart([moved])
    assert chart.startswith('<svg class="chart"') and "6.1.192 bpf_cubic/bpf_cubic_cong_avoid" in chart
    assert "+5000" in chart


def test_uml_pair_says_how_much_it_covers(tmp_path):
    """Two UML cells with the same recorded UML 6.12.117 rows (whole-corpus programs): nothing moved, and the
    report does not call the programs UML never verified unchanged."""
    s = Store(tmp_path / "u.db")
    add_corpus(s, "c1")
    run = s.start_run("m", "", [])
    for kid in ("6.12.115-uml", "6.12.117-uml"):
        cid = s.start_cell(run_id=run, branch="6.12.y-uml", kernel_id=kid, kernel_key=kid, arch="x86_64",
                           backend="uml", corpus_id="c1", release=kid[:-4], clang="clang 19.1.7", accel="native",
                           image=f"/cache/kernels/uml/{kid}/linux", veristat="/cache/corpus/veristat")
        for rec in recorded_results("results-6.12.117-uml-screen.jsonl"):
            s.add_result(cid, row_of(rec))
        s.finish_cell(cid, CellStatus.COMPLETE, "ok")
    m = matrix.parse("branches:\n  6.12.y-uml:\n    corpus: c\n    kernels: [{uml: 6.12.115}, {uml: 6.12.117}]\n"
                     "corpora:\n  c: {source: 6.12.117}\n", "m.yaml")
    (p,) = model.pairs(s, m)
    assert (p.unchanged, p.not_covered, p.findings) == (3, 8, ())
    md = writers.markdown([p], lambda *a: "repro")
    assert "| 3 |" in md and "> UML verified 3 of 11 programs on both releases; the other 8 it verified on neither" in md
    doc = writers.to_json([p], lambda *a: "repro", generated=0)
    assert doc["pairs"][0]["not_covered"] == 8 and doc["pairs"][0]["unchanged"] == 3
    s.close()


def _fail_both_cells(store, detail="guest exited before the runner started"):
    """Both cells ended before verifying anything, as the arm64 cells of issue 12 did: every program not-run."""
    for kid in ("6.1.190", "6.1.192"):
        (cid,) = store.db.execute("SELECT id FROM cells WHERE kernel_id=?", (kid,)).fetchone()
        store.db.execute("UPDATE results SET verdict='not-run', failure_class=NULL, error='cell ended: boot-failed', "
                         "insns=NULL WHERE cell_id=?", (cid,))
        store.finish_cell(cid, CellStatus.BOOT_FAILED, detail)


def test_a_pair_of_failed_cells_is_never_no_regressions(store):
    from harness.report import html
    _fail_both_cells(store)
    pairs, repro = render(store)
    (p,) = pairs
    assert (p.tested, p.unchanged, p.no_verdict, p.findings) == ("not-tested", 0, 31, ())
    mail = writers.email(pairs)
    assert mail.startswith("NOT TESTED on x86_64 between 6.1.190 and 6.1.192 (6.1.y): no program was verified on "
                           "both kernels (cell 6.1.190/x86_64 is boot-failed: ")
    assert "No BPF verifier regressions" not in mail and "0 programs unchanged" in mail
    assert "31 without a verdict on either kernel" in mail
    md = writers.markdown(pairs, repro)
    assert md.splitlines()[2] == "## 6.1.y: 6.1.190 -> 6.1.192 (x86_64)"
    assert md.splitlines()[4].startswith("> **NOT TESTED**: no program was verified on both kernels")
    doc = writers.to_json(pairs, repro, generated=0)["pairs"][0]
    assert (doc["tested"], doc["unchanged"], doc["no_verdict"]) == ("not-tested", 0, 31)
    page = html.render(pairs, repro, store.result_map)
    summary = page[page.index("<table class='summary'>"):page.index("</table>")]
    assert "data-tested='not-tested'" in summary and "boot-failed</span> / <span class='flag'>boot-failed" in summary
    assert "No change.</p>" not in page


def test_an_incomplete_pair_scopes_its_all_clear(store):
    (cid,) = store.db.execute("SELECT id FROM cells WHERE kernel_id='6.1.192'").fetchone()
    store.db.execute("UPDATE results SET verdict='not-run', failure_class=NULL, insns=NULL WHERE cell_id=? AND "
                     "object < 'test_global_func16'", (cid,))
    store.finish_cell(cid, CellStatus.TIMEOUT, "cell timeout: guest killed, results so far kept")
    pairs, _ = render(store)
    (p,) = pairs
    assert p.tested == "incomplete" and 0 < p.compared < p.total
    first, second = writers.email(pairs).splitlines()[:2]
    assert first.startswith(f"INCOMPLETE on x86_64 between 6.1.190 and 6.1.192 (6.1.y): only {p.compared} of 31 ")
    assert second == (f"No BPF verifier regressions found on x86_64 between 6.1.190 and 6.1.192 (6.1.y) among the "
                      f"{p.compared} programs verified on both.")


def test_a_msg_check_flip_is_its_own_class(store):
    """Same verdict and insns on both kernels; the test's __msg is missing on one and matched on the other."""
    rows = {kid: store.db.execute("SELECT id FROM cells WHERE kernel_id=?", (kid,)).fetchone()[0]
            for kid in ("6.1.190", "6.1.192")}
    obj, prog = store.db.execute("SELECT object, program FROM results WHERE cell_id=? AND verdict='success' "
                                 "ORDER BY object LIMIT 1", (rows["6.1.192"],)).fetchone()
    store.set_msg_check(rows["6.1.190"], obj, prog, "missing", "expected message 1/2 not found: "
                        "{{R[0-9]}}=scalar(smin=0,smax=umax=4)", 2)
    store.set_msg_check(rows["6.1.192"], obj, prog, "matched", "2 message(s) in order", 2)
    pairs, repro = render(store)
    (f,) = [f for f in pairs[0].findings if f.object == obj and f.program == prog]
    assert f.change.value == "msg-check"
    assert f.detail == "expected message now in the log: {{R[0-9]}}=scalar(smin=0,smax=umax=4)"
    assert "### msg-check (1)" in writers.markdown(pairs, repro)


def test_a_reproducer_is_the_cells_own_command_narrowed_to_one_program():
    """Issue 18: an arm64 reproducer lacked --arch arm64 --root and could not run.  Recorded consoles' first lines."""
    import shlex
    from conftest import read_lines
    arm = read_lines("console-6.12.115-arm64-runner-crash.txt")[0].removeprefix("# reproduce: ")
    x86 = read_lines("console-6.1.190-tcg-soft-lockup.log")[0].removeprefix("# reproduce: ")
    guest = ["/corpus/veristat", "-v", "-l", "1", "-f", "verifier_and.bpf.o/invalid_range_check", "/corpus/verifier_and.bpf.o"]
    for cmd in (arm, x86):
        got = shlex.split(model.narrow(cmd, guest))
        want = shlex.split(cmd)
        assert got[got.index("--exec") + 1] == shlex.join(guest)
        kept = [a for a in want if not a.startswith("--rwdir") and "/rw" not in a and "harness.guest.runner" not in a]
        assert [a for a in got if a != shlex.join(guest)] == kept  # everything else, in order
    a = shlex.split(model.narrow(arm, guest))
    assert a[a.index("--arch") + 1] == "arm64" and "--root" in a and "--disable-kvm" in a
    assert not any(x.startswith("--rwdir") for x in a)
    assert sum(x.startswith("--rodir=") for x in a) == 3
    assert model.narrow("", guest) is None and model.narrow("vng --exec 'unterminated", guest) is None


@pytest.fixture
def classes(store):
    """Four pairs with every class a maintainer acts on, from the recorded rows: the 6.1.190 -> 6.1.192 fix;
    the same kernels reversed (a regression, confirmed by re-runs on both); a pair whose regression a re-run
    did not reproduce (flaky) with a __msg flip; and two UML cells of one recording (not covered)."""
    cells = {r["kernel_id"]: dict(r) for r in store.db.execute("SELECT * FROM cells")}
    run = store.start_run("m", "", [])
    base, new = cells["6.1.190"], cells["6.1.192"]
    prog = ("test_global_func16", "global_func16")
    # re-runs of the reversed pair's regression on both kernels: reproduced
    for side in (new, base):
        cid = store.start_cell(run_id=run, branch="6.1.y", kernel_id=side["kernel_id"], kernel_key=side["kernel_key"],
                               arch="x86_64", backend="vm", corpus_id="c1", purpose="confirm", confirms=side["id"])
        store.db.execute("INSERT INTO results SELECT ?, object, program, verdict, failure_class, load_reason, error, log, "
                         "libbpf, tail, tail_log_level, insns, states, peak_states, max_states_per_insn, mark_read, "
                         "duration_us, wall_s, msg_check, msg_detail, msg_log_level FROM results WHERE cell_id=? AND "
                         "object=? AND program=?", (cid, side["id"], *prog))
        store.finish_cell(cid, CellStatus.COMPLETE, "ok")
    # a copy of 6.1.190 whose re-run verified the program: the regression did not reproduce
    flaky = {}
    for kid, src in (("6.1.192-again", new), ("6.1.190-again", base)):
        cid = store.start_cell(run_id=run, branch="6.1.y", kernel_id=kid, kernel_key=kid, arch="x86_64", backend="vm",
                               corpus_id="c1", release=src["release"], clang="clang 19.1.7", accel="tcg",
                               image=src["image"], veristat=src["veristat"])
        store.db.execute("INSERT INTO results SELECT ?, object, program, verdict, failure_class, load_reason, error, log, "
                         "libbpf, tail, tail_log_level, insns, states, peak_states, max_states_per_insn, mark_read, "
                         "duration_us, wall_s, msg_check, msg_detail, msg_log_level FROM results WHERE cell_id=?",
                         (cid, src["id"]))
        store.finish_cell(cid, CellStatus.COMPLETE, "ok")
        flaky[kid] = dict(store.db.execute("SELECT * FROM cells WHERE id=?", (cid,)).fetchone())
    again = store.start_cell(run_id=run, branch="6.1.y", kernel_id="6.1.190-again", kernel_key="6.1.190-again",
                             arch="x86_64", backend="vm", corpus_id="c1", purpose="confirm",
                             confirms=flaky["6.1.190-again"]["id"])
    store.add_result(again, ResultRow(*prog, Verdict.SUCCESS, insns=14))
    store.finish_cell(again, CellStatus.COMPLETE, "ok")
    again = store.start_cell(run_id=run, branch="6.1.y", kernel_id="6.1.192-again", kernel_key="6.1.192-again",
                             arch="x86_64", backend="vm", corpus_id="c1", purpose="confirm",
                             confirms=flaky["6.1.192-again"]["id"])
    store.add_result(again, ResultRow(*prog, Verdict.SUCCESS, insns=14))
    store.finish_cell(again, CellStatus.COMPLETE, "ok")
    # a __msg that 6.1.192 matches and 6.1.190 misses (same verdict, same insns)
    msg_prog = ("bpf_cubic", "bpf_cubic_cong_avoid")
    store.set_msg_check(flaky["6.1.192-again"]["id"], *msg_prog, "missing", "expected message 1/1 not found: "
                        "invalid indirect read from stack", 1)
    store.set_msg_check(flaky["6.1.190-again"]["id"], *msg_prog, "matched", "1 message(s) in order", 1)
    uml = []
    for kid in ("6.12.115-uml", "6.12.117-uml"):
        cid = store.start_cell(run_id=run, branch="fast", kernel_id=kid, kernel_key=kid, arch="x86_64", backend="uml",
                               corpus_id="c1", release=kid, clang="clang 19.1.7", accel="native")
        for rec in recorded_results("results-6.12.117-uml.jsonl"):
            store.add_result(cid, row_of(rec))
        store.finish_cell(cid, CellStatus.COMPLETE, "ok")
        uml.append(dict(store.db.execute("SELECT * FROM cells WHERE id=?", (cid,)).fetchone()))
    th = matrix.Thresholds()
    c = {k: dict(store.db.execute("SELECT * FROM cells WHERE id=?", (v["id"],)).fetchone()) for k, v in cells.items()}
    return [model.pair(store, "6.1.y", "commit", c["6.1.190"], c["6.1.192"], th),
            model.pair(store, "6.1.y", "commit", c["6.1.192"], c["6.1.190"], th),
            model.pair(store, "6.1.y", "commit", flaky["6.1.192-again"], flaky["6.1.190-again"], th),
            model.pair(store, "fast", "commit", uml[0], uml[1], th)]


def test_golden_reports_of_every_class(store, classes):
    """The goldens cover a fix, a confirmed regression, a flaky one, a __msg flip and a not-covered pair;
    what matters in them is also asserted here, independently of the golden text."""
    repro = (lambda c, o, p: model.reproducer(store, c, o, p))
    fixed, reg, flaky, uml = classes
    counts = [{k: v for k, v in ((c.value, p.count(c)) for c in diff_mod.ORDER) if v} for p in classes]
    assert counts == [{"fixed": 1}, {"regression": 1}, {"flaky": 1, "msg-check": 1}, {}]
    (r,) = reg.findings
    assert (r.object, r.program, r.confirmed) == ("test_global_func16", "global_func16", True)
    assert r.new["error"] == "Caller passes invalid args into func#1"
    (f,) = [f for f in flaky.findings if f.change.value == "flaky"]
    assert f.confirmed is False and f.detail.startswith("did not reproduce on a re-run: new kernel failure -> success")
    (m,) = [f for f in flaky.findings if f.change.value == "msg-check"]
    assert m.detail == "expected message now in the log: invalid indirect read from stack"
    assert uml.not_covered > 0 and uml.unchanged + uml.not_covered + uml.no_verdict == uml.total
    md = writers.markdown(classes, repro)
    assert "- `test_global_func16/global_func16`: 6.1.192: success, 14 insns; 6.1.190: failure, " in md
    assert "confirmed by a re-run on both kernels" in md and "### flaky (1)" in md and "### msg-check (1)" in md
    assert md.count("reproduce: `vng --verbose --force-9p --run /cache/kernels/6.1.190/vmlinux --disable-kvm") >= 2
    assert uml.coverage_note in md.replace("\n> ", " ")
    golden("report-classes.md", md)
    doc = writers.to_json(classes, repro, generated=0)
    assert [p["counts"]["regression"] for p in doc["pairs"]] == [0, 1, 0, 0]
    assert doc["pairs"][3]["not_covered"] == uml.not_covered and doc["pairs"][1]["findings"][0]["confirmed"] is True
    golden("report-classes.json", json.dumps(doc, indent=1, sort_keys=True) + "\n")


def test_a_diff_across_different_corpora_says_so(store):
    """Issue 18: the "different corpora" label had no test.  The second cell verified objects of other bytes."""
    from conftest import add_corpus as add
    c2 = add(store, "c2")
    store.db.execute("UPDATE objects SET sha256=? WHERE corpus_id='c2' AND name='verifier_and'", ("f" * 64,))
    base, new = (dict(store.db.execute("SELECT * FROM cells WHERE kernel_id=?", (k,)).fetchone())
                 for k in ("6.1.190", "6.1.192"))
    label, same = model.comparability(store, base, {**new, "corpus_id": c2.id, "clang": "clang 18.1.8"})
    assert not same
    assert label == "DIFFERENT corpora c1 vs c2 (clang 19.1.7 vs clang 18.1.8); 1 object(s) differ in bytes"


def test_report_and_fidelity_commands(store, tmp_path, capsys):
    """The CLI's report command writes what the writers render; fidelity reads a UML and a VM cell."""
    from harness.cli import main
    store.close()
    m = tmp_path / "m.yaml"
    m.write_text(MATRIX)
    db = str(store.path)
    for fmt, name in (("md", "r.md"), ("json", "r.json"), ("junit", "j.xml"), ("email", "e.txt")):
        assert main(["report", "--db", db, "-m", str(m), "--format", fmt, "-o", str(tmp_path / name)]) == 0
    assert "### fixed (1)" in (tmp_path / "r.md").read_text()
    assert json.loads((tmp_path / "r.json").read_text())["pairs"][0]["counts"]["fixed"] == 1
    assert (tmp_path / "e.txt").read_text().startswith("No BPF verifier regressions found on x86_64 between 6.1.190")
    assert main(["report", "--db", db, "-m", str(m), "--format", "csv", "-o", str(tmp_path / "csv")]) == 0
    assert sorted(p.name for p in (tmp_path / "csv").iterdir()) == ["6.1.190_x86_64.csv", "6.1.192_x86_64.csv"]
    assert main(["report", "--db", db, "-m", str(m), "--format", "pdf", "-o", str(tmp_path / "x")]) == 2
    capsys.readouterr()
    assert main(["fidelity", "--db", db]) == 2  # no UML cell here: one line, usage error
    assert "no UML cell with a VM cell" in capsys.readouterr().err


def test_fail_on_decides_what_makes_a_run_exit_1(store, classes):
    """Issue 18: `run --fail-on unexpected|never` had no test.  On recorded pairs: the fix alone, the reversed
    pair (a regression), and a pair whose only finding is a result newly unexpected but not a regression."""
    import dataclasses
    from harness.judge import fails
    fixed, reg, flaky, _ = classes
    assert [fails([fixed], how) for how in ("regression", "unexpected", "never")] == [False, False, False]
    assert [fails([reg], how) for how in ("regression", "unexpected", "never")] == [True, True, False]
    (f,) = [f for f in flaky.findings if f.change.value == "flaky"]
    assert f.newly_unexpected and not any(x.change.value == "regression" for x in flaky.findings)
    assert [fails([flaky], how) for how in ("regression", "unexpected", "never")] == [False, True, False]
    assert fails([dataclasses.replace(reg, findings=())], "unexpected") is False


def test_reference_pairs_and_a_branch_of_its_own_reference(store):
    """Issue 18: reference pairs had no unit test.  Each branch head against the reference head; a branch naming
    its own reference is compared with that one, and a branch others are compared with is compared with none."""
    text = ("corpora:\n  c: {source: 6.1.192}\nbranches:\n  old: {corpus: c, kernels: [6.1.190]}\n"
            "  new: {corpus: c, kernels: [6.1.192]}\nreference: new\n")
    pairs = model.pairs(store, matrix.parse(text, "m.yaml"))
    assert [(p.kind, p.branch, p.base["kernel_id"], p.new["kernel_id"]) for p in pairs] == [
        ("reference", "old", "6.1.190", "6.1.192")]
    assert [f.change.value for f in pairs[0].findings] == ["fixed"]
    own = text.replace("reference: new\n", "") .replace("kernels: [6.1.190]}", "kernels: [6.1.190], reference: new}")
    assert [(p.kind, p.branch) for p in model.pairs(store, matrix.parse(own, "m.yaml"))] == [("reference", "old")]


def test_a_commit_built_kernel_is_named_on_its_pair_and_each_finding(store):
    """A cell of a kernel built from a commit stores the commit id as package_version and its subject as package
    (harness.kernels.built.kbuild); every format names the commit."""
    cid = "d9c083b366403d58cd8e31d30ae24ebebf9a3f5c"
    subject = "bpf: Fix exception exit lock checking for subprogs"
    store.db.execute("UPDATE cells SET package_version=?, package=? WHERE kernel_id='6.1.192'", (cid, subject))
    store.db.commit()
    pairs, repro = render(store)
    (p,) = pairs
    assert p.commit == {"id": cid, "subject": subject}
    assert p.commit_line == f'commit d9c083b36640 "{subject}"'
    md = writers.markdown(pairs, repro)
    assert f'**commit d9c083b36640 "{subject}"** (diffed against its parent in the range, 6.1.190)' in md
    finding_lines = [ln for ln in md.splitlines() if ln.startswith("- `")]
    assert finding_lines and all(f"[d9c083b36640 {subject}]" in ln for ln in finding_lines)
    js = writers.to_json(pairs, repro, generated=0)
    assert js["pairs"][0]["commit"] == {"id": cid, "subject": subject}
    assert all(f["commit"]["id"] == cid for f in js["pairs"][0]["findings"])
    from harness.report import html
    page = html.render(pairs, repro, store.result_map)
    assert f"<code>d9c083b36640</code> {subject}" in page
    assert page.count(f"<div class='commit'>d9c083b36640 {subject}</div>") == len(p.findings)
    # the same pair reversed has a regression: the email names the commit under it
    store.db.execute("UPDATE cells SET package_version=?, package=? WHERE kernel_id='6.1.190'", (cid, subject))
    cells = {c["kernel_id"]: dict(c) for c in store.db.execute("SELECT * FROM cells")}
    rev = model.pair(store, "6.1.y", "commit", cells["6.1.192"], cells["6.1.190"], matrix.Thresholds())
    assert rev.regressions
    assert f'  at commit d9c083b36640 "{subject}"' in writers.email([rev])
    # a Debian kernel's package version is not a commit
    assert model.commit_of(dict(p.base)) is None
