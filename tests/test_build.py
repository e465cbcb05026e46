"""harness.kernels.built: git plumbing, range expansion, recipes and the bisection search, on small real git repos."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from conftest import DATA
from harness import matrix
from harness.arch import ARM64, X86_64
from harness.backends import UML, VM
from harness.engine import Context
from harness import bisect
from harness.kernels.built import expand, git, recipe
from harness.kernels.built.kbuild import CONFIG_INPUTS
from harness.errors import UserError
from harness.report.model import commit_of

FIXTURE = DATA / "fixture-6.12.113-bpf"


QUEUE = FIXTURE / "0003-bpf-Zero-queue-and-stack-outputs-on-lock-failure.patch"


def preimage(patch: Path) -> str:
    """The lines a patch's hunks expect (context and removed lines), each hunk apart: a file it applies to."""
    out, inside = [], False
    for line in patch.read_text().splitlines():
        if line.startswith("@@"):
            inside = True
            out.append("/* between hunks */")
        elif inside and line[:1] in (" ", "-"):
            out.append(line[1:])
        elif inside and not line.startswith("+"):
            inside = False
    return "\n".join(out) + "\n"


def sh(repo: Path, *argv: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "PATH": "/usr/bin:/bin", "HOME": str(repo)}
    return subprocess.run(["git", "-C", str(repo), *argv], check=True, capture_output=True, text=True, env=env).stdout


