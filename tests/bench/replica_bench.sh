#!/usr/bin/env bash
# Issue 14's benchmark: the fan-out of one change through N simulated agents, with one
# coordinator (SQLite) and then with three replicas on one etcd (agents spread over them, the
# change made through one replica reaching agents on all three), in the same run, one after the
# other. Each sync_load run prints its table row; this prints both.
#   tests/bench/replica_bench.sh [N=1000] [TRIALS=10]     (BUILD=build by default)
# Every agent joins first, then every stream opens, at most MAX_SYNCING (128) of them taking
# their whole map at once (sync_load --join-first --max-syncing): the simulated agents share one
# process on these 2 cores, where a fleet's each have their own; a join storm with every stream
# open (a delta per join to each, N^2 messages) or 10,000 full maps at once measures that one
# process, not the coordinators. STORM=1 runs the old way (joins and streams at once).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-$HERE/../../build}
N=${1:-1000}
TRIALS=${2:-10}
command -v etcd >/dev/null || { echo "replica_bench: etcd not installed (scripts/install-deps.sh)"; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
timeout=$((300 + N / 5))
mode=(--join-first --max-syncing "${MAX_SYNCING:-128}")
[[ ${STORM:-0} == 1 ]] && mode=()
for replicas in 1 3; do
  echo "replica_bench: N=$N replicas=$replicas ..." >&2
  "$BUILD/bin/sync_load" --agents "$N" --trials "$TRIALS" --idle-seconds 5 --no-floor \
    --replicas "$replicas" --timeout "$timeout" "${mode[@]}" >"$out/r$replicas" 2>"$out/r$replicas.err" || true
  grep '^sync_load: ' "$out/r$replicas.err" | tail -3 >&2 || true
  grep -E '^(ok|FAIL) ' "$out/r$replicas" >&2 || true
done
head -n 2 < <(grep '^| N ' -A1 "$out/r1")
for replicas in 1 3; do grep -E '^\| [0-9]' "$out/r$replicas" || echo "| $N ($replicas) | run failed: see stderr |"; done
