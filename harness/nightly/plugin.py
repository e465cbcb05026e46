"""The nightly job as a pytest session: ``pytest --bpf-matrix MATRIX [--bpf-db PATH] [-n N]``.

One test item per (cell, program), node id ``KERNEL/ARCH::OBJECT/PROGRAM``.  The engine is the one
``bpf-harness run`` uses (:class:`harness.engine.Engine` into the same store); pytest only schedules and
judges:

- **scheduling**: with ``-n``, whole *lanes* (a branch on an arch: its kernels in order) go to one worker
  (:class:`LaneScheduling`, via ``pytest_xdist_make_scheduler``), so each cell boots one guest and each
  kernel is judged against its predecessor on the same worker.  ``xdist_group`` markers are honoured only by
  ``--dist loadgroup`` (this repository's own suite runs ``--dist loadfile``, which ignores them), and
  loadgroup renames every node id with ``@group``; a scheduler keeps the ids readable.
- **judging**: an item fails for a regression against the previous kernel of its lane or a newly unexpected
  result (expected there, not here); it is skipped, with the reason, when there is no verdict (timeout,
  crash, a cell that did not complete); ``xfail`` when ``selftest_maps/known_issues.yaml`` names it.  The
  first kernel of a lane is the baseline: it passes with a verdict.
- **selection**: ``-k`` / ``--lf`` verify only the selected programs, stored as a ``select`` cell (never
  taken for a complete one); a cell already complete in the store is read, not run again.
"""

from __future__ import annotations

import datetime
import json
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KNOWN = ROOT / "selftest_maps" / "known_issues.yaml"
_matched: set[str] = set()
"""Known issues that made an item xfail this session (the controller sees the workers' reports)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("bpf-harness", "BPF verifier matrix (bpf-harness)")
    g.addoption("--bpf-matrix", default=None, metavar="FILE", help="run this bpf-harness matrix as the session")
    g.addoption("--bpf-db", default=None, metavar="PATH", help="results store (default: bpf-harness-out/results.db)")
    g.addoption("--bpf-cache", default=None, metavar="DIR", help="download/build cache")
    g.addoption("--bpf-known-issues", default=None, metavar="FILE",
                help=f"known issues YAML (default: {KNOWN.relative_to(ROOT)} when present)")


def _active(config: pytest.Config) -> bool:
    return bool(config.getoption("bpf_matrix", None))


def pytest_configure(config: pytest.Config) -> None:
    if not _active(config):
        return
    config.addinivalue_line("markers", "bpf_cell(key): the cell (KERNEL/ARCH) a bpf-harness item belongs to")
    from harness import matrix as matrix_mod
    from harness.kernels.built import expand
    from harness.kernels import acquire
    from harness.nightly import known
    path = Path(config.getoption("bpf_matrix"))
    config._bpf = state = _State()
    _matched.clear()  # one session's known-issue matches (a pytester run may hold several sessions)
    kpath = config.getoption("bpf_known_issues")
    state.known = known.load(Path(kpath) if kpath else KNOWN)
    if kpath and not Path(kpath).exists():
        raise pytest.UsageError(f"--bpf-known-issues {kpath}: no such file")
    from harness.store import default_db
    state.db = Path(config.getoption("bpf_db") or default_db()).resolve()
    cache = config.getoption("bpf_cache")
    state.cache = Path(cache) if cache else None
    from harness import cache as cache_mod, stream
    winput = getattr(config, "workerinput", None)
    m = matrix_mod.load(path)
    if m.follows:  # resolved once by the controller and recorded; the workers read that record
        if winput is not None:
            from harness.store import Store
            with Store(state.db) as store:
                m = stream.recorded_matrix(m, store)[0]
        else:
            m, said, left = stream.for_run(m, state.db, state.cache or cache_mod.root())
            state.untested = [what for what, _ in left]
            for line in said:
                sys.stderr.write(f"bpf-harness: kernels by rule: {line}\n")
    state.matrix = acquire.check_supported(expand(m))
    state.matrix_path = path
    state.session = winput["bpf_session"] if winput else uuid.uuid4().hex[:12]
    state.worker = winput["workerid"] if winput else "main"


class _State:
    matrix = None
    untested: list = []
    matrix_path: Path
    known: tuple = ()
    db: Path
    cache: Path | None = None
    session: str = ""
    worker: str = "main"

    def __init__(self) -> None:
        self.cells: dict[str, dict] = {}
        """cell key -> {"row": stored cell, "results": result_map} once run (or read) in this process."""
        self.pairs: dict[str, object] = {}
        """cell key -> its judged pair (:func:`_pair`), None for a lane's first kernel."""


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:  # xdist controller: one session id for every worker
    if _active(node.config):
        node.workerinput["bpf_session"] = node.config._bpf.session


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if not _active(config):
        return None
    from xdist.scheduler import LoadScopeScheduling

    lanes = {c.key: f"{c.branch}/{c.arch}" for c in config._bpf.matrix.cells()}

    class LaneScheduling(LoadScopeScheduling):
        """Whole lanes to one worker: a cell boots once, and its base cell runs before it on the same worker."""

        def _split_scope(self, nodeid: str) -> str:
            return lanes.get(nodeid.split("::", 1)[0], nodeid.split("::", 1)[0])

    return LaneScheduling(config, log)