def commit(repo: Path, path: str, text: str, subject: str) -> str:
    f = repo / path
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(text)
    sh(repo, "add", path)
    sh(repo, "commit", "-q", "-m", subject)
    return sh(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def tree(tmp_path) -> tuple[Path, list[str]]:
    """base, a BPF commit, a driver commit, a second BPF commit (kernel/bpf/verifier.c is from 6.12.113's shape)."""
    repo = tmp_path / "linux"
    repo.mkdir()
    sh(repo, "init", "-q", "-b", "main")
    ids = [commit(repo, "kernel/bpf/queue_stack_maps.c", preimage(QUEUE), "base"),
           commit(repo, "include/linux/bpf_verifier.h", "/* v2 */\n", "bpf: touch a verifier header"),
           commit(repo, "drivers/net/x.c", "x\n", "net: x: a driver change"),
           commit(repo, "kernel/bpf/syscall.c", "s\n", "bpf: syscall change\n\nFixes: 0123456789ab (\"bpf: x\")")]
    sh(repo, "tag", "v1", ids[0])
    return repo, ids


def test_check_tree_and_resolve(tree, tmp_path):
    repo, ids = tree
    assert git.check_tree(repo, "t") == repo.resolve()
    assert git.resolve(repo, "v1", "t") == ids[0]
    assert git.resolve(repo, "HEAD~1", "t") == ids[2]
    (tmp_path / "plain").mkdir()
    with pytest.raises(UserError, match=r"plain is not a git repository"):
        git.check_tree(tmp_path / "plain", "m.yaml:3")
    with pytest.raises(UserError, match=r"git tree .*nowhere does not exist"):
        git.check_tree(tmp_path / "nowhere", "m.yaml:3")
    with pytest.raises(UserError, match=r"m.yaml:3: unknown revision 'v9.9' in "):
        git.resolve(repo, "v9.9", "m.yaml:3")
    with pytest.raises(UserError, match="must not start with '-'"):
        git.resolve(repo, "--all", "m.yaml:3")


def test_commits_touching_the_bpf_paths(tree):
    repo, ids = tree
    assert git.commits_touching(repo, ids[0], ids[3], git.BPF_PATHS) == [ids[1], ids[3]]
    assert git.commits_touching(repo, ids[0], ids[3]) == ids[1:]
    assert git.commits_touching(repo, ids[1], ids[2], git.BPF_PATHS) == []
    info = git.info(repo, ids[3])
    assert info.subject == "bpf: syscall change" and info.trailers == ('Fixes: 0123456789ab ("bpf: x")',)


def _matrix(repo: Path, rng: str, extra: str = "") -> matrix.Matrix:
    return matrix.parse(f"corpora: {{c: {{source: 6.12.117}}}}\nbranches:\n  b:\n    corpus: c\n    arches: [x86_64]\n"
                        f"    kernels:\n      - {{id: r, git: {{tree: {repo}, range: {rng}{extra}}}, backend: uml}}\n",
                        repo.parent / "m.yaml")


def test_a_range_expands_into_its_base_and_each_bpf_commit(tree):
    repo, ids = tree
    m = expand(_matrix(repo, "v1..main"))
    ks = m.branches[0].kernels
    assert [k.id for k in ks] == [f"r-{c[:12]}" for c in (ids[0], ids[1], ids[3])]
    assert [k.source.subject for k in ks] == ["base", "bpf: touch a verifier header", "bpf: syscall change"]
    assert all(k.backend == "uml" for k in ks)
    assert [k.id for k in expand(_matrix(repo, "v1..main", ", paths: [drivers/]")).kernels()] == \
        [f"r-{ids[0][:12]}", f"r-{ids[2][:12]}"]


@pytest.mark.parametrize("rng, message", [
    ("HEAD~2..HEAD~1", r"has no commit touching kernel/bpf/ .* \(1 commit\(s\) in all\); widen paths"),
    ("main..v1", "is not an ancestor of v1"),
    ("v1..nope", "unknown revision 'nope'"),
])
def test_bad_ranges_are_one_line_user_errors(tree, rng, message):
    repo, _ = tree
    with pytest.raises(UserError, match=message):
        expand(_matrix(repo, rng))


def test_patches_become_commits_with_their_own_messages(tmp_path):
    repo = tmp_path / "src"
    repo.mkdir()
    sh(repo, "init", "-q", "-b", "main")
    base = commit(repo, "kernel/bpf/queue_stack_maps.c", preimage(QUEUE), "base")
    mail = QUEUE
    head = git.commit_patches(repo, base, [mail], "t")
    info = git.info(repo, head)
    assert info.subject == "bpf: Zero queue and stack outputs on lock failure"
    assert "CVE-2026-92520" in " ".join(info.trailers)
    assert "memset(value, 0, qs->map.value_size);" in sh(repo, "show", f"{head}:kernel/bpf/queue_stack_maps.c")
    assert sh(repo, "status", "--porcelain") == ""  # the work tree and index were not touched
    # the same input gives the same commit on any machine
    assert git.commit_patches(repo, base, [mail], "t") == head
    # a plain diff is a commit named after its file
    plain = tmp_path / "extra.diff"
    plain.write_text("diff --git a/kernel/bpf/new.c b/kernel/bpf/new.c\nnew file mode 100644\n--- /dev/null\n"
                     "+++ b/kernel/bpf/new.c\n@@ -0,0 +1 @@\n+int x;\n")
    assert git.info(repo, git.commit_patches(repo, head, [plain], "t")).subject == "extra.diff"
    # applying it twice fails, naming the patch and the file
    with pytest.raises(UserError, match=r"m.yaml:4: patch .*0003-bpf-Zero.*\.patch does not apply on "
                                        r"[0-9a-f]{12}: patch failed: kernel/bpf/queue_stack_maps.c:"):
        git.commit_patches(repo, head, [mail], "m.yaml:4")
    with pytest.raises(UserError, match="patch .*missing.patch does not exist"):
        git.commit_patches(repo, head, [tmp_path / "missing.patch"], "m.yaml:4")


def test_fixture_series_is_real_mail_with_upstream_lines():
    names = (FIXTURE / "series").read_text().split()
    assert len(names) == 4
    culprit = (FIXTURE / names[1]).read_text()
    assert git.is_mail(culprit) and "[ Upstream commit 6c2128505f61b504c79a20b89596feba61388112 ]" in culprit
    assert "bpf_throw cannot be used inside bpf_rcu_read_lock-ed region" in culprit


def test_a_recipe_key_changes_with_everything_that_decides_the_binary(tmp_path):
    """The key names a built kernel in the cache: a fragment, patch, make variable or compiler that changed
    must give another key (else an old kernel is booted for a new recipe), and nothing else may."""
    import dataclasses
    uml = UML.recipe(X86_64)
    base = uml.key("gcc 12")
    assert UML.recipe(X86_64).key("gcc 12") == base  # a fresh record of the same recipe: same key
    assert uml.key("gcc 13") != base
    frag = tmp_path / uml.fragments[0].name
    frag.write_bytes(uml.fragments[0].read_bytes())
    same = dataclasses.replace(uml, fragments=(frag, *uml.fragments[1:]))
    assert same.key("gcc 12") == base  # by content, not by path
    frag.write_bytes(uml.fragments[0].read_bytes() + b"CONFIG_BPF_LSM=y\n")
    assert same.key("gcc 12") != base
    patch = tmp_path / uml.patches[-1].name
    patch.write_bytes(uml.patches[-1].read_bytes() + b"\n")
    assert dataclasses.replace(uml, patches=(*uml.patches[:-1], patch)).key("gcc 12") != base
    assert dataclasses.replace(uml, patches=uml.patches[:-1]).key("gcc 12") != base
    assert dataclasses.replace(uml, make_vars=(*uml.make_vars, "W=1")).key("gcc 12") != base
    assert dataclasses.replace(uml, targets=("linux", "modules")).key("gcc 12") != base


def test_recipes():
    uml = UML.recipe(X86_64)
    assert uml.targets == ("linux",) and uml.patches
    assert uml.make_vars == ("ARCH=um", "LOCALVERSION=", "KCFLAGS=-fno-var-tracking")
    x86 = VM.recipe(X86_64)
    assert x86.tree_fragments == ("tools/testing/selftests/bpf/config", "tools/testing/selftests/bpf/config.vm",
                                  "tools/testing/selftests/bpf/config.x86_64")
    assert x86.image == "vmlinux" and x86.base == "" and uml.base == "defconfig"
    arm = VM.recipe(ARM64)
    assert "CROSS_COMPILE=aarch64-linux-gnu-" in arm.make_vars and arm.image == "arch/arm64/boot/Image"
    assert x86.make(Path("/s"), Path("/o"), 2, "vmlinux", cc="ccache gcc") == \
        ["make", "-C", "/s", "O=/o", "ARCH=x86_64", "LOCALVERSION=", "KCFLAGS=-fno-var-tracking", "-j2", "CC=ccache gcc",
         "vmlinux"]
    vmtest = VM.recipe(X86_64, None, "vmtest")  # BPF CI's build, flags and all
    assert not any(v.startswith("KCFLAGS") for v in vmtest.make_vars)
    assert recipe.builtin_fragment("CONFIG_A=m\n# CONFIG_B is not set\nCONFIG_C=y\n") == \
        "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=y\n"
    with pytest.raises(UserError, match="uml kernels are x86_64 only"):
        UML.recipe(ARM64)


def test_the_guest_recipe_leaves_out_what_no_guest_uses_and_keeps_every_bpf_option():
    """The default VM recipe is vmtest's minus a drop list applied to the tree's fragments; the list names no
    option of the selftests' own BPF config (tools/testing/selftests/bpf/config of 6.12.113, recorded), so a program
    type, helper, kfunc or map type is never left out; the guest fragment turns off one of them, module symbol
    versions, which only loading a module uses."""
    guest, vmtest = VM.recipe(X86_64), VM.recipe(X86_64, None, "vmtest")
    assert guest.drop == recipe.GUEST_DROP and vmtest.drop is None
    assert guest.fragments[-1] == recipe.GUEST and recipe.GUEST not in vmtest.fragments
    assert guest.tree_fragments == vmtest.tree_fragments
    drop = recipe.dropped(recipe.GUEST_DROP.read_text())
    assert {"PROVE_LOCKING", "EXT4_FS", "FB", "NLS_DEFAULT"} <= drop
    bpf_config = (DATA / "selftests-bpf-config-6.12.113").read_text()
    bpf_options = {line.split("=")[0].removeprefix("CONFIG_") for line in bpf_config.splitlines()
                   if line.startswith("CONFIG_")}
    assert not drop & bpf_options
    # our last fragment overrides one of them: symbol versions, for loading modules, which the guest never does
    turned_off = {line.removeprefix("# CONFIG_").removesuffix(" is not set")
                  for line in recipe.GUEST.read_text().splitlines() if line.endswith(" is not set")}
    assert turned_off & bpf_options == {"MODVERSIONS"}
    # nor is a config option a selftest program reads (__kconfig): lsm_cgroup/socket_alloc takes another path
    # without SECURITY_SELINUX, get_func_ip_test another offset without X86_KERNEL_IBT
    externs = [line for line in (DATA / "selftests-bpf-kconfig-6.12.113.txt").read_text().splitlines()
               if not line.startswith("#")]
    read = {m for line in externs for m in re.findall(r"\bCONFIG_([A-Z0-9_]+) ?(?:\[\d+\])? __kconfig", line)}
    assert {"SECURITY_SELINUX", "X86_KERNEL_IBT", "HZ"} <= read and not (drop | turned_off) & read
    text = "CONFIG_FB=y\n# CONFIG_PROVE_LOCKING is not set\nCONFIG_NLS_DEFAULT=\"utf8\"\nCONFIG_TEST_BPF=m\n" \
           "CONFIG_BPF_LSM=y\n"
    assert recipe.builtin_fragment(text, drop) == "CONFIG_TEST_BPF=y\nCONFIG_BPF_LSM=y\n"
    assert recipe.builtin_fragment(text) == text.replace("=m", "=y")
    assert guest.key("gcc 12") != vmtest.key("gcc 12")


@pytest.mark.parametrize("path, hit", [("kernel/bpf/Kconfig", True), ("arch/x86/configs/x86_64_defconfig", True),
                                       ("kernel/configs/kvm_guest.config", True), ("tools/testing/selftests/bpf/config", True),
                                       ("tools/testing/selftests/bpf/config.x86_64", True), ("kernel/bpf/verifier.c", False),
                                       ("include/linux/kconfig.h", False)])
def test_config_inputs(path, hit):
    assert bool(CONFIG_INPUTS.search(path)) is hit


@pytest.mark.parametrize("first_bad, skip, want, tested_at_most", [
    (0, set(), (0, []), 3), (4, set(), (4, []), 3), (7, set(), (7, []), 3),
    (3, {5}, (3, []), 4),           # a skipped commit away from the change costs one more step
    (3, {2}, (None, [2, 3]), 4),    # c2 does not build: the first bad is c2 or c3, as git bisect says
    (3, {3}, (None, [3, 4]), 5),
])
def test_search_finds_the_first_bad_commit(first_bad, skip, want, tested_at_most):
    cands = [f"c{i}" for i in range(8)]
    tested = []

    def test(c: str) -> str:
        tested.append(c)
        i = int(c[1:])
        return "skip" if i in skip else ("bad" if i >= first_bad else "good")

    assert bisect.search(cands, test) == want
    assert len(tested) <= tested_at_most and len(set(tested)) == len(tested)


# The header states of the 32-commit range (tests/data/fixture-6.12.115-range): include/linux/bpf.h changes
# at commits 6, 13 and 17 (index 5, 12, 16), bpf_verifier.h at 25 (index 24), as bisect.header_states says on
# that range; ci/bench_build.py: a new state recompiled 522 UML objects in 541-587 s, a state ccache had seen
# in 28-35 s, a commit one .c file away from the build directory in 24-34 s (build, boot and verify).
RANGE_STATES = [0] * 5 + [1] * 7 + [2] * 4 + [3] * 8 + [4] * 8


@pytest.mark.parametrize("first_bad, new_states", [(1, 1), (3, 1), (12, 2), (20, 2), (31, 1)])
def test_search_prefers_commits_whose_headers_were_built(first_bad, new_states):
    cands = [f"c{i}" for i in range(32)]
    built = {RANGE_STATES[0], RANGE_STATES[-1]}  # GOOD (before c0: the same headers as c0..c4) and BAD
    tested: list[int] = []

    def test(c: str) -> str:
        i = int(c[1:])
        tested.append(i)
        built.add(RANGE_STATES[i])
        return "bad" if i >= first_bad else "good"

    before = set(built)
    assert bisect.search(cands, test, lambda i: RANGE_STATES[i] in built) == (first_bad, [])
    assert len(built - before) <= new_states  # header states built for the first time
    assert len(tested) <= 7
    # the plain search builds more new states where the change is near GOOD (the real culprit is c1)
    plain: set[int] = set()
    bisect.search(cands, lambda c: plain.add(RANGE_STATES[int(c[1:])]) or ("bad" if int(c[1:]) >= first_bad
                                                                             else "good"))
    assert len(plain - before) >= len(built - before)
    if first_bad == 1:
        assert len(plain - before) == 2


def test_header_states_change_only_with_headers(tree):
    repo, ids = tree
    states = bisect.header_states(repo, ids[0], ids[3], ids[1:])
    # ids[1] changes include/linux/bpf_verifier.h; the driver and syscall.c commits keep its state
    assert states[ids[0]] != states[ids[1]] == states[ids[2]] == states[ids[3]]
    assert set(states[ids[1]]) == {"include/linux/bpf_verifier.h"}
    assert bisect.header_states(repo, ids[1], ids[3], ids[2:]) == {c: {} for c in ids[1:]}
    # a local header (two users, as kernel/bpf/mmap_unlock_work.h) is no state
    local = commit(repo, "kernel/bpf/mmap_unlock_work.h", "/* guard */\n", "bpf: local header")
    assert list(bisect.header_states(repo, ids[3], local, [local]).values()) == [{}, {}]


KBUILD_CMD = Path(__file__).parent / "data" / "kbuild-cmd"


def test_dependents_are_counted_from_kbuild_dependency_files():
    """Real (trimmed) .o.cmd files of a UML build: verifier.o includes bpf.h and bpf_verifier.h, mprog.o bpf.h and
    bpf_mprog.h, tnum.o neither; include/uapi/linux/bpf.h is another header than include/linux/bpf.h."""
    texts = [p.read_text() for p in sorted(KBUILD_CMD.glob("*.o.cmd"))]
    assert len(texts) == 3
    files = {"include/linux/bpf.h", "include/linux/bpf_verifier.h", "include/linux/bpf_mprog.h",
             "include/linux/bpf_trace.h", "kernel/bpf/Makefile"}
    assert bisect.count_dependents(texts, files) == {"include/linux/bpf.h": 2, "include/linux/bpf_verifier.h": 1,
                                                     "include/linux/bpf_mprog.h": 1, "include/linux/bpf_trace.h": 0}
    assert bisect.count_dependents(texts, {"include/uapi/linux/bpf.h"}) == {"include/uapi/linux/bpf.h": 2}


def _range_state(i: int) -> dict[str, str]:
    """Candidate i's header state on the 32-commit range: bpf.h changes at index 5, 12, 16, bpf_mprog.h at 5,
    bpf_verifier.h at 24 (as RANGE_STATES)."""
    return {"include/linux/bpf.h": f"b{sum(i >= k for k in (5, 12, 16))}",
            "include/linux/bpf_mprog.h": f"m{int(i >= 5)}", "include/linux/bpf_verifier.h": f"v{int(i >= 24)}"}


# the UML kernel's dependents of the range's headers and its objects, counted by Rebuilds.read in its build directory
RANGE_REBUILDS = bisect.Rebuilds({"include/linux/bpf.h": 597, "include/linux/bpf_verifier.h": 18,
                                  "include/linux/bpf_mprog.h": 4}, 1262)


def test_rebuild_costs_count_the_objects_a_state_change_recompiles():
    r = RANGE_REBUILDS
    assert r.cost(_range_state(0), _range_state(4)) == 0
    assert r.cost(_range_state(20), _range_state(31)) == 18 and r.cheap(_range_state(20), [_range_state(31)])
    assert r.cost(_range_state(4), _range_state(5)) == 597 + 4 and not r.cheap(_range_state(5), [_range_state(0)])
    assert r.cheap(_range_state(5), [_range_state(0), _range_state(8)])  # built once: ccache has it
    assert r.cost({"Kconfig": "a"}, {"Kconfig": "b"}) == 1262  # anything but a header: everything
    unknown = bisect.Rebuilds(None, 0)  # no build directory: only a state built already is cheap
    assert unknown.cheap(_range_state(20), [_range_state(16)]) and not unknown.cheap(_range_state(20), [_range_state(31)])
    assert bisect.Rebuilds.read(KBUILD_CMD / "absent", {"include/linux/bpf.h"}) == unknown


@pytest.mark.parametrize("first_bad, costly_at_most", [(1, 0), (3, 0), (12, 2), (20, 1), (31, 0)])
def test_search_counts_what_a_step_recompiles(first_bad, costly_at_most):
    """With the build directory's dependency counts, a bpf_verifier.h change (18 objects) is no new state: from
    GOOD and BAD built, the search reaches the culprit in at most seven steps building fewer bpf.h states than
    test_search_prefers_commits_whose_headers_were_built allows (a culprit at c12, the first commit of a state,
    needs both c11's and c12's); the real culprit (c1) needs none."""
    cands = [f"c{i}" for i in range(32)]
    built = [_range_state(0), _range_state(31)]
    costly: list[int] = []
    tested: list[int] = []

    def test(c: str) -> str:
        i = int(c[1:])
        tested.append(i)
        if not RANGE_REBUILDS.cheap(_range_state(i), built):
            costly.append(i)
        built.append(_range_state(i))
        return "bad" if i >= first_bad else "good"

    assert bisect.search(cands, test, lambda i: RANGE_REBUILDS.cheap(_range_state(i), built)) == (first_bad, [])
    assert len(tested) <= 7 and len(costly) <= costly_at_most


def test_search_reports_ambiguity_when_every_candidate_is_skipped():
    assert bisect.search(["a", "b", "c"], lambda c: "skip") == (None, [0, 1, 2])


def test_commit_of_a_cell():
    assert commit_of({"package_version": "a" * 40, "package": "bpf: x"}) == {"id": "a" * 40, "subject": "bpf: x"}
    assert commit_of({"package_version": "6.12.117-1~deb12u1", "package": "linux-image"}) is None


@pytest.mark.parametrize("argv, message", [
    (["v1", "main", "--tree", "{tmp}"], "is not a git repository"),
    (["v1", "nope", "--tree", "{repo}"], "bisect BAD: unknown revision 'nope'"),
    (["main", "v1", "--tree", "{repo}"], "main is not an ancestor of v1; give GOOD (older) then BAD (newer)"),
    (["HEAD~2", "HEAD~1", "--tree", "{repo}"], "no commit in HEAD~2..HEAD~1 touches kernel/bpf/"),
    (["v1", "main", "--tree", "{repo}", "--corpus", "nope"], "no corpus 'nope'"),
])
def test_bisect_bad_input_is_one_line_and_exit_2(tree, tmp_path, capsys, argv, message):
    from harness.cli import main
    repo, _ = tree
    (tmp_path / "plain").mkdir()
    m = tmp_path / "m.yaml"
    m.write_text("corpora: {exc: {source: 6.12.117, include: [exceptions_fail]}}\n"
                 "branches: {b: {corpus: exc, kernels: [6.12.117]}}\n")
    args = [a.format(tmp=tmp_path / "plain", repo=repo) for a in argv]
    code = main(["bisect", *args, "--program", "exceptions_fail/reject_subprog_with_rcu_read_lock",
                 "--backend", "uml", "-m", str(m), "--db", str(tmp_path / "db" / "r.db"), "--cache", str(tmp_path / "c")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert not (tmp_path / "c").exists()  # nothing downloaded or built


def test_bisect_program_must_be_object_slash_program(tree, tmp_path, capsys):
    from harness.cli import main
    repo, _ = tree
    assert main(["bisect", "v1", "main", "--tree", str(repo), "--program", "exceptions_fail", "--backend", "uml"]) == 2
    assert "--program 'exceptions_fail': give a program as OBJECT/PROGRAM" in capsys.readouterr().err


def not_a_kernel(tmp_path: Path, recipe: str = "@echo 'no kernel here: Kconfig missing' >&2; exit 2") -> tuple[Path, str]:
    """A git tree whose Makefile runs ``recipe`` at olddefconfig (make really runs; by default it refuses) and a
    merge_config.sh that does nothing."""
    repo = tmp_path / "linux"
    repo.mkdir()
    sh(repo, "init", "-q", "-b", "main")
    commit(repo, "scripts/kconfig/merge_config.sh", "#!/bin/sh\nexit 0\n", "merge_config")
    (repo / "scripts/kconfig/merge_config.sh").chmod(0o755)
    sh(repo, "add", "scripts/kconfig/merge_config.sh")
    sh(repo, "commit", "-q", "-m", "exec bit")
    c = commit(repo, "Makefile", f"olddefconfig:\n\t{recipe}\n", "not a kernel")
    return repo, c


def _run(tmp_path: Path, repo: Path, backend: str) -> int:
    from harness.cli import main
    m = tmp_path / "m.yaml"
    m.write_text(f"corpora: {{c: {{source: 6.12.117}}}}\nbranches:\n  b:\n    corpus: c\n    arches: [x86_64]\n"
                 f"    kernels:\n      - {{id: t, git: {{tree: {repo}, commit: main}}, backend: {backend}}}\n")
    return main(["run", "-m", str(m), "--db", str(tmp_path / "r.db"), "--cache", str(tmp_path / "cache")])


def test_a_build_that_fails_is_one_line_exit_3_naming_its_log(tmp_path, capsys):
    repo, c = not_a_kernel(tmp_path)
    code = _run(tmp_path, repo, "vm")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3, err
    line = err[-1]
    assert line.startswith("bpf-harness: error: guest-x86_64: configuring failed") and "no kernel here" in line
    log = Path(line.rsplit("log: ", 1)[1])
    assert log.is_file() and "no kernel here: Kconfig missing" in log.read_text() and c[:16] in log.name
    assert not list((tmp_path / "cache" / "kernels").glob("built/*"))


def test_a_tree_the_uml_recipe_does_not_fit_is_exit_2(tmp_path, capsys):
    repo, _ = not_a_kernel(tmp_path)
    code = _run(tmp_path, repo, "uml")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "the uml recipe does not fit this commit" in err[-1] and "use backend: vm" in err[-1], err
    assert "7.3/0002-um-perf-events-and-bpf-events.patch does not apply" in err[-1]  # version unknown: the newest


def test_sigterm_stops_a_build_and_its_make(tmp_path):
    """A real make that would run for a minute, under a real `bpf-harness run`: SIGTERM ends both (issue: an orphaned
    make kept building after the harness was killed), with exit 3."""
    import signal
    import sys
    import time
    repo, _ = not_a_kernel(tmp_path, "@echo configuring; sleep 60")
    m = tmp_path / "m.yaml"
    m.write_text(f"corpora: {{c: {{source: 6.12.117}}}}\nbranches:\n  b:\n    corpus: c\n    arches: [x86_64]\n"
                 f"    kernels:\n      - {{id: t, git: {{tree: {repo}, commit: main}}}}\n")
    cli = Path(sys.executable).parent / "bpf-harness"
    p = subprocess.Popen([str(cli), "run", "-m", str(m), "--db", str(tmp_path / "r.db"), "--cache", str(tmp_path / "c")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    def makes() -> list[str]:
        return subprocess.run(["pgrep", "-f", f"O={tmp_path}"], capture_output=True, text=True).stdout.split()

    for _ in range(300):
        if makes() or p.poll() is not None:
            break
        time.sleep(0.1)
    assert makes(), p.stderr.read() if p.poll() is not None else "make never started"
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 3 and "interrupted" in err, err
    time.sleep(0.5)
    assert not makes()


RECORDED = json.loads((DATA / "bisect-6.12.113-uml-reject_subprog_with_rcu_read_lock.json").read_text())


class Replay(bisect.Bisector):
    """Each commit of a small tree answers with what the same position of the real fixture range gave in UML cells
    (recorded from tests/integration/test_build.py): the search, classification and rendering are the real ones."""

    def __init__(self, tree: Path, answers: dict[str, dict]):
        super().__init__(matrix.parse("corpora: {exc: {source: 6.12.117}}\nbranches: {b: {corpus: exc, kernels: "
                                      "[6.12.117]}}\n", tree.parent / "m.yaml"), tree,
                         bisect.Target("exc", (PROG,), "uml", "x86_64"), tree.parent / "b.db",
                         Context(tree.parent / "cache", say=lambda s: None))
        self.answers, self.asked = answers, []

    def verify(self, commit):
        self.asked.append(commit)
        if self.answers[commit] is None:
            self.failed[commit] = "make failed (log: x.log)"
            return None
        self.results[commit] = {PROG: self.answers[commit]}
        return self.results[commit]


PROG = ("exceptions_fail", "reject_subprog_with_rcu_read_lock")


def _range(tmp_path: Path) -> tuple[Path, list[str]]:
    repo = tmp_path / "linux"
    repo.mkdir()
    sh(repo, "init", "-q", "-b", "main")
    ids = [commit(repo, "kernel/bpf/btf.c", "0\n", "base")]
    for i, subject in enumerate(["bpf: Mark bpf_refcount field as unique", "bpf: Fix exception exit lock checking "
                                 "for subprogs\n\n[ Upstream commit 6c2128505f61b504c79a20b89596feba61388112 ]\n"
                                 "Fixes: f18b03fabaa9 (\"bpf: Implement BPF exceptions\")",
                                 "net: a driver", "bpf: Mark signal tracepoint siginfo arguments as scalar"]):
        path = "drivers/net/x.c" if subject.startswith("net:") else f"kernel/bpf/f{i}.c"
        ids.append(commit(repo, path, f"{i}\n", subject))
    return repo, ids


def _answers(ids: list[str]) -> dict[str, dict]:
    by_subject = {v["subject"]: v for v in RECORDED.values()}
    parent = by_subject["bpf: Mark bpf_refcount field as unique"]
    fixed = by_subject["bpf: Fix exception exit lock checking for subprogs"]
    return {ids[0]: by_subject["linux-source-6.12 6.12.113-1~deb12u1"], ids[1]: parent, ids[2]: fixed, ids[3]: fixed,
            ids[4]: by_subject["bpf: Mark signal tracepoint siginfo arguments as scalar"]}


def test_bisect_on_recorded_uml_results_names_the_commit_and_warns(tmp_path):
    repo, ids = _range(tmp_path)
    b = Replay(repo, _answers(ids))
    o = bisect.run(repo, ids[0], "main", b, git.BPF_PATHS, False)
    assert o.verdict == "found" and o.culprit == ids[2] and o.parent == ids[1]
    assert (o.candidates, o.total) == (3, 4)  # the driver commit is no candidate
    assert ids[3] not in b.asked
    (f,) = o.findings
    # judged on the verifier's answer: it accepted the __failure test on the parent (the kernel then refused it for
    # want of a JIT) and rejects it at the culprit, as a VM pair says; the finding keeps the results as recorded
    assert f.change.value == "fixed" and f.detail.startswith("now rejected, as the test expects (__failure)")
    assert f.base["verdict"] == "failure" and "calling kernel functions are not allowed" in f.base["error"]
    assert o.warnings and "UML's kernel refused exceptions_fail/reject_subprog_with_rcu_read_lock on GOOD after its " \
                          "verifier accepted it (no-JIT kfunc call" in o.warnings[0]
    text = bisect.render_text(o, [PROG], repo, "bpf-harness run -m r.yaml")
    assert f"first changed commit: {ids[2]}" in text and "Fixes: f18b03fabaa9" in text
    assert "parent " + ids[1][:12] + ": failure, 12 insns: calling kernel functions are not allowed" in text
    assert "+bpf_throw cannot be used inside bpf_rcu_read_lock-ed region" in text
    js = bisect.to_json(o, [PROG], "cmd")
    assert js["culprit"] == ids[2] and js["findings"][0]["culprit"]["insns"] == 8 and js["warnings"]
    assert [s["outcome"] for s in js["steps"]] == ["good", "bad", "good", "bad"]
    y = bisect.reproducer_matrix(o, repo, "uml", "x86_64", "exc", {"source": "6.12.117"}, ("bookworm-security",))
    (tmp_path / "r.yaml").write_text(y)
    m = matrix.load(tmp_path / "r.yaml")
    assert [k.source.commit for k in m.kernels()] == [ids[1], ids[2]]


def test_bisect_skips_a_commit_that_does_not_build_and_says_when_nothing_changed(tmp_path):
    repo, ids = _range(tmp_path)
    a = _answers(ids)
    a[ids[2]] = None  # the culprit does not build: the first changed commit is one of it and its successor
    o = bisect.run(repo, ids[0], "main", Replay(repo, a), git.BPF_PATHS, False)
    assert o.verdict == "ambiguous" and o.suspects == (ids[2], ids[4])
    assert "ambiguous: builds that failed hide the first changed commit" in bisect.render_text(o, [PROG], repo, "")
    same = {c: a[ids[0]] for c in ids}
    o = bisect.run(repo, ids[0], "main", Replay(repo, same), git.BPF_PATHS, False)
    assert o.verdict == "unchanged" and "no change: " in bisect.render_text(o, [PROG], repo, "")
    # a change only in a commit outside the paths is not blamed on a BPF commit
    outside = dict(same)
    outside[ids[4]] = a[ids[4]]
    sh(repo, "commit", "-q", "--allow-empty", "-m", "later")
    head = sh(repo, "rev-parse", "HEAD").strip()
    outside[head] = a[ids[4]]
    outside[ids[4]] = a[ids[0]]
    o = bisect.run(repo, ids[0], "main", Replay(repo, outside), git.BPF_PATHS, False)
    assert o.verdict == "outside-paths" and o.culprit == head


def test_kconfig_symbols_tell_an_option_the_tree_lacks_from_one_whose_dependency_is_off():
    """6.1 has no CONFIG_NETFILTER_BPF_LINK (6.4 added it): the fast lane's fragment asks for it, and on a 6.1 tree
    it is left out, not an error; an option the tree defines and olddefconfig dropped still is one."""
    from harness.kernels.built.kbuild import kconfig_symbols
    text = ("config BPF_SYSCALL\n\tbool \"Enable bpf() system call\"\n"
            "menuconfig NETFILTER\n\tbool\n  config   DEBUG_INFO_BTF  \n# config NOT_A_SYMBOL\n"
            "\thelp\n\t  config FOO in prose is not a definition\n")
    assert kconfig_symbols([text]) == {"BPF_SYSCALL", "NETFILTER", "DEBUG_INFO_BTF"}
