"""Remote hosts for real: a real OpenSSH server on this machine (its own host key, a key made for the test,
a free port) is the remote host.  A matrix with one local slot and that host runs real cells on both, and
the store holds the same verdicts and insns as a local-only run of the same matrix.
"""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from harness import cache, matrix
from harness.errors import ConfigError, InfraError
from harness.remote import Connection
from harness.engine import Context, Engine
from harness.store import CellStatus
from sshd import Sshd, free_port

pytestmark = [pytest.mark.integration]

@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    try:
        server = Sshd(tmp_path_factory.mktemp("sshd"))
    except RuntimeError as e:
        pytest.fail(str(e))
    yield server
    server.stop()


def test_pinned_key_connects_and_a_changed_or_unknown_key_is_refused(sshd):
    with Connection(sshd.host()) as c:
        assert c.check(["echo", "hello", "world"], "echo").strip() == "hello world"
    with pytest.raises(InfraError, match=r"host lab \(root@127.0.0.1:\d+\): its host key is not the one pinned"):
        Connection(sshd.host("changed_known_hosts"))
    with pytest.raises(InfraError, match="its host key is not pinned in .*empty_known_hosts: refused"):
        Connection(sshd.host("empty_known_hosts"))
    with pytest.raises(ConfigError, match="known_hosts file .* not found"):
        Connection(sshd.host("missing_known_hosts"))
    with pytest.raises(InfraError, match="unreachable"):
        Connection(dataclasses.replace(sshd.host(), port=free_port()))


def test_an_upload_is_sent_once(sshd, tmp_path):
    d = sshd.dir
    (tmp_path / "a").write_bytes(b"x" * 100_000)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_text("b")
    with Connection(sshd.host()) as c:
        where = str(d / "remote-cache" / "t1")
        first = c.put_tree([(tmp_path / "a", "a"), (tmp_path / "sub", "sub")], where)
        again = c.put_tree([(tmp_path / "a", "a"), (tmp_path / "sub", "sub")], where)
    assert first > 100_000 and again == 0
    assert (Path(where) / "a").read_bytes() == b"x" * 100_000 and (Path(where) / "sub" / "b").read_text() == "b"


MATRIX = """\
debian:
  suites: [bookworm-security]
corpora:
  tiny:
    source: 6.12.117
    include: [verifier_and, verifier_bswap, verifier_sdiv]
branches:
  6.12.y:
    corpus: tiny
    kernels: [6.12.115, 6.12.117]
vm:
  cpus: 2
  memory: 2G
  program_timeout: 30
  cell_timeout: 900
"""


def verdicts(db: Path) -> dict[tuple[str, str, str], tuple]:
    c = sqlite3.connect(db)
    return {(k, o, p): (v, i) for k, o, p, v, i in c.execute(
        "SELECT c.kernel_id, r.object, r.program, r.verdict, r.insns FROM results r JOIN cells c ON c.id = r.cell_id "
        "WHERE c.purpose = 'run'")}


