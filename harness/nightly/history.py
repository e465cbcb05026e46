"""History: every night's findings per matrix, so a report says what is **new** since the last complete night,
what is **still present** (since when) and what is **gone**.

A night is a snapshot of the matrix's newest cells (each by its portable identity: kernel, arch, corpus, backend,
start time, so merged stores from CI jobs agree): writing a report of the same cells again is the same night, a
new cell makes a new one.  Stored in the results store (``nights``, ``night_findings``) and carried by
``bpf-harness merge``.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import time

from harness.matrix import Matrix


def key(p, f) -> str:
    """A finding's identity across nights: the pair (branch, kind, both kernels, arch), the program, the change."""
    return "|".join((p.branch, p.kind, p.base["kernel_id"], p.new["kernel_id"], p.new["arch"],
                     f"{f.object}/{f.program}", f.change.value))


@dataclasses.dataclass(frozen=True)
class History:
    night: int
    previous_at: float | None
    """When the last complete night before this one was recorded; None: this is the matrix's first."""
    new: frozenset[str]
    since: dict
    """key -> the time of the earliest night that had it (for findings still present)."""
    gone: tuple[str, ...]
    """Keys of the previous complete night's findings absent now."""

    def status(self, k: str) -> str:
        """``new``, ``since YYYY-MM-DD`` or ``first night`` (no earlier complete night to compare with)."""
        if self.previous_at is None:
            return "first night"
        if k in self.new:
            return "new"
        return f"since {day(self.since.get(k))}"


def day(t: float | None) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%d") if t else "?"


def snapshot(store, matrix: Matrix) -> tuple[str, bool]:
    parts, complete = [], True
    for c in matrix.cells():
        row = store.latest_cell(c.kernel.id, c.arch)
        if row is None:
            complete = False
            parts.append(f"{c.key}:none")
            continue
        complete = complete and row.complete
        parts.append("|".join(str(v) for v in (row.kernel_key, row.arch, row.corpus_id, row.backend, row.started)))
    return hashlib.sha256("\n".join(sorted(parts)).encode()).hexdigest()[:16], complete


def record(store, matrix: Matrix, pairs) -> History:
    """Record this night's findings (once per snapshot of the matrix's cells), then read them against the last
    complete night before it (:func:`read`).  Only what runs a night records it: ``bpf-harness run --report``,
    the pytest plugin, ``report --record-night``."""
    name = matrix.path.name
    snap, complete = snapshot(store, matrix)
    db = store.db
    if db.execute("SELECT id FROM nights WHERE matrix=? AND snapshot=?", (name, snap)).fetchone() is None:
        with db:
            db.execute("BEGIN IMMEDIATE")
            cur = db.execute("INSERT INTO nights(matrix, snapshot, at, complete) VALUES(?, ?, ?, ?)",
                             (name, snap, time.time(), int(complete)))
            db.executemany("INSERT OR IGNORE INTO night_findings VALUES(?, ?)",
                           [(int(cur.lastrowid), k) for k in sorted({key(p, f) for p in pairs for f in p.findings})])
    return read(store, matrix, pairs)


def read(store, matrix: Matrix, pairs) -> History:
    """This night's findings read against the last complete night before it, writing nothing: a report rendered
    twice, or from a copy of the store, says the same.  A snapshot never recorded reads as tonight (``night``
    0), after every recorded night."""
    name = matrix.path.name
    snap, _ = snapshot(store, matrix)
    keys = {key(p, f) for p in pairs for f in p.findings}
    db = store.db
    row = db.execute("SELECT id FROM nights WHERE matrix=? AND snapshot=?", (name, snap)).fetchone()
    night = int(row[0]) if row is not None else 0
    prev = db.execute("SELECT id, at FROM nights WHERE matrix=? AND complete=1 AND (id<? OR ?=0) "
                      "ORDER BY id DESC LIMIT 1", (name, night, night)).fetchone()
    if prev is None:
        return History(night, None, frozenset(keys), {}, ())
    before = {r[0] for r in db.execute("SELECT key FROM night_findings WHERE night_id=?", (prev[0],))}
    since = {}
    for k in keys & before:
        first = db.execute("SELECT MIN(n.at) FROM nights n JOIN night_findings f ON f.night_id = n.id "
                           "WHERE n.matrix=? AND f.key=?", (name, k)).fetchone()[0]
        since[k] = first
    return History(night, float(prev[1]), frozenset(keys - before), since, tuple(sorted(before - keys)))


def status_now(store, matrix_name: str, k: str) -> str:
    """A finding's history before tonight is recorded (pytest marks items while they run): ``new`` when the last
    complete night of the matrix did not have it, ``since DATE`` when it did, ``first night`` with none."""
    prev = store.db.execute("SELECT id FROM nights WHERE matrix=? AND complete=1 ORDER BY id DESC LIMIT 1",
                            (matrix_name,)).fetchone()
    if prev is None:
        return "first night"
    if store.db.execute("SELECT 1 FROM night_findings WHERE night_id=? AND key=?", (prev[0], k)).fetchone() is None:
        return "new"
    first = store.db.execute("SELECT MIN(n.at) FROM nights n JOIN night_findings f ON f.night_id = n.id "
                             "WHERE n.matrix=? AND f.key=?", (matrix_name, k)).fetchone()[0]
    return f"since {day(first)}"


def lead(h: History | None) -> list[str]:
    """The markdown/email opening: what is new since the last complete night, and what went (pure)."""
    if h is None:
        return []
    if h.previous_at is None:
        return ["**First night of this matrix in this store**: nothing to compare with yet; every finding below is "
                "recorded as tonight's.", ""]
    out = [f"## Since the last complete night ({day(h.previous_at)})", ""]
    out.append(f"**{len(h.new)} new**" + (":" if h.new else "."))
    out += [f"- {_words(k)}" for k in sorted(h.new)]
    out.append("")
    out.append(f"**{len(h.gone)} gone**" + (":" if h.gone else "."))
    out += [f"- {_words(k)}" for k in h.gone]
    out.append("")
    still = len(h.since)
    if still:
        out += [f"{still} finding(s) still present (each says since when).", ""]
    return out


def _words(k: str) -> str:
    branch, kind, base, new, arch, prog, change = k.split("|")
    return f"`{prog}` {change}: {base} -> {new} ({arch}, {branch}{', vs reference' if kind == 'reference' else ''})"