def pytest_ignore_collect(collection_path, config):
    return True if _active(config) else None


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    if not _active(config):
        return
    from harness.engine import Preparer
    state: _State = config._bpf
    prep = Preparer(state.matrix, state.cache or _cache_root())
    today = datetime.date.today()
    for k in state.known:
        if k.expired(today):
            items.append(KnownIssueItem.from_parent(session, name=f"known-issues::{k.id}", issue=k,
                                                    nodeid=f"known-issues::{k.id}"))
    for cell in state.matrix.cells():
        corpus = prep.corpus(cell)
        cnode = CellNode.from_parent(session, name=cell.key, nodeid=cell.key, cell=cell)
        for obj in corpus.objects:
            for prog in obj.programs:
                name = f"{obj.name}/{prog}"
                items.append(ProgramItem.from_parent(cnode, name=name, nodeid=f"{cell.key}::{name}", obj=obj.name,
                                                     prog=prog))


def _cache_root() -> Path:
    from harness import cache
    return cache.root()


class CellNode(pytest.Collector):
    def __init__(self, *, cell, **kw):
        super().__init__(**kw)
        self.cell = cell

    def collect(self):  # items are made in pytest_collection_modifyitems
        return []


class KnownIssueItem(pytest.Item):
    def __init__(self, *, issue, **kw):
        super().__init__(**kw)
        self.issue = issue

    def runtest(self):
        raise KnownIssueExpired(self.issue)

    def repr_failure(self, excinfo):
        k = self.issue
        return (f"known issue {k.id} expired on {k.expires}: {k.reason}\n"
                f"renew its expires: in the known issues file, or remove it")

    def reportinfo(self):
        return KNOWN, None, f"known issue {self.issue.id}"


class KnownIssueExpired(Exception):
    pass


class Regression(Exception):
    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


class ProgramItem(pytest.Item):
    def __init__(self, *, obj: str, prog: str, **kw):
        super().__init__(**kw)
        self.obj, self.prog = obj, prog
        self.cell = self.parent.cell

    def reportinfo(self):
        return self.config._bpf.matrix_path, None, f"{self.cell.key}::{self.obj}/{self.prog}"

    def runtest(self) -> None:
        from harness.nightly import known
        state: _State = self.config._bpf
        mine = _cell_results(self, self.cell)
        row, results = mine["row"], mine["results"]
        r = results.get((self.obj, self.prog))
        issue = known.match(state.known, self.cell.kernel.id, self.cell.arch, f"{self.obj}/{self.prog}")
        self.user_properties += [("cell", self.cell.key), ("kernel", self.cell.kernel.id),
                                 ("cell_status", row.status if row else "not run")]
        if row is None or r is None or r["verdict"] not in ("success", "failure"):
            why = (f"the cell did not run: {mine.get('error') or 'no cell in the store'}" if row is None else
                   f"cell {row.status}: {row.detail or ''}".strip() if r is None or not row.complete
                   else f"no verdict: {r['verdict']}")
            pytest.skip(f"inconclusive: {why}")
        self.user_properties += [("verdict", r["verdict"]), ("error", r.get("error") or ""),
                                 ("outcome", r.get("outcome") or "n/a"), ("insns", str(r.get("insns")))]
        from harness import judge
        from harness.diff import Change
        p = _pair(self)
        if p is None:
            return  # the lane's first kernel: the baseline
        f = next((f for f in p.findings if (f.object, f.program) == (self.obj, self.prog)), None)
        if f is not None and f.change is Change.INCONCLUSIVE:
            pytest.skip(f"inconclusive against {p.base['kernel_id']}: {f.detail}")
        what = judge.failure(f, "unexpected")  # the plugin gates as `bpf-harness run --fail-on unexpected`
        if what is not None:
            from harness.nightly import history
            from harness.store import Store
            with Store(state.db) as store:
                since = history.status_now(store, state.matrix_path.name, history.key(p, f))
            self.user_properties += [("finding", what), ("base", p.base["kernel_id"]), ("history", since)]
            what += f" ({since})"
            text = _finding_text(self, what, f.detail or "", f.base, r, row)
            if issue is not None:
                self.user_properties.append(("known_issue", issue.id))
                pytest.xfail(f"known issue {issue.id} (until {issue.expires}): {issue.reason}")
            raise Regression(text)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, Regression):
            return excinfo.value.text
        return super().repr_failure(excinfo)


