from pathlib import Path

import pytest

from harness import matrix
from harness.arch import ARM64
from harness.errors import ConfigError
from harness.matrix import Accel, DebianKernel, GitKernel, GitRange, LocalKernel, SourceKernel
from harness.version import KernelVersion

ROOT = Path(__file__).resolve().parent.parent


def err(text: str) -> str:
    with pytest.raises(ConfigError) as e:
        matrix.parse(text, "m.yaml")
    return str(e.value)


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "configs").glob("*.yaml")))
def test_shipped_matrices_are_valid(name):
    m = matrix.load(ROOT / "configs" / name)
    assert m.cells() or m.follows  # a matrix of rules has its cells once resolved (tests/test_stream.py)
    for b in m.branches:
        assert b.corpus in m.corpora or b.rule is not None
        versions = [k.version for k in b.kernels if k.version]
        assert versions == sorted(versions)


def test_fast_lane_matrix_pairs_uml_cells_with_a_vm_cell_of_the_same_version():
    m = matrix.load(ROOT / "configs" / "fast-lane.yaml")
    backends = {(c.kernel.version, c.kernel.backend) for c in m.cells()}
    assert {("6.12.117", "uml"), ("6.12.117", "vm"), ("6.12.115", "uml")} <= {(str(v), b) for v, b in backends}


def test_default_matrix_is_two_adjacent_releases_of_6_12_and_6_1():
    m = matrix.load(ROOT / "configs" / "default.yaml")
    by_branch = {b.name: [str(k.version) for k in b.kernels] for b in m.branches}
    assert by_branch["6.12.y"] == ["6.12.115", "6.12.117"]
    assert by_branch["6.1.y"] == ["6.1.190", "6.1.192"]
    assert {c.arch for c in m.cells()} == {"x86_64", "arm64"}
    # 6.1.y's arm64 cells are the nightly's: the default aims at 20 minutes from a fresh machine
    assert {(c.branch, c.corpus.name) for c in m.cells() if c.arch == "arm64"} == {("6.12.y", "6.12-arm64")}
    assert m.vm.failure_tails == "unexpected"
    assert m.vm.cpus == 1  # one guest per core (run --jobs defaults to what fits), measured faster than 2 vCPUs


def test_minimal_matrix_defaults():
    m = matrix.parse("branches:\n  6.12.y:\n    kernels: [6.12.115, 6.12.117]\n", "m.yaml")
    (b,) = m.branches
    assert [k.id for k in b.kernels] == ["6.12.115", "6.12.117"]
    assert b.kernels[0].source == DebianKernel(KernelVersion(6, 12, 115))
    assert b.corpus == "6.12.y-selftests"
    assert m.corpora[b.corpus].source == KernelVersion(6, 12, 117)  # the branch's newest selftests
    assert m.vm.accel is Accel.AUTO and m.vm.cpus == 2
    assert [c.key for c in m.cells()] == ["6.12.115/x86_64", "6.12.117/x86_64"]


def test_arm64_has_its_own_timeouts_and_may_verify_another_corpus():
    m = matrix.parse("corpora:\n  full: {source: 6.12.117}\n  light: {source: 6.12.117, include: [verifier_and]}\n"
                     "branches:\n  6.12.y:\n    kernels: [6.12.117]\n    corpus: full\n"
                     "    arches: [x86_64, arm64]\n    corpus_by_arch: {arm64: light}\n"
                     "vm:\n  boot_timeout: 100\n  boot_timeout_arm64: 400\n  program_timeout_arm64: 90\n", "m.yaml")
    x86, arm = m.cells()
    assert (x86.arch, x86.corpus.name, arm.arch, arm.corpus.name) == ("x86_64", "full", "arm64", "light")
    assert m.vm.for_arch("x86_64").boot_timeout == 100
    assert (m.vm.for_arch("arm64").boot_timeout, m.vm.for_arch("arm64").program_timeout) == (400, 90)
    assert m.vm.for_arch("arm64").cell_timeout == ARM64.guest_timeouts[2]  # not set: the arch record's own
    assert m.vm.for_arch("x86_64").cell_timeout == m.vm.cell_timeout  # x86_64 has none: the vm: values
    # an arch's own keys exist for the arches the harness knows, no others
    assert "vm: unknown key 'boot_timeout_riscv64'" in err(
        "corpora:\n  c: {source: 6.1.1}\nbranches:\n  b: {kernels: [6.1.1], corpus: c}\nvm:\n  boot_timeout_riscv64: 9\n")
    assert err("corpora:\n  c: {source: 6.1.1}\nbranches:\n  b:\n    kernels: [6.1.1]\n"
               "    corpus_by_arch: {arm64: c}\n") == \
        "m.yaml:6: branch b: corpus_by_arch: 'arm64' is not one of the branch's arches (x86_64)"


