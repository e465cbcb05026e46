"""``report --format review-reply``: a mail that threads under a real stable review (6.12.80-rc1's cover letter,
tests/data/stream/review-6.12.80-rc1) in the shape of a real tester's reply to it, over results recorded in real
6.1.190 and 6.1.192 guests: Tested-by when clean, the findings first and no Tested-by when not."""

from __future__ import annotations

import email
import email.policy
import email.utils
import re

import pytest

from harness.cli import main
from conftest import DATA, recorded_61_store

THREAD = DATA / "stream" / "review-6.12.80-rc1"
TESTER = "A Tester <tester@example.org>"
COMMIT = "corpora: {c: {source: 6.1.192}}\nbranches:\n  6.1.y:\n    corpus: c\n    kernels: [6.1.190, 6.1.192]\n"
REFERENCE = ("corpora: {c: {source: 6.1.192}}\nbranches:\n  head: {corpus: c, kernels: [6.1.192]}\n"
             "  ref: {corpus: c, kernels: [6.1.190]}\nreference: ref\n")


def reply(tmp_path, matrix: str, *extra: str):
    (tmp_path / "m.yaml").write_text(matrix)
    if not (tmp_path / "r.db").exists():
        recorded_61_store(tmp_path / "r.db").close()
    code = main(["report", "-m", str(tmp_path / "m.yaml"), "--db", str(tmp_path / "r.db"), "--format", "review-reply",
                 "-o", str(tmp_path / "reply.eml"), *extra])
    return code, email.message_from_string((tmp_path / "reply.eml").read_text(), policy=email.policy.default) \
        if code == 0 else None


def recipients(msg) -> set[str]:
    return {a.lower() for _, a in email.utils.getaddresses([str(msg.get("To", "")), str(msg.get("Cc", ""))])}


def test_a_clean_result_replies_as_the_lists_testers_do(tmp_path, capsys):
    code, mine = reply(tmp_path, COMMIT, "--cover", str(THREAD / "cover.eml"), "--from", TESTER)
    assert code == 0
    real = email.message_from_string((THREAD / "reply-ojeda.eml").read_text(), policy=email.policy.default)
    for h in ("Subject", "In-Reply-To", "References"):
        assert mine[h] == real[h], h
    own = {"ojeda@kernel.org", "lossin@kernel.org", "gary@garyguo.net"}  # the real tester's own Cc additions
    assert recipients(mine) == recipients(real) - own
    assert mine["To"] == "gregkh@linuxfoundation.org" and mine["Message-ID"].endswith("@example.org>")
    body, real_body = mine.get_content().splitlines(), real.get_content().splitlines()
    assert body[0] == real_body[0]  # "On <date> <author> wrote:"
    assert [ln for ln in body if ln.startswith("> ")] == [ln for ln in real_body if ln.startswith("> ")]
    tested = [ln for ln in body if ln.startswith("Tested-by:")]
    assert tested == [f"Tested-by: {TESTER}"]
    assert re.fullmatch(r"Tested-by: [^<]+ <[^@>]+@[^>]+>", tested[0])  # as the real one is
    assert any("6.1.190, 6.1.192 (x86_64)" in ln and "no regressions" in ln for ln in body)
    capsys.readouterr()


def test_findings_come_first_and_there_is_no_tested_by(tmp_path, capsys):
    code, mine = reply(tmp_path, REFERENCE, "--in-reply-to", "20260331161741.651718120@linuxfoundation.org",
                       "--from", TESTER)
    assert code == 0
    assert mine["In-Reply-To"] == mine["References"] == "<20260331161741.651718120@linuxfoundation.org>"
    body = mine.get_content().splitlines()
    assert body[0].startswith("BPF verifier regressions found (")
    assert any(ln.strip().startswith("error: ") for ln in body) and any("reproduce: " in ln for ln in body)
    assert not [ln for ln in body if ln.startswith("Tested-by:")]
    capsys.readouterr()


def test_an_incomplete_cell_is_never_a_tested_by(tmp_path, capsys):
    s = recorded_61_store(tmp_path / "r.db")
    s.db.execute("UPDATE cells SET status='hung', detail='guest hung' WHERE kernel_id='6.1.192'")
    s.db.commit()
    s.close()
    code, mine = reply(tmp_path, COMMIT, "--cover", str(THREAD / "cover.eml"), "--from", TESTER)
    body = mine.get_content()
    assert "Tested-by:" not in body and ("INCOMPLETE" in body or "NOT TESTED" in body)
    capsys.readouterr()


@pytest.mark.parametrize("extra,message", [
    ((), "review-reply needs --from"),
    (("--from", TESTER), "needs the review's cover letter (--cover FILE) or its --in-reply-to"),
    (("--from", "nobody", "--in-reply-to", "x@y"), "give the tester as 'Name <address>'"),
    (("--from", TESTER, "--cover", str(DATA / "stream" / "archive-2026-12-05.tsv")), "no [PATCH X.Y 000/NNN] cover"),
])
def test_what_a_reply_needs_is_one_line(tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.delenv("BPF_HARNESS_FROM", raising=False)
    code, _ = reply(tmp_path, COMMIT, *extra)
    assert code == 2 and message in capsys.readouterr().err


def test_the_cover_letter_is_found_in_an_mbox_of_the_thread():
    from harness.report.review import parse_cover
    mbox = (f"From gregkh@linuxfoundation.org Tue Mar 31 18:19:10 2026\n{(THREAD / 'reply-ojeda.eml').read_text()}\n"
            f"From gregkh@linuxfoundation.org Tue Mar 31 18:19:10 2026\n{(THREAD / 'cover.eml').read_text()}")
    got = parse_cover(mbox, "thread.mbox")
    assert (got.message_id, got.subject) == ("<20260331161741.651718120@linuxfoundation.org>",
                                             "[PATCH 6.12 000/244] 6.12.80-rc1 review")
    assert got.to[0] == "gregkh@linuxfoundation.org" and got.opening[-1].startswith("Anything received after")
