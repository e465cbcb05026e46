"""Build one commit of a git tree for one backend, incrementally, into the cache.

Layout under the cache root:

- ``build/<tree>-<hash>/<recipe>/src``: a ``git clone --shared`` of the user's tree (its objects
  borrowed, our checkouts and recipe commits kept out of the user's repository), one per tree and
  recipe, so a UML bisection never waits for a VM kernel of the same tree; locked while a build uses it.
- ``build/<tree>-<hash>/<recipe>/out``: the out-of-tree (``O=``) build directory, so the next commit
  rebuilds only what it changed; ``.../logs/<commit>.log`` keeps every build's log.
- ``kernels/built/<recipe>-<commit>-<recipe key>``: the finished kernel (image, vmlinux, config,
  build.json), keyed by the commit id (patches applied by us are commits too), and the recipe's hash
  (fragments, recipe patches, make variables, compiler version).

The configuration steps run again only when their inputs changed (the tree's Kconfig files and
defconfigs, the fragments): a commit that touches only ``kernel/bpf/verifier.c`` recompiles one
file and relinks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

from harness import cache, proc
from harness.kernels.built import git
from harness.kernels.built.recipe import Recipe, builtin_fragment, dropped
from harness.errors import BuildError, InfraError, UserError
from harness.kernels import Kernel, check_config

log = logging.getLogger(__name__)

CONFIG_INPUTS = re.compile(r"(^|/)(Kconfig[^/]*|[^/]*defconfig|[^/]*\.config|config(\.[a-z0-9_]+)?)$")


class BuildFailed(BuildError):
    """``make`` failed for this commit: an infrastructure error in a run, a skipped step in a bisection."""

    def __init__(self, message: str, log_path: Path):
        super().__init__(message)
        self.log_path = log_path


@dataclasses.dataclass(frozen=True)
class Built:
    kernel: Kernel
    seconds: float
    """Build time, 0 when it came from the cache."""
    log_path: Path


def tree_dir(cache_root: Path, tree: Path) -> Path:
    digest = hashlib.sha256(str(tree.resolve()).encode()).hexdigest()[:10]
    return cache_root / "build" / f"{cache.safe_name(tree.resolve().name)}-{digest}"


def work_dir(cache_root: Path, tree: Path, recipe: Recipe) -> Path:
    """Where ``recipe``'s builds of ``tree`` happen: ``src`` (a shared clone), ``out`` (the ``O=`` directory), ``logs``."""
    return tree_dir(cache_root, tree) / recipe.name


def compiler_version(recipe: Recipe) -> str:
    return proc.version_of([recipe.cc, "--version"])


def final_dir(cache_root: Path, recipe: Recipe, commit: str, compiler: str) -> Path:
    return cache_root / "kernels" / "built" / f"{recipe.name}-{commit[:16]}-{recipe.key(compiler)}"


def build(tree: Path, commit: str, recipe: Recipe, *, kid: str, cache_root: Path, jobs: int,
          progress: Callable[[str], None] | None = None) -> Built:
    """The kernel of ``commit`` (a full id present in ``tree``) built with ``recipe``; cached."""
    progress = progress or (lambda msg: None)
    compiler = compiler_version(recipe)
    final = final_dir(cache_root, recipe, commit, compiler)
    work = work_dir(cache_root, tree, recipe)
    log_path = work / "logs" / f"{commit[:16]}.log"
    t0 = time.monotonic()
    with cache.locked(work.with_name(work.name + ".lock")):
        if not (final / "build.json").exists():
            _build_locked(tree, commit, recipe, work, final, log_path, jobs, progress, compiler)
            seconds = time.monotonic() - t0
        else:
            seconds = 0.0
    return Built(describe(final, kid, recipe, commit, tree), seconds, log_path)


