"""One fidelity measurement kept as a file: the two cells and every program's result as :func:`.measure.compare`
reads it, gzipped JSON (``bpf-harness fidelity --record FILE``).  The docs' page of what the fast lane cannot
judge (``docs/fast-lane-fidelity.md``) is rendered from these records (``ci/fidelity_docs.py``), so its tables are
the last run's data, and a unit test fails when page and records disagree.
"""

from __future__ import annotations

import dataclasses
import datetime
import gzip
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from harness.errors import ConfigError
from harness.fidelity.measure import VERIFIER_OBJECTS, Fidelity, compare, render_md, subset

if TYPE_CHECKING:
    from harness.store import CellRecord, Store

FORMAT = 1
KEPT = ("verdict", "insns", "error", "failure_class", "load_reason")
"""The result fields the classification reads of both sides; of UML's failures also the tails of the verifier
log and of libbpf's output (:data:`TAIL`), which its rules search."""
TAIL = 1000


@dataclasses.dataclass(frozen=True)
class Side:
    """One of the two cells, as the tables name it."""
    kernel_id: str
    release: str | None
    corpus_id: str
    backend: str
    accel: str | None
    seconds: float | None
    finished: str
    """The day the cell ended (YYYY-MM-DD, UTC)."""

    @classmethod
    def of(cls, c: "CellRecord") -> "Side":
        day = datetime.datetime.fromtimestamp(c.finished or c.started, datetime.timezone.utc).date().isoformat()
        return cls(c.kernel_id, c.release, c.corpus_id, c.backend, c.accel,
                   round(c.seconds, 1) if c.seconds is not None else None, day)


@dataclasses.dataclass(frozen=True)
class Record:
    what: str
    """What was run, in the user's words (a matrix, a release): the page's heading."""
    uml: Side
    vm: Side
    uml_results: Mapping[tuple[str, str], Mapping]
    vm_results: Mapping[tuple[str, str], Mapping]

    @classmethod
    def of(cls, what: str, uml: "CellRecord", vm: "CellRecord", uml_results: Mapping[tuple[str, str], Mapping],
           vm_results: Mapping[tuple[str, str], Mapping]) -> "Record":
        return cls(what, Side.of(uml), Side.of(vm), {k: slim(r, texts=True) for k, r in uml_results.items()},
                   {k: slim(r) for k, r in vm_results.items()})

    @classmethod
    def stored(cls, store: "Store", uml: "CellRecord", vm: "CellRecord", what: str | None = None) -> "Record":
        """The pair's measurement from its store (``what``: default, the UML cell's release)."""
        return cls.of(what or uml.release or uml.kernel_id, uml, vm, store.result_map(uml.id), store.result_map(vm.id))

    def fidelity(self) -> Fidelity:
        return compare(self.uml_results, self.vm_results)

    def verifier(self) -> Fidelity:
        """The same over the verifier_* objects alone."""
        return compare(subset(self.uml_results, VERIFIER_OBJECTS), subset(self.vm_results, VERIFIER_OBJECTS))

    def to_json(self) -> dict[str, Any]:
        def rows(res: Mapping[tuple[str, str], Mapping]) -> dict[str, Mapping]:
            return {f"{o}/{p}": r for (o, p), r in sorted(res.items())}
        return {"format": FORMAT, "what": self.what, "uml": dataclasses.asdict(self.uml),
                "vm": dataclasses.asdict(self.vm), "uml_results": rows(self.uml_results),
                "vm_results": rows(self.vm_results)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Record":
        if d.get("format") != FORMAT:
            raise ValueError(f"format {d.get('format')!r}, this bpf-harness reads {FORMAT}")

        def rows(res: Mapping[str, Mapping]) -> dict[tuple[str, str], Mapping]:
            return {tuple(k.split("/", 1)): r for k, r in res.items()}  # type: ignore[misc]
        return cls(d["what"], Side(**d["uml"]), Side(**d["vm"]), rows(d["uml_results"]), rows(d["vm_results"]))


def slim(r: Mapping, texts: bool = False) -> dict[str, Any]:
    """What the classification reads of one result (pure): :data:`KEPT`, and with ``texts`` a failure's log and
    libbpf tails."""
    out = {k: r[k] for k in KEPT if r.get(k) not in (None, "")}
    if texts and r.get("verdict") == "failure":
        out.update({k: str(r[k])[-TAIL:] for k in ("log", "libbpf") if r.get(k)})
    return out


def save(rec: Record, path: Path) -> None:
    """Write ``rec`` (the same bytes for the same record: sorted keys, no timestamp in the gzip header)."""
    data = json.dumps(rec.to_json(), sort_keys=True, separators=(",", ":")).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(data)
    tmp.replace(path)


def load(path: Path) -> Record:
    try:
        with gzip.open(path, "rt") as f:
            return Record.from_json(json.load(f))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such fidelity record (bpf-harness fidelity --record writes one)") from None
    except (OSError, EOFError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{path}: not a fidelity record ({e}); write it again with bpf-harness fidelity "
                          f"--record") from None


PAGE_HEAD = """\
# What the fast lane judges: fidelity tables

Generated, not written: `python3 ci/fidelity_docs.py` renders this page from the records in `docs/fidelity/`,
each written by

```sh
bpf-harness fidelity --db RESULTS.db --record docs/fidelity/RELEASE.json.gz
```

after a run with a UML cell and a VM cell of the same release and corpus (`configs/fast-lane.yaml`'s
corpus: every selftest object of the release but the ones near the 1M-instruction limit).  A unit test
fails when this page and the records disagree.  "The verifier's answer identical" counts a program UML's
kernel refused for want of a JIT after its verifier accepted it with the VM's insns as the VM's answer
(what `bpf-harness bisect --backend auto` lets UML judge).  The causes are explained in
[fast-lane.md](fast-lane.md).
"""


def render_page(records: list[Record], limit: int = 3) -> str:
    """The docs page (pure): a section per record, newest release first."""
    out = [PAGE_HEAD]
    for rec in records:
        def cell(s: Side) -> str:
            kind = "UML" if s.backend == "uml" else (s.accel or s.backend).upper()
            return f"{kind} cell {s.seconds:.0f} s" if s.seconds is not None else f"{kind} cell"
        day = max(rec.uml.finished, rec.vm.finished)
        out.append(f"## {rec.what} ({day}; {cell(rec.uml)}, {cell(rec.vm)})\n")
        out.append(render_md(rec.fidelity(), rec.uml, rec.vm, limit, rec.verifier()))
    return "\n".join(out)
