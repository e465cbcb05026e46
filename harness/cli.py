"""Command line: ``bpf-harness run|validate|results|report|diff|fidelity|bisect|backports|maps|...``.  The only place that exits.

Exit codes: 0 clean, 1 regressions found, 2 usage/config error, 3 infrastructure error.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Sequence

from harness import __version__, backends, judge, matrix as matrix_mod
from harness.arch import PRIMARY
from harness.errors import ConfigError, ExitCode, HarnessError, UsageError

DEFAULT_MATRIX = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"


class _Parser(argparse.ArgumentParser):
    """argparse that raises :class:`UsageError` (exit 2, one line) instead of exiting from inside."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="bpf-harness", description="BPF verifier regression harness for stable kernels.",
                epilog="exit codes: 0 clean, 1 regressions, 2 usage/config error, 3 infrastructure error")
    p.add_argument("--version", action="version", version=f"bpf-harness {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging (every command run)")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)

    r = sub.add_parser("run", help="run a matrix: fetch kernels, build the corpus, verify in VMs")
    r.set_defaults(func=cmd_run)
    r.add_argument("-m", "--matrix", type=Path, default=DEFAULT_MATRIX, help="matrix YAML (default: %(default)s)")
    r.add_argument("--db", type=Path, default=None, help="results store (default: bpf-harness-out/results.db)")
    r.add_argument("--cell", action="append", default=[], metavar="KERNEL/ARCH",
                   help="only these cells (repeatable; KERNEL alone means all its arches)")
    r.add_argument("--jobs", "-j", type=int, default=None,
                   help="cells to run in parallel here (default: as many guests as this machine's cores and "
                        "memory fit, given vm: cpus and memory); the matrix's hosts: add their own")
    r.add_argument("--force", action="store_true", help="re-run cells already complete for the same kernel and corpus")
    r.add_argument("--cache", type=Path, default=None, help="download/build cache (default: $XDG_CACHE_HOME/bpf-harness)")
    r.add_argument("--report", type=Path, default=None, metavar="DIR",
                   help="write every report format to DIR after the run")
    r.add_argument("--shard", metavar="I/N", default=None,
                   help="run shard I of N: whole lanes (a branch on an arch) dealt round-robin; merge the stores after")
    r.add_argument("--fail-on", choices=judge.FAIL_ON, default="regression",
                   help="exit 1 on verifier regressions (default), also on newly unexpected results, or never")

    rp = sub.add_parser("report", help="write a report of the matrix's per-commit diffs")
    rp.set_defaults(func=cmd_report)
    rp.add_argument("--db", type=Path, default=None)
    rp.add_argument("-m", "--matrix", type=Path, default=DEFAULT_MATRIX,
                    help="matrix that orders kernels into branches (default: %(default)s)")
    rp.add_argument("--format", required=True, choices=("md", "html", "json", "junit", "csv", "email", "kcidb",
                                                        "review-reply"))
    rp.add_argument("-o", "--output", type=Path, required=True,
                    help="file (csv: a directory with one file per cell, unless one --cell is given)")
    rp.add_argument("--cell", action="append", default=[], metavar="KERNEL/ARCH", help="csv: only this cell")
    rp.add_argument("--fail-on", choices=judge.FAIL_ON, default="never",
                    help="gate a merged store as run does: exit 1 on regressions (or also newly unexpected "
                         "results), 3 when a cell of the matrix did not complete (default never: exit 0)")
    rp.add_argument("--cover", type=Path, default=None, metavar="FILE",
                    help="review-reply: the review's cover letter ([PATCH X.Y 000/NNN] ... review), a mail or an mbox")
    rp.add_argument("--in-reply-to", default=None, metavar="MESSAGE-ID",
                    help="review-reply: the cover letter's Message-ID, when the mail itself is not at hand")
    rp.add_argument("--from", dest="tester", default=os.environ.get("BPF_HARNESS_FROM"), metavar="'NAME <ADDRESS>'",
                    help="review-reply: who replies (the Tested-by:); default $BPF_HARNESS_FROM")
    rp.add_argument("--record-night", action="store_true",
                    help="also record these findings as tonight's in the store's history (what a nightly's merge job "
                         "does once; rendering alone writes nothing, so a report rendered twice or from a copy says "
                         "the same)")

    v = sub.add_parser("validate", help="check a matrix file without running it (and say what its kernel rules "
                       "resolve to today)")
    v.set_defaults(func=cmd_validate)
    v.add_argument("file", type=Path)
    v.add_argument("--cache", type=Path, default=None, help="cache with the private apt lists (default: "
                   "$XDG_CACHE_HOME/bpf-harness)")

    f = sub.add_parser("fidelity", help="UML vs VM results of the same kernel version and corpus")
    f.set_defaults(func=cmd_fidelity)
    f.add_argument("cells", nargs="*", metavar="CELL", help="UML cell then VM cell (default: every matching pair)")
    f.add_argument("--db", type=Path, default=None)
    f.add_argument("--limit", type=int, default=None, help="examples listed per cause (default: text 10, 'other' all; "
                   "md 3)")
    f.add_argument("--format", choices=("text", "md"), default="text",
                   help="md: a Markdown section (figures and a table of causes) for the docs")
    f.add_argument("--record", type=Path, default=None, metavar="FILE",
                   help="also keep the pair's measurement as a record (gzipped JSON) the docs' tables are generated "
                        "from (ci/fidelity_docs.py); one pair only")
    f.add_argument("--what", default=None, help="the record's heading (default: the UML cell's release)")
    f.add_argument("--from", dest="records", type=Path, nargs="+", default=None, metavar="FILE",
                   help="render records instead of a store's cells")

    d = sub.add_parser("diff", help="verifier acceptance diff of two cells; exit 1 if regressions")
    d.set_defaults(func=cmd_diff)
    d.add_argument("base", metavar="BASE", help="KERNEL or KERNEL/ARCH (newest cell of it)")
    d.add_argument("new", metavar="NEW")
    d.add_argument("--db", type=Path, default=None)
    d.add_argument("--insns-pct", type=float, default=None, help="complexity threshold in percent (default 10)")
    d.add_argument("--insns-abs", type=int, default=None, help="complexity threshold in insns (default 1000)")
    d.add_argument("--limit", type=int, default=50, help="findings listed per class (default 50)")

    mg = sub.add_parser("merge", help="stores of several jobs (e.g. --shard runs) into one; idempotent")
    mg.set_defaults(func=cmd_merge)
    mg.add_argument("out", metavar="OUT", type=Path)
    mg.add_argument("inputs", metavar="IN", type=Path, nargs="+")

    ld = sub.add_parser("logdiff", help="two kernels' verifier logs of programs side by side, from where they part")
    ld.set_defaults(func=cmd_logdiff)
    ld.add_argument("base", metavar="BASE", help="KERNEL or KERNEL/ARCH (newest cell of it)")
    ld.add_argument("new", metavar="NEW")
    ld.add_argument("programs", metavar="OBJECT/PROGRAM", nargs="+")
    ld.add_argument("-m", "--matrix", type=Path, default=DEFAULT_MATRIX,
                    help="the matrix that ran the cells (to verify the programs again for logs the store lacks)")
    ld.add_argument("--db", type=Path, default=None)
    ld.add_argument("--level", type=int, choices=(1, 2), default=2,
                    help="verifier log level (default 2: every instruction's state, accepted programs too)")
    ld.add_argument("--cache", type=Path, default=None)
    ld.add_argument("--no-fetch", action="store_true", help="use only logs already in the store")
    ld.add_argument("--context", type=int, default=4, help="instructions shown each side of the divergence")
    ld.add_argument("--html", type=Path, default=None, help="also write the diffs as one offline HTML file")

    b = sub.add_parser("bisect", help="first commit of GOOD..BAD where named programs' results changed")
    b.set_defaults(func=cmd_bisect)
    b.add_argument("good", metavar="GOOD")
    b.add_argument("bad", metavar="BAD")
    b.add_argument("--tree", type=Path, required=True, help="the git tree (a linux-stable or mainline clone)")
    b.add_argument("--program", action="append", required=True, metavar="OBJECT/PROGRAM",
                   help="a program of the corpus (repeatable)")
    b.add_argument("--backend", choices=("auto", *backends.NAMES), default="auto",
                   help="auto (default): UML when the store's fidelity data says the fast lane verifies the "
                        "programs, else the VM")
    b.add_argument("--arch", default=PRIMARY.name, help=f"VM arch (default {PRIMARY.name}; UML is "
                   f"{', '.join(backends.UML.arches())})")
    b.add_argument("-m", "--matrix", type=Path, default=DEFAULT_MATRIX, help="matrix with the corpus")
    b.add_argument("--corpus", default=None, help="corpus of the matrix (default: the first branch's)")
    b.add_argument("--all-commits", action="store_true", help="test every commit, not only those touching --path")
    b.add_argument("--path", action="append", default=[], help="paths a candidate must touch (default: the BPF "
                   "paths: kernel/bpf/, include/linux/bpf*, the JITs, ...)")
    b.add_argument("--no-confirm", action="store_true", help="do not confirm a UML culprit in a VM")
    b.add_argument("--db", type=Path, default=None, help="results store; bisect keeps its own next to it")
    b.add_argument("--cache", type=Path, default=None)
    b.add_argument("--format", choices=("text", "json"), default="text")

    bp = sub.add_parser("backports", help="mainline BPF fixes and their selftests missing from a stable branch")
    bp.set_defaults(func=cmd_backports)
    bp.add_argument("--branch", required=True, help="the stable branch, MAJOR.MINOR.y (6.12.y)")
    bp.add_argument("-m", "--matrix", type=Path, default=DEFAULT_MATRIX,
                    help="matrix whose corpora and kernels --confirm builds from (default: %(default)s)")
    bp.add_argument("--db", type=Path, default=None, help="store with the branch's and the reference's cells")
    bp.add_argument("--at", default=None, metavar="X.Y.Z",
                    help="judge the branch as of this release (default: its newest kernel in the store)")
    bp.add_argument("--mainline", type=Path, default=None, help="a mainline git tree (commit evidence)")
    bp.add_argument("--since", default=None, help="mainline revision to read from (e.g. v6.12)")
    bp.add_argument("--head", default="HEAD", help="mainline revision to read to (default HEAD)")
    bp.add_argument("--base", default=None, help="the branch point in the trees (default vMAJOR.MINOR): a Fixes: "
                    "target reachable from it is in the branch")
    bp.add_argument("--stable", type=Path, default=None, help="a stable git tree (what the branch contains)")
    bp.add_argument("--stable-rev", default=None, help="the branch's revision in --stable (default HEAD)")
    bp.add_argument("--changelog", default=None, metavar="FILE|X.Y.Z",
                    help="what the branch contains, by subject, offline: a Debian changelog.Debian.gz, or a release "
                         "whose linux-source package's changelog to use")
    bp.add_argument("--queue", type=Path, default=None, help="a public-inbox git of the stable list (queued fixes)")
    bp.add_argument("--maps", type=Path, action="append", default=None,
                    help="selftest map YAML (repeatable; default: selftest_maps/*.yaml)")
    bp.add_argument("--confirm", action="store_true",
                    help="build the branch's newest release with each candidate that has paired tests, verify before/after")
    bp.add_argument("--backend", choices=backends.NAMES, default=backends.UML.name,
                    help=f"--confirm backend (default {backends.UML.name})")
    bp.add_argument("--corpus", default=None, help="--confirm corpus of the matrix (default: the behaviour cells')")
    bp.add_argument("--cache", type=Path, default=None)
    bp.add_argument("--format", choices=("md", "json", "html"), default="md")
    bp.add_argument("-o", "--output", type=Path, default=None, help="file (default: stdout)")
    bp.add_argument("--fail-on", choices=("missing", "never"), default="never",
                    help="exit 1 when a candidate is missing (default never)")

    mp = sub.add_parser("maps", help="selftest program <-> commit map of a git range, as reviewed YAML")
    mp.set_defaults(func=cmd_maps)
    mp.add_argument("--tree", type=Path, required=True)
    mp.add_argument("--range", required=True, metavar="A..B")
    mp.add_argument("-o", "--output", type=Path, default=None, help="file (default: stdout)")

    s = sub.add_parser("results", help="verdict counts per cell and failures with their error line")
    s.set_defaults(func=cmd_results)
    s.add_argument("--db", type=Path, default=None)
    s.add_argument("--cell", action="append", default=[], metavar="KERNEL/ARCH")
    s.add_argument("--limit", type=int, default=20, help="failures listed per cell (0: all; default 20)")
    s.add_argument("--all-failures", action="store_true", help="list load failures too, not only verifier rejections")
    return p


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="bpf-harness: %(message)s")
    # paramiko narrates every connection at INFO ("Connected (version 2.0, ...)"); the harness says
    # what matters about a host itself, and paramiko's warnings and errors still come through
    logging.getLogger("paramiko").setLevel(logging.DEBUG if verbose else logging.WARNING)