def describe(final: Path, kid: str, recipe: Recipe, commit: str, tree: Path) -> Kernel:
    meta = json.loads((final / "build.json").read_text())
    vml = final / "vmlinux"
    image = vml if recipe.image == recipe.kept else final / Path(recipe.image).name
    return Kernel(id=kid, arch=recipe.arch, release=meta["release"], source=recipe.source,
                  image=image, vmlinux=vml, modules=None, config=final / "config",
                  package=meta.get("subject", ""), package_version=commit, package_sha256=meta["recipe_key"],
                  commit=commit, tree=str(tree))


def _build_locked(tree: Path, commit: str, recipe: Recipe, work: Path, final: Path, log_path: Path, jobs: int,
                  progress: Callable[[str], None], compiler: str) -> None:
    src = work / "src"
    out = work / "out"
    what = f"{recipe.name} {commit[:12]}"
    if not (src / ".git").exists():
        progress(f"{what}: cloning {tree} (--shared)")
        if src.exists():
            shutil.rmtree(src)
        src.parent.mkdir(parents=True, exist_ok=True)
        git.shared_clone(tree, src)
    head = commit
    if recipe.patches:
        try:
            head = git.commit_patches(src, commit, recipe.patches, f"{recipe.name} recipe",
                                      message=f"bpf-harness {recipe.name} recipe patches\n\n"
                                              + "\n".join(p.name for p in recipe.patches) + "\n")
        except UserError as e:
            raise UserError(f"{what}: the {recipe.name} recipe does not fit this commit ({e}); a tree this far "
                            f"from 6.12 needs its own fast-lane patches: use backend: vm") from None
    progress(f"{what}: checking out")
    git.checkout(src, head)
    out.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cc = f"ccache {recipe.cc}" if shutil.which("ccache") else None
    # CCACHE_DEPEND: a miss compiles once, without ccache's own preprocessor pass (kbuild passes -Wp,-MMD, which
    # ccache reads the includes from): a cold build costs what it costs without ccache (net/ipv4: 72 s -> 60 s,
    # no ccache 61 s), and hits (the same sources and headers) are what they were
    env = {"CCACHE_DIR": str(work.parent.parent / "ccache"), "CCACHE_BASEDIR": str(src), "CCACHE_NOHASHDIR": "1",
           "CCACHE_DEPEND": "1",
           "KBUILD_BUILD_TIMESTAMP": "2000-01-01", "KBUILD_BUILD_USER": "bpf-harness",
           "KBUILD_BUILD_HOST": "bpf-harness"}
    t0 = time.monotonic()
    stamp = config_stamp(src, head, recipe, compiler)
    stamp_file = out / ".bpf-harness-config"
    if not (stamp_file.exists() and stamp_file.read_text() == stamp and (out / ".config").exists()):
        progress(f"{what}: configuring")
        _configure(src, out, recipe, work, log_path.with_suffix(".config.log"), env)
        stamp_file.write_text(stamp)
    progress(f"{what}: make {' '.join(recipe.targets)} -j{jobs}" + (" (ccache)" if cc else ""))
    _make(recipe.make(src, out, jobs, *recipe.targets, cc=cc), env, log_path, what, progress, t0)
    release = (out / "include" / "config" / "kernel.release").read_text().strip()
    config_text = (out / ".config").read_text()
    check_config(config_text, what)
    info = git.info(src, commit)
    with cache.building(final) as tmp:
        # UML's runnable ``linux`` is kept as ``vmlinux``: it is both what boots and what carries the BTF
        shutil.copy2(out / recipe.kept, tmp / "vmlinux")
        if recipe.image != recipe.kept:
            shutil.copy2(out / recipe.image, tmp / Path(recipe.image).name)
        shutil.copy2(out / ".config", tmp / "config")
        shutil.copy2(log_path, tmp / "build.log")
        (tmp / "build.json").write_text(json.dumps({
            "commit": commit, "subject": info.subject, "tree": str(tree), "recipe": recipe.name,
            "recipe_key": recipe.key(compiler), "compiler": compiler, "release": release,
            "seconds": round(time.monotonic() - t0, 1), "jobs": jobs, "ccache": bool(cc)}, indent=1))
    progress(f"{what}: built in {time.monotonic() - t0:.0f}s")


