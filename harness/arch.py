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
    machines: tuple[str, ...]
    """What ``uname -m`` says on a host of this arch (how the host's own arch is recognised, here or over SSH)."""
    kbuild_vars: tuple[str, ...]
    """``make`` variables for a kernel of this arch built on an x86_64 host (``ARCH=``, ``CROSS_COMPILE=``)."""
    kbuild_cc: str
    """The C compiler for that kernel build."""
    cross_packages: tuple[tuple[str, str], ...]
    """Tools a cross build needs beyond the native one, with the Debian package and reason for each."""
    selftests_config: str
    """The selftests' own config fragment for this arch (``tools/testing/selftests/bpf/config.<this>``)."""
    boot_target: str
    """The ``make`` target of the boot image (``bzImage``, ``Image``)."""
    boot_image: str
    """What a guest boots, relative to a kernel build directory: the vmlinux when the arch boots it
    uncompressed (faster under TCG), else the boot image."""
    guest_timeouts: tuple[int, int, int] | None = None
    """(boot, program, cell) seconds its guests get instead of the matrix's ``vm:`` values, unless the matrix
    sets ``boot_timeout_<arch>``, ``program_timeout_<arch>``, ``cell_timeout_<arch>``; None: the ``vm:`` values."""

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
    machines=("x86_64",),
    kbuild_vars=("ARCH=x86_64",),
    kbuild_cc="gcc",
    cross_packages=(),
    selftests_config="config.x86_64",
    boot_target="bzImage",
    boot_image="vmlinux",
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
    machines=("aarch64", "arm64"),
    kbuild_vars=("ARCH=arm64", "CROSS_COMPILE=aarch64-linux-gnu-"),
    kbuild_cc="aarch64-linux-gnu-gcc",
    cross_packages=(("aarch64-linux-gnu-gcc", "apt-get install gcc-aarch64-linux-gnu (arm64 kernels are cross-built)"),
                    ("cpio", "apt-get install cpio (the selftests' config.aarch64 sets CONFIG_IKHEADERS, whose "
                             "archive kbuild makes with cpio)")),
    selftests_config="config.aarch64",
    boot_target="Image",
    boot_image="arch/arm64/boot/Image",
    # arm64 guests run under TCG on x86_64 hosts: measured here ~50 s from qemu start to the runner
    guest_timeouts=(300, 180, 3600),
)

ARCHES: dict[str, Arch] = {a.name: a for a in (X86_64, ARM64)}
SUPPORTED: tuple[str, ...] = ("x86_64", "arm64")
"""Arches whose cells can run (arm64 under TCG on an x86_64 host, in its own Debian root)."""


PRIMARY = X86_64
"""The arch a question with one answer is asked on: bisection and backport confirmation, UML, the Debian
packages whose changelogs and sources are read."""


def of_machine(machine: str) -> Arch | None:
    """The arch of a host whose ``uname -m`` says ``machine`` (pure); None if we know no such arch."""
    return next((a for a in ARCHES.values() if machine in a.machines), None)


def host_arch() -> Arch | None:
    """The arch this machine runs natively, if it is one we know."""
    return of_machine(os.uname().machine)


def get_arch(name: str) -> Arch:
    try:
        return ARCHES[name]
    except KeyError:
        raise UserError(f"unknown arch {name!r}; valid: {', '.join(ARCHES)}") from None
