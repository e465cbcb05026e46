#!/usr/bin/env python3
"""Did a change keep the results?  Compares two runs' outputs of the same matrix, e.g. `bash ci/nightly.sh` in a
clone of the commit before a refactor and in one of the commit after:

    python3 ci/compare_stores.py BEFORE/bpf-harness-out AFTER/bpf-harness-out

Per run cell (kernel, arch, backend): the status and every program's verdict, failure class, load reason,
error, insns, states, peak states and __msg check; then report.json's findings.  What is not a result is left
out: verification time (``duration_us``, ``wall_s``) and the checkout's path inside reproducer commands.
Exit 0 when identical, 1 when not (each difference listed).
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

FIELDS = ("verdict", "failure_class", "load_reason", "error", "insns", "states", "peak_states", "msg_check")
TIMING = ("duration_us", "wall_s")


def cells(db: Path) -> dict[tuple[str, str, str], tuple[str, dict]]:
    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    c.row_factory = sqlite3.Row
    out = {}
    for cell in c.execute("SELECT * FROM cells WHERE purpose = 'run' ORDER BY id"):
        rows = {(r["object"], r["program"]): tuple(r[f] for f in FIELDS)
                for r in c.execute("SELECT * FROM results WHERE cell_id = ?", (cell["id"],))}
        out[(cell["kernel_id"], cell["arch"], cell["backend"])] = (cell["status"], rows)  # the newest run wins
    return out


def findings(report: Path, top: Path) -> list[str]:
    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items() if k not in TIMING}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v.replace(str(top.resolve().parent), "<checkout>") if isinstance(v, str) else v
    j = json.loads(report.read_text())
    return sorted(json.dumps(clean(f), sort_keys=True) for p in j.get("pairs", []) for f in p.get("findings", []))


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    before, after = Path(argv[1]), Path(argv[2])
    for d in (before, after):
        for f in (d / "results.db", d / "report" / "report.json"):
            if not f.is_file():
                print(f"{f}: missing; give a finished run's output directory (bpf-harness-out)", file=sys.stderr)
                return 2
    a, b = cells(before / "results.db"), cells(after / "results.db")
    differences = 0
    for key in sorted(set(a) | set(b)):
        name = "/".join(key)
        if key not in a or key not in b:
            print(f"{name}: only {'after' if key in b else 'before'}")
            differences += 1
            continue
        (sa, ra), (sb, rb) = a[key], b[key]
        moved = sorted(p for p in set(ra) | set(rb) if ra.get(p) != rb.get(p))
        print(f"{name}: {sa} / {sb}, {len(ra)} / {len(rb)} programs, {len(moved)} differ")
        for p in moved[:10]:
            print(f"  {p[0]}/{p[1]}: {ra.get(p)} -> {rb.get(p)}")
        differences += len(moved) + (sa != sb)
    fa, fb = findings(before / "report" / "report.json", before), findings(after / "report" / "report.json", after)
    print(f"report.json: {len(fa)} / {len(fb)} findings, {'identical' if fa == fb else 'DIFFERENT'}")
    differences += fa != fb
    print("identical" if not differences else f"{differences} difference(s)")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
