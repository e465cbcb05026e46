"""The results store: SQLite (stdlib), WAL, one commit per result as it arrives.

A ``kill -9`` of the harness loses nothing already written.  A cell counts as
done for a (kernel build, arch, corpus, backend) only once it is ``complete``;
a re-run skips those unless forced.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import signal
import socket
import sqlite3
import time
from harness.arch import PRIMARY
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

if TYPE_CHECKING:
    from harness.expect import Expectation

SCHEMA_VERSION = 11

MIGRATIONS = {
    4: [  # __msg checks per result; confirmation cells
        "ALTER TABLE results ADD COLUMN msg_check TEXT",
        "ALTER TABLE results ADD COLUMN msg_detail TEXT",
        "ALTER TABLE results ADD COLUMN msg_log_level INTEGER",
        "ALTER TABLE cells ADD COLUMN purpose TEXT NOT NULL DEFAULT 'run'",
        "ALTER TABLE cells ADD COLUMN confirms INTEGER REFERENCES cells(id)",
    ],
    5: [  # 7.x selftest tags: __not_msg, what veristat cannot check, tests the selftests would not load here
        "ALTER TABLE expectations ADD COLUMN not_messages TEXT",
        "ALTER TABLE expectations ADD COLUMN unchecked TEXT",
        "ALTER TABLE expectations ADD COLUMN skip TEXT",
    ],
    6: [  # cells on remote hosts: where each ran
        "ALTER TABLE cells ADD COLUMN host TEXT",
    ],
    7: [  # logs cells: programs re-verified for their whole log at this verifier log level
        "ALTER TABLE cells ADD COLUMN log_level INTEGER",
    ],
    8: [  # history: each night's findings per matrix (harness/nightly/history.py)
        "CREATE TABLE IF NOT EXISTS nights(id INTEGER PRIMARY KEY, matrix TEXT NOT NULL, snapshot TEXT NOT NULL, "
        "at REAL NOT NULL, complete INTEGER NOT NULL, UNIQUE(matrix, snapshot))",
        "CREATE TABLE IF NOT EXISTS night_findings(night_id INTEGER NOT NULL REFERENCES nights(id), key TEXT NOT NULL, "
        "PRIMARY KEY(night_id, key))",
    ],
    9: [  # kernels by rule: what each branch's rule resolved to, when it changed (harness/stream)
        "CREATE TABLE IF NOT EXISTS resolutions(id INTEGER PRIMARY KEY, matrix TEXT NOT NULL, branch TEXT NOT NULL, "
        "digest TEXT NOT NULL, at REAL NOT NULL, doc TEXT NOT NULL, UNIQUE(matrix, branch, at))",
    ],
    10: [  # findings between releases bisected to a commit after a run (harness/attribute)
        "CREATE TABLE IF NOT EXISTS attributions(branch TEXT NOT NULL, arch TEXT NOT NULL, base_key TEXT NOT NULL, "
        "new_key TEXT NOT NULL, programs TEXT NOT NULL, doc TEXT NOT NULL, at REAL NOT NULL, "
        "PRIMARY KEY(branch, arch, base_key, new_key, programs))",
    ],
}
"""Statements that bring a store of schema N to N+1, kept so old stores stay readable."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs(
    id INTEGER PRIMARY KEY, started REAL NOT NULL, finished REAL, matrix TEXT, matrix_sha256 TEXT,
    argv TEXT, host TEXT, owner TEXT, status TEXT NOT NULL DEFAULT 'running');
