"""The guest runner's batching: several objects per veristat, and what happens when one stops early.

veristat is the recorded-output replayer in tests/fakes (real veristat cannot be made to hang on a
chosen program); the recordings are real veristat -v output from a 6.12.117 guest and the host.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.guest.protocol import Plan, PlanError
from harness.guest.runner import Worker, Writer
from harness.parse import veristat
from tests.conftest import FAKES, data, read_lines

GUEST = "veristat-v-l4-6.12.117.txt"
BATCH_CORRUPT = "veristat-v-l4-batch-corrupt-host.txt"


def plan_objects(recording: str, unopenable: dict[str, list[str]] | None = None) -> list[dict]:
    """Objects as a plan lists them, in the recording's order: programs as veristat verifies them."""
    progs: dict[str, list[str]] = dict(unopenable or {})
    for rec in veristat.parse(read_lines(recording)):
        progs.setdefault(rec["object"], []).append(rec["program"])
    order = [veristat.object_name(ln.split()[1].rsplit("/", 1)[0]) if ln.startswith("PROCESSING ")
             else veristat.object_name(ln.split("'")[1]) if ln.startswith("Failed to open") else None
             for ln in read_lines(recording)]
    return [{"name": n, "path": f"/corpus/{n}.bpf.o", "programs": progs[n]}
            for n in dict.fromkeys(o for o in order if o)]


def run(tmp_path: Path, monkeypatch, recording: str, objs: list[dict], level: int = 0, main_log_level: int = 0,
        **env: str) -> tuple[list[dict], list[list[str]]]:
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_VERISTAT_RECORDING", str(data(recording)))
    monkeypatch.setenv("FAKE_VERISTAT_CALLS", str(calls))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    # 4 s, not 1: the fake veristat is a Python script, and on a loaded 2-core machine (a kernel build, VM tests)
    # one of its programs took over a second, which read as a second timeout
    plan = Plan(veristat=str(FAKES / "veristat"), workers=1, objects_per_veristat=len(objs), program_timeout=4,
                objects=objs, deadline_s=600, failure_log_level=level, main_log_level=main_log_level)  # type: ignore[arg-type]
    out = Writer(tmp_path / "results.jsonl")
    Worker(plan, out, tmp_path, 0).verify_objects(objs)
    recs = [json.loads(ln) for ln in (tmp_path / "results.jsonl").read_text().splitlines()]
    return recs, [json.loads(ln) for ln in calls.read_text().splitlines()]


def results(recs: list[dict]) -> dict[tuple[str, str], dict]:
    got = {}
    for r in recs:
        if r["kind"] == "result":
            assert (r["object"], r["program"]) not in got, "one result per program"
            got[(r["object"], r["program"])] = r
    return got


def test_one_veristat_verifies_every_object(tmp_path, monkeypatch):
    objs = plan_objects(GUEST)
    assert len(objs) == 4
    recs, calls = run(tmp_path, monkeypatch, GUEST, objs)
    assert len(calls) == 1
    assert calls[0][-4:] == [o["path"] for o in objs] and "-f" not in calls[0]
    expected = {(r["object"], r["program"]): r["verdict"] for r in veristat.parse(read_lines(GUEST))}
    assert {k: r["verdict"] for k, r in results(recs).items()} == expected


@pytest.mark.parametrize("how,status", [("FAKE_VERISTAT_HANG", "timeout"), ("FAKE_VERISTAT_CRASH", "crash")])
def test_program_that_stops_veristat_is_the_one_recorded(tmp_path, monkeypatch, how, status):
    objs = plan_objects(GUEST)
    assert objs[1]["name"] == "verifier_ref_tracking"
    stuck = ("verifier_ref_tracking", objs[1]["programs"][20])
    recs, calls = run(tmp_path, monkeypatch, GUEST, objs, **{how: "/".join(stuck)})
    got = results(recs)
    assert sum(len(o["programs"]) for o in objs) == len(got)
    assert got[stuck]["status"] == status and got[stuck]["verdict"] is None
    if status == "crash":
        assert got[stuck]["detail"] == "crash:-11"
    assert all(r["status"] == "done" for k, r in got.items() if k != stuck)
    # the rest went on in one more veristat, without the stuck program and without re-running any
    assert len(calls) == 2
    rest = Path(calls[1][calls[1].index("-f") + 1][1:])
    assert calls[1][-3:] == [o["path"] for o in objs[1:]]
    after = objs[1]["programs"][21:]
    assert rest.read_text().splitlines()[:len(after) + 1] == [f"verifier_ref_tracking.bpf.o/{p}" for p in after] + [
        f"verifier_kfunc_prog_types.bpf.o/{objs[2]['programs'][0]}"]


