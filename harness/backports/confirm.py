"""``--confirm``: build the branch's kernel with a candidate fix applied and verify before/after.

Before: the branch's newest Debian release as a ``{source: X.Y.Z}`` kernel; after: the same source with
the fix as a patch (``git format-patch`` of the mainline commit).  Both are built by :mod:`harness.kernels.built`
for the backend asked (UML first where the fast lane covers the test) and verify the whole corpus holding
the paired tests.  Verdicts:

- ``confirmed``: every paired test behaves as it expects after, not before, and nothing else regresses;
- ``no-effect``: it applies and the paired tests' results do not move;
- ``regresses``: the paired tests move, but other programs regress;
- ``does-not-apply``: the pick fails (git's complaint names the file);
- ``not-covered``: on UML, no paired test is one the fast lane can judge (confirm with ``--backend vm``);
- ``build-failed`` (the build log named) / ``not-run`` (a cell did not complete): no verdict.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from harness import diff as diff_mod
from harness.kernels.built import git
from harness.kernels.built.kbuild import BuildFailed
from harness.matrix import KernelSpec, Matrix, SourceKernel
from harness.version import KernelVersion
from harness.arch import PRIMARY
from harness.backends import UML

if TYPE_CHECKING:
    from harness.engine import Context

Program = tuple[str, str]


@dataclasses.dataclass(frozen=True)
class Confirmation:
    verdict: str
    detail: str
    before: dict = dataclasses.field(default_factory=dict)
    """object/program -> verdict (outcome) on the unpatched kernel, for the paired tests."""
    after: dict = dataclasses.field(default_factory=dict)
    regressions: tuple[str, ...] = ()
    reproduce: str = ""


def format_patch(tree: Path, commit: str, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{commit[:12]}.patch"
    if not path.exists():
        text = git.git(tree, "format-patch", "-1", "--stdout", "--no-signature", commit).output
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return path


def judge(tests: list[Program], before: dict, after: dict, th, uml: bool = False) -> Confirmation:
    """The verdict from the two cells' result maps (pure).  On UML, a paired test whose result on either side
    is one a VM with a JIT would not give (``fidelity.uml_only``) is not judged: it is named, and when no
    paired test is left the verdict is ``not-covered`` (confirm it with ``--backend vm``)."""
    from harness import fidelity
    moved, missing, gap = [], [], []
    b_show, a_show = {}, {}
    for t in tests:
        b, a = before.get(t), after.get(t)
        name = f"{t[0]}/{t[1]}"
        if b is None or a is None:
            missing.append(name)
            continue
        b_show[name], a_show[name] = f"{b['verdict']} ({b['outcome']})", f"{a['verdict']} ({a['outcome']})"
        if uml and (fidelity.uml_only(b) or fidelity.uml_only(a)):
            cause = fidelity.uml_only(b) or fidelity.uml_only(a)
            gap.append(f"{name} ({cause.value if hasattr(cause, 'value') else cause})")
            continue
        if b["outcome"] != "as-expected" and a["outcome"] == "as-expected":
            moved.append(name)
    if missing:
        return Confirmation("not-run", f"no result for {', '.join(missing)} on both kernels", b_show, a_show)
    judged = len(tests) - len(gap)
    gap_note = (f"; not judged on UML: {', '.join(gap)} (the fast lane does not cover it: --backend vm)"
                if gap else "")
    if not judged:
        return Confirmation("not-covered", "UML cannot judge any paired test" + gap_note, b_show, a_show)
    findings, _ = diff_mod.diff(before, after, th, uncovered=fidelity.uncovered if uml else None,
                                answer=fidelity.verifier_answer if uml else None)
    regs = tuple(f"{f.object}/{f.program}" for f in findings if f.change is diff_mod.Change.REGRESSION
                 and (f.object, f.program) not in tests)
    if not moved:
        return Confirmation("no-effect", "the fix applies and builds; the paired tests do not change" + gap_note,
                            b_show, a_show, regs)
    if len(moved) < judged:
        return Confirmation("no-effect", f"only {', '.join(moved)} now behave as expected" + gap_note, b_show,
                            a_show, regs)
    if regs:
        return Confirmation("regresses", f"the paired tests now pass, but {len(regs)} other program(s) regress"
                            + gap_note, b_show, a_show, regs)
    return Confirmation("confirmed", "the paired tests behave as they expect only with the fix; no other program "
                        "regresses" + gap_note, b_show, a_show)


def confirm(matrix: Matrix, version: KernelVersion, patch: Path, tests: list[Program], corpus: str, backend: str,
            db: Path, ctx: "Context") -> Confirmation:
    from harness.engine import Engine
    short = patch.stem
    before = KernelSpec(f"{version}-base", SourceKernel(version, (), backend), "backports --confirm")
    after = KernelSpec(f"{version}+{short}", SourceKernel(version, (patch,), backend), "backports --confirm")
    ctx.say(f"backports: confirming {short} on {version} ({backend}): {', '.join(f'{o}/{p}' for o, p in tests)}")
    try:
        engine = Engine(matrix, db, ctx.doing("backports", "--confirm", short))
        vb, va = engine.verify([before, after], corpus, PRIMARY.name, name=f"confirm-{short}")
    except git.PatchDoesNotApply as e:
        return Confirmation("does-not-apply", str(e))
    except BuildFailed as e:
        return Confirmation("build-failed", str(e))
    reproduce = (f"bpf-harness run -m <matrix with kernels {{source: {version}}} and {{source: {version}, "
                 f"patches: [{patch}]}}, backend {backend}>")
    bad = [f"{v.kernel_id}/{v.arch}: {v.status}" for v in (vb, va) if v.status != "complete"]
    if bad:
        return Confirmation("not-run", "cells did not complete: " + "; ".join(bad), reproduce=reproduce)
    return dataclasses.replace(judge(tests, vb.results, va.results, matrix.thresholds, uml=backend == UML.name),
                               reproduce=reproduce)


def candidates(report, load: Callable[[], Matrix], *, branch: str, mainline: Path | None, at: str | None,
               corpus: str | None, backend: str, db: Path, ctx: "Context") -> None:
    """``backports --confirm``: each candidate with paired tests built into the branch's newest release (or
    ``at``) and verified before/after; the candidates re-ranked by what that showed.  ``load`` gives the matrix
    whose corpora and Debian kernels it builds from (read once the arguments are known to be whole)."""
    from harness.backports import evidence
    from harness.errors import ConfigError
    from harness.matrix import DebianKernel
    if mainline is None:
        raise ConfigError("backports --confirm needs --mainline (the fix is picked from it)")
    m = load()
    series = evidence.series_of(branch)
    versions = [k.source.version for k in m.kernels() if isinstance(k.source, DebianKernel)
                and (k.source.version.major, k.source.version.minor) == series]
    cells = report.cells
    if at:
        versions = [KernelVersion.parse(at)]
    elif cells and (cells.newer or cells.own):
        versions = [(cells.newer or cells.own).version]
    if not versions:
        raise ConfigError(f"{m.path}: no Debian kernel of {branch} to apply fixes to (--at X.Y.Z)")
    corpus = corpus or (cells.newer.corpus if cells and cells.newer else None) or m.branches[0].corpus
    if corpus not in m.corpora:
        raise ConfigError(f"{m.path}: no corpus {corpus!r} for --confirm; corpora: {', '.join(m.corpora)}")
    patches = ctx.cache_root / "backports" / "patches"
    for c in report.candidates:
        if not c.id or not c.tests:
            continue
        tests = [tuple(t.split("/", 1)) for t in c.tests]
        patch = format_patch(mainline, c.id, patches)
        c.confirmation = confirm(m, max(versions), patch, tests, corpus, backend, db.parent / f"backports-{branch}.db",
                                 ctx)
    report.candidates.sort(key=lambda c: c.rank)
