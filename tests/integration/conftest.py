from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "data" / "fixture-6.12.113-bpf"
sys.path.insert(0, str(ROOT / "tests"))

EXC = """\
debian:
  suites: [bookworm-security]
corpora:
  exc:
    source: 6.12.117
    include: [exceptions_fail]
"""
"""The 6.12.117 selftests' exceptions_fail (reject_subprog_with_rcu_read_lock: the fixture's fix changes it), as a
matrix's first lines: the modules that build, bisect and attribute share it (and its one corpus build)."""

KERNEL = "6.12.117"
MATRIX = f"""\
# Integration: one real Debian kernel, a handful of light selftest objects plus one that
# hits the 1M-instruction limit, to exercise a real per-program timeout; verifier_spill_fill and
# verifier_map_ret_val carry __msg checks at log levels 0 and 2, with and without flags veristat has.
debian:
  suites: [bookworm-security]
corpora:
  light:
    source: {KERNEL}
    include: [verifier_and, verifier_kfunc_prog_types, verifier_ref_tracking, verifier_spill_fill,
              verifier_map_ret_val, verifier_loops1]
branches:
  6.12.y:
    corpus: light
    kernels: [{KERNEL}]
vm:
  cpus: 2
  memory: 2G
  program_timeout: 10
  boot_timeout: 180
  cell_timeout: 900
  failure_tails: all   # this test checks the log tail of a rejection its selftest expects
"""


@pytest.fixture(scope="module", autouse=True)
def one_vm_at_a_time():
    """One VM at a time (2 cores): ci/test.sh runs with --dist loadfile, so each VM module stays on one
    xdist worker while unit tests use the other; this lock holds in any scheduling mode."""
    from harness import cache
    with cache.locked(Path(tempfile.gettempdir()) / "bpf-harness-vm-tests.lock"):
        yield


@pytest.fixture(scope="session")
def tools():
    missing = [t for t in ("qemu-system-x86_64", "apt-get", "depmod", "stdbuf") if not shutil.which(t)]
    vng = Path(sys.executable).parent / "vng"
    if not vng.exists() and not shutil.which("vng"):
        missing.append("vng")
    if missing:
        pytest.fail(f"integration tests need {', '.join(missing)}: run ci/setup.sh")
    return vng if vng.exists() else Path(shutil.which("vng"))


@pytest.fixture(scope="module")
def tree() -> Path:
    """The fixture tree: the harness's own git import of Debian's 6.12.113 source, with the fixture's commits on a
    branch ``fixture`` (the same commits on every machine: fixed identity and dates).  A ``{source: 6.12.113}``
    kernel is built from that repository too, so every build of this module shares one incremental build
    directory, kept in the cache across runs."""
    from harness import cache
    from harness.arch import get_arch
    from harness.kernels.built import debsrc, git
    from harness.kernels.apt import Apt
    from harness.matrix import DebianSettings
    from harness.version import KernelVersion
    root = cache.root()
    apt = Apt(root, get_arch("x86_64"), DebianSettings(suites=("bookworm-security",)))
    apt.update()
    t, base, _ = debsrc.repo(KernelVersion(6, 12, 113), apt, root)
    with cache.locked(t.with_name(t.name + ".lock")):
        head = base
        for name in (FIXTURE / "series").read_text().split():
            head = git.commit_patches(t, head, [FIXTURE / name], "fixture")
        git.git(t, "update-ref", "refs/heads/fixture", head)
        git.git(t, "tag", "-f", "v6.12.113", base)
    return t
