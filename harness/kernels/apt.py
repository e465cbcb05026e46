"""A private apt configuration kept in the cache, and pure helpers around it.

The host's own package state is never touched: lists, status and archives live
under ``<cache>/apt/<arch>/``; signatures are still verified by apt against
the system's Debian keyring.  See machine.md for why (adding trixie/sid to the
host's own sources is a trap).
"""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path
from typing import Iterable

from harness import proc
from harness.arch import Arch
from harness.errors import InfraError, NotFoundError
from harness.matrix import DebianSettings
from harness.version import KernelVersion, debian_version_key, nearest, upstream_of_debian

KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
LISTS_MAX_AGE = 6 * 3600


@dataclasses.dataclass(frozen=True)
class Package:
    name: str
    version: str
    arch: str
    size: int = 0
    sha256: str = ""
    depends: tuple[str, ...] = ()
    """Package names this one depends on (alternatives and versions dropped)."""

    @property
    def upstream(self) -> KernelVersion | None:
        return upstream_of_debian(self.version)


def render_sources(settings: DebianSettings) -> str:
    """sources.list for the configured suites (pure)."""
    lines = []
    for suite in settings.suites:
        mirror = settings.security_mirror if suite.endswith("-security") else settings.mirror
        lines.append(f"deb [signed-by={KEYRING}] {mirror} {suite} main")
    return "\n".join(lines) + "\n"


def render_config(base: Path, arch: Arch) -> str:
    """apt.conf that points every piece of state at ``base`` (pure)."""
    return "\n".join([
        f'Dir::Etc::SourceList "{base}/sources.list";',
        f'Dir::Etc::SourceParts "{base}/sources.list.d";',
        f'Dir::Etc::Preferences "{base}/preferences";',
        f'Dir::Etc::PreferencesParts "{base}/preferences.d";',
        f'Dir::State "{base}/state";',
        f'Dir::State::Lists "{base}/lists";',
        f'Dir::State::status "{base}/status";',
        f'Dir::Cache "{base}/cache";',
        f'Dir::Cache::archives "{base}/archives";',
        f'Dir::Log "{base}/log";',
        f'APT::Architecture "{arch.debian}";',
        f'APT::Architectures {{ "{arch.debian}"; }};',
        'Acquire::Languages "none";',
        'APT::Sandbox::User "root";',
        "",
    ])


def parse_stanzas(text: str) -> list[Package]:
    """Parse ``apt-cache show`` output into packages (pure)."""
    out = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line[:1] in (" ", "\t") or ":" not in line:
                continue
            k, v = line.split(":", 1)
            fields[k.strip()] = v.strip()
        if "Package" in fields and "Version" in fields:
            depends = tuple(alt.split("(")[0].split(":")[0].strip()
                            for dep in fields.get("Depends", "").split(",") if dep.strip()
                            for alt in dep.split("|"))
            out.append(Package(fields["Package"], fields["Version"], fields.get("Architecture", ""),
                               int(fields.get("Size", "0") or 0), fields.get("SHA256", ""), depends))
    return out


_INST = re.compile(r"^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) ")


def parse_simulation(text: str) -> list[tuple[str, str]]:
    """(package, version) from ``apt-get install --simulate`` output (pure)."""
    return [(m.group(1).split(":")[0], m.group(2)) for m in map(_INST.match, text.splitlines()) if m]


def pick(packages: Iterable[Package], patterns: tuple[re.Pattern[str], ...],
         wanted: KernelVersion, what: str, suites: tuple[str, ...]) -> Package:
    """The package carrying ``wanted``: first pattern wins, then the newest Debian revision.

    Raises :class:`NotFoundError` listing the nearest available versions.
    """
    packages = list(packages)
    for pat in patterns:
        matches = [p for p in packages if pat.match(p.name) and p.upstream == wanted]
        if matches:
            return max(matches, key=lambda p: debian_version_key(p.version))
    available = sorted({p.upstream for p in packages
                        if p.upstream is not None and any(pat.match(p.name) for pat in patterns)})
    near = nearest(wanted, available)
    hint = f"nearest available: {', '.join(map(str, near))}" if near else "none available"
    raise NotFoundError(f"{what} {wanted} is not in the Debian archive (suites: {', '.join(suites)}); {hint}")


