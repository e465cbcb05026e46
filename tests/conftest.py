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
