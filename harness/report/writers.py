"""Report writers: JSON, veristat-compatible CSV, JUnit XML, email text, Markdown (all pure over the model)."""

from __future__ import annotations

import csv
import io
import time
import xml.etree.ElementTree as ET
from typing import Iterable

from harness.diff import ORDER, Change, Finding
from harness.parse.verifier_log import SUBPROG_STATS, error_lines
from harness.report.model import Pair, act_first

JSON_SCHEMA = 1
VERISTAT_COLUMNS = ("file_name", "prog_name", "verdict", "duration", "total_insns", "total_states",
                    "peak_states", "max_states_per_insn", "mark_read")


def failing_side(p: Pair, f: Finding) -> dict:
    """The cell worth reproducing a finding on: where the program fails (the base kernel, for a fix)."""
    if f.new is not None and f.new.get("verdict") != "success":
        return p.new
    if f.base is not None and f.base.get("verdict") != "success":
        return p.base
    return p.new if f.new is not None else p.base


def _side(row: dict | None) -> dict | None:
    if row is None:
        return None
    return {k: row.get(k) for k in ("verdict", "failure_class", "load_reason", "error", "insns", "states",
                                   "peak_states", "duration_us", "expect", "outcome", "msg_check", "msg_detail")}


def _cell(c: dict) -> dict:
    return {k: c.get(k) for k in ("kernel_id", "release", "arch", "package_version", "corpus_id", "clang",
                                  "status", "detail", "accel", "backend")}


def to_json(pairs: list[Pair], reproduce, generated: int | None = None, history=None, rules=None,
            attributed=None) -> dict:
    """The whole diff; schema documented in README (``JSON_SCHEMA``).  With ``history``
    (:class:`harness.nightly.history.History`), each finding says ``new`` / ``since DATE`` and the document
    lists what is gone since the last complete night."""
    from harness.nightly.history import day, key
    doc = {
        "schema": JSON_SCHEMA,
        "generated": int(time.time()) if generated is None else generated,
        "pairs": [{
            "branch": p.branch, "kind": p.kind, "base": _cell(p.base), "new": _cell(p.new), "commit": p.commit,
            "comparable": p.comparable, "same_objects": p.same_objects, "unchanged": p.unchanged,
            "not_covered": p.not_covered, "no_verdict": p.no_verdict, "tested": p.tested, "warning": p.warning,
            "rejections_accepted": [f"{f.object}/{f.program}" for f in p.rejections_accepted],
            "successes_rejected": [f"{f.object}/{f.program}" for f in p.successes_rejected],
            "counts": {c.value: p.count(c) for c in ORDER},
            "findings": [{
                "change": f.change.value, "object": f.object, "program": f.program, "detail": f.detail,
                "commit": p.commit,
                "error_key": f.error_key, "newly_unexpected": f.newly_unexpected, "confirmed": f.confirmed,
                "base": _side(f.base), "new": _side(f.new),
                "reproduce": reproduce(failing_side(p, f), f.object, f.program),
                **({"history": history.status(key(p, f))} if history is not None else {}),
                **({"attribution": attributed(p, f)} if attributed is not None else {}),
            } for f in p.findings],
        } for p in pairs],
    }
    if rules is not None:
        from harness import stream
        doc["kernels_by_rule"] = stream.to_json(rules)
    if history is not None:
        doc["history"] = {"previous_night": day(history.previous_at) if history.previous_at else None,
                          "new": len(history.new) if history.previous_at else None, "gone": list(history.gone)}
    return doc


def veristat_csv(results: Iterable[dict]) -> str:
    """One cell's results in veristat's own ``-o csv`` format, so ``veristat -C a.csv b.csv`` reads it.

    Programs without a verdict (timeout, crash, not-run) are left out: veristat has no word for them.
    """
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(VERISTAT_COLUMNS)
    for r in sorted((dict(r) for r in results), key=lambda r: (r["object"], r["program"])):
        if r["verdict"] not in ("success", "failure"):
            continue
        w.writerow([f"{r['object']}.bpf.o", r["program"], r["verdict"], r.get("duration_us") or 0,
                    r.get("insns") or 0, r.get("states") or 0, r.get("peak_states") or 0,
                    r.get("max_states_per_insn") or 0, r.get("mark_read") or 0])
    return out.getvalue()


