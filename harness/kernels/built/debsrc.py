"""A Debian ``linux-source`` release as a git repository: the base of ``{source: V, patches: [...]}``
kernels, and of fixture trees built from real stable patches.

The tarball is unpacked once per package version and committed with a fixed identity and date, so
the base commit id is the same on every machine (it names the source, not the import).  The
repository is bare (the unpacked files are dropped after the import); builds check it out in their
own ``--shared`` clone.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from harness import cache, proc
from harness.kernels.built import git
from harness.kernels import debian
from harness.kernels.apt import Apt, Package
from harness.version import KernelVersion

log = logging.getLogger(__name__)


def repo(version: KernelVersion, apt: Apt, cache_root: Path) -> tuple[Path, str, Package]:
    """(bare repository, base commit id, source package) of ``version``'s Debian source."""
    pkg, tarball = debian.fetch_source(version, apt, cache_root)
    final = cache_root / "trees" / cache.safe_name(f"{pkg.name}_{pkg.version}.git")
    label = f"{pkg.name} {pkg.version}"
    with cache.locked(final.with_name(final.name + ".lock")):
        if not (final / "HEAD").exists():
            log.info("importing %s into git (once per release)", label)
            with cache.building(final) as tmp:
                src = tmp / "src"
                src.mkdir()
                proc.run(["tar", "-xf", tarball, "-C", src, "--strip-components=1"], timeout=1800,
                         what=f"tar -x {tarball.name}")
                git.import_tree(src, f"{label}\n\nThe Debian linux-source package {pkg.name}={pkg.version}, "
                                     f"imported by bpf-harness.\n")
                for item in (src / ".git").iterdir():
                    shutil.move(str(item), tmp / item.name)
                shutil.rmtree(src)
                git.git(tmp, "config", "core.bare", "true")
    return final, git.resolve(final, "main", label), pkg
