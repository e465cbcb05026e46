#!/usr/bin/env bash
# The test command: install what is needed, lint, then run every test, unit and integration (real kernels
# under qemu), with line and branch coverage of harness/ (the CLI's subprocesses included) and a floor that
# only goes up; the slowest tests are listed.  Extra arguments go to
# pytest.  The cache ($XDG_CACHE_HOME/bpf-harness) keeps kernels and the built corpus between runs on one
# machine.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$top/ci/setup.sh" --tests
cd "$top"
.venv/bin/ruff check harness tests ci
exec .venv/bin/python -m pytest -n 2 --dist loadfile --durations=15 --cov=harness --cov-report=term --cov-fail-under=88 "$@" tests
