from pathlib import Path
import shutil
import sys

from harness.cli import main
from harness.store import CellStatus, ResultRow, Store, Verdict
from conftest import add_corpus

ROOT = Path(__file__).resolve().parent.parent


def test_validate_ok_and_bad(tmp_path, capsys):
    assert main(["validate", str(ROOT / "configs" / "default.yaml")]) == 0
    assert "ok: 2 branch(es), 4 kernel(s), 6 cell(s)" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("branches:\n  a:\n    kernels: [6.1.1]\n    arches: [x86_64, sparc]\n")
    assert main(["validate", str(bad)]) == 2
    assert capsys.readouterr().err == f"bpf-harness: error: {bad}:4: branch a: arches: unknown arch 'sparc'; valid: x86_64, arm64\n"
    assert main(["validate", str(tmp_path / "missing.yaml")]) == 2


def test_usage_errors_exit_2(tmp_path, capsys):
    assert main([]) == 2
    assert main(["run", "--bogus"]) == 2
    assert main(["run", "-m", str(ROOT / "configs" / "default.yaml"), "--cell", "9.9.9/x86_64",
                 "--db", str(tmp_path / "r.db")]) == 2
    assert "no cell '9.9.9/x86_64'" in capsys.readouterr().err
    assert main(["results", "--db", str(tmp_path / "none.db")]) == 2


