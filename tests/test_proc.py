import os
import time
from pathlib import Path

import pytest

from harness import proc
from harness.errors import InfraError, ToolMissingError


def test_run_captures_and_logs_with_reproducer_first(tmp_path):
    log = tmp_path / "x.log"
    res = proc.run(["sh", "-c", "echo out; echo err >&2"], cwd=tmp_path, log_path=log)
    assert res.returncode == 0 and "out" in res.output and "err" in res.output
    first = log.read_text().splitlines()[0]
    assert first == f"$ cd {tmp_path} && sh -c 'echo out; echo err >&2'"


def test_failure_and_timeout_kill_the_group(tmp_path):
    with pytest.raises(InfraError, match=r"^sh failed with exit 3: boom$"):
        proc.run(["sh", "-c", "echo boom; exit 3"])
    pidfile = tmp_path / "pid"
    t0 = time.monotonic()
    with pytest.raises(InfraError, match="sleeper timed out after 1s"):
        proc.run(["sh", "-c", f"sleep 300 & echo $! > {pidfile}; wait"], timeout=1, what="sleeper")
    assert time.monotonic() - t0 < 30
    child = int(pidfile.read_text())
    time.sleep(0.2)
    assert not os.path.exists(f"/proc/{child}") or "Z" in open(f"/proc/{child}/stat").read().split()[2]


def test_missing_tool():
    with pytest.raises(ToolMissingError, match="no-such-tool-xyz not found"):
        proc.run(["no-such-tool-xyz"])
    with pytest.raises(ToolMissingError, match="^vngx not found on PATH; pip install virtme-ng$"):
        proc.require("vngx", "pip install virtme-ng")


def test_start_tees_through_a_pipe_even_if_the_child_reopens_stdout(tmp_path):
    log = tmp_path / "c.log"
    # like qemu's file chardev: reopen /proc/self/fd/1 with O_TRUNC and write there
    p, t = proc.start(["sh", "-c", "echo first; echo reopened > /proc/self/fd/1"], log_path=log, header="# h\n")
    p.wait(timeout=10)
    proc.stop(p)
    t.join(timeout=10)
    lines = log.read_text().splitlines()
    assert lines[0].startswith("# reproduce: sh -c ") and lines[1] == "# h"
    assert lines[2:] == ["first", "reopened"]


def test_background_runs_commands_at_the_lowest_priority_in_this_thread_only():
    import threading
    from harness.errors import ToolMissingError
    base = int(proc.run(["nice"]).output)
    seen = []
    with proc.background():
        assert int(proc.run(["nice"]).output) == 19
        t = threading.Thread(target=lambda: seen.append(int(proc.run(["nice"]).output)))
        t.start()
        t.join()
        with pytest.raises(ToolMissingError, match="no-such-tool-xyz not found"):
            proc.run(["no-such-tool-xyz"])
        # a tool found only on the command's own PATH (clang-19 is in /usr/lib/llvm-19/bin): seen in a cold run
        assert int(proc.run(["nice"], env={"PATH": f"/usr/bin:{os.environ['PATH']}"}).output) == 19
        bindir = Path(__import__("tempfile").mkdtemp())
        (bindir / "only-here").write_text("#!/bin/sh\nnice\n")
        (bindir / "only-here").chmod(0o755)
        assert int(proc.run(["only-here"], env={"PATH": f"{bindir}:{os.environ['PATH']}"}).output) == 19
    assert seen == [base]  # a cell's thread keeps its priority
    assert int(proc.run(["nice"]).output) == base