def _db(args: argparse.Namespace) -> Path:
    from harness.store import default_db
    return (args.db or default_db()).resolve()


def cmd_validate(args: argparse.Namespace) -> int:
    from harness import cache, stream
    from harness.kernels import acquire
    m = matrix_mod.load(args.file)
    if m.follows:  # what the rules resolve to today (the archive and the trees are read; nothing is recorded)
        resolved = stream.resolve(m, args.cache or cache.root())
        for line in stream.describe(resolved):
            print(f"{args.file}: {line}")
        m = stream.apply(m, resolved)
    m = acquire.check_supported(m)
    cells = m.cells()
    print(f"{args.file}: ok: {len(m.branches)} branch(es), {len(m.kernels())} kernel(s), {len(cells)} cell(s), "
          f"corpora: {', '.join(m.corpora)}")
    return ExitCode.OK


def cmd_run(args: argparse.Namespace) -> int:
    from harness import cache, stream
    from harness.kernels import acquire
    import dataclasses
    from harness.engine import Context, Engine, default_jobs, infra_failures
    m = matrix_mod.load(args.matrix)
    if args.jobs is not None and args.jobs < (0 if m.hosts else 1):
        raise ConfigError("--jobs must be at least 1 (0, all cells on the matrix's hosts, needs hosts:)")
    db = _db(args)
    m, said, left = stream.for_run(m, db, args.cache or cache.root())
    for line in said:
        print(f"kernels by rule: {line}")
    m = acquire.check_supported(m)
    only = tuple(args.cell)
    if args.shard is not None:
        from harness.nightly.shard import parse_shard, shard
        i, n = parse_shard(args.shard)
        mine = shard(m.cells(only), i, n)
        logging.getLogger("harness.run").info("shard %d/%d: %s", i, n, ", ".join(c.key for c in mine) or "no cells")
        if not mine:
            return ExitCode.OK
        only = tuple(c.key for c in mine)
    jobs = default_jobs(m) if args.jobs is None else args.jobs
    if args.jobs is None:
        logging.getLogger("harness.run").info(
            "%d guest(s) at a time here (vm: cpus %d, memory %s on %d core(s); --jobs N to choose)",
            jobs, m.vm.cpus, m.vm.memory, len(os.sched_getaffinity(0)))
    engine = Engine(m, db, Context.make(args.cache, jobs, args.argv))
    summary = engine.run(only, force=args.force)
    confirmations, fetched = judge.follow_up(engine, m)  # steps of their own, after the cells
    summary = dataclasses.replace(summary, confirmations=confirmations, logs=fetched)
    bad = infra_failures(summary)
    ran = len(summary.outcomes)
    regressed = False
    attributing = any(b.stable_tree is not None for b in m.branches)
    if args.report is not None or args.fail_on != "never" or attributing:
        from harness import report
        from harness.diff import Change
        from harness.store import Store
        from harness.report.model import pairs as all_pairs
        store = Store(db)
        try:
            pairs = all_pairs(store, m)
            if attributing:  # every finding between releases named by its commit, before the reports
                from harness import attribute
                for line in attribute.attribute(store, m, pairs, db, dataclasses.replace(
                        engine.ctx, say=logging.getLogger("harness.attribute").info)):
                    print(f"attribution: {line}")
            if args.report is not None:
                report.write_all(store, m, args.report, record=True, pairs=pairs)  # the night's own run
                print(f"reports: {args.report}")
        finally:
            store.close()
        regressions = [f for p in pairs for f in p.findings if f.change is Change.REGRESSION]
        if regressions:
            print(f"{len(regressions)} verifier regression(s): " +
                  ", ".join(f"{f.object}/{f.program}" for f in regressions[:10]))
        regressed = judge.fails(pairs, args.fail_on)
    print(f"run {summary.run_id}: {ran} cell(s) run, {len(summary.skipped)} already complete, "
          f"{len(bad)} infrastructure failure(s); store: {db}")
    for o in summary.outcomes:
        print(f"  {o.key}: {o.status.value} ({o.programs} programs, {o.seconds:.0f}s) {o.detail}")
    for o in summary.confirmations:
        print(f"  {o.key}: confirmation re-run {o.status.value} ({o.programs} programs, {o.seconds:.0f}s)")
    for o in summary.logs:
        print(f"  {o.key}: logs re-run for the report's log diffs {o.status.value} ({o.programs} programs, "
              f"{o.seconds:.0f}s)" + ("" if o.status.ok else f" {o.detail}"))
    print(f"see: bpf-harness results --db {db}")
    for what, why in left:
        print(f"  {what}: {why}")
    if regressed:
        return ExitCode.REGRESSION  # a regression outranks an infrastructure failure elsewhere
    return ExitCode.INFRA if bad or left else ExitCode.OK


