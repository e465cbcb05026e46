"""The matrix's domain model: frozen records of branches, kernels, corpora, settings and cells.

Nothing here reads YAML; :mod:`harness.matrix.load` builds these records from a file, strictly.
"""

from __future__ import annotations

import dataclasses
import enum
import fnmatch
from pathlib import Path
from typing import ClassVar

from harness.arch import get_arch
from harness.errors import ConfigError
from harness.version import KernelVersion


DEFAULT_SUITES = ("bookworm", "bookworm-updates", "bookworm-security", "bookworm-backports",
                  "trixie", "trixie-security", "trixie-backports", "sid")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY_MIRROR = "http://deb.debian.org/debian-security"


class Accel(enum.Enum):
    AUTO = "auto"
    KVM = "kvm"
    TCG = "tcg"
    NATIVE = "native"
    """UML cells: the kernel is a host process (never a matrix setting)."""


# Every kernel source answers the same questions, so that no stage asks which class it is:
#   backend    the harness.backends name its kernels boot in (data here: the backends read these records)
#   version    the Debian release it is or is built from, if any
#   needs_apt  fetching it reads the Debian archive (a package, or linux-source)
#   built      the harness builds it from source (harness.kernels.built)


@dataclasses.dataclass(frozen=True)
class DebianKernel:
    version: KernelVersion
    """Upstream version; resolved to the Debian package that carries it."""
    backend: ClassVar[str] = "vm"
    needs_apt: ClassVar[bool] = True
    built: ClassVar[bool] = False


@dataclasses.dataclass(frozen=True)
class LocalKernel:
    image: Path
    """A bootable image (bzImage/vmlinuz or vmlinux)."""
    modules: Path | None
    """``lib/modules/<release>`` directory, if the kernel needs modules."""
    backend: ClassVar[str] = "vm"
    version: ClassVar[KernelVersion | None] = None
    needs_apt: ClassVar[bool] = False
    built: ClassVar[bool] = False


@dataclasses.dataclass(frozen=True)
class UmlKernel:
    version: KernelVersion
    """A user-mode Linux kernel built by the harness from this version's Debian ``linux-source``."""
    backend: ClassVar[str] = "uml"
    needs_apt: ClassVar[bool] = True
    built: ClassVar[bool] = False
    """Built, but as a Debian release's UML kernel (:mod:`harness.kernels.uml`), not from a matrix's tree."""


@dataclasses.dataclass(frozen=True)
class GitKernel:
    """One commit of a git tree, built by the harness (``harness.kernels.built``) for ``backend``."""
    tree: Path
    commit: str
    backend: str = "vm"
    subject: str = ""
    """Filled in when a range is expanded (for messages; reports read it from the build)."""
    version: ClassVar[KernelVersion | None] = None
    needs_apt: ClassVar[bool] = False
    built: ClassVar[bool] = True


@dataclasses.dataclass(frozen=True)
class GitRange:
    """``A..B`` of a git tree: expanded (``harness.kernels.built.expand``) into A and every commit after it that touches
    ``paths``, each diffed against the one before."""
    tree: Path
    range: str
    paths: tuple[str, ...]
    backend: str = "vm"
    version: ClassVar[KernelVersion | None] = None
    needs_apt: ClassVar[bool] = False
    built: ClassVar[bool] = True


@dataclasses.dataclass(frozen=True)
class SourceKernel:
    """A Debian ``linux-source`` release with patches applied in order, built by the harness."""
    version: KernelVersion
    patches: tuple[Path, ...]
    backend: str = "vm"
    config: str = "guest"
    """The VM recipe's configuration (``guest`` or ``vmtest``: :data:`harness.kernels.built.recipe.VM_CONFIGS`)."""
    needs_apt: ClassVar[bool] = True
    built: ClassVar[bool] = True


