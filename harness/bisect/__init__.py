"""Bisection: the first commit of a git range where named programs' results changed.

The public face: :func:`bisect_range` (``bpf-harness bisect``: the backend chosen, the search, a UML
culprit confirmed in a VM, a reproducer matrix written), :func:`choose_backend`, and the search itself from
:mod:`harness.bisect.search` (:class:`Bisector`, :func:`run`), which automatic attribution
(:mod:`harness.attribute`) drives within its budget.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from harness.arch import PRIMARY
from harness.backends import UML, VM
from harness.bisect.search import (Bisector, Outcome, Rebuilds, Step, Target, changed, count_dependents, header_states,
                                   log_diff, render_text, reproducer_matrix, run, search, store_name, to_json,
                                   uml_warnings)
from harness.errors import ConfigError
from harness.kernels.built import git
from harness.matrix import Matrix

if TYPE_CHECKING:
    from harness.engine import Context

__all__ = ["Answer", "Bisector", "Outcome", "Rebuilds", "Step", "Target", "bisect_range", "changed",
           "choose_backend", "count_dependents", "header_states", "log_diff", "render_text", "reproducer_matrix",
           "run", "search", "store_name", "to_json", "uml_warnings"]

log = logging.getLogger("harness.bisect")


def choose_backend(db: Path, programs: list[tuple[str, str]]) -> str:
    """UML for programs the fast lane judges, else the VM.  What decides, best first:

    - fidelity: a UML cell and a VM cell of one release and corpus in the store (``bpf-harness fidelity``'s pairs,
      the newest first) that both hold every named program: UML when its verifier gave each the VM's answer
      (:func:`harness.fidelity.verifier_agrees`), else the VM, naming the programs it does not judge;
    - without such a pair, a UML cell alone that verified every named program as a VM would
      (:func:`harness.fidelity.uml_only`);
    - else the VM."""
    from harness import fidelity
    from harness.store import Store
    if not db.exists():
        log.info(f"bisect: the VM (no store at {db} to tell what the fast lane judges; --backend uml forces it)")
        return VM.name
    store = Store(db)
    try:
        cells = store.latest_cells()
        for u, v in sorted(fidelity.pairs(cells), key=lambda p: p[0].id, reverse=True):
            ures, vres = store.result_map(u.id), store.result_map(v.id)
            if not all(p in ures and p in vres for p in programs):
                continue
            misjudged = [f"{o}/{p}" for o, p in programs if not fidelity.verifier_agrees(ures[(o, p)], vres[(o, p)])]
            if misjudged:
                log.info(f"bisect: the VM (fidelity of {u.key} vs {v.key}: UML does not give the VM's answer for "
                         f"{', '.join(misjudged)})")
                return VM.name
            log.info(f"bisect: UML (fidelity of {u.key} vs {v.key}: UML's verifier gave the VM's answer for "
                     f"every named program)")
            return UML.name
        for c in cells:
            if c.backend != UML.name:
                continue
            res = store.result_map(c.id)
            if all(p in res and fidelity.uml_only(res[p]) is None for p in programs):
                log.info(f"bisect: UML (the fast lane verified these programs in cell {c.key}; no VM cell of its "
                         f"release to measure its fidelity)")
                return UML.name
    finally:
        store.close()
    log.info("bisect: the VM (no UML cell in the store verified these programs; --backend uml forces the fast lane)")
    return VM.name


@dataclasses.dataclass(frozen=True)
class Answer:
    outcome: Outcome
    backend: str
    confirmation: str
    """For a UML culprit: whether its VM cells change too ("" when not asked or not applicable)."""
    reproduce: str
    """The command that runs the culprit and its parent as a matrix ("" without a culprit)."""

    @property
    def ok(self) -> bool:
        """The search ended with an answer (a culprit, no change, or a change outside the paths)."""
        return self.outcome.verdict in ("found", "unchanged", "outside-paths")


def bisect_range(m: Matrix, tree: Path, good: str, bad: str, target: Target, *, db: Path, ctx: Context,
                 paths: tuple[str, ...] | None = None, all_commits: bool = False, confirm: bool = True) -> Answer:
    """``bpf-harness bisect``: ``target.backend`` is ``auto`` (:func:`choose_backend` over the store at ``db``)
    or a backend's name; ``paths``: what a candidate must touch (default
    :data:`harness.kernels.built.git.BPF_PATHS`); each step's store lies next to ``db``."""
    if target.corpus not in m.corpora:
        raise ConfigError(f"{m.path}: no corpus {target.corpus!r}; corpora: {', '.join(m.corpora)}")
    programs = list(target.programs)
    if target.backend == "auto":
        target = dataclasses.replace(target, backend=choose_backend(db, programs))
    if target.backend == UML.name and not UML.runs(target.arch):
        raise ConfigError(f"--backend uml runs {', '.join(UML.arches())} only")
    tree = git.check_tree(tree, "bisect --tree")
    db_dir = db.parent
    db_dir.mkdir(parents=True, exist_ok=True)
    bis = Bisector(m, tree, target, db_dir / target.store_name(), ctx)
    o = run(tree, good, bad, bis, () if all_commits else (paths or git.BPF_PATHS), all_commits)
    confirmation = ""
    if o.culprit and o.parent and target.backend == UML.name and confirm:
        in_vm = dataclasses.replace(target, backend=VM.name, arch=PRIMARY.name)
        vm_bis = Bisector(m, tree, in_vm, db_dir / in_vm.store_name(), ctx)
        ctx.say(f"bisect: confirming {o.culprit[:12]} against its parent in {PRIMARY.name} VM cells")
        before, after = vm_bis.verify(o.parent), vm_bis.verify(o.culprit)
        ok = before is not None and after is not None and changed(before, after, programs, m.thresholds)
        confirmation = "confirmed in a VM" if ok else "NOT confirmed in a VM: the VM results do not change there"
    reproduce = ""
    if o.culprit:
        repro_yaml = db_dir / f"bisect-{o.culprit[:12]}.yaml"
        spec = m.corpora[target.corpus]
        repro_yaml.write_text(reproducer_matrix(o, tree, target.backend, target.arch, target.corpus, {
            "source": str(spec.source), "include": list(spec.include), "exclude": list(spec.exclude)},
            m.debian.suites))
        reproduce = (f"bpf-harness run -m {repro_yaml} --db {db_dir / 'bisect-repro.db'} "
                     f"--report {db_dir / 'bisect-report'}")
    return Answer(o, target.backend, confirmation, reproduce)
