"""A small pure reader for BPF ELF objects: sections, symbols, programs.

Programs are listed the way libbpf enumerates them (``bpf_object__for_each_program``):
function symbols in executable sections other than ``.text`` (those are
subprograms), ordered by section index and offset.
"""

from __future__ import annotations

import dataclasses
import struct

SHF_EXECINSTR = 0x4
STT_FUNC = 2
SHT_SYMTAB = 2
EM_BPF = 247


class ElfError(ValueError):
    """Not a readable 64-bit little-endian BPF ELF object."""


@dataclasses.dataclass(frozen=True)
class Section:
    index: int
    name: str
    type: int
    flags: int
    offset: int
    size: int
    link: int


@dataclasses.dataclass(frozen=True)
class Symbol:
    name: str
    type: int
    bind: int
    shndx: int
    value: int
    size: int


@dataclasses.dataclass(frozen=True)
class Program:
    name: str
    section: str


class BpfElf:
    def __init__(self, data: bytes):
        if len(data) < 64 or data[:4] != b"\x7fELF":
            raise ElfError("not an ELF file")
        if data[4] != 2 or data[5] != 1:
            raise ElfError("not a 64-bit little-endian ELF")
        self.data = data
        (e_machine,) = struct.unpack_from("<H", data, 18)
        if e_machine != EM_BPF:
            raise ElfError(f"ELF machine {e_machine} is not BPF ({EM_BPF})")
        e_shoff, = struct.unpack_from("<Q", data, 40)
        e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", data, 58)
        if e_shoff + e_shnum * e_shentsize > len(data) or e_shstrndx >= max(e_shnum, 1):
            raise ElfError("truncated ELF: section headers run past the end")
        raw = []
        for i in range(e_shnum):
            name, typ, flags, _addr, off, size, link, _info, _align, _entsz = struct.unpack_from(
                "<IIQQQQIIQQ", data, e_shoff + i * e_shentsize)
            raw.append((name, typ, flags, off, size, link))
        shstr = raw[e_shstrndx]
        self.sections = [Section(i, self._str(shstr[3], shstr[4], r[0]), r[1], r[2], r[3], r[4], r[5])
                         for i, r in enumerate(raw)]

    def _str(self, table_off: int, table_size: int, idx: int) -> str:
        if idx >= table_size:
            raise ElfError("string index out of range")
        start = table_off + idx
        end = self.data.find(b"\x00", start, table_off + table_size)
        if end == -1:
            raise ElfError("unterminated string")
        return self.data[start:end].decode("utf-8", "replace")

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)

    def section_bytes(self, sec: Section) -> bytes:
        if sec.offset + sec.size > len(self.data):
            raise ElfError(f"truncated ELF: section {sec.name} runs past the end")
        return self.data[sec.offset:sec.offset + sec.size]

    def symbols(self) -> list[Symbol]:
        symtab = next((s for s in self.sections if s.type == SHT_SYMTAB), None)
        if symtab is None:
            return []
        strtab = self.sections[symtab.link]
        body = self.section_bytes(symtab)
        out = []
        for off in range(0, len(body) - len(body) % 24, 24):
            name, info, _other, shndx, value, size = struct.unpack_from("<IBBHQQ", body, off)
            out.append(Symbol(self._str(strtab.offset, strtab.size, name) if name else "",
                              info & 0xF, info >> 4, shndx, value, size))
        return out

    def programs(self) -> list[Program]:
        found = []
        for sym in self.symbols():
            if sym.type != STT_FUNC or not (0 < sym.shndx < len(self.sections)):
                continue
            sec = self.sections[sym.shndx]
            if not sec.flags & SHF_EXECINSTR or sec.name == ".text" or sec.size == 0:
                continue
            found.append((sym.shndx, sym.value, Program(sym.name, sec.name)))
        return [p for _, _, p in sorted(found, key=lambda t: (t[0], t[1]))]


def programs(data: bytes) -> list[Program]:
    return BpfElf(data).programs()


SHT_NOBITS = 8


def embedded_objects(data: bytes) -> list[bytes]:
    """BPF ELF objects embedded in another file, as libbpf skeletons embed theirs in a program (pure): every
    ``\\x7fELF`` whose header says 64-bit little-endian BPF, cut at the end of its last section or section
    header table, and kept only when it parses with its programs."""
    out, at = [], data.find(b"\x7fELF", 1 if data[:4] == b"\x7fELF" else 0)
    while at != -1:
        end = _object_end(data, at)
        if end is not None:
            blob = data[at:end]
            try:
                if BpfElf(blob).programs():
                    out.append(blob)
                    at = data.find(b"\x7fELF", end)
                    continue
            except ElfError:
                pass
        at = data.find(b"\x7fELF", at + 4)
    return out


def _object_end(data: bytes, at: int) -> int | None:
    if at + 64 > len(data) or data[at + 4] != 2 or data[at + 5] != 1:
        return None
    (machine,) = struct.unpack_from("<H", data, at + 18)
    if machine != EM_BPF:
        return None
    (shoff,) = struct.unpack_from("<Q", data, at + 40)
    shentsize, shnum = struct.unpack_from("<HH", data, at + 58)
    end = shoff + shnum * shentsize
    if shentsize != 64 or not shnum or at + end > len(data):
        return None
    for i in range(shnum):
        _n, typ, _f, _a, off, size = struct.unpack_from("<IIQQQQ", data, at + shoff + i * 64)
        if typ != SHT_NOBITS:
            end = max(end, off + size)
    return at + end if at + end <= len(data) else None
