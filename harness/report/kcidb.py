"""KernelCI's report schema (KCIDB, v5): checkouts (a kernel's source), builds (that kernel for an arch and
backend), tests (one per program of each cell) (pure).

Status: ``PASS`` when the verifier's verdict is what the selftest expects, ``FAIL`` when not, ``DONE`` (with the
instruction count as the number) for a program that carries no expectation, ``ERROR`` for a timeout or crash,
``MISS`` for a program the cell never reached; a cell that did not complete makes its build ``ERROR``.  A
finding against the previous kernel (regression, fixed, ...) goes in the test's ``misc``.
"""

from __future__ import annotations

import datetime
import re

ORIGIN = "bpf_harness"
SCHEMA = {"major": 5, "minor": 3}


def _id(*parts: object) -> str:
    return f"{ORIGIN}:" + ":".join(str(p) for p in parts)


def _path(obj: str, prog: str) -> str:
    return "bpf.verifier." + ".".join(re.sub(r"[^a-zA-Z0-9_-]", "_", p) for p in (obj, prog))


def _time(t: float | None) -> str | None:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat() if t else None


def status(row: dict) -> str:
    if row["verdict"] in ("timeout", "crash"):
        return "ERROR"
    if row["verdict"] not in ("success", "failure"):
        return "MISS"
    return {"as-expected": "PASS", "unexpected": "FAIL"}.get(row.get("outcome") or "n/a", "DONE")


def to_kcidb(cells: list[dict], results: dict[int, dict], findings: dict[tuple[int, str, str], str]) -> dict:
    """``cells``: stored cells (dicts); ``results``: cell id -> result_map; ``findings``: (new cell id, object,
    program) -> change against the previous kernel."""
    checkouts, builds, tests = {}, [], []
    for c in cells:
        co = _id(c["kernel_key"])
        if co not in checkouts:
            d = {"id": co, "origin": ORIGIN, "valid": True, "tree_name": c.get("package") or c["kernel_id"],
                 "git_commit_name": c.get("release") or c["kernel_id"],
                 "misc": {k: c.get(k) for k in ("kernel_id", "package", "package_version", "kernel_source")
                          if c.get(k)}}
            commit = re.search(r"\b[0-9a-f]{40}\b", c.get("kernel_source") or "")
            if commit:
                d["git_commit_hash"] = commit.group(0)
            checkouts[co] = d
        bid = _id(c["kernel_key"], c["arch"], c["backend"])
        builds.append({"id": bid, "checkout_id": co, "origin": ORIGIN, "architecture": c["arch"],
                       "config_name": c["backend"], "start_time": _time(c.get("started")),
                       "status": "PASS" if c["status"] == "complete" else "ERROR",
                       "misc": {"cell": f"{c['kernel_id']}/{c['arch']}", "cell_status": c["status"],
                                "detail": c.get("detail") or "", "accel": c.get("accel") or "",
                                "corpus_id": c["corpus_id"]}})
        for (obj, prog), r in sorted(results.get(c["id"], {}).items()):
            t = {"id": _id(c["id"], obj, prog), "build_id": bid, "origin": ORIGIN, "path": _path(obj, prog),
                 "status": status(r), "comment": f"{obj}/{prog}",
                 "misc": {"verdict": r["verdict"], "outcome": r.get("outcome") or "n/a"}}
            if r.get("error"):
                t["log_excerpt"] = str(r["error"])[:16000]
                t["misc"]["error"] = r["error"]
            if r.get("insns") is not None:
                t["misc"]["insns"] = r["insns"]
                if t["status"] == "DONE":
                    t["number"] = {"value": float(r["insns"]), "unit": "insns"}
            change = findings.get((c["id"], obj, prog))
            if change:
                t["misc"]["change"] = change
            if r.get("wall_s") is not None:
                t["duration"] = float(r["wall_s"])
            tests.append(t)
    return {"version": dict(SCHEMA), "checkouts": list(checkouts.values()), "builds": builds, "tests": tests}


def from_store(store, matrix, pairs) -> dict:
    cells = []
    for b in matrix.branches:
        for k in b.kernels:
            for a in b.arches:
                row = store.latest_cell(k.id, a)
                if row is not None:
                    cells.append(row.to_dict())
    findings = {(p.new["id"], f.object, f.program): f.change.value for p in pairs if p.kind == "commit"
                for f in p.findings}
    return to_kcidb(cells, {c["id"]: store.result_map(c["id"]) for c in cells}, findings)