def test_object_that_cannot_be_opened_gets_its_own_reason(tmp_path, monkeypatch):
    objs = plan_objects(BATCH_CORRUPT, {"verifier_corrupt": ["prog"]})
    assert [o["name"] for o in objs] == ["verifier_and", "verifier_corrupt", "verifier_bswap"]
    recs, calls = run(tmp_path, monkeypatch, BATCH_CORRUPT, objs)
    got = results(recs)
    bad = got[("verifier_corrupt", "prog")]
    assert bad["verdict"] == "failure" and bad["log"] == []
    assert any(ln.startswith("Failed to open") for ln in bad["libbpf"])
    assert any("failed to get section names" in ln for ln in bad["libbpf"])
    # libbpf's complaint about the corrupt object is not pinned on the next object's first program
    assert not any("section names" in ln for ln in got[("verifier_bswap", "bswap_16")]["libbpf"])
    assert [got[("verifier_bswap", p)]["verdict"] for p in ("bswap_16", "bswap_32", "bswap_64")] == ["success"] * 3
    # the batch, then the object veristat could not report on, alone
    assert len(calls) == 2 and calls[1][-1] == "/corpus/verifier_corrupt.bpf.o"


def test_second_pass_is_one_veristat_per_log_level(tmp_path, monkeypatch):
    objs = plan_objects(GUEST)
    recs, calls = run(tmp_path, monkeypatch, GUEST, objs, level=2)
    failed = {k for k, r in results(recs).items()
              if r["verdict"] == "failure" and any(ln.startswith("processed ") for ln in r["log"])}
    tails = {(r["object"], r["program"]) for r in recs if r["kind"] == "tail"}
    assert failed and tails == failed
    assert len(calls) == 2 and calls[1][calls[1].index("-l") + 1] == "2"
    listed = Path(calls[1][calls[1].index("-f") + 1][1:]).read_text().splitlines()
    assert len(listed) == len(failed)



def test_a_logs_rerun_verifies_at_its_level_and_keeps_whole_logs(tmp_path, monkeypatch):
    """bpf-harness logdiff's re-run: one veristat at log level 2 (stats asked for too: -l 6), each record with
    its whole log, and no second pass."""
    lines = read_lines("veristat-v-l2-r-6.12.117-spill_fill.txt")
    (obj,) = plan_objects("veristat-v-l2-r-6.12.117-spill_fill.txt")
    recs, calls = run(tmp_path, monkeypatch, "veristat-v-l2-r-6.12.117-spill_fill.txt", [obj], level=1,
                      main_log_level=2)
    assert len(calls) == 1 and calls[0][calls[0].index("-l") + 1] == "6"
    (r,) = results(recs).values()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("PROCESSING ")) + 1
    end = next(i for i, ln in enumerate(lines) if ln.startswith("processed "))
    assert r["log"] == lines[start:end + 1]  # every line of the verifier's log, not its last ones
    assert len(r["log"]) > 150 and not [x for x in recs if x["kind"] == "tail"]


def test_expected_rejections_get_no_second_pass(tmp_path, monkeypatch):
    """failure_tails: unexpected -- the plan lists the rejections the selftest asks for under no_tail; only
    the other rejected programs are verified again for their log tail."""
    objs = plan_objects(GUEST)
    failed = [(r["object"], r["program"]) for r in veristat.parse(read_lines(GUEST))
              if r["verdict"] == "failure" and any(ln.startswith("processed ") for ln in r["log"])]
    assert len(failed) >= 2
    expected = set(failed[1:])
    for o in objs:
        o["no_tail"] = [p for p in o["programs"] if (o["name"], p) in expected]
    recs, calls = run(tmp_path, monkeypatch, GUEST, objs, level=1)
    assert {(r["object"], r["program"]) for r in recs if r["kind"] == "tail"} == {failed[0]}
    listed = Path(calls[1][calls[1].index("-f") + 1][1:]).read_text().splitlines()
    assert listed == [f"{failed[0][0]}.bpf.o/{failed[0][1]}"]
    for o in objs:
        o["no_tail"] = [p for p in o["programs"]]
    (tmp_path / "results.jsonl").unlink()
    (tmp_path / "calls.jsonl").unlink()
    recs, calls = run(tmp_path, monkeypatch, GUEST, objs, level=1)
    assert len(calls) == 1 and not [r for r in recs if r["kind"] == "tail"]

def _check(patterns, options=("-r",), level=1, empty=True) -> dict:
    return {"patterns": list(patterns), "log_level": level, "options": list(options), "empty_if_verified": empty}


