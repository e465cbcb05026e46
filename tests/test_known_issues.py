"""Known issues as data: strict validation (one line naming the entry), matching by program pattern,
kernel and arch, expiry; the committed file itself must load."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from harness.errors import UserError
from harness.nightly import known

GOOD = """\
- id: a
  programs: ["exceptions_fail/reject_*"]
  kernels: ["6.12.11?"]
  arches: [x86_64]
  reason: the fix of CVE-2026-31526 rejects it from 6.12.114 on
  link: https://example.org/x
  expires: 2027-01-31
- id: b
  programs: verifier_mtu/tc_uninit_mtu
  reason: r
  expires: "2026-01-01"
"""


def test_entries_match_by_pattern_scope_and_expire():
    a, b = known.parse(GOOD, "k.yaml")
    assert a.matches("6.12.115", "x86_64", "exceptions_fail/reject_subprog_with_rcu_read_lock")
    assert not a.matches("6.12.115", "arm64", "exceptions_fail/reject_subprog_with_rcu_read_lock")
    assert not a.matches("6.1.192", "x86_64", "exceptions_fail/reject_subprog_with_rcu_read_lock")
    assert not a.matches("6.12.115", "x86_64", "verifier_and/invalid_range_check")
    assert b.matches("7.3.4", "arm64", "verifier_mtu/tc_uninit_mtu")  # no scope: every kernel and arch
    assert b.programs == ("verifier_mtu/tc_uninit_mtu",)  # a single pattern may be a string
    today = datetime.date(2026, 12, 3)
    assert b.expired(today) and not a.expired(today)
    assert known.match((a, b), "6.12.115", "x86_64", "verifier_mtu/tc_uninit_mtu") is b


@pytest.mark.parametrize("text,needle", [
    ("- id: a\n  programs: [x/y]\n  reason: r\n", "entry 1 (a): expires is required"),
    ("- id: a\n  programs: [x/y]\n  reason: r\n  expires: soon\n", "expires must be a date"),
    ("- id: a\n  programs: [x]\n  reason: r\n  expires: 2027-01-01\n", "write OBJECT/PROGRAM"),
    ("- id: a\n  program: [x/y]\n  reason: r\n  expires: 2027-01-01\n", "unknown key 'program'"),
    ("- id: a\n  programs: [x/y]\n  reason: r\n  expires: 2027-01-01\n- id: a\n  programs: [x/y]\n  reason: r\n"
     "  expires: 2027-01-01\n", "id 'a' used twice"),
    ("id: a\n", "a list of entries"),
    ("- [\n", "not valid YAML"),
    ("- id: a\n  programs: [1]\n  reason: r\n  expires: 2027-01-01\n", "programs must be a list of strings"),
])
def test_bad_entries_are_one_line_naming_the_entry(text, needle):
    with pytest.raises(UserError) as e:
        known.parse(text, "k.yaml")
    assert needle in str(e.value) and str(e.value).startswith("k.yaml") and "\n" not in str(e.value)


def test_the_committed_known_issues_load_and_are_not_expired():
    path = Path(__file__).parents[1] / "selftest_maps" / "known_issues.yaml"
    issues = known.load(path)
    assert issues and all(not k.expired(datetime.date.today()) for k in issues)
    assert known.load(None) == () and known.load(path.with_name("nonexistent.yaml")) == ()