def junit(pairs: list[Pair], new_results, rules=None) -> str:
    """One testsuite per pair, one testcase per program of the new cell.

    Failures only for regressions and for results expected on the base kernel and unexpected now;
    a cell that did not complete is an error, never a failure.
    """
    suites = ET.Element("testsuites", name="bpf-harness")
    for r in rules or ():  # what a rule could not take (a release pending an arch's image...): never tested
        if r.notes:
            suite = ET.SubElement(suites, "testsuite", name=f"{r.branch}: {r.rule}", tests=str(len(r.notes)),
                                  failures="0", errors="0", skipped=str(len(r.notes)))
            for i, note in enumerate(r.notes):
                case = ET.SubElement(suite, "testcase", classname=f"{r.branch}.kernels-by-rule", name=f"note{i + 1}")
                ET.SubElement(case, "skipped", message=note)
    for p in pairs:
        by_prog = {(f.object, f.program): f for f in p.findings}
        suite = ET.SubElement(suites, "testsuite", name=p.title)
        tests = failures = errors = 0
        if p.new["status"] != "complete" or p.base["status"] != "complete":
            case = ET.SubElement(suite, "testcase", classname=p.title, name="cell")
            bad = p.new if p.new["status"] != "complete" else p.base
            ET.SubElement(case, "error", message=f"cell {bad['kernel_id']}/{bad['arch']} {bad['status']}",
                          type="infrastructure").text = bad.get("detail") or ""
            tests, errors = 1, 1
        for (obj, prog), r in sorted(new_results(p.new["id"]).items()):
            tests += 1
            case = ET.SubElement(suite, "testcase", classname=f"{p.new['kernel_id']}.{obj}", name=prog)
            f = by_prog.get((obj, prog))
            if f is not None and (f.change is Change.REGRESSION or f.newly_unexpected):
                failures += 1
                ET.SubElement(case, "failure", message=f"{f.change.value}: {f.detail}", type=f.change.value).text = \
                    f"{p.base['kernel_id']}: {_cost(f.base)}\n{p.new['kernel_id']}: {_cost(f.new)}\n{f.detail}"
            elif r["verdict"] in ("timeout", "crash", "not-run"):
                ET.SubElement(case, "skipped", message=f"{r['verdict']}: {r.get('error') or ''}")
        suite.set("tests", str(tests))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _cost(row: dict | None) -> str:
    if not row:
        return "absent"
    s = row["verdict"]
    if row.get("insns") is not None:
        s += f", {row['insns']} insns"
    if row.get("error"):
        s += f": {row['error']}"
    return s


