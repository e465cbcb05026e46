"""Known issues as data (``selftest_maps/known_issues.yaml``): a program pattern, a kernel/arch scope, a reason,
a link and an expiry date.  A matching result is ``xfail`` in pytest (``known`` in reports); an expired entry
fails the run; an entry that matched nothing is reported as stale.  Validated strictly, like the matrix.

::

    - id: tc-uninit-mtu-privileged
      programs: [verifier_mtu/tc_uninit_mtu]     # fnmatch patterns on OBJECT/PROGRAM
      kernels: ["6.12.*"]                        # optional: fnmatch on the kernel id
      arches: [x86_64]                           # optional
      reason: expects a rejection only without CAP_PERFMON; veristat loads it with every capability
      link: selftest_maps/notes.yaml
      expires: 2027-06-30
"""

from __future__ import annotations

import dataclasses
import datetime
import fnmatch
from pathlib import Path

import yaml

from harness.errors import UserError

KEYS = {"id", "programs", "kernels", "arches", "reason", "link", "expires"}
REQUIRED = ("id", "programs", "reason", "expires")


@dataclasses.dataclass(frozen=True)
class KnownIssue:
    id: str
    programs: tuple[str, ...]
    reason: str
    expires: datetime.date
    kernels: tuple[str, ...] = ()
    arches: tuple[str, ...] = ()
    link: str | None = None

    def matches(self, kernel: str, arch: str, program: str) -> bool:
        return (any(fnmatch.fnmatchcase(program, p) for p in self.programs)
                and (not self.kernels or any(fnmatch.fnmatchcase(kernel, k) for k in self.kernels))
                and (not self.arches or arch in self.arches))

    def expired(self, today: datetime.date) -> bool:
        return today > self.expires


def parse(text: str, where: str) -> tuple[KnownIssue, ...]:
    """Every entry, or a one-line :class:`UserError` naming the file, the entry and what is wrong (pure)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise UserError(f"{where}: not valid YAML ({str(e).splitlines()[0]})") from None
    if data is None:
        return ()
    if not isinstance(data, list):
        raise UserError(f"{where}: a list of entries (- id: ..., programs: [...], reason: ..., expires: YYYY-MM-DD)")
    out, seen = [], set()
    for i, e in enumerate(data, 1):
        name = f"{where}: entry {i}" + (f" ({e.get('id')})" if isinstance(e, dict) and e.get("id") else "")
        if not isinstance(e, dict):
            raise UserError(f"{name}: a mapping with {', '.join(REQUIRED)}")
        unknown = sorted(set(e) - KEYS)
        if unknown:
            raise UserError(f"{name}: unknown key {unknown[0]!r}; keys: {', '.join(sorted(KEYS))}")
        missing = [k for k in REQUIRED if not e.get(k)]
        if missing:
            raise UserError(f"{name}: {missing[0]} is required")
        if e["id"] in seen:
            raise UserError(f"{name}: id {e['id']!r} used twice")
        seen.add(e["id"])
        exp = e["expires"]
        if isinstance(exp, str):
            try:
                exp = datetime.date.fromisoformat(exp)
            except ValueError:
                exp = None
        if not isinstance(exp, datetime.date):
            raise UserError(f"{name}: expires must be a date, YYYY-MM-DD")
        lists = {}
        for k in ("programs", "kernels", "arches"):
            v = e.get(k, [])
            if isinstance(v, str):
                v = [v]
            if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
                raise UserError(f"{name}: {k} must be a list of strings")
            lists[k] = tuple(v)
        bad = [p for p in lists["programs"] if "/" not in p]
        if bad:
            raise UserError(f"{name}: program pattern {bad[0]!r}: write OBJECT/PROGRAM (wildcards allowed)")
        out.append(KnownIssue(str(e["id"]), lists["programs"], str(e["reason"]).strip(), exp, lists["kernels"],
                              lists["arches"], str(e["link"]) if e.get("link") else None))
    return tuple(out)


def load(path: Path | None) -> tuple[KnownIssue, ...]:
    if path is None or not path.exists():
        return ()
    return parse(path.read_text(), str(path))


def match(issues: tuple[KnownIssue, ...], kernel: str, arch: str, program: str) -> KnownIssue | None:
    return next((k for k in issues if k.matches(kernel, arch, program)), None)
