"""Shards and merge: a CI matrix of jobs, each running a share of the cells into its own store, then one store
and one report.  The stores hold results recorded in real 6.1.190 and 6.1.192 guests."""

from pathlib import Path

import pytest

from harness import matrix
from harness.cell import row_of
from harness.cli import main
from harness.errors import UserError
from harness.nightly.merge import merge
from harness.nightly.shard import parse_shard, shard
from harness.report import model
from harness.store import CellStatus, Store
from conftest import add_corpus, recorded_results

ROOT = Path(__file__).resolve().parent.parent
MATRIX = "branches:\n  6.1.y:\n    corpus: c\n    kernels: [6.1.190, 6.1.192]\ncorpora:\n  c: {source: 6.1.192}\n"


def test_shards_are_whole_lanes_dealt_round_robin_and_cover_every_cell_once():
    m = matrix.load(ROOT / "configs" / "default.yaml")
    cells = m.cells()
    one, two = shard(cells, 1, 2), shard(cells, 2, 2)
    assert [c.key for c in one] == ["6.12.115/x86_64", "6.12.117/x86_64", "6.1.190/x86_64", "6.1.192/x86_64"]
    assert [c.key for c in shard(cells, 1, 1)] == [c.key for c in cells]  # the matrix's order
    assert [c.key for c in two] == ["6.12.115/arm64", "6.12.117/arm64"]
    assert shard(cells, 1, 1) == cells
    assert shard(cells, 4, 4) == []  # three lanes: the fourth job has nothing to run
    for n in (2, 3, 5):
        keys = [c.key for i in range(1, n + 1) for c in shard(cells, i, n)]
        assert sorted(keys) == sorted(c.key for c in cells)
    assert parse_shard("2/4") == (2, 4)
    for bad in ("0/2", "3/2", "2", "a/b", "1/0"):
        with pytest.raises(UserError, match="give I/N"):
            parse_shard(bad)


def job_store(path: Path, kernel: str, corpus: str = "c1", started: float | None = None) -> Path:
    """What one CI job leaves: one real cell of recorded results."""
    s = Store(path)
    add_corpus(s, corpus)
    run = s.start_run("m.yaml", "", ["bpf-harness", "run", "--shard", "x"])
    cid = s.start_cell(run_id=run, branch="6.1.y", kernel_id=kernel, kernel_key=kernel, arch="x86_64", backend="vm",
                       corpus_id=corpus, release=kernel, accel="tcg")
    if started is not None:
        s.update_cell(cid, started=started)
    for rec in recorded_results(f"results-{kernel}-classes.jsonl"):
        if rec["kind"] == "result":
            s.add_result(cid, row_of(rec))
    s.finish_cell(cid, CellStatus.COMPLETE, "ok")
    s.close()
    return path


def counts(db: Path) -> tuple[int, int]:
    with Store(db) as s:
        return (s.db.execute("SELECT COUNT(*) FROM cells").fetchone()[0],
                s.db.execute("SELECT COUNT(*) FROM results").fetchone()[0])


def test_two_jobs_stores_merge_into_one_pair_and_merging_again_adds_nothing(tmp_path):
    a = job_store(tmp_path / "a.db", "6.1.190")
    b = job_store(tmp_path / "b.db", "6.1.192")
    out = tmp_path / "out.db"
    got = merge(out, [a, b])
    assert [(r.cells, r.present) for r in got] == [(1, 0), (1, 0)]
    assert counts(out) == (2, 62)
    with Store(out) as s:
        (p,) = model.pairs(s, matrix.parse(MATRIX, "m.yaml"))
        assert p.tested == "complete"
        assert [(f.change.value, f.object, f.program) for f in p.findings] == [
            ("fixed", "test_global_func16", "global_func16")]
    again = merge(out, [a, b])
    assert [(r.cells, r.present) for r in again] == [(0, 1), (0, 1)] and counts(out) == (2, 62)


def test_a_store_whose_corpus_was_built_otherwise_is_refused_and_the_output_kept(tmp_path, capsys):
    out = tmp_path / "out.db"
    merge(out, [job_store(tmp_path / "a.db", "6.1.190")])
    other = job_store(tmp_path / "b.db", "6.1.192", corpus="c2")  # the same matrix corpus, other objects
    with pytest.raises(UserError, match=r"corpus test \(x86_64\) was built as c2 .* and as c1 .* in the output"):
        merge(out, [other])
    assert counts(out) == (1, 31)
    assert main(["merge", str(out), str(other)]) == 2
    assert capsys.readouterr().err.count("\n") == 1  # one line
    (tmp_path / "notes.txt").write_text("not a store\n")
    assert main(["merge", str(out), str(tmp_path / "notes.txt")]) == 2
    assert main(["merge", str(out), str(tmp_path / "missing.db")]) == 2
    assert counts(out) == (1, 31)


def test_run_with_a_shard_that_has_no_cells_runs_nothing_and_a_bad_shard_is_exit_2(tmp_path, capsys):
    default = str(ROOT / "configs" / "default.yaml")
    assert main(["run", "-m", default, "--shard", "4/4", "--db", str(tmp_path / "r.db")]) == 0
    assert not (tmp_path / "r.db").exists()  # nothing started, no store
    assert main(["run", "-m", default, "--shard", "5/4", "--db", str(tmp_path / "r.db")]) == 2
    assert "--shard '5/4': give I/N" in capsys.readouterr().err
