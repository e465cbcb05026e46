"""What a failed load means: verifier rejection or load/link failure, and the line that says why (pure).

A verifier log always ends with its stats line (``processed N insns ...``)
when ``bpf_check`` ran, whatever the outcome (log level 4 asks for it), so:

* stats and an error line         -> the verifier rejected the program;
* stats and no error line         -> the verifier accepted it, libbpf failed
  afterwards (e.g. initialising a prog-array slot): a load/link failure;
* no stats                        -> the load failed before verification
  (missing kfunc, BTF type, attach target, map or program type).

A CO-RE relocation libbpf could not resolve poisons the instruction, which
the verifier then rejects as ``unknown#195896080``: that is a load failure too.
"""

from __future__ import annotations

import enum
import re
from typing import Sequence

from harness.parse.veristat import PREPARE_FAILED, STATS, unprepared


class FailureClass(enum.Enum):
    VERIFIER = "verifier"
    """The verifier ran and rejected the program."""
    LOAD = "load"
    """The program never got a verdict from the verifier, or libbpf failed after it."""


class LoadReason(enum.Enum):
    MISSING_KFUNC = "missing-kfunc"
    MISSING_BTF = "missing-btf"
    ATTACH_TARGET = "attach-target"
    MAP = "map"
    PROG_TYPE = "prog-type"
    CORE_RELO = "core-relocation"
    OBJECT = "object"
    POST_VERIFICATION = "post-verification"
    KERNEL = "kernel"
    """The kernel refused the load before verifying, with no log (errno only)."""
    PREPARE = "object-prepare"
    """veristat could not prepare the program's object (7.x: :data:`harness.parse.veristat.PREPARE_FAILED`) and
    libbpf named no reason this table knows."""


SUBPROG_STATS = re.compile(r"^subprog \d+ \(.*\) \S+ insns_self \d+ insns_total \d+ stack \d+$")
"""7.x prints one of these per subprogram after "stack depth max N"."""
NOISE = (
    re.compile(r"^verification time \d+ usec"),
    # "stack depth 8", "stack depth 0+8", "stack depth " (nothing verified), 7.x "stack depth max 0"
    re.compile(r"^stack depth( max)?[\d+ ]*( max \d+)?$"),
    SUBPROG_STATS,
    STATS,
    re.compile(r"^Func#\d+ \('[^']*'\) is (global|safe for).*"),
    re.compile(r"^Validating \S+ func#\d+\.\.\.$"),
    re.compile(r"^(insn|func)#\d+.*"),
    re.compile(r"^; .* @ \S+:\d+$"),  # the source line of an insn (BTF line info), after the error at level 4
    re.compile(r"^\s*$"),
)
CORE_POISON = "195896080"

_LIBBPF_REASONS: tuple[tuple[re.Pattern[str], LoadReason], ...] = (
    (re.compile(r"extern \(func ksym\) .*not found|failed to find BTF for extern|kfunc .* not found"), LoadReason.MISSING_KFUNC),
    (re.compile(r"relo #\d+: .*(failed|error)|failed to relocate|CO-RE relocating"), LoadReason.CORE_RELO),
    (re.compile(r"failed to find kernel BTF type ID|attach target|attach program FD is not set|failed to find .* attach"
                r"|tracing target"), LoadReason.ATTACH_TARGET),
    (re.compile(r"extern .* not found|failed to find BTF|vmlinux BTF|kernel BTF is missing"), LoadReason.MISSING_BTF),
    (re.compile(r"map '[^']*': failed to (create|initialize)|failed to create map|map .*not supported"), LoadReason.MAP),
    (re.compile(r"program type .*not supported|unrecognized .*program|missing BPF prog type|prog type .* not supported"),
     LoadReason.PROG_TYPE),
    (re.compile(r"failed to open|not a BPF object|elf: |Failed to open"), LoadReason.OBJECT),
)
_GENERIC_LIBBPF = (
    re.compile(r"^failed to load object '"),
    re.compile(r"^prog '[^']*': failed to load: -?\d+$"),
    re.compile(r"^prog '[^']*': BPF program load failed: "),
    re.compile(r"^prog '[^']*': -- (BEGIN|END) PROG LOAD LOG --"),
    # the object's BTF refused at open (7.x kernels on some objects): libbpf goes on without it
    re.compile(r"^BTF loading error: "),
    re.compile(r"^-- (BEGIN|END) BTF LOAD LOG --"),
    re.compile(r"^Error loading \.BTF into kernel: .*BTF is optional, ignoring"),
)


