#!/usr/bin/env python3
"""Do two kernels verify a corpus alike?  Compares the newest complete cell of each store (or the named cells),
program by program: verdict, insns and the normalized error; e.g. a `guest` VM kernel against a `vmtest` one
built from the same source (docs/source-built-kernels.md):

    python3 ci/compare_cells.py GUEST.db VMTEST.db [--cells GUEST_CELL VMTEST_CELL]

Prints the identical count and every difference; exit 0 when every program of both cells is identical, 1 when
not, 2 when a store or cell is missing or a cell is not complete.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.errors import HarnessError  # noqa: E402
from harness.store import Store  # noqa: E402

FIELDS = ("verdict", "insns", "error")


def cell_results(db: Path, key: str | None) -> tuple[str, dict]:
    if not db.exists():
        raise SystemExit(f"{db}: no such store")
    store = Store(db)
    try:
        cell = store.find_cell(key) if key else next(
            (c for c in reversed(store.latest_cells()) if c.complete), None)
        if cell is None or not cell.complete:
            print(f"{db}: no complete cell{f' {key}' if key else ''}", file=sys.stderr)
            raise SystemExit(2)
        return f"{cell.key} ({cell.release}, {cell.programs_total} programs, {cell.seconds:.0f} s)", \
            store.result_map(cell.id)
    finally:
        store.close()


def show(r: dict | None) -> str:
    if r is None:
        return "absent"
    return f"{r['verdict']} {r.get('insns')} insns" + (f": {r['error']}" if r.get("error") else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--cells", nargs=2, default=None, metavar=("A_CELL", "B_CELL"))
    args = ap.parse_args()
    try:
        (na, a), (nb, b) = (cell_results(args.a, args.cells and args.cells[0]),
                            cell_results(args.b, args.cells and args.cells[1]))
    except HarnessError as e:
        print(f"compare_cells: {e}", file=sys.stderr)
        return 2
    keys = sorted(set(a) | set(b))
    diffs = [k for k in keys if k not in a or k not in b or any(a[k].get(f) != b[k].get(f) for f in FIELDS)]
    print(f"A: {na}\nB: {nb}")
    print(f"identical (verdict, insns, error): {len(keys) - len(diffs)}/{len(keys)}; verified (success) in A "
          f"{sum(r['verdict'] == 'success' for r in a.values())}, in B {sum(r['verdict'] == 'success' for r in b.values())}")
    for k in diffs:
        print(f"  {k[0]}/{k[1]}: A {show(a.get(k))}; B {show(b.get(k))}")
    return 0 if not diffs else 1


if __name__ == "__main__":
    sys.exit(main())
