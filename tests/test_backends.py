"""The guest backends: each answers for itself what used to be a string compare spread over the package."""

import dataclasses

import pytest

from harness import backends, matrix
from harness.arch import ARM64, X86_64
from harness.errors import UserError
from harness.kernels import Kernel
from harness.matrix import Host, KernelSpec, VmSettings
from harness.version import KernelVersion


def test_recipe_keys_are_the_ones_built_kernels_are_cached_under():
    """A refactoring must not rename a cached build: these keys name the kernels in every cache that built them
    (recorded from the recipes as they are; a new fragment or patch changes them on purpose, and this test with
    them).  The vmtest VM recipe kept the name and key it had as the only one."""
    assert backends.UML.recipe(X86_64, KernelVersion(6, 12, 117)).key("gcc 12") == "dcdff103a59f"
    assert backends.VM.recipe(X86_64, None, "vmtest").key("gcc 12") == "e3f3c8ca960c"
    assert backends.VM.recipe(ARM64, None, "vmtest").key("gcc 12") == "17cc016a8b8c"
    assert backends.VM.recipe(X86_64).key("gcc 12") == "1868cae18c5e"
    assert backends.VM.recipe(ARM64).key("gcc 12") == "cc5cc52c3f41"
    assert backends.VM.recipe(X86_64).name == "guest-x86_64"
    with pytest.raises(UserError, match="VM kernel config 'tiny': one of guest, vmtest"):
        backends.VM.recipe(X86_64, None, "tiny")


def test_names_the_model_writes_are_backends():
    for cls in (matrix.GitKernel, matrix.GitRange, matrix.SourceKernel, matrix.GitFollow, matrix.Queue):
        default = next(f.default for f in dataclasses.fields(cls) if f.name == "backend")
        assert backends.named(default) is backends.VM
    uml = KernelSpec("u", matrix.UmlKernel(None), "m.yaml:1")  # type: ignore[arg-type]
    assert backends.named(uml.backend) is backends.UML
    with pytest.raises(UserError, match="unknown backend 'kvm'; valid: vm, uml"):
        backends.named("kvm")


def test_the_kernel_says_where_it_boots():
    k = Kernel("6.12.113", "x86_64", "6.12.113", "debian", image=None, vmlinux=None, modules=None)  # type: ignore[arg-type]
    assert backends.of(k) is backends.VM
    assert backends.of(dataclasses.replace(k, source="uml")) is backends.UML
    assert backends.of(dataclasses.replace(k, source="git")) is backends.VM


def test_tuning_uml_one_worker_one_veristat_no_fsync_vm_four_batches_per_worker():
    s = VmSettings(cpus=2)
    assert backends.UML.tune(s, 93) == backends.Tuning(1, 93, fsync=False)
    assert backends.VM.tune(s, 93) == backends.Tuning(2, 12, fsync=True)
    assert backends.VM.tune(s, 0).objects_per_veristat == 1


def test_which_backends_run_where():
    assert backends.UML.runs("x86_64") and not backends.UML.runs("arm64")
    assert backends.VM.runs("arm64") and backends.VM.on_hosts and not backends.UML.on_hosts
    host = Host("h", "root", "h.example", 22, ("arm64",), None)  # type: ignore[arg-type]
    remote = backends.RemoteVm(host)
    assert remote.name == "vm" and remote.runs("arm64") and not remote.runs("x86_64")
    assert remote.root(None, ARM64) is None  # type: ignore[arg-type]


def test_every_kernel_source_answers_the_same_questions():
    """No stage asks which class a kernel source is: each says its backend, version, whether it reads the Debian
    archive and whether the harness builds it (what fetching, preparing and validating dispatch on)."""
    from pathlib import Path

    v = KernelVersion.parse("6.12.113")
    t = Path("/tree")
    cases = [(matrix.DebianKernel(v), "vm", v, True, False), (matrix.LocalKernel(t, None), "vm", None, False, False),
             (matrix.UmlKernel(v), "uml", v, True, False), (matrix.GitKernel(t, "c"), "vm", None, False, True),
             (matrix.GitRange(t, "a..b", ()), "vm", None, False, True),
             (matrix.SourceKernel(v, (), "uml"), "uml", v, True, True), (matrix.GitFollow(t, "b"), "vm", None, False, True),
             (matrix.Queue(t, v), "vm", None, True, True)]
    for src, backend, version, apt, built in cases:
        spec = KernelSpec("k", src, "m.yaml:1")
        assert (spec.backend, spec.version, src.needs_apt, src.built) == (backend, version, apt, built), src
        assert backends.named(spec.backend)  # a name the backends know
    assert matrix.BUILT == tuple(type(s) for s, *_, built in cases if built)
