"""virtme-ng guests: acceleration choice and the vng command line (pure builders).

The guest's results come back as files in a dedicated ``--rwdir``; vng's own
exit code is never read as a verdict (it is 255 whenever the guest cannot
report back, e.g. when the kernel lacks virtio_console in vng's initramfs).
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import shlex
import shutil
import sys
from pathlib import Path

import harness
from harness import proc
from harness.arch import Arch, of_machine
from harness.errors import InfraError, ToolMissingError, UserError
from harness.matrix import Accel

KVM_GET_API_VERSION = 0xAE00
KVM_API_VERSION = 12


KVM_PROBE_S = 30
"""Under accel auto, a KVM boot must reach the runner this fast (seconds under real KVM), or TCG is used."""


@dataclasses.dataclass(frozen=True)
class AccelChoice:
    accel: Accel
    """KVM or TCG, never AUTO."""
    reason: str
    auto: bool = False
    """Chosen by accel auto: a KVM boot that does not reach the guest falls back to TCG."""

    def fallback(self, why: str) -> "AccelChoice":
        return AccelChoice(Accel.TCG, f"KVM looked usable but {why}; using TCG", auto=False)


def cpu_has_kvm(arch: Arch, cpuinfo: str) -> tuple[bool, str]:
    """The CPU half of :func:`kvm_usable` (pure): the virtualization flag in ``/proc/cpuinfo``."""
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags") and ":" in line:
            flags.update(line.split(":", 1)[1].split())
    if not arch.kvm_cpu_flags:
        return False, f"KVM is not used for {arch.name} guests on this host"
    have = flags.intersection(arch.kvm_cpu_flags)
    if not have:
        return False, f"no {'/'.join(arch.kvm_cpu_flags)} cpu flag"
    return True, f"cpu has {'/'.join(sorted(have))}"


def kvm_usable(arch: Arch, cpuinfo: str, dev: Path = Path("/dev/kvm")) -> tuple[bool, str]:
    """Whether a stock kernel can run under KVM here.

    /dev/kvm existing is not enough: a paravirtual flavour (PVM) exposes it
    but cannot run stock kernels, and shows no vmx/svm flag.  So: the device
    opens, answers the API version ioctl, and the CPU has the virtualization flag.
    """
    ok, why = cpu_has_kvm(arch, cpuinfo)
    if not ok:
        return False, why
    try:
        fd = os.open(dev, os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return False, f"{dev}: {e.strerror}"
    try:
        version = fcntl.ioctl(fd, KVM_GET_API_VERSION)
    except OSError as e:
        return False, f"{dev}: KVM_GET_API_VERSION failed ({e.strerror})"
    finally:
        os.close(fd)
    if version != KVM_API_VERSION:
        return False, f"{dev}: unexpected KVM API version {version}"
    return True, f"{dev} usable, {why}"


def choose_accel(setting: Accel, arch: Arch, host_arch: str | None = None) -> AccelChoice:
    host_arch = host_arch or os.uname().machine
    native = of_machine(host_arch) is arch
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    ok, why = kvm_usable(arch, cpuinfo) if native else (False, f"{arch.name} guest on a {host_arch} host")
    if setting is Accel.TCG:
        return AccelChoice(Accel.TCG, "tcg requested")
    if setting is Accel.KVM:
        if not ok:
            raise UserError(f"vm: accel kvm requested but KVM is not usable here ({why}); use accel: auto or tcg")
        return AccelChoice(Accel.KVM, why)
    return AccelChoice(Accel.KVM, why, auto=True) if ok else AccelChoice(Accel.TCG, f"KVM not usable ({why}), using TCG")


def package_root() -> Path:
    """Directory that holds the ``harness`` package (what the guest puts on PYTHONPATH)."""
    return Path(harness.__file__).resolve().parent.parent


GUEST_MODULES = ("__init__.py", "guest/__init__.py", "guest/runner.py", "guest/match.py", "guest/protocol.py",
                 "parse/__init__.py", "parse/veristat.py")
"""The files of ``harness`` the in-guest runner imports (stdlib only besides these)."""


def stage_runner(dest: Path) -> Path:
    """Copy the guest runner's modules to ``dest/harness``; returns ``dest`` (the guest's PYTHONPATH).

    A guest with its own root gets host directories only as mounts, and vng mounts every ``--rwdir``
    before every ``--rodir``: a read-only mount of the checkout would hide a results directory
    inside it (the default ``bpf-harness-out/`` is).  So that guest gets the runner in its rwdir
    instead of the checkout.
    """
    src = Path(harness.__file__).resolve().parent
    for rel in GUEST_MODULES:
        target = dest / "harness" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, target)
    return dest


def check_mounts(rwdir: Path, rodirs: tuple[Path, ...]) -> None:
    """Refuse a read-only mount that would hide the rwdir (vng mounts rwdirs first, then rodirs)."""
    for d in rodirs:
        if rwdir.resolve().is_relative_to(d.resolve()):
            raise InfraError(f"the guest's results directory {rwdir} lies inside {d}, which the guest gets "
                             f"read-only and would hide it; put --db outside {d}")


def guest_argv(plan: Path, python: str | None = None, pkg_root: Path | None = None) -> list[str]:
    """The command the guest runs: the runner module, stdlib only, from the host's tree."""
    return ["env", f"PYTHONPATH={pkg_root or package_root()}", python or sys.executable, "-S",
            "-m", "harness.guest.runner", str(plan)]