def cmd_report(args: argparse.Namespace) -> int:
    from harness import report, stream
    from harness.kernels import built as build
    store = _open_store(args)
    try:
        m, resolved = stream.recorded_matrix(matrix_mod.load(args.matrix), store)
        m = build.expand(m)
        review = None
        if args.format == "review-reply":
            from harness.report.review import read_cover
            if not args.tester:
                raise ConfigError("review-reply needs --from 'Name <address>' (or $BPF_HARNESS_FROM): who "
                                             "the Tested-by: is from")
            review = {"cover": read_cover(args.cover) if args.cover else None, "in_reply_to": args.in_reply_to,
                      "tester": args.tester}
        pairs = report.write(store, m, args.format, args.output, tuple(args.cell), record=args.record_night,
                             review=review)
        missing = [] if args.fail_on == "never" else judge.incomplete(m, store.latest_cell) + stream.untested(resolved)
    finally:
        store.close()
    print(f"{args.format} report: {args.output}")
    if judge.fails(pairs, args.fail_on):
        return ExitCode.REGRESSION
    if missing:
        print(f"not complete: {', '.join(f'{key}: {status}' for key, status in missing)}", file=sys.stderr)
        return ExitCode.INFRA
    return ExitCode.OK


def _open_store(args: argparse.Namespace):
    from harness.store import Store
    db = _db(args)
    if not db.exists():
        raise ConfigError(f"{db}: no results store here; run 'bpf-harness run' first or pass --db")
    return Store(db)