def test_a_message_in_the_main_pass_log_is_matched_without_verifying_again(tmp_path, monkeypatch):
    """verifier_and/invalid_range_check is __failure __msg("R0 max value is outside of the allowed memory range")
    in 6.12.117: the message is the verifier's error, already in the level-4 log of the main pass."""
    objs = plan_objects(GUEST)
    and_ = objs[0]
    assert and_["name"] == "verifier_and"
    and_["checks"] = {
        "invalid_range_check": _check(["R0 max value is outside of the allowed memory range"]),
        # a register state is printed at level 2 only: this one must be verified again
        "known_subreg_with_unknown_reg": _check(["{{R[0-9]}}_w=scalar"], level=2, empty=False),
        # -t changes what the verifier explores: never settled from a run without it
        "invalid_and_of_negative_number": _check(["R0 max value is negative"], options=("-r", "-t")),
    }
    recs, calls = run(tmp_path, monkeypatch, GUEST, objs)
    msgs = {r["program"]: r for r in recs if r["kind"] == "msg"}
    assert msgs["invalid_range_check"]["check"] == "matched"
    assert msgs["invalid_range_check"]["detail"] == "1 message(s) in order (in the main pass's log)"
    filters = [json.loads(ln) for ln in (tmp_path / "calls.jsonl.filters").read_text().splitlines()]
    assert len(calls) == 3 and len(filters) == 2  # the main pass, then one veristat per (level, options)
    assert sorted(filters) == [["verifier_and.bpf.o/invalid_and_of_negative_number"],
                               ["verifier_and.bpf.o/known_subreg_with_unknown_reg"]]
    assert {tuple(c[c.index("-l"):c.index("-o")]) for c in calls[1:]} == {("-l", "1", "-r", "-t"), ("-l", "2", "-r")}


def test_found_in_main_log_rules():
    from harness.guest.runner import found_in_main_log
    log = ["0: R1=ctx() R10=fp0", "R0 max value is outside of the allowed memory range", "processed 19 insns"]
    assert found_in_main_log(_check(["R0 max value", "processed"]), log, "failure")
    assert not found_in_main_log(_check(["processed", "R0 max value"]), log, "failure")  # order matters
    assert not found_in_main_log(_check(["R0 max value"], options=("-t",)), log, "failure")
    assert not found_in_main_log(_check(["R0 max value"]), log, "success")  # level 0: a verified program's log is empty
    assert found_in_main_log(_check(["R0 max value"], empty=False, level=2), log, "success")
    assert not found_in_main_log(_check(["allowed memory range\nprocessed"]), log, "failure")  # spans lines


def test_a_resumed_plan_verifies_only_what_has_no_result_and_finishes_the_second_pass(tmp_path, monkeypatch):
    """Issue 28: the resume of a hung guest was tested only through the fake vng, which re-implements the plan's
    skip/done itself.  The real runner, given a resumed plan as the host writes it (cell.plan_for: ``skip``, the
    programs with a result; ``done``, those of them whose second pass had not run): it verifies none of the
    skipped programs again, and gives the done rejections their second pass with the new ones."""
    objs = plan_objects(GUEST)
    (tmp_path / "boot1").mkdir()
    first_boot, _ = run(tmp_path / "boot1", monkeypatch, GUEST, objs, level=2)
    verdicts = results(first_boot)
    ran = {k for k, r in verdicts.items() if r["verdict"] == "failure" and any(ln.startswith("processed ")
                                                                               for ln in r["log"])}
    head = objs[1]  # verifier_ref_tracking: rejections and successes
    skipped = head["programs"][:20]
    # the first boot hung during its second pass: every other rejection's log tail had arrived
    done = {p: ["failure", True] for p in skipped[::2] if (head["name"], p) in ran}
    assert done and len(done) < len(skipped)
    resumed = [dict(o) for o in objs]
    resumed[1] = {**head, "skip": skipped, "done": done}
    (tmp_path / "boot2").mkdir()
    recs, calls = run(tmp_path / "boot2", monkeypatch, GUEST, resumed, level=2)
    got = results(recs)
    assert not any((head["name"], p) in got for p in skipped)  # verified once, in the first boot
    assert set(got) == set(verdicts) - {(head["name"], p) for p in skipped}
    tails = {(r["object"], r["program"]) for r in recs if r["kind"] == "tail"}
    assert {(head["name"], p) for p in done} <= tails  # the second pass the first boot never ran
    assert tails == (ran - {(head["name"], p) for p in skipped}) | {(head["name"], p) for p in done}
    # the main pass's filter (the fake veristat keeps each call's): every program but the skipped ones
    main, second = [json.loads(ln) for ln in (tmp_path / "boot2" / "calls.jsonl.filters").read_text().splitlines()]
    assert [c[c.index("-l") + 1] for c in calls] == ["4", "2"]
    assert sorted(main) == sorted(f"{o}.bpf.o/{p}" for o, p in set(verdicts) - {(head["name"], p) for p in skipped})
    assert {f"{head['name']}.bpf.o/{p}" for p in done} <= set(second)


def test_a_plan_from_another_version_of_the_host_is_refused_naming_the_keys():
    """The wire format is one dataclass on both sides: a host that writes a key this runner does not know, or
    leaves out one it needs, is a version mismatch said in one line, not a KeyError in the guest."""
    good = Plan(veristat="/v", workers=1, objects_per_veristat=1, program_timeout=4, objects=[], deadline_s=60)
    assert Plan.from_json(good.to_json()) == good
    assert "main_log_level" not in good.to_json()  # a logs re-run's key only when it is one
    d = good.to_json()
    d["batch_size"] = 3
    del d["workers"]
    with pytest.raises(PlanError, match=r"unknown: batch_size; missing: workers\): the host and the guest run"):
        Plan.from_json(d)
