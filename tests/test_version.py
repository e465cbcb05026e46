import shutil
import subprocess

import pytest

from harness.version import KernelVersion, debian_version_cmp, nearest, upstream_of_debian


def test_kernel_version_order_and_text():
    vs = [KernelVersion.parse(s) for s in ["6.12.117", "6.1.192", "7.4-rc2", "7.4", "6.12.95", "7.4.1", "6.10"]]
    assert [str(v) for v in sorted(vs)] == ["6.1.192", "6.10", "6.12.95", "6.12.117", "7.4-rc2", "7.4", "7.4.1"]
    with pytest.raises(ValueError):
        KernelVersion.parse("6.12.y")


def test_upstream_of_debian_versions():
    assert str(upstream_of_debian("6.12.117-1~deb12u1")) == "6.12.117"
    assert str(upstream_of_debian("6.1.192-2")) == "6.1.192"
    assert str(upstream_of_debian("7.3~rc4-1~exp1")) == "7.3-rc4"
    assert upstream_of_debian("1:1.2.3.4-1") is None
    assert upstream_of_debian("20230101-1") is None


def test_nearest_prefers_same_series():
    avail = [KernelVersion.parse(s) for s in ["6.12.113", "6.12.115", "6.12.117", "6.1.192", "6.6.50"]]
    assert [str(v) for v in nearest(KernelVersion.parse("6.12.116"), avail)] == ["6.12.113", "6.12.115", "6.12.117"]


PAIRS = [("6.1.192-2", "6.1.192-1"), ("6.12.117-1~deb12u1", "6.12.117-1"), ("1.0~rc1-1", "1.0-1"),
         ("2:1.0-1", "1:9.9-9"), ("6.12.115-2~deb12u1", "6.12.117-1~deb12u1"), ("1.0a-1", "1.0-1"),
         ("1.0+b1", "1.0"), ("7.2.1-1", "7.2.1-1"), ("6.1.0", "6.1"), ("1.002-1", "1.2-1")]


@pytest.mark.parametrize("a,b", PAIRS)
def test_debian_compare_matches_dpkg(a, b):
    ours = debian_version_cmp(a, b)
    if shutil.which("dpkg"):
        for op, want in (("lt", ours < 0), ("eq", ours == 0), ("gt", ours > 0)):
            got = subprocess.run(["dpkg", "--compare-versions", a, op, b]).returncode == 0
            assert got == want, (a, op, b)
    assert (ours > 0) == (debian_version_cmp(b, a) < 0)
    # and the order dpkg gives these pairs, without needing dpkg (a compare that returns 0 fails here)
    assert (ours > 0) - (ours < 0) == EXPECTED[(a, b)], (a, b)


EXPECTED = {("6.1.192-2", "6.1.192-1"): 1, ("6.12.117-1~deb12u1", "6.12.117-1"): -1, ("1.0~rc1-1", "1.0-1"): -1,
            ("2:1.0-1", "1:9.9-9"): 1, ("6.12.115-2~deb12u1", "6.12.117-1~deb12u1"): -1, ("1.0a-1", "1.0-1"): 1,
            ("1.0+b1", "1.0"): 1, ("7.2.1-1", "7.2.1-1"): 0, ("6.1.0", "6.1"): 1, ("1.002-1", "1.2-1"): 0}
