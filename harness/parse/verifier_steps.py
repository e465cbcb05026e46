"""A verifier log as the walk the verifier took: one step per instruction it processed (pure).

The kernel prints, at log level 1 (rejected programs) and 2 (every program):

* ``N: (op) insn`` or ``N: (op) insn    ; state`` -- instruction N processed; at level 2 (and
  level 1 since 6.x) the registers and stack slots it wrote, after the ``;``;
* ``N: R1=ctx() R10=fp0`` -- the whole state at N (path start, branch targets, prune points);
* ``from A to B: state`` -- the verifier pops a saved branch and goes on at B;
* ``N: safe`` -- this path is pruned at N (equivalent to a state already verified);
* ``; source @ file.c:L``, ``mark_precise: ...`` -- the source line, precision backtracking;
* anything else: messages (the error line of a rejection among them), stats.

``steps`` keeps the instruction lines with their state and, as context, the source line and the
messages that followed them, up to the stats line.  ``slots`` is what two kernels' states are
compared by, register by register: liveness marks (``R1_w``), kernel addresses and id numbers are
printing or allocation order, not what the verifier knows about a value, and which registers a
kernel prints after an instruction changed between releases.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Iterable

INSN = re.compile(r"^(\d+): (\([0-9a-f]{2}\) .*?)(?:\s+; (.*))?$")
STATE_AT = re.compile(r"^(\d+):( frame\d+:)? ((?:R\d+|fp-?\d+)\S*=.*)$")
BRANCH = re.compile(r"^from (\d+) to (\d+):(.*)$")
SAFE = re.compile(r"^(\d+): safe$")
SOURCE = re.compile(r"^; (.*)$")

_LIVENESS = re.compile(r"\b(R\d+|fp-?\d+)_[rwD]+=")
_SLOT = re.compile(r"(?:^|\s)((?:R\d+|fp-?\d+)(?:_[rwD]+)?)=")
END = re.compile(r"^(verification time \d+ usec|processed \d+ insns)")
"""The stats after the walk: what follows is not the verifier's (veristat's table, 7.x's explanation)."""
_ADDR = re.compile(r"\b0x[0-9a-f]{12,16}\b")
_IDS = re.compile(r"\b(ref_obj_id|id)=\d+,?")


@dataclasses.dataclass(frozen=True)
class Step:
    idx: int
    """Instruction index."""
    insn: str
    """``(op) text`` as printed."""
    state: str
    """What the verifier knew after it: the registers and slots it wrote (the ``;`` part), or ''."""
    line: int
    """0-based line of the log it came from."""
    branch: str = ""
    """``from A to B`` when this step starts a popped branch."""
    source: str = ""
    notes: tuple[str, ...] = ()
    """Messages printed after the instruction (the rejection's error line is one)."""
    before: str = ""
    """The whole state printed at the instruction before it ran (path start, branch target), or ''."""

    @property
    def key(self) -> tuple[int, str]:
        return self.idx, norm_insn(self.insn)


def norm_insn(insn: str) -> str:
    """An instruction as compared across kernels: map addresses differ between boots."""
    return _ADDR.sub("0x…", " ".join(insn.split()))


def norm_state(state: str) -> str:
    """A state as compared across kernels (see the module doc)."""
    s = _LIVENESS.sub(lambda m: m.group(1) + "=", state)
    s = _ADDR.sub("0x…", s)
    s = _IDS.sub("", s)
    return " ".join(s.replace(",)", ")").split())


def slots(state: str) -> dict[str, str]:
    """A printed state as register/stack slot -> normalized value (``R1_w=0 fp-8=0`` -> R1, fp-8)."""
    marks = list(_SLOT.finditer(state))
    ends = [m.start() for m in marks[1:]] + [len(state)] if marks else []
    return {m.group(1).split("_")[0]: norm_state(state[m.end():end]) for m, end in zip(marks, ends, strict=True)}


def steps(log: Iterable[str]) -> list[Step]:
    """The instructions of a verifier log in the order it processed them."""
    out: list[Step] = []
    pending_state = ""
    pending_branch = ""
    pending_source = ""
    for n, raw in enumerate(log):
        line = raw.rstrip("\n")
        if m := INSN.match(line):
            out.append(Step(int(m.group(1)), m.group(2).rstrip(), m.group(3) or "", n, pending_branch,
                            pending_source, before=pending_state))
            pending_state = pending_branch = pending_source = ""
        elif m := BRANCH.match(line):
            pending_branch, pending_state = f"from {m.group(1)} to {m.group(2)}", m.group(3).strip()
        elif m := STATE_AT.match(line):
            pending_state = m.group(3)
        elif m := SOURCE.match(line):
            pending_source = m.group(1)
        elif END.match(line):
            break
        elif SAFE.match(line) or line.startswith("mark_precise:") or not line.strip():
            continue
        elif out:
            last = out[-1]
            out[-1] = dataclasses.replace(last, notes=last.notes + (line,))
    return out
