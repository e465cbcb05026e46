from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
CLANG = Path("/usr/lib/llvm-19/bin/clang")
FAKES = Path(__file__).parent / "fakes"


def data(name: str) -> Path:
    return DATA / name


def read_lines(name: str) -> list[str]:
    return data(name).read_text(encoding="utf-8", errors="replace").splitlines()


def recorded_results(name: str = "results-6.12.117.jsonl") -> list[dict]:
    return [json.loads(line) for line in read_lines(name)]


def stored_rows(name: str) -> dict[tuple[str, str], dict]:
    """Recorded guest results as the store hands them to diffs: classified, keyed by (object, program)."""
    import dataclasses
    from harness.cell import row_of
    out = {}
    for rec in recorded_results(name):
        if rec["kind"] == "result":
            r = row_of(rec)
            d = dataclasses.asdict(r)
            d.update(verdict=r.verdict.value, log="\n".join(r.log), libbpf="\n".join(r.libbpf))
            out[(r.object, r.program)] = d
    return out


@pytest.fixture
def fake_vng(monkeypatch, tmp_path):
    """Put the fake vng first on PATH; returns a setter for its mode and recordings."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shutil.copy(FAKES / "vng", bindir / "vng")
    monkeypatch.setenv("PATH", f"{bindir}:{__import__('os').environ['PATH']}")

    def configure(mode: str, console: str, results: str = "results-6.12.117.jsonl") -> None:
        monkeypatch.setenv("FAKE_VNG_MODE", mode)
        monkeypatch.setenv("FAKE_VNG_CONSOLE", str(data(console)))
        monkeypatch.setenv("FAKE_VNG_RESULTS", str(data(results)))
        monkeypatch.setenv("FAKE_VNG_PANIC_CONSOLE", str(data("console-6.12.117-panic.txt")))
        monkeypatch.setenv("FAKE_VNG_STATE", str(tmp_path / "fake-vng-state"))
    return configure


def add_corpus(store, corpus_id: str = "c1"):
    """Register a small corpus record so cells can reference it (foreign key)."""
    from pathlib import Path
    from harness.corpus import Corpus, CorpusObject
    c = Corpus(corpus_id, "test", "x86_64", "linux-source-6.12", "6.12.117-1~deb12u1", "clang 19.1.7",
               Path("/nonexistent/veristat"), "1" * 64,
               (CorpusObject("verifier_and", Path("/nonexistent/verifier_and.bpf.o"), "0" * 64, ("p",)),),
               (("broken", "progs/broken.c:1:1: error: expected ';'"),), Path("/nonexistent"))
    store.add_corpus(c)
    return c


def compile_bpf(tmp_path_factory, source: str) -> bytes:
    """Compile a BPF C snippet with the real clang (as ci/setup.sh installs it); objects are never committed."""
    import subprocess
    clang = str(CLANG) if CLANG.exists() else shutil.which("clang")
    if not clang:
        pytest.fail("clang not installed: run ci/setup.sh (clang-19); these tests compile real BPF objects")
    d = tmp_path_factory.mktemp("bpf")
    (d / "p.c").write_text(source)
    subprocess.run([clang, "-O2", "-g", "-target", "bpf", "-c", str(d / "p.c"), "-o", str(d / "p.bpf.o")], check=True)
    return (d / "p.bpf.o").read_bytes()


def recorded_61_store(path: Path):
    """A store holding the results recorded in real 6.1.190 and 6.1.192 guests (branch 6.1.y, x86_64, corpus c1),
    6.1.192's test_global_func16 expectation (``__success``) included: 6.1.192 fixed that program."""
    from harness.cell import row_of
    from harness.store import CellStatus, Store
    s = Store(path)
    add_corpus(s, "c1")
    # what progs/test_global_func16.c of 6.1.192 declares: __success
    s.db.execute("INSERT INTO expectations(corpus_id, object, program, expect, messages, regexes, log_level, flags, "
                 "arches, description, auxiliary) VALUES('c1', 'test_global_func16', 'global_func16', 'success', '[]', "
                 "'[]', NULL, '[]', '[]', NULL, 0)")
    run = s.start_run("m", "", [])
    for kid, recs, rel in (("6.1.190", "results-6.1.190-classes.jsonl", "6.1.0-54-amd64"),
                           ("6.1.192", "results-6.1.192-classes.jsonl", "6.1.0-56-amd64")):
        cid = s.start_cell(run_id=run, branch="6.1.y", kernel_id=kid, kernel_key=kid, arch="x86_64", backend="vm",
                           corpus_id="c1", release=rel, clang="clang 19.1.7", accel="tcg",
                           image=f"/cache/kernels/{kid}/vmlinux", veristat="/cache/corpus/veristat")
        for rec in recorded_results(recs):
            if rec["kind"] == "result":
                s.add_result(cid, row_of(rec))
            elif rec["kind"] == "tail":
                s.add_tail(cid, rec["object"], rec["program"], rec["tail"], rec["log_level"])
        s.finish_cell(cid, CellStatus.COMPLETE, "ok")
    return s