def cmd_diff(args: argparse.Namespace) -> int:
    import dataclasses
    from harness.diff import Thresholds
    from harness.report import terminal
    from harness.report.model import pair
    store = _open_store(args)
    try:
        base, new = store.find_cell(args.base), store.find_cell(args.new)
        th = Thresholds()
        overrides = {k: v for k, v in (("insns_pct", args.insns_pct), ("insns_abs", args.insns_abs)) if v is not None}
        th = dataclasses.replace(th, **overrides)
        if base.arch != new.arch:
            raise ConfigError(f"cannot diff {args.base} and {args.new}: different arches")
        if base.backend != new.backend:
            raise ConfigError(f"cannot diff {args.base} and {args.new}: a {base.backend.upper()} and a "
                              f"{new.backend.upper()} cell (compare them with `bpf-harness fidelity`)")
        p = pair(store, base.branch or "", "commit", base.to_dict(), new.to_dict(), th)
        terminal.render(p, sys.stdout, args.limit)
        if p.regressions:
            return ExitCode.REGRESSION
        return ExitCode.OK if p.tested == "complete" else ExitCode.INFRA
    finally:
        store.close()


def cmd_merge(args: argparse.Namespace) -> int:
    from harness.nightly.merge import merge
    for r in merge(args.out, list(args.inputs)):
        print(f"{r.source}: {r.cells} cell(s) merged into {args.out}, {r.present} already there")
    return ExitCode.OK