def test_cells_run_here_and_on_the_host_with_the_same_answers(sshd, tmp_path, tools):
    d, port, h = sshd.dir, sshd.port, sshd.host()
    (tmp_path / "remote.yaml").write_text(MATRIX + sshd.matrix_hosts())
    (tmp_path / "local.yaml").write_text(MATRIX)
    t0 = time.monotonic()
    remote = Engine(matrix.load(tmp_path / "remote.yaml"), tmp_path / "r" / "results.db", Context.make(jobs=1)).run()
    both = time.monotonic() - t0
    assert [o.status for o in remote.outcomes] == [CellStatus.COMPLETE] * 2, [o.detail for o in remote.outcomes]
    cells = sqlite3.connect(tmp_path / "r" / "results.db").execute(
        "SELECT kernel_id, accel_reason, reproducer FROM cells ORDER BY id").fetchall()
    on_host = [c for c in cells if c[2].startswith(f"ssh -p {port} root@127.0.0.1 ")]
    assert len(on_host) == 1 and "on host lab" in on_host[0][1], cells  # one cell here, one there
    console = next((tmp_path / "r" / "runs" / "run-1").glob(f"{on_host[0][0]}_x86_64/console.log")).read_text()
    assert "# host: lab (root@" in console and "Linux version 6.12." in console
    local = Engine(matrix.load(tmp_path / "local.yaml"), tmp_path / "l" / "results.db", Context.make(jobs=1)).run()
    assert [o.status for o in local.outcomes] == [CellStatus.COMPLETE] * 2
    got, want = verdicts(tmp_path / "r" / "results.db"), verdicts(tmp_path / "l" / "results.db")
    assert len(want) > 40 and got == want
    # the second run of the host's cell uploads nothing: kernel, corpus and runner are there by content
    with Connection(h) as c:
        from harness.remote import Stage
        from harness.engine import Preparer
        m = matrix.load(tmp_path / "remote.yaml")
        cell = next(c for c in m.cells() if c.kernel.id == on_host[0][0])
        prep = Preparer(m, cache.root())
        stage = Stage(c)
        stage.kernel(prep.kernel(cell.kernel, "x86_64"))
        corpus = prep.corpus(cell)
        stage.corpus(corpus, [o.path for o in corpus.objects])
        stage.runner()
        assert stage.sent == 0
    print(f"two cells, one here and one over SSH: {both:.0f} s")
    shutil.rmtree(d / "remote-cache", ignore_errors=True)


def test_a_dropped_connection_keeps_what_arrived_and_the_cell_runs_again_here(sshd, tmp_path, tools):
    """Kill the SSH connection mid-cell (the sshd process serving it): that cell is an infra error with the
    results received so far, the host is left out, the cell runs again in the local slot; and the guest on
    the host died with its connection."""
    h = sshd.host()
    (tmp_path / "m.yaml").write_text(MATRIX.replace("kernels: [6.12.115, 6.12.117]", "kernels: [6.12.117]")
                                     + sshd.matrix_hosts())
    sshd_pid = sshd.pid
    killed = []

    def cut_when_results_arrive():
        end = time.monotonic() + 600
        while time.monotonic() < end and not killed:
            for rw in (tmp_path / "runs").glob("run-*/*/rw"):  # what has arrived here, mirrored
                res = rw / "results.jsonl"
                if res.exists() and res.read_text().count('"kind": "result"') >= 5:
                    children = subprocess.run(["pgrep", "-P", str(sshd_pid)], capture_output=True, text=True).stdout.split()
                    for pid in children:
                        subprocess.run(["kill", "-KILL", pid])
                    killed.append(children)
                    return
            time.sleep(0.2)

    import threading
    cutter = threading.Thread(target=cut_when_results_arrive, daemon=True)
    cutter.start()
    summary = Engine(matrix.load(tmp_path / "m.yaml"), tmp_path / "results.db", Context.make(jobs=1)).run()
    cutter.join(timeout=5)
    assert killed and killed[0], "the connection was never cut"
    (o,) = summary.outcomes
    assert o.status is CellStatus.COMPLETE, o.detail
    c = sqlite3.connect(tmp_path / "results.db")
    cells = c.execute("SELECT id, status, detail, reproducer FROM cells ORDER BY id").fetchall()
    assert [s for _, s, _, _ in cells] == ["infra-error", "complete"], cells
    first = cells[0]
    assert first[2].startswith("connection to host lab lost while the guest ran") and first[3].startswith("ssh -p")
    kept = c.execute("SELECT COUNT(*) FROM results WHERE cell_id = ? AND verdict != 'not-run'", (first[0],)).fetchone()[0]
    assert kept >= 5  # what arrived before the cut is kept
    assert not cells[1][3].startswith("ssh ")  # ran again here
    time.sleep(2)
    left = subprocess.run(["pgrep", "-f", f"{h.cache}/runs/"], capture_output=True, text=True).stdout.split()
    assert not left, f"guest processes left on the host: {left}"