@dataclasses.dataclass(frozen=True)
class GitFollow:
    """A stable branch of a git tree, followed: its newest release tag and its head, paired (resolved by
    :mod:`harness.stream` at run time into two :class:`GitKernel` entries)."""
    tree: Path
    branch: str
    backend: str = "vm"
    version: ClassVar[KernelVersion | None] = None
    needs_apt: ClassVar[bool] = False
    built: ClassVar[bool] = True


@dataclasses.dataclass(frozen=True)
class Queue:
    """An unreleased stable update: a stable-queue style directory (``series`` + patches) or an mbox of a review
    series, applied on Debian's ``linux-source`` of the release before it.  Resolved by :mod:`harness.stream`
    into the release, each commit of it that touches the BPF paths, and the whole queue."""
    path: Path
    on: KernelVersion
    backend: str = "vm"
    version: ClassVar[KernelVersion | None] = None
    needs_apt: ClassVar[bool] = True
    built: ClassVar[bool] = True


@dataclasses.dataclass(frozen=True)
class LatestRule:
    """``kernels: {latest: N}``: the newest ``count`` point releases of ``series`` that the configured Debian
    suites hold on every arch of the branch, resolved at run time by :mod:`harness.stream`."""
    count: int
    series: str
    """``6.12``: from the branch's name (``6.12.y``) or its ``series:`` key; ``newest``: the newest series the suites
    hold (mainline, as Debian packages it)."""
    where: str
    id: str = "{version}"
    """Each kernel's id, ``{version}`` replaced (``{version}-mainline-tests``: a release another branch has too)."""

    def __str__(self) -> str:
        return f"latest {self.count} of {self.series}" if self.series != "newest" else \
            f"latest {self.count} of the newest series"


KernelSource = DebianKernel | LocalKernel | GitKernel | GitRange | SourceKernel | UmlKernel | GitFollow | Queue
BUILT = tuple(c for c in (DebianKernel, LocalKernel, GitKernel, GitRange, SourceKernel, UmlKernel, GitFollow, Queue)
              if c.built)


@dataclasses.dataclass(frozen=True)
class KernelSpec:
    id: str
    """Unique in the matrix; what ``--cell ID/ARCH`` names."""
    source: KernelSource
    where: str
    """file:line of the entry, for messages."""

    @property
    def version(self) -> KernelVersion | None:
        return self.source.version

    @property
    def backend(self) -> str:
        """The name of its :mod:`harness.backends` backend (``uml``: a user-mode Linux process; ``vm``: a qemu
        guest).  The names are written here as data: the backends read these records, so this module cannot
        import them; ``tests/test_backends.py`` checks every name here is a backend's."""
        return self.source.backend


@dataclasses.dataclass(frozen=True)
class CorpusSpec:
    name: str
    source: KernelVersion
    """Debian ``linux-source`` version the selftests are built from."""
    include: tuple[str, ...] = ("*",)
    """Globs over object names (``verifier_*``; no ``.bpf.o``)."""
    exclude: tuple[str, ...] = ()
    objects: tuple[str, ...] = ()
    """Out-of-tree BPF objects instead of the selftests: absolute paths or globs of ``.bpf.o`` files and of
    programs with libbpf skeletons embedded; ``source`` then only gives veristat."""
    source_of: str | None = None
    """``source: {branch: NAME}``: the release whose selftests branch NAME's rule takes (``source`` is a
    placeholder until :mod:`harness.stream` resolves it)."""

    def selects(self, object_name: str) -> bool:
        return (any(fnmatch.fnmatchcase(object_name, g) for g in self.include)
                and not any(fnmatch.fnmatchcase(object_name, g) for g in self.exclude))


