#!/usr/bin/env bash
# Issue 14's benchmark: the fan-out of one change through N simulated agents, with one
# coordinator (SQLite) and then with three replicas on one etcd (agents spread over them, the
# change made through one replica reaching agents on all three), in the same run, one after the
# other. Each sync_load run prints its table row; this prints both.
#   tests/bench/replica_bench.sh [N=1000] [TRIALS=10]     (BUILD=build by default)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-$HERE/../../build}
N=${1:-1000}
TRIALS=${2:-10}
command -v etcd >/dev/null || { echo "replica_bench: etcd not installed (scripts/install-deps.sh)"; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
timeout=$((300 + N / 5))
for replicas in 1 3; do
  echo "replica_bench: N=$N replicas=$replicas ..." >&2
  "$BUILD/bin/sync_load" --agents "$N" --trials "$TRIALS" --idle-seconds 5 --no-floor \
    --replicas "$replicas" --timeout "$timeout" >"$out/r$replicas" 2>"$out/r$replicas.err" || true
  grep -E '^(ok|FAIL) ' "$out/r$replicas" >&2 || true
done
head -n 2 < <(grep '^| N ' -A1 "$out/r1")
for replicas in 1 3; do grep -E '^\| [0-9]' "$out/r$replicas" || echo "| $N ($replicas) | run failed: see stderr |"; done
