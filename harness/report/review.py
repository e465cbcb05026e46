"""A reply to a stable review (``report --format review-reply``): an RFC 5322 mail that threads under the
``[PATCH X.Y 000/NNN] X.Y.Z-rc1 review`` cover letter, in the form the list's testers use: the cover's opening
quoted, what ran, then ``Tested-by:`` when the BPF verifier found nothing, or the findings first (each with its
error line, its commit and its reproducer) and no ``Tested-by:`` when it did, or when a cell did not complete."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import email.utils
from email.message import EmailMessage
from pathlib import Path

from harness.diff import Change
from harness.errors import UserError


@dataclasses.dataclass(frozen=True)
class Cover:
    message_id: str
    subject: str
    sender: str
    date: str
    to: tuple[str, ...]
    """Who a reply goes to: the cover's author, then its To and Cc (the tester's own address left out)."""
    opening: tuple[str, ...]
    """The cover's first paragraphs, up to the deadline ("Anything received after that time ...")."""


def read_cover(path: Path) -> Cover:
    """The cover letter from a mail file or an mbox (its ``000/NNN`` mail)."""
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        raise UserError(f"--cover {path}: cannot read it ({e.strerror})") from None
    return parse_cover(text, f"--cover {path}")


def parse_cover(text: str, where: str) -> Cover:
    """(pure)"""
    import re
    from harness.stream.queue import mails
    for _, msg in mails(text):
        subject = " ".join(str(msg.get("Subject", "")).split())
        if re.search(r"\[PATCH[^\]]* 0+/\d+\]", subject) and not subject.lower().startswith("re:"):
            break
    else:
        raise UserError(f"{where}: no [PATCH X.Y 000/NNN] cover letter in it")
    mid = str(msg.get("Message-ID", "")).strip()
    if not mid:
        raise UserError(f"{where}: the cover letter has no Message-ID to reply to")
    body = msg.get_payload(decode=True)
    lines = (body.decode("utf-8", "replace") if isinstance(body, bytes) else str(msg.get_payload())).splitlines()
    end = next((i for i, ln in enumerate(lines) if ln.startswith("Anything received after")), None)
    if end is None:
        end = next((i for i, ln in enumerate(lines) if not ln.strip() and i > 0), len(lines))
    addrs = [a for _, a in email.utils.getaddresses([str(msg.get(h, "")) for h in ("From", "To", "Cc")]) if a]
    to = tuple(dict.fromkeys(addrs))
    return Cover(mid, subject, " ".join(str(msg.get("From", "")).split()), str(msg.get("Date", "")).strip(), to,
                 tuple(lines[:end + 1]))


def render(pairs, cover: Cover | None, in_reply_to: str | None, tester: str, attributed=None,
           reproduce=None, date: str | None = None, message_id: str | None = None) -> str:
    """The reply (pure but for the date and Message-ID, which may be given)."""
    parent = cover.message_id if cover is not None else f"<{in_reply_to.strip('<>')}>" if in_reply_to else None
    if parent is None:
        raise UserError("review-reply needs the review's cover letter (--cover FILE) or its --in-reply-to MESSAGE-ID")
    name, addr = email.utils.parseaddr(tester)
    if not addr or "@" not in addr:
        raise UserError(f"review-reply: --from {tester!r}: give the tester as 'Name <address>'")
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = tester
    if cover is not None:
        to = [a for a in cover.to if a.lower() != addr.lower()]
        msg["To"] = to[0] if to else addr
        if len(to) > 1:
            msg["Cc"] = ", ".join(to[1:])
        msg["Subject"] = cover.subject if cover.subject.lower().startswith("re:") else f"Re: {cover.subject}"
    else:
        msg["To"] = "stable@vger.kernel.org"
        msg["Subject"] = "Re: stable review"
    msg["Date"] = date or email.utils.formatdate(localtime=False)
    msg["Message-ID"] = message_id or email.utils.make_msgid(domain=addr.split("@", 1)[1])
    msg["In-Reply-To"] = parent
    msg["References"] = parent
    body = []
    if cover is not None:
        body += [f"On {cover.date} {cover.sender} wrote:", *(f"> {ln}".rstrip() for ln in cover.opening), ""]
    body += _verdict(pairs, tester, attributed, reproduce)
    msg.set_content("\n".join(body) + "\n", charset="utf-8", cte="8bit")
    return msg.as_string()


def _verdict(pairs, tester: str, attributed, reproduce) -> list[str]:
    bad = [p for p in pairs if p.tested != "complete"]
    regs = [(p, f) for p in pairs for f in p.regressions]
    kernels = sorted({p.new["kernel_id"] for p in pairs} | {p.base["kernel_id"] for p in pairs})
    arches = sorted({p.new["arch"] for p in pairs})
    compared = sum(p.compared for p in pairs)
    what = (f"BPF verifier, bpf-harness: the BPF selftests verified on {', '.join(kernels)} ({', '.join(arches)}), "
            f"{compared} program verdicts compared kernel to kernel")
    out: list[str] = []
    if regs:
        out.append(f"BPF verifier regressions found ({len(regs)}):")
        for p, f in regs:
            out += ["", f"  {f.object}/{f.program}: verified on {p.base['kernel_id']}, rejected on "
                        f"{p.new['kernel_id']} ({p.new['arch']})",
                    f"    error: {(f.new or {}).get('error') or f.detail}"]
            at = p.commit or {}
            a = attributed(p, f) if attributed is not None else None
            if at:
                out.append(f"    commit: {at['id'][:12]} (\"{at['subject']}\")")
            elif a is not None:
                from harness.attribute import words
                out.append(f"    {words(a)}")
            if reproduce is not None:
                out.append(f"    reproduce: {reproduce(p.new, f.object, f.program)}")
        out += ["", what + "."]
    for p in bad:
        out.append(f"{p.warning.split(':')[0]}: {p.title}: {p.warning.split(': ', 1)[-1]}")
    if not pairs:
        out.append("NOT TESTED: no pair of cells to compare in this store.")
    if not regs and not bad and pairs:
        others = sum(p.count(c) for p in pairs for c in (Change.FIXED, Change.ERROR_CHANGED, Change.MSG_CHANGED))
        out += [f"{what}: no regressions" + (f" ({others} fixes or message changes, see the report)" if others else "")
                + ".", "", f"Tested-by: {tester}"]
    return out
