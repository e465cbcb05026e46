"""A local kernel (the developer loop: rebuild, run again) is identified by its image's content."""

from harness.arch import X86_64
from harness.kernels import local
from harness.matrix import parse


def spec(tmp_path):
    image = tmp_path / "linux" / "vmlinux"
    m = parse(f"corpora: {{c: {{source: 6.12.117}}}}\nbranches:\n  dev:\n    corpus: c\n    kernels:\n"
              f"      - {{id: mine, local: {{image: {image}}}}}\n", "m.yaml")
    return m.kernels()[0], image


def test_a_rebuilt_image_at_the_same_path_is_another_kernel(tmp_path):
    s, image = spec(tmp_path)
    image.parent.mkdir()
    # an ELF vmlinux with its banner, as a kernel build leaves it
    image.write_bytes(b"\x7fELF" + b"\0" * 60 + b"Linux version 6.13.0-rc1 (dev@box) #1 SMP\0")
    first = local.fetch(s, X86_64, tmp_path / "cache")
    assert first.release == "6.13.0-rc1" and first.key.startswith("mine@sha256:")
    assert local.fetch(s, X86_64, tmp_path / "cache").key == first.key  # same bytes: same kernel, skipped
    image.write_bytes(b"\x7fELF" + b"\0" * 60 + b"Linux version 6.13.0-rc1 (dev@box) #2 SMP\0")  # rebuilt
    again = local.fetch(s, X86_64, tmp_path / "cache")
    assert again.image == first.image and again.key != first.key
