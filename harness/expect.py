"""Expected outcomes the selftests carry in BTF decl tags (``progs/bpf_misc.h``), and checks against them.

``__success`` / ``__failure`` / ``__msg("...")`` / ``__log_level(N)`` /
``__flag(...)`` / ``__arch(...)`` / ``__description(...)`` / ``__auxiliary``
become ``comment:test_*`` decl tags on the program's function.  6.1's
``__msg`` is ``test_expect_msg=TEXT``; later ones number messages with
``__COUNTER__`` (``test_expect_msg=N=TEXT``) to keep their order.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from typing import Iterable

from harness.arch import ARCHES

PREFIX = "comment:"
_NUMBERED = re.compile(r"^(\d+)=(.*)$", re.S)


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

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "Expectation":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


NONE = Expectation(None)


def _ordered(values: list[tuple[int, str]]) -> tuple[str, ...]:
    return tuple(v for _, v in sorted(values, key=lambda t: t[0]))


def parse_tags(tags: Iterable[str]) -> Expectation:
    """The privileged-mode expectation from one function's decl tags (pure)."""
    expect = None
    msgs: list[tuple[int, str]] = []
    regexes: list[tuple[int, str]] = []
    level, flags, arches, desc, aux, any_test = None, [], [], None, False, False
    for pos, tag in enumerate(tags):
        if not tag.startswith(PREFIX + "test_"):
            continue
        any_test = True
        key, _, value = tag[len(PREFIX):].partition("=")
        if key == "test_expect_success":
            expect = "success"
        elif key == "test_expect_failure":
            expect = "failure"
        elif key in ("test_expect_msg", "test_expect_regex"):
            m = _NUMBERED.match(value)
            item = (int(m.group(1)), m.group(2)) if m else (pos, value)
            (msgs if key == "test_expect_msg" else regexes).append(item)
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
    if not any_test:
        return NONE
    return Expectation(expect or "success", _ordered(msgs), _ordered(regexes), level, tuple(flags),
                       tuple(arches), desc, aux)


def outcome(exp: Expectation | None, verdict: str, failure_class: str | None, arch: str,
            msg_check: str | None = None) -> Outcome:
    """Whether a result is what the test expects: the verdict, and the ``__msg`` check where one ran."""
    if exp is None or exp.expect is None or exp.auxiliary:
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
