"""Where two kernels' verifiers parted ways on one program: its two logs side by side (pure).

Both logs are read as the walk each verifier took (``parse.verifier_steps``) and aligned by
instruction (index and text, difflib over the two walks).  The first divergence is the first aligned
instruction after which a register or stack slot both kernels print has different values (compared
without liveness marks, addresses and ids), or the first instruction only one of them processed (the paths parted: a branch one kernel could
prune or rule out), or the end of the walk that stopped (a rejection, or pruning).
"""

from __future__ import annotations

import dataclasses
import difflib
import html
import itertools
from typing import Sequence

from harness.parse.verifier_steps import Step, slots, steps

Row = tuple[Step | None, Step | None]


@dataclasses.dataclass(frozen=True)
class Divergence:
    kind: str
    """``state``, ``path``, ``end`` or ``none`` (the walks agree)."""
    row: int | None
    """Index into ``rows`` of the first divergence."""
    idx: int | None
    """The instruction index there."""
    what: str
    """One line saying it."""


@dataclasses.dataclass(frozen=True)
class LogDiff:
    a_name: str
    b_name: str
    rows: tuple[Row, ...]
    divergence: Divergence


def align(a: Sequence[Step], b: Sequence[Step]) -> list[Row]:
    """The two walks side by side: matched instructions in one row, the others alone."""
    rows: list[Row] = []
    sm = difflib.SequenceMatcher(None, [s.key for s in a], [s.key for s in b], autojunk=False)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            rows.extend(zip(a[i1:i2], b[j1:j2], strict=True))
        else:
            rows.extend((a[i1 + k] if i1 + k < i2 else None, b[j1 + k] if j1 + k < j2 else None)
                        for k in range(max(i2 - i1, j2 - j1)))
    return rows


def _insn(s: Step) -> str:
    return f"{s.idx}: {s.insn}"


def first_divergence(rows: Sequence[Row], a_name: str, b_name: str) -> Divergence:
    for n, (x, y) in enumerate(rows):
        if x is not None and y is not None and x.key == y.key:
            sx, sy = slots(x.state), slots(y.state)
            differ = [r for r in sx if r in sy and sx[r] != sy[r]]
            if differ:
                return Divergence("state", n, x.idx, f"after {_insn(x)}: {differ[0]} is {sx[differ[0]]} on {a_name}, "
                                                     f"{sy[differ[0]]} on {b_name}")
            continue
        if x is not None and y is not None:
            return Divergence("path", n, x.idx, f"the paths part: {a_name} goes on at {_insn(x)}"
                                                f"{' (' + x.branch + ')' if x.branch else ''}, {b_name} at {_insn(y)}"
                                                f"{' (' + y.branch + ')' if y.branch else ''}")
        only, name, other = (x, a_name, b_name) if x is not None else (y, b_name, a_name)
        assert only is not None
        prev = next((r for r in reversed(rows[:n]) if r[0] is not None and r[1] is not None), None)
        ended = all((r[1] if x is not None else r[0]) is None for r in rows[n:])
        if ended and prev is not None:
            last = prev[1] if x is not None else prev[0]
            assert last is not None
            why = f": {last.notes[-1]}" if last.notes else ""
            return Divergence("end", n, only.idx, f"{other} stops after {_insn(last)}{why}; {name} goes on at "
                                                  f"{_insn(only)}")
        return Divergence("path", n, only.idx, f"only {name} processes {_insn(only)}"
                                               f"{' (' + only.branch + ')' if only.branch else ''}")
    return Divergence("none", None, None, "the two walks are the same instruction by instruction")


def diff_logs(a_log: str, b_log: str, a_name: str, b_name: str) -> LogDiff:
    rows = align(steps(a_log.splitlines()), steps(b_log.splitlines()))
    return LogDiff(a_name, b_name, tuple(rows), first_divergence(rows, a_name, b_name))


def _window(d: LogDiff, context: int) -> range:
    at = d.divergence.row if d.divergence.row is not None else 0
    return range(max(0, at - context), min(len(d.rows), at + context + 1))


def render_text(d: LogDiff, context: int = 4, width: int = 60) -> str:
    """The rows around the first divergence, ``>>`` on it, each side's state after the instruction."""
    out = [f"first divergence ({d.divergence.kind}): {d.divergence.what}",
           f"   {'insn':<34} {d.a_name:<{width}} {d.b_name}"]
    for n in _window(d, context):
        x, y = d.rows[n]
        insn = _insn(x or y)  # type: ignore[arg-type]
        mark = ">>" if n == d.divergence.row else "  "
        a = "-" if x is None else (x.state or "")
        b = "-" if y is None else (y.state or "")
        out.append(f"{mark} {insn[:34]:<34} {a[:width]:<{width}} {b[:width]}")
        for note in itertools.chain(x.notes if x else (), y.notes if y else ()):
            out.append(f"   {'':<34} {note[:2 * width]}")
    return "\n".join(out)


def render_html(d: LogDiff, anchor: str, context: int = 12) -> str:
    """A table of the rows around the first divergence (highlighted, ``id=anchor``), both states shown."""
    e = html.escape
    head = (f'<p class="why">First divergence (<b>{e(d.divergence.kind)}</b>): {e(d.divergence.what)}</p>'
            f'<table class="logdiff"><thead><tr><th>insn</th><th>{e(d.a_name)}</th><th>{e(d.b_name)}</th></tr>'
            f'</thead><tbody>')
    body = []
    for n in _window(d, context):
        x, y = d.rows[n]
        cls = ' class="diverge"' if n == d.divergence.row else ""
        rid = f' id="{e(anchor)}"' if n == d.divergence.row else ""
        cells = []
        for s in (x, y):
            if s is None:
                cells.append('<td class="absent">not processed</td>')
            else:
                extra = "".join(f"<br><span class=\"note\">{e(t)}</span>" for t in s.notes)
                before = f'<span class="before">at: {e(s.before)}</span><br>' if s.before else ""
                cells.append(f"<td>{before}{e(s.state)}{extra}</td>")
        body.append(f"<tr{cls}{rid} data-idx=\"{(x or y).idx}\"><td><code>{e(_insn(x or y))}</code></td>"  # type: ignore[union-attr]
                    f"{''.join(cells)}</tr>")
    return head + "".join(body) + "</tbody></table>"
