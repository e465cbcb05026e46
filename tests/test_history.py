"""History across nights on a store of results recorded in real 6.1.190 and 6.1.192 guests: the first night
says so, a second night with a new kernel reports its findings as new, a night with the same cells is the same
night, findings still present say since when, and ones that went are listed as gone; the history survives
``bpf-harness merge``."""

from __future__ import annotations

import json

from harness import matrix
from harness.cell import row_of
from harness.nightly import history
from harness.nightly.merge import merge as merge_stores
from harness.report import model, writers
from harness.store import CellStatus, Store
from conftest import add_corpus, recorded_results

ONE = "branches:\n  6.1.y:\n    corpus: c\n    kernels: [6.1.190]\ncorpora:\n  c: {source: 6.1.192}\n"
TWO = "branches:\n  6.1.y:\n    corpus: c\n    kernels: [6.1.190, 6.1.192]\ncorpora:\n  c: {source: 6.1.192}\n"


def add_cell(s: Store, kid: str, recs: str, t: float) -> None:
    run = s.start_run("nightly.yaml", "", [])
    cid = s.start_cell(run_id=run, branch="6.1.y", kernel_id=kid, kernel_key=kid, arch="x86_64", backend="vm",
                       corpus_id="c1", release=kid, clang="clang 19.1.7", accel="tcg")
    s.db.execute("UPDATE cells SET started=? WHERE id=?", (t, cid))
    for rec in recorded_results(recs):
        if rec["kind"] == "result":
            s.add_result(cid, row_of(rec))
    s.finish_cell(cid, CellStatus.COMPLETE, "ok")


def night(s: Store, text: str):
    m = matrix.parse(text, "/ci/nightly.yaml")
    pairs = model.pairs(s, m)
    return pairs, history.record(s, m, pairs)


def test_new_still_present_and_gone_across_nights(tmp_path):
    s = Store(tmp_path / "r.db")
    add_corpus(s, "c1")
    add_cell(s, "6.1.190", "results-6.1.190-classes.jsonl", 1764720000.0)  # 2025-12-03
    pairs, h1 = night(s, ONE)
    assert pairs == [] and h1.previous_at is None
    assert writers.markdown(pairs, lambda *a: "r", h1).splitlines()[2].startswith("**First night of this matrix")

    add_cell(s, "6.1.192", "results-6.1.192-classes.jsonl", 1764806400.0)  # the next night: a new release
    pairs, h2 = night(s, TWO)
    keys = {history.key(p, f) for p in pairs for f in p.findings}
    assert keys and h2.new == keys and h2.gone == ()
    md = writers.markdown(pairs, lambda *a: "r", h2)
    assert md.index("## Since the last complete night") < md.index("## 6.1.y")
    assert f"**{len(keys)} new**:" in md and "**0 gone**." in md and "— **new**" in md
    mail = writers.email(pairs, h2)
    assert mail.startswith("New since the last complete night (")
    doc = writers.to_json(pairs, lambda *a: "r", generated=0, history=h2)
    assert {f["history"] for p in doc["pairs"] for f in p["findings"]} == {"new"} and doc["history"]["gone"] == []

    # the same cells again: the same night, nothing recorded twice
    _, again = night(s, TWO)
    assert again.night == h2.night and again.new == h2.new

    # a third night re-runs 6.1.192 with the same results: every finding still present, since night 2
    add_cell(s, "6.1.192", "results-6.1.192-classes.jsonl", 1764892800.0)
    pairs3, h3 = night(s, TWO)
    assert h3.night != h2.night and not h3.new and not h3.gone
    assert {h3.status(history.key(q, f)) for q in pairs3 for f in q.findings} == {f"since {history.day(h2_at(s, h2))}"}

    # a fourth night no longer finds one of them: gone
    gone = sorted(keys)[0]
    prog = gone.split("|")[5]
    add_cell(s, "6.1.192", "results-6.1.192-classes.jsonl", 1764979200.0)
    obj, p = prog.split("/")
    cid = s.latest_cell("6.1.192", "x86_64").id
    base = s.result_map(s.latest_cell("6.1.190", "x86_64").id)[(obj, p)]
    s.db.execute("UPDATE results SET verdict=?, error=?, insns=?, failure_class=? WHERE cell_id=? AND object=? "
                 "AND program=?", (base["verdict"], base["error"], base["insns"], base["failure_class"], cid, obj, p))
    pairs4, h4 = night(s, TWO)
    assert h4.gone == (gone,) and not h4.new
    assert {history.key(q, f) for q in pairs4 for f in q.findings} == keys - {gone}
    assert f"`{prog}`" in "\n".join(history.lead(h4)) and "**1 gone**:" in "\n".join(history.lead(h4))

    # merged into another store, the nights come along: the history reads the same there
    s.close()
    out = tmp_path / "merged.db"
    merge_stores(out, [tmp_path / "r.db"])
    with Store(out) as m2:
        assert m2.db.execute("SELECT COUNT(*) FROM nights").fetchone()[0] == 4
        _, h5 = night(m2, TWO)
        assert h5.gone == (gone,) and json.dumps(sorted(h5.since)) == json.dumps(sorted(h4.since))


def h2_at(s: Store, h) -> float:
    return s.db.execute("SELECT at FROM nights WHERE id=?", (h.night,)).fetchone()[0]


def test_rendering_a_report_writes_nothing_and_record_night_records_once(tmp_path, capsys):
    """Issue 28: `report` recorded the night into the store it read, so rendering twice, or from a copy taken
    mid-night, changed what 'new since the last night' meant.  Rendering reads; `--record-night` (the merge job's
    first report) and the night's own run record."""
    import shutil
    from harness.cli import main
    s = Store(tmp_path / "r.db")
    add_corpus(s, "c1")
    add_cell(s, "6.1.190", "results-6.1.190-classes.jsonl", 1764720000.0)
    add_cell(s, "6.1.192", "results-6.1.192-classes.jsonl", 1764806400.0)
    s.close()
    (tmp_path / "nightly.yaml").write_text(TWO)

    def nights(db) -> int:
        with Store(db) as st:
            return st.db.execute("SELECT COUNT(*) FROM nights").fetchone()[0]

    def report(db, *extra) -> dict:
        assert main(["report", "-m", str(tmp_path / "nightly.yaml"), "--db", str(db), "--format", "json", "-o",
                     str(tmp_path / "r.json"), *extra]) == 0
        d = json.loads((tmp_path / "r.json").read_text())
        del d["generated"]  # when it was rendered (seconds): two renders a second apart differ only there
        return d

    first = report(tmp_path / "r.db")
    assert report(tmp_path / "r.db") == first and nights(tmp_path / "r.db") == 0
    assert {f["history"] for p in first["pairs"] for f in p["findings"]} == {"first night"}
    shutil.copy(tmp_path / "r.db", tmp_path / "copy.db")
    assert report(tmp_path / "r.db", "--record-night") == first and nights(tmp_path / "r.db") == 1
    assert report(tmp_path / "r.db", "--record-night") == first and nights(tmp_path / "r.db") == 1  # once
    assert report(tmp_path / "copy.db") == first and nights(tmp_path / "copy.db") == 0
    capsys.readouterr()
