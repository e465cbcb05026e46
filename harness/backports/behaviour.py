"""Behaviour evidence: a newer corpus (mainline's or the newest stable's selftests) verified on a stable
branch's kernel and on the reference kernel, each difference read through the test's own expectation (pure).

- ``missing-fix``: the test expects a rejection, the branch accepts, the reference rejects -- the
  dangerous direction: the branch lets through what mainline refuses;
- ``missing-feature-or-fix``: the test expects success, the branch rejects, the reference verifies;
- ``message-differs``: both reject, but only the reference with the message the test expects.

The branch's *own* selftests on its own kernel give the second list the seed asks for: tests that do
not behave as they expect there (:func:`own_unexpected`), each explained against the newer corpus.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

Rows = Mapping[tuple[str, str], Mapping]

RANK = {"missing-fix": 0, "missing-feature-or-fix": 1, "message-differs": 2}


@dataclasses.dataclass(frozen=True)
class Side:
    kernel: str
    verdict: str
    error: str | None
    outcome: str

    @classmethod
    def of(cls, kernel: str, row: Mapping) -> "Side":
        return cls(kernel, row["verdict"], row.get("error"), row.get("outcome") or "n/a")


@dataclasses.dataclass(frozen=True)
class Behaviour:
    program: str
    """``object/program``."""
    kind: str
    expect: str
    description: str | None
    branch: Side
    reference: Side


def compare(branch_kernel: str, branch: Rows, ref_kernel: str, reference: Rows,
            uml: tuple[bool, bool] = (False, False)) -> tuple[list[Behaviour], list[str]]:
    """Programs whose result on the branch differs from the reference's where the reference meets the test's
    expectation; and the programs not judged, said as such: no verdict on a side, or a UML result a VM with a
    JIT would not give (``uml``: whether each side ran on UML)."""
    from harness import fidelity
    out, unjudged = [], []
    for key in sorted(set(branch) & set(reference)):
        b, r = branch[key], reference[key]
        gap = [fidelity.uml_only(x) for x, on in ((b, uml[0]), (r, uml[1])) if on]
        if any(gap):
            cause = next(g for g in gap if g)
            unjudged.append(f"{key[0]}/{key[1]} (UML: {getattr(cause, 'value', cause)})")
            continue
        expect = r.get("expect")
        if not expect or r.get("auxiliary"):
            continue
        if b["verdict"] not in ("success", "failure") or r["verdict"] not in ("success", "failure"):
            if r.get("outcome") == "as-expected" or b["verdict"] not in ("success", "failure"):
                unjudged.append(f"{key[0]}/{key[1]}")
            continue
        if r.get("outcome") != "as-expected" or b.get("outcome") != "unexpected":
            continue
        if expect == "failure" and b["verdict"] == "success":
            kind = "missing-fix"
        elif expect == "success" and b["verdict"] == "failure":
            kind = "missing-feature-or-fix"
        elif expect == "failure" and b["verdict"] == "failure":
            kind = "message-differs"
        else:
            continue
        out.append(Behaviour(f"{key[0]}/{key[1]}", kind, expect, r.get("description"),
                             Side.of(branch_kernel, b), Side.of(ref_kernel, r)))
    out.sort(key=lambda x: (RANK[x.kind], x.program))
    return out, unjudged


@dataclasses.dataclass(frozen=True)
class OwnCase:
    """A test of the branch's own selftests that does not behave as it expects on the branch's kernel."""
    program: str
    expect: str
    kernel: str
    verdict: str
    error: str | None
    reason: str
    """``fix-missing``, ``expectation-changed-upstream``, ``reference-too`` or ``no-newer-test``."""
    explanation: str


def own_unexpected(kernel: str, own: Rows, newer_branch: Rows | None, newer_ref: Rows | None,
                   ref_kernel: str | None, uml: bool = False) -> tuple[list[OwnCase], list[str]]:
    """Each unexpected verdict of the branch's own selftests on its kernel, read against the newer corpus's
    version of the same test (its expectation, and its results on this kernel and on the reference); and the
    unexpected results that are load failures (a map or attach setup the test's runner does, not a verifier
    verdict) or, on UML (``uml``), results a VM with a JIT would not give: listed, not judged."""
    from harness import fidelity
    cases, load_failures = [], []
    for key in sorted(own):
        row = own[key]
        if row.get("outcome") != "unexpected" or row["verdict"] not in ("success", "failure"):
            continue
        if row["verdict"] == "failure" and row.get("failure_class") != "verifier":
            load_failures.append(f"{key[0]}/{key[1]} (own selftests: load failure)")
            continue
        if uml and fidelity.uml_only(row):
            load_failures.append(f"{key[0]}/{key[1]} (own selftests, UML: {fidelity.uml_only(row).value})")
            continue
        if row["verdict"] == "failure" and row.get("expect") == "failure":
            continue  # rejected as expected, only the message differs: not a missing fix
        name = f"{key[0]}/{key[1]}"
        nb = (newer_branch or {}).get(key)
        nr = (newer_ref or {}).get(key)
        own_exp = row.get("expect")
        if nr is None or not nr.get("expect"):
            reason, text = "no-newer-test", "the newer corpus has no such test to compare with"
        elif nr.get("outcome") != "as-expected":
            reason = "reference-too"
            text = (f"{ref_kernel} does not meet the newer test's expectation either ({nr['verdict']}): the test "
                    "needs something a privileged veristat load does not give it (capabilities, a test module, "
                    "the test runner's setup)")
        elif nb is not None and nb.get("outcome") == "as-expected":
            if nr["expect"] != own_exp:
                reason = "expectation-changed-upstream"
                text = (f"the newer selftests expect {nr['expect']} for this test, and both {ref_kernel} and "
                        f"{kernel} give {nb['verdict']}: the kernel agrees with mainline; this branch's copy of the "
                        f"test carries the older expectation ({own_exp}), so what is missing here is a selftest "
                        "change, not a kernel fix")
            else:
                reason = "test-differs"
                text = (f"the newer version of this test behaves as it expects on {kernel} itself: what fails is "
                        "this branch's copy of the test program, not the kernel")
        elif nb is not None:
            reason = "fix-missing"
            text = (f"{ref_kernel} gives {nr['verdict']} as the test expects, {kernel} gives {nb['verdict']}: "
                    "the selftest is here without the fix (or the kernel configuration) it relies on")
        else:
            reason, text = "no-newer-test", f"no result of the newer test on {kernel} to compare with"
        cases.append(OwnCase(name, own_exp or "?", kernel, row["verdict"], row.get("error"), reason, text))
    return cases, load_failures