@dataclasses.dataclass(frozen=True)
class Branch:
    name: str
    kernels: tuple[KernelSpec, ...]
    """Oldest first: each kernel is diffed with its predecessor."""
    corpus: str
    arches: tuple[str, ...]
    corpus_by_arch: tuple[tuple[str, str], ...] = ()
    """Another corpus for some arches (``corpus_by_arch: {arm64: NAME}``): a subset where TCG is slower."""
    reference: str | None = None
    """The branch this one's head is compared with, when not the matrix's ``reference`` (e.g. a branch that
    verifies mainline's selftests on a stable kernel, against mainline on the same selftests)."""
    rule: LatestRule | None = None
    """Kernels by rule: ``kernels`` stays empty until :mod:`harness.stream` resolves it (and keeps the rule)."""
    follows: bool = False
    """Its kernels (some or all) are resolved at run time: a ``latest`` rule, a followed git branch or a queue
    (still true once :mod:`harness.stream` has put the kernels in)."""
    stable_tree: Path | None = None
    """A git tree with this branch's release tags (``v6.12.115``): where findings between two Debian releases are
    bisected to a commit after a run (:mod:`harness.attribute`)."""
    stable_tag: str = "v{version}"
    """How the tree names a release (``{version}`` replaced)."""
    queued: bool = False
    """A release and what is queued on it (a followed git branch, a queue): besides each commit against the one
    before, the last kernel is compared with the first (the whole update against the release)."""

    def corpus_for(self, arch: str) -> str:
        return dict(self.corpus_by_arch).get(arch, self.corpus)


TIMEOUTS = ("boot_timeout", "program_timeout", "cell_timeout")
"""The settings an arch may have its own of (``boot_timeout_arm64: 400``)."""


@dataclasses.dataclass(frozen=True)
class VmSettings:
    cpus: int = 2
    """vCPUs per guest; the in-guest runner uses one worker per vCPU."""
    memory: str = "2G"
    accel: Accel = Accel.AUTO
    """auto: KVM when usable (cpu flags + /dev/kvm), otherwise TCG."""
    boot_timeout: int = 120
    """Seconds from qemu start to the runner starting inside the guest."""
    program_timeout: int = 60
    """Seconds one program may verify before it is recorded as ``timeout``."""
    cell_timeout: int = 1800
    """Seconds for a whole cell; what is verified by then is kept."""
    failure_log_level: int = 1
    """Verifier log level of the second pass over rejected programs (0: no second pass)."""
    failure_tails: str = "unexpected"
    """Which rejected programs get that second pass: ``unexpected`` (all but the rejections the selftest
    itself expects, whose error line the main pass already has) or ``all``."""
    boot_retries: int = 1
    """Boots again when the guest dies before verifying anything (an infrastructure failure)."""
    hang_timeout: int | None = None
    """Seconds without a new result after which a running guest is hung (default: program_timeout + 60).
    A lockup or RCU-stall splat on the console followed by no result for 30 s is a hang too."""
    hang_retries: int = 2
    """Boots that resume a hung cell from the first program without a result."""
    arch_timeouts: tuple[tuple[str, str, int], ...] = ()
    """(arch, ``boot_timeout`` | ``program_timeout`` | ``cell_timeout``, seconds) from ``boot_timeout_<arch>`` and
    the like: over the arch's own defaults (:attr:`harness.arch.Arch.guest_timeouts`)."""
    check_messages: bool = True
    """Check every ``__msg`` at the test's own log level and flags (a re-verification of those programs)."""
    confirm: bool = True
    """Re-verify each regression on both kernels in fresh guests before reporting it (else ``flaky``)."""
    log_diffs: int = 10
    """Findings per pair (verdict flips, error and ``__msg`` changes, what to act on first) whose whole
    level-2 logs are fetched from both kernels after the run, for the report's log diffs; 0: none."""


    @property
    def hang_after(self) -> int:
        return self.hang_timeout if self.hang_timeout is not None else self.program_timeout + 60

    def for_arch(self, arch: str) -> "VmSettings":
        """The settings a cell of ``arch`` runs with: its own timeouts where the arch has them (arm64 under TCG)
        or the matrix sets them."""
        own = get_arch(arch).guest_timeouts
        timeouts = dict(zip(TIMEOUTS, own, strict=True)) if own else {}
        timeouts.update({key: s for a, key, s in self.arch_timeouts if a == arch})
        return dataclasses.replace(self, **timeouts) if timeouts else self  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True)
