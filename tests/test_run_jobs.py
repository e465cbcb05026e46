"""How many guests ``bpf-harness run`` starts here when ``--jobs`` is not given, and what it logs."""

import logging

from harness.cli import _setup_logging
from harness.engine import fit_jobs, mem_available


def test_one_vcpu_per_core_and_the_guests_memory_within_what_is_available():
    gib = 1 << 30
    assert fit_jobs(2, 22 * gib, 2, "2G") == 1    # this machine, the nightly's 2-vCPU guests
    assert fit_jobs(2, 22 * gib, 1, "2G") == 2    # 1-vCPU guests: one per core
    assert fit_jobs(16, 22 * gib, 2, "2G") == 8
    assert fit_jobs(16, 5 * gib, 1, "2G") == 2    # memory bounds it
    assert fit_jobs(64, 22 * gib, 1, "1536M") == 14
    assert fit_jobs(1, 0, 2, "2G") == 1           # never fewer than one


def test_mem_available_reads_meminfo_and_is_0_when_it_cannot(tmp_path):
    # recorded from this machine's /proc/meminfo (first lines)
    (tmp_path / "meminfo").write_text("MemTotal:       24585916 kB\nMemFree:        19234900 kB\n"
                                      "MemAvailable:   23121168 kB\nBuffers:          114524 kB\n")
    assert mem_available(tmp_path / "meminfo") == 23121168 * 1024
    (tmp_path / "broken").write_text("MemAvailable: lots\n")
    assert mem_available(tmp_path / "broken") == 0
    assert mem_available(tmp_path / "missing") == 0


def test_paramiko_connection_chatter_is_not_on_the_users_terminal():
    _setup_logging(False)
    assert not logging.getLogger("paramiko.transport").isEnabledFor(logging.INFO)
    assert logging.getLogger("paramiko.transport").isEnabledFor(logging.WARNING)
