"""A small pure reader for the .BTF section of BPF objects: function names and their decl tags.

Only what expectation reading needs: every FUNC's name and the
``btf_decl_tag`` strings attached to the function itself (component_idx -1),
in BTF order.
"""

from __future__ import annotations

import struct

from harness.elf import BpfElf, ElfError

BTF_MAGIC = 0xEB9F
KIND_FUNC = 12
KIND_DECL_TAG = 17
# bytes following the 12-byte common header, per kind: fixed part and per-vlen part
_EXTRA = {1: (4, 0), 3: (12, 0), 4: (0, 12), 5: (0, 12), 6: (0, 8), 13: (0, 8), 14: (4, 0),
          15: (0, 12), 17: (4, 0), 19: (0, 12)}


class BtfError(ValueError):
    """The .BTF section is missing or malformed."""


def _types(btf: bytes) -> tuple[list[tuple[int, int, int, int, int]], bytes]:
    """[(kind, name_off, vlen, type, component_idx)] indexed from type id 1, and the string section."""
    if len(btf) < 24:
        raise BtfError("truncated .BTF header")
    magic, _version, _flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from("<HBBIIIII", btf, 0)
    if magic != BTF_MAGIC:
        raise BtfError(f"bad .BTF magic {magic:#x}")
    tstart, sstart = hdr_len + type_off, hdr_len + str_off
    if tstart + type_len > len(btf) or sstart + str_len > len(btf):
        raise BtfError("truncated .BTF section")
    strings = btf[sstart:sstart + str_len]
    out = []
    pos, end = tstart, tstart + type_len
    while pos < end:
        name_off, info, size_or_type = struct.unpack_from("<III", btf, pos)
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        fixed, per = _EXTRA.get(kind, (0, 0))
        comp = struct.unpack_from("<i", btf, pos + 12)[0] if kind == KIND_DECL_TAG else 0
        out.append((kind, name_off, vlen, size_or_type, comp))
        pos += 12 + fixed + per * vlen
    if pos != end:
        raise BtfError("malformed .BTF type section")
    return out, strings


def _str(strings: bytes, off: int) -> str:
    end = strings.find(b"\x00", off)
    return strings[off:end if end != -1 else len(strings)].decode("utf-8", "replace")


def func_tags(btf: bytes) -> dict[str, list[str]]:
    """{function name: [decl tag strings on the function, in BTF order]} (pure)."""
    types, strings = _types(btf)
    tags: dict[str, list[str]] = {}
    for kind, name_off, _vlen, target, comp in types:
        if kind != KIND_DECL_TAG or comp != -1 or not 1 <= target <= len(types):
            continue
        tkind, tname, *_ = types[target - 1]
        if tkind == KIND_FUNC:
            tags.setdefault(_str(strings, tname), []).append(_str(strings, name_off))
    return tags


def object_func_tags(data: bytes) -> dict[str, list[str]]:
    """Decl tags of every function of a BPF ELF object; {} if it has no .BTF."""
    try:
        elf = BpfElf(data)
        sec = elf.section(".BTF")
        return func_tags(elf.section_bytes(sec)) if sec else {}
    except ElfError as e:
        raise BtfError(str(e)) from None