class DebianSettings:
    suites: tuple[str, ...] = DEFAULT_SUITES
    mirror: str = DEFAULT_MIRROR
    security_mirror: str = DEFAULT_SECURITY_MIRROR


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """When a verified program's cost change is reported (``complexity``, ``near-limit``)."""
    insns_pct: float = 10.0
    insns_abs: int = 1000
    states_pct: float = 10.0
    states_abs: int = 100
    near_limit_pct: float = 80.0
    """Share of the 1,000,000-instruction limit past which a program is ``near-limit``."""

    def moved(self, before: int | None, after: int | None, pct: float, absolute: int) -> bool:
        if before is None or after is None:
            return False
        delta = abs(after - before)
        return delta >= absolute and (before == 0 or 100.0 * delta / before >= pct)


@dataclasses.dataclass(frozen=True)
class Attribution:
    """How findings between two releases are bisected after a run (branches with a ``stable_tree:``)."""
    steps: int = 12
    """Kernels built and verified per bisection at most (its two ends included)."""
    minutes: int = 60
    """Minutes for all of a run's bisections; what is not attributed by then says so."""
    backend: str = "auto"
    """``auto``: UML when UML's ends show the change (a UML-only answer says so), else the VM; or ``uml``, ``vm``."""


@dataclasses.dataclass(frozen=True)
class Cell:
    kernel: KernelSpec
    arch: str
    branch: str
    corpus: CorpusSpec

    @property
    def key(self) -> str:
        return f"{self.kernel.id}/{self.arch}"


@dataclasses.dataclass(frozen=True)
class Host:
    """A remote machine that runs cells over SSH (``hosts:``): only python3, qemu and vng there."""
    name: str
    user: str
    address: str
    port: int
    arches: tuple[str, ...]
    """What it runs: its own arch, the guest using its root as the local host's guests do."""
    known_hosts: Path
    """The pinned host keys: an unknown or changed key is refused, never learned."""
    key: Path | None = None
    """Private key file; without it the SSH agent (and ~/.ssh's default keys)."""
    jobs: int = 1
    accel: Accel = Accel.AUTO
    vng: str = "vng"
    cache: str = ".cache/bpf-harness-remote"
    """Where uploads are kept on the host (relative: to the user's home), by content hash."""

    @property
    def where(self) -> str:
        return f"{self.user}@{self.address}:{self.port}"


@dataclasses.dataclass(frozen=True)
class Matrix:
    path: Path
    branches: tuple[Branch, ...]
    corpora: dict[str, CorpusSpec]
    reference: str | None
    """Name of the branch whose head every other branch head is compared with."""
    vm: VmSettings
    debian: DebianSettings
    thresholds: Thresholds = Thresholds()
    hosts: tuple[Host, ...] = ()
    attribution: Attribution = Attribution()

    def kernels(self) -> list[KernelSpec]:
        return [k for b in self.branches for k in b.kernels]

    @property
    def follows(self) -> bool:
        """Some kernels are rules (:mod:`harness.stream` resolves them; until then they have no cells)."""
        return any(b.follows for b in self.branches)

    def cells(self, only: tuple[str, ...] = ()) -> list[Cell]:
        """All cells in matrix order; ``only`` filters by ``KERNEL/ARCH`` (or ``KERNEL``)."""
        cells = [Cell(k, a, b.name, self.corpora[b.corpus_for(a)]) for b in self.branches
                 for k in b.kernels for a in b.arches]
        if not only:
            return cells
        known = {c.key for c in cells} | {c.kernel.id for c in cells}
        for want in only:
            if want not in known:
                raise ConfigError(f"{self.path}: no cell {want!r}; cells: "
                                  + ", ".join(c.key for c in cells))
        return [c for c in cells if c.key in only or c.kernel.id in only]
