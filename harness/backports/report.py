"""The backport report in md, json (schema ``bpf-harness-backports/1``, docs/backports.md) and html (pure)."""

from __future__ import annotations

import dataclasses
import html
import json

from harness.backports import Candidate, Report

SCHEMA = "bpf-harness-backports/1"

KIND_WORDS = {
    "missing-fix": "expects rejection; the branch accepts, the reference rejects (the dangerous direction)",
    "missing-feature-or-fix": "expects success; the branch rejects, the reference verifies",
    "message-differs": "both reject; only the reference with the message the test expects",
}


def to_json(r: Report) -> dict:
    def cand(c: Candidate) -> dict:
        return {
            "id": c.id or None, "subject": c.subject, "evidence": c.evidence, "queued": c.queued,
            "contained": c.contained,
            "fixes": c.fixes, "cves": c.cves, "tests": c.tests,
            "behaviour": [dataclasses.asdict(b) for b in c.behaviour],
            "confirmation": dataclasses.asdict(c.confirmation) if c.confirmation else None,
            "reproduce": c.reproduce,
        }
    cells = r.cells
    return {
        "schema": SCHEMA, "branch": r.branch,
        "cells": None if cells is None else {k: (dataclasses.asdict(v) | {"version": str(v.version),
                                                                         "corpus_version": str(v.corpus_version)})
                                             if v is not None else None
                                             for k, v in (("own", cells.own), ("newer", cells.newer),
                                                          ("reference", cells.reference))},
        "sources": r.sources, "gaps": r.gaps, "unjudged": r.unjudged,
        "candidates": [cand(c) for c in r.candidates],
        "missing": len(r.missing),
        "selftests_without_their_fix": [dataclasses.asdict(o) | {"note": r.notes.get(o.program)} for o in r.own],
        "fixes_without_their_selftest": r.fixes_without_tests,
    }


def dumps(r: Report) -> str:
    return json.dumps(to_json(r), indent=1, default=str) + "\n"


def _cand_md(c: Candidate, n: int) -> list[str]:
    title = f"{c.id[:12]} {c.subject}" if c.id else c.subject
    out = [f"### {n}. {title}", "", f"- evidence: {', '.join(c.evidence) or 'none'}"
           + (f"; queued: {c.queued}" if c.queued else "")]
    if c.contained:
        out.append(f"- **already in the branch** ({c.contained}): this kernel predates it; update rather than "
                   "backport")
    if c.cves:
        out.append(f"- CVE: {', '.join(c.cves)}")
    for f in c.fixes:
        out.append(f"- Fixes: {f['id']}" + (f' ("{f["subject"]}")' if f.get("subject") else "")
                   + f" -- {f['placement']} ({f['how']})")
    if c.tests:
        out.append(f"- paired tests: {', '.join(c.tests)}")
    for b in c.behaviour:
        out.append(f"- `{b.program}`: {KIND_WORDS[b.kind]}: {b.branch.kernel} {b.branch.verdict}"
                   + (f" ({b.branch.error})" if b.branch.error else "")
                   + f", {b.reference.kernel} {b.reference.verdict}"
                   + (f" ({b.reference.error})" if b.reference.error else ""))
    if c.confirmation is not None:
        k = c.confirmation
        out.append(f"- confirmation: **{k.verdict}** -- {k.detail}")
        for t in k.before:
            out.append(f"  - `{t}`: before {k.before[t]}, after {k.after.get(t)}")
        if k.regressions:
            out.append(f"  - other programs that regress: {', '.join(k.regressions)}")
        if k.reproduce:
            out.append(f"  - reproduce: `{k.reproduce}`")
    for cmd in c.reproduce:
        out.append(f"- `{cmd}`")
    return out + [""]


def _loose_md(loose) -> list[str]:
    """Behaviour evidence no selftest map ties to a commit: the dangerous direction program by program, the
    rest per object (a missing feature rejects whole objects' worth of tests)."""
    out = ["## Behaviour without a mapped commit", "",
           "Newer selftests on the branch's kernel against the reference kernel, where the reference meets the test's "
           "expectation.  `bpf-harness maps` over a mainline range ties them to the commits that added them.", ""]
    for kind in ("missing-fix", "missing-feature-or-fix", "message-differs"):
        items = [b for b in loose if b.kind == kind]
        if not items:
            continue
        out += [f"### {kind}: {len(items)} program(s)", "", KIND_WORDS[kind] + ".", ""]
        if kind == "missing-fix":
            out += ["| program | description | branch | reference |", "|---|---|---|---|"]
            for b in items:
                out.append(f"| `{b.program}` | {(b.description or '').replace('|', '/')} | {b.branch.kernel}: "
                           f"{b.branch.verdict} | {b.reference.kernel}: {b.reference.verdict}"
                           + (f" ({b.reference.error.replace('|', '/')})" if b.reference.error else "") + " |")
        else:
            per: dict[str, list[str]] = {}
            for b in items:
                o, _, p = b.program.partition("/")
                per.setdefault(o, []).append(p)
            out += ["| object | programs |", "|---|---|"]
            for o, ps in sorted(per.items(), key=lambda t: (-len(t[1]), t[0])):
                out.append(f"| {o} | {len(ps)}: {', '.join(ps[:6])}{' ...' if len(ps) > 6 else ''} |")
        out.append("")
    return out


