"""``bpf-harness diff``: a terminal summary of one pair of cells."""

from __future__ import annotations

from typing import TextIO

from harness.diff import ORDER, Change, Finding, counts


def _cost(row) -> str:
    if not row:
        return "-"
    return f"{row['verdict']} {row.get('insns') if row.get('insns') is not None else '-'} insns"


def render(base, new, findings: list[Finding], same: int, comparable: str, out: TextIO, limit: int = 50,
           not_covered: int = 0) -> None:
    print(f"{base['kernel_id']}/{base['arch']} ({base['release']}) -> {new['kernel_id']}/{new['arch']} "
          f"({new['release']})", file=out)
    print(f"corpus: {comparable}", file=out)
    for cell in (base, new):
        if cell["status"] != "complete":
            print(f"warning: cell {cell['kernel_id']}/{cell['arch']} is {cell['status']}: {cell['detail']}", file=out)
    c = counts(findings)
    print("  ".join(f"{ch.value}: {c[ch]}" for ch in ORDER) + f"  unchanged: {same}"
          + (f"  not covered by UML (verified on neither side): {not_covered}" if not_covered else ""), file=out)
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
    if not c[Change.REGRESSION]:
        print(f"\nNo BPF verifier regressions from {base['kernel_id']} to {new['kernel_id']} on {new['arch']}.", file=out)
