import lzma
import struct
import zlib

import pytest

from harness.errors import InfraError
from harness.kernels import check_config, vmlinux
from harness.errors import UserError

ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 57 + b"Linux version 6.12.117+deb12-amd64 (debian-kernel@lists) #1 SMP" + b"\x00" * 100


def bzimage(payload: bytes, release: str) -> bytes:
    """A bzImage-shaped blob: setup header with a version string pointer, then the compressed payload."""
    img = bytearray(0x1000)
    img[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", img, 0x20E, 0x400 - 0x200)
    text = f"{release} (debian-kernel@lists) #1 SMP".encode() + b"\x00"
    img[0x400:0x400 + len(text)] = text
    return bytes(img) + b"junk\x1f\x8b" + payload + b"trailer"


@pytest.mark.parametrize("compress", [lambda d: lzma.compress(d, format=lzma.FORMAT_XZ),
                                      lambda d: zlib.compress(d, wbits=31)])
def test_extract_finds_the_elf(compress):
    img = bzimage(compress(ELF), "6.12.117+deb12-amd64")
    assert vmlinux.extract(img) == ELF
    assert vmlinux.release_from_image(img) == "6.12.117+deb12-amd64"
    assert vmlinux.release_from_image(ELF) == "6.12.117+deb12-amd64"


def test_extract_fails_clearly():
    with pytest.raises(InfraError, match="no ELF vmlinux found"):
        vmlinux.extract(b"\x00" * 4096)


def test_config_check():
    check_config("CONFIG_BPF_SYSCALL=y\nCONFIG_DEBUG_INFO_BTF=y\n", "k")
    with pytest.raises(UserError, match=r"^k: kernel config lacks CONFIG_DEBUG_INFO_BTF=y; pick a kernel built"):
        check_config("CONFIG_BPF_SYSCALL=y\n# CONFIG_DEBUG_INFO_BTF is not set\n", "k")


def test_btf_is_carved_out_of_a_flat_arm64_image(tmp_path_factory):
    """A real .BTF blob (clang-built) inside a gzip'd flat image, behind a decoy magic that does not add up."""
    from conftest import compile_bpf
    from harness.elf import BpfElf
    obj = compile_bpf(tmp_path_factory, "struct s { int a; long b; }; int f(struct s *p) { return p->a; }\n"
                                        "__attribute__((section(\"tc\"))) int g(void *c) { struct s x = {1, 2}; "
                                        "return f(&x); }\n")
    e = BpfElf(obj)
    sec = next(s for s in e.sections if s.name == ".BTF")
    btf = obj[sec.offset:sec.offset + sec.size]
    decoy = vmlinux.BTF_MAGIC + struct.pack("<IIIII", 24, 0, 8, 9999, 50)  # str_off != type_len
    image = b"ARMd" * 100 + decoy + b"\x00" * 64 + btf + b"\xff" * 256
    gz = zlib.compress(image, wbits=31)
    assert vmlinux.raw_image(gz) == image
    assert vmlinux.carve_btf(vmlinux.raw_image(gz)) == btf
    with pytest.raises(InfraError, match="CONFIG_DEBUG_INFO_BTF"):
        vmlinux.carve_btf(b"ARMd" * 100 + decoy)
