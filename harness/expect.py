"""Expected outcomes the selftests carry in BTF decl tags (``progs/bpf_misc.h``), and checks against them.

``__success`` / ``__failure`` / ``__msg("...")`` / ``__log_level(N)`` /
``__flag(...)`` / ``__arch(...)`` / ``__description(...)`` / ``__auxiliary``
become ``comment:test_*`` decl tags on the program's function.  Three forms,
by kernel tree:

* 6.1: ``comment:test_expect_msg=TEXT`` (order: BTF order);
* 6.12: ``comment:test_expect_msg=N=TEXT`` (``N`` from ``__COUNTER__`` keeps the source order);
* 7.x: every tag is ``comment:N:test_...`` (``__test_tag``: the counter before the tag, so
  ``__failure`` is ``comment:41:test_expect_failure``); test_loader sorts a function's tags by it.
  7.x adds ``__not_msg`` (a message that must not appear between the surrounding ``__msg`` matches),
  ``__xlated`` / ``__jited`` (the rewritten or JITed code), ``__stderr`` / ``__stdout`` (the program's
  output when run), ``__load_if_JITed`` / ``__load_if_no_JITed`` (``load_mode=``) and ``__btf_path``.

What veristat cannot check is kept with its reason (``unchecked``); what makes the selftest itself not
load the program here (no JIT wanted, its own BTF) makes the verdict not judged (``skip``).
"""

from __future__ import annotations

import dataclasses
import enum
import re
from typing import Iterable

from harness.arch import ARCHES

PREFIX = "comment:"
VERSION = 2
"""Bumped when parsing changes: cached corpus manifests re-read their objects' tags."""
_NUMBERED = re.compile(r"^(\d+)=(.*)$", re.S)
_COUNTER = re.compile(r"^comment:(\d+):(.*)$", re.S)

UNCHECKED = {
    "test_expect_xlated": "__xlated: the program after the verifier's rewrites, which veristat does not show",
    "test_jited": "__jited: the JITed code, which veristat does not show",
    "test_expect_stderr": "__stderr: the program's output when run; veristat only loads",
    "test_expect_stdout": "__stdout: the program's output when run; veristat only loads",
}
"""7.x tags whose expectation veristat cannot check (the verdict and __msg still are)."""


class Outcome(enum.Enum):
    AS_EXPECTED = "as-expected"
    UNEXPECTED = "unexpected"
    NOT_APPLICABLE = "n/a"
    """No expectation, an auxiliary program, another arch, or no verdict to judge."""


@dataclasses.dataclass(frozen=True)
class Expectation:
    expect: str | None
    """``success``, ``failure`` or None (the program carries no test tags)."""
    messages: tuple[str, ...] = ()
    regexes: tuple[str, ...] = ()
    log_level: int | None = None
    flags: tuple[str, ...] = ()
    arches: tuple[str, ...] = ()
    description: str | None = None
    auxiliary: bool = False
    not_messages: tuple[tuple[int, str], ...] = ()
    """``__not_msg``: (number of ``__msg`` before it, pattern); it must not appear between those matches."""
    unchecked: tuple[str, ...] = ()
    """Expectations the test carries that veristat cannot check, each with why (``__xlated``, ...)."""
    skip: str | None = None
    """Why the selftest itself would not load this program on a VM kernel (its verdict is then not judged)."""

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "Expectation":
        def conv(k, v):
            if k == "not_messages":
                return tuple((int(i), str(m)) for i, m in v)
            return tuple(v) if isinstance(v, list) else v
        return cls(**{k: conv(k, v) for k, v in d.items()})


NONE = Expectation(None)


def _ordered(values: list[tuple[int, str]]) -> tuple[str, ...]:
    return tuple(v for _, v in sorted(values, key=lambda t: t[0]))


