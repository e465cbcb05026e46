import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from harness.errors import UserError
from harness.store import CellStatus, ResultRow, Store, Verdict
from conftest import add_corpus


def new_cell(store, run_id, status_key="6.12.117@1"):
    add_corpus(store)
    return store.start_cell(run_id=run_id, branch="b", kernel_id="6.12.117", kernel_key=status_key,
                            arch="x86_64", backend="vm", corpus_id="c1")


def test_complete_cells_are_found_for_the_same_kernel_and_corpus_only(tmp_path):
    s = Store(tmp_path / "r.db")
    run = s.start_run("m", "", [])
    cid = new_cell(s, run)
    assert s.complete_cell("6.12.117@1", "x86_64", "c1", "vm") is None
    s.finish_cell(cid, CellStatus.COMPLETE, "ok")
    assert s.complete_cell("6.12.117@1", "x86_64", "c1", "vm") == cid
    assert s.complete_cell("6.12.117@1", "x86_64", "c2", "vm") is None
    assert s.complete_cell("6.12.117@2", "x86_64", "c1", "vm") is None
    assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_results_and_counts(tmp_path):
    s = Store(tmp_path / "r.db")
    cid = new_cell(s, s.start_run("m", "", []))
    s.add_result(cid, ResultRow("o", "a", Verdict.SUCCESS, insns=5))
    s.add_result(cid, ResultRow("o", "b", Verdict.FAILURE, failure_class="verifier", error="R1 !read_ok"))
    s.add_result(cid, ResultRow("o", "c", Verdict.FAILURE, failure_class="load"))
    s.add_tail(cid, "o", "b", ["0: (b7) r0 = 0", "R1 !read_ok"], 1)
    assert s.verdict_counts(cid) == {"success": 1, "failure:verifier": 1, "failure:load": 1}
    b = next(r for r in s.results(cid) if r["program"] == "b")
    assert b["tail"] == "0: (b7) r0 = 0\nR1 !read_ok" and b["tail_log_level"] == 1


def test_schema_mismatch_is_a_clear_error(tmp_path):
    Store(tmp_path / "r.db").close()
    db = sqlite3.connect(tmp_path / "r.db")
    db.execute("UPDATE meta SET value='999' WHERE key='schema'")
    db.commit()
    with pytest.raises(UserError, match="schema 999 cannot be read by this harness"):
        Store(tmp_path / "r.db")


def test_schema_4_store_is_migrated_in_place_and_keeps_its_results(tmp_path):
    s = Store(tmp_path / "r.db")
    cid = new_cell(s, s.start_run("m", "", []))
    s.add_result(cid, ResultRow("o", "a", Verdict.SUCCESS, insns=7))
    s.close()
    db = sqlite3.connect(tmp_path / "r.db")  # what a schema-4 store looked like
    for table, col in (("results", "msg_check"), ("results", "msg_detail"), ("results", "msg_log_level"),
                       ("cells", "confirms"), ("cells", "purpose"), ("expectations", "not_messages"),
                       ("expectations", "unchecked"), ("expectations", "skip"), ("cells", "host"),
                       ("cells", "log_level")):
        db.execute(f"ALTER TABLE {table} DROP COLUMN {col}")
    db.execute("DROP TABLE night_findings")  # schema 9's and 10's tables: a schema-4 store has none
    db.execute("DROP TABLE nights")
    db.execute("DROP TABLE resolutions")
    db.execute("DROP TABLE attributions")
    db.execute("UPDATE meta SET value='4' WHERE key='schema'")
    db.commit()
    db.close()
    s = Store(tmp_path / "r.db")
    assert s.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0] == "11"
    row = next(s.results(cid))
    assert (row["insns"], row["msg_check"]) == (7, None)
    assert s.latest_cell("6.12.117", "x86_64").purpose == "run"
    cols = {r[1] for r in s.db.execute("PRAGMA table_info(expectations)")}
    assert {"not_messages", "unchecked", "skip"} <= cols  # schema 5 -> 6 too
    assert s.latest_cell("6.12.117", "x86_64").host is None  # and 6 -> 7: where a cell ran
    assert s.latest_cell("6.12.117", "x86_64").log_level is None  # and 7 -> 8: logs cells' level
    tables = {r[0] for r in s.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"nights", "night_findings"} <= tables  # and 8 -> 9: the nights' history
    assert "resolutions" in tables  # and 9 -> 10: what kernel rules resolved to
    assert "attributions" in tables  # and 10 -> 11: findings bisected to a commit
    assert s.db.execute("SELECT COUNT(*) FROM nights").fetchone()[0] == 0