def _finding_text(item: ProgramItem, what: str, detail: str, base: dict | None, new: dict, row) -> str:
    from harness.report.model import reproducer
    from harness.store import Store
    with Store(item.config._bpf.db) as store:
        repro = reproducer(store, row.to_dict(), item.obj, item.prog)
    tail = (new.get("tail") or new.get("log") or "").strip().splitlines()[-12:]
    lines = [f"{what}: {item.obj}/{item.prog} on {item.cell.key} {detail}".rstrip(),
             f"  before: {base['verdict'] if base else 'absent'}"
             + (f" ({base.get('error')})" if base and base.get("error") else ""),
             f"  now:    {new['verdict']}" + (f" ({new.get('error')})" if new.get("error") else "")]
    if tail:
        lines += ["  verifier log (end):"] + [f"    {t}" for t in tail]
    lines.append(f"  reproduce: {repro}")
    return "\n".join(lines)


def _pair(item: ProgramItem):
    """The pair whose new side is this item's cell, judged as every report judges it (:mod:`harness.judge`,
    :func:`harness.report.model.pair`) from the cells this session ran or read; None for the lane's first
    kernel.  Computed once per cell."""
    state: _State = item.config._bpf
    if item.cell.key not in state.pairs:
        from harness import judge
        from harness.report.model import pair
        from harness.store import Store
        cells = {c.kernel.id: c for c in state.matrix.cells() if c.branch == item.cell.branch
                 and c.arch == item.cell.arch}
        lane = judge.lane(state.matrix, item.cell.branch, item.cell.arch,
                          lambda kid, arch: _cell_results(item, cells[kid])["row"], until=item.cell.kernel.id)
        mine = [(b, n) for b, n in judge.commit_pairs(lane) if n["kernel_id"] == item.cell.kernel.id]
        p = None
        if mine:
            with Store(state.db) as store:
                p = pair(store, item.cell.branch, "commit", *mine[0], state.matrix.thresholds)
        state.pairs[item.cell.key] = p
    return state.pairs[item.cell.key]


def _cell_results(item: pytest.Item, cell) -> dict:
    """The cell's stored results, running it first (once per process) when the store has no complete cell."""
    state: _State = item.config._bpf
    if cell.key in state.cells:
        return state.cells[cell.key]
    from harness import judge
    from harness.engine import Context, Engine
    from harness.store import Store
    wanted = {(i.obj, i.prog) for i in item.session.items if isinstance(i, ProgramItem) and i.cell.key == cell.key}
    with Store(state.db) as store:
        done = store.latest_cell(cell.kernel.id, cell.arch)
    whole = not _deselected(item, cell)
    argv = ["pytest", "--bpf-matrix", str(state.matrix_path), f"session {state.session}", f"worker {state.worker}"]
    if not (done is not None and done.complete):
        from harness.errors import HarnessError
        try:
            engine = Engine(state.matrix, state.db, Context.make(state.cache, 1, argv))
            engine.run((cell.key,), programs=None if whole else frozenset(wanted), select=not whole)
            judge.follow_up(engine, state.matrix, logs=whole)  # the same steps after the cell as bpf-harness run
        except HarnessError as e:  # a download, build or tool: every item of the cell says so, none runs it again
            state.cells[cell.key] = {"row": None, "results": {}, "error": str(e)}
            return state.cells[cell.key]
    with Store(state.db) as store:
        row = store.latest_cell(cell.kernel.id, cell.arch)
        if row is None or not row.complete or not whole:
            sel = store.latest_cell(cell.kernel.id, cell.arch, purpose="select")
            if sel is not None and (row is None or not row.complete):
                row = sel
        results = store.result_map(row.id) if row is not None else {}
    state.cells[cell.key] = {"row": row, "results": results}
    return state.cells[cell.key]


