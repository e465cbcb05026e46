"""The HTML report used as a maintainer uses it, in headless Chromium over the DevTools protocol (tests/cdp.py):
typing a filter, following a deep link, opening a log diff.

The store holds results recorded in real 6.1.190 and 6.1.192 guests (the fixture of test_report.py) and the
level-2 logs of test_global_func16/global_func16 that ``bpf-harness logdiff`` fetched from real guests of
both kernels (tests/data/log-l2-*, see test_logdiff.py).
"""

import json
import re

import pytest

from harness.cell import row_of
from harness.report import _logdiffs, html, model
from harness.store import CellStatus
from cdp import Chromium
from conftest import DATA
from test_report import classes, store  # noqa: F401  (fixtures: four pairs of real results, every class)

PROGRAM = ("test_global_func16", "global_func16")


def add_logs(s) -> None:
    """The two fetched logs as ``logs`` cells of the fixture's two run cells, as logdiff stores them."""
    run = s.start_run("m", "", ["bpf-harness", "logdiff"])
    for cell in s.latest_cells(("6.1.190", "6.1.192")):
        log = (DATA / f"log-l2-{cell.kernel_id}-test_global_func16.txt").read_text().splitlines()
        cid = s.start_cell(run_id=run, branch=cell.branch, kernel_id=cell.kernel_id, kernel_key=cell.kernel_key,
                           arch="x86_64", backend="vm", corpus_id=cell.corpus_id, release=cell.release,
                           purpose="logs", confirms=cell.id, log_level=2)
        verdict = "failure" if cell.kernel_id == "6.1.190" else "success"
        s.add_result(cid, row_of({"object": PROGRAM[0], "program": PROGRAM[1], "verdict": verdict, "log": log}))
        s.finish_cell(cid, CellStatus.COMPLETE, "ok")


@pytest.fixture
def page(store, classes, tmp_path):  # noqa: F811
    add_logs(store)
    out = tmp_path / "report.html"
    out.write_text(html.render(classes, lambda c, o, p: model.reproducer(store, c, o, p), store.result_map,
                               _logdiffs(store)))
    return out


@pytest.fixture
def browser(tmp_path):
    b = Chromium(tmp_path / "profile")
    yield b
    b.close()


def visible_rows(b) -> list[str]:
    return b.eval("Array.from(document.querySelectorAll('table.findings > tbody > tr')).filter(r => !r.hidden)"
                  ".map(r => r.id)")


def test_typing_a_filter_shows_only_the_matching_rows_and_counts_follow(page, browser):
    seconds = browser.open(page.as_uri())
    assert seconds < 30
    every = visible_rows(browser)
    assert every == ["6.1.190..6.1.192/x86_64/test_global_func16/global_func16",
                     "6.1.192..6.1.190/x86_64/test_global_func16/global_func16",
                     "6.1.192-again..6.1.190-again/x86_64/test_global_func16/global_func16",
                     "6.1.192-again..6.1.190-again/x86_64/bpf_cubic/bpf_cubic_cong_avoid"]
    browser.type("#f-text", "cubic")
    assert visible_rows(browser) == ["6.1.192-again..6.1.190-again/x86_64/bpf_cubic/bpf_cubic_cong_avoid"]
    counts = browser.eval("Array.from(document.querySelectorAll('[id^=count-]')).map(c => c.textContent)")
    assert counts == ["0", "0", "1"]  # the three pairs with findings; the fourth has none
    assert browser.eval("document.getElementById('f-shown').textContent") == "1 of 4 findings shown"
    browser.type("#f-text", "zz")  # "cubiczz": nothing matches, nothing is shown
    assert visible_rows(browser) == []
    # by class, with the text cleared
    browser.eval("var t=document.getElementById('f-text');t.value='';t.dispatchEvent(new Event('input'));"
                 "var c=document.getElementById('f-class');c.value='regression';c.dispatchEvent(new Event('input'))")
    assert visible_rows(browser) == ["6.1.192..6.1.190/x86_64/test_global_func16/global_func16"]
    # by outcome: results the test's own expectation calls unexpected on the newer kernel of their pair
    browser.eval("var c=document.getElementById('f-class');c.value='';"
                 "var o=document.getElementById('f-outcome');o.value='unexpected';o.dispatchEvent(new Event('input'))")
    assert visible_rows(browser) == ["6.1.192..6.1.190/x86_64/test_global_func16/global_func16",
                                     "6.1.192-again..6.1.190-again/x86_64/test_global_func16/global_func16"]


