#!/usr/bin/env python3
"""The fast lane's fidelity targets (issue 29), printed from one run: a UML cell and a VM cell of the same release
and corpus, read from a store or from a record (docs/fidelity/*.json.gz, written by ``bpf-harness fidelity
--record``):

    python3 ci/bench_fidelity.py --db RESULTS.db        # the store's (newest) UML/VM pair
    python3 ci/bench_fidelity.py docs/fidelity/6.12.113.json.gz

Targets: UML gives the VM's answer on >= 99% of the verifier_* programs and >= 95% of the whole corpus.  "The
verifier's answer" counts a refusal for want of a JIT after the verifier accepted with the VM's insns as the VM's
answer (:func:`harness.fidelity.verifier_agrees`); the strict share (verdict and insns as recorded) is printed
beside it.  Exit 0 when both targets are met, 1 when not.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import fidelity  # noqa: E402
from harness.store import Store  # noqa: E402

TARGETS = {"verifier_*": 99.0, "whole corpus": 95.0}


def records(args: argparse.Namespace) -> list[fidelity.Record]:
    if args.db:
        store = Store(args.db)
        try:
            pairs = fidelity.pairs(store.latest_cells())
            if not pairs:
                raise SystemExit(f"{args.db}: no UML cell with a VM cell of the same release and corpus")
            u, v = max(pairs, key=lambda p: p[0].id)
            return [fidelity.Record.stored(store, u, v)]
        finally:
            store.close()
    return [fidelity.load(p) for p in args.records]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", nargs="*", type=Path)
    ap.add_argument("--db", type=Path)
    args = ap.parse_args()
    if bool(args.db) == bool(args.records):
        ap.error("give --db or record files")
    met = True
    for rec in records(args):
        print(f"fidelity {rec.what}: UML {rec.uml.kernel_id} ({rec.uml.seconds} s) vs VM {rec.vm.kernel_id} "
              f"({rec.vm.accel}, {rec.vm.seconds} s), one run of each")
        for name, f in (("verifier_*", rec.verifier()), ("whole corpus", rec.fidelity())):
            if not f.total:
                print(f"  {name:13} no such programs in this corpus")
                continue
            share = 100 * f.verifier_identical / f.total
            ok = share >= TARGETS[name]
            met &= ok
            print(f"  {name:13} the verifier's answer {f.verifier_identical}/{f.total} {share:.1f}% (target >= "
                  f"{TARGETS[name]:.0f}%: {'met' if ok else 'NOT met'}); verdict and insns identical {f.identical} "
                  f"{100 * f.identical / f.total:.1f}%; not covered {f.not_covered}")
        differs = {c: sum(not d.verifier_agrees for d in ds) for c, ds in rec.fidelity().by_cause().items()}
        print("  where the verifier's answer differs, by cause: " + "; ".join(
            f"{c.value} {n}" for c, n in sorted(differs.items(), key=lambda kv: -kv[1]) if n))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
