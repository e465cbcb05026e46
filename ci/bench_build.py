#!/usr/bin/env python3
"""Benchmark source-built kernels and bisection on the real fixture range (tests/data/fixture-6.12.115-range:
the 32 BPF commits of the 6.12.114/115 stable updates over Debian's 6.12.113; ci/fixture_range.py).

Prints, measured in this one run:
  - cold build (``--cold``: a fresh clone of the tree, so a fresh build directory; ccache off unless
    ``--ccache``), per recipe;
  - incremental rebuild: the tree's build directory at the base commit, then the commit that touches
    kernel/bpf/verifier.c ("bpf: Fix exception exit lock checking for subprogs"), per recipe;
  - one bisection step (rebuild + boot + verify the named program) and a whole bisection over the 32
    commits, UML, each into a fresh store; every kernel of the range but GOOD's is removed from the cache
    first, so each step rebuilds (incrementally, in the tree's one build directory, ccache on).

Targets (issue 13): an incremental UML step <= 90 s; a bisection over ~30 BPF commits <= 10 min with UML.

Usage: .venv/bin/python ci/bench_build.py [--recipe uml] [--recipe guest-x86_64] [--recipe vm-x86_64] [--cold] [--ccache]
       [--no-incremental] [--no-bisect] [--jobs N]
(guest-ARCH: the default VM recipe; vm-ARCH: vmtest's config, as BPF CI builds it)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import cache, matrix  # noqa: E402
from harness.arch import PRIMARY, get_arch  # noqa: E402
from harness.backends import UML, VM  # noqa: E402
from harness.engine import Context  # noqa: E402
from harness import bisect  # noqa: E402
from harness.kernels.built import debsrc, git, kbuild, recipe  # noqa: E402
from harness.kernels.apt import Apt  # noqa: E402
from harness.matrix import DebianSettings  # noqa: E402
from harness.version import KernelVersion  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "data" / "fixture-6.12.115-range"
REF = "fixture-range"
PROGRAM = ("exceptions_fail", "reject_subprog_with_rcu_read_lock")
BASE = KernelVersion(6, 12, 113)
"""The range's base (its UML kernels take the 6.12 series of patches)."""


def fixture_tree(root: Path) -> tuple[Path, str, list[str]]:
    """The range's commits in the harness's git import of Debian's 6.12.113 (one commit per patch)."""
    apt = Apt(root, get_arch("x86_64"), DebianSettings(suites=("bookworm-security",)))
    apt.update()
    where, base, _ = debsrc.repo(BASE, apt, root)
    commits, head = [], base
    for name in (FIXTURE / "series").read_text().split():
        head = git.commit_patches(where, head, [FIXTURE / name], "fixture")
        commits.append(head)
    git.git(where, "update-ref", f"refs/heads/{REF}", head)
    return where, base, commits


CORES = os.cpu_count() or 2


def timed_build(tree: Path, commit: str, r: recipe.Recipe, root: Path, jobs: int = CORES) -> tuple[float, bool]:
    """Seconds to build ``commit`` now, forcing a rebuild (its cached kernel is moved away and put back)."""
    final = kbuild.final_dir(root, r, commit, kbuild.compiler_version(r))
    aside = final.with_name(final.name + ".bench-aside")
    had = final.exists()
    if had:
        final.rename(aside)
    try:
        t0 = time.monotonic()
        kbuild.build(tree, commit, r, kid="bench", cache_root=root, jobs=jobs)
        return time.monotonic() - t0, had
    finally:
        if had:
            shutil.rmtree(final, ignore_errors=True)
            aside.rename(final)


