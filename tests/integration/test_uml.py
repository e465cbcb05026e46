"""The UML fast lane: a UML 6.12.113 built from Debian's linux-source (cached across runs; a cold build
took 16 min here on 2 cores while other tests ran), one `bpf-harness run` with a uml cell and a vm cell of
the same version on the 6.12.117 selftests, then `bpf-harness fidelity` on them.  6.12.113, not the
newest release: test_build.py's fixture is that release's source too, so the whole suite builds one UML
kernel from cold (they share one incremental build directory)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from integration.conftest import KERNEL as SELFTESTS, ROOT

KERNEL = "6.12.113"

pytestmark = [pytest.mark.integration]

MATRIX = f"""\
debian:
  suites: [bookworm-security]
corpora:
  fast:
    source: {SELFTESTS}
    include: [verifier_and, verifier_tailcall_jit, arena_atomics, verifier_spill_fill]
branches:
  uml:
    corpus: fast
    kernels: [{{uml: {KERNEL}}}]
  vm:
    corpus: fast
    kernels: [{KERNEL}]
vm:
  cpus: 2
"""


def test_uml_and_vm_cells_of_one_version_and_their_fidelity(tools, tmp_path):
    (tmp_path / "m.yaml").write_text(MATRIX)
    db = tmp_path / "r.db"
    cli = Path(sys.executable).parent / "bpf-harness"
    p = subprocess.run([str(cli), "run", "-m", str(tmp_path / "m.yaml"), "--db", str(db)],
                       capture_output=True, text=True, cwd=ROOT, timeout=3000)
    assert p.returncode == 0, p.stdout + p.stderr
    c = sqlite3.connect(db)
    c.row_factory = sqlite3.Row
    cells = {x["backend"]: x for x in c.execute("SELECT * FROM cells")}
    assert set(cells) == {"uml", "vm"} and all(x["status"] == "complete" for x in cells.values())
    assert cells["uml"]["accel"] == "native" and cells["uml"]["kernel_id"] == f"{KERNEL}-uml"
    assert cells["uml"]["release"] == KERNEL
    # the console is scanned for splats like a VM's: kernel lines carry timestamps (printk.time=1)
    console = Path(cells["uml"]["console_log"]).read_text()
    assert "] Run " in console and "] reboot: Power down" in console
    assert not c.execute("SELECT * FROM findings").fetchall()
    # both guests serve libbpf the kernel's BTF from a tmpfs copy (one read, not a page per read)
    started = {d.parent.parent.name: json.loads(d.read_text()) for d in tmp_path.glob("runs/*/*/rw/started.json")}
    assert len(started) == 2 and all("vmlinux BTF" in s["scratch"] and s["scratch"].endswith("staged there")
                                     for s in started.values()), started
    done = json.loads(next(tmp_path.glob("runs/*/*uml*/rw/done.json")).read_text())
    assert done["pass_seconds"]["main"] > 0 and done["pass_seconds"]["second"] > 0  # rejected programs' tails
    r = {(x["object"], x["program"]): x for x in c.execute("SELECT * FROM results WHERE cell_id=?", (cells["uml"]["id"],))}
    ok = r[("verifier_and", "known_subreg_with_unknown_reg")]
    assert ok["verdict"] == "success" and ok["insns"] > 0
    assert r[("verifier_and", "invalid_range_check")]["error"] == "R0 max value is outside of the allowed memory range"
    assert r[("verifier_tailcall_jit", "main")]["error"] == \
        "tail_calls are not allowed in non-JITed programs with bpf-to-bpf calls"
    out = subprocess.run([str(cli), "fidelity", "--db", str(db)], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "identical (verdict and insns): " in text and "not-covered: " in text
    assert "identical (verdict and insns): 38/47 (80.9%)" in text and "not-covered: 8" in text
    assert "no-JIT tail call in subprograms: 1" in text and "arena/mmap [not-covered]: 8" in text
    # spill_fill's raw_tp programs reach the verifier (BPF_EVENTS, patch 0002; 33/47 without it)
    assert "program type unavailable" not in text
    raw_tp = r[("verifier_spill_fill", "partial_stack_load_preserves_zeros")]
    assert raw_tp["verdict"] == "success" and raw_tp["insns"] > 0
    # the two backends are never diffed against each other
    rep = subprocess.run([str(cli), "report", "-m", str(tmp_path / "m.yaml"), "--db", str(db), "--format", "json",
                          "-o", str(tmp_path / "r.json")], capture_output=True, text=True, cwd=ROOT)
    assert rep.returncode == 0, rep.stderr
    assert json.loads((tmp_path / "r.json").read_text())["pairs"] == []