def markdown(r: Report) -> str:
    out = [f"# Backport candidates for {r.branch}", ""]
    if r.gaps:
        out += ["**Not checked** (no all-clear for these):", ""] + [f"- {g}" for g in r.gaps] + [""]
    miss = r.missing
    kinds: dict[str, int] = {}
    for c in r.candidates:
        for b in c.behaviour:
            kinds[b.kind] = kinds.get(b.kind, 0) + 1
    commits_n = sum(1 for c in r.candidates if c.id)
    out.append(f"**{len(miss)} missing** from {r.branch}: {commits_n} mainline commit(s) as candidates, "
               f"{kinds.get('missing-fix', 0)} program(s) the branch accepts while the reference rejects them as the "
               f"test expects; also {kinds.get('missing-feature-or-fix', 0)} expected successes the branch rejects "
               f"and {kinds.get('message-differs', 0)} rejections with another message.")
    out.append("")
    if r.unjudged:
        out += [f"{len(r.unjudged)} program(s) not judged (no verdict on one side, a UML result a VM would not "
                "give, or a load failure of the test's own setup): " + ", ".join(r.unjudged[:8]) + (" ..." if len(r.unjudged) > 8 else "")
                + " (all in --format json)", ""]
    mapped = [c for c in r.candidates if c.id]
    loose = [b for c in r.candidates if not c.id for b in c.behaviour]
    out += ["## Candidates", ""]
    if not mapped:
        out += ["No commit candidates in the evidence read (see what was read below)." if not loose else
                "No commit candidates: the behaviour below has no selftest map entry tying it to a commit.", ""]
    for n, c in enumerate(mapped, 1):
        out += _cand_md(c, n)
    if loose:
        out += _loose_md(loose)
    out += ["## Selftests without their fix", "",
            "Tests in the branch's own selftests that do not behave as they expect on its newest kernel, read "
            "against the newer selftests.", ""]
    if not r.own:
        out += ["None." if r.cells and r.cells.own else "Not checked: no cell of the branch's own selftests.", ""]
    for o in r.own:
        out.append(f"- `{o.program}` expects {o.expect}, {o.kernel} gives {o.verdict}"
                   + (f" ({o.error})" if o.error else "") + f": **{o.reason}**: {o.explanation}")
        if o.program in r.notes:
            out.append(f"  - why (selftest_maps/notes.yaml): {r.notes[o.program]}")
    out += ["", "## Fixes without their selftest", ""]
    if not r.fixes_without_tests:
        out += ["None found (only fixes that a selftest map pairs with tests can be checked).", ""]
    for f in r.fixes_without_tests:
        out.append(f"- {f['id']} {f['subject']} ({f['how']}): its tests {', '.join(f['tests'])} are not in the "
                   "branch's selftests")
    out += ["", "## What was read", ""] + [f"- {s}" for s in r.sources] + [""]
    return "\n".join(out)


def page(r: Report) -> str:
    e = html.escape
    body = [f"<h1>Backport candidates for {e(r.branch)}</h1>"]
    if r.gaps:
        body.append("<div class=gaps><b>Not checked</b> (no all-clear for these):<ul>"
                    + "".join(f"<li>{e(g)}</li>" for g in r.gaps) + "</ul></div>")
    body.append(f"<p>{len(r.missing)} candidate(s) missing.</p><table><tr><th>#</th><th>commit</th><th>evidence</th>"
                "<th>CVE</th><th>tests</th><th>behaviour</th><th>confirmation</th></tr>")
    for n, c in enumerate(r.candidates, 1):
        beh = "<br>".join(e(f"{b.program}: {b.kind} ({b.branch.kernel} {b.branch.verdict}, "
                            f"{b.reference.kernel} {b.reference.verdict})") for b in c.behaviour)
        conf = e(f"{c.confirmation.verdict}: {c.confirmation.detail}") if c.confirmation else ""
        body.append(f"<tr><td>{n}</td><td>{e((c.id[:12] + ' ') if c.id else '')}{e(c.subject)}</td>"
                    f"<td>{e(', '.join(c.evidence))}</td><td>{e(', '.join(c.cves))}</td>"
                    f"<td>{e(', '.join(c.tests))}</td><td>{beh}</td><td>{conf}</td></tr>")
    body.append("</table><h2>Selftests without their fix</h2><ul>")
    for o in r.own:
        note = f"<br><i>{e(r.notes[o.program])}</i>" if o.program in r.notes else ""
        body.append(f"<li><code>{e(o.program)}</code> expects {e(o.expect)}, {e(o.kernel)} gives {e(o.verdict)}: "
                    f"<b>{e(o.reason)}</b>: {e(o.explanation)}{note}</li>")
    body.append("</ul><h2>Fixes without their selftest</h2><ul>")
    for f in r.fixes_without_tests:
        body.append(f"<li>{e(f['id'])} {e(f['subject'] or '')}: {e(', '.join(f['tests']))}</li>")
    body.append("</ul><h2>What was read</h2><ul>" + "".join(f"<li>{e(s)}</li>" for s in r.sources) + "</ul>")
    return ("<!doctype html><meta charset=utf-8><title>backports " + e(r.branch) + "</title><style>"
            "body{font:14px system-ui;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
            "padding:4px;vertical-align:top}.gaps{background:#fff4e0;padding:.5em}</style>" + "".join(body))