CREATE TABLE IF NOT EXISTS corpora(
    id TEXT PRIMARY KEY, name TEXT, arch TEXT NOT NULL, source_package TEXT, source_version TEXT,
    clang TEXT NOT NULL, veristat_sha256 TEXT NOT NULL, build_dir TEXT, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS objects(
    corpus_id TEXT NOT NULL REFERENCES corpora(id), name TEXT NOT NULL, sha256 TEXT, status TEXT NOT NULL,
    error TEXT, programs INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(corpus_id, name));
CREATE TABLE IF NOT EXISTS expectations(
    corpus_id TEXT NOT NULL REFERENCES corpora(id), object TEXT NOT NULL, program TEXT NOT NULL,
    expect TEXT, messages TEXT, regexes TEXT, log_level INTEGER, flags TEXT, arches TEXT, description TEXT,
    auxiliary INTEGER NOT NULL DEFAULT 0, not_messages TEXT, unchecked TEXT, skip TEXT,
    PRIMARY KEY(corpus_id, object, program));
CREATE TABLE IF NOT EXISTS cells(
    id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id), branch TEXT, kernel_id TEXT NOT NULL,
    kernel_key TEXT NOT NULL, release TEXT, kernel_source TEXT, package TEXT, package_version TEXT,
    arch TEXT NOT NULL, backend TEXT NOT NULL, accel TEXT, accel_reason TEXT, qemu TEXT, vng TEXT,
    corpus_id TEXT NOT NULL REFERENCES corpora(id), clang TEXT, status TEXT NOT NULL, detail TEXT,
    started REAL NOT NULL, finished REAL, boot_s REAL, seconds REAL, programs_total INTEGER,
    console_log TEXT, reproducer TEXT, pgid INTEGER, image TEXT, veristat TEXT,
    purpose TEXT NOT NULL DEFAULT 'run', confirms INTEGER REFERENCES cells(id), host TEXT,
    log_level INTEGER);
CREATE INDEX IF NOT EXISTS cells_key ON cells(kernel_key, arch, corpus_id, backend, status);
CREATE TABLE IF NOT EXISTS findings(
    cell_id INTEGER NOT NULL REFERENCES cells(id), kind TEXT NOT NULL, line TEXT, lineno INTEGER);
CREATE TABLE IF NOT EXISTS nights(
    id INTEGER PRIMARY KEY, matrix TEXT NOT NULL, snapshot TEXT NOT NULL, at REAL NOT NULL, complete INTEGER NOT NULL,
    UNIQUE(matrix, snapshot));
CREATE TABLE IF NOT EXISTS night_findings(
    night_id INTEGER NOT NULL REFERENCES nights(id), key TEXT NOT NULL, PRIMARY KEY(night_id, key));
CREATE TABLE IF NOT EXISTS resolutions(
    id INTEGER PRIMARY KEY, matrix TEXT NOT NULL, branch TEXT NOT NULL, digest TEXT NOT NULL, at REAL NOT NULL,
    doc TEXT NOT NULL, UNIQUE(matrix, branch, at));
CREATE TABLE IF NOT EXISTS attributions(
    branch TEXT NOT NULL, arch TEXT NOT NULL, base_key TEXT NOT NULL, new_key TEXT NOT NULL, programs TEXT NOT NULL,
    doc TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY(branch, arch, base_key, new_key, programs));
CREATE TABLE IF NOT EXISTS results(
    cell_id INTEGER NOT NULL REFERENCES cells(id), object TEXT NOT NULL, program TEXT NOT NULL,
    verdict TEXT NOT NULL, failure_class TEXT, load_reason TEXT, error TEXT, log TEXT, libbpf TEXT,
    tail TEXT, tail_log_level INTEGER, insns INTEGER, states INTEGER, peak_states INTEGER,
    max_states_per_insn INTEGER, mark_read INTEGER, duration_us INTEGER, wall_s REAL,
    msg_check TEXT, msg_detail TEXT, msg_log_level INTEGER,
    PRIMARY KEY(cell_id, object, program));
"""


class Verdict(enum.Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    TIMEOUT = "timeout"
    """Exceeded the per-program timeout."""
    CRASH = "crash"
    """veristat died while verifying it."""
    NOT_RUN = "not-run"
    """The cell ended (timeout, guest death) before the program ran."""


class CellStatus(enum.Enum):
    RUNNING = "running"
    """Still running, or the harness was killed while it ran."""
    INTERRUPTED = "interrupted"
    """The harness died while the cell ran; a later run found it and reaped its VM."""
    COMPLETE = "complete"
    TIMEOUT = "timeout"
    BOOT_TIMEOUT = "boot-timeout"
    BOOT_FAILED = "boot-failed"
    GUEST_DIED = "guest-died"
    PANIC = "panic"
    HUNG = "hung"
    """The guest stopped producing results (a lockup, a stall) and could not be resumed."""
    RUNNER_CRASHED = "runner-crashed"
    """The harness's own in-guest runner failed (its traceback is on the console): a harness bug."""
    INFRA = "infra-error"

    @property
    def ok(self) -> bool:
        return self is CellStatus.COMPLETE


