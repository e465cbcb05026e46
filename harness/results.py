"""``bpf-harness results``: verdict counts per cell and failures with their error line (text)."""

from __future__ import annotations

from typing import TextIO

from harness.store import CellRecord, Store

COLUMNS = ("cell", "status", "accel", "boot", "time", "programs", "verified", "rejected", "load-fail",
           "timeout", "crash", "not-run", "unexpected")


def _fmt_s(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}s" if v < 100 else f"{v:.0f}s"


def cell_row(cell: CellRecord, counts: dict[str, int], unexpected: int) -> tuple[str, ...]:
    total = sum(counts.values())
    where = f" @{cell.host.split(' ')[0]}" if cell.host else ""  # a remote host's name
    return (f"{cell.kernel_id}/{cell.arch}", cell.status, (cell.accel or "-") + where, _fmt_s(cell.boot_s),
            _fmt_s(cell.seconds), str(total), str(counts.get("success", 0)),
            str(counts.get("failure:verifier", 0)), str(counts.get("failure:load", 0)),
            str(counts.get("timeout", 0)), str(counts.get("crash", 0)), str(counts.get("not-run", 0)), str(unexpected))


def table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()  # noqa: E731
    return [fmt(header), fmt(tuple("-" * w for w in widths)), *(fmt(r) for r in rows)]


def render(store: Store, out: TextIO, keys: tuple[str, ...] = (), limit: int = 20,
           classes: tuple[str, ...] = ("verifier", "load")) -> int:
    """Write the table; returns the number of cells shown."""
    cells = store.latest_cells(keys)
    if not cells:
        print("no results" + (f" for {', '.join(keys)}" if keys else "") + f" in {store.path}", file=out)
        return 0
    rows = [cell_row(c, store.verdict_counts(c.id),
                     sum(r["outcome"] == "unexpected" for r in store.result_map(c.id).values())) for c in cells]
    for line in table(rows, COLUMNS):
        print(line, file=out)
    for c in cells:
        failures = [r for r in store.results(c.id)
                    if r["verdict"] in ("failure", "timeout", "crash") and
                    (r["failure_class"] in classes or r["verdict"] != "failure")]
        findings = store.findings(c.id)
        print(f"\n{c.kernel_id}/{c.arch}  {c.release}  corpus {c.corpus_id}  {c.clang}", file=out)
        if c.status != "complete":
            print(f"  cell {c.status}: {c.detail}  (console: {c.console_log})", file=out)
        for f in findings:
            print(f"  console {f['kind']}: {f['line']}", file=out)
        shown = failures if limit <= 0 else failures[:limit]
        for r in shown:
            what = r["failure_class"] or r["verdict"]
            if r["load_reason"]:
                what += f"/{r['load_reason']}"
            print(f"  {r['object']}/{r['program']}  {what}  {r['error'] or ''}", file=out)
        if len(failures) > len(shown):
            print(f"  ... {len(failures) - len(shown)} more (--limit 0 shows all)", file=out)
    return len(cells)
