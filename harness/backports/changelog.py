"""Debian kernel changelogs as the offline list of what each stable release contains (pure).

Every ``linux`` / ``linux-source`` package ships ``changelog.Debian.gz``.  Its entries for a stable update
look like::

    linux (6.12.115-1) trixie-security; urgency=high

      * New upstream stable update:
        https://www.kernel.org/pub/linux/kernel/v6.x/ChangeLog-6.12.114
        - bpf: Mark bpf_refcount field as unique (CVE-2026-23472)
        - [s390x] mm: Add missing secure storage access fixups for donated
          memory
        https://www.kernel.org/pub/linux/kernel/v6.x/ChangeLog-6.12.115
        - ...

Each ``- `` item is one upstream commit's subject (an ``[arch]`` prefix says which Debian architectures
build it; CVE ids follow in parentheses); continuation lines are indented further.  One Debian upload may
carry several stable updates, each after its own ``ChangeLog-X.Y.Z`` line.
"""

from __future__ import annotations

import dataclasses
import gzip
import re
from harness.arch import PRIMARY
from pathlib import Path
from typing import Iterable

_URL = re.compile(r"^\s+https?://\S+/ChangeLog-(\d+\.\d+(?:\.\d+)?)\s*$")
_ITEM = re.compile(r"^    - (.*)$")
_CONT = re.compile(r"^      +(\S.*)$")
_BULLET = re.compile(r"^  \* ")
_UPLOAD = re.compile(r"^\S+ \(([^)]+)\) ")
_CVE = re.compile(r"CVE-\d{4}-\d{4,}")
_TAIL = re.compile(r"\s*\(((?:CVE-\d{4}-\d{4,}(?:,\s*)?)+)\)\s*$")
_ARCH = re.compile(r"^\[([^\]]+)\]\s*")


@dataclasses.dataclass(frozen=True)
class Entry:
    release: str
    """The upstream stable release that brought it (``6.12.114``)."""
    subject: str
    cves: tuple[str, ...] = ()
    arches: tuple[str, ...] = ()
    """Debian architectures named in an ``[amd64]`` prefix (empty: all)."""


def parse(text: str) -> list[Entry]:
    """Every upstream subject of every stable update the changelog lists, newest first as written."""
    out: list[Entry] = []
    release: str | None = None
    item: list[str] = []

    def flush() -> None:
        if item and release:
            out.append(entry(release, " ".join(item)))
        item.clear()

    for line in text.splitlines():
        if _UPLOAD.match(line) or _BULLET.match(line):
            flush()
            release = None
            continue
        m = _URL.match(line)
        if m:
            flush()
            release = m.group(1)
            continue
        m = _ITEM.match(line)
        if m:
            flush()
            item.append(m.group(1).strip())
            continue
        m = _CONT.match(line)
        if m and item:
            item.append(m.group(1).strip())
            continue
        flush()
    flush()
    return out


def entry(release: str, text: str) -> Entry:
    """One ``- `` item: its ``[arch]`` prefix and trailing ``(CVE-...)`` split off (pure)."""
    arches: tuple[str, ...] = ()
    m = _ARCH.match(text)
    if m:
        arches = tuple(a.strip() for a in m.group(1).split(","))
        text = text[m.end():]
    cves: tuple[str, ...] = ()
    m = _TAIL.search(text)
    if m:
        cves = tuple(_CVE.findall(m.group(1)))
        text = text[:m.start()]
    return Entry(release, text.strip(), cves, arches)


def read(path: Path) -> list[Entry]:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return parse(data.decode("utf-8", "replace"))


def debian(version, matrix, cache_root: Path) -> Path:
    """The ``changelog.Debian.gz`` of ``version``'s Debian ``linux-source`` package (downloaded into the cache
    once, as the corpus and source-built kernels use it)."""
    from harness.arch import get_arch
    from harness.kernels import debian as deb
    from harness.kernels.apt import Apt
    apt = Apt(cache_root, get_arch(PRIMARY.name), matrix.debian)
    apt.update()
    pkg, tarball = deb.fetch_source(version, apt, cache_root)
    path = tarball.parents[1] / "share" / "doc" / pkg.name / "changelog.Debian.gz"
    if not path.is_file():
        from harness.errors import InfraError
        raise InfraError(f"{pkg.name}={pkg.version}: no {path.relative_to(tarball.parents[2])} in the package")
    return path


def upto(entries: Iterable[Entry], release: str) -> list[Entry]:
    """The entries of ``release`` and every release before it (what a kernel of that release contains)."""
    want = _key(release)
    return [e for e in entries if _key(e.release) <= want]


def _key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


def norm_subject(s: str) -> str:
    """A subject as matching compares it: whitespace folded, a trailing period and ``[PATCH ...]`` dropped."""
    s = re.sub(r"^\s*(\[[^\]]*\]\s*)+", "", s)
    return re.sub(r"\s+", " ", s).strip().rstrip(".").casefold()
