from pathlib import Path

import pytest

from harness import vm
from harness.arch import ARM64, X86_64
from harness.errors import UserError
from harness.matrix import Accel


def test_vng_argv_is_a_list_with_tcg_and_9p():
    argv = vm.vng_argv(vng="vng", image=Path("/c/vmlinux"), arch=X86_64, accel=Accel.TCG, cpus=2, memory="2G",
                       rwdir=Path("/o/rw"), guest=["env", "PYTHONPATH=/src", "/usr/bin/python3", "-S", "-m",
                                                   "harness.guest.runner", "/o/rw/plan.json"])
    assert argv == ["vng", "--verbose", "--force-9p", "--run", "/c/vmlinux", "--cpus", "2", "--memory", "2G",
                    "--rwdir", "/o/rw", "--name", "bpf-harness", "--disable-kvm", "--exec",
                    "env PYTHONPATH=/src /usr/bin/python3 -S -m harness.guest.runner /o/rw/plan.json"]


def test_vng_argv_kvm_and_quoting():
    argv = vm.vng_argv(vng="vng", image=Path("/c/vm linux"), arch=X86_64, accel=Accel.KVM, cpus=4, memory="4G",
                       rwdir=Path("/o/r w"), guest=["python3", "/o/r w/plan.json"], append=("log_buf_len=16M",))
    assert "--disable-kvm" not in argv
    assert argv[argv.index("--run") + 1] == "/c/vm linux"
    assert argv[-4:] == ["--append", "log_buf_len=16M", "--exec", "python3 '/o/r w/plan.json'"]


def test_guest_argv_runs_the_stdlib_runner_from_this_tree():
    argv = vm.guest_argv(Path("/rw/plan.json"), python="/usr/bin/python3", pkg_root=Path("/src"))
    assert argv == ["env", "PYTHONPATH=/src", "/usr/bin/python3", "-S", "-m", "harness.guest.runner", "/rw/plan.json"]
    assert (vm.package_root() / "harness" / "guest" / "runner.py").exists()


def test_kvm_usable_needs_cpu_flags_not_just_dev_kvm(tmp_path):
    ok, why = vm.kvm_usable(X86_64, "flags\t\t: fpu vme de pse tsc msr\n", Path("/dev/kvm"))
    assert (ok, why) == (False, "no vmx/svm cpu flag")
    ok, why = vm.kvm_usable(X86_64, "flags\t\t: fpu vmx\n", tmp_path / "kvm")
    assert not ok and why.endswith("No such file or directory")


def test_choose_accel(monkeypatch):
    monkeypatch.setattr(vm, "kvm_usable", lambda arch, cpuinfo: (False, "no vmx/svm cpu flag"))
    c = vm.choose_accel(Accel.AUTO, X86_64, "x86_64")
    assert (c.accel, c.reason) == (Accel.TCG, "KVM not usable (no vmx/svm cpu flag), using TCG")
    assert vm.choose_accel(Accel.TCG, X86_64, "x86_64").accel is Accel.TCG
    with pytest.raises(UserError, match="accel kvm requested but KVM is not usable here"):
        vm.choose_accel(Accel.KVM, X86_64, "x86_64")
    monkeypatch.setattr(vm, "kvm_usable", lambda arch, cpuinfo: (True, "/dev/kvm usable, cpu has vmx"))
    assert vm.choose_accel(Accel.AUTO, X86_64, "x86_64").accel is Accel.KVM
    assert vm.choose_accel(Accel.AUTO, ARM64, "x86_64").accel is Accel.TCG  # foreign arch: never KVM


def test_arm64_argv_boots_its_own_root_with_host_dirs_at_the_same_paths():
    argv = vm.vng_argv(vng="vng", image=Path("/k/vmlinuz-6.12.117+deb12-arm64"), arch=ARM64, accel=Accel.TCG,
                       cpus=2, memory="2G", rwdir=Path("/o/rw"), guest=["env", "/usr/bin/python3.11", "/o/rw/plan.json"],
                       root=Path("/c/userspace/arm64/root-1/tree"), rodirs=(Path("/src"), Path("/c/corpus/arm64/x")))
    assert argv == ["vng", "--verbose", "--force-9p", "--run", "/k/vmlinuz-6.12.117+deb12-arm64", "--cpus", "2",
                    "--memory", "2G", "--arch", "arm64", "--root", "/c/userspace/arm64/root-1/tree",
                    "--rwdir=/o/rw=/o/rw", "--rodir=/src=/src", "--rodir=/c/corpus/arm64/x=/c/corpus/arm64/x",
                    "--name", "bpf-harness", "--disable-kvm", "--exec", "env /usr/bin/python3.11 /o/rw/plan.json"]


def test_the_staged_runner_imports_alone_with_the_stdlib(tmp_path):
    """A foreign-root guest gets the runner in its rwdir (issue 12): those files must be all it imports."""
    import subprocess
    import sys
    staged = vm.stage_runner(tmp_path / "rw" / "runner")
    code = "import harness.guest.runner, sys; print(sorted(m for m in sys.modules if m.startswith('harness')))"
    p = subprocess.run([sys.executable, "-S", "-c", code], env={"PYTHONPATH": str(staged)}, cwd=tmp_path,
                       capture_output=True, text=True, check=True)
    assert p.stdout.strip() == str(sorted(["harness", "harness.guest", "harness.guest.runner", "harness.guest.match",
                                           "harness.guest.protocol",
                                           "harness.parse", "harness.parse.veristat"]))


def test_a_read_only_mount_that_would_hide_the_rwdir_is_refused(tmp_path):
    import pytest
    from harness.errors import InfraError
    checkout = tmp_path / "checkout"
    rw = checkout / "bpf-harness-out" / "runs" / "run-1" / "6.12.115_arm64" / "rw"
    rw.mkdir(parents=True)
    vm.check_mounts(rw, (tmp_path / "cache" / "corpus",))
    with pytest.raises(InfraError, match="lies inside .*checkout, which the guest gets read-only"):
        vm.check_mounts(rw, (checkout,))


def test_cpu_has_kvm_is_the_flag_half_a_remote_host_is_judged_by():
    """A remote host's /dev/kvm cannot be opened from here: its CPU flags are read the same way as ours."""
    from harness.arch import ARM64, X86_64
    assert vm.cpu_has_kvm(X86_64, "flags\t\t: fpu vme vmx sse2\n") == (True, "cpu has vmx")
    assert vm.cpu_has_kvm(X86_64, "flags\t\t: fpu vme sse2\n") == (False, "no vmx/svm cpu flag")
    assert vm.cpu_has_kvm(ARM64, "Features\t: fp asimd\n")[0] is False
