#!/usr/bin/env bash
# The test command: install what is needed, then run every test, unit and integration (real kernels
# under qemu).  Extra arguments go to pytest.  The cache ($XDG_CACHE_HOME/bpf-harness) keeps kernels
# and the built corpus between runs on one machine.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$top/ci/setup.sh"
cd "$top"
exec .venv/bin/python -m pytest -n 2 --dist loadfile "$@" tests
