"""Matrix kernel entries -> built kernels: ranges expanded, revisions resolved, sources imported."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

from harness import backends, proc
from harness.arch import get_arch
from harness.kernels.built import debsrc, git, kbuild
from harness.errors import UserError
from harness.kernels import Kernel
from harness.kernels.apt import Apt
from harness.kernels.built.recipe import Recipe
from harness.matrix import GitKernel, GitRange, KernelSpec, Matrix, SourceKernel
from harness.version import KernelVersion

log = logging.getLogger(__name__)

TOOLS = (("make", "apt-get install make"), ("gcc", "apt-get install gcc"), ("flex", "apt-get install flex"),
         ("bison", "apt-get install bison"), ("bc", "apt-get install bc"),
         ("pahole", "apt-get install dwarves (vmlinux BTF needs pahole)"), ("git", "apt-get install git"))


def expand(matrix: Matrix) -> Matrix:
    """``matrix`` with every commit range replaced by its commits (the range's base first), each a kernel
    named ``<id>-<12-char commit>``; raises :class:`UserError` for a bad tree, revision or an empty range."""
    if not any(isinstance(k.source, GitRange) for k in matrix.kernels()):
        return matrix
    branches = []
    for b in matrix.branches:
        kernels: list[KernelSpec] = []
        for k in b.kernels:
            kernels.extend(expand_range(k) if isinstance(k.source, GitRange) else [k])
        branches.append(dataclasses.replace(b, kernels=tuple(kernels)))
    seen: set[str] = set()
    for k in (k for b in branches for k in b.kernels):
        if k.id in seen:
            raise UserError(f"{k.where}: kernel id {k.id} appears twice after expanding commit ranges")
        seen.add(k.id)
    return dataclasses.replace(matrix, branches=tuple(branches))


def expand_range(spec: KernelSpec) -> list[KernelSpec]:
    src = spec.source
    assert isinstance(src, GitRange)
    tree = git.check_tree(src.tree, f"{spec.where}: kernel {spec.id}")
    base_rev, head_rev = src.range.split("..")
    base = git.resolve(tree, base_rev, f"{spec.where}: kernel {spec.id}")
    head = git.resolve(tree, head_rev, f"{spec.where}: kernel {spec.id}")
    if not git.is_ancestor(tree, base, head):
        raise UserError(f"{spec.where}: kernel {spec.id}: {base_rev} is not an ancestor of {head_rev}; "
                        "a range is BASE..HEAD on one line of history")
    paths = src.paths or git.BPF_PATHS
    commits = git.commits_touching(tree, base, head, paths)
    if not commits:
        total = len(git.commits_touching(tree, base, head))
        raise UserError(f"{spec.where}: kernel {spec.id}: range {src.range} has no commit touching "
                        f"{' '.join(paths)} ({total} commit(s) in all); widen paths: or pick another range")
    out = []
    for c in [base, *commits]:
        info = git.info(tree, c)
        out.append(KernelSpec(f"{spec.id}-{c[:12]}", GitKernel(tree, c, src.backend, info.subject), spec.where))
    log.info("%s: %s expands into %d kernels (%d commits touching %s)", spec.where, src.range, len(out),
             len(commits), " ".join(paths))
    return out


def check(matrix: Matrix) -> Matrix:
    """Refuse what a build would refuse later (missing tools, bad trees and revisions); returns the matrix
    expanded."""
    built = [k for k in matrix.kernels() if k.source.built]
    if not built:
        return matrix
    for tool, hint in TOOLS:
        proc.require(tool, hint)
    arches = {a for b in matrix.branches for a in b.arches
              if any(k.source.built for k in b.kernels)}
    for name in sorted(arches):
        for tool, hint in get_arch(name).cross_packages:
            proc.require(tool, hint)
    expanded = expand(matrix)
    for k in expanded.kernels():
        if isinstance(k.source, GitKernel):
            tree = git.check_tree(k.source.tree, f"{k.where}: kernel {k.id}")
            git.resolve(tree, k.source.commit, f"{k.where}: kernel {k.id}")
        if isinstance(k.source, SourceKernel):
            for p in k.source.patches:
                if not p.is_file():
                    raise UserError(f"{k.where}: kernel {k.id}: patch {p} does not exist")
    return expanded


def source_commit(spec: KernelSpec, apt: Apt, cache_root: Path) -> tuple[Path, str]:
    """A ``{source: V, patches: [...]}`` kernel's git import of the Debian source and its commit with the
    patches applied (the same commit on every call: fixed identities and dates); raises
    :class:`harness.kernels.built.git.PatchDoesNotApply` naming the first patch that does not apply.  Cheap next to
    a build: a run asks it of every patched kernel before it builds any (:func:`check_patches`)."""
    src = spec.source
    assert isinstance(src, SourceKernel)
    tree, base, _ = debsrc.repo(src.version, apt, cache_root)
    commit = git.commit_patches(tree, base, src.patches, f"{spec.where}: kernel {spec.id}") if src.patches else base
    return tree, commit


def check_patches(specs: list[KernelSpec], apt: Apt, cache_root: Path) -> None:
    """Apply the patches of these ``{source, patches}`` kernels (each once) before anything is built: a patch
    that does not apply is the run's answer in seconds, not after the other kernels' builds (a backport
    confirmation built the unpatched kernel for minutes first)."""
    for spec in {s.id: s for s in specs}.values():
        source_commit(spec, apt, cache_root)


def recipe_of(spec: KernelSpec, arch: str, version: KernelVersion | None) -> Recipe:
    """The recipe a built kernel ``spec`` of ``version`` is built with on ``arch``: its backend's, with the VM config
    a source kernel names."""
    src = spec.source
    if isinstance(src, SourceKernel) and spec.backend == backends.VM.name:
        return backends.VM.recipe(get_arch(arch), version, src.config)
    return backends.named(spec.backend).recipe(get_arch(arch), version)


def fetch(spec: KernelSpec, arch: str, cache_root: Path, apt: Apt | None) -> Kernel:
    """The built kernel of ``spec`` for ``arch`` (and the spec's backend), from the cache or built now."""
    src = spec.source
    where = f"{spec.where}: kernel {spec.id}"
    if isinstance(src, GitKernel):
        tree = git.check_tree(src.tree, where)
        commit = git.resolve(tree, src.commit, where)
        version = git.kernel_version(tree, commit)
    elif isinstance(src, SourceKernel):
        assert apt is not None
        tree, commit = source_commit(spec, apt, cache_root)
        version = src.version
    else:
        raise AssertionError(f"not a built kernel: {spec}")
    r = recipe_of(spec, arch, version)
    jobs = os.cpu_count() or 2
    built = kbuild.build(tree, commit, r, kid=spec.id, cache_root=cache_root, jobs=jobs,
                         progress=logging.getLogger("harness.kernels.built").info)
    return built.kernel