def _split(tags: Iterable[str]) -> list[str]:
    """The tag bodies (``test_...``, ``load_mode=...``) in source order.

    7.x tags carry ``__COUNTER__`` before the body: sorted by it, as test_loader sorts them (strverscmp of
    ``comment:N:``), since the compiler does not keep attribute order in BTF.  Older forms keep BTF order.
    """
    counted, plain = [], []
    for pos, tag in enumerate(tags):
        m = _COUNTER.match(tag)
        if m:
            counted.append((int(m.group(1)), pos, m.group(2)))
        elif tag.startswith(PREFIX):
            plain.append(tag[len(PREFIX):])
    return plain + [body for _, _, body in sorted(counted)]


def parse_tags(tags: Iterable[str]) -> Expectation:
    """The privileged-mode expectation from one function's decl tags (pure)."""
    tags = list(tags)
    counted = _has_counter(tags)
    expect = None
    msgs: list[tuple[int, str]] = []
    regexes: list[tuple[int, str]] = []
    negative: list[tuple[int, str]] = []
    level, flags, arches, desc, aux, any_test = None, [], [], None, False, False
    unchecked: list[str] = []
    skip = None
    for pos, body in enumerate(_split(tags)):
        if body.startswith("load_mode="):
            any_test = True
            if body == "load_mode=no_jited":
                skip = "__load_if_no_JITed: the selftest loads it only where there is no JIT"
            continue
        if not body.startswith("test_"):
            continue
        any_test = True
        key, _, value = body.partition("=")
        if key == "test_expect_success":
            expect = "success"
        elif key == "test_expect_failure":
            expect = "failure"
        elif key in ("test_expect_msg", "test_expect_regex"):
            m = _NUMBERED.match(value) if key == "test_expect_regex" or not counted else None
            item = (int(m.group(1)), m.group(2)) if m else (pos, value)
            (msgs if key == "test_expect_msg" else regexes).append(item)
        elif key == "test_expect_not_msg":
            negative.append((len(msgs), value))
        elif key == "test_log_level":
            level = int(value, 0) if value.strip().lstrip("-").isdigit() else None
        elif key == "test_prog_flags":
            flags.append(value)
        elif key == "test_arch":
            arches.append(value)
        elif key == "test_description":
            desc = value
        elif key == "test_auxiliary":
            aux = True
        elif key in UNCHECKED and UNCHECKED[key] not in unchecked:
            unchecked.append(UNCHECKED[key])
        elif key in ("test_btf_path", "test_btf_func_path"):
            skip = f"__btf_path: the selftest loads it against its own BTF ({value}), veristat against the kernel's"
    if not any_test:
        return NONE
    return Expectation(expect or "success", _ordered(msgs), _ordered(regexes), level, tuple(flags),
                       tuple(arches), desc, aux, tuple(negative), tuple(unchecked), skip)


def _has_counter(tags: Iterable[str]) -> bool:
    return any(_COUNTER.match(t) for t in tags)


def outcome(exp: Expectation | None, verdict: str, failure_class: str | None, arch: str,
            msg_check: str | None = None) -> Outcome:
    """Whether a result is what the test expects: the verdict, and the ``__msg`` check where one ran."""
    if exp is None or exp.expect is None or exp.auxiliary or exp.skip:
        return Outcome.NOT_APPLICABLE
    if exp.arches and ARCHES.get(arch) and ARCHES[arch].selftest_name not in exp.arches:
        return Outcome.NOT_APPLICABLE
    if verdict not in ("success", "failure"):
        return Outcome.NOT_APPLICABLE
    if exp.expect == "success":
        ok = verdict == "success"
    else:  # __failure: the test expects the verifier to reject it; a load failure never tested that
        ok = verdict == "failure" and failure_class == "verifier"
    if ok and msg_check == MSG_MISSING:
        ok = False
    return Outcome.AS_EXPECTED if ok else Outcome.UNEXPECTED


MSG_MATCHED = "matched"
MSG_MISSING = "missing"
MSG_NA = "n/a"
"""``results.msg_check``: every expected message found in order / one missing / not checkable here."""
