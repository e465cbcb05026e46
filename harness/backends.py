"""Guest backends: where a cell's guest runs and how.

One protocol, three classes:

- :class:`Vm`: virtme-ng here (qemu, KVM or TCG), the host's root or the arch's own;
- :class:`Uml`: user-mode Linux, the kernel as a host process with the host's root over hostfs;
- :class:`RemoteVm`: virtme-ng on a matrix host over SSH, its console and results mirrored back.

A backend answers every question that used to be a string compare: which arches it runs, how a kernel for
it is built from source (:meth:`Backend.recipe`), how the guest's plan is tuned (:meth:`Backend.tune`),
which acceleration it runs under, what it needs installed, and it starts a :class:`Guest`.  Its ``name`` is
what matrices write (``backend: uml``) and the store keeps per cell; a remote VM stores as ``vm`` (the same
guest elsewhere; the cell's ``host`` says where).

A fourth backend is one class here and one entry in :data:`BY_NAME`; a new arch is one record in
:mod:`harness.arch`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol

from harness import proc, vm
from harness.arch import PRIMARY, SUPPORTED, Arch, get_arch, host_arch
from harness.kernels import uml
from harness.kernels.built.recipe import COMMON, DATA, GUEST, GUEST_DROP, NO_VAR_TRACKING, SELFTESTS, VM_CONFIGS, Recipe
from harness.errors import UserError
from harness.guest import protocol
from harness.matrix.model import Accel, Host, VmSettings
from harness.version import KernelVersion

if TYPE_CHECKING:
    from harness.cell import CellJob
    from harness.kernels import Kernel


class Guest(Protocol):
    """A running guest, local or remote: what the cell's watchdog needs of it."""

    reproducer: str
    """The command that boots it again by hand."""
    pid: int | None
    """The local process group to record (and reap after a crash of the harness); None: nothing local."""
    lost: str | None
    """Why the guest's host went away while it ran (an infrastructure error, not the cell's); None: it did not."""

    def poll(self) -> int | None: ...

    def stop(self) -> None: ...

    def join(self, timeout: float | None = None) -> None:
        """Wait until its console is all in the cell's log."""


class LocalGuest:
    """A guest that is a process group here (vng's qemu, or UML itself), its output teed to the console log."""

    lost = None

    def __init__(self, argv: list[str], console: Path, header: str):
        self.reproducer = proc.reproducer(argv)
        self._p, self._tee = proc.start(argv, env=vm.vng_env(), log_path=console, header=header)
        self.pid: int | None = self._p.pid

    def poll(self) -> int | None:
        return self._p.poll()

    def stop(self) -> None:
        proc.stop(self._p)

    def join(self, timeout: float | None = None) -> None:
        self._tee.join(timeout)


@dataclasses.dataclass(frozen=True)
class Tuning:
    """How the guest runner spreads a cell's work (part of the plan)."""
    workers: int
    objects_per_veristat: int
    fsync: bool


