"""``bpf-harness diff``: a terminal summary of one pair of cells."""

from __future__ import annotations

from typing import TextIO

from harness.diff import ORDER, Change, counts
from harness.report.model import Pair


def _cost(row) -> str:
    if not row:
        return "-"
    return f"{row['verdict']} {row.get('insns') if row.get('insns') is not None else '-'} insns"


def render(p: Pair, out: TextIO, limit: int = 50) -> None:
    base, new, findings = p.base, p.new, list(p.findings)
    print(f"{base['kernel_id']}/{base['arch']} ({base['release']}) -> {new['kernel_id']}/{new['arch']} "
          f"({new['release']})", file=out)
    if p.warning:
        print(p.warning, file=out)
    print(f"corpus: {p.comparable}", file=out)
    c = counts(findings)
    print("  ".join(f"{ch.value}: {c[ch]}" for ch in ORDER) + f"  unchanged: {p.unchanged}"
          + (f"  no verdict on either side: {p.no_verdict}" if p.no_verdict else "")
          + (f"  not covered by UML (verified on neither side): {p.not_covered}" if p.not_covered else ""), file=out)
    for ch in ORDER:
        group = [f for f in findings if f.change is ch]
        if not group:
            continue
        print(f"\n{ch.value} ({len(group)})", file=out)
        for f in group[:limit]:
            flag = "  [expected before, unexpected now]" if f.newly_unexpected else ""
            print(f"  {f.object}/{f.program}: {_cost(f.base)} -> {_cost(f.new)}{flag}", file=out)
            print(f"      {f.detail}", file=out)
        if len(group) > limit:
            print(f"  ... {len(group) - limit} more", file=out)
    if p.tested == "not-tested":
        print(f"\nNOT TESTED: no program has a verdict on both {base['kernel_id']} and {new['kernel_id']}.", file=out)
    elif not c[Change.REGRESSION]:
        scope = "" if p.tested == "complete" else f" among the {p.compared} programs verified on both"
        print(f"\nNo BPF verifier regressions from {base['kernel_id']} to {new['kernel_id']} on {new['arch']}{scope}.",
              file=out)