DIAGNOSIS = re.compile(r"^Verification failed: ")
"""7.x kernels explain a rejection after the verifier's own message, at log level 1 and up
(``kernel/bpf/diagnostics.c``): "Verification failed: <category>", then Reason, At, Suggestion."""


def error_lines(log: Sequence[str]) -> list[str]:
    """The log's lines that are not stats or boilerplate, in order, up to a 7.x explanation block."""
    cut = next((i for i, ln in enumerate(log) if DIAGNOSIS.match(ln)), len(log))
    return [ln for ln in log[:cut] if not any(p.match(ln) for p in NOISE)]


def diagnosis(log: Sequence[str]) -> list[str]:
    """A 7.x kernel's explanation of a rejection (from "Verification failed:" up to the stats), or []."""
    start = next((i for i, ln in enumerate(log) if DIAGNOSIS.match(ln)), None)
    if start is None:
        return []
    end = next((i for i in range(start, len(log)) if any(p.match(log[i]) for p in NOISE[:3])), len(log))
    out = list(log[start:end])
    while out and not out[-1].strip():
        out.pop()
    return out


def has_stats(log: Sequence[str]) -> bool:
    return any(STATS.match(ln) for ln in log)


def _libbpf_reason(libbpf: Sequence[str]) -> tuple[LoadReason | None, str | None]:
    for line in libbpf:
        for pat, reason in _LIBBPF_REASONS:
            if pat.search(line):
                return reason, line
    specific = [ln for ln in libbpf if not any(p.match(ln) for p in _GENERIC_LIBBPF) and ln.strip()]
    if specific:
        return None, specific[0]
    failed = next((ln for ln in libbpf if "BPF program load failed" in ln), None)
    return None, failed


def classify(verdict: str, log: Sequence[str], libbpf: Sequence[str]) -> tuple[
        FailureClass | None, LoadReason | None, str | None]:
    """(class, load reason, error line) for one program; all None for a success.  A program of an object veristat
    could not prepare is a load failure whatever the kernel said of its unrelocated instructions (the caller
    records no verdict of the kernel's for it: :func:`harness.parse.veristat.unprepared`)."""
    if unprepared(libbpf):
        reason, line = _libbpf_reason([ln for ln in libbpf if not PREPARE_FAILED.match(ln)])
        why = line or next(ln for ln in libbpf if PREPARE_FAILED.match(ln))
        return FailureClass.LOAD, reason or LoadReason.PREPARE, f"object not prepared: {why}"
    if verdict == "success":
        return None, None, None
    errors = error_lines(log)
    if has_stats(log) and errors:
        last = errors[-1]
        if CORE_POISON in last:
            reason, line = _libbpf_reason(libbpf)
            return FailureClass.LOAD, LoadReason.CORE_RELO, line if reason is LoadReason.CORE_RELO else last
        return FailureClass.VERIFIER, None, last
    reason, line = _libbpf_reason(libbpf)
    if has_stats(log):
        return FailureClass.LOAD, LoadReason.POST_VERIFICATION, line or "load failed after verification"
    if errors:
        # A log without stats: the kernel said why before bpf_check's end (old kernels, attach checks).
        return FailureClass.LOAD, reason or LoadReason.KERNEL, errors[-1]
    return FailureClass.LOAD, reason or LoadReason.KERNEL, line or "load failed before verification (no log)"