def test_git_kernel_with_a_tree_that_is_not_a_repository_exits_2_in_run_and_validate(tmp_path, capsys):
    m = tmp_path / "g.yaml"
    m.write_text(f"corpora: {{c: {{source: 6.12.117}}}}\nbranches:\n  dev:\n    corpus: c\n    kernels:\n"
                 f"      - {{id: g, git: {{tree: {tmp_path}, commit: v6.13}}}}\n")
    assert main(["run", "-m", str(m), "--db", str(tmp_path / "r.db"), "--cache", str(tmp_path / "cache")]) == 2
    assert f"{tmp_path} is not a git repository" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()  # refused before any download or build
    # validate says what run will say (issue 18: it printed "ok")
    assert main(["validate", str(m)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and f"{tmp_path} is not a git repository" in captured.err


def test_results_table(tmp_path, capsys):
    s = Store(tmp_path / "r.db")
    add_corpus(s)
    cid = s.start_cell(run_id=s.start_run("m", "", []), branch="6.12.y", kernel_id="6.12.117", kernel_key="k",
                       arch="x86_64", backend="vm", corpus_id="c1", accel="tcg", release="6.12.117+deb12-amd64",
                       clang="clang 19")
    s.add_result(cid, ResultRow("verifier_and", "ok_prog", Verdict.SUCCESS, insns=7))
    s.add_result(cid, ResultRow("verifier_and", "bad", Verdict.FAILURE, failure_class="verifier",
                                error="R0 max value is outside of the allowed memory range"))
    s.add_result(cid, ResultRow("verifier_loops1", "slow", Verdict.TIMEOUT))
    s.finish_cell(cid, CellStatus.COMPLETE, "ok", seconds=61.0, boot_s=11.5)
    assert main(["results", "--db", str(tmp_path / "r.db")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["cell", "status", "accel", "boot", "time", "programs", "verified", "rejected",
                              "load-fail", "timeout", "crash", "not-run", "unexpected"]
    assert out[2].split() == ["6.12.117/x86_64", "complete", "tcg", "11.5s", "61.0s", "3", "1", "1", "0", "1", "0", "0", "0"]
    assert "  verifier_and/bad  verifier  R0 max value is outside of the allowed memory range" in out
    assert "  verifier_loops1/slow  timeout  " in [ln for ln in out]


def test_diff_of_uml_cells_counts_what_uml_did_not_verify_apart_and_refuses_uml_vs_vm(tmp_path, capsys):
    from harness.cell import row_of
    from conftest import recorded_results
    s = Store(tmp_path / "r.db")
    add_corpus(s)
    run = s.start_run("m", "", [])
    for kid, backend, recs in (("6.12.115-uml", "uml", "results-6.12.117-uml-screen.jsonl"),
                               ("6.12.117-uml", "uml", "results-6.12.117-uml-screen.jsonl"),
                               ("6.12.117", "vm", "results-6.12.117-vm-screen.jsonl")):
        cid = s.start_cell(run_id=run, branch="b", kernel_id=kid, kernel_key=kid, arch="x86_64", backend=backend,
                           corpus_id="c1", release=kid.removesuffix("-uml"), clang="clang 19", accel="native",
                           image="/k", veristat="/v")
        for rec in recorded_results(recs):
            s.add_result(cid, row_of(rec))
        s.finish_cell(cid, CellStatus.COMPLETE, "ok")
    s.close()
    assert main(["diff", "--db", str(tmp_path / "r.db"), "6.12.115-uml", "6.12.117-uml"]) == 0
    assert "unchanged: 3  not covered by UML (verified on neither side): 8" in capsys.readouterr().out
    assert main(["diff", "--db", str(tmp_path / "r.db"), "6.12.117-uml", "6.12.117"]) == 2
    assert "a UML and a VM cell (compare them with `bpf-harness fidelity`)" in capsys.readouterr().err
    # which is what fidelity does, from the same store
    assert main(["fidelity", "--db", str(tmp_path / "r.db"), "6.12.117-uml", "6.12.117"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "fidelity: UML 6.12.117-uml (6.12.117) vs VM 6.12.117 (6.12.117), corpus c1"
    assert out[1:4] == ["  identical (verdict and insns): 1/11 (9.1%)",
                        "  the verifier's answer identical (a refusal for want of a JIT after the verifier accepted "
                        "counts as its acceptance): 1/11 (9.1%)",
                        "  covered (verified in UML): 3/11 (27.3%); not-covered: 7 (verified in the VM, not in UML); "
                        "1 verified in neither"]
    assert "  no-JIT kfunc call [not-covered]: 2" in out
    assert main(["fidelity", "--db", str(tmp_path / "r.db"), "6.12.117", "6.12.117-uml"]) == 2  # VM first: refused


def test_a_missing_busybox_stops_the_run_before_any_download(tmp_path, capsys, monkeypatch):
    """vng builds the initramfs of a Debian kernel with the host's busybox: without one every boot died."""
    bin_dir = tmp_path / "bin"  # qemu present, busybox absent
    bin_dir.mkdir()
    for tool in ("qemu-system-x86_64", "vng"):
        real = shutil.which(tool) or str(Path(sys.executable).parent / tool)
        (bin_dir / tool).symlink_to(real)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))  # vng's dir is the only other PATH entry
    m = tmp_path / "m.yaml"
    m.write_text("corpora: {c: {source: 6.12.117}}\nbranches:\n  b:\n    corpus: c\n    kernels: [6.12.117]\n")
    cache = tmp_path / "cache"
    assert main(["run", "-m", str(m), "--db", str(tmp_path / "r.db"), "--cache", str(cache)]) == 3
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == ("bpf-harness: error: busybox not found on PATH; vng needs it for the "
                                            "guest's initramfs: apt-get install busybox-static")
    assert not any(p.is_file() for p in cache.rglob("*"))  # nothing fetched


def test_a_store_that_is_not_ours_is_one_line_and_exit_2(tmp_path, capsys):
    """Issue 12: `results --db notes.txt` was a traceback and exit 1 (the code for regressions)."""
    import sqlite3
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes, not a database\n" * 50)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE photos(id INTEGER)").connection.commit()
    for db in (notes, other):
        for argv in (["results"], ["diff", "6.1.190", "6.1.192"], ["report", "--format", "md", "-o",
                                                                   str(tmp_path / "r.md")]):
            assert main([*argv, "--db", str(db)]) == 2, argv
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and err.startswith(f"bpf-harness: error: {db}: ") and "Traceback" not in err
            assert "not a bpf-harness results store" in err
    assert notes.read_text().startswith("my notes") and \
        [r[0] for r in sqlite3.connect(other).execute("SELECT name FROM sqlite_master")] == ["photos"]


def test_a_bug_is_exit_3_never_1(tmp_path, capsys, monkeypatch):
    """An unexpected exception ended as a traceback with Python's exit 1, the code for "regressions found"."""
    from harness import cli
    monkeypatch.setattr(cli, "cmd_validate", lambda args: 1 / 0)
    assert main(["validate", str(ROOT / "configs" / "default.yaml")]) == 3
    err = capsys.readouterr().err
    assert "Traceback" in err and err.rstrip().splitlines()[-1] == (
        "bpf-harness: internal error (a bug in bpf-harness, please report it with the traceback above): "
        "ZeroDivisionError: division by zero")


def test_bisect_backend_auto_takes_uml_only_where_the_fast_lane_verified_the_program(tmp_path):
    """Results as a UML 6.12.113 cell recorded them (tests/integration/test_build.py)."""
    from harness.bisect import choose_backend
    s = Store(tmp_path / "r.db")
    add_corpus(s)
    run = s.start_run("m", "", [])
    cid = s.start_cell(run_id=run, branch="b", kernel_id="6.12.113-uml", kernel_key="k", arch="x86_64",
                       backend="uml", corpus_id="c1")
    s.add_result(cid, ResultRow("exceptions_fail", "reject_subprog_with_rcu_read_lock", Verdict.FAILURE,
                                failure_class="verifier", insns=12,
                                error="calling kernel functions are not allowed in non-JITed programs"))
    s.add_result(cid, ResultRow("exceptions_fail", "reject_with_rcu_read_lock", Verdict.FAILURE,
                                failure_class="verifier", insns=3, error="bpf_rcu_read_unlock is missing"))
    s.finish_cell(cid, CellStatus.COMPLETE, "ok")
    s.close()
    db = tmp_path / "r.db"
    assert choose_backend(db, [("exceptions_fail", "reject_with_rcu_read_lock")]) == "uml"
    assert choose_backend(db, [("exceptions_fail", "reject_with_rcu_read_lock"),
                               ("exceptions_fail", "reject_subprog_with_rcu_read_lock")]) == "vm"
    assert choose_backend(db, [("exceptions_fail", "not_in_the_store")]) == "vm"
    assert choose_backend(tmp_path / "none.db", [("a", "b")]) == "vm"


def test_bisect_backend_auto_follows_fidelity_when_the_store_has_a_vm_cell_of_the_release(tmp_path):
    """With a VM cell of the same release and corpus beside the UML cell, what fidelity measured decides: a
    program UML's verifier accepted as the VM did (then refused for want of a JIT) is judged by UML; one whose
    answer differs from the VM's is not, though UML alone would have looked fine.  Results as the UML and VM
    6.12.113 cells of the fast-lane corpus recorded them."""
    from harness.bisect import choose_backend
    s = Store(tmp_path / "r.db")
    add_corpus(s)
    run = s.start_run("m", "", [])
    prog = ("exceptions", "exception_assert_nz_gfunc")
    lsm = ("verifier_lsm", "bool_retval_test3")
    same = ("exceptions_fail", "reject_with_rcu_read_lock")
    cells = {}
    for backend, kid in (("uml", "6.12.113-uml"), ("vm", "6.12.113")):
        cells[backend] = s.start_cell(run_id=run, branch=backend, kernel_id=kid, kernel_key=kid, arch="x86_64",
                                      backend=backend, corpus_id="c1", package_version="6.12.113-1~deb12u1")
        s.add_result(cells[backend], ResultRow(*same, Verdict.FAILURE, failure_class="verifier", insns=3,
                                               error="bpf_rcu_read_unlock is missing"))
    s.add_result(cells["uml"], ResultRow(*prog, Verdict.FAILURE, failure_class="verifier", insns=11,
                                         error="calling kernel functions are not allowed in non-JITed programs"))
    s.add_result(cells["vm"], ResultRow(*prog, Verdict.SUCCESS, insns=11))
    # UML alone reads as a plain verifier rejection; the VM says it is not the same answer
    s.add_result(cells["uml"], ResultRow(*lsm, Verdict.FAILURE, failure_class="verifier", insns=2,
                                         error="At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]"))
    s.add_result(cells["vm"], ResultRow(*lsm, Verdict.FAILURE, failure_class="verifier", insns=4,
                                        error="At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]"))
    for c in cells.values():
        s.finish_cell(c, CellStatus.COMPLETE, "ok")
    s.close()
    db = tmp_path / "r.db"
    assert choose_backend(db, [prog, same]) == "uml"
    assert choose_backend(db, [prog, lsm]) == "vm"
    assert choose_backend(db, [lsm]) == "vm"