def test_kill_9_loses_nothing_already_committed(tmp_path):
    """A writer killed with SIGKILL mid-stream: every result it committed is there."""
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(os.getcwd())!r})
        from harness.store import Store, ResultRow, Verdict
        s = Store({str(tmp_path / 'r.db')!r})
        cid = s.start_cell(run_id=s.start_run('m', '', []), branch='b', kernel_id='k', kernel_key='k',
                           arch='x86_64', backend='vm', corpus_id='c')
        for i in range(100000):
            s.add_result(cid, ResultRow('o', f'p{{i}}', Verdict.SUCCESS, insns=i))
            print(i, flush=True)
    """)
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    last = -1
    for line in p.stdout:
        last = int(line)
        if last >= 200:
            break
    p.send_signal(signal.SIGKILL)
    p.wait()
    s = Store(tmp_path / "r.db")
    n = s.db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    assert n >= last + 1  # everything reported as written survived


def test_interrupted_cells_are_reaped(tmp_path):
    s = Store(tmp_path / "r.db")
    run = s.start_run("m", "", [])
    s.db.execute("UPDATE runs SET owner='999999:1' WHERE id=?", (run,))  # a harness that is gone
    sleeper = subprocess.Popen(["sleep", "600"], start_new_session=True)
    cid = new_cell(s, run)
    s.update_cell(cid, pgid=sleeper.pid)
    assert s.reap_interrupted() == ["6.12.117/x86_64"]
    assert sleeper.wait(timeout=10) == -signal.SIGKILL
    row = s.db.execute("SELECT status FROM cells WHERE id=?", (cid,)).fetchone()
    assert row[0] == "interrupted"
    live = new_cell(s, s.start_run("m", "", []))  # owned by this live process: left alone
    assert s.reap_interrupted() == []
    assert s.db.execute("SELECT status FROM cells WHERE id=?", (live,)).fetchone()[0] == "running"


def test_logs_come_from_complete_logs_cells_at_the_level_asked_or_more(tmp_path):
    s = Store(tmp_path / "r.db")
    run = s.start_run("m", "", [])
    cid = new_cell(s, run)
    s.finish_cell(cid, CellStatus.COMPLETE, "ok")

    def logs_cell(level, status, log):
        lid = s.start_cell(run_id=run, branch="b", kernel_id="6.12.117", kernel_key="6.12.117@1", arch="x86_64",
                           backend="vm", corpus_id="c1", purpose="logs", confirms=cid, log_level=level)
        s.add_result(lid, ResultRow("o", "a", Verdict.SUCCESS, log=tuple(log.splitlines())))
        s.finish_cell(lid, status, "")

    assert s.logs(cid, 1) == {}
    logs_cell(1, CellStatus.COMPLETE, "0: (b7) r0 = 0")
    logs_cell(2, CellStatus.INFRA, "cut short")
    assert s.logs(cid, 1) == {("o", "a"): "0: (b7) r0 = 0"} and s.logs(cid, 2) == {}
    logs_cell(2, CellStatus.COMPLETE, "0: (b7) r0 = 0 ; R0_w=0\n1: (95) exit")
    assert s.logs(cid, 2) == {("o", "a"): "0: (b7) r0 = 0 ; R0_w=0\n1: (95) exit"}
    assert s.latest_cell("6.12.117", "x86_64").id == cid  # logs cells are not the kernel's cell