def test_a_deep_link_opens_the_log_diff_at_the_first_divergence(page, browser):
    anchor = "6.1.190..6.1.192/x86_64/test_global_func16/global_func16"
    browser.open(page.as_uri() + "#" + anchor + "/diverge")
    assert browser.eval("document.querySelector('tr.target').id") == anchor
    assert browser.eval(f"document.getElementById({json.dumps(anchor)}).querySelector('details.logdiff').open")
    hit = browser.eval(f"""(function(){{var r=document.getElementById({json.dumps(anchor + '/diverge')});
        var b=r.getBoundingClientRect();
        return {{idx: r.dataset.idx, cls: r.className, top: b.top, h: window.innerHeight,
                 cells: Array.from(r.cells).map(c => c.textContent)}};}})()""")
    bar = browser.eval("document.getElementById('filters').getBoundingClientRect().bottom")
    assert hit["cls"] == "diverge" and bar <= hit["top"] < hit["h"], hit  # highlighted, on screen, not under the bar
    # where the two kernels' logs really part: 6.1.190's walk ends at "2: (85) call pc+5" with its error,
    # 6.1.192's goes on at 3 with the state it printed there
    assert hit["idx"] == "3"
    a = (DATA / "log-l2-6.1.190-test_global_func16.txt").read_text()
    b = (DATA / "log-l2-6.1.192-test_global_func16.txt").read_text()
    line = re.search(r"^3: \(bc\) w1 = w0\s+; (.*)$", b, re.M)
    assert line and not re.search(r"^3: ", a, re.M)
    assert hit["cells"] == ["3: (bc) w1 = w0", "not processed", "at: R0_w=scalar()" + line.group(1)]
    why = browser.eval(f"document.getElementById({json.dumps(anchor)}).querySelector('p.why').textContent")
    assert "6.1.190/x86_64 stops after 2: (85) call pc+5: Caller passes invalid args into func#1" in why
    # a link to a row without /diverge marks it and leaves its log diff closed
    other = browser.eval("document.querySelectorAll('table.findings > tbody > tr')[1].id")
    browser.open(page.as_uri() + "#" + other)
    assert browser.eval("document.querySelector('tr.target').id") == other


def test_after_a_run_the_logs_of_findings_to_diff_are_fetched_once(store):  # noqa: F811
    """vm: log_diffs -- the 6.1.190 -> 6.1.192 fix is a verdict flip: its level-2 logs are wanted from both cells,
    and no longer once the store has them."""
    from harness import matrix
    from harness.report.model import to_fetch_logs
    from test_report import MATRIX
    m = matrix.parse(MATRIX, "m.yaml")
    want = to_fetch_logs(store, m, 10)
    assert sorted((r.cell.kernel_id, sorted(r.programs)) for r in want) == [("6.1.190", [PROGRAM]), ("6.1.192", [PROGRAM])]
    assert to_fetch_logs(store, m, 0) == []
    add_logs(store)
    assert to_fetch_logs(store, m, 10) == []


def test_a_rows_expected_messages_are_shown_and_searchable(store, classes, tmp_path, browser):  # noqa: F811
    # the fixture's __msg flip (test_report.classes) checks this message; its expectation says so here
    store.db.execute("INSERT INTO expectations(corpus_id, object, program, expect, messages, regexes, log_level, flags, "
                     "arches, description, auxiliary) VALUES('c1', 'bpf_cubic', 'bpf_cubic_cong_avoid', 'success', "
                     "'[\"invalid indirect read from stack\", \"last_idx 7 first_idx 0\"]', '[]', 1, '[]', '[]', NULL, 0)")
    from harness.matrix import Thresholds
    again = model.pair(store, "6.1.y", "commit", classes[2].base, classes[2].new, Thresholds())  # read anew
    page = tmp_path / "msg.html"
    page.write_text(html.render([again], lambda c, o, p: "", store.result_map))
    assert "<div class='desc'>__msg: <code>invalid indirect read from stack</code></div>" in page.read_text()
    assert "<div class='desc'>__msg: <code>last_idx 7 first_idx 0</code></div>" in page.read_text()
    # the second message is in no error, detail or description: only the expectation can make the row match
    (f,) = [f for f in again.findings if f.program == "bpf_cubic_cong_avoid"]
    assert "first_idx 0" not in " ".join((f.error_key or "", f.detail or "")).lower()
    browser.open(page.as_uri())
    browser.type("#f-text", "last_idx 7 first_idx 0")
    assert visible_rows(browser) == ["6.1.192-again..6.1.190-again/x86_64/bpf_cubic/bpf_cubic_cong_avoid"]
