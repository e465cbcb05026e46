from harness.parse.console import STALLS, Splat, runner_crash, scan
from conftest import read_lines


def test_clean_boot_has_no_findings():
    assert scan(read_lines("console-6.12.117-ok.txt")) == []


def test_real_panic_console():
    found = scan(read_lines("console-6.12.117-panic.txt"))
    assert [(f.kind, f.lineno) for f in found] == [(Splat.PANIC, 440)]
    assert found[0].line == "[    6.746946] Kernel panic - not syncing: sysrq triggered crash"


def test_patterns_need_a_kernel_timestamp():
    lines = ["WARNING: this is our own output, not the kernel's",
             "[   12.345678] WARNING: CPU: 1 PID: 77 at kernel/bpf/verifier.c:1234 do_check+0x1/0x2",
             "[   13.000000] BUG: KASAN: slab-out-of-bounds in bpf_check+0x10/0x20",
             "[   14.000000] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [veristat:99]",
             "[   15.000000] rcu: INFO: rcu_preempt self-detected stall on CPU",
             "[   16.000000] INFO: task veristat:99 blocked for more than 120 seconds.",
             "[   17.000000] UBSAN: shift-out-of-bounds in kernel/bpf/tnum.c:44:9",
             "[   18.000000] [    T1] kernel BUG at mm/slub.c:100!"]
    assert [(f.kind, f.lineno) for f in scan(lines)] == [
        (Splat.WARNING, 2), (Splat.KASAN, 3), (Splat.SOFT_LOCKUP, 4), (Splat.RCU_STALL, 5),
        (Splat.HUNG_TASK, 6), (Splat.UBSAN, 7), (Splat.BUG, 8)]


def test_real_uml_panic_console():
    """A UML whose FP state the host refused (before patch 0004, on an AMX host), booted with printk.time=1."""
    found = scan(read_lines("console-uml-6.12.117-xstate-panic.txt"))
    assert [(f.kind, f.lineno) for f in found] == [(Splat.PANIC, 80)]
    assert found[0].line == "[    0.090000] Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b"


def test_the_recorded_tcg_lockup_console():
    found = scan(read_lines("console-6.1.190-tcg-soft-lockup.log"))
    first = found[0]
    assert (first.kind, first.lineno) == (Splat.RCU_STALL, 422)
    lockups = [f for f in found if f.kind is Splat.SOFT_LOCKUP]
    assert lockups[0].line == "[   72.666926] watchdog: BUG: soft lockup - CPU#1 stuck for 45s! [kworker/1:1:35]"
    assert all(f.kind in STALLS for f in found)
    assert runner_crash(read_lines("console-6.1.190-tcg-soft-lockup.log")) is None


def test_a_runner_traceback_among_kernel_lines():
    lines = read_lines("console-6.12.115-arm64-runner-crash.txt")
    crash = runner_crash(lines)
    assert crash[-1] == ("OSError: [Errno 30] Read-only file system: "
                         "'/home/user/bpf-harness/bpf-harness-out/runs/run-1/6.12.115_arm64/rw/tmp'")
    assert crash[-3] == 'File "/usr/lib/python3.11/pathlib.py", line 1117, in mkdir'
    assert scan(lines) == []  # a clean power-down: nothing the kernel did wrong
    assert runner_crash(read_lines("console-6.12.117-ok.txt")) is None
    # a traceback cut off by the end of the console (guest killed) is not reported as a crash
    assert runner_crash(lines[:lines.index("Traceback (most recent call last):") + 3]) is None
