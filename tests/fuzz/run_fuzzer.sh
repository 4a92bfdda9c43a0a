#!/usr/bin/env bash
# One short fuzzing run for the test suite (ctest -L fuzz): FUZZER on a fresh copy of its seed
# corpus in WORKDIR (the source corpus is never written), for SECONDS. Fails on any finding: a
# crash, a sanitizer report, an uncaught exception, a timeout (> 5 s for one input) or an
# out-of-memory (> 2 GB). The input that did it is kept in WORKDIR, and the line to reproduce
# it is printed.
#   run_fuzzer.sh FUZZER CORPUS WORKDIR [SECONDS=6]
set -euo pipefail
fuzzer=$1 corpus=$2 work=$3 seconds=${4:-6}
rm -rf "$work/corpus" "$work/findings"
mkdir -p "$work/corpus" "$work/findings"
cp -R "$corpus/." "$work/corpus/"
status=0
"$fuzzer" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/findings/" "$work/corpus" >"$work/log" 2>&1 || status=$?
grep -E '^(INFO: Seed|#[0-9]+ +DONE)|^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' \
  "$work/log" || true
if [[ $status -ne 0 ]]; then
  tail -n 60 "$work/log"
  echo "FAIL: $(basename "$fuzzer") exited $status; log: $work/log"
  for f in "$work"/findings/*; do
    [[ -e $f ]] && echo "  reproduce: $fuzzer $f"
  done
  exit 1
fi
