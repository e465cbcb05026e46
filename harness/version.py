"""Kernel and Debian version strings: parsing and ordering (pure)."""

from __future__ import annotations

import dataclasses
import functools
import re

_KV = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?(?:-rc(\d+))?$")


@functools.total_ordering
@dataclasses.dataclass(frozen=True)
class KernelVersion:
    """An upstream kernel version: ``6.12.117``, ``7.3``, ``7.4-rc2``.

    ``7.4-rc2 < 7.4 < 7.4.1``.
    """

    major: int
    minor: int
    patch: int = 0
    rc: int | None = None

    @classmethod
    def parse(cls, text: str) -> "KernelVersion":
        m = _KV.match(text.strip())
        if not m:
            raise ValueError(f"not a kernel version: {text!r} (expected e.g. 6.12.117 or 7.4-rc2)")
        major, minor, patch, rc = m.groups()
        return cls(int(major), int(minor), int(patch or 0), int(rc) if rc else None)

    @property
    def series(self) -> str:
        return f"{self.major}.{self.minor}"

    def _key(self) -> tuple[int, int, int, int]:
        # an rc sorts before its release: rc N -> N, release -> large
        return (self.major, self.minor, self.patch, self.rc if self.rc is not None else 1 << 30)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, KernelVersion):
            return NotImplemented
        return self._key() < other._key()

    def __str__(self) -> str:
        s = f"{self.major}.{self.minor}"
        if self.patch:
            s += f".{self.patch}"
        if self.rc is not None:
            s += f"-rc{self.rc}"
        return s


def upstream_of_debian(version: str) -> KernelVersion | None:
    """Upstream kernel version carried by a Debian package version.

    ``6.12.117-1~deb12u1`` -> 6.12.117; ``6.1.192-2`` -> 6.1.192;
    ``7.3~rc4-1~exp1`` -> 7.3-rc4; ``1:2.0-1`` (not a kernel) -> None.
    """
    v = version.split(":", 1)[-1]
    upstream = v.rsplit("-", 1)[0] if "-" in v else v
    upstream = upstream.replace("~rc", "-rc")
    try:
        return KernelVersion.parse(upstream)
    except ValueError:
        return None


def nearest(wanted: KernelVersion, available: list[KernelVersion], n: int = 3) -> list[KernelVersion]:
    """The ``n`` available versions closest to ``wanted`` (same series first)."""

    def distance(v: KernelVersion) -> tuple[int, int, int]:
        if v.series == wanted.series:
            return (0, 0, abs(v.patch - wanted.patch))
        # another series: the closest series first, and its newest release
        return (1, abs(v.major - wanted.major) * 1000 + abs(v.minor - wanted.minor), -v.patch)

    return sorted(sorted(set(available), key=distance)[:n])


# --- Debian version comparison (deb-version(7)), pure ---------------------------------

def _order(c: str) -> int:
    if c == "~":
        return -1
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _cmp_part(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i]) if i < len(a) and not a[i].isdigit() else 0
            bc = _order(b[j]) if j < len(b) and not b[j].isdigit() else 0
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def _split_debian(v: str) -> tuple[int, str, str]:
    epoch = 0
    if ":" in v:
        e, v = v.split(":", 1)
        epoch = int(e)
    if "-" in v:
        upstream, revision = v.rsplit("-", 1)
    else:
        upstream, revision = v, "0"
    return epoch, upstream, revision


def debian_version_cmp(a: str, b: str) -> int:
    """Compare two Debian versions like ``dpkg --compare-versions`` (<0, 0, >0)."""
    ea, ua, ra = _split_debian(a)
    eb, ub, rb = _split_debian(b)
    if ea != eb:
        return ea - eb
    return _cmp_part(ua, ub) or _cmp_part(ra, rb)


debian_version_key = functools.cmp_to_key(debian_version_cmp)
