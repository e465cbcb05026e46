"""The ELF reader against objects compiled here by the real clang (built objects are never committed)."""

from pathlib import Path

import pytest

from conftest import compile_bpf

from harness import elf

SRC = r"""
#define SEC(n) __attribute__((section(n), used))
static __attribute__((noinline)) int helper(int x) { return x + 1; }
SEC("xdp") int second_in_xdp(void *ctx) { return helper(1); }
SEC("tc") int only_tc(void *ctx) { return 0; }
SEC("xdp") int third_in_xdp(void *ctx) { return 2; }
SEC("socket") static int static_prog(void *ctx) { return 0; }
"""


@pytest.fixture(scope="module")
def obj(tmp_path_factory):
    return compile_bpf(tmp_path_factory, SRC)


def test_programs_in_libbpf_order(obj):
    progs = elf.programs(obj)
    # section order as clang emitted them, then offset; .text subprograms are not programs
    assert sorted(p.name for p in progs) == ["only_tc", "second_in_xdp", "static_prog", "third_in_xdp"]
    xdp = [p.name for p in progs if p.section == "xdp"]
    assert xdp == ["second_in_xdp", "third_in_xdp"]
    b = elf.BpfElf(obj)
    secs = [b.section(p.section).index for p in progs]
    assert secs == sorted(secs)


def test_corrupt_objects_are_rejected(obj):
    with pytest.raises(elf.ElfError, match="not an ELF file"):
        elf.programs(b"not elf at all" * 10)
    with pytest.raises(elf.ElfError):
        elf.programs(obj[:200])
    host = Path("/bin/true").read_bytes()
    with pytest.raises(elf.ElfError, match="is not BPF"):
        elf.programs(host)


def test_embedded_objects_are_found_as_skeletons_embed_them(obj, tmp_path):
    """A program carrying the object as data (what a libbpf skeleton header compiles to), built with gcc here:
    the object comes back byte for byte; a truncated copy, a lone magic and the host's own ELF do not count."""
    src = tmp_path / "app.c"
    body = ",".join(str(b) for b in obj)
    src.write_text(f"#include <stdio.h>\nstatic const unsigned char elf_bytes[] = {{{body}}};\n"
                   "static const unsigned char broken[] = {127, 69, 76, 70, 2, 1, 1, 0};\n"
                   "int main(void) { printf(\"%zu %p %p\\n\", sizeof(elf_bytes), (void *)elf_bytes, (void *)broken); "
                   "return 0; }\n")
    import subprocess
    subprocess.run(["gcc", "-O1", "-o", str(tmp_path / "app"), str(src)], check=True)
    data = (tmp_path / "app").read_bytes()
    assert elf.embedded_objects(data) == [obj]
    assert elf.embedded_objects(data + obj[: len(obj) // 2]) == [obj]  # a cut-off copy is no object
    assert elf.embedded_objects(obj) == []  # a plain object embeds nothing
    assert elf.embedded_objects(Path("/bin/true").read_bytes()) == []


def test_listed_files_that_yield_no_program_are_said_never_dropped(obj, tmp_path_factory):
    """Issue 28: a truncated or non-BPF file among good objects was dropped without a word, and the cell completed
    "clean" on what was left.  Each one is named with why; a glob's executables without a skeleton are not."""
    from harness.corpus import read_objects
    empty = compile_bpf(tmp_path_factory, "int not_a_program(int x) { return x; }\n")  # .text only: no program
    files = [(Path("good.bpf.o"), obj, False), (Path("cut.bpf.o"), obj[: len(obj) // 2], False),
             (Path("notes.txt"), b"just text\n" * 20, True), (Path("empty.bpf.o"), empty, False),
             (Path("tool"), Path("/bin/true").read_bytes(), False)]
    found, unreadable = read_objects(files)
    assert list(found) == ["good"]
    assert [(str(f), why) for f, why in unreadable] == [
        ("cut.bpf.o", "not a BPF object (truncated ELF: section headers run past the end) and none embedded in it"),
        ("notes.txt", "not a BPF object (not an ELF file) and none embedded in it"),
        ("empty.bpf.o", "a BPF object without programs")]