def config_stamp(src: Path, head: str, recipe: Recipe, compiler: str) -> str:
    """Hash of what the configuration depends on: the tree's Kconfig and config-fragment blobs, ours."""
    listing = git.git(src, "ls-tree", "-r", head, timeout=300).output
    h = hashlib.sha256(recipe.key(compiler).encode())
    for line in listing.splitlines():
        path = line.split("\t", 1)[-1]
        if CONFIG_INPUTS.search(path):
            h.update(line.encode())
    return h.hexdigest()


def _configure(src: Path, out: Path, recipe: Recipe, work: Path, log_path: Path, env: dict[str, str]) -> None:
    frags = []  # the tree's fragments first, ours last: ours win
    drop = dropped(recipe.drop.read_text()) if recipe.drop else frozenset()
    for rel in recipe.tree_fragments:
        f = src / rel
        if f.is_file():
            copy = work / "fragments" / rel.replace("/", "_")
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_text(builtin_fragment(f.read_text(errors="replace"), drop))
            frags.append(copy)
    frags += recipe.fragments
    start = [recipe.make(src, out, 1, recipe.base)] if recipe.base else []
    if not recipe.base:
        (out / ".config").write_text("")
    steps = [*start,
             [str(src / "scripts" / "kconfig" / "merge_config.sh"), "-m", "-O", str(out), str(out / ".config"),
              *map(str, frags)],
             recipe.make(src, out, 1, "olddefconfig")]
    for argv in steps:
        try:
            proc.run(argv, env=env, timeout=600, log_path=log_path, what=f"{recipe.name}: {argv[-1]}")
        except InfraError as e:
            raise BuildFailed(f"{recipe.name}: configuring failed ({e}); log: {log_path}", log_path) from None
    from harness.kernels.uml import missing_options
    text = (out / ".config").read_text()
    missing = [m for f in recipe.fragments for m in missing_options(text, f.read_text())]
    if missing:  # an option this tree's Kconfig does not define (newer than the series) is not a dependency that is off
        known = kconfig_symbols(k.read_text(errors="replace") for k in src.rglob("Kconfig*") if k.is_file())
        absent = [m for m in missing if m.split("=", 1)[0].removeprefix("CONFIG_") not in known]
        if absent:
            log.info("%s: not in this tree's Kconfig (left out): %s", recipe.name, ", ".join(absent))
        missing = [m for m in missing if m not in absent]
    if missing:
        raise BuildFailed(f"{recipe.name}: config options dropped by olddefconfig (a dependency is off): "
                          f"{', '.join(missing)}; log: {log_path}", log_path)


_KCONFIG_SYMBOL = re.compile(r"^\s*(?:menu)?config\s+([A-Za-z0-9_]+)\s*$", re.M)


def kconfig_symbols(texts: Iterable[str]) -> set[str]:
    """The symbols Kconfig files define (``config X``, ``menuconfig X``) (pure)."""
    return {m for text in texts for m in _KCONFIG_SYMBOL.findall(text)}


def _make(argv: list[str], env: dict[str, str], log_path: Path, what: str, progress: Callable[[str], None],
          t0: float) -> None:
    p, tee = proc.start(argv, env=env, log_path=log_path)
    stop = threading.Event()

    def ticker() -> None:
        while not stop.wait(20):
            text = log_path.read_text(errors="replace") if log_path.exists() else ""
            progress(f"{what}: {text.count(chr(10) + '  CC ')} files compiled, {time.monotonic() - t0:.0f}s")

    t = threading.Thread(target=ticker, daemon=True)
    t.start()
    try:
        rc = p.wait()
    finally:
        stop.set()
        proc.stop(p)
        tee.join(timeout=30)
    if rc != 0:
        tail = [line for line in log_path.read_text(errors="replace").splitlines() if line.strip()][-4:]
        raise BuildFailed(f"{what}: make failed with exit {rc} (log: {log_path}): {' | '.join(tail)}", log_path)
