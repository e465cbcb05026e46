"""The remote pieces that need no SSH server: the plan's path rewrite and where cells go."""

import threading
from pathlib import Path

import pytest

from harness import backends, vm
from harness.matrix import Accel, Host
from harness.remote import remote_plan
from harness.remote.slots import HostInfo, Slots


def test_remote_plan_rewrites_every_host_path_and_nothing_else():
    plan = {"veristat": "/c/src/veristat", "kconfig": "/k/root/boot/config-6.12", "workers": 2,
            "objects": [{"name": "verifier_and", "path": "/c/src/verifier_and.bpf.o", "programs": ["a", "b"],
                         "no_tail": ["b"]}]}
    paths = {"/c/src/veristat": "/r/corpora/x/veristat", "/k/root/boot/config-6.12": "/r/kernels/y/k/boot/config-6.12",
             "/c/src/verifier_and.bpf.o": "/r/corpora/x/objects/verifier_and.bpf.o"}
    out = remote_plan(plan, paths, "/r/runs/z/rw")
    assert out == {"veristat": "/r/corpora/x/veristat", "kconfig": "/r/kernels/y/k/boot/config-6.12", "workers": 2,
                   "objects": [{"name": "verifier_and", "path": "/r/corpora/x/objects/verifier_and.bpf.o",
                                "programs": ["a", "b"], "no_tail": ["b"]}]}
    assert plan["veristat"] == "/c/src/veristat"  # the local plan is left alone
    with pytest.raises(KeyError):  # a path without a remote copy is a bug, never passed through
        remote_plan({**plan, "veristat": "/elsewhere/veristat"}, paths, "/r")


def host(name: str, arches=("x86_64",), jobs=1) -> Host:
    return Host(name, "ci", f"{name}.example", 22, tuple(arches), Path("/k"), jobs=jobs)


def test_a_kvm_host_first_then_here_then_a_tcg_host_and_arches_are_respected():
    kvm, tcg, arm = host("kvm"), host("tcg"), host("arm", ("arm64",))
    s = Slots(1, (kvm, tcg, arm), message=lambda text: None)
    s.info["kvm"] = HostInfo(vm.AccelChoice(Accel.KVM, "vmx"), {})
    s.info["tcg"] = HostInfo(vm.AccelChoice(Accel.TCG, "no vmx"), {})
    s.info["arm"] = HostInfo(vm.AccelChoice(Accel.KVM, "arm64 host"), {})
    go = threading.Event()
    order = [s.acquire("x86_64", backends.VM, go).name for _ in range(3)]
    assert order == ["kvm", "local", "tcg"]
    assert s.acquire("arm64", backends.VM, go).name == "arm"
    assert s.total == 4


def test_uml_cells_stay_here_and_a_dropped_host_gets_no_more_cells():
    lab = host("lab")
    said = []
    s = Slots(1, (lab,), message=said.append)
    go = threading.Event()
    first = s.acquire("x86_64", backends.UML, go)
    assert first.name == "local"
    s.release(first)
    s.drop(lab, "connection to host lab lost while the guest ran (EOFError)")
    assert said == ["host lab left out of this run: connection to host lab lost while the guest ran (EOFError)"]
    assert s.acquire("x86_64", backends.VM, go).name == "local"
    stop = threading.Event()
    stop.set()
    with pytest.raises(KeyboardInterrupt):  # nothing free, and the run is interrupted
        s.acquire("x86_64", backends.VM, stop)
