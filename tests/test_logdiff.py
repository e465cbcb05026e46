"""Two kernels' verifier logs of one program, aligned, and where they part: on logs recorded in real guests.

``veristat-7.3.4-v-by-hand-on-KERNEL.txt``: 7.3.4's selftests verified with ``veristat -v`` (level 1)
in guests of Debian 6.12.117 and 7.3.4 (how: ``veristat-7.3.4-recorded.sh``).  The divergences asserted
here were read off those files by hand: 7.x tracks the ranges of ``%=`` and of byte swaps, 6.12 does not.

``log-l2-6.1.19x-test_global_func16.txt``: the level-2 logs ``bpf-harness logdiff 6.1.190 6.1.192
test_global_func16/global_func16`` fetched and stored (2026-12-03; TCG guests of Debian 6.1.190-1 and
6.1.192-3, 6.1.192's selftests built with clang 19.1.7): 6.1.190 rejects the call of the global
subprogram with an uninitialized stack buffer, 6.1.192 (a backported fix) accepts it.
"""

from pathlib import Path

from harness.parse.verifier_steps import norm_state, slots, steps
from harness.report.html import logdiff_page
from harness.triage import ProgramLogs, diff_logs, render_text

DATA = Path(__file__).parent / "data"


def section(name: str, program: str) -> str:
    """One program's part of a by-hand recording (``=== object/program`` headers)."""
    out, inside = [], False
    for line in (DATA / name).read_text().splitlines():
        if line.startswith("=== "):
            inside = line[4:].strip() == program
        elif inside:
            out.append(line)
    assert out, program
    return "\n".join(out)


def logs(program: str) -> tuple[str, str]:
    return (section("veristat-7.3.4-v-by-hand-on-6.12.117.txt", program),
            section("veristat-7.3.4-v-by-hand-on-7.3.4.txt", program))


def test_the_walk_of_a_level_2_log_skips_backtracking_and_keeps_states():
    text = (DATA / "veristat-v-l2-r-6.12.117-spill_fill.txt").read_text().splitlines()
    walk = steps(text)
    assert [s.idx for s in walk] == [0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                     23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38]
    s8 = next(s for s in walk if s.idx == 8)
    assert s8.insn == "(73) *(u8 *)(r1 +0) = r2"
    assert s8.before == "R1_w=map_value(map=.data.single_by,ks=4,vs=1) R2_w=0"  # the "8: R1_w=..." line
    assert s8.state == "R1_w=map_value(map=.data.single_by,ks=4,vs=1) R2_w=0"
    assert walk[0].key == (0, "(18) r6 = 0x…")  # a map address: differs between boots
    assert walk[-1].insn == "(95) exit" and walk[-1].notes == ()  # stats and veristat's table are not the walk
    assert slots("R2_w=0 R10=fp0 fp-8_w=0") == {"R2": "0", "R10": "fp0", "fp-8": "0"}
    assert slots("R1=scalar(smin=0,var_off=(0x0; 0xffffffff)) R9_w=1")["R1"] == "scalar(smin=0,var_off=(0x0; 0xffffffff))"
    assert norm_state("R0_w=map_value(id=1,map=map_hash_48b,ks=8,vs=48)") == "R0=map_value(map=map_hash_48b,ks=8,vs=48)"


