import collections
import csv

from harness.parse import veristat
from conftest import DATA, read_lines

LINES = read_lines("veristat-v-l4-6.12.117.txt")


def final_csv():
    start = next(i for i, ln in enumerate(LINES) if ln.startswith("file_name,prog_name,"))
    rows = list(csv.DictReader(LINES[start:-1]))  # last line is the recording's rc=
    return {(r["file_name"].removesuffix(".bpf.o"), r["prog_name"]): r for r in rows}


def test_stream_matches_veristats_own_csv():
    """Every record parsed from the verbose stream equals veristat's final CSV row."""
    recs = list(veristat.parse(LINES))
    table = final_csv()
    assert len(recs) == len(table) == 80
    for r in recs:
        row = table[(r["object"], r["program"])]
        assert r["verdict"] == row["verdict"]
        assert r["duration_us"] == int(row["duration"])
        assert r["insns"] == int(row["total_insns"])
        assert r["states"] == int(row["total_states"])
        assert r["peak_states"] == int(row["peak_states"])
    assert collections.Counter(r["verdict"] for r in recs) == {"failure": 66, "success": 14}


def test_libbpf_lines_belong_to_the_next_program():
    recs = {r["program"]: r for r in veristat.parse(LINES)}
    assert recs["dummy_prog_42_tc"]["libbpf"][0].startswith("map 'map_prog1_tc': failed to initialize slot [1]")
    assert recs["invalid_range_check"]["libbpf"][0] == \
        "prog 'invalid_range_check': BPF program load failed: Permission denied"
    assert recs["known_subreg_with_unknown_reg"]["libbpf"] == []


def test_incremental_feed_emits_a_block_when_the_next_starts():
    s = veristat.Stream()
    header = next(i for i, ln in enumerate(LINES) if ln.startswith("PROCESSING"))
    out = [s.feed(ln) for ln in LINES[: header + 3]]
    assert all(o is None for o in out)  # first block still open
    nxt = next(i for i in range(header + 1, len(LINES)) if LINES[i].startswith(("PROCESSING", "libbpf")))
    got = [s.feed(ln) for ln in LINES[header + 3: nxt + 1]]
    assert [g["program"] for g in got if g] == ["invalid_and_of_negative_number"]


def test_truncated_stream_keeps_the_last_complete_block():
    """A veristat killed mid-stream: blocks before the cut are all there."""
    cut = [i for i, ln in enumerate(LINES) if ln.startswith("PROCESSING")][10]
    recs = list(veristat.parse(LINES[: cut + 2]))
    assert len(recs) == 11
    assert all("insns" in r for r in recs[:10])
    assert recs[-1]["log"] == [LINES[cut + 1]] and "insns" not in recs[-1]  # cut before its stats line


def test_open_failure_and_garbage():
    s = veristat.Stream()
    for ln in ["Failed to open '/x/bad.bpf.o': -22", "\ufffd\ufffd garbage", ""]:
        assert s.feed(ln) is None
    assert s.close() is None
    assert s.open_failures == ["Failed to open '/x/bad.bpf.o': -22"]


def test_uninitialised_log_buffer_never_reaches_the_log():
    """Real host output of veristat -v without the runner's malloc setting: stale heap bytes."""
    raw = (DATA / "veristat-v-stale-log-buffer-host.txt").read_bytes()
    assert any(b > 0x7F for b in raw)  # the recording really holds garbage (not even UTF-8)
    recs = list(veristat.parse(raw.decode("utf-8", "replace").splitlines()))
    assert len(recs) == 7
    assert any(r.get("log_garbage") for r in recs)
    for r in recs:
        assert all(ln.replace("\t", " ").isprintable() for ln in r["log"])
    pct = next(r for r in recs if r["program"] == "test_percpu1")
    assert pct["log"] == [] and pct["libbpf"][0].startswith("prog 'test_percpu1': failed to find kernel BTF type ID")
