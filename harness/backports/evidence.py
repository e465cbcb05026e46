"""The store's cells read as a stable branch's evidence: its own selftests on its newest kernel, and newer
selftests on its newest kernel and on a newer (reference) kernel."""

from __future__ import annotations

import dataclasses
import re

from harness.store import Store
from harness.version import KernelVersion
from harness.arch import PRIMARY
from harness.backends import VM

_REL = re.compile(r"^(\d+\.\d+(?:\.\d+)?)")


def release_version(release: str | None) -> KernelVersion | None:
    m = _REL.match(release or "")
    return KernelVersion.parse(m.group(1)) if m else None


def series_of(branch: str) -> tuple[int, int]:
    """``6.12.y`` / ``6.12`` -> (6, 12), or a ValueError naming the form."""
    m = re.fullmatch(r"(\d+)\.(\d+)(?:\.y)?", branch)
    if not m:
        raise ValueError(f"--branch {branch!r}: write MAJOR.MINOR.y (6.12.y)")
    return int(m.group(1)), int(m.group(2))


@dataclasses.dataclass(frozen=True)
class CellRef:
    id: int
    kernel: str
    version: KernelVersion
    corpus_id: str
    corpus: str
    corpus_version: KernelVersion | None
    status: str
    backend: str = VM.name


@dataclasses.dataclass(frozen=True)
class Cells:
    own: CellRef | None
    """The branch's own selftests (a corpus built from a release of the branch) on its newest kernel."""
    newer: CellRef | None
    """Newer selftests on the branch's newest kernel."""
    reference: CellRef | None
    """The same newer selftests on the newest kernel newer than the branch."""
    incomplete: tuple[str, ...]
    """Cells that would have been evidence but did not complete: said, never read as clean."""


def find(store: Store, series: tuple[int, int], arch: str = PRIMARY.name, at: KernelVersion | None = None) -> Cells:
    """The branch's kernel (``at``, else the newest of the series in the store) and its evidence cells: the
    branch's own selftests (a corpus of the series, no newer than the kernel), newer selftests (a corpus
    newer than the kernel) and the newest kernel newer than the branch's that verified the same corpus."""
    rows = store.db.execute(
        "SELECT c.id, c.kernel_id, c.release, c.status, c.corpus_id, c.backend, co.name, co.source_version FROM cells c "
        "JOIN corpora co ON co.id = c.corpus_id WHERE c.purpose='run' AND c.arch=? ORDER BY c.id", (arch,)).fetchall()
    cells: list[CellRef] = []
    for r in rows:
        v = release_version(r["release"])
        if v is None:
            continue
        cells.append(CellRef(r["id"], r["kernel_id"], v, r["corpus_id"], r["name"] or r["corpus_id"],
                             release_version(r["source_version"]), r["status"], r["backend"]))
    latest: dict[tuple[str, str], CellRef] = {}
    for c in cells:  # newest cell per (kernel, corpus)
        latest[(c.kernel, c.corpus_id)] = c
    mine = [c for c in latest.values() if (c.version.major, c.version.minor) == series
            and (at is None or c.version == at)]
    incomplete = tuple(sorted(f"{c.kernel}/{arch} ({c.corpus}): {c.status}" for c in mine
                              if c.status != "complete"))
    done = [c for c in latest.values() if c.status == "complete"]
    mine = [c for c in mine if c.status == "complete"]
    if not mine:
        return Cells(None, None, None, incomplete)
    kernel_v = max(c.version for c in mine)
    mine = [c for c in mine if c.version == kernel_v]

    def newest(cs):
        return max(cs, key=lambda c: (c.version, c.corpus_version or c.version, c.id)) if cs else None

    own = newest([c for c in mine if c.corpus_version and (c.corpus_version.major, c.corpus_version.minor) == series
                  and c.corpus_version <= kernel_v])
    newer = ref = None
    for c in sorted(mine, key=lambda c: (c.corpus_version or c.version, c.id), reverse=True):
        if c.corpus_version and c.corpus_version > kernel_v:
            r = newest([x for x in done if x.corpus_id == c.corpus_id and x.version > kernel_v])
            if r is not None:
                newer, ref = c, r
                break
    return Cells(own, newer, ref, incomplete)
