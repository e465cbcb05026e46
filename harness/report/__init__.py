"""Readers of the store: terminal summary, the report model and its writers."""

from __future__ import annotations

import json
from pathlib import Path

from harness.cache import safe_name
from harness.matrix import Matrix
from harness.store import Store

FORMATS = ("md", "html", "json", "junit", "csv", "email", "kcidb")


def write(store: Store, matrix: Matrix, fmt: str, out: Path, cells: tuple[str, ...] = (),
          pairs: list | None = None, record: bool = False, review: dict | None = None) -> list:
    """Write one format to ``out`` (a directory for csv without a single cell); returns the pairs.

    ``pairs`` (from :func:`model.pairs`) may be given to spare recomputing every diff.  Rendering reads the
    store; ``record``: also record tonight's findings in the nights' history (the night's own run does)."""
    from harness import stream
    from harness.nightly import history as hist
    from harness.report import model, writers
    if pairs is None:
        pairs = model.pairs(store, matrix)
    # each read only for the formats that show it (write_all renders every format from one store)
    rules = stream.recorded(store, matrix) if matrix.follows and fmt in ("md", "html", "json", "junit", "email") \
        else None
    attributed = None
    if fmt in ("md", "html", "json", "email", "review-reply"):
        from harness import attribute
        attributed = attribute.for_report(store, matrix, pairs)
    if record:
        hist.record(store, matrix, pairs)
    history = hist.read(store, matrix, pairs) if fmt in ("md", "json", "email") else None

    def reproduce(cell, obj, prog):
        return model.reproducer(store, cell, obj, prog)

    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "md":
        out.write_text(writers.markdown(pairs, reproduce, history, rules, attributed))
    elif fmt == "html":
        from harness.report import html
        out.write_text(html.render(pairs, reproduce, store.result_map, _logdiffs(store), rules, attributed))
    elif fmt == "json":
        out.write_text(json.dumps(writers.to_json(pairs, reproduce, history=history, rules=rules, attributed=attributed), indent=1,
                                  sort_keys=True) + "\n")
    elif fmt == "junit":
        out.write_text(writers.junit(pairs, store.result_map, rules))
    elif fmt == "email":
        out.write_text(writers.email(pairs, history, rules, attributed))
    elif fmt == "kcidb":
        from harness.report import kcidb
        out.write_text(json.dumps(kcidb.from_store(store, matrix, pairs), indent=1, sort_keys=True) + "\n")
    elif fmt == "review-reply":  # review: cover (a Cover or None), in_reply_to, tester
        from harness.report import review as rv
        assert review is not None
        out.write_text(rv.render(pairs, review["cover"], review["in_reply_to"], review["tester"], attributed, reproduce))
    elif fmt == "csv":
        chosen = [store.find_cell(c) for c in cells] if cells else store.latest_cells()
        if len(chosen) == 1 and cells:
            out.write_text(writers.veristat_csv(store.result_map(chosen[0].id).values()))
        else:
            out.mkdir(parents=True, exist_ok=True)
            for c in chosen:
                (out / f"{safe_name(c.kernel_id)}_{c.arch}.csv").write_text(
                    writers.veristat_csv(store.result_map(c.id).values()))
    else:
        raise ValueError(fmt)
    return pairs


def _logdiffs(store: Store):
    """The log diff of a finding when the store has whole logs of it from both cells (``bpf-harness logdiff``)."""
    from harness.triage import diff_logs
    logs: dict[int, dict] = {}

    def of(cell_id: int) -> dict:
        if cell_id not in logs:
            logs[cell_id] = store.logs(cell_id, 1)
        return logs[cell_id]

    def logdiff(p, f):
        key = (f.object, f.program)
        a, b = of(p.base["id"]).get(key), of(p.new["id"]).get(key)
        if a is None or b is None:
            return None
        return diff_logs(a, b, f"{p.base['kernel_id']}/{p.base['arch']}", f"{p.new['kernel_id']}/{p.new['arch']}")
    return logdiff


def write_all(store: Store, matrix: Matrix, directory: Path, record: bool = False, pairs: list | None = None) -> list:
    names = {"md": "report.md", "html": "report.html", "json": "report.json", "junit": "junit.xml",
             "email": "email.txt", "csv": "csv", "kcidb": "kcidb.json"}
    from harness.report import model
    if pairs is None:
        pairs = model.pairs(store, matrix)
    if record:
        from harness.nightly import history
        history.record(store, matrix, pairs)
    for fmt in FORMATS:
        write(store, matrix, fmt, directory / names[fmt], pairs=pairs)
    return pairs
