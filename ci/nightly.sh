#!/usr/bin/env bash
# The main job: install what is needed, run a matrix (default: configs/default.yaml), write every report
# format to bpf-harness-out/report, print the results table.  Exits with the run's code: 0 clean,
# 1 verifier regressions, 2 usage/config error, 3 infrastructure error.
# Usage: bash ci/nightly.sh [bpf-harness run arguments, e.g. -m configs/nightly.yaml --jobs 2]
set -uo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$top/ci/setup.sh" || exit 3
cd "$top"
out=${BPF_HARNESS_OUT:-bpf-harness-out}
.venv/bin/bpf-harness run --db "$out/results.db" --report "$out/report" "$@"
rc=$?
.venv/bin/bpf-harness results --db "$out/results.db" || true
echo "ci/nightly.sh: reports in $out/report (report.md, report.html, report.json, junit.xml, email.txt, kcidb.json, csv/); exit $rc"
exit $rc
