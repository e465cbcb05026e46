"""Which ``__msg`` checks a cell can run, and how: the test's own log level and program flags (pure).

The selftests' ``test_loader.c`` loads each program at its ``__log_level`` with
its ``__flag(...)`` flags on top of ``testing_prog_flags()``
(``BPF_F_TEST_REG_INVARIANTS``, ``BPF_F_TEST_RND_HI32`` where the kernel has
them) and searches the log for the expected messages.  veristat can set two of
those flags (``-t`` state-freq, ``-r`` reg-invariants, where the corpus's
veristat has them); others either cannot change the verifier log on this arch
or cannot be set, and then the check is ``n/a`` with that reason, never a
guess.  At log level 0 libbpf retries a failed load at level 1 to get a log,
so a rejected program's messages are searched in a level-1 log and a verified
program's in an empty one.
"""

from __future__ import annotations

import dataclasses

from harness.arch import Arch
from harness.expect import Expectation

VERISTAT_FLAG_OPTS = {"BPF_F_TEST_STATE_FREQ": "-t", "BPF_F_TEST_REG_INVARIANTS": "-r"}
"""Program flags veristat can set, by the option that sets them."""

NO_LOG_EFFECT = {"BPF_F_TEST_RND_HI32"}
"""Applied after verification (zero-extension patching): the verifier log does not change."""

TESTING_DEFAULT = "BPF_F_TEST_REG_INVARIANTS"
"""What ``testing_prog_flags()`` adds for every test (6.8+ selftests, i.e. veristat with ``-r``)."""


@dataclasses.dataclass(frozen=True)
class Check:
    patterns: tuple[str, ...]
    log_level: int
    """Level the log is produced at (veristat adds its stats bit 4, which only appends lines)."""
    options: tuple[str, ...]
    """veristat options for the flags (``-t``, ``-r``)."""
    empty_if_verified: bool
    """Log level 0: a verified program's log is empty in the selftest, so its messages cannot match."""
    not_patterns: tuple[tuple[int, str], ...] = ()
    """``__not_msg`` (7.x): (number of patterns before it, pattern); see ``match.first_present``."""

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def plan(exp: Expectation | None, arch: Arch, veristat_opts: frozenset[str]) -> Check | str | None:
    """The check for one program: a :class:`Check`, a reason it is n/a, or None (no messages)."""
    if exp is None or exp.expect is None or exp.auxiliary:
        return None
    patterns = exp.messages + tuple(f"{{{{{r}}}}}" for r in exp.regexes)
    if not patterns and not exp.not_messages:
        return None
    if exp.arches and arch.selftest_name not in exp.arches:
        return None
    flags: set[str] = {TESTING_DEFAULT} if "-r" in veristat_opts else set()
    for raw in exp.flags:
        clear = raw.startswith("!")
        name = raw.lstrip("!")
        if clear:
            flags.discard(name)
        else:
            flags.add(name)
    opts = []
    for name in sorted(flags):
        if name in NO_LOG_EFFECT:
            continue
        if name == "BPF_F_ANY_ALIGNMENT" and arch.efficient_unaligned_access:
            continue  # the verifier relaxes alignment only on arches that would otherwise be strict
        opt = VERISTAT_FLAG_OPTS.get(name)
        if opt is None or opt not in veristat_opts:
            return f"needs program flag {name}, which veristat cannot set"
        opts.append(opt)
    level = exp.log_level or 0
    # level 0: libbpf's retry after a failed load gets a level-1 log; a verified program has none.
    # level 4 alone (stats): the log holds only the statistics, which veristat's own level 4 gives.
    return Check(patterns, level or 1, tuple(sorted(opts)), level == 0, exp.not_messages)
