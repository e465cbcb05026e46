"""The UML backend's pure parts: build recipe, config check, boot command line, init script."""

from pathlib import Path

from harness.kernels import uml


def test_boot_argv_uses_the_host_root_and_console_on_stdout():
    assert uml.boot_argv(Path("/c/uml/linux"), "2G", Path("/o/rw/init.sh")) == [
        "/c/uml/linux", "mem=2G", "root=/dev/root", "rootfstype=hostfs", "rootflags=/", "rw",
        "init=/o/rw/init.sh", "con=null", "con0=null,fd:1", "panic=-1", "printk.time=1"]


def test_init_script_mounts_runs_the_runner_and_powers_off():
    text = uml.init_script(["env", "PYTHONPATH=/src dir", "/usr/bin/python3", "-S", "-m", "harness.guest.runner",
                            "/o/rw/plan.json"])
    lines = text.splitlines()
    assert lines[0] == "#!/bin/sh" and "mount -t bpf bpf /sys/fs/bpf 2>/dev/null" in lines
    assert "env 'PYTHONPATH=/src dir' /usr/bin/python3 -S -m harness.guest.runner /o/rw/plan.json" in lines
    assert lines.index("echo o > /proc/sysrq-trigger") > lines.index("ulimit -l unlimited")


def test_fragment_options_dropped_by_olddefconfig_are_named():
    fragment = "# why\nCONFIG_BPF_SYSCALL=y\nCONFIG_NET_ACT_BPF=y\n"
    config = "CONFIG_BPF_SYSCALL=y\n# CONFIG_NET_ACT_BPF is not set\n"
    assert uml.missing_options(config, fragment) == ["CONFIG_NET_ACT_BPF=y"]
    assert uml.missing_options(config + "CONFIG_NET_ACT_BPF=y\n", fragment) == []


def test_the_shipped_fragment_and_patches_explain_themselves():
    assert uml.FRAGMENT.read_text().startswith("# bpf-harness: UML kernel")
    patches = sorted(uml.PATCHES.glob("*/*.patch"))
    assert patches and all(p.read_text().startswith("Reason: ") for p in patches)


def test_each_kernel_series_gets_its_own_fitted_patches(tmp_path, monkeypatch):
    """Patches are kept per kernel series: a version takes the newest series at or below it, the oldest when it
    is older than all (its patches then say in one line that they do not apply), the newest when unknown.  The
    6.12 recipe key is the one its cached kernels carry."""
    from harness.arch import X86_64
    from harness.backends import UML
    from harness.version import KernelVersion as V
    assert [s for s, _ in uml.series_dirs()] == [(6, 1), (6, 12), (7, 3)]
    assert [p.name for p in uml.patches_for(V.parse("6.1.192"))] == [p.name for p in uml.patches_for(V.parse("6.12.1"))]
    # 7.3 has upstream what 0001 (unaligned access), 0004 (the host's xstate size) and 0006 (syscall tracepoints) add
    assert [p.name[:4] for p in uml.patches_for(V.parse("7.3.4"))] == ["0002", "0003", "0005", "0007"]
    assert UML.recipe(X86_64, V.parse("6.12.117")).key("gcc 12") == UML.recipe(X86_64, V.parse("6.12.1")).key("gcc 12") \
        == "dcdff103a59f"
    assert UML.recipe(X86_64).key("gcc 12") == UML.recipe(X86_64, V.parse("7.3.4")).key("gcc 12")  # unknown: newest
    for series in ("6.1", "6.12", "not-a-series"):
        (tmp_path / series).mkdir()
        (tmp_path / series / f"0001-{series}.patch").write_text("Reason: test\n")
    monkeypatch.setattr(uml, "PATCHES", tmp_path)
    assert [s for s, _ in uml.series_dirs()] == [(6, 1), (6, 12)]
    chosen = {v: uml.patches_for(V.parse(v) if v else None)[0].parent.name
              for v in ("6.1.192", "6.6.60", "6.12.117", "7.3.4", "5.15.1", None)}
    assert chosen == {"6.1.192": "6.1", "6.6.60": "6.1", "6.12.117": "6.12", "7.3.4": "6.12", "5.15.1": "6.1",
                      None: "6.12"}
    assert UML.recipe(X86_64, V.parse("6.1.192")).key("gcc 12") != UML.recipe(X86_64, V.parse("6.12.1")).key("gcc 12")
