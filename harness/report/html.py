"""Single-file HTML triage report: sortable tables, collapsible logs, a kernel x program verdict matrix
and a small chart of insns deltas.  No external assets: it opens offline and attaches to an email."""

from __future__ import annotations

import html
from typing import Callable

from harness.diff import ORDER, Change
from harness.report.model import Pair, work_first
from harness.report.writers import _cost, _log_excerpt, failing_side
from harness.triage.logdiff import render_html as render_logdiff

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.6em 0}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3;cursor:pointer;user-select:none}th.sorted-asc:after{content:" \\25B2"}th.sorted-desc:after{content:" \\25BC"}
.regression{background:#fde2e1}.fixed{background:#e1f5e4}.error-changed{background:#fff4d6}.msg-check{background:#f3ecff}
.near-limit,.complexity{background:#eef3ff}.load-failure,.inconclusive,.new,.gone{background:#f4f4f4}
td.success{color:#17692f}td.failure{color:#a4161a;font-weight:600}td.timeout,td.crash,td.not-run{color:#7a5c00}
code,pre{font:12px/1.35 ui-monospace,monospace}pre{background:#f7f7f7;padding:6px;margin:4px 0;white-space:pre-wrap}
.flag{color:#a4161a;font-weight:600}tr.untested td{background:#fde2e1}.muted{color:#777}
table.logdiff td{font:12px/1.35 ui-monospace,monospace;max-width:40em;word-break:break-all}
table.logdiff tr.diverge td{background:#fff0b3;border-top:2px solid #a4161a;border-bottom:2px solid #a4161a}
table.logdiff td.absent{color:#777;font-style:italic}.note{color:#a4161a}.before{color:#777}
#filters{position:sticky;top:0;background:#fff;padding:6px 0;border-bottom:1px solid #ccc;z-index:1}
#filters input,#filters select{font:inherit;margin-right:.6em}tr.target td{outline:2px solid #1a5fb4}
[id]{scroll-margin-top:5em}
.desc{color:#555;font-size:.9em}
"""

JS = """
document.querySelectorAll('table.sortable').forEach(function(t){
  t.querySelectorAll('th').forEach(function(th,i){
    th.addEventListener('click',function(){
      var body=t.tBodies[0],rows=Array.from(body.rows),asc=!th.classList.contains('sorted-asc');
      t.querySelectorAll('th').forEach(function(h){h.classList.remove('sorted-asc','sorted-desc')});
      th.classList.add(asc?'sorted-asc':'sorted-desc');
      rows.sort(function(a,b){
        var x=a.cells[i].dataset.v||a.cells[i].textContent,y=b.cells[i].dataset.v||b.cells[i].textContent;
        var nx=parseFloat(x),ny=parseFloat(y);
        var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);
        return asc?c:-c});
      rows.forEach(function(r){body.appendChild(r)});
    })})});
function val(id){var el=document.getElementById(id);return el?el.value:'';}
function applyFilters(){
  var q=val('f-text').toLowerCase(),cls=val('f-class'),obj=val('f-object'),out=val('f-outcome'),shown=0,all=0;
  document.querySelectorAll('table.findings').forEach(function(t){
    var n=0;
    Array.from(t.tBodies[0].rows).forEach(function(r){
      var ok=(!cls||r.dataset.class===cls)&&(!obj||r.dataset.object===obj)&&(!out||r.dataset.outcome===out)
             &&(!q||r.dataset.text.indexOf(q)>=0);
      r.hidden=!ok;if(ok){n++;}
    });
    var c=document.getElementById('count-'+t.dataset.pair);if(c){c.textContent=n;}
    shown+=n;all+=t.tBodies[0].rows.length;
  });
  var s=document.getElementById('f-shown');if(s){s.textContent=shown+' of '+all+' findings shown';}
}
function follow(){
  var id=decodeURIComponent(location.hash.slice(1));if(!id){return;}
  var row=id.endsWith('/diverge')?document.getElementById(id.slice(0,-8)):document.getElementById(id);
  if(!row){return;}
  ['f-text','f-class','f-object','f-outcome'].forEach(function(f){var el=document.getElementById(f);if(el){el.value='';}});
  applyFilters();
  document.querySelectorAll('tr.target').forEach(function(r){r.classList.remove('target');});
  row.classList.add('target');
  var d=row.querySelector('details.logdiff');
  if(id.endsWith('/diverge')&&d){d.open=true;var hit=document.getElementById(id);(hit||row).scrollIntoView({block:'center'});}
  else{row.scrollIntoView({block:'center'});}
}
['f-text','f-class','f-object','f-outcome'].forEach(function(f){
  var el=document.getElementById(f);if(el){el.addEventListener('input',applyFilters);}});
window.addEventListener('hashchange',follow);
applyFilters();follow();
document.body.dataset.ready = document.querySelectorAll('table.sortable').length;
"""

e = html.escape


def _delta(f) -> tuple[int | None, str]:
    b = f.base.get("insns") if f.base else None
    n = f.new.get("insns") if f.new else None
    if b is None or n is None:
        return None, ""
    return n - b, f"{n - b:+d}"


def _chart(pairs: list[Pair], top: int = 15) -> str:
    """Horizontal bars of the largest insns moves among programs verified on both sides."""
    moves = []
    for p in pairs:
        for f in p.findings:
            if f.change in (Change.COMPLEXITY, Change.NEAR_LIMIT):
                d, _ = _delta(f)
                if d:
                    moves.append((d, f"{p.new['kernel_id']} {f.object}/{f.program}"))
    if not moves:
        return '<p class="muted">No verified program moved past the complexity thresholds.</p>'
    moves = sorted(moves, key=lambda m: -abs(m[0]))[:top]
    scale = max(abs(d) for d, _ in moves) or 1
    rows = []
    for i, (d, label) in enumerate(moves):
        w = max(1, int(300 * abs(d) / scale))
        x = 400 if d > 0 else 400 - w
        color = "#c0392b" if d > 0 else "#27ae60"
        y = 8 + i * 22
        rows.append(f'<text x="392" y="{y + 12}" text-anchor="end" font-size="11">{e(label[:60])}</text>'
                    f'<rect x="{x}" y="{y}" width="{w}" height="16" fill="{color}"><title>{d:+d} insns</title></rect>'
                    f'<text x="{x + w + 4 if d > 0 else x - 4}" y="{y + 12}" font-size="11" '
                    f'text-anchor="{"start" if d > 0 else "end"}">{d:+d}</text>')
    h = 16 + 22 * len(moves)
    return (f'<svg class="chart" width="820" height="{h}" role="img" aria-label="insns deltas">'
            f'<line x1="400" y1="0" x2="400" y2="{h}" stroke="#999"/>{"".join(rows)}</svg>')


def _matrix(pairs: list[Pair], verdicts: Callable[[int], dict]) -> str:
    """Kernel x program verdicts for every program that changed in some pair."""
    cells, seen = [], set()
    for p in pairs:
        for c in (p.base, p.new):
            if c["id"] not in seen:
                seen.add(c["id"])
                cells.append(c)
    progs = sorted({(f.object, f.program) for p in pairs for f in p.findings})
    if not progs:
        return '<p class="muted">No program changed verdict or cost between any two kernels.</p>'
    results = {c["id"]: verdicts(c["id"]) for c in cells}
    head = "".join(f"<th>{e(c['kernel_id'])}/{e(c['arch'])}</th>" for c in cells)
    body = []
    for key in progs:
        tds = []
        for c in cells:
            r = results[c["id"]].get(key)
            v = r["verdict"] if r else "absent"
            title = e(r.get("error") or "") if r else ""
            ins = r.get("insns") if r else None
            tds.append(f'<td class="{e(v)}" title="{title}">{e(v)}'
                       + (f' <span class="muted">{ins}</span>' if ins is not None else "") + "</td>")
        body.append(f"<tr><td><code>{e(key[0])}/{e(key[1])}</code></td>{''.join(tds)}</tr>")
    return (f'<table class="sortable matrix"><thead><tr><th>program</th>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def _expects(f) -> str:
    side = f.new or f.base or {}
    return side.get("expect") or ""


def _description(f) -> str:
    """The selftest's ``__description`` of a finding's program, from either side."""
    return next((s.get("description") for s in (f.new, f.base) if s and s.get("description")), "") or ""


def _messages(f) -> list[str]:
    """The messages the selftest expects in the log (``__msg``), as its expectation stores them."""
    import json
    side = f.new or f.base or {}
    try:
        return [str(m) for m in json.loads(side.get("messages") or "[]")]
    except (TypeError, ValueError):
        return []


def _filters(pairs: list[Pair]) -> str:
    classes = [c.value for c in ORDER if any(p.count(c) for p in pairs)]
    objects = sorted({f.object for p in pairs for f in p.findings})
    opts = lambda vals: "".join(f"<option value='{e(v)}'>{e(v)}</option>" for v in vals)  # noqa: E731
    return ("<div id='filters'><input id='f-text' type='search' placeholder='search program, error, description' "
            "size='40'><select id='f-class'><option value=''>every class</option>" + opts(classes) + "</select>"
            "<select id='f-outcome'><option value=''>any outcome</option>"
            + opts(("unexpected", "as-expected", "no-expectation")) + "</select>"
            "<select id='f-object'><option value=''>every object</option>" + opts(objects) + "</select>"
            "<span id='f-shown'></span></div>")


def pair_slug(p: Pair) -> str:
    """A pair's stable part of a deep link: ``6.12.115..6.12.117/x86_64``."""
    return f"{p.base['kernel_id']}..{p.new['kernel_id']}/{p.new['arch']}"


_KIND = {"reference": " (vs reference)", "queue": " (the whole queue)"}


def render(pairs: list[Pair], reproduce: Callable, verdicts: Callable[[int], dict],
           logdiff: Callable[[Pair, object], object | None] = lambda p, f: None, rules=None,
           attributed=None) -> str:
    """``logdiff(pair, finding)``: the two kernels' log diff of that program when the store has both logs."""
    out = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>",
           "<title>BPF verifier triage report</title>", f"<style>{CSS}</style></head><body>",
           "<h1>BPF verifier triage report</h1>"]
    if rules:
        from harness import stream
        out.append("<h2>Kernels by rule</h2><ul>" + "".join(
            f"<li class='flag'>{e(ln.strip())}</li>" if ln.startswith(" ") else f"<li>{e(ln)}</li>"
            for ln in stream.describe(rules)) + "</ul>")
    out.append(_filters(pairs))
    total = {c: sum(p.count(c) for p in pairs) for c in ORDER}
    out.append("<table class='summary'><thead><tr><th>pair</th><th>cells</th>" + "".join(f"<th>{c.value}</th>" for c in ORDER)
               + "<th>unchanged</th><th>no verdict</th></tr></thead><tbody>")
    for i, p in enumerate(pairs):
        cells = " / ".join(f"<span class='{'' if c['status'] == 'complete' else 'flag'}'>{e(c['status'])}</span>"
                           for c in (p.base, p.new))
        out.append(f"<tr class='{'' if p.tested == 'complete' else 'untested'}' data-tested='{p.tested}'>"
                   f"<td><a href='#pair{i}'>{e(p.title)}</a>" + _KIND.get(p.kind, "")
                   + ("" if p.tested == "complete" else f" <span class='flag'>{e(p.tested.upper())}</span>")
                   + f"</td><td>{cells}</td>"
                   + "".join(f"<td class='{c.value if p.count(c) else ''}'>{p.count(c)}</td>" for c in ORDER)
                   + f"<td>{p.unchanged}</td><td>{p.no_verdict}</td></tr>")
    out.append("<tr><th>all</th><th></th>" + "".join(f"<th>{total[c]}</th>" for c in ORDER)
               + "<th></th><th></th></tr></tbody></table>")
    for i, p in enumerate(pairs):
        out.append(f"<h2 id='pair{i}'>{e(p.title)}</h2>")
        if p.warning:
            out.append(f"<p class='flag warning'>{e(p.warning)}</p>")
        if p.commit:
            out.append(f"<p class='commit'>commit <code>{e(p.commit['id'][:12])}</code> {e(p.commit['subject'])} "
                       f"(against its parent in the range, {e(p.base['kernel_id'])})</p>")
        out.append(f"<p>{e(p.base['release'])} &rarr; {e(p.new['release'])}; {e(p.comparable)}.</p>")
        if p.coverage_note:
            out.append(f"<p class='flag'>{e(p.coverage_note)}.</p>")
        b, n = p.base["kernel_id"], p.new["kernel_id"]
        for cls, title, group in (
                ("rejections-accepted", f"Tests that expect a rejection, accepted by {b}, rejected by {n}",
                 p.rejections_accepted),
                ("successes-rejected", f"Tests that expect success, rejected by {b}, verified by {n}",
                 p.successes_rejected)):
            if group:
                out.append(f"<h3>{e(title)} ({len(group)})</h3><table class='sortable {cls}'><thead><tr>"
                           f"<th>program</th><th>description</th><th>{e(b)}</th><th>{e(n)}</th></tr></thead><tbody>")
                for f in group:
                    out.append(f"<tr><td><code>{e(f.object)}/{e(f.program)}</code></td><td>{e(_description(f))}</td>"
                               f"<td>{e(_cost(f.base))}</td><td>{e(_cost(f.new))}</td></tr>")
                out.append("</tbody></table>")
        if not p.findings:
            out.append("<p>No change.</p>" if p.tested == "complete" else "<p class='flag'>No change among the "
                       f"{p.compared} programs verified on both kernels.</p>")
            continue
        out.append(f"<h3>Findings (<span id='count-{i}'>{len(p.findings)}</span> shown), what to act on first at "
                   f"the top</h3>")
        out.append(f"<table class='sortable findings' data-pair='{i}'><thead><tr><th>class</th><th>program</th>"
                   "<th>expects</th><th>error (normalized)</th>"
                   f"<th>{e(p.base['kernel_id'])}</th><th>{e(p.new['kernel_id'])}</th><th>&Delta; insns</th>"
                   "<th>details</th></tr></thead><tbody>")
        for f in sorted(p.findings, key=work_first):
            d, dtext = _delta(f)
            side = f.new or f.base or {}
            outcome = side.get("outcome") or "no-expectation"
            desc = _description(f)
            text = " ".join((f.object, f.program, f.error_key or f.detail or "", desc, _expects(f),
                             *_messages(f))).lower()
            excerpt = _log_excerpt(f.new if f.new and f.new.get("verdict") == "failure" else f.base)
            flag = "<div class='flag'>expected before, unexpected now</div>" if f.newly_unexpected else ""
            commit = (f"<div class='commit'>{e(p.commit['id'][:12])} {e(p.commit['subject'])}</div>"
                      if p.commit else "")
            a = attributed(p, f) if attributed is not None else None
            if a is not None:
                from harness.attribute import words
                commit += f"<div class='commit{'' if a.get('commit') else ' flag'}'>{e(words(a))}</div>"
            anchor = f"{pair_slug(p)}/{f.object}/{f.program}"
            ld = logdiff(p, f)
            diff_html = (f"<details class='logdiff'><summary>verifier log diff: first divergence at insn "
                         f"{e(str(ld.divergence.idx))} ({e(ld.divergence.kind)})</summary>"
                         f"{render_logdiff(ld, anchor + '/diverge')}</details>") if ld is not None else ""
            out.append(
                f"<tr id='{e(anchor)}' class='{f.change.value}' data-class='{f.change.value}' data-object='{e(f.object)}' "
                f"data-outcome='{e(outcome)}' data-text='{e(text)}'><td data-v='{ORDER.index(f.change)}'>{f.change.value}</td>"
                f"<td><code>{e(f.object)}/{e(f.program)}</code>{flag}{commit}"
                + (f"<div class='desc'>{e(desc)}</div>" if desc else "")
                + f"</td><td>{e(_expects(f))}"
                + "".join(f"<div class='desc'>__msg: <code>{e(m)}</code></div>" for m in _messages(f)[:3])
                + f"</td><td>{e(f.error_key or f.detail)}</td>"
                f"<td>{e(_cost(f.base))}</td><td>{e(_cost(f.new))}</td><td data-v='{d if d is not None else ''}'>{dtext}</td>"
                f"<td><details><summary>log and reproducer</summary>"
                + (f"<pre>{e(chr(10).join(excerpt))}</pre>" if excerpt else "")
                + f"<pre>{e(reproduce(failing_side(p, f), f.object, f.program))}</pre></details>{diff_html}</td></tr>")
        out.append("</tbody></table>")
    # the whole picture after the work: cost moves, and every program's verdict on every kernel
    out.append("<h2>Largest insns moves</h2>" + _chart(pairs))
    out.append("<h2>Kernel &times; program verdicts</h2>" + _matrix(pairs, verdicts))
    out.append(f"<script>{JS}</script></body></html>")
    return "\n".join(out) + "\n"


def logdiff_page(diffs) -> str:
    """``bpf-harness logdiff --html``: each program's two logs side by side around their first divergence."""
    out = ["<!doctype html><html lang='en'><head><meta charset='utf-8'><title>bpf-harness log diff</title>",
           f"<style>{CSS}</style></head><body><h1>Verifier log diff</h1>"]
    for d in diffs:
        anchor = f"{d.key[0]}/{d.key[1]}"
        out.append(f"<h2 id='{e(anchor)}'>{e(anchor)}: {e(d.diff.a_name)} {e(d.verdicts[0])}, "
                   f"{e(d.diff.b_name)} {e(d.verdicts[1])}</h2>")
        out.append(render_logdiff(d.diff, anchor + "/diverge"))
    out.append("</body></html>")
    return "\n".join(out) + "\n"