def vng_argv(*, vng: str, image: Path, arch: Arch, accel: Accel, cpus: int, memory: str,
             rwdir: Path, guest: list[str], append: tuple[str, ...] = (), root: Path | None = None,
             rodirs: tuple[Path, ...] = ()) -> list[str]:
    """The vng command line for one cell (pure).

    ``--force-9p`` skips vng's virtiofsd probe (3 s per boot here, then 9p
    anyway); ``--verbose`` puts the kernel console on vng's output so it
    lands in the cell's log.  A foreign arch boots into ``root`` (its own
    userspace); host directories then come in as ``--rodir``/``--rwdir``
    at the same paths.
    """
    argv = [vng, "--verbose", "--force-9p", "--run", str(image), "--cpus", str(cpus),
            "--memory", memory]
    if root is None:
        argv += ["--rwdir", str(rwdir)]
    else:
        argv += ["--arch", arch.vng_arch, "--root", str(root), f"--rwdir={rwdir}={rwdir}"]
        argv += [f"--rodir={d}={d}" for d in rodirs]
    argv += ["--name", "bpf-harness"]
    if accel is Accel.TCG:
        argv.append("--disable-kvm")
    for a in append:
        argv += ["--append", a]
    argv += ["--exec", shlex.join(guest)]
    return argv


def vng_path() -> str:
    """vng from PATH, else the one installed beside this Python (the venv's bin)."""
    return shutil.which("vng") or str(Path(sys.executable).parent / "vng")


def vng_env() -> dict[str, str]:
    """PATH for vng: it runs ``virtme-run`` from its own bin dir and needs ``depmod`` from sbin."""
    return {"PATH": f"{Path(vng_path()).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}:/usr/sbin:/sbin"}


BUSYBOX = ("busybox-static", "busybox.static", "busybox")
"""What vng looks for on PATH to build the initramfs that loads a distro kernel's modules."""


def require_tools(arch: Arch, *, host_root: bool) -> None:
    """A one-line error naming the missing host tool and its fix, before any guest boots.

    A guest that uses the host as its root needs a host busybox: vng builds an
    initramfs with it to load the Debian kernel's virtio and 9p modules, and
    without one every boot dies before the runner starts.
    """
    proc.require(arch.qemu, f"apt-get install {arch.qemu_package} (or run ci/setup.sh)")
    if not Path(vng_path()).exists():
        raise ToolMissingError("vng not found on PATH; pip install virtme-ng (or run ci/setup.sh)")
    if host_root and not any(shutil.which(b, path=vng_env()["PATH"]) for b in BUSYBOX):
        raise ToolMissingError("busybox not found on PATH; vng needs it for the guest's initramfs: "
                               "apt-get install busybox-static")


def tool_versions(arch: Arch) -> dict[str, str]:
    return {"qemu": proc.version_of([arch.qemu, "--version"]),
            "vng": proc.version_of([vng_path(), "--version"])}
