"""A real Debian arm64 kernel under qemu TCG, in a root unpacked from Debian arm64 packages, verifying
real arm64-built selftest objects with a cross-built static veristat."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from integration.conftest import KERNEL, ROOT

pytestmark = [pytest.mark.integration]

MATRIX = f"""\
debian:
  suites: [bookworm-security]
corpora:
  arm:
    source: {KERNEL}
    include: [verifier_and, verifier_spill_fill, verifier_kfunc_prog_types, arena_atomics]
branches:
  6.12.y:
    corpus: arm
    kernels: [{KERNEL}]
    arches: [x86_64, arm64]
vm:
  cpus: 2
"""


@pytest.fixture
def out_in_checkout(tmp_path):
    """A results directory inside the checkout, where the README's main command puts bpf-harness-out/: an arm64
    guest gets the checkout's files only as mounts, and a read-only one once hid the results directory (issue 12)."""
    import shutil
    d = ROOT / ".test-out" / tmp_path.name
    d.mkdir(parents=True)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_arm64_cell_verifies_arm64_objects_beside_x86_64(tools, tmp_path, out_in_checkout):
    if not Path("/usr/bin/qemu-system-aarch64").exists():
        pytest.fail("qemu-system-aarch64 missing: run ci/setup.sh (qemu-system-arm)")
    (tmp_path / "m.yaml").write_text(MATRIX)
    db = out_in_checkout / "r.db"
    cli = Path(sys.executable).parent / "bpf-harness"
    p = subprocess.run([str(cli), "run", "-m", str(tmp_path / "m.yaml"), "--db", str(db), "--cell", f"{KERNEL}/arm64"],
                       capture_output=True, text=True, cwd=ROOT, timeout=1800)
    assert p.returncode == 0, p.stdout + p.stderr
    c = sqlite3.connect(db)
    c.row_factory = sqlite3.Row
    (cell,) = c.execute("SELECT * FROM cells").fetchall()  # only the cell asked for
    assert (cell["arch"], cell["accel"], cell["status"]) == ("arm64", "tcg", "complete")
    assert cell["release"] == f"{KERNEL}+deb12-arm64" and "--arch arm64 --root" in cell["reproducer"]
    assert not c.execute("SELECT * FROM findings").fetchall()  # a clean poweroff, no panic at the end
    r = {(x["object"], x["program"]): x for x in c.execute("SELECT * FROM results")}
    assert len(r) == 50 + sum(1 for k in r if k[0] == "arena_atomics") and len(r) > 50
    ok = r[("verifier_and", "known_subreg_with_unknown_reg")]
    assert ok["verdict"] == "success" and ok["insns"] > 0
    bad = r[("verifier_and", "invalid_range_check")]
    assert (bad["verdict"], bad["error"], bad["msg_check"]) == (
        "failure", "R0 max value is outside of the allowed memory range", "matched")
    assert r[("verifier_spill_fill", "partial_stack_load_preserves_zeros")]["msg_check"] == "matched"
    assert sum(x["insns"] or 0 for x in r.values()) > 0
    # the objects are arm64 builds (their own corpus, never mixed with x86_64's)
    corpus = c.execute("SELECT * FROM corpora").fetchone()
    assert corpus["arch"] == "arm64"
    (veristat,) = Path(corpus["build_dir"]).glob("veristat-arm64-*/veristat")
    head = veristat.read_bytes()[:20]
    assert head[:4] == b"\x7fELF" and int.from_bytes(head[18:20], "little") == 183  # EM_AARCH64
    # the root records what it is made of
    root = Path(cell["reproducer"].split("--root ")[1].split()[0])
    contents = json.loads((root.parent / "contents.json").read_text())
    assert contents["arch"] == "arm64" and any(p.startswith("python3.11-minimal=") for p in contents["packages"])
    # the same kernel on x86_64: identical verdicts and insns, except where the JIT decides.  6.12's
    # arm64 JIT cannot do atomics on arena memory, so the verifier rejects what x86_64 accepts.
    p = subprocess.run([str(cli), "run", "-m", str(tmp_path / "m.yaml"), "--db", str(db), "--cell", f"{KERNEL}/x86_64"],
                       capture_output=True, text=True, cwd=ROOT, timeout=1800)
    assert p.returncode == 0, p.stdout + p.stderr
    cells = {x["arch"]: x["id"] for x in c.execute("SELECT * FROM cells")}
    by_arch = {arch: {(x["object"], x["program"]): x for x in c.execute("SELECT * FROM results WHERE cell_id=?", (cid,))}
               for arch, cid in cells.items()}
    differ = {k for k in by_arch["arm64"] if by_arch["arm64"][k]["verdict"] != by_arch["x86_64"][k]["verdict"]}
    assert differ and all(obj == "arena_atomics" for obj, _ in differ)
    add = ("arena_atomics", "add")
    assert by_arch["x86_64"][add]["verdict"] == "success" and by_arch["x86_64"][add]["insns"] > 0
    assert (by_arch["arm64"][add]["verdict"], by_arch["arm64"][add]["error"]) == (
        "failure", "BPF_ATOMIC stores into R2 arena is not allowed")
    same = [k for k in by_arch["arm64"] if k[0] != "arena_atomics"]
    assert all(by_arch["arm64"][k]["insns"] == by_arch["x86_64"][k]["insns"] for k in same)
    # results appear beside x86_64 ones
    out = subprocess.run([str(cli), "results", "--db", str(db)], capture_output=True, text=True, cwd=ROOT)
    assert f"{KERNEL}/arm64" in out.stdout and f"{KERNEL}/x86_64" in out.stdout
    # Issue 18: the reproducer a report prints for a program runs as printed, on either arch
    import os
    from harness import vm
    from harness.report import model
    from harness.store import Store
    s = Store(db)
    for arch in ("arm64", "x86_64"):
        cmd = model.reproducer(s, s.latest_cell(KERNEL, arch).to_dict(), "verifier_and", "invalid_range_check")
        assert ("--arch arm64" in cmd) == (arch == "arm64"), cmd
        p = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=900,
                           env={**os.environ, **vm.vng_env()}, stdin=subprocess.DEVNULL)
        out = p.stdout + p.stderr
        assert "verifier_and.bpf.o/invalid_range_check" in out and "VERDICT: failure" in out, (arch, cmd, out[-3000:])
        assert "R0 max value is outside of the allowed memory range" in out, (arch, out[-3000:])
    s.close()
