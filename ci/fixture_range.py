#!/usr/bin/env python3
"""Write tests/data/fixture-6.12.115-range: the BPF changes of the 6.12.114 stable update as 32
commits over Debian's 6.12.113 source, for benchmarking a whole bisection (issue 13).

Source of truth, all offline-reproducible:
  - the diff: Debian's ``linux-source-6.12`` 6.12.113-1~deb12u1 against 6.12.115-2~deb12u1, restricted
    to the files of ``git.BPF_PATHS`` the update touched (plus the one selftest hunk that the real
    exception-exit fix carries);
  - the subjects and CVE ids: Debian's ``linux 6.12.115-1`` changelog (which carries 6.12.114 and
    6.12.115; every BPF entry is 6.12.114's), in its order (its BPF lines are recorded next to the
    patches, ``changelog-6.12.115-1-bpf.txt``);
  - which hunk belongs to which subject: read from the hunks' content (``GROUPS`` below, checked by
    this script: every hunk used exactly once, the series applies on 6.12.113 and its tip equals
    6.12.115 on every file it touches).

Where one diff hunk carries two changes, the hunk goes with the first in changelog order and the
commit message says so.  Commits whose files are outside the BPF paths (sock storage, conntrack,
net/core/dev.c) are left out, as a bisection over the BPF paths would skip them.

Usage: .venv/bin/python ci/fixture_range.py [--out DIR]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import cache  # noqa: E402
from harness.arch import get_arch  # noqa: E402
from harness.kernels.built import debsrc, git  # noqa: E402
from harness.kernels import debian  # noqa: E402
from harness.kernels.apt import Apt  # noqa: E402
from harness.matrix import DebianSettings  # noqa: E402
from harness.version import KernelVersion  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "fixture-6.12.115-range"
OLD = ROOT / "tests" / "data" / "fixture-6.12.113-bpf"
V = "kernel/bpf/verifier.c"
S = "kernel/bpf/stackmap.c"
SELFTEST = "tools/testing/selftests/bpf/progs/exceptions_fail.c"

# (subject, CVE or "", {file: [hunk numbers, 0-based in the file's diff]}, note)
GROUPS: list[tuple[str, str, dict[str, list[int]], str]] = [
    ("bpf: Mark bpf_refcount field as unique", "CVE-2026-100074", {"kernel/bpf/btf.c": [0]}, ""),
    ("bpf: Fix exception exit lock checking for subprogs", "CVE-2026-31526", {V: [38], SELFTEST: [0, 1, 2]}, ""),
    ("bpf: Factor out atomic_ptr_type_ok()", "", {V: [8, 13]}, ""),
    ("bpf: Factor out check_atomic_rmw(), check_load_mem() and check_store_reg()", "CVE-2026-90177",
     {V: [12, 14, 36, 37]},
     "Three changelog entries in one commit: \"bpf: Factor out check_atomic_rmw()\", \"bpf: Factor out\n"
     "check_load_mem() and check_store_reg()\" and the save_aux_ptr_type() line of \"bpf: Check pointer\n"
     "type for all atomic RMW paths\" (CVE-2026-90177) share their diff hunks."),
    ("bpf: Fix incorrect pruning due to atomic fetch precision tracking", "", {V: [1, 3]},
     "The is_cmpxchg_insn() part of \"bpf: zero extend the result of an arena 32-bit cmpxchg\"\n"
     "(CVE-2026-98049) shares a diff hunk with is_atomic_fetch_insn() and comes with it."),
    ("bpf: Fix tcx/netkit detach permissions when prog fd isn't given", "",
     {"kernel/bpf/syscall.c": [1, 2], "include/linux/bpf.h": [3], "include/linux/bpf_mprog.h": [0]}, ""),
    ("bpf: Reject sleepable BPF_LSM_CGROUP programs at load time", "", {V: [41]}, ""),
    ("bpf: Check sk_state before sk_protocol in bpf_tcp_*_syncookie", "", {"net/core/filter.c": [0, 1]}, ""),
    ("bpf: Compare iterator types during state pruning", "CVE-2026-90217", {V: [35]}, ""),
    ("bpf: Fix mmap_lock leak in irq_work path", "CVE-2026-90247",
     {S: [0, 1], "kernel/bpf/mmap_unlock_work.h": [0, 1], "kernel/bpf/task_iter.c": [0, 1, 2]}, ""),
    ("bpf: Clear buf on error in __bpf_get_task_stack", "CVE-2026-90300", {S: list(range(2, 12))},
     "With the three commits before it in the changelog, whose hunks interleave with it in\n"
     "kernel/bpf/stackmap.c: \"bpf: Factor callchain_store function from __bpf_get_stack\", \"bpf: Factor\n"
     "callchain_finalize function from __bpf_get_stack\", \"bpf: Remove trace_in argument from\n"
     "__bpf_get_stack\"."),
    ("bpf: Reject >8 byte return values on return-reading trampoline paths", "",
     {V: [39, 40], "kernel/bpf/bpf_struct_ops.c": [0]}, ""),
    ("bpf: Fix WARNING in bpf_tracing_link_release", "CVE-2026-92485",
     {V: [42], "kernel/bpf/trampoline.c": [0], "include/linux/bpf.h": [0, 1]}, ""),
    ("bpf: Zero queue and stack outputs on lock failure", "CVE-2026-92520",
     {"kernel/bpf/queue_stack_maps.c": [0, 1]}, ""),
    ("bpf: Reject rdonly/rdwr_buf_size kfunc arguments that exceed u32 max", "", {V: [25]}, ""),
    ("bpf: Reject writes through untrusted BTF pointers", "CVE-2026-93144", {V: [10, 11]}, ""),
    ("bpf: Reject MEM_ALLOC BTF accesses past object bounds", "CVE-2026-93148",
     {V: [6, 15, 23, 24], "kernel/bpf/btf.c": [2, 3, 4, 5, 6], "include/linux/bpf.h": [2]}, ""),
    ("bpf: mark a NULL call argument precise", "CVE-2026-98019", {V: [16, 22]},
     "The check_helper_call() hunk (bpf_get_local_storage()'s flags marked precise) is attributed\n"
     "here by its content alone: no changelog entry names it."),
    ("bpf: Preserve inner map identity in callback frames", "CVE-2026-98033", {V: [17, 18, 19]}, ""),
    ("bpf: Mark NULL kptr stores precise", "CVE-2026-98034", {V: [7]}, ""),
    ("bpf: Keep refcount_acquire nullable for borrowed RCU kptrs", "", {V: [26]}, ""),
    ("bpf: Don't infer non-NULL from a pointer with an unbounded offset", "", {V: [0]},
     "The PTR_TO_XDP_SOCK/PTR_TO_BUF lines of \"bpf: check_cond_jmp_op(): properly infer if register\n"
     "is null\" share this diff hunk of reg_not_null() and come with it."),
    ("bpf: Reject legacy packet loads from callbacks", "CVE-2026-98044", {V: [9, 29, 30]}, ""),
    ("bpf: Check ancestor frames for rbtree callbacks", "CVE-2026-98047", {V: [20, 21]}, ""),
    ("bpf: don't rewrite bpf_fastcall patterns entered by a jump", "",
     {V: [2, 31, 32, 33, 34], "include/linux/bpf_verifier.h": [0]}, ""),
    ("bpf: Mark syscall helpers as sleepable", "CVE-2026-98058", {"kernel/bpf/syscall.c": [3, 4]}, ""),
    ("bpf: Mark signal tracepoint siginfo arguments as scalar", "CVE-2026-98062", {"kernel/bpf/btf.c": [1]}, ""),
    ("bpf: backtracking shouldn't clear outer frame R1-R5 for callbacks", "", {V: [4]}, ""),
    ("bpf: backtrack_insn(): Handle ld_{abs,ind} subprog exit edge", "", {V: [5]}, ""),
    ("bpf: check_cond_jmp_op(): properly infer if register is null", "", {V: [27, 28]}, ""),
    ("bpf: Remove migrate_{disable|enable} in bpf_obj_free_fields()", "",
     {"kernel/bpf/syscall.c": [0], "kernel/bpf/helpers.c": [0]}, ""),
    ("bpf: Clear rb node linkage when freeing bpf_rb_root", "CVE-2026-74344", {"kernel/bpf/helpers.c": [1, 2]}, ""),
]
FILES = sorted({f for _, _, files, _ in GROUPS for f in files})
BASE, TIP = KernelVersion(6, 12, 113), KernelVersion(6, 12, 115)


def hunks(diff: str) -> list[str]:
    """The hunks of a one-file unified diff, each from its ``@@`` line (pure)."""
    parts = re.split(r"(?m)^(?=@@ )", diff)
    return parts[1:]


def show(tree: Path, rev: str, name: str) -> str:
    return subprocess.run(["git", "-C", str(tree), "show", f"{rev}:{name}"], capture_output=True, text=True,
                          check=True).stdout


def file_diff(old: Path, new: Path, name: str) -> str:
    res = subprocess.run(["diff", "-U3", "--label", f"a/{name}", "--label", f"b/{name}", str(old), str(new)],
                         capture_output=True, text=True)
    if res.returncode not in (0, 1):
        raise SystemExit(f"diff {name}: {res.stderr.strip()}")
    return res.stdout


def message(n: int, subject: str, cve: str, files: dict[str, list[int]], note: str) -> str:
    old = {p.read_text().split("\nSubject: [PATCH] ", 1)[1].split("\n", 1)[0]: p for p in OLD.glob("0*.patch")}
    if subject in old:  # the four commits of the small fixture keep their messages (one is a real review mail)
        head, _, _ = old[subject].read_text().partition("\n---\n")
        return head + "\n---\n"
    cve_line = f"({cve})\n\n" if cve else ""
    body = (f"Subject{' and CVE id' if cve else ''} from Debian's linux 6.12.115-1 changelog (the 6.12.114 stable "
            f"update).\nDiff: this change's hunks of {', '.join(files)} in the difference between\n"
            f"linux-source-6.12 6.12.113-1~deb12u1 and 6.12.115-2~deb12u1, attributed by their content.\n")
    return (f"From: bpf-harness fixture <fixture@localhost>\nDate: Thu, 1 Oct 2026 00:{n // 60:02d}:{n % 60:02d} "
            f"+0000\nSubject: [PATCH] {subject}\n\n{cve_line}{body}" + (f"\n{note}\n" if note else "") + "---\n")


def slug(subject: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", subject).strip("-")[:60].rstrip("-")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    root = cache.root()
    apt = Apt(root, get_arch("x86_64"), DebianSettings(suites=("bookworm-security",)))
    apt.update()
    tree, base, _ = debsrc.repo(BASE, apt, root)
    _, tarball = debian.fetch_source(TIP, apt, root)
    with tempfile.TemporaryDirectory(prefix="fixture-range-") as tmp:
        t = Path(tmp)
        (t / "old").mkdir()
        (t / "new").mkdir()
        subprocess.run(["tar", "-xf", str(tarball), "-C", str(t / "new"), "--strip-components=1",
                        *(f"linux-source-6.12/{f}" for f in FILES)], check=True)
        split: dict[str, list[str]] = {}
        for f in FILES:
            (t / "old" / f).parent.mkdir(parents=True, exist_ok=True)
            (t / "old" / f).write_text(show(tree, base, f))
            split[f] = hunks(file_diff(t / "old" / f, t / "new" / f, f))
        used = {(f, i) for _, _, files, _ in GROUPS for f, idx in files.items() for i in idx}
        every = {(f, i) for f, hs in split.items() for i in range(len(hs))}
        if used != every or sum(len(idx) for _, _, files, _ in GROUPS for idx in files.values()) != len(every):
            raise SystemExit(f"hunks not used exactly once: missing {sorted(every - used)}, "
                             f"unknown {sorted(used - every)}")
        args.out.mkdir(parents=True, exist_ok=True)
        for old in args.out.glob("*.patch"):
            old.unlink()
        names = []
        for n, (subject, cve, files, note) in enumerate(GROUPS, 1):
            body = "".join(f"--- a/{f}\n+++ b/{f}\n" + "".join(split[f][i] for i in idx) for f, idx in files.items())
            name = f"{n:04d}-{slug(subject)}.patch"
            (args.out / name).write_text(message(n, subject, cve, files, note) + body)
            names.append(name)
        (args.out / "series").write_text("\n".join(names) + "\n")
        head = git.commit_patches(tree, base, [args.out / n for n in names], "fixture-range")
        for f in FILES:
            if show(tree, head, f) != (t / "new" / f).read_text():
                raise SystemExit(f"the series' tip differs from 6.12.115 in {f}")
    print(f"{len(names)} commits in {args.out}; tip {head[:12]} equals 6.12.115 on {len(FILES)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