def email(pairs: list[Pair], history=None, rules=None, attributed=None) -> str:
    """Plain text in the style of stable-rc test replies, ready to paste.

    A pair whose cells did not both complete leads with NOT TESTED / INCOMPLETE: an all-clear is only
    ever said of programs verified on both kernels.
    """
    from harness.nightly.history import day, key
    lines = []
    if rules:
        from harness import stream
        lines += ["Kernels by rule:", *(f"  {ln.strip()}" for ln in stream.describe(rules)), ""]
    if history is not None and history.previous_at is not None:
        new = [(p, f) for p in pairs for f in p.findings if key(p, f) in history.new]
        lines.append(f"New since the last complete night ({day(history.previous_at)}): {len(new)}; "
                     f"gone: {len(history.gone)}.")
        lines += [f"  - {f.object}/{f.program} {f.change.value}: {p.base['kernel_id']} -> {p.new['kernel_id']} "
                  f"({p.new['arch']})" for p, f in new]
        lines.append("")
    for p in pairs:
        regs = p.regressions
        head = f"{p.branch} {p.base['kernel_id']} -> {p.new['kernel_id']} on {p.new['arch']}"
        if p.tested == "not-tested":
            lines.append(f"NOT TESTED on {p.new['arch']} between {p.base['kernel_id']} and {p.new['kernel_id']} "
                         f"({p.branch}): {p.warning.removeprefix('NOT TESTED: ')}.")
        elif p.tested == "incomplete":
            lines.append(f"INCOMPLETE on {p.new['arch']} between {p.base['kernel_id']} and {p.new['kernel_id']} "
                         f"({p.branch}): {p.warning.removeprefix('INCOMPLETE: ')}.")
        if p.tested == "not-tested":
            pass
        elif not regs:
            scope = f" among the {p.compared} programs verified on both" if p.tested != "complete" else ""
            lines.append(f"No BPF verifier regressions found on {p.new['arch']} between {p.base['kernel_id']} and "
                         f"{p.new['kernel_id']} ({p.branch}){scope}.")
        else:
            lines.append(f"BPF verifier regressions found on {p.new['arch']} between {p.base['kernel_id']} and "
                         f"{p.new['kernel_id']} ({p.branch}):")
            if p.commit_line:
                lines.append(f"  at {p.commit_line}")
            for f in regs:
                since = f" [{history.status(key(p, f))}]" if history is not None else ""
                lines.append(f"  - {f.object}/{f.program}: {f.new.get('error') if f.new else f.detail}{since}")
                a = attributed(p, f) if attributed is not None else None
                if a is not None:
                    lines.append(f"    {_attribution_words(a)}")
        first = [(f, why) for f, why in act_first(p) if f not in regs]
        if first and p.tested != "not-tested":
            lines.append("  Act on first:")
            for f, why in first:
                lines.append(f"  - {f.object}/{f.program}: {why}")
                a = attributed(p, f) if attributed is not None else None
                if a is not None:
                    lines.append(f"    {_attribution_words(a)}")
        shown = {id(f) for f in regs} | {id(f) for f, _ in first}
        named = [(f, a) for f in p.findings if id(f) not in shown and attributed is not None
                 for a in [attributed(p, f)] if a is not None] if p.tested != "not-tested" else []
        if named:
            lines.append("  Changes and their commits:")
            for f, a in named[:10]:
                lines += [f"  - {f.object}/{f.program} {f.change.value}", f"    {_attribution_words(a)}"]
            if len(named) > 10:
                lines.append(f"  ... and {len(named) - 10} more (report.md)")
        others = ", ".join(f"{c.value} {p.count(c)}" for c in ORDER if c is not Change.REGRESSION and p.count(c))
        lines.append(f"  ({head}: {p.unchanged} programs unchanged" + (f"; {others}" if others else "") +
                     (f"; {p.no_verdict} without a verdict on either kernel" if p.no_verdict else "") +
                     f"; {p.comparable})")
        if p.coverage_note:
            lines.append(f"  ({p.coverage_note}.)")
        lines.append("")
    lines.append("Tested with bpf-harness: BPF selftests verified in virtme-ng guests of the Debian kernels above.")
    return "\n".join(lines) + "\n"


def _log_excerpt(row: dict | None, n: int = 4) -> list[str]:
    """The few lines that matter: the end of the level-1 tail (failing insn, register state), or the messages."""
    if not row:
        return []
    tail = (row.get("tail") or "").splitlines()
    body = [ln for ln in tail if not ln.startswith(("verification time", "stack depth", "processed "))
            and not SUBPROG_STATS.match(ln)]
    return body[-n:] if body else error_lines((row.get("log") or "").splitlines())[-n:]


def _cross_version(p: Pair) -> list[str]:
    """A branch head against the reference, read through the tests' own expectations, worst first."""
    out = []
    b, n = p.base["kernel_id"], p.new["kernel_id"]
    for title, group in ((f"Tests that expect a rejection, accepted by {b}, rejected by {n}", p.rejections_accepted),
                         (f"Tests that expect success, rejected by {b}, verified by {n}", p.successes_rejected)):
        if not group:
            continue
        out += [f"### {title} ({len(group)})", ""]
        for f in group:
            desc = next((s.get("description") for s in (f.new, f.base) if s and s.get("description")), None)
            out.append(f"- `{f.object}/{f.program}`" + (f" ({desc})" if desc else "")
                       + f": {b}: {_cost(f.base)}; {n}: {_cost(f.new)}")
        out.append("")
    return out


