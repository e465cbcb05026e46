"""Reduce a verifier or load error line to a stable key (pure).

Register numbers, offsets, sizes, ids, instruction indices and addresses change
between kernels and compilers without the failure changing; names (helpers,
kfuncs, types, maps) do not, and are kept.  So the same failure groups across
kernels, and wording drift in numbers never shows as a diff.
"""

from __future__ import annotations

import re

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "#"),
    (re.compile(r"\b[Rr]\d+\b"), "R#"),
    (re.compile(r"\bfp-?\d+"), "fp#"),
    (re.compile(r"(?<![A-Za-z_0-9])[-+]?\d+(?:[-+]\d+)*"), "#"),
    (re.compile(r"#{2,}"), "#"),
    (re.compile(r"\s+"), " "),
)
_PREFIX = re.compile(r"^(?:libbpf: )?prog '[^']*': ")
"""libbpf prefixes the program's own name, which is not part of the failure."""


def error_key(line: str | None) -> str:
    """``R1 invalid mem access 'scalar'`` -> ``R# invalid mem access 'scalar'``."""
    if not line:
        return ""
    text = _PREFIX.sub("", line.strip())
    for pat, repl in _RULES:
        text = pat.sub(repl, text)
    return text.strip()