def cmd_logdiff(args: argparse.Namespace) -> int:
    from harness import triage
    programs = [_program(spec, "logdiff") for spec in args.programs]
    db = _db(args)
    _open_store(args).close()  # a results store, or one line naming what is wrong

    def fetch(sides, level):
        from harness import stream
        from harness.engine import Context, Engine, Purpose, Rerun, default_jobs
        from harness.kernels import acquire
        from harness.store import Store
        with Store(db) as store:
            m = acquire.check_supported(stream.recorded_matrix(matrix_mod.load(args.matrix), store)[0])
        engine = Engine(m, db, Context.make(args.cache, default_jobs(m), args.argv))
        return engine.reverify([Rerun(side, frozenset(progs)) for side, progs in sides], Purpose.LOGS,
                               log_level=level, what=f"for their whole logs at level {level}",
                               not_done="no logs fetched")

    diffs = triage.log_diffs(db, args.base, args.new, programs, args.level, None if args.no_fetch else fetch)
    for d in diffs:
        print(f"== {d.key[0]}/{d.key[1]}: {d.diff.a_name} {d.verdicts[0]}, {d.diff.b_name} {d.verdicts[1]} "
              f"(level-{args.level} logs)")
        print(triage.render_text(d.diff, context=args.context))
        print()
    if args.html is not None:
        from harness.report.html import logdiff_page
        args.html.parent.mkdir(parents=True, exist_ok=True)
        args.html.write_text(logdiff_page(diffs))
        print(f"written: {args.html}")
    return ExitCode.OK


