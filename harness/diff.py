"""Verifier acceptance diffs between two cells (pure classification over stored rows).

A pair is one program, matched by (object name, program name), on a base and a
new kernel.  Each pair gets at most one :class:`Change`; unchanged pairs are
counted, not listed.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from typing import Callable, Iterable, Mapping

from harness.matrix import Thresholds
from harness.parse.normalize import error_key

INSN_LIMIT = 1_000_000
DEFAULT_THRESHOLDS = Thresholds()


class Change(enum.Enum):
    REGRESSION = "regression"
    """Verified on the base kernel, rejected by the verifier on the new one: the class that gates CI."""
    FLAKY = "flaky"
    """Classified as a regression, but a re-run of the program on both kernels did not reproduce it."""
    FIXED = "fixed"
    """Rejected by the verifier on the base kernel, verified on the new one."""
    ERROR_CHANGED = "error-changed"
    """Rejected by the verifier on both, with a different normalized error."""
    MSG_CHANGED = "msg-check"
    """Same verdict and error, but a test's expected ``__msg`` appeared or went (precision tracking,
    pruning, log wording): what a stable release changes without flipping a verdict."""
    NEAR_LIMIT = "near-limit"
    """Verified on both; now past the near-limit share of the 1M-instruction limit."""
    COMPLEXITY = "complexity"
    """Verified on both; insns or states moved past the thresholds."""
    LOAD_CHANGED = "load-failure"
    """A load/link failure (missing kfunc, BTF, program type...) appeared, went or changed."""
    NEW = "new"
    GONE = "gone"
    INCONCLUSIVE = "inconclusive"
    """A timeout, crash or not-run on either side: no verdict to compare."""


ORDER = tuple(Change)
"""Report order: what gates first."""


@dataclasses.dataclass(frozen=True)
class Finding:
    change: Change
    object: str
    program: str
    base: Mapping | None
    new: Mapping | None
    detail: str
    confirmed: bool | None = None
    """Regressions: reproduced by a re-run on both kernels (True), not re-run (None)."""

    @property
    def newly_unexpected(self) -> bool:
        """Expected on the base kernel, unexpected on the new one: the strongest regression signal."""
        return bool(self.base and self.new and self.base.get("outcome") == "as-expected"
                    and self.new.get("outcome") == "unexpected")

    @property
    def error_key(self) -> str:
        side = self.new if self.new is not None and self.new.get("error") else self.base
        return error_key(side.get("error") if side else None)


_NO_VERDICT = ("timeout", "crash", "not-run")


def classify(base: Mapping | None, new: Mapping | None, th: Thresholds) -> tuple[Change, str] | None:
    """The change between two results of one program, or None if nothing moved (pure)."""
    if base is None and new is None:
        return None
    if base is None:
        return Change.NEW, f"new program: {new['verdict']}"
    if new is None:
        return Change.GONE, f"gone; was {base['verdict']}"
    bv, nv = base["verdict"], new["verdict"]
    if bv in _NO_VERDICT or nv in _NO_VERDICT:
        if bv == nv:
            return None
        return Change.INCONCLUSIVE, f"{bv} -> {nv}"
    bclass, nclass = base.get("failure_class"), new.get("failure_class")
    if bv == "success" and nv == "success":
        limit = th.near_limit_pct / 100 * INSN_LIMIT
        bi, ni = base.get("insns"), new.get("insns")
        if ni is not None and ni >= limit and (bi is None or bi < limit):
            return Change.NEAR_LIMIT, f"insns {bi} -> {ni} (>= {th.near_limit_pct:g}% of {INSN_LIMIT})"
        if (flip := msg_flip(base, new)) is not None:
            return Change.MSG_CHANGED, flip
        moved = []
        if th.moved(bi, ni, th.insns_pct, th.insns_abs):
            moved.append(f"insns {bi} -> {ni}")
        if th.moved(base.get("states"), new.get("states"), th.states_pct, th.states_abs):
            moved.append(f"states {base.get('states')} -> {new.get('states')}")
        return (Change.COMPLEXITY, ", ".join(moved)) if moved else None
    expect = new.get("expect") or base.get("expect")
    if bv == "success":
        if nclass == "verifier":
            if expect == "failure":  # a __failure test the old kernel wrongly accepted
                return Change.FIXED, f"now rejected, as the test expects (__failure): {new.get('error')}"
            return Change.REGRESSION, new.get("error") or "rejected"
        return Change.LOAD_CHANGED, f"now fails to load: {new.get('error')}"
    if nv == "success":
        if bclass == "verifier":
            if expect == "failure":  # the verifier stopped rejecting what the test says it must
                return Change.REGRESSION, f"now accepted, but the test expects rejection (__failure); was: {base.get('error')}"
            return Change.FIXED, f"was: {base.get('error')}"
        return Change.LOAD_CHANGED, f"now loads; was: {base.get('error')}"
    # rejected on both sides
    if bclass == nclass == "verifier":
        if error_key(base.get("error")) != error_key(new.get("error")):
            return Change.ERROR_CHANGED, f"{base.get('error')} -> {new.get('error')}"
        if (flip := msg_flip(base, new)) is not None:
            return Change.MSG_CHANGED, flip
        return None
    if bclass != nclass or error_key(base.get("error")) != error_key(new.get("error")):
        return Change.LOAD_CHANGED, f"{bclass}: {base.get('error')} -> {nclass}: {new.get('error')}"
    return None


def msg_flip(base: Mapping, new: Mapping) -> str | None:
    """A test's ``__msg`` check matched on one kernel and missing on the other (same verdict), in words."""
    bm, nm = base.get("msg_check"), new.get("msg_check")
    if {bm, nm} != {"matched", "missing"}:
        return None
    missing = (base if bm == "missing" else new).get("msg_detail") or "an expected message"
    m = re.search(r"not found(?: \(.*?\))?: (.*)$", missing, re.S)
    what = m[1] if m else missing
    cost = f" (insns {base.get('insns')} -> {new.get('insns')})" if base.get("insns") != new.get("insns") else ""
    if nm == "matched":
        return f"expected message now in the log: {what}{cost}"
    return f"expected message no longer in the log: {what}{cost}"


