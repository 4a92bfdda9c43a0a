#!/usr/bin/env bash
# Observability lab: a coordinator with --metrics-listen and three hosts. /metrics is parsed with
# prometheus_client's parser and checked against the lab (nodes, connected, pairs by path); the
# gRPC health service answers a real client; the fleet page, loaded in headless Chromium over
# the DevTools protocol, lists the hosts and the full path matrix, and drops a removed host
# without a reload (screenshots in $OBSERVE_OUTPUT_DIR, default build/test-output/observe);
# off loopback the listener wants the operator credential.
# Usage: MESH_BIN=build/bin tests/integration/observe_test.sh   (root)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lab/mesh_lab_env.sh"
source "$HERE/../lab/lab.sh"
source "$HERE/../lab/mesh.sh"
source "$HERE/../lab/checks.sh"

PY=/usr/bin/python3 # not a pyenv shim: the Debian modules live there
CLIENT="$HERE/observe_client.py"
OUT=${OBSERVE_OUTPUT_DIR:-$MESH_BIN/../test-output/observe}
for need in chromium; do command -v "$need" >/dev/null || { echo "skip: no $need"; exit 77; }; done
$PY -c 'import prometheus_client, grpc, websocket' 2>/dev/null ||
  { echo "skip: python3-prometheus-client, python3-grpcio, python3-websocket needed"; exit 77; }

lab_init
METRICS=127.0.0.1:9100

metrics() { lab_exec coord "$PY" "$CLIENT" metrics "http://$METRICS/metrics" "$@"; }
# The value of one parsed sample, e.g. metric 'mesh_coordinator_nodes{state=online}'.
metric() { metrics | awk -v k="$1" '$1 == k { print $2; found = 1 } END { exit !found }'; }
metric_is() { [[ "$(metric "$1")" == "$2" ]]; }
# How many unordered pairs of HOSTS the agents' own status calls KIND (the better side wins,
# as the coordinator counts them).
lab_pairs() { # KIND HOST...
  local kind=$1 n=0 a b i j
  shift
  local hosts=("$@")
  for ((i = 0; i < ${#hosts[@]}; i++)); do for ((j = i + 1; j < ${#hosts[@]}; j++)); do
    a=$(mesh_peer_path "${hosts[i]}" "${hosts[j]}")
    b=$(mesh_peer_path "${hosts[j]}" "${hosts[i]}")
    [[ $a == "$kind" || $b == "$kind" ]] && n=$((n + 1))
  done; done
  echo "$n"
}
paths_settled() { # every ordered pair has a lan or nat-direct path in the agents' status
  local a b p
  for a in h1 h2 h3; do for b in h1 h2 h3; do
    [[ $a == "$b" ]] && continue
    p=$(mesh_peer_path "$a" "$b")
    [[ $p == lan || $p == nat-direct ]] || return 1
  done; done
}
coordinator_pairs_match() {
  local kind want
  for kind in lan nat-direct relay none; do
    want=$(lab_pairs "$kind" h1 h2 h3)
    metric_is "mesh_coordinator_pairs{path=$kind}" "$want" || return 1
  done
}

section "a coordinator with --metrics-listen and three hosts"
mesh_coordinator_start --metrics-listen "$METRICS"
TOKEN=$(mesh_token --reusable --ttl 1h)
for i in 1 2 3; do mesh_host "h$i" "$i"; done
for i in 1 2 3; do mesh_join "h$i" "$TOKEN" >/dev/null; done
for h in h1 h2 h3; do check "$h: 2 peers with a handshake (within 10 s)" mesh_wait_handshakes "$h" 2 10; done
check "every agent reports a direct path to each peer (within 30 s)" \
  lab_wait_for "settled paths" 30 paths_settled

section "/metrics parsed by prometheus_client"
check "it parses" metrics
metrics | grep '^mesh_coordinator' | sed 's/^/    /'
check "3 nodes online" metric_is 'mesh_coordinator_nodes{state=online}' 3
check "0 offline, 0 expired" bash -c '[[ "$1" == 0 && "$2" == 0 ]]' _ \
  "$(metric 'mesh_coordinator_nodes{state=offline}')" "$(metric 'mesh_coordinator_nodes{state=expired}')"
check "3 connected streams" metric_is 'mesh_coordinator_connected_nodes{}' 3
check "pairs by path match the agents' status (within 10 s)" \
  lab_wait_for "pairs by path" 10 coordinator_pairs_match
check "3 pairs in all, none still probing" metric_is 'mesh_coordinator_pairs{path=probing}' 0

section "gRPC health on the agents' port"
check "Health/Check says SERVING" bash -c '[[ "$1" == SERVING ]]' _ \
  "$(lab_exec coord "$PY" "$CLIENT" health "$MESH_COORD_ADDR:$MESH_COORD_PORT" "$LAB_DIR/coord/state/tls/cert.pem")"

section "the fleet page in headless Chromium"
expect=$(
  for a in h1 h2 h3; do for b in h1 h2 h3; do
    if [[ $a == "$b" ]]; then echo "$a $b self"; else echo "$a $b $(mesh_peer_path "$a" "$b")"; fi
  done; done | jq -R -s -c 'split("\n") | map(select(length > 0) | split(" ")) |
    {hosts: ([.[][0]] | unique), remove: "h3",
     matrix: (reduce .[] as $r ({}; .[$r[0]][$r[1]] = $r[2]))}'
)
mkdir -p "$OUT"
check "3 hosts, the full 3x3 matrix, h3 removed leaves the page without a reload" \
  lab_exec coord env OBSERVE_EXPECT="$expect" "$PY" "$CLIENT" browser "http://$METRICS/" "$OUT" \
  "$MESH_BIN/mesh-coordinator" --state-dir "$LAB_DIR/coord/state" nodes remove h3
check "the screenshots were kept" test -s "$OUT/fleet-3-hosts.png" -a -s "$OUT/fleet-after-removal.png"
echo "    screenshots: $OUT/fleet-3-hosts.png $OUT/fleet-after-removal.png"
check "2 nodes after the removal" metric_is 'mesh_coordinator_nodes{state=online}' 2

section "off loopback the listener wants the operator credential"
CRED=$(mesh_admin credential create | tail -1)
mesh_coordinator_stop
METRICS="$MESH_COORD_ADDR:9100"
mesh_coordinator_start --metrics-listen "$METRICS"
status_of() { # URL [CURL ARGS...]: the HTTP status, fetched from h1
  local url=$1
  shift
  lab_exec h1 curl -s -o /dev/null -w '%{http_code}' "$@" "$url"
}
status_is() { # WANT URL [CURL ARGS...]
  local want=$1
  shift
  [[ "$(status_of "$@")" == "$want" ]]
}
check "without a credential: 401 (within 10 s)" \
  lab_wait_for "401" 10 status_is 401 "http://$METRICS/metrics"
check "a wrong credential: 401" test "$(status_of "http://$METRICS/metrics" -u "op:mesh-op1_wrong")" = 401
check "the operator credential: 200 on /metrics" test "$(status_of "http://$METRICS/metrics" -u "op:$CRED")" = 200
check "the operator credential: 200 on /api/fleet" test "$(status_of "http://$METRICS/api/fleet" -u "op:$CRED")" = 200
check "a POST is refused (read-only)" test "$(status_of "http://$METRICS/" -u "op:$CRED" -X POST)" = 405

checks_summary
