#!/usr/bin/env bash
# A long fuzzing campaign: each fuzzer in turn (one at a time: the machine has 2 cores) for
# SECONDS, on a corpus kept in BUILD/campaign/NAME (seeded from tests/fuzz/corpus/, which is
# never written; a later campaign resumes from what this one found). Prints one line of figures
# per fuzzer, as docs/FUZZING.md records them; exits non-zero if any fuzzer found something.
#   tests/fuzz/campaign.sh [SECONDS=300] [BUILD=build-fuzz] [FUZZER...]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-300}
build=${2:-build-fuzz}
shift $(($# > 2 ? 2 : $#))
fuzzers=("$@")
if [[ ${#fuzzers[@]} -eq 0 ]]; then
  fuzzers=(uapi_decode_fuzz rtnl_parse_fuzz stun_decode_fuzz ip_key_fuzz token_fuzz
           join_request_fuzz service_requests_fuzz credentials_fuzz sync_response_fuzz
           agent_state_fuzz wg_genl_fuzz)
fi
# The seed corpus of a fuzzer: tests/fuzz/corpus/<name without _fuzz>, but for one.
corpus_of() {
  case $1 in
    stun_decode_fuzz) echo stun ;;
    *) echo "${1%_fuzz}" ;;
  esac
}
failed=0
printf '%-22s %8s %12s %8s %6s %6s %8s %6s %s\n' fuzzer seconds execs exec/s cov ft corpus rss_mb findings
for name in "${fuzzers[@]}"; do
  corpus=$(corpus_of "$name")
  work=$build/campaign/$corpus
  rm -rf "$work/findings"
  mkdir -p "$work/corpus" "$work/findings"
  cp -Rn "tests/fuzz/corpus/$corpus/." "$work/corpus/"
  status=0
  "$build/bin/$name" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/findings/" "$work/corpus" >"$work/log" 2>&1 || status=$?
  execs=$(awk '/^stat::number_of_executed_units/ {print $2}' "$work/log")
  rate=$(awk '/^stat::average_exec_per_sec/ {print $2}' "$work/log")
  rss=$(awk '/^stat::peak_rss_mb/ {print $2}' "$work/log")
  last=$(grep -E '^#[0-9]+' "$work/log" | tail -1)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$last")
  findings=$(find "$work/findings" -type f | wc -l)
  printf '%-22s %8s %12s %8s %6s %6s %8s %6s %s\n' "$name" "$seconds" "${execs:-?}" "${rate:-?}" \
    "${cov:-?}" "${ft:-?}" "${corp:-?}" "${rss:-?}" "$findings"
  if [[ $status -ne 0 ]]; then
    failed=1
    echo "  $name exited $status: see $work/log; inputs in $work/findings/"
  fi
done
exit $failed
