"""The host <-> guest wire format: the files of a cell's rwdir and what each holds.  Stdlib only: the guest
runner imports it (``python3 -S``), as do the host (:mod:`harness.cell`) and the test fake (``tests/fakes/vng``).

In: ``plan.json`` (:class:`Plan`), written by the host before the guest boots; a resumed boot gets a new plan
that lists under ``skip`` what already has a result and under ``done`` what only needs its second pass.

Out, written by the runner as it goes (the host reads only these, never vng's exit code):

- ``started.json``: once the runner runs (its absence after the boot timeout is a boot failure);
- ``results.jsonl``: one JSON record a line, appended and flushed (fsynced in a VM) one by one, each with a
  ``kind`` of :data:`KINDS`;
- ``done.json``: once every program has its records (its absence at exit is a guest that died).

``docs/layout.md`` ("The guest protocol") shows each record's fields.
"""

from __future__ import annotations

import dataclasses
from typing import TypedDict

PLAN = "plan.json"
STARTED = "started.json"
RESULTS = "results.jsonl"
DONE = "done.json"

RESULT = "result"
"""A program's verdict: ``status`` (done | timeout | crash), ``object``, ``program``, ``verdict``, ``log`` (the
verifier's last lines), ``libbpf``, the veristat stats (``insns``, ``states``, ...), ``duration_us``, ``wall_s``."""
BATCH = "batch"
"""A worker started a veristat over ``keys`` ([object, program], in verification order): what was in flight."""
TAIL = "tail"
"""The log tail of a rejected program's second pass: ``tail`` (lines) at ``log_level``."""
MSG = "msg"
"""A ``__msg`` check's outcome: ``check`` (matched | mismatch | n/a), ``detail``, ``log_level``, maybe ``tail``."""
ERROR = "error"
"""The runner failed on an ``object`` (``error``); the host logs it, the object's programs end not run."""
KINDS = (RESULT, BATCH, TAIL, MSG, ERROR)


class PlanObject(TypedDict, total=False):
    """One object of the plan (``name``, ``path``, ``programs`` always; the rest only when not empty)."""
    name: str
    path: str
    programs: list[str]
    """In libbpf order: veristat's, so the first program without a result is the one in flight."""
    checks: dict[str, dict]
    """Per program, the ``__msg`` check to run (:mod:`harness.msgcheck`)."""
    no_tail: list[str]
    """Rejections the selftest expects: no second pass for their tail."""
    done: dict[str, list]
    """A resumed boot: programs with a result ([verdict, the verifier ran]) that still need their second pass."""
    skip: list[str]
    """A resumed boot: programs with a result already (not verified again)."""


class PlanError(ValueError):
    """A plan this runner cannot read: the host and the guest runner are of different versions."""


@dataclasses.dataclass(frozen=True)
class Plan:
    veristat: str
    """The veristat binary (a path the guest sees)."""
    workers: int
    """Parallel veristat workers (a VM's vCPUs; UML: 1)."""
    objects_per_veristat: int
    program_timeout: float
    """Seconds without a finished program before the veristat is killed and the program recorded as timeout."""
    objects: list[PlanObject]
    deadline_s: float
    """The guest powers itself off after this long (a host that died leaves no guest behind)."""
    log_size: bool = False
    """veristat takes ``--log-size``."""
    fsync: bool = True
    private_tmp: bool = True
    """A tmpfs of the guest's own for scratch files and the staged vmlinux BTF."""
    failure_log_level: int = 0
    """A rejection's second pass runs at this verifier log level for its tail (0: none)."""
    main_log_level: int = 0
    """A logs re-run: every program at this level, its whole log kept (0: the usual pass)."""
    kconfig: str | None = None
    """The kernel's .config for libbpf's ``__kconfig`` externs, when ``/proc/config.gz`` is missing."""

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        if not d["main_log_level"]:
            del d["main_log_level"]
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Plan":
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - set(fields))
        missing = sorted(n for n, f in fields.items() if n not in d and f.default is dataclasses.MISSING)
        if unknown or missing:
            raise PlanError("plan.json does not match this runner (" + "; ".join(
                part for part in (f"unknown: {', '.join(unknown)}" if unknown else "",
                                  f"missing: {', '.join(missing)}" if missing else "") if part)
                + "): the host and the guest run different versions of bpf-harness")
        return cls(**d)
