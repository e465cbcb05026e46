#!/usr/bin/env python3
"""Benchmark cells on a remote host over SSH against local cells (issue 16).

A real OpenSSH server on this machine (tests/sshd.py) is the host, so the network is loopback and what
is measured is the harness's own cost: uploads (paramiko, one tar stream each) and per-cell overhead.
Prints, measured in this one run:
  - upload cold: kernel tree, corpus, guest runner into an empty remote cache (seconds, MB);
  - upload warm: the same again (must send 0 bytes);
  - one cell here vs the same cell on the host (uploads warm), and their ratio.

Usage: .venv/bin/python ci/bench_remote.py [--kernel 6.12.117] [--include verifier_and ...]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

top = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(top))
sys.path.insert(0, str(top / "tests"))

from harness import cache, matrix  # noqa: E402
from harness.remote import Connection, Stage  # noqa: E402
from harness.engine import Context, Engine, Preparer  # noqa: E402
from sshd import Sshd  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", default="6.12.117")
    ap.add_argument("--include", nargs="+", default=["verifier_and", "verifier_bswap", "verifier_sdiv"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-remote-") as tmp:
        d = Path(tmp)
        (d / "sshd").mkdir()
        server = Sshd(d / "sshd")
        try:
            text = (f"debian:\n  suites: [bookworm-security]\ncorpora:\n  c:\n    source: {args.kernel}\n"
                    f"    include: [{', '.join(args.include)}]\nbranches:\n  b:\n    corpus: c\n"
                    f"    kernels: [{args.kernel}]\nvm:\n  cpus: 2\n  memory: 2G\n  program_timeout: 60\n")
            (d / "local.yaml").write_text(text)
            (d / "remote.yaml").write_text(text + server.matrix_hosts())
            m = matrix.load(d / "local.yaml")
            cell = m.cells()[0]
            prep = Preparer(m, cache.root())
            kernel, corpus = prep.kernel(cell.kernel, "x86_64"), prep.corpus(cell)
            with Connection(server.host()) as conn:
                for what in ("cold", "warm"):
                    stage = Stage(conn)
                    t0 = time.monotonic()
                    stage.kernel(kernel)
                    stage.corpus(corpus, [o.path for o in corpus.objects])
                    stage.runner()
                    print(f"upload {what}: {time.monotonic() - t0:.1f} s, {stage.sent / 1e6:.1f} MB")
            seconds = {}
            for name in ("local", "remote"):
                t0 = time.monotonic()
                summary = Engine(matrix.load(d / f"{name}.yaml"), d / name / "results.db",
                                 Context.make(jobs=1 if name == "local" else 0)).run()
                seconds[name] = time.monotonic() - t0
                (o,) = summary.outcomes
                boot = sqlite3.connect(d / name / "results.db").execute("SELECT boot_s FROM cells").fetchone()[0]
                print(f"cell {name}: {seconds[name]:.1f} s ({o.status.value}, {o.programs} programs, boot {boot:.1f} s)")
            print(f"remote/local ratio: {seconds['remote'] / seconds['local']:.2f} "
                  f"(overhead {seconds['remote'] - seconds['local']:+.1f} s per cell, uploads warm)")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
