"""Expected-message matching exactly as the selftests' ``test_loader.c`` does it (stdlib only, pure).

``__msg("text")`` is a substring; a message containing ``{{...}}`` is a regex
whose parts outside the braces are literal (``compile_regex``: POSIX extended,
``REG_NEWLINE``, so ``.`` never crosses a line and ``^``/``$`` anchor at
lines).  Messages must appear in order: each search starts where the previous
match ended.  Imported by the guest runner (which matches logs in the guest so
that multi-megabyte level-2 logs never travel) and by the host's tests.
"""

from __future__ import annotations

import re

_POSIX_SPECIAL = set(".[]\\()*+?{}|^$")


def compile_pattern(pattern: str) -> re.Pattern | None:
    """The regex for a ``{{...}}`` message, or None for a plain substring (raises ValueError if malformed)."""
    if "{{" not in pattern:
        return None
    out, i, in_regex = [], 0, False
    while i < len(pattern):
        if not in_regex and pattern.startswith("{{", i):
            in_regex, i = True, i + 2
        elif in_regex and pattern.startswith("}}", i):
            in_regex, i = False, i + 2
        elif in_regex:
            out.append(pattern[i])
            i += 1
        else:
            out.append("\\" + pattern[i] if pattern[i] in _POSIX_SPECIAL else pattern[i])
            i += 1
    if in_regex:
        raise ValueError(f"regex has an open '{{{{' but no closing '}}}}': {pattern!r}")
    try:
        return re.compile("".join(out), re.M)
    except re.error as e:
        raise ValueError(f"bad regex in {pattern!r}: {e}") from e


def first_missing(patterns: list[str] | tuple[str, ...], log: str) -> int | None:
    """Index of the first expected message not found in order in ``log``, or None if all are there."""
    pos = 0
    for i, pattern in enumerate(patterns):
        rx = compile_pattern(pattern)
        if rx is None:
            at = log.find(pattern, pos)
            if at < 0:
                return i
            pos = at + len(pattern)
        else:
            m = rx.search(log[pos:])  # regexec on the rest: '^' also matches where the search resumes
            if m is None:
                return i
            pos += m.end()
    return None
