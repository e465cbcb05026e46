#!/usr/bin/env python3
"""How the HTML triage report behaves at 10,000 finding rows, in headless Chromium (issue 19).

No real pair has 10,000 findings, so the rows are made from a real store's results: each verified program
of each complete cell is paired with a copy of itself whose insns moved by +20% (a ``complexity``
finding; names, errors and logs are the real ones), over as many copies as it takes.  Prints, measured in
this one run: the number of rows, the file size, the seconds until the page is ready in Chromium (over
the DevTools protocol, tests/cdp.py) and the milliseconds one filter keystroke takes over every row.

Usage: .venv/bin/python ci/bench_report.py [--db bpf-harness-out/results.db] [--rows 10000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

top = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(top))
sys.path.insert(0, str(top / "tests"))

from harness.matrix import Thresholds  # noqa: E402
from harness.report import html, model  # noqa: E402
from harness.store import CellStatus, Store  # noqa: E402
from cdp import Chromium  # noqa: E402


def build(src: Path, dst: Path, rows: int) -> list:
    s = Store(dst)
    s.db.execute("ATTACH DATABASE ? AS src", (str(src),))
    s.db.execute("INSERT INTO corpora SELECT * FROM src.corpora")
    s.db.execute("INSERT INTO expectations SELECT * FROM src.expectations")
    cells = [dict(r) for r in s.db.execute("SELECT * FROM src.cells WHERE purpose='run' AND status='complete'")]
    verified = {c["id"]: s.db.execute("SELECT COUNT(*) FROM src.results WHERE cell_id=? AND verdict='success'",
                                      (c["id"],)).fetchone()[0] for c in cells}
    run = s.start_run("bench", "", [])
    pairs, n, copy = [], 0, 0
    th = Thresholds(insns_pct=10.0, insns_abs=1)
    while n < rows:
        copy += 1
        for c in cells:
            if n >= rows or not verified[c["id"]]:
                continue
            ids = []
            for side in ("a", "b"):
                cid = s.start_cell(run_id=run, branch=f"bench{copy}", kernel_id=f"{c['kernel_id']}-{copy}{side}",
                                   kernel_key=f"{c['kernel_key']}-{copy}{side}", arch=c["arch"], backend="vm",
                                   corpus_id=c["corpus_id"], release=c["release"], accel=c["accel"])
                s.db.execute("INSERT INTO results SELECT ?, object, program, verdict, failure_class, load_reason, "
                             "error, log, libbpf, tail, tail_log_level, insns, states, peak_states, "
                             "max_states_per_insn, mark_read, duration_us, wall_s, msg_check, msg_detail, "
                             "msg_log_level FROM src.results WHERE cell_id=?", (cid, c["id"]))
                s.finish_cell(cid, CellStatus.COMPLETE, "ok")
                ids.append(cid)
            s.db.execute("UPDATE results SET insns = insns * 12 / 10 + 1 WHERE cell_id=? AND verdict='success'",
                         (ids[1],))
            base, new = (dict(s.db.execute("SELECT * FROM cells WHERE id=?", (i,)).fetchone()) for i in ids)
            p = model.pair(s, f"bench{copy}", "commit", base, new, th)
            pairs.append(p)
            n += len(p.findings)
    s.db.commit()
    return pairs, s


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, default=top / "bpf-harness-out" / "results.db")
    ap.add_argument("--rows", type=int, default=10_000)
    args = ap.parse_args()
    if not args.db.exists():
        print(f"{args.db}: no results store; run the main job first (bash ci/nightly.sh) or pass --db")
        return 2
    with tempfile.TemporaryDirectory() as d:
        t0 = time.monotonic()
        pairs, s = build(args.db, Path(d) / "bench.db", args.rows)
        page = Path(d) / "report.html"
        page.write_text(html.render(pairs, lambda c, o, p: "", s.result_map))
        made = time.monotonic() - t0
        rows = sum(len(p.findings) for p in pairs)
        b = Chromium(Path(d) / "profile")
        try:
            load = b.open(page.as_uri(), timeout=600)
            shown = b.eval("document.getElementById('f-shown').textContent")
            ms = b.eval("(function(){var t=document.getElementById('f-text');var t0=performance.now();"
                        "t.value='verifier_and';t.dispatchEvent(new Event('input'));return performance.now()-t0;})()")
            after = b.eval("document.getElementById('f-shown').textContent")
        finally:
            b.close()
        print(f"rows (findings):             {rows} in {len(pairs)} pairs, from {args.db}")
        print(f"report.html:                 {page.stat().st_size / 1e6:.1f} MB, written in {made:.1f} s")
        print(f"Chromium load until ready:   {load:.2f} s ({shown})")
        print(f"one filter keystroke:        {ms:.0f} ms ({after})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