@dataclasses.dataclass(frozen=True)
class CellRecord:
    """One row of the ``cells`` table, as every reader gets it (:meth:`Store.latest_cell` and friends).  The
    reports' JSON and HTML views take :meth:`to_dict`."""
    id: int
    run_id: int
    branch: str | None
    kernel_id: str
    kernel_key: str
    release: str | None
    kernel_source: str | None
    package: str | None
    package_version: str | None
    arch: str
    backend: str
    """A :mod:`harness.backends` name (``vm``, ``uml``)."""
    accel: str | None
    accel_reason: str | None
    qemu: str | None
    vng: str | None
    corpus_id: str
    clang: str | None
    status: str
    """A :class:`CellStatus` value."""
    detail: str | None
    started: float
    finished: float | None
    boot_s: float | None
    seconds: float | None
    programs_total: int | None
    console_log: str | None
    reproducer: str | None
    pgid: int | None
    image: str | None
    veristat: str | None
    purpose: str = "run"
    """``run``, ``select`` (a pytest selection), ``confirm`` or ``logs`` (re-verifications of cell ``confirms``)."""
    confirms: int | None = None
    host: str | None = None
    """``NAME (user@address:port)`` of the matrix host it ran on; None: this machine."""
    log_level: int | None = None

    @property
    def key(self) -> str:
        return f"{self.kernel_id}/{self.arch}"

    @property
    def complete(self) -> bool:
        return self.status == CellStatus.COMPLETE.value

    @classmethod
    def of(cls, row: "sqlite3.Row | dict | None") -> "CellRecord | None":
        if row is None:
            return None
        d = dict(row)
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ResultRow:
    object: str
    program: str
    verdict: Verdict
    failure_class: str | None = None
    load_reason: str | None = None
    error: str | None = None
    log: tuple[str, ...] = ()
    libbpf: tuple[str, ...] = ()
    insns: int | None = None
    states: int | None = None
    peak_states: int | None = None
    max_states_per_insn: int | None = None
    mark_read: int | None = None
    duration_us: int | None = None
    wall_s: float | None = None