def cmd_fidelity(args: argparse.Namespace) -> int:
    from harness import fidelity

    def show(f: fidelity.Fidelity, u: fidelity.measure.Cell, v: fidelity.measure.Cell,
             verifier: fidelity.Fidelity) -> None:
        if args.format == "md":
            sys.stdout.write(fidelity.render_md(f, u, v, 3 if args.limit is None else args.limit, verifier))
        else:
            sys.stdout.write(fidelity.render(f, u, v, 10 if args.limit is None else args.limit))
    if args.records:
        if args.cells or args.record:
            raise ConfigError("fidelity --from renders records: no cells, no --record")
        for path in args.records:
            rec = fidelity.load(path)
            show(rec.fidelity(), rec.uml, rec.vm, rec.verifier())
        return ExitCode.OK
    store = _open_store(args)
    try:
        if args.cells:
            if len(args.cells) != 2:
                raise ConfigError("fidelity takes two cells (UML then VM) or none")
            pairs = [(store.find_cell(args.cells[0]), store.find_cell(args.cells[1]))]
        else:
            pairs = fidelity.pairs(store.latest_cells())
            if not pairs:
                raise ConfigError(f"{store.path}: no UML cell with a VM cell of the same kernel version "
                                  f"and corpus; run a matrix with both (see README, 'Fast lane')")
        if args.record and len(pairs) != 1:
            raise ConfigError(f"{store.path}: {len(pairs)} UML/VM pairs; --record keeps one: name its two cells")
        for u, v in pairs:
            fidelity.check_pair(u, v)
            rec = fidelity.Record.stored(store, u, v, args.what)
            show(rec.fidelity(), u, v, rec.verifier())
            if args.record:
                fidelity.save(rec, args.record)
                logging.getLogger("harness.fidelity").info(f"fidelity: recorded {u.key} vs {v.key} in {args.record}")
    finally:
        store.close()
    return ExitCode.OK


def cmd_bisect(args: argparse.Namespace) -> int:
    import json
    from harness import bisect, cache, stream
    m = stream.latest_matrix(matrix_mod.load(args.matrix), _db(args), args.cache or cache.root())
    programs = [_program(p, "--program") for p in args.program]
    from harness.engine import Context
    target = bisect.Target(args.corpus or (m.branches[0].corpus if m.branches else ""), tuple(programs), args.backend,
                           args.arch)
    a = bisect.bisect_range(m, args.tree, args.good, args.bad, target, db=_db(args),
                            ctx=Context.make(args.cache, argv=args.argv, say=logging.getLogger("harness.bisect").info),
                            paths=tuple(args.path) or None, all_commits=args.all_commits, confirm=not args.no_confirm)
    if args.format == "json":
        d = bisect.to_json(a.outcome, programs, a.reproduce)
        d["backend"], d["vm_confirmation"] = a.backend, a.confirmation or None
        print(json.dumps(d, indent=1))
    else:
        sys.stdout.write(bisect.render_text(a.outcome, programs, args.tree, a.reproduce))
        print(f"backend: {a.backend}" + (f"; {a.confirmation}" if a.confirmation else ""))
    return ExitCode.OK if a.ok else ExitCode.INFRA


def _program(spec: str, what: str) -> tuple[str, str]:
    """``OBJECT/PROGRAM`` (``OBJECT.bpf.o/PROGRAM`` too) -> (object, program)."""
    obj, sep, prog = spec.partition("/")
    if not sep or not obj or not prog or "/" in prog:
        raise UsageError(f"{what} {spec!r}: give a program as OBJECT/PROGRAM (e.g. verifier_and/invalid_range_check)")
    return obj.removesuffix(".bpf.o"), prog


