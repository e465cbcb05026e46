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

from harness.parse.veristat import STATS


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


NOISE = (
    re.compile(r"^verification time \d+ usec"),
    re.compile(r"^stack depth [\d+ ]+$"),
    STATS,
    re.compile(r"^Func#\d+ \('[^']*'\) is (global|safe for).*"),
    re.compile(r"^Validating \S+ func#\d+\.\.\.$"),
    re.compile(r"^(insn|func)#\d+.*"),
    re.compile(r"^\s*$"),
)
CORE_POISON = "195896080"

_LIBBPF_REASONS: tuple[tuple[re.Pattern[str], LoadReason], ...] = (
    (re.compile(r"extern \(func ksym\) .*not found|failed to find BTF for extern|kfunc .* not found"), LoadReason.MISSING_KFUNC),
    (re.compile(r"relo #\d+: .*(failed|error)|failed to relocate|CO-RE relocating"), LoadReason.CORE_RELO),
    (re.compile(r"failed to find kernel BTF type ID|attach target|attach program FD is not set|failed to find .* attach|tracing target"), LoadReason.ATTACH_TARGET),
    (re.compile(r"extern .* not found|failed to find BTF|vmlinux BTF|kernel BTF is missing"), LoadReason.MISSING_BTF),
    (re.compile(r"map '[^']*': failed to (create|initialize)|failed to create map|map .*not supported"), LoadReason.MAP),
    (re.compile(r"program type .*not supported|unrecognized .*program|missing BPF prog type|prog type .* not supported"), LoadReason.PROG_TYPE),
    (re.compile(r"failed to open|not a BPF object|elf: |Failed to open"), LoadReason.OBJECT),
)
_GENERIC_LIBBPF = (
    re.compile(r"^failed to load object '"),
    re.compile(r"^prog '[^']*': failed to load: -?\d+$"),
    re.compile(r"^prog '[^']*': BPF program load failed: "),
    re.compile(r"^prog '[^']*': -- (BEGIN|END) PROG LOAD LOG --"),
)


def error_lines(log: Sequence[str]) -> list[str]:
    """The log's lines that are not stats or boilerplate, in order."""
    return [ln for ln in log if not any(p.match(ln) for p in NOISE)]


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
    """(class, load reason, error line) for one program; all None for a success."""
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
