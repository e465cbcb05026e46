#!/usr/bin/env python3
"""Benchmark automatic attribution (issue 27): a run of Debian's 6.12.113 and 6.12.115 kernels (VM cells, the
6.12.117 selftests' exceptions_fail) whose branch has a ``stable_tree:``, so that after the run the harness bisects
the finding on exceptions_fail/reject_subprog_with_rcu_read_lock by itself and names its commit.

The stable tree: the harness's git import of Debian's 6.12.113 with the 32 real BPF commits of the 6.12.114/115
updates on top (tests/data/fixture-6.12.115-range; on every file they touch, its tip equals Debian's 6.12.115),
tagged v6.12.113 and v6.12.115.  Known answer: "bpf: Fix exception exit lock checking for subprogs" (upstream
6c2128505f61).

Prints, measured in this run: the run's minutes, the attribution's minutes (target <= 10 with UML and a warm
ccache), its steps, and the commit it names.  Exit 1 when the commit is not the known one.

Usage: .venv/bin/python ci/bench_attribution.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import cache  # noqa: E402
from harness.kernels.built import git  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
KNOWN = "bpf: Fix exception exit lock checking for subprogs"
PROGRAM = "exceptions_fail/reject_subprog_with_rcu_read_lock"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "ci"))
    from bench_build import fixture_tree
    tree, base, commits = fixture_tree(cache.root())
    git.git(tree, "tag", "-f", "v6.12.113", base)
    git.git(tree, "tag", "-f", "v6.12.115", commits[-1])
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-attribution-"))
    out.mkdir(parents=True, exist_ok=True)
    m = out / "m.yaml"
    m.write_text(f"""\
debian:
  suites: [bookworm-security]
corpora:
  exc:
    source: 6.12.117
    include: [exceptions_fail]
branches:
  6.12.y:
    corpus: exc
    arches: [x86_64]
    stable_tree: {tree}
    kernels: [6.12.113, 6.12.115]
attribution:
  steps: 12
  minutes: 30
vm:
  cpus: 1
  memory: 2G
""")
    t0 = time.monotonic()
    p = subprocess.run([str(Path(sys.executable).parent / "bpf-harness"), "run", "-m", str(m), "--db",
                        str(out / "r.db"), "--report", str(out / "report")], capture_output=True, text=True)
    minutes = (time.monotonic() - t0) / 60
    sys.stdout.write("".join(line + "\n" for line in p.stdout.splitlines() if line.startswith(("attribution", "run "))))
    doc = json.loads((out / "report" / "report.json").read_text())
    found = [f["attribution"] for q in doc["pairs"] for f in q["findings"]
             if f"{f['object']}/{f['program']}" == PROGRAM and f.get("attribution")]
    if not found:
        print(f"no finding on {PROGRAM}; run exit {p.returncode}\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
        return 1
    a = found[0]
    print(f"run (2 VM cells, then the attribution): {minutes:.1f} min, exit {p.returncode}")
    if a.get("commit"):
        print(f"attribution: {a['seconds'] / 60:.1f} min ({a['backend']}, {a['steps']} steps over {a['candidates']} "
              f"candidate commits), target <= 10 min: commit {a['commit'][:12]} \"{a['subject']}\" (upstream "
              f"{a.get('upstream')})")
    else:
        print(f"attribution: no commit: {a['reason']}")
    return 0 if a.get("subject") == KNOWN else 1


if __name__ == "__main__":
    sys.exit(main())