def cmd_maps(args: argparse.Namespace) -> int:
    from harness.backports import maps
    text = f"# {maps.HEADER}\n" + maps.dump(maps.generate(args.tree, args.range))
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return ExitCode.OK


def cmd_backports(args: argparse.Namespace) -> int:
    from harness import backports
    from harness.backports import maps, report
    root = DEFAULT_MATRIX.parent.parent
    maps_paths = args.maps if args.maps is not None else list(maps.default_paths(root))
    for p in maps_paths:
        if not p.is_file():
            raise ConfigError(f"backports --maps {p}: no such file")
    db = _db(args)
    changelog = None
    if args.changelog:
        changelog = Path(args.changelog)
        if not changelog.exists() and all(x.isdigit() for x in args.changelog.split(".")):
            from harness import cache
            from harness.backports import changelog as cl
            from harness.version import KernelVersion
            changelog = cl.debian(KernelVersion.parse(args.changelog), matrix_mod.load(args.matrix),
                                  args.cache or cache.root())
    r = backports.check(branch=args.branch, db=db, maps_paths=maps_paths, mainline=args.mainline, since=args.since,
                        head=args.head, base=args.base, stable=args.stable, stable_rev=args.stable_rev,
                        changelog_path=changelog, queue=args.queue,
                        notes_path=root / "selftest_maps" / "notes.yaml", at=args.at)
    if args.confirm:
        from harness import cache, stream
        from harness.backports import confirm
        from harness.engine import Context
        confirm.candidates(r, lambda: stream.latest_matrix(matrix_mod.load(args.matrix), db, args.cache or cache.root()),
                           branch=args.branch, mainline=args.mainline, at=args.at, corpus=args.corpus,
                           backend=args.backend, db=db,
                           ctx=Context.make(args.cache, argv=args.argv, say=logging.getLogger("harness.backports").info))
    text = {"md": report.markdown, "json": report.dumps, "html": report.page}[args.format](r)
    if args.output:
        args.output.write_text(text)
        print(f"{args.output}: {len(r.missing)} candidate(s) missing from {args.branch}"
              + (f"; not checked: {len(r.gaps)} kind(s) of evidence" if r.gaps else ""))
    else:
        sys.stdout.write(text)
    return ExitCode.REGRESSION if args.fail_on == "missing" and r.missing else ExitCode.OK


def cmd_results(args: argparse.Namespace) -> int:
    from harness.results import render
    store = _open_store(args)
    try:
        classes = ("verifier", "load") if args.all_failures else ("verifier",)
        render(store, sys.stdout, tuple(args.cell), args.limit, classes)
    finally:
        store.close()
    return ExitCode.OK


def _terminate_as_interrupt() -> None:
    """SIGTERM (a CI job's timeout, ``kill``) unwinds like Ctrl-C: every ``finally`` runs, so a running
    ``make`` or guest is killed with us instead of left behind, and the store says what was interrupted."""
    import signal
    import threading

    def handler(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(argv)
    except UsageError as e:
        print(f"bpf-harness: error: {e}", file=sys.stderr)
        return int(e.exit_code)
    except SystemExit as e:  # --help, --version
        return ExitCode.USAGE if e.code else ExitCode.OK
    args.argv = ["bpf-harness", *argv]
    _setup_logging(args.verbose)
    _terminate_as_interrupt()
    try:
        return args.func(args)
    except HarnessError as e:
        print(f"bpf-harness: error: {e}", file=sys.stderr)
        return int(e.exit_code)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.OK
    except KeyboardInterrupt:
        print("bpf-harness: interrupted; results stored so far are kept", file=sys.stderr)
        return ExitCode.INFRA
    except OSError as e:
        if e.errno == 28:
            print(f"bpf-harness: error: disk full ({e.filename or ''}); free space or move --cache/--db", file=sys.stderr)
        else:
            print(f"bpf-harness: error: {e}", file=sys.stderr)
        return ExitCode.INFRA
    except Exception as e:  # a bug: never exit 1, the code for "regressions found"
        import traceback
        traceback.print_exc()
        print(f"bpf-harness: internal error (a bug in bpf-harness, please report it with the traceback above): "
              f"{type(e).__name__}: {e}", file=sys.stderr)
        return ExitCode.INFRA


if __name__ == "__main__":
    sys.exit(main())
