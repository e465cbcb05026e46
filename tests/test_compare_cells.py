"""ci/compare_cells.py: two kernels' cells of one corpus, program by program (recorded 6.12.117 guest results)."""

import subprocess
import sys
from pathlib import Path

from conftest import add_corpus, recorded_results
from harness.cell import row_of
from harness.store import CellStatus, Store

ROOT = Path(__file__).resolve().parent.parent


def _store(path: Path, kernel: str, change: tuple[str, str] | None = None) -> Path:
    s = Store(path)
    add_corpus(s)
    cid = s.start_cell(run_id=s.start_run("m", "", []), branch="b", kernel_id=kernel, kernel_key=kernel,
                      arch="x86_64", backend="vm", corpus_id="c1", release="6.12.117")
    for rec in recorded_results("results-6.12.117.jsonl"):
        if rec["kind"] == "result":
            row = row_of(rec)
            if (row.object, row.program) == change:
                row = row.__class__(**{**row.__dict__, "insns": (row.insns or 0) + 1})
            s.add_result(cid, row)
    s.update_cell(cid, seconds=12.0, programs_total=1)
    s.finish_cell(cid, CellStatus.COMPLETE, "ok")
    s.close()
    return path


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "ci" / "compare_cells.py"), *args], capture_output=True,
                          text=True)


def test_identical_cells_exit_0_and_a_changed_insns_count_is_listed(tmp_path):
    first = [row_of(r) for r in recorded_results("results-6.12.117.jsonl") if r["kind"] == "result"][0]
    a = _store(tmp_path / "a.db", "6.12.117-guest")
    b = _store(tmp_path / "b.db", "6.12.117-vmtest")
    same = _run(str(a), str(b))
    assert same.returncode == 0, same.stdout + same.stderr
    total = len([r for r in recorded_results("results-6.12.117.jsonl") if r["kind"] == "result"])
    assert f"identical (verdict, insns, error): {total}/{total}" in same.stdout
    c = _store(tmp_path / "c.db", "6.12.117-vmtest", (first.object, first.program))
    differ = _run(str(a), str(c))
    assert differ.returncode == 1 and f"{total - 1}/{total}" in differ.stdout
    assert f"  {first.object}/{first.program}: A {first.verdict.value} {first.insns} insns" in differ.stdout


def test_a_missing_store_is_one_line(tmp_path):
    done = _run(str(tmp_path / "none.db"), str(tmp_path / "none2.db"))
    assert done.returncode != 0 and done.stderr.strip().splitlines()[-1].endswith("none.db: no such store")