class Store:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=60, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        try:
            self._open()
        except BaseException as e:
            self.db.close()
            if not isinstance(e, sqlite3.DatabaseError):
                raise
            from harness.errors import UserError
            raise UserError(f"{self.path}: not a bpf-harness results store ({e}); pass the results.db a run "
                            f"wrote with --db, or a new path") from None

    def _open(self) -> None:
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "meta" not in tables:  # somebody else's database: never write into it
            from harness.errors import UserError
            raise UserError(f"{self.path}: an SQLite database, but not a bpf-harness results store (tables: "
                            f"{', '.join(sorted(tables)[:5])}); pass the results.db a run wrote with --db, or a new path")
        self.db.execute("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        have = self.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if have is None:
            self.db.executescript(SCHEMA)
            self.db.execute("INSERT OR IGNORE INTO meta VALUES('schema', ?)", (str(SCHEMA_VERSION),))
        else:
            self._migrate(int(have[0]))

    def _migrate(self, version: int) -> None:
        if version > SCHEMA_VERSION or (version < SCHEMA_VERSION and version not in MIGRATIONS):
            from harness.errors import UserError
            raise UserError(f"{self.path}: results store schema {version} cannot be read by this harness "
                            f"(schema {SCHEMA_VERSION}); use a new --db or a matching bpf-harness")
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            current = int(self.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0])
            while current < SCHEMA_VERSION:
                for stmt in MIGRATIONS[current]:
                    self.db.execute(stmt)
                current += 1
            self.db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(current),))

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    # --- runs ---------------------------------------------------------------------------
    def start_run(self, matrix: str, matrix_sha256: str, argv: list[str]) -> int:
        cur = self.db.execute(
            "INSERT INTO runs(started, matrix, matrix_sha256, argv, host, owner) VALUES(?,?,?,?,?,?)",
            (time.time(), matrix, matrix_sha256, json.dumps(argv), socket.gethostname(), _identity(os.getpid())))
        return int(cur.lastrowid)

    def finish_run(self, run_id: int, status: str) -> None:
        self.db.execute("UPDATE runs SET finished=?, status=? WHERE id=?", (time.time(), status, run_id))

    # --- kernels by rule -----------------------------------------------------------------
    def add_resolution(self, matrix: str, branch: str, digest: str, at: float, doc: str) -> bool:
        """Record a branch's resolution unless the newest one recorded is the same; True if recorded."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            last = self.db.execute("SELECT digest FROM resolutions WHERE matrix=? AND branch=? ORDER BY at DESC "
                                   "LIMIT 1", (matrix, branch)).fetchone()
            if last is not None and last[0] == digest:
                return False
            self.db.execute("INSERT OR IGNORE INTO resolutions(matrix, branch, digest, at, doc) VALUES(?,?,?,?,?)",
                            (matrix, branch, digest, at, doc))
            return True

    def resolutions(self, matrix: str, branch: str) -> list[sqlite3.Row]:
        """A branch's recorded resolutions, newest first (digest, at, doc)."""
        return self.db.execute("SELECT digest, at, doc FROM resolutions WHERE matrix=? AND branch=? ORDER BY at DESC",
                               (matrix, branch)).fetchall()

    def add_attribution(self, branch: str, arch: str, base_key: str, new_key: str, programs: str, doc: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO attributions VALUES(?,?,?,?,?,?,?)",
                        (branch, arch, base_key, new_key, programs, doc, time.time()))

    def attributions(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM attributions ORDER BY at").fetchall()

    def had_cell(self, branch: str, kernel_id: str, before: float) -> bool:
        """Whether a run of this store verified kernel ``kernel_id`` of ``branch`` before time ``before``."""
        return self.db.execute("SELECT 1 FROM cells WHERE branch=? AND kernel_id=? AND purpose='run' AND started<? "
                               "LIMIT 1", (branch, kernel_id, before)).fetchone() is not None

    # --- corpora ------------------------------------------------------------------------
    def add_corpus(self, corpus) -> None:
        """Record a corpus and its objects (idempotent: the id is a content hash)."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute(
                "INSERT OR IGNORE INTO corpora VALUES(?,?,?,?,?,?,?,?,?)",
                (corpus.id, corpus.name, corpus.arch, corpus.source_package, corpus.source_version,
                 corpus.clang, corpus.veristat_sha256, str(corpus.build_dir), time.time()))
            for o in corpus.objects:
                self.db.execute("INSERT OR IGNORE INTO objects VALUES(?,?,?,?,?,?)",
                                (corpus.id, o.name, o.sha256, "built", None, len(o.programs)))
            for o in corpus.objects:
                for prog, e in o.expectations:
                    # the newest parser's reading wins (expectations are a function of the object's bytes)
                    self.db.execute("INSERT OR REPLACE INTO expectations(corpus_id, object, program, expect, messages, "
                                    "regexes, log_level, flags, arches, description, auxiliary, not_messages, unchecked, "
                                    "skip) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                                    (corpus.id, o.name, prog, e.expect, json.dumps(e.messages), json.dumps(e.regexes),
                                     e.log_level, json.dumps(e.flags), json.dumps(e.arches), e.description,
                                     int(e.auxiliary), json.dumps(e.not_messages), json.dumps(e.unchecked), e.skip))
            for name, error in corpus.failed:
                self.db.execute("INSERT OR IGNORE INTO objects VALUES(?,?,?,?,?,?)",
                                (corpus.id, name, None, "failed", error, 0))

    # --- cells --------------------------------------------------------------------------
    def complete_cell(self, kernel_key: str, arch: str, corpus_id: str, backend: str) -> int | None:
        row = self.db.execute(
            "SELECT id FROM cells WHERE kernel_key=? AND arch=? AND corpus_id=? AND backend=? AND status=? "
            "AND purpose='run' ORDER BY id DESC LIMIT 1", (kernel_key, arch, corpus_id, backend, CellStatus.COMPLETE.value)).fetchone()
        return int(row[0]) if row else None

    def reap_interrupted(self) -> list[str]:
        """Cells left ``running`` by a harness that no longer lives: mark them interrupted, kill their VMs."""
        reaped = []
        rows = self.db.execute(
            "SELECT cells.id, kernel_id, arch, pgid, runs.owner FROM cells JOIN runs ON runs.id = cells.run_id "
            "WHERE cells.status=?", (CellStatus.RUNNING.value,)).fetchall()
        for row in rows:
            if row["owner"] and _alive(row["owner"]):
                continue
            if row["pgid"]:
                try:
                    os.killpg(row["pgid"], signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            self.update_cell(row["id"], status=CellStatus.INTERRUPTED.value,
                             detail="the harness died while the cell ran", finished=time.time())
            reaped.append(f"{row['kernel_id']}/{row['arch']}")
        return reaped

    def start_cell(self, **fields) -> int:
        fields = {**fields, "status": CellStatus.RUNNING.value, "started": time.time()}
        cols = ", ".join(fields)
        cur = self.db.execute(f"INSERT INTO cells({cols}) VALUES({', '.join('?' * len(fields))})",
                              tuple(fields.values()))
        return int(cur.lastrowid)

    def update_cell(self, cell_id: int, **fields) -> None:
        sets = ", ".join(f"{k}=?" for k in fields)
        self.db.execute(f"UPDATE cells SET {sets} WHERE id=?", (*fields.values(), cell_id))

    def finish_cell(self, cell_id: int, status: CellStatus, detail: str, **fields) -> None:
        self.update_cell(cell_id, status=status.value, detail=detail, finished=time.time(), **fields)

    def add_findings(self, cell_id: int, findings: Iterable[tuple[str, str, int]]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT INTO findings VALUES(?,?,?,?)", [(cell_id, *f) for f in findings])

    # --- results ------------------------------------------------------------------------
    def add_result(self, cell_id: int, r: ResultRow) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO results(cell_id, object, program, verdict, failure_class, load_reason, error, "
            "log, libbpf, insns, states, peak_states, max_states_per_insn, mark_read, duration_us, wall_s) "
            "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (cell_id, r.object, r.program, r.verdict.value, r.failure_class, r.load_reason, r.error,
             "\n".join(r.log), "\n".join(r.libbpf), r.insns, r.states, r.peak_states, r.max_states_per_insn,
             r.mark_read, r.duration_us, r.wall_s))

    def add_tail(self, cell_id: int, obj: str, program: str, tail: list[str], level: int) -> None:
        self.db.execute("UPDATE results SET tail=?, tail_log_level=? WHERE cell_id=? AND object=? AND program=?",
                        ("\n".join(tail), level, cell_id, obj, program))

    def set_msg_check(self, cell_id: int, obj: str, program: str, check: str, detail: str | None,
                      level: int | None, only_if_unset: bool = False) -> None:
        self.db.execute("UPDATE results SET msg_check=?, msg_detail=?, msg_log_level=? WHERE cell_id=? AND object=? "
                        "AND program=?" + (" AND msg_check IS NULL" if only_if_unset else ""),
                        (check, detail, level, cell_id, obj, program))

    def confirmations(self, cell_id: int) -> dict[tuple[str, str], dict]:
        """Re-run results for a cell's programs (newest confirmation cell wins per program)."""
        rows = self.db.execute(
            "SELECT r.*, c.status AS cell_status FROM results r JOIN cells c ON c.id = r.cell_id "
            "WHERE c.confirms=? AND c.purpose='confirm' ORDER BY c.id", (cell_id,)).fetchall()
        return {(r["object"], r["program"]): dict(r) for r in rows}

    def logs(self, cell_id: int, level: int) -> dict[tuple[str, str], str]:
        """Whole verifier logs of a cell's programs from its ``logs`` re-runs at ``level`` or more (newest
        complete re-run wins per program)."""
        rows = self.db.execute(
            "SELECT r.object, r.program, r.log FROM results r JOIN cells c ON c.id = r.cell_id "
            "WHERE c.confirms=? AND c.purpose='logs' AND c.log_level>=? AND c.status=? AND r.verdict!='not-run' "
            "ORDER BY c.id", (cell_id, level, CellStatus.COMPLETE.value)).fetchall()
        return {(r[0], r[1]): r[2] for r in rows}

    def done_programs(self, cell_id: int) -> set[tuple[str, str]]:
        return {(r[0], r[1]) for r in self.db.execute("SELECT object, program FROM results WHERE cell_id=?", (cell_id,))}

    # --- reading ------------------------------------------------------------------------
    def latest_cells(self, keys: tuple[str, ...] = ()) -> list[CellRecord]:
        """Newest cell per (kernel, arch, corpus, backend), optionally only ``KERNEL/ARCH`` or ``KERNEL`` keys."""
        rows = [CellRecord.of(r) for r in self.db.execute(
            "SELECT * FROM cells WHERE id IN (SELECT MAX(id) FROM cells WHERE purpose='run' "
            "GROUP BY kernel_key, arch, corpus_id, backend) "
            "ORDER BY branch, id").fetchall()]
        if keys:
            rows = [r for r in rows if r.key in keys or r.kernel_id in keys]  # type: ignore[union-attr]
        return rows  # type: ignore[return-value]

    def latest_cell(self, kernel_id: str, arch: str, purpose: str = "run") -> CellRecord | None:
        """The newest cell (complete or not) of a kernel on an arch (``purpose``: another kind of cell, e.g. a
        pytest ``select`` cell)."""
        return CellRecord.of(self.db.execute("SELECT * FROM cells WHERE kernel_id=? AND arch=? AND purpose=? "
                                             "ORDER BY id DESC LIMIT 1", (kernel_id, arch, purpose)).fetchone())

    def find_cell(self, selector: str) -> CellRecord:
        """The newest cell for ``KERNEL`` or ``KERNEL/ARCH`` (x86_64 if no arch), or a NotFoundError."""
        kernel, _, arch = selector.partition("/")
        row = self.latest_cell(kernel, arch or PRIMARY.name)
        if row is None:
            from harness.errors import NotFoundError
            known = sorted({f"{r[0]}/{r[1]}" for r in self.db.execute("SELECT kernel_id, arch FROM cells")})
            raise NotFoundError(f"{self.path}: no cell {selector!r}; cells: {', '.join(known) or 'none'}")
        return row

    def expectation(self, row) -> "Expectation | None":
        from harness.expect import Expectation
        if row["expect"] is None:
            return None
        keys = row.keys()
        extra = {k: row[k] for k in ("not_messages", "unchecked", "skip") if k in keys}
        return Expectation(row["expect"], tuple(json.loads(row["messages"])), tuple(json.loads(row["regexes"])),
                           row["log_level"], tuple(json.loads(row["flags"])), tuple(json.loads(row["arches"])),
                           row["description"], bool(row["auxiliary"]),
                           tuple((int(i), m) for i, m in json.loads(extra.get("not_messages") or "[]")),
                           tuple(json.loads(extra.get("unchecked") or "[]")), extra.get("skip"))

    def result_map(self, cell_id: int) -> dict[tuple[str, str], dict]:
        """Results of a cell, each with its expectation and outcome (as-expected / unexpected / n/a)."""
        from harness.expect import outcome
        rows = self.db.execute(
            "SELECT r.*, c.arch AS arch, e.expect, e.messages, e.regexes, e.log_level, e.flags, e.arches, "
            "e.description, COALESCE(e.auxiliary, 0) AS auxiliary, e.not_messages, e.unchecked, e.skip "
            "FROM results r JOIN cells c ON c.id = r.cell_id "
            "LEFT JOIN expectations e ON e.corpus_id = c.corpus_id AND e.object = r.object AND e.program = r.program "
            "WHERE r.cell_id=?", (cell_id,)).fetchall()
        out = {}
        for r in rows:
            d = dict(r)
            d["outcome"] = outcome(self.expectation(r), r["verdict"], r["failure_class"], r["arch"],
                                   r["msg_check"]).value
            out[(r["object"], r["program"])] = d
        return out

    def object_hashes(self, corpus_id: str) -> dict[str, str | None]:
        return {r[0]: r[1] for r in self.db.execute("SELECT name, sha256 FROM objects WHERE corpus_id=?", (corpus_id,))}

    def verdict_counts(self, cell_id: int) -> dict[str, int]:
        counts: dict[str, int] = {}
        for verdict, cls, n in self.db.execute(
                "SELECT verdict, failure_class, COUNT(*) FROM results WHERE cell_id=? GROUP BY verdict, failure_class",
                (cell_id,)):
            key = f"{verdict}:{cls}" if cls else verdict
            counts[key] = counts.get(key, 0) + n
        return counts

    def results(self, cell_id: int) -> Iterator[sqlite3.Row]:
        yield from self.db.execute("SELECT * FROM results WHERE cell_id=? ORDER BY object, program", (cell_id,))

    def findings(self, cell_id: int) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM findings WHERE cell_id=? ORDER BY lineno", (cell_id,)).fetchall()


def _identity(pid: int) -> str | None:
    """``pid:starttime`` of a live process (start time guards against pid reuse)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return f"{pid}:{stat.rsplit(')', 1)[1].split()[19]}"


def _alive(owner: str) -> bool:
    pid = int(owner.split(":", 1)[0])
    return _identity(pid) == owner


def default_db() -> Path:
    return Path(os.environ.get("BPF_HARNESS_DB", "bpf-harness-out/results.db"))
