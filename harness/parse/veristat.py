"""Parse veristat's verbose stream (``veristat -v -l 4``) into per-program records.

Pure and stdlib-only: the in-guest runner imports it.  In verbose mode veristat
prints, as each program finishes::

    libbpf: prog 'p': BPF program load failed: Permission denied     (stderr, before)
    PROCESSING dir/obj.bpf.o/p, DURATION US: 1097, VERDICT: failure, VERIFIER LOG:
    <verifier log>
    <blank line>

libbpf's messages for a program come *before* its PROCESSING line, so they are
held until the next header.  A block is complete when the next libbpf line,
header or the final CSV table arrives, or the stream ends.
"""

from __future__ import annotations

import re
from typing import Iterable, Iterator

HEADER = re.compile(r"^PROCESSING (?P<path>.+)/(?P<prog>[^/]+), DURATION US: (?P<dur>\d+), "
                    r"VERDICT: (?P<verdict>success|failure), VERIFIER LOG:$")
STATS = re.compile(r"^processed (?P<insns>\d+) insns \(limit \d+\) max_states_per_insn (?P<mspi>\d+) "
                   r"total_states (?P<states>\d+) peak_states (?P<peak>\d+) mark_read (?P<mark>\d+)")
CSV_HEADER = "file_name,prog_name,"
END_OF_LOG = re.compile(r"^(File\s+Program\s+Verdict\b|Processing '.+'\.\.\.$|Done\. Processed \d+ files?)")
"""In table output (veristat by hand, without ``-o csv``): the summary table, the line before each object,
and the closing count end the program before them, like the CSV header does."""
OPEN_FAILED = re.compile(r"^Failed to open '(?P<path>[^']+)': (?P<err>-?\d+)")
LOAD_FAILED = re.compile(r"^Failed to load program (?P<prog>\S+) (?P<err>-?\d+)$")
"""7.x veristat (``bpf_program__clone``) says this on stderr *before* the failed program's PROCESSING
block, where older ones let libbpf say ``libbpf: prog 'p': BPF program load failed``: it belongs to the
next program, never to the log of the one before."""
PREPARE_FAILED = re.compile(r"^Failed to prepare BPF object for loading (?P<err>-?\d+)$")
"""7.x veristat prepares each object once (``bpf_object__prepare()``: externs, maps, struct_ops, relocations)
and, when that fails, still loads each of its programs, unrelocated: what the kernel says of them is not its
answer for the program.  The line comes after libbpf's reasons and before the object's first program; every
program of that object carries both among its libbpf lines (:func:`unprepared`)."""
LOG_DUMP_BEGIN = re.compile(r"-- BEGIN (PROG|BTF) LOAD LOG --")
LOG_DUMP_END = re.compile(r"-- END (PROG|BTF) LOAD LOG --")
"""libbpf dumps a load log between these, its lines unprefixed (the BTF one when the kernel refuses an
object's BTF, at open: between two programs, so never part of the previous program's log)."""
MAX_LOG_LINES = 200


def _printable(line: str) -> bool:
    """Kernel verifier logs are printable text; anything else is a stale, uninitialised buffer."""
    return line.replace("\t", " ").isprintable()


def object_name(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    return base[: -len(".bpf.o")] if base.endswith(".bpf.o") else base


def unprepared(libbpf: Iterable[str]) -> bool:
    """Whether a program's object could not be prepared (:data:`PREPARE_FAILED`): its result is no verdict of the
    kernel's on the program."""
    return any(PREPARE_FAILED.match(line) for line in libbpf)


def stats_of(log: Iterable[str]) -> dict[str, int] | None:
    """insns/states figures from a verifier log's stats line, as veristat reads them."""
    for line in reversed(list(log)):
        m = STATS.match(line)
        if m:
            return {"insns": int(m["insns"]), "max_states_per_insn": int(m["mspi"]),
                    "states": int(m["states"]), "peak_states": int(m["peak"]), "mark_read": int(m["mark"])}
    return None


class Stream:
    """Incremental parser: :meth:`feed` lines, get finished program records back."""

    def __init__(self, max_log_lines: int | None = MAX_LOG_LINES) -> None:
        self.max_log_lines = max_log_lines
        """Keep this many last log lines per program (None: all, for message checks)."""
        self._libbpf: list[str] = []
        self._other: list[str] = []
        self._cur: dict | None = None
        self._in_dump: str | bool = False
        self._unprepared: list[str] = []
        """libbpf's reasons and the :data:`PREPARE_FAILED` line of the object being verified, if it failed."""
        self._unprepared_object: str | None = None
        self.open_failures: list[str] = []
        """``Failed to open`` lines, after libbpf's lines on why: veristat skipped an object it could not open."""

    def _finish(self) -> dict | None:
        cur, self._cur = self._cur, None
        if cur is None:
            return None
        log = cur["log"]
        while log and not log[-1].strip():
            log.pop()
        if self.max_log_lines is not None and len(log) > self.max_log_lines:
            cur["log"] = log[-self.max_log_lines:]
            cur["log_truncated"] = True
        cur.update(stats_of(log) or {})
        return cur

    def feed(self, line: str) -> dict | None:
        """Feed one line (without newline); returns a record when one completes."""
        line = line.rstrip("\r\n")
        if self._in_dump:
            if LOG_DUMP_END.search(line):
                self._in_dump = False
            if self._in_dump != "BTF":  # the object's BTF, type by type: nothing about a program
                self._libbpf.append(line)
            return None
        m = HEADER.match(line)
        if m:
            done = self._finish()
            obj = object_name(m["path"])
            if self._unprepared_object not in (None, obj):
                self._unprepared, self._unprepared_object = [], None  # the next object prepared fine
            elif self._unprepared:
                self._unprepared_object = obj
            self._cur = {"object": obj, "program": m["prog"], "verdict": m["verdict"],
                         "duration_us": int(m["dur"]), "log": [], "libbpf": self._unprepared + self._libbpf}
            self._libbpf = []
            return done
        if PREPARE_FAILED.match(line):
            done = self._finish()
            self._unprepared, self._unprepared_object = self._libbpf + [line], None
            self._libbpf = []
            return done
        if line.startswith("libbpf: ") or LOAD_FAILED.match(line):
            done = self._finish()
            self._libbpf.append(line.removeprefix("libbpf: "))
            if m := LOG_DUMP_BEGIN.search(line):
                self._in_dump = m.group(1)
            return done
        if line.startswith(CSV_HEADER) or END_OF_LOG.match(line):
            return self._finish()
        if self._cur is not None:
            if _printable(line):
                self._cur["log"].append(line)
            else:
                self._cur["log_garbage"] = True  # see ZEROED_HEAP in the guest runner
            return None
        if OPEN_FAILED.match(line):
            # libbpf's reasons come first; they belong to this object, not to the next one's first program
            self.open_failures += self._libbpf + [line]
            self._libbpf = []
        elif line.strip():
            self._other.append(line)
        return None

    def close(self) -> dict | None:
        """End of stream: the last block (if any) is complete."""
        return self._finish()

    @property
    def orphan_lines(self) -> list[str]:
        """libbpf and other lines that belong to no finished program (a crash or an open failure)."""
        return self._libbpf + self._other


def parse(lines: Iterable[str], max_log_lines: int | None = MAX_LOG_LINES) -> Iterator[dict]:
    s = Stream(max_log_lines)
    for line in lines:
        rec = s.feed(line)
        if rec is not None:
            yield rec
    rec = s.close()
    if rec is not None:
        yield rec