def test_uml_kernels_are_built_from_a_version_and_run_on_x86_64_only():
    m = matrix.parse("branches:\n  fast:\n    kernels: [{uml: 6.12.117}, {id: u2, uml: 6.12.118}]\n"
                     "  vm:\n    kernels: [6.12.117]\n", "m.yaml")
    fast, vmb = m.branches
    assert [k.id for k in fast.kernels] == ["6.12.117-uml", "u2"]
    assert [k.backend for k in fast.kernels] == ["uml", "uml"] and vmb.kernels[0].backend == "vm"
    assert fast.kernels[0].version == KernelVersion(6, 12, 117)
    assert err("branches:\n  b:\n    arches: [arm64]\n    kernels: [{uml: 6.12.117}]\n") == \
        "m.yaml:4: branch b: uml kernels run on x86_64 only; give the branch arches: [x86_64]"
    assert err("branches:\n  b:\n    kernels: [6.1.1]\nvm:\n  accel: native\n") == \
        "m.yaml:5: vm: accel must be one of auto, kvm, tcg, not 'native'"


def test_versions_that_look_like_floats_stay_versions():
    m = matrix.parse("branches:\n  six:\n    kernels: [6.10, 6.10.3]\n", "m.yaml")
    assert [k.id for k in m.branches[0].kernels] == ["6.10", "6.10.3"]


def test_local_and_git_kernels():
    m = matrix.parse("corpora:\n  c: {source: 6.12.117}\nbranches:\n  dev:\n    corpus: c\n    kernels:\n"
                     "      - {id: mine, local: {image: /boot/vmlinuz-x, modules: /lib/modules/x}}\n"
                     "      - {id: g, git: {tree: /src/linux, commit: v6.13}}\n", "m.yaml")
    a, b = m.branches[0].kernels
    assert a.source == LocalKernel(Path("/boot/vmlinuz-x"), Path("/lib/modules/x"))
    assert b.source == GitKernel(Path("/src/linux"), "v6.13")
    assert b.backend == "vm"


def test_source_kernels_ranges_and_backends(tmp_path):
    m = matrix.parse("corpora:\n  c: {source: 6.12.117}\nbranches:\n  dev:\n    corpus: c\n    arches: [x86_64]\n"
                     "    kernels:\n"
                     "      - {source: 6.12.113, patches: [fix.patch, /abs/b.patch], backend: uml}\n"
                     "      - {id: r, git: {tree: linux, range: v6.12.113..v6.12.115}, backend: uml}\n"
                     "      - {id: p, git: {tree: ~/linux, range: a..b, paths: [kernel/bpf/]}}\n"
                     "      - {id: t, source: 6.12.113, config: vmtest}\n",
                     tmp_path / "m.yaml")
    s, r, p, t = m.branches[0].kernels
    assert t.source == SourceKernel(KernelVersion(6, 12, 113), (), "vm", "vmtest")
    assert s.source.config == "guest"
    assert s.id == "6.12.113-src" and s.backend == "uml"
    assert s.source == SourceKernel(KernelVersion(6, 12, 113), (tmp_path / "fix.patch", Path("/abs/b.patch")), "uml")
    assert r.source == GitRange(tmp_path / "linux", "v6.12.113..v6.12.115", (), "uml")
    assert p.source == GitRange(Path.home() / "linux", "a..b", ("kernel/bpf/",), "vm")


@pytest.mark.parametrize("kernel, message", [
    ("{id: g, git: {tree: /t, commit: a, range: a..b}}", "give exactly one of commit, range (A..B)"),
    ("{id: g, git: {tree: /t, range: a...b}}", "range 'a...b': write BASE..HEAD"),
    ("{id: g, git: {tree: /t, range: ..b}}", "range '..b': write BASE..HEAD"),
    ("{id: g, git: {tree: /t, commit: a, paths: [x]}}", "paths go with a range"),
    ("{id: g, git: {tree: /t, commit: a}, patches: [a.patch]}", "patches go with a source kernel"),
    ("{id: g, git: {tree: /t, commit: a}, backend: qemu}", "backend 'qemu': one of vm, uml"),
    ("{debian: 6.12.117, backend: uml}", "backend goes with a git or source kernel, not debian"),
    ("{source: 6.12.117, patches: a.patch}", "kernel: patches must be a list, not 'a.patch'"),
    ("{source: 6.12.117, config: tiny}", "kernel: config 'tiny': one of guest, vmtest"),
    ("{source: 6.12.117, backend: uml, config: vmtest}", "config goes with a source kernel built for the vm backend"),
    ("{id: g, git: {tree: /t, commit: a}, config: vmtest}", "config goes with a source kernel"),
])
def test_bad_built_kernel_entries(kernel, message):
    assert message in err(f"corpora: {{c: {{source: 6.12.117}}}}\nbranches:\n  b:\n    corpus: c\n"
                          f"    kernels:\n      - {kernel}\n")


