"""Per-architecture facts, in one place, as frozen records.

Everything that differs between x86_64 and arm64 lives here: the qemu binary,
the Debian package naming, the kernel image name, the clang target flags.
"""

from __future__ import annotations

import dataclasses
import os
import re

from harness.errors import UserError


@dataclasses.dataclass(frozen=True)
class Arch:
    name: str
    """Our name for the arch, as written in matrix files (``x86_64``, ``arm64``)."""
    debian: str
    """Debian architecture (``dpkg --print-architecture``)."""
    vng_arch: str
    """What ``vng --arch`` calls it."""
    qemu: str
    """qemu system emulator binary."""
    qemu_package: str
    """The Debian package that ships it."""
    kernel_flavour: str
    """Debian kernel flavour suffix in package names (``amd64``, ``arm64``)."""
    image_prefix: str
    """Kernel image file name prefix under ``/boot`` in the Debian package."""
    bpf_target_arch: str
    """Value for ``-D__TARGET_ARCH_*`` in the selftests build (``SRCARCH``)."""
    make_arch: str
    """``ARCH=`` for kernel makefiles."""
    boots_uncompressed: bool
    """Whether the uncompressed vmlinux can be booted directly (faster under TCG)."""
    kvm_cpu_flags: tuple[str, ...]
    """/proc/cpuinfo flags that show hardware virtualization is usable."""
    clang_triple: str
    """``clang --target`` for userspace binaries (a cross-built veristat), Debian's multiarch triple."""
    image_is_elf: bool
    """The compressed image wraps an ELF vmlinux (x86 bzImage); arm64's is a flat ``Image``."""
    selftest_name: str
    """The name ``__arch(...)`` gives it in the selftests (``comment:test_arch=X86_64``)."""
    efficient_unaligned_access: bool
    """``CONFIG_HAVE_EFFICIENT_UNALIGNED_ACCESS``: the verifier is strict about alignment only if asked."""

    def image_package_patterns(self) -> tuple[re.Pattern[str], ...]:
        """Package-name patterns for a stock kernel image, preferred first.

        The unsigned image is the same kernel as the signed one without the
        Secure Boot wrapper; either boots under qemu.
        """
        f = re.escape(self.kernel_flavour)
        return (
            re.compile(rf"^linux-image-(?P<abi>[0-9][^ ]*?)-{f}-unsigned$"),
            re.compile(rf"^linux-image-(?P<abi>[0-9][^ ]*?)-{f}$"),
        )


X86_64 = Arch(
    name="x86_64",
    debian="amd64",
    vng_arch="x86_64",
    qemu="qemu-system-x86_64",
    qemu_package="qemu-system-x86",
    kernel_flavour="amd64",
    image_prefix="vmlinuz-",
    bpf_target_arch="x86",
    make_arch="x86",
    boots_uncompressed=True,
    kvm_cpu_flags=("vmx", "svm"),
    clang_triple="x86_64-linux-gnu",
    image_is_elf=True,
    selftest_name="X86_64",
    efficient_unaligned_access=True,
)

ARM64 = Arch(
    name="arm64",
    debian="arm64",
    vng_arch="arm64",
    qemu="qemu-system-aarch64",
    qemu_package="qemu-system-arm",
    kernel_flavour="arm64",
    image_prefix="vmlinuz-",
    bpf_target_arch="arm64",
    make_arch="arm64",
    boots_uncompressed=False,
    kvm_cpu_flags=(),
    clang_triple="aarch64-linux-gnu",
    image_is_elf=False,
    selftest_name="ARM64",
    efficient_unaligned_access=True,
)

ARCHES: dict[str, Arch] = {a.name: a for a in (X86_64, ARM64)}
SUPPORTED: tuple[str, ...] = ("x86_64", "arm64")
"""Arches whose cells can run (arm64 under TCG on an x86_64 host, in its own Debian root)."""


def host_arch() -> Arch | None:
    """The arch this machine runs natively, if it is one we know."""
    machine = os.uname().machine
    return next((a for a in ARCHES.values() if machine in (a.name, a.clang_triple.split("-")[0])), None)


def get_arch(name: str) -> Arch:
    try:
        return ARCHES[name]
    except KeyError:
        raise UserError(f"unknown arch {name!r}; valid: {', '.join(ARCHES)}") from None
