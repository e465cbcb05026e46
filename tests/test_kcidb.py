"""KCIDB export (KernelCI's schema v5) from recorded real results, validated with kcidb-io; a document the
schema refuses is refused by the same validation (the check can fail)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
from kcidb_io import schema

from harness.report import kcidb

ROWS = json.loads((Path(__file__).parent / "data" / "backports" / "rows-6.12.117-vs-7.3.4.json").read_text())["cells"]


def cell(cid: int, kernel: str, status: str = "complete") -> dict:
    return {"id": cid, "kernel_id": kernel, "kernel_key": f"{kernel}@{kernel}-1", "release": f"{kernel}+deb",
            "package": f"linux-image-{kernel}", "package_version": f"{kernel}-1", "kernel_source": "debian",
            "arch": "x86_64", "backend": "vm", "status": status, "detail": "", "accel": "tcg",
            "corpus_id": "98856f9b5da4d845", "started": 1764748800.0}


def doc() -> dict:
    rows = {c: {tuple(k.split("/", 1)): v for k, v in ROWS[c]["rows"].items()} for c in ("newer", "reference")}
    cells = [cell(1, "6.12.117"), cell(2, "7.3.4", "infra-error")]
    return kcidb.to_kcidb(cells, {1: rows["newer"], 2: rows["reference"]},
                          {(2, "verifier_direct_packet_access", "pkt_range_clear_after_add"): "regression"})


def test_export_validates_and_maps_outcomes_to_statuses():
    d = doc()
    schema.LATEST.validate(d)
    assert d["version"] == {"major": schema.LATEST.major, "minor": schema.LATEST.minor}
    assert len(d["checkouts"]) == 2 and [b["status"] for b in d["builds"]] == ["PASS", "ERROR"]
    tests = {(t["build_id"].split(":")[1], t["comment"]): t for t in d["tests"]}
    t = tests[("6.12.117@6.12.117-1", "verifier_direct_packet_access/pkt_range_clear_after_add")]
    assert t["status"] == "FAIL" and t["path"] == "bpf.verifier.verifier_direct_packet_access.pkt_range_clear_after_add"
    assert tests[("7.3.4@7.3.4-1", "verifier_direct_packet_access/pkt_range_clear_after_add")]["misc"]["change"] == \
        "regression"
    assert tests[("6.12.117@6.12.117-1", "verifier_liveness_exp/liveness_exponential_complexity")]["status"] == "ERROR"
    assert tests[("7.3.4@7.3.4-1", "verifier_mtu/tc_uninit_mtu")]["status"] == "PASS"


def test_the_validation_can_fail():
    d = copy.deepcopy(doc())
    d["tests"][0]["status"] = "BROKEN"
    with pytest.raises(jsonschema.exceptions.ValidationError):
        schema.LATEST.validate(d)
    d = copy.deepcopy(doc())
    d["tests"][0]["path"] = "a/b"
    with pytest.raises(jsonschema.exceptions.ValidationError):
        schema.LATEST.validate(d)
