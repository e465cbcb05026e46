"""A corpus of BPF objects from outside the kernel tree, on real kernels: a small application's programs
compiled with clang-19 here, as a ``.bpf.o`` and embedded in a program through a real libbpf skeleton
(``bpftool gen skeleton``, compiled with gcc).  Programs without test tags must verify: the one that
dereferences a map value without a NULL check is rejected by the verifier with its real error and is
unexpected; the skeleton's copy gives the same results as the file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from integration.conftest import ROOT

pytestmark = [pytest.mark.integration]
CLI = str(Path(sys.executable).parent / "bpf-harness")

APP_BPF = r"""
// SPDX-License-Identifier: GPL-2.0
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("xdp")
int count_packets(struct xdp_md *ctx)
{
	__u32 key = ctx->ingress_ifindex & 3;
	__u64 *v = bpf_map_lookup_elem(&counts, &key);

	if (v)
		__sync_fetch_and_add(v, 1);
	return XDP_PASS;
}

SEC("xdp")
int read_past_lookup(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&counts, &key);

	return *v ? XDP_PASS : XDP_DROP;	/* no NULL check */
}

char LICENSE[] SEC("license") = "GPL";
"""
APP_C = r"""
#include <stdio.h>
#include "app.skel.h"

int main(void)
{
	size_t sz;
	const unsigned char *obj = app__elf_bytes(&sz);	/* what libbpf's skeleton opens */

	printf("%zu bytes, %.3s\n", sz, obj + 1);
	return 0;
}
"""


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *argv], capture_output=True, text=True, cwd=ROOT, timeout=2400)


def test_out_of_tree_objects_and_a_skeleton_verify_on_real_kernels(tmp_path, tools):
    # the 6.12.117 selftests build gives bpftool and libbpf's headers (a one-object corpus builds them)
    (tmp_path / "base.yaml").write_text(
        "debian: {suites: [bookworm-security]}\ncorpora: {c: {source: 6.12.117, include: [verifier_and]}}\n"
        "branches: {b: {corpus: c, kernels: [{uml: 6.12.113}]}}\narches: [x86_64]\n")
    p = run("run", "-m", str(tmp_path / "base.yaml"), "--db", str(tmp_path / "base.db"))
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    with __import__("sqlite3").connect(tmp_path / "base.db") as c:
        build_dir = Path(c.execute("SELECT build_dir FROM corpora").fetchone()[0])
    selftests = build_dir / "src" / "tools" / "testing" / "selftests" / "bpf"
    bpftool, include = selftests / "tools" / "sbin" / "bpftool", selftests / "tools" / "include"
    assert bpftool.exists(), "the selftests build made no bpftool"
    (tmp_path / "app.bpf.c").write_text(APP_BPF)
    (tmp_path / "app.c").write_text(APP_C)
    env = {**os.environ, "PATH": "/usr/lib/llvm-19/bin:" + os.environ["PATH"]}
    subprocess.run(["clang", "-target", "bpf", "-O2", "-g", f"-I{include}", "-I/usr/include/x86_64-linux-gnu", "-c",
                    "app.bpf.c", "-o", "app.bpf.o"], cwd=tmp_path, check=True, env=env)
    skel = subprocess.run([str(bpftool), "gen", "skeleton", "app.bpf.o", "name", "app"], cwd=tmp_path, check=True,
                          capture_output=True, text=True).stdout
    (tmp_path / "app.skel.h").write_text(skel)
    subprocess.run(["gcc", "-O1", f"-I{include}", "-o", "app", "app.c"], cwd=tmp_path, check=True)
    assert subprocess.run([str(tmp_path / "app")], capture_output=True, text=True).stdout.endswith("ELF\n")
    (tmp_path / "objs").mkdir()
    shutil.copy(tmp_path / "app.bpf.o", tmp_path / "objs" / "app.bpf.o")
    (tmp_path / "m.yaml").write_text(
        "debian: {suites: [bookworm-security]}\n"
        "corpora: {app: {source: 6.12.117, objects: [app, 'objs/*.bpf.o']}}\n"
        "branches: {b: {corpus: app, kernels: [{uml: 6.12.113}, 6.12.117]}}\narches: [x86_64]\n"
        "vm: {cpus: 2, log_diffs: 0}\n")
    p = run("run", "-m", str(tmp_path / "m.yaml"), "--db", str(tmp_path / "r.db"), "--report", str(tmp_path / "rep"))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    r = run("results", "--db", str(tmp_path / "r.db"), "--limit", "0")
    for cell in ("6.12.117/x86_64", "6.12.113-uml/x86_64"):
        line = next(ln for ln in r.stdout.splitlines() if ln.startswith(cell + " "))
        assert line.split()[5:8] == ["4", "2", "2"], line  # programs, verified, rejected
    for obj in ("app", "app-skel"):
        assert f"{obj}/read_past_lookup  verifier  R0 invalid mem access 'map_value_or_null'" in r.stdout
    kcidb = json.loads(run("report", "--db", str(tmp_path / "r.db"), "-m", str(tmp_path / "m.yaml"), "--format",
                           "kcidb", "-o", str(tmp_path / "k.json")).stdout and (tmp_path / "k.json").read_text())
    st = {t["comment"]: t["status"] for t in kcidb["tests"] if t["build_id"].endswith(":vm")}
    assert st == {"app/count_packets": "PASS", "app/read_past_lookup": "FAIL", "app-skel/count_packets": "PASS",
                  "app-skel/read_past_lookup": "FAIL"}