def no_verdict(row: Mapping | None) -> bool:
    """No verdict to compare: absent, or a timeout, crash or not-run."""
    return row is None or row["verdict"] in _NO_VERDICT


def same_result(first: Mapping, again: Mapping) -> bool:
    """Whether a re-run reproduced a result: same verdict, and for a rejection the same normalized error."""
    if first["verdict"] != again["verdict"]:
        return False
    return first["verdict"] != "failure" or (first.get("failure_class") == again.get("failure_class")
                                             and error_key(first.get("error")) == error_key(again.get("error")))


def confirm(change: Change, detail: str, base: Mapping, new: Mapping, base_again: Mapping | None,
            new_again: Mapping | None) -> tuple[Change, str, bool | None]:
    """A regression read through the re-runs of both sides (pure): still a regression, or flaky."""
    if base_again is None or new_again is None:
        return change, detail, None
    moved = [f"{side} kernel {first['verdict']} -> {again['verdict']}"
             + (f" ({again.get('error')})" if again["verdict"] == "failure" and again.get("error") else "")
             for side, first, again in (("base", base, base_again), ("new", new, new_again))
             if not same_result(first, again)]
    if moved:
        return Change.FLAKY, f"did not reproduce on a re-run: {'; '.join(moved)}. First run: {detail}", False
    return change, detail, True


Confirmations = Mapping[tuple[str, str], Mapping]


def diff(base: Mapping[tuple[str, str], Mapping], new: Mapping[tuple[str, str], Mapping],
         th: Thresholds = DEFAULT_THRESHOLDS, again: tuple[Confirmations, Confirmations] = ({}, {}),
         uncovered: Callable[[Mapping], bool] | None = None,
         answer: Callable[[Mapping], Mapping] | None = None) -> tuple[list[Finding], int]:
    """All findings between two cells' results, in report order, and the count of unchanged pairs.

    ``again`` holds re-run results of each side (confirmation cells); a regression they do not
    reproduce is ``flaky``.  A pair ``uncovered`` marks on both sides (a program UML never verified
    on either release) is neither a finding nor unchanged: nobody looked.  ``answer`` turns a result into
    what is judged of it (UML pairs: the verifier's own answer, :func:`harness.fidelity.verifier_answer`); the
    findings keep the results as recorded.
    """
    def judged(row: Mapping | None) -> Mapping | None:
        return answer(row) if answer is not None and row is not None else row

    findings, same = [], 0
    for key in sorted(set(base) | set(new)):
        b, n = base.get(key), new.get(key)
        got = classify(judged(b), judged(n), th)
        if got is None:
            # never "unchanged": a program without a verdict on either side, or one UML never verified
            if not (no_verdict(b) and no_verdict(n)) and not (uncovered and b and n and uncovered(b) and uncovered(n)):
                same += 1
            continue
        change, detail = got
        confirmed = None
        if change is Change.REGRESSION:
            change, detail, confirmed = confirm(change, detail, judged(b), judged(n), judged(again[0].get(key)),
                                                judged(again[1].get(key)))
        findings.append(Finding(change, key[0], key[1], base.get(key), new.get(key), detail, confirmed))
    findings.sort(key=lambda f: (ORDER.index(f.change), not f.newly_unexpected, f.error_key, f.object, f.program))
    return findings, same


def counts(findings: Iterable[Finding]) -> dict[Change, int]:
    out = {c: 0 for c in ORDER}
    for f in findings:
        out[f.change] += 1
    return out
