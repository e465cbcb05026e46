#!/usr/bin/env python3
"""Benchmark one cell: the harness vs a bare ``vng --exec 'veristat ...'`` on the same kernel and objects.

Prints, measured in this one run:
  - boot: wall time of ``vng --exec true`` (the fixed cost of any cell);
  - bare: one veristat over all the objects in one guest, as a maintainer would run it by hand;
  - harness: ``run_cell`` on the same kernel and objects (streaming, per-program timeouts, workers);
  - native: veristat over the same objects on the host's own kernel, for reference;
and the ratio harness / bare (target <= 1.15).

Usage: .venv/bin/python ci/bench_cell.py [--kernel 6.12.117] [--include 'verifier_*'] [--exclude ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import cache, matrix, vm  # noqa: E402
from harness.arch import X86_64  # noqa: E402
from harness.cell import CellJob, run_cell  # noqa: E402
from harness.matrix import Accel  # noqa: E402
from harness.engine import Preparer  # noqa: E402
from harness.store import Store  # noqa: E402

DEFAULT_EXCLUDE = ["verifier_loops1", "verifier_search_pruning"]


def timed(argv: list[str], env: dict, timeout: float) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.monotonic()
    res = subprocess.run(argv, env=env, timeout=timeout, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    return time.monotonic() - t0, res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel", default="6.12.117")
    ap.add_argument("--include", action="append", default=None)
    ap.add_argument("--exclude", action="append", default=None)
    ap.add_argument("--cpus", type=int, default=2)
    args = ap.parse_args()
    include = args.include or ["verifier_*"]
    exclude = args.exclude if args.exclude is not None else DEFAULT_EXCLUDE
    text = (f"debian: {{suites: [bookworm-security]}}\ncorpora:\n  bench: {{source: {args.kernel}, "
            f"include: {include!r}, exclude: {exclude!r}}}\nbranches:\n  b: {{corpus: bench, kernels: [{args.kernel}]}}\n"
            f"vm: {{cpus: {args.cpus}, program_timeout: 600, cell_timeout: 7200, failure_log_level: 0}}\n")
    m = matrix.parse(text, "bench.yaml")
    cell = m.cells()[0]
    prep = Preparer(m, cache.root())
    kernel = prep.kernel(cell.kernel, "x86_64")
    corpus = prep.corpus(cell)
    accel = vm.choose_accel(Accel.AUTO, X86_64)
    objs = [str(o.path) for o in corpus.objects]
    env = {**os.environ, **vm.vng_env()}
    disable = ["--disable-kvm"] if accel.accel is Accel.TCG else []
    base = [vm.vng_path(), "--force-9p", "--run", str(kernel.image), "--cpus", str(args.cpus), "--memory", "2G"]
    print(f"kernel {kernel.release}, {len(objs)} objects, {corpus.program_count} programs, "
          f"{args.cpus} vCPUs, {accel.accel.value} ({accel.reason})", flush=True)

    boot, _ = timed(base + disable + ["--exec", "true"], env, 600)
    with tempfile.TemporaryDirectory() as td:
        rw = Path(td) / "rw"
        rw.mkdir()
        # The object list goes in a script: vng passes --exec on the kernel command line (2 KiB on x86).
        script = rw / "bare.sh"
        script.write_text(shlex.join([str(corpus.veristat), "-o", "csv", *objs]) + f" > {shlex.quote(str(rw / 'bare.csv'))}\n")
        bare, res = timed(base + disable + ["--rwdir", str(rw), "--exec", f"sh {shlex.quote(str(script))}"], env, 7200)
        bare_rows = max(0, len((rw / "bare.csv").read_text().splitlines()) - 1) if (rw / "bare.csv").exists() else 0
        if bare_rows == 0:
            print(f"bare veristat run produced no results; vng said:\n{res.stdout[-2000:]}{res.stderr[-2000:]}")
            return 3

        db = Path(td) / "bench.db"
        store = Store(db)
        store.add_corpus(corpus)
        run_id = store.start_run("bench", "", sys.argv)
        job = CellJob(run_id, "b", kernel, corpus, dataclasses.replace(m.vm), accel, Path(td) / "out", db)
        t0 = time.monotonic()
        outcome = run_cell(job)
        harness = time.monotonic() - t0
        done = next((Path(td) / "out").glob("*/rw/done.json"), None)
        passes = json.loads(done.read_text()).get("pass_seconds", {}) if done else {}
        s = Store(db)
        checks = dict(s.db.execute("SELECT msg_detail LIKE '%main pass%', COUNT(*) FROM results WHERE cell_id=? "
                                   "AND msg_check IS NOT NULL GROUP BY 1", (outcome.cell_id,)).fetchall())
        s.close()

    native = None
    if os.geteuid() == 0:
        native, res = timed([str(corpus.veristat), "-o", "csv", *objs], dict(os.environ), 7200)

    print(f"boot (vng --exec true):         {boot:7.1f} s")
    print(f"bare vng + one veristat:        {bare:7.1f} s  ({bare_rows} programs)")
    print(f"harness cell:                   {harness:7.1f} s  ({outcome.programs} programs, {outcome.status.value})")
    if native is not None:
        print(f"native veristat, host {os.uname().release}: {native:7.1f} s")
    if passes:
        print(f"  in the guest: main pass {passes.get('main', 0):.1f} worker-s, second pass (message checks, log "
              f"tails) {passes.get('second', 0):.1f} worker-s; message checks settled by the main pass's log: "
              f"{checks.get(1, 0)} of {checks.get(1, 0) + checks.get(0, 0)}")
    print(f"ratio harness/bare:             {harness / bare:7.2f}  (target <= 1.15)")
    return 0 if outcome.status.ok else 3


if __name__ == "__main__":
    sys.exit(main())