def recipe_named(name: str) -> recipe.Recipe:
    if name == "uml":
        return UML.recipe(PRIMARY, BASE)
    kind, _, arch = name.partition("-")
    r = VM.recipe(get_arch(arch), None, "guest" if kind == "guest" else "vmtest")
    if r.name != name:
        raise SystemExit(f"--recipe {name}: one of uml, guest-ARCH, vm-ARCH")
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", action="append", default=None,
                    help="uml, guest-x86_64 (the VM default), vm-x86_64 (vmtest's config) (default: uml)")
    ap.add_argument("--cold", action="store_true", help="also a cold build in a fresh clone (minutes)")
    ap.add_argument("--ccache", action="store_true", help="keep ccache on for the cold build")
    ap.add_argument("--no-bisect", action="store_true")
    ap.add_argument("--no-incremental", action="store_true",
                    help="no incremental rebuild (it first builds the base in the tree's build directory)")
    ap.add_argument("--jobs", type=int, default=CORES, help=f"make -jN for the builds (default: {CORES}, the cores)")
    args = ap.parse_args()
    root = cache.root()
    tree, base, commits = fixture_tree(root)
    verifier_commit = commits[1]
    rows: list[tuple[str, float, str]] = []
    for name in args.recipe or ["uml"]:
        r = recipe_named(name)
        if args.cold:
            with tempfile.TemporaryDirectory(prefix="bench-build-", dir=root) as tmp:
                fresh = Path(tmp) / "linux"
                git.shared_clone(tree, fresh)
                env_path = os.environ["PATH"]
                if not args.ccache:  # ccache off: a cold build is a cold build
                    os.environ["PATH"] = ":".join(p for p in env_path.split(":") if "ccache" not in p)
                    os.environ["CCACHE_DISABLE"] = "1"
                try:
                    s, _ = timed_build(fresh, base, r, root, args.jobs)
                finally:
                    os.environ["PATH"] = env_path
                    os.environ.pop("CCACHE_DISABLE", None)
                shutil.rmtree(kbuild.tree_dir(root, fresh), ignore_errors=True)
            rows.append((f"{r.name}: cold build of 6.12.113 (fresh build directory)", s,
                         ("ccache on" if args.ccache else "ccache disabled") + f", make -j{args.jobs}"))
        if args.no_incremental:
            continue
        kbuild.build(tree, base, r, kid="bench", cache_root=root, jobs=args.jobs)  # dir at the base
        # put the build directory at the base commit, then time the commit that touches verifier.c
        timed_build(tree, base, r, root, args.jobs)
        s, _ = timed_build(tree, verifier_commit, r, root, args.jobs)
        rows.append((f"{r.name}: incremental rebuild, one commit touching kernel/bpf/verifier.c", s, ""))
    if not args.no_bisect:
        m = matrix.parse("debian: {suites: [bookworm-security]}\ncorpora:\n  exc: {source: 6.12.117, "
                         "include: [exceptions_fail]}\nbranches: {b: {corpus: exc, kernels: [6.12.117]}}\n", ROOT / "bench.yaml")
        target = bisect.Target("exc", (PROGRAM,), UML.name, PRIMARY.name)
        ctx = Context.make(root, say=lambda s: None)
        with tempfile.TemporaryDirectory(prefix="bench-bisect-") as tmp:
            b = bisect.Bisector(m, tree, target, Path(tmp) / "s.db", ctx)
            t0 = time.monotonic()
            b.verify(base)
            rows.append(("uml: one bisection step (kernel cached: boot + verify 1 program)", time.monotonic() - t0,
                         "the base kernel"))
            timed_step = commits[1]
            uml = UML.recipe(PRIMARY, BASE)
            timed_build(tree, base, uml, root)  # the build directory one commit behind
            final = kbuild.final_dir(root, uml, timed_step, kbuild.compiler_version(uml))
            shutil.rmtree(final, ignore_errors=True)  # force the rebuild in the step
            b2 = bisect.Bisector(m, tree, target, Path(tmp) / "s2.db", ctx)
            b2.results[base] = b.results[base]
            t0 = time.monotonic()
            b2.verify(timed_step)
            rows.append(("uml: one bisection step (rebuild + boot + verify 1 program)", time.monotonic() - t0,
                         "build directory one commit behind"))
            for c in commits:  # every step rebuilds (incrementally); GOOD's kernel stays cached
                shutil.rmtree(kbuild.final_dir(root, uml, c, kbuild.compiler_version(uml)), ignore_errors=True)
            b3 = bisect.Bisector(m, tree, target, Path(tmp) / "s3.db", ctx)
            t0 = time.monotonic()
            o = bisect.run(tree, base, REF, b3, git.BPF_PATHS, False)
            rows.append((f"uml: whole bisection, {o.candidates} BPF commits, {len(o.steps)} steps -> "
                         f"{o.info.subject if o.info else o.verdict}", time.monotonic() - t0,
                         "each step rebuilt incrementally; GOOD's kernel cached"))
            logs = kbuild.work_dir(root, tree, uml) / "logs"
            for st in o.steps:
                log = logs / f"{st.commit[:16]}.log"
                cc = log.read_text(errors="replace").count("\n  CC ") if log.exists() else 0
                print(f"  step {st.commit[:12]} {st.outcome:<5} {st.seconds:6.1f} s  {cc:4d} files compiled  "
                      f"{st.subject}" + (f"  ({st.note})" if st.note else ""))
    width = max(len(r[0]) for r in rows)
    for what, s, note in rows:
        print(f"{what:<{width}}  {s:7.1f} s" + (f"  ({note})" if note else ""))
    print(json.dumps({what: round(s, 1) for what, s, _ in rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