class Apt:
    """apt-get/apt-cache bound to one private configuration."""

    def __init__(self, cache_root: Path, arch: Arch, settings: DebianSettings, label: str | None = None):
        self.base = cache_root / "apt" / (label or arch.name)
        self.arch = arch
        self.settings = settings
        self.conf = self.base / "apt.conf"

    @property
    def env(self) -> dict[str, str]:
        return {"APT_CONFIG": str(self.conf), "DEBIAN_FRONTEND": "noninteractive"}

    def _write_config(self) -> bool:
        """Write config files; True if the sources changed (lists must be refreshed)."""
        for d in ("lists/partial", "archives/partial", "cache", "state", "log",
                  "sources.list.d", "preferences.d"):
            (self.base / d).mkdir(parents=True, exist_ok=True)
        (self.base / "status").touch()
        self.conf.write_text(render_config(self.base, self.arch))
        sources = self.base / "sources.list"
        new = render_sources(self.settings)
        changed = not sources.exists() or sources.read_text() != new
        if changed:
            sources.write_text(new)
        return changed

    def update(self, force: bool = False) -> None:
        if not KEYRING.exists():
            raise InfraError(f"{KEYRING} missing; apt-get install debian-archive-keyring")
        proc.require("apt-get", "this needs a Debian host (apt)")
        changed = self._write_config()
        stamp = self.base / "updated"
        fresh = stamp.exists() and time.time() - stamp.stat().st_mtime < LISTS_MAX_AGE
        if fresh and not changed and not force:
            return
        proc.run(["apt-get", "update", "-q"], env=self.env, timeout=900,
                 log_path=self.base / "log" / "update.log", what="apt-get update (private config)")
        stamp.touch()

    def packages(self, prefix: str) -> list[Package]:
        """Every version of every package whose name starts with ``prefix``."""
        names = proc.run(["apt-cache", "pkgnames", prefix], env=self.env, timeout=120, check=False)
        wanted = sorted(n for n in names.output.split() if n.startswith(prefix) and not n.endswith("-dbg"))
        if not wanted:
            return []
        res = proc.run(["apt-cache", "show", *wanted], env=self.env, timeout=300, check=False)
        return parse_stanzas(res.output)

    def closure(self, names: tuple[str, ...]) -> list[tuple[str, str]]:
        """(package, version) of everything installing ``names`` into an empty system takes, sorted."""
        res = proc.run(["apt-get", "install", "--simulate", "-q", "--no-install-recommends", *names],
                       env=self.env, timeout=300, what=f"apt-get install --simulate ({self.arch.name})")
        return sorted(parse_simulation(res.output))

    def download_closure(self, names: tuple[str, ...], dest: Path) -> list[Path]:
        """Download ``names`` and their dependencies (signatures verified by apt) into ``dest``."""
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "partial").mkdir(exist_ok=True)
        proc.run(["apt-get", "install", "--download-only", "-y", "-q", "--no-install-recommends",
                  "-o", f"Dir::Cache::archives={dest}", *names], env=self.env, timeout=1800,
                 log_path=self.base / "log" / "download-closure.log", what=f"apt-get download ({self.arch.name})")
        return sorted(dest.glob("*.deb"))

    def download(self, pkg: Package, dest: Path) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        proc.run(["apt-get", "download", "-q", f"{pkg.name}={pkg.version}"], cwd=dest, env=self.env,
                 timeout=1800, log_path=self.base / "log" / f"download-{pkg.name}.log",
                 what=f"apt-get download {pkg.name}={pkg.version}")
        debs = list(dest.glob(f"{pkg.name}_*.deb"))
        if len(debs) != 1:
            raise InfraError(f"apt-get download {pkg.name}: expected one .deb in {dest}, found {len(debs)}")
        return debs[0]