def test_uml_backend_needs_x86_64_only():
    assert "uml kernels run on x86_64 only" in err(
        "corpora: {c: {source: 6.12.117}}\nbranches:\n  b:\n    corpus: c\n    arches: [x86_64, arm64]\n"
        "    kernels:\n      - {source: 6.12.117, backend: uml}\n")


def test_unknown_key_is_rejected_with_its_line():
    assert err("branches:\n  x:\n    kernels: [6.1.1]\n    kernelz: 1\n") == \
        "m.yaml:4: branch x: unknown key 'kernelz'; allowed: kernels, corpus, arches, corpus_by_arch, reference, series, stable_tree"


def test_misspelt_top_level_key():
    assert err("branchs:\n  x: {kernels: [6.1.1]}\n") == ("m.yaml:1: matrix: unknown key 'branchs'; allowed: branches, "
                                                         "reference, corpora, arches, vm, debian, thresholds, hosts, attribution")


def test_wrong_type():
    assert err("vm: {cpus: two}\nbranches: {a: {kernels: [6.1.1]}}\n") == \
        "m.yaml:1: vm: cpus must be a whole number, not 'two'"
    assert err("branches: {a: {kernels: 6.1.1}}\n") == "m.yaml:1: branch a: kernels must be a list, not '6.1.1'"
    assert err("vm: {memory: lots}\nbranches: {a: {kernels: [6.1.1]}}\n") == \
        "m.yaml:1: vm: memory must look like 2G or 1536M, not 'lots'"
    assert err("vm: {accel: hvf}\nbranches: {a: {kernels: [6.1.1]}}\n") == \
        "m.yaml:1: vm: accel must be one of auto, kvm, tcg, not 'hvf'"
    assert err("vm: {failure_tails: some}\nbranches: {a: {kernels: [6.1.1]}}\n") == \
        "m.yaml:1: vm: failure_tails must be unexpected or all, not 'some'"


def test_unknown_arch():
    assert err("arches: [x86_64, mips]\nbranches: {a: {kernels: [6.1.1]}}\n") == \
        "m.yaml:1: arches: unknown arch 'mips'; valid: x86_64, arm64"


def test_duplicate_kernel_id():
    assert err("branches:\n  a: {kernels: [6.1.1]}\n  b:\n    kernels:\n      - 6.1.1\n") == \
        "m.yaml:5: duplicate kernel id '6.1.1' (first at m.yaml:2)"


def test_empty_matrix():
    assert err("") == "m.yaml:1: empty matrix: it needs at least one branch with one kernel"
    assert err("branches: {}\n") == "m.yaml:1: branches must not be empty"
    assert err("branches:\n  a: {kernels: []}\n") == "m.yaml:2: branch a: kernels must not be empty"


def test_malformed_yaml():
    assert err("branches: [\n") .startswith("m.yaml:2: malformed YAML: ")
    assert err("branches:\n  a: {kernels: [6.1.1]\n  b: 1\n").startswith("m.yaml:")


def test_not_a_version():
    assert err("branches: {a: {kernels: [latest]}}\n") == \
        "m.yaml:1: kernel: 'latest' is not a kernel version (e.g. 6.12.117)"


def test_kernels_oldest_first():
    assert err("branches:\n  a:\n    kernels:\n      - 6.12.117\n      - 6.12.115\n") == \
        "m.yaml:5: branch a: kernels must be listed oldest first (6.12.115 comes after 6.12.117)"


def test_unknown_corpus_and_reference():
    assert err("branches: {a: {kernels: [6.1.1], corpus: nope}}\n") == \
        "m.yaml:1: branch a: unknown corpus 'nope'; defined: none"
    assert err("reference: main\nbranches: {a: {kernels: [6.1.1]}}\n") == \
        "m.yaml:1: reference 'main' is not a branch; branches: a"


def test_local_kernel_needs_id():
    assert err("corpora: {c: {source: 6.1.1}}\nbranches:\n  a:\n    corpus: c\n    kernels:\n"
               "      - local: {image: /x}\n") == "m.yaml:6: kernel: a local kernel needs an id"