def test_invalid_range_check_parts_at_the_modulo_7_x_bounds_and_6_12_does_not():
    a, b = logs("verifier_and/invalid_range_check")
    d = diff_logs(a, b, "6.12.117", "7.3.4")
    assert d.divergence.kind == "state" and d.divergence.idx == 10
    x, y = d.rows[d.divergence.row]
    assert x.insn == y.insn == "(94) w1 %= 2"
    # checked against the recorded logs: these are the two kernels' own lines
    assert "10: (94) w1 %= 2                      ; R1_w=scalar()" in a.splitlines()
    assert ("10: (94) w1 %= 2                      ; R1=scalar(smin=smin32=0,smax=umax=smax32=umax32=1,"
            "var_off=(0x0; 0x1))") in b.splitlines()
    assert d.divergence.what == ("after 10: (94) w1 %= 2: R1 is scalar() on 6.12.117, "
                                 "scalar(smin=smin32=0,smax=umax=smax32=umax32=1,var_off=(0x0; 0x1)) on 7.3.4")
    # instructions 0-9 agree although 6.12 prints liveness marks, the map address differs and 7.x keeps id=1
    assert all(r[0].key == r[1].key for r in d.rows[:d.divergence.row])
    text = render_text(d, context=1)
    assert ">> 10: (94) w1 %= 2" in text
    assert text.splitlines()[0].startswith("first divergence (state): after 10: (94) w1 %= 2")
    # the rejection's error line stays with the instruction it was printed after, on both sides
    assert d.rows[-1][0].notes[:2] == ("invalid access to map value, value_size=48 off=268435456 size=4",
                                       "R0 max value is outside of the allowed memory range")


def test_bswap_reset_reg_id_parts_at_the_byte_swap():
    d = diff_logs(*logs("verifier_bswap/bswap_reset_reg_id"), "6.12.117", "7.3.4")
    assert (d.divergence.kind, d.divergence.idx) == ("state", 2)
    assert d.rows[d.divergence.row][0].insn == "(dc) r0 = be16 r0"


def test_a_program_both_kernels_walk_alike_has_no_divergence():
    d = diff_logs(*logs("verifier_stack_ptr/load_bad_alignment_on_off"), "6.12.117", "7.3.4")
    assert d.divergence.kind == "none" and d.divergence.row is None
    # and invalid_and_of_negative_number: 6.12 prints R1 after insn 11 too, 7.x only R0; R0 agrees
    d = diff_logs(*logs("verifier_and/invalid_and_of_negative_number"), "6.12.117", "7.3.4")
    assert d.divergence.kind == "none"


def test_a_verdict_flip_is_an_end_divergence_at_the_rejected_call():
    a = (DATA / "log-l2-6.1.190-test_global_func16.txt").read_text()
    b = (DATA / "log-l2-6.1.192-test_global_func16.txt").read_text()
    d = diff_logs(a, b, "6.1.190", "6.1.192")
    assert d.divergence.kind == "end" and d.divergence.idx == 3
    assert d.divergence.what == ("6.1.190 stops after 2: (85) call pc+5: Caller passes invalid args into func#1; "
                                 "6.1.192 goes on at 3: (bc) w1 = w0")
    # checked against the logs: 6.1.190's walk ends at the call with its error, 6.1.192's goes on at 3
    assert a.split("2: (85) call pc+5\n")[1].startswith("invalid indirect read from stack R1 off -40+0 size 40\n"
                                                         "Caller passes invalid args into func#1\n")
    assert "\n3: (bc) w1 = w0 " in b and "\n3: (bc)" not in a
    # the global subprogram (validated first, insns 8-11, with a popped branch) is the same on both
    rows = d.rows[:d.divergence.row]
    assert [r[0].idx for r in rows] == [8, 9, 10, 11, 11, 0, 1, 2] and all(r[0].key == r[1].key for r in rows)
    assert rows[4][0].branch == "from 9 to 11" and rows[4][0].before == "R0_w=0 R1=0 R10=fp0"


def test_the_html_page_highlights_the_divergence_row_with_both_states():
    a, b = logs("verifier_and/invalid_range_check")
    d = diff_logs(a, b, "6.12.117", "7.3.4")
    page = logdiff_page([ProgramLogs(("verifier_and", "invalid_range_check"), d, ("failure", "failure"))])
    row = page.split('<tr class="diverge" id="verifier_and/invalid_range_check/diverge" data-idx="10">')[1].split("</tr>")[0]
    assert "<code>10: (94) w1 %= 2</code>" in row and "<td>R1_w=scalar()</td>" in row
    assert "R1=scalar(smin=smin32=0,smax=umax=smax32=umax32=1,var_off=(0x0; 0x1))" in row
    assert "<script" not in page and "http" not in page  # one offline file