class Backend:
    name: ClassVar[str]
    kernel_source: ClassVar[str] = "git"
    """:attr:`harness.kernels.Kernel.source` of a kernel this backend's recipe builds."""
    on_hosts: ClassVar[bool] = False
    """Its cells may run on a matrix host over SSH."""

    def arches(self) -> tuple[str, ...]:
        return SUPPORTED

    def runs(self, arch: str) -> bool:
        return arch in self.arches()

    def recipe(self, arch: Arch, version: KernelVersion | None = None) -> Recipe:
        """How a kernel for this backend is built from a source tree of ``version`` (None: not known)."""
        raise NotImplementedError

    def tune(self, settings: VmSettings, objects: int) -> Tuning:
        raise NotImplementedError

    def require(self, arch: Arch) -> None:
        """A one-line error naming a missing host tool, before anything boots."""

    def accel(self, setting: Accel, arch: Arch) -> vm.AccelChoice:
        raise NotImplementedError

    def versions(self, arch: Arch) -> dict[str, str]:
        """Tool versions recorded with each cell."""
        return {}

    def root(self, cache_root: Path, arch: Arch) -> Path | None:
        """The guest's own root filesystem, None: the host's."""
        return None

    def start(self, job: CellJob, accel: vm.AccelChoice, rwdir: Path, plan: dict, console: Path,
              header: str) -> Guest:
        """Boot the guest of one cell; ``plan`` is written in ``rwdir`` as ``plan.json`` already."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<backend {self.name}>"


class Vm(Backend):
    name = "vm"
    on_hosts = True

    def recipe(self, arch: Arch, version: KernelVersion | None = None, config: str = "guest") -> Recipe:
        """``config`` ``vmtest``: what the selftests' own ``vmtest.sh`` (BPF CI) builds; ``guest`` (the default): the
        same without what no guest verifying programs uses (``guest-drop.txt``, ``guest.config``), see
        :mod:`harness.kernels.built.recipe`."""
        if config not in VM_CONFIGS:
            raise UserError(f"VM kernel config {config!r}: one of {', '.join(VM_CONFIGS)}")
        guest = config == "guest"
        # vmtest keeps the name (and so the key) it had as the only VM recipe: its cached kernels stay valid
        return Recipe(f"guest-{arch.name}" if guest else f"vm-{arch.name}", self.name, arch.name,
                      (*arch.kbuild_vars, "LOCALVERSION=", *((NO_VAR_TRACKING,) if guest else ())), arch.kbuild_cc,
                      (DATA / f"vm-{arch.name}.config", COMMON, *((GUEST,) if guest else ())),
                      SELFTESTS + (f"tools/testing/selftests/bpf/{arch.selftests_config}",), (),
                      # x86 boots the ELF vmlinux: guest does not also make (and compress) a bzImage
                      ("vmlinux",) if guest and arch.boot_image == "vmlinux" else ("vmlinux", arch.boot_target),
                      arch.boot_image, base="", source=self.kernel_source,
                      drop=GUEST_DROP if guest else None)

    def tune(self, settings: VmSettings, objects: int) -> Tuning:
        # Objects share a veristat (starting one costs more than most programs in a guest); four batches per
        # worker keep the workers evenly loaded.
        return Tuning(settings.cpus, max(1, -(-objects // (settings.cpus * 4))), fsync=True)

    def require(self, arch: Arch) -> None:
        vm.require_tools(arch, host_root=arch is host_arch())

    def accel(self, setting: Accel, arch: Arch) -> vm.AccelChoice:
        return vm.choose_accel(setting, arch)

    def versions(self, arch: Arch) -> dict[str, str]:
        return vm.tool_versions(arch)

    def root(self, cache_root: Path, arch: Arch) -> Path | None:
        from harness import userspace  # it reads Debian archives (harness.kernels.apt), which read the matrix
        return None if arch is host_arch() else userspace.guest_root(cache_root, arch)

    def command(self, job: CellJob, accel: vm.AccelChoice, rwdir: Path, plan_path: Path) -> list[str]:
        """vng with the host's root, or with the arch's own."""
        common = dict(vng=vm.vng_path(), image=job.kernel.image, arch=get_arch(job.kernel.arch), accel=accel.accel,
                      cpus=job.vm.cpus, memory=job.vm.memory, rwdir=rwdir)
        if job.root is None:
            return vm.vng_argv(**common, guest=vm.guest_argv(plan_path))
        # the guest runs its own python from its root, the runner from the rwdir (vm.stage_runner says
        # why not from the checkout); corpus and config come in read-only
        from harness import userspace
        rodirs = tuple(sorted({job.corpus.build_dir, *([job.kernel.config.parent] if job.kernel.config else [])}))
        vm.check_mounts(rwdir, rodirs)
        userspace.expose(job.root, [rwdir, *rodirs])
        runner = vm.stage_runner(rwdir / "runner")
        return vm.vng_argv(**common, guest=vm.guest_argv(plan_path, python=userspace.GUEST_PYTHON, pkg_root=runner),
                           root=job.root, rodirs=rodirs)

    def start(self, job: CellJob, accel: vm.AccelChoice, rwdir: Path, plan: dict, console: Path,
              header: str) -> Guest:
        return LocalGuest(self.command(job, accel, rwdir, rwdir / protocol.PLAN), console, header)


class Uml(Backend):
    name = "uml"
    kernel_source = "uml"

    def arches(self) -> tuple[str, ...]:
        return (PRIMARY.name,)

    def recipe(self, arch: Arch, version: KernelVersion | None = None) -> Recipe:
        """``make ARCH=um defconfig`` + the fast lane's fragment and the patches of ``version``'s series
        (:func:`harness.kernels.uml.patches_for`), target ``linux``: the same for a git commit and a Debian release
        of one series, which then differ only in their source."""
        if not self.runs(arch.name):
            raise UserError(f"uml kernels are {', '.join(self.arches())} only, not {arch.name}")
        return Recipe("uml", self.name, arch.name, ("ARCH=um", "LOCALVERSION=", NO_VAR_TRACKING), "gcc", (uml.FRAGMENT, COMMON), (),
                      uml.patches_for(version), ("linux",), "linux", kept="linux",
                      source=self.kernel_source)

    def tune(self, settings: VmSettings, objects: int) -> Tuning:
        # UML is uniprocessor: one worker, and there a veristat gets faster the longer it runs: over the 93
        # verifier_* objects one took 26 s, four (a quarter each) 76 s in all; so a single veristat.  hostfs
        # writes are the host's own: no fsync.
        return Tuning(1, max(1, objects), fsync=False)

    def accel(self, setting: Accel, arch: Arch) -> vm.AccelChoice:
        return vm.AccelChoice(Accel.NATIVE, "user-mode Linux: the kernel runs as a host process")

    def command(self, job: CellJob, rwdir: Path, plan_path: Path) -> list[str]:
        init = rwdir / "init.sh"
        init.write_text(uml.init_script(vm.guest_argv(plan_path)))
        init.chmod(0o755)
        return uml.boot_argv(job.kernel.image, job.vm.memory, init)

    def start(self, job: CellJob, accel: vm.AccelChoice, rwdir: Path, plan: dict, console: Path,
              header: str) -> Guest:
        return LocalGuest(self.command(job, rwdir, rwdir / protocol.PLAN), console, header)


@dataclasses.dataclass(frozen=True, eq=False)
class RemoteVm(Vm):
    """A VM cell on a matrix host: the kernel, corpus and runner uploaded by content, the same vng run there."""
    host: Host

    def arches(self) -> tuple[str, ...]:
        return self.host.arches

    def root(self, cache_root: Path, arch: Arch) -> Path | None:
        return None  # the host runs its own arch with its own root

    def start(self, job: CellJob, accel: vm.AccelChoice, rwdir: Path, plan: dict, console: Path,
              header: str) -> Guest:
        from harness import remote
        conn = remote.Connection(self.host)
        try:
            return _Closing(remote.launch(conn, remote.Stage(conn), job, accel, plan, rwdir, console, header,
                                          rwdir.parent.name), conn)
        except BaseException:
            conn.close()
            raise


class _Closing:
    """A remote guest that closes its SSH connection once stopped."""

    def __init__(self, guest, conn):
        self._g, self._conn = guest, conn
        self.reproducer: str = guest.reproducer
        self.pid = None

    @property
    def lost(self) -> str | None:
        return self._g.lost

    def poll(self) -> int | None:
        return self._g.poll()

    def stop(self) -> None:
        try:
            self._g.stop()
        finally:
            self._conn.close()

    def join(self, timeout: float | None = None) -> None:
        self._g.join(timeout)


VM = Vm()
UML = Uml()
BY_NAME: dict[str, Backend] = {b.name: b for b in (VM, UML)}
NAMES: tuple[str, ...] = tuple(BY_NAME)
"""What a matrix may write as a kernel's ``backend:``."""


def named(name: str) -> Backend:
    try:
        return BY_NAME[name]
    except KeyError:
        raise UserError(f"unknown backend {name!r}; valid: {', '.join(NAMES)}") from None


def of(kernel: Kernel) -> Backend:
    """The backend a fetched or built kernel boots in."""
    return UML if kernel.source == UML.kernel_source else VM