def _attribution_words(a: dict) -> str:
    from harness.attribute import words
    return words(a)


def markdown(pairs: list[Pair], reproduce, history=None, rules=None, attributed=None) -> str:
    from harness.nightly.history import key as finding_key, lead
    out = ["# BPF verifier triage report", ""]
    if rules:
        from harness import stream
        out += ["## Kernels by rule", ""]
        out += [f"- {ln.strip()}" if not ln.startswith(" ") else f"  - **note**: {ln.strip()}"
                for ln in stream.describe(rules)]
        out.append("")
    out += lead(history)
    for p in pairs:
        out += [f"## {p.title}" + {"reference": " — vs reference", "queue": " — the whole queue against its release"}
                .get(p.kind, ""), ""]
        if p.warning:
            word, _, rest = p.warning.partition(": ")
            out += [f"> **{word}**: {rest}", ""]
        if p.commit_line:
            out += [f"**{p.commit_line}** (diffed against its parent in the range, {p.base['kernel_id']})", ""]
        out += [f"{p.base['release']} -> {p.new['release']}; {p.comparable}.", ""]
        out += ["| " + " | ".join(c.value for c in ORDER) + " | unchanged | no verdict |",
                "|" + "---|" * (len(ORDER) + 2),
                "| " + " | ".join(str(p.count(c)) for c in ORDER) + f" | {p.unchanged} | {p.no_verdict} |", ""]
        if p.coverage_note:
            out += [f"> {p.coverage_note}.", ""]
        out += _cross_version(p)
        first = act_first(p)
        if first:
            out += [f"### Act on these first ({len(first)})", ""]
            out += [f"- `{f.object}/{f.program}`: {why}; {p.base['kernel_id']}: {_cost(f.base)}; "
                    f"{p.new['kernel_id']}: {_cost(f.new)}" for f, why in first]
            out.append("")
        for c in ORDER:
            group = [f for f in p.findings if f.change is c]
            if not group:
                continue
            out += [f"### {c.value} ({len(group)})", ""]
            by_key: dict[str, list[Finding]] = {}
            for f in group:
                by_key.setdefault(f.error_key or f.detail, []).append(f)
            for key, fs in by_key.items():
                out += [f"**{key or '(no error)'}** — {len(fs)} program(s)", ""]
                for f in fs:
                    flag = " — *expected before, unexpected now*" if f.newly_unexpected else ""
                    if c is Change.REGRESSION:
                        flag += (" — confirmed by a re-run on both kernels" if f.confirmed
                                 else " — not confirmed by a re-run")
                    if c in (Change.FLAKY, Change.MSG_CHANGED):
                        flag += f" — {f.detail}"
                    missing = [s["msg_detail"] for s in (f.new,) if s and s.get("msg_check") == "missing"]
                    if missing:
                        flag += f" — __msg: {missing[0]}"
                    if history is not None:
                        flag += f" — **{history.status(finding_key(p, f))}**"
                    at = f" [{p.commit['id'][:12]} {p.commit['subject']}]" if p.commit else ""
                    out.append(f"- `{f.object}/{f.program}`{at}: {p.base['kernel_id']}: {_cost(f.base)}; "
                               f"{p.new['kernel_id']}: {_cost(f.new)}{flag}")
                    excerpt = _log_excerpt(f.new if f.new and f.new.get("verdict") == "failure" else f.base)
                    if excerpt and c in (Change.REGRESSION, Change.FIXED, Change.ERROR_CHANGED):
                        out += ["  ```", *(f"  {ln}" for ln in excerpt), "  ```"]
                    out.append(f"  reproduce: `{reproduce(failing_side(p, f), f.object, f.program)}`")
                    a = attributed(p, f) if attributed is not None else None
                    if a is not None:
                        out.append(f"  attributed: {_attribution_words(a)}")
                out.append("")
    if not pairs:
        out.append("No pair of cells to compare: run at least two kernels of a branch.")
    return "\n".join(out) + "\n"
