#!/usr/bin/env python3
"""Benchmark the UML fast lane against native veristat and a TCG (or KVM) guest, on the same objects.

Prints, measured in this one run on one kernel version and one corpus:
  - native: one veristat over all the objects on the host's own kernel (needs root);
  - uml bare: that veristat command inside UML, started as the runner starts its veristats, boot included;
  - uml-verdicts: a UML cell of that version doing what native veristat does (every verdict and cost)
    through the harness's run_cell (streaming, per-program timeouts), boot included;
  - uml: the same with the second pass (logs of rejected programs);
  - vm: a VM cell of the Debian kernel of that version;
the ratios uml/native (target <= 2) and vm/uml, and the fidelity of the UML results against the VM's.

Usage: .venv/bin/python ci/bench_uml.py [--kernel 6.12.117] [--include 'verifier_*'] [--exclude ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import cache, fidelity, matrix, proc, vm  # noqa: E402
from harness.kernels import uml  # noqa: E402
from harness.arch import X86_64  # noqa: E402
from harness.cell import CellJob, run_cell  # noqa: E402
from harness.matrix import Accel  # noqa: E402
from harness.engine import Preparer  # noqa: E402
from harness.store import Store  # noqa: E402

DEFAULT_EXCLUDE = ["verifier_loops1", "verifier_search_pruning"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel", default="6.12.117")
    ap.add_argument("--include", action="append", default=None)
    ap.add_argument("--exclude", action="append", default=None)
    args = ap.parse_args()
    include = args.include or ["verifier_*"]
    exclude = args.exclude if args.exclude is not None else DEFAULT_EXCLUDE
    text = (f"debian: {{suites: [bookworm-security]}}\ncorpora:\n  bench: {{source: {args.kernel}, "
            f"include: {include!r}, exclude: {exclude!r}}}\nbranches:\n"
            f"  fast: {{corpus: bench, kernels: [{{uml: {args.kernel}}}]}}\n"
            f"  vm: {{corpus: bench, kernels: [{args.kernel}]}}\n"
            f"vm: {{cpus: 2, program_timeout: 600, cell_timeout: 7200, check_messages: false}}\n")
    m = matrix.parse(text, "bench.yaml")
    uml_cell, vm_cell = m.cells()
    prep = Preparer(m, cache.root())
    uml_kernel, vm_kernel = prep.kernel(uml_cell.kernel, "x86_64"), prep.kernel(vm_cell.kernel, "x86_64")
    corpus = prep.corpus(vm_cell)
    accel = vm.choose_accel(Accel.AUTO, X86_64)
    objs = [str(o.path) for o in corpus.objects]
    print(f"{args.kernel}: {len(objs)} objects, {corpus.program_count} programs; VM: {accel.accel.value} "
          f"({accel.reason})", flush=True)

    native = None
    if os.geteuid() == 0:
        t0 = time.monotonic()
        subprocess.run([str(corpus.veristat), "-o", "csv", *objs], capture_output=True, timeout=7200)
        native = time.monotonic() - t0

    with tempfile.TemporaryDirectory() as td:
        bare, alone = _bare_uml(uml_kernel, str(corpus.veristat), objs, Path(td) / "bare", m.vm.memory)
        print(f"uml bare veristat: {bare:.1f} s ({alone:.1f} s inside)", flush=True)
        uml_choice = vm.AccelChoice(Accel.NATIVE, "user-mode Linux")
        # "uml-verdicts": the same work as native veristat (every verdict and cost, no second pass for
        # logs), through the harness's own runner, boot included
        verdicts_only = dataclasses.replace(m.vm, failure_log_level=0, check_messages=False)
        out, passes, dbs = {}, {}, {}
        for name, cell, kernel, choice, settings in (
                ("uml-verdicts", uml_cell, uml_kernel, uml_choice, verdicts_only),
                ("uml", uml_cell, uml_kernel, uml_choice, m.vm),
                ("vm", vm_cell, vm_kernel, accel, m.vm)):
            db = Path(td) / ("verdicts.db" if name == "uml-verdicts" else "bench.db")
            if db not in dbs:
                dbs[db] = Store(db)
                dbs[db].add_corpus(corpus)
            run_id = dbs[db].start_run("bench", "", sys.argv)
            t0 = time.monotonic()
            outcome = run_cell(CellJob(run_id, cell.branch, kernel, corpus, settings, choice, Path(td) / name, db))
            out[name] = (time.monotonic() - t0, outcome)
            print(f"{name} cell: {out[name][0]:.1f} s ({outcome.programs} programs, {outcome.status.value})", flush=True)
            passes[name] = _passes(Path(td) / name)
        store = dbs[Path(td) / "bench.db"]
        f = fidelity.compare(store.result_map(out["uml"][1].cell_id), store.result_map(out["vm"][1].cell_id))
        causes = fidelity.render(f, store.find_cell(uml_cell.kernel.id), store.find_cell(vm_cell.kernel.id), limit=3)

    quick_s, uml_s, vm_s = out["uml-verdicts"][0], out["uml"][0], out["vm"][0]
    if native is not None:
        print(f"native veristat, host {os.uname().release}: {native:7.1f} s  (every verdict and cost)")
    print(f"uml, one bare veristat:              {alone:7.1f} s  (timed inside UML; the runner's BTF staging and "
          f"malloc settings)")
    print(f"uml, the same with boot:             {bare:7.1f} s  (and a python wrapper's start)")
    print(f"uml cell, verdicts and costs only:   {quick_s:7.1f} s  (boot included)")
    print(f"uml cell (boot included):            {uml_s:7.1f} s  (+ logs of rejected programs)")
    print(f"vm cell ({accel.accel.value}, boot included):       {vm_s:7.1f} s")
    for name, (main_s, second_s) in passes.items():
        print(f"  {name}: main pass {main_s:.1f} s (every verdict and cost; worker-seconds), second pass "
              f"{second_s:.1f} s (logs of rejected programs), the rest boot and start-up")
    if native is not None:
        print(f"ratio uml bare/native:               {alone / native:7.2f}  (target <= 2: the same command)")
        print(f"ratio uml bare with boot/native:     {bare / native:7.2f}")
        print(f"ratio uml verdicts/native:           {quick_s / native:7.2f}  (the same work through the harness)")
        print(f"ratio uml cell/native:               {uml_s / native:7.2f}")
    print(f"ratio vm/uml:                        {vm_s / uml_s:7.2f}")
    sys.stdout.write(causes)
    return 0 if all(o.status.ok for _, o in out.values()) else 3


def _bare_uml(kernel, veristat: str, objs: list[str], tmp: Path, memory: str) -> tuple[float, float]:
    """Boot UML and run the native measurement's command in it, as the runner starts its veristats
    (vmlinux BTF staged on a tmpfs, the heap kept); wall time with boot, and veristat's alone."""
    tmp.mkdir(parents=True)
    code = ("import subprocess, sys, time; from pathlib import Path; from harness.guest import runner; "
            f"print(runner.private_tmp(Path({str(tmp)!r})), flush=True); t0 = time.monotonic(); "
            f"rc = subprocess.run({[veristat, '-o', 'csv', *objs]!r}, stdout=subprocess.DEVNULL, "
            "env=runner.veristat_env(True)).returncode; "
            "print(f'bare-veristat-seconds: {time.monotonic() - t0:.2f}', flush=True); sys.exit(rc)")
    init = tmp.parent / "bare-init.sh"
    init.write_text(uml.init_script(["env", f"PYTHONPATH={vm.package_root()}", sys.executable, "-S", "-c", code]))
    init.chmod(0o755)
    t0 = time.monotonic()
    res = proc.run(uml.boot_argv(kernel.image, memory, init), timeout=3600, log_path=tmp.parent / "bare.log")
    alone = re.search(r"^bare-veristat-seconds: ([0-9.]+)", res.output, re.M)
    if "bpf-harness: runner exited with 0" not in res.output or not alone:
        raise SystemExit(f"bare veristat in UML failed: see {tmp.parent / 'bare.log'}")
    return time.monotonic() - t0, float(alone.group(1))


def _passes(out: Path) -> tuple[float, float]:
    """The runner's time in its main and second pass, from the cell's newest done.json."""
    done = max(out.rglob("done.json"), key=lambda p: p.stat().st_mtime)
    got = json.loads(done.read_text()).get("pass_seconds", {})
    return got.get("main", 0.0), got.get("second", 0.0)


if __name__ == "__main__":
    sys.exit(main())