def _deselected(item: pytest.Item, cell) -> bool:
    """Whether -k / --lf / a node id left out programs of this cell (then only the selection runs)."""
    return bool(getattr(item.config, "_bpf_deselected", {}).get(cell.key))


def pytest_deselected(items) -> None:
    for i in items:
        if isinstance(i, ProgramItem):
            d = i.config.__dict__.setdefault("_bpf_deselected", {})
            d[i.cell.key] = d.get(i.cell.key, 0) + 1


def pytest_runtest_logreport(report) -> None:
    if report.when == "call":
        for k, v in report.user_properties:
            if k == "known_issue":
                _matched.add(v)



def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not _active(config):
        return
    state: _State = config._bpf
    tr = terminalreporter
    if state.db.exists():
        from harness.nightly import history
        from harness.report.model import pairs as all_pairs
        from harness.store import Store
        with Store(state.db) as store:
            h = history.record(store, state.matrix, all_pairs(store, state.matrix))
        if h.previous_at is None:
            tr.write_line("bpf-harness: first night of this matrix in this store (recorded for the next one)")
        else:
            tr.write_line(f"bpf-harness: since the last complete night ({history.day(h.previous_at)}): "
                          f"{len(h.new)} new finding(s), {len(h.gone)} gone, {len(h.since)} still present")
            for k in sorted(h.new):
                tr.write_line(f"  new: {history._words(k)}")
    if getattr(config, "_bpf_incomplete", None):
        tr.write_line(f"bpf-harness: NOT TESTED: cell(s) not complete: {', '.join(config._bpf_incomplete)} "
                      "(exit 3 unless a failure outranks it, as bpf-harness run; their programs without a verdict "
                      "were skipped)")
    stale = [k.id for k in state.known if k.id not in _matched and not k.expired(datetime.date.today())]
    if stale:
        tr.write_line(f"bpf-harness: stale known issue(s), matched nothing this run: {', '.join(stale)}")
    from harness.store import Store
    if not state.db.exists():
        return
    with Store(state.db) as store:
        rows = store.db.execute(
            "SELECT c.kernel_id, c.arch, c.purpose, c.status, r.argv FROM cells c JOIN runs r ON r.id = c.run_id "
            "WHERE r.argv LIKE ? AND c.purpose IN ('run', 'select')", (f"%session {state.session}%",)).fetchall()
    if not rows:
        tr.write_line("bpf-harness: no cell booted this session" + (
            "" if getattr(config, "_bpf_incomplete", None) else " (every cell was already complete in the store)"))
        return
    per: dict[str, list[str]] = {}
    for r in rows:
        worker = next((a.split()[1] for a in json.loads(r["argv"]) if a.startswith("worker ")), "?")
        per.setdefault(f"{r['kernel_id']}/{r['arch']}", []).append(worker)
    twice = {k: v for k, v in per.items() if len(v) > 1}
    tr.write_line(f"bpf-harness: {len(per)} cell(s) booted this session, "
                  + ("each once: " if not twice else f"{len(twice)} more than once: ")
                  + ", ".join(f"{k} on {','.join(v)}" for k, v in sorted(per.items())) + f" (store: {state.db})")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    """No all-clear that was not earned: when a cell of the matrix is not complete in the store (it did not
    boot, hung, its kernel could not be had), a session whose items all passed or skipped exits 3, as
    ``bpf-harness run`` does for an infrastructure failure."""
    config = session.config
    if not _active(config) or hasattr(config, "workerinput") or exitstatus not in (0, 1):
        return
    if config.getoption("collectonly", False) or getattr(config, "_bpf_deselected", None):
        return
    from harness.store import Store
    state: _State = config._bpf
    if not state.db.exists():
        bad = [c.key for c in state.matrix.cells()]
    else:
        from harness import judge
        with Store(state.db) as store:
            bad = [key for key, _ in judge.incomplete(state.matrix, store.latest_cell)]
    bad += state.untested  # a queue's patches after one that does not apply
    if bad:
        config._bpf_incomplete = bad
        if exitstatus == 0:  # a failure (a regression) outranks it, as in bpf-harness run; it is still said
            session.exitstatus = 3
