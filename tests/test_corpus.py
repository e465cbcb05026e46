from pathlib import Path

from harness import corpus
from harness.arch import ARM64, X86_64


def test_make_argv():
    argv = corpus.make_argv(Path("/s/tools/testing/selftests/bpf"), Path("/k/vmlinux"), ["/s/x.bpf.o"], 2, True)
    assert argv == ["make", "-C", "/s/tools/testing/selftests/bpf", "-j2", "CLANG=clang", "LLC=llc",
                    "LLVM_STRIP=llvm-strip", "VMLINUX_BTF=/k/vmlinux", "-k", "/s/x.bpf.o"]


def test_extract_members():
    assert corpus.extract_members(X86_64) == ["tools", "scripts", "include", "kernel/bpf", "Makefile", "arch/x86"]
    assert corpus.extract_members(ARM64)[-2:] == ["arch/arm64", "arch/x86"]


def test_clang_short_and_corpus_id_is_content_addressed():
    assert corpus.clang_short("Debian clang version 19.1.7 (3~deb12u1)") == "19.1.7"
    a = corpus.CorpusObject("a", Path("/x/a.bpf.o"), "aa", ("p",))
    b = corpus.CorpusObject("b", Path("/y/b.bpf.o"), "bb", ("q",))
    assert corpus.corpus_id([a, b], "v", "c") == corpus.corpus_id([b, a], "v", "c")
    assert corpus.corpus_id([a, b], "v", "c") != corpus.corpus_id([a], "v", "c")
    assert corpus.corpus_id([a], "v", "c") != corpus.corpus_id([a], "v2", "c")