def test_cell_filter():
    m = matrix.parse("branches:\n  a: {kernels: [6.1.1, 6.1.2]}\n", "m.yaml")
    assert [c.key for c in m.cells(("6.1.2/x86_64",))] == ["6.1.2/x86_64"]
    assert [c.key for c in m.cells(("6.1.1",))] == ["6.1.1/x86_64"]
    with pytest.raises(ConfigError, match=r"no cell '6.1.3/x86_64'; cells: 6.1.1/x86_64, 6.1.2/x86_64"):
        m.cells(("6.1.3/x86_64",))


def test_corpus_globs():
    c = matrix.parse("corpora:\n  c: {source: 6.12.117, include: ['verifier_*'], exclude: [verifier_loops1]}\n"
                     "branches: {a: {kernels: [6.1.1], corpus: c}}\n", "m.yaml").corpora["c"]
    assert c.selects("verifier_and") and not c.selects("verifier_loops1") and not c.selects("pyperf600")


def test_thresholds():
    m = matrix.parse("thresholds: {insns_pct: 5, insns_abs: 500}\nbranches: {a: {kernels: [6.1.1]}}\n", "m.yaml")
    assert (m.thresholds.insns_pct, m.thresholds.insns_abs, m.thresholds.near_limit_pct) == (5.0, 500, 80.0)
    assert err("thresholds: {insns_pct: lots}\nbranches: {a: {kernels: [6.1.1]}}\n") == \
        "m.yaml:1: thresholds: insns_pct must be a number, not 'lots'"
    assert err("thresholds: {near_limit: 90}\nbranches: {a: {kernels: [6.1.1]}}\n") == (
        "m.yaml:1: thresholds: unknown key 'near_limit'; allowed: insns_pct, insns_abs, states_pct, states_abs, "
        "near_limit_pct")


def test_a_branch_may_name_its_own_reference():
    text = ("corpora: {mt: {source: 7.3.4}}\nbranches:\n  6.12.y: {kernels: [6.12.115, 6.12.117]}\n"
            "  mainline: {kernels: [7.3.4]}\n"
            "  mt-6.12: {corpus: mt, kernels: [{id: 6.12.117-mt, debian: 6.12.117}], reference: mt-mainline}\n"
            "  mt-mainline: {corpus: mt, kernels: [{id: 7.3.4-mt, debian: 7.3.4}]}\n"
            "reference: mainline\n")
    m = matrix.parse(text, "m.yaml")
    assert {b.name: b.reference for b in m.branches} == {"6.12.y": None, "mainline": None, "mt-6.12": "mt-mainline",
                                                          "mt-mainline": None}
    with pytest.raises(ConfigError, match=r"^m.yaml:5: branch mt-6.12: reference 'nope' is not another branch"):
        matrix.parse(text.replace("reference: mt-mainline", "reference: nope"), "m.yaml")


def test_hosts_are_strict_and_pin_their_keys():
    m = matrix.parse("hosts:\n  lab:\n    ssh: ci@kvm-box.example:2222\n    known_hosts: /etc/bpf/known_hosts\n"
                     "    arches: [x86_64]\n    jobs: 3\n    accel: kvm\n"
                     "branches: {a: {kernels: [6.1.1]}}\n", "m.yaml")
    (h,) = m.hosts
    assert (h.name, h.user, h.address, h.port, h.arches, h.jobs, h.accel.value, str(h.known_hosts), h.key) == (
        "lab", "ci", "kvm-box.example", 2222, ("x86_64",), 3, "kvm", "/etc/bpf/known_hosts", None)
    assert matrix.parse("hosts:\n  a: {ssh: 'root@[::1]', known_hosts: k, arches: [arm64]}\n"
                        "branches: {a: {kernels: [6.1.1]}}\n").hosts[0].where == "root@::1:22"
    assert err("hosts:\n  lab: {ssh: kvm-box, known_hosts: k, arches: [x86_64]}\nbranches: {a: {kernels: [6.1.1]}}\n") == \
        "m.yaml:2: host lab: ssh must be user@host or user@host:port, not 'kvm-box'"
    assert err("hosts:\n  lab: {ssh: a@b:99999, known_hosts: k, arches: [x86_64]}\nbranches: {a: {kernels: [6.1.1]}}\n") == \
        "m.yaml:2: host lab: ssh must be user@host or user@host:port, not 'a@b:99999'"
    assert err("hosts:\n  lab: {ssh: a@b, arches: [x86_64]}\nbranches: {a: {kernels: [6.1.1]}}\n").startswith(
        "m.yaml:2: host lab: missing required key 'known_hosts'")
    assert err("hosts:\n  lab: {ssh: a@b, known_hosts: k, arches: [x86_64], password: hunter2}\n"
               "branches: {a: {kernels: [6.1.1]}}\n").startswith("m.yaml:2: host lab: unknown key 'password'")
