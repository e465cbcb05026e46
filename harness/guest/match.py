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


def _find(pattern: str, log: str, pos: int) -> tuple[int, int] | None:
    rx = compile_pattern(pattern)
    if rx is None:
        at = log.find(pattern, pos)
        return (at, at + len(pattern)) if at >= 0 else None
    m = rx.search(log[pos:])
    return (pos + m.start(), pos + m.end()) if m else None


def first_present(patterns: list[str] | tuple[str, ...], not_patterns, log: str) -> int | None:
    """Index of the first ``__not_msg`` found where it must not be, or None (7.x test_loader's rules).

    ``not_patterns`` holds (k, pattern): the pattern sits after the first k ``__msg`` patterns and must
    not appear between the end of the last of those that matched and the start of the next one's
    match (or the end of the log).  The positive messages are matched as :func:`first_missing` does.
    """
    spans: list[tuple[int, int] | None] = []
    pos = 0
    for pattern in patterns:
        found = _find(pattern, log, pos)
        spans.append(found)
        if found is not None:
            pos = found[1]
    for i, (k, pattern) in enumerate(not_patterns):
        start = next((s[1] for s in reversed(spans[:k]) if s is not None), 0)
        if k < len(spans):
            if spans[k] is None:
                continue  # the message after it is missing: that is what the check reports
            end = spans[k][0]
        else:
            end = len(log)
        found = _find(pattern, log, start)
        if found is not None and found[1] <= end:
            return i
    return None
