"""Stores of several CI jobs into one (``bpf-harness merge OUT IN...``).

A cell is the same cell in two stores when its kernel build, arch, corpus, backend, purpose and start
time are: merging a store twice adds nothing.  Corpora are content ids; two stores that built the same
matrix corpus into different objects (another clang, another source) are refused, since their cells'
results could not be compared.  Each input is merged in one transaction: a refused or failed input
leaves the output as it was.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

from harness.errors import UserError
from harness.store import CellStatus, Store

_CORPUS_SAME = ("name", "arch", "source_package", "source_version", "clang", "veristat_sha256")
_CELL_KEY = ("kernel_key", "arch", "corpus_id", "backend", "purpose", "started")


@dataclasses.dataclass(frozen=True)
class MergeResult:
    source: Path
    cells: int
    """Cells copied from it."""
    present: int
    """Cells it has that the output already had."""


def _columns(db: sqlite3.Connection, table: str, schema: str = "main") -> list[str]:
    return [r[1] for r in db.execute(f"PRAGMA {schema}.table_info({table})")]


def merge(out: Path, inputs: list[Path]) -> list[MergeResult]:
    for src in inputs:
        if src.resolve() == out.resolve():
            raise UserError(f"{src}: is the output store; name each input once and the output apart")
        if not src.exists():
            raise UserError(f"{src}: no such results store")
        Store(src).close()  # a results store of a schema this harness reads (older ones are upgraded)
    results = []
    with Store(out) as store:
        db = store.db
        for src in inputs:
            db.execute("ATTACH DATABASE ? AS src", (str(src),))
            try:
                with db:
                    db.execute("BEGIN IMMEDIATE")
                    results.append(_merge_one(db, src))
            finally:
                db.execute("DETACH DATABASE src")
    return results


def _merge_one(db: sqlite3.Connection, src: Path) -> MergeResult:
    """One attached input into the output (rows are ``sqlite3.Row``: the Store's connection)."""
    running = db.execute("SELECT kernel_id, arch FROM src.cells WHERE status=?", (CellStatus.RUNNING.value,)).fetchone()
    if running:
        raise UserError(f"{src}: cell {running[0]}/{running[1]} is still running (or its run died): merge stores of "
                        f"finished runs")
    for c in db.execute("SELECT * FROM src.corpora"):
        mine = db.execute("SELECT * FROM corpora WHERE id=?", (c["id"],)).fetchone()
        if mine is not None and any(mine[k] != c[k] for k in _CORPUS_SAME):
            raise UserError(f"{src}: corpus {c['id']} differs from the one of that id in the output; not merged")
        other = db.execute("SELECT id, clang, source_version FROM corpora WHERE name=? AND arch=? AND id!=? AND id IN "
                           "(SELECT corpus_id FROM cells WHERE purpose='run')", (c["name"], c["arch"], c["id"])).fetchone()
        used = db.execute("SELECT 1 FROM src.cells WHERE corpus_id=? AND purpose='run'", (c["id"],)).fetchone()
        if other is not None and used is not None:
            raise UserError(f"{src}: corpus {c['name']} ({c['arch']}) was built as {c['id']} ({c['clang']}, "
                            f"{c['source_version']}) there and as {other['id']} ({other['clang']}, "
                            f"{other['source_version']}) in the output: their cells verified different objects; "
                            f"merge stores of the same matrix and toolchain")
    for table in ("corpora", "objects", "expectations"):
        cols = ", ".join(c for c in _columns(db, table) if c in _columns(db, table, "src"))
        db.execute(f"INSERT OR IGNORE INTO {table}({cols}) SELECT {cols} FROM src.{table}")
    runs: dict[int, int] = {}
    for r in db.execute("SELECT * FROM src.runs ORDER BY id").fetchall():
        same = db.execute("SELECT id FROM runs WHERE started=? AND argv IS ? AND matrix_sha256 IS ?",
                          (r["started"], r["argv"], r["matrix_sha256"])).fetchone()
        if same is None:
            cols = [c for c in r.keys() if c != "id"]
            cur = db.execute(f"INSERT INTO runs({', '.join(cols)}) VALUES({', '.join('?' * len(cols))})",
                             [r[c] for c in cols])
            runs[r["id"]] = int(cur.lastrowid)
        else:
            runs[r["id"]] = same[0]
    cells: dict[int, int] = {}
    copied = present = 0
    cols = [k for k in _columns(db, "cells", "src") if k != "id"]
    rcols = [k for k in _columns(db, "results", "src") if k != "cell_id"]
    where = " AND ".join(f"{k}=?" for k in _CELL_KEY)
    for c in db.execute("SELECT * FROM src.cells ORDER BY id").fetchall():
        same = db.execute(f"SELECT id FROM cells WHERE {where}", [c[k] for k in _CELL_KEY]).fetchone()
        if same is not None:
            cells[c["id"]] = same[0]
            present += 1
            continue
        values = [runs[c[k]] if k == "run_id" else (cells.get(c[k]) if k == "confirms" and c[k] is not None else c[k])
                  for k in cols]
        cur = db.execute(f"INSERT INTO cells({', '.join(cols)}) VALUES({', '.join('?' * len(cols))})", values)
        new = int(cur.lastrowid)
        cells[c["id"]] = new
        db.execute(f"INSERT INTO results(cell_id, {', '.join(rcols)}) SELECT ?, {', '.join(rcols)} FROM src.results "
                   f"WHERE cell_id=?", (new, c["id"]))
        db.execute("INSERT INTO findings SELECT ?, kind, line, lineno FROM src.findings WHERE cell_id=?", (new, c["id"]))
        copied += 1
    src_tables = {r[0] for r in db.execute("SELECT name FROM src.sqlite_master WHERE type='table'")}
    if {"nights", "night_findings"} <= src_tables:  # the history: earlier nights' findings, by portable snapshot
        for n in db.execute("SELECT * FROM src.nights ORDER BY id").fetchall():
            db.execute("INSERT OR IGNORE INTO nights(matrix, snapshot, at, complete) VALUES(?, ?, ?, ?)",
                       (n["matrix"], n["snapshot"], n["at"], n["complete"]))
            nid = db.execute("SELECT id FROM nights WHERE matrix=? AND snapshot=?", (n["matrix"], n["snapshot"])).fetchone()[0]
            db.execute("INSERT OR IGNORE INTO night_findings SELECT ?, key FROM src.night_findings WHERE night_id=?",
                       (nid, n["id"]))
    if "resolutions" in src_tables:  # kernels by rule: what each branch resolved to, whenever it changed
        db.execute("INSERT OR IGNORE INTO resolutions(matrix, branch, digest, at, doc) "
                   "SELECT matrix, branch, digest, at, doc FROM src.resolutions ORDER BY at")
    if "attributions" in src_tables:  # findings bisected to a commit: the newer answer wins
        db.execute("INSERT OR REPLACE INTO attributions SELECT * FROM src.attributions s WHERE NOT EXISTS (SELECT 1 FROM "
                   "attributions a WHERE a.branch=s.branch AND a.arch=s.arch AND a.base_key=s.base_key AND "
                   "a.new_key=s.new_key AND a.programs=s.programs AND a.at>=s.at)")
    return MergeResult(src, copied, present)
