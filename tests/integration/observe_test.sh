#!/usr/bin/env bash
# Observability lab: a coordinator with --metrics-listen and three hosts. /metrics is parsed with
# prometheus_client's parser and checked against the lab (nodes, connected, pairs by path, joins
# by outcome with one refused for a bad token, deltas and bytes sent, the fan-out and store
# latency histograms, the store's health), the agents' /metrics against their own status (peers
# by path, handshakes, bytes, counters); the gRPC health service answers a real client; the
# fleet page, loaded in headless Chromium over
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
AGENT_METRICS=127.0.0.1:9101 # in each host's namespace

metrics() { lab_exec coord "$PY" "$CLIENT" metrics "http://$METRICS/metrics" "$@"; }
# The value of one parsed sample, e.g. metric 'mesh_coordinator_nodes{state=online}'.
metric() { metrics | awk -v k="$1" '$1 == k { print $2; found = 1 } END { exit !found }'; }
metric_is() { [[ "$(metric "$1")" == "$2" ]]; }
agent_metrics() { lab_exec "$1" "$PY" "$CLIENT" metrics "http://$AGENT_METRICS/metrics"; }
agent_metric() { # HOST SAMPLE
  agent_metrics "$1" | awk -v k="$2" '$1 == k { print $2; found = 1 } END { exit !found }'
}
# The sum over every sample of FAMILY (any labels) on HOST.
agent_metric_sum() { agent_metrics "$1" | awk -v f="$2" 'index($1, f "{") == 1 { s += $2 } END { print s + 0 }'; }
agent_peers_match() { # HOST: mesh_agent_peers{path} equals the host's status, kind by kind
  local host=$1 kind want got
  for kind in lan nat-direct relay none probing; do
    want=$(meshctl_in "$host" status --json | jq --arg k "$kind" '[.peers[] | select(.path == $k)] | length')
    got=$(agent_metric "$host" "mesh_agent_peers{path=$kind}") || return 1
    [[ $got == "$want" ]] || { echo "    $host: $kind: metrics $got, status $want"; return 1; }
  done
}
agent_bytes_match() { # HOST PEER: rx bytes in /metrics between two status reads around the scrape
  local host=$1 peer=$2 id before after got
  id=$(meshctl_in "$host" status --json | jq -r --arg p "$peer" '.peers[] | select(.hostname == $p) | .node_id')
  before=$(meshctl_in "$host" status --json | jq --arg p "$peer" '.peers[] | select(.hostname == $p) | .rx_bytes')
  got=$(agent_metric "$host" "mesh_agent_peer_receive_bytes_total{node_id=$id,peer=$peer}") || return 1
  after=$(meshctl_in "$host" status --json | jq --arg p "$peer" '.peers[] | select(.hostname == $p) | .rx_bytes')
  ((before > 0 && before <= got && got <= after)) || { echo "    $host -> $peer: $before <= $got <= $after fails"; return 1; }
}
# NAME OP N: the sample compared with N as numbers (OP: gt, ge, le), e.g. metric_cmp X gt 0.
metric_cmp() {
  local v
  v=$(metric "$1") || return 1
  awk -v v="$v" -v op="$2" -v n="$3" \
    'BEGIN { v += 0; n += 0; exit !((op == "gt" && v > n) || (op == "ge" && v >= n) || (op == "le" && v <= n)) }'
}
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
for i in 1 2 3; do
  lab_host "h$i" "10.231.0.$i/24"
  mesh_agent_start "h$i" --metrics-listen "$AGENT_METRICS"
done
for i in 1 2 3; do mesh_join "h$i" "$TOKEN" >/dev/null; done
for h in h1 h2 h3; do check "$h: 2 peers with a handshake (within 10 s)" mesh_wait_handshakes "$h" 2 10; done
check "every agent reports a direct path to each peer (within 30 s)" \
  lab_wait_for "settled paths" 30 paths_settled
lab_host bad 10.231.0.50/24
mesh_agent_start bad
UNKNOWN="mesh1_0123456789abcdef_$(printf '%048d' 0)"
join_refused() {
  ! meshctl_in bad join "$MESH_COORD_ADDR:$MESH_COORD_PORT" --token "$UNKNOWN" \
    --fingerprint "$(mesh_fingerprint)" --hostname bad >/dev/null 2>&1
}
check "a join with an unknown token is refused" join_refused

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
check "joins: 3 ok (the hosts that joined)" metric_is 'mesh_coordinator_joins_total{outcome=ok}' 3
check "joins: 1 refused for a bad token" metric_is 'mesh_coordinator_joins_total{outcome=bad_token}' 1
check "joins: none unavailable" metric_is 'mesh_coordinator_joins_total{outcome=unavailable}' 0
check "a full map per stream at least (3)" metric_cmp 'mesh_coordinator_sync_full_maps_total{}' ge 3
check "bytes sent: more than a byte per message" metric_cmp 'mesh_coordinator_sync_bytes_total{}' gt 100
check "store latency: transactions and reads observed" bash -c \
  'awk -v t="$1" -v r="$2" "BEGIN { exit !(t + 0 >= 4 && r + 0 > 0) }"' _ \
  "$(metric 'mesh_coordinator_store_seconds_count{op=transaction,store=sqlite}')" \
  "$(metric 'mesh_coordinator_store_seconds_count{op=read,store=sqlite}')"
check "the store is available, never lost" bash -c '[[ "$1" == 1 && "$2" == 0 ]]' _ \
  "$(metric 'mesh_coordinator_store_available{}')" "$(metric 'mesh_coordinator_store_outages_total{}')"

section "an agent's /metrics parsed by prometheus_client"
mesh_all_pairs_ping h1 h2 h3 >/dev/null || true # traffic for the byte counters
check "it parses" agent_metrics h1
agent_metrics h1 | grep -v '^mesh_agent_peer_' | sed 's/^/    /'
check "joined and connected" test "$(agent_metric h1 'mesh_agent_joined{}')$(agent_metric h1 'mesh_agent_connected{}')" = 11
check "peers by path match h1's status" agent_peers_match h1
check "peers by path match h3's status" agent_peers_match h3
check "a handshake age for each of h1's 2 peers, under 180 s" bash -c \
  '[[ $(grep -c "^mesh_agent_peer_handshake_age_seconds" <<<"$1") == 2 ]] &&
   awk "/^mesh_agent_peer_handshake_age_seconds/ && (\$2 < 0 || \$2 >= 180) { exit 1 }" <<<"$1"' \
  _ "$(agent_metrics h1)"
check "bytes from h2 match h1's status" agent_bytes_match h1 h2
check "bytes from h3 match h1's status" agent_bytes_match h1 h3
check "the map came whole once at least, and reconciles ran" bash -c \
  '(($1 >= 1 && $2 >= 1))' _ "$(agent_metric h1 'mesh_agent_map_updates_total{kind=full}')" \
  "$(agent_metric_sum h1 mesh_agent_reconciles_total)"
check "2 peers added to the device" test "$(agent_metric h1 'mesh_agent_device_peer_changes_total{change=added}')" = 2
check "one Sync stream opened" test "$(agent_metric h1 'mesh_agent_sync_connects_total{}')" = 1
check "STUN asked and answered, probes sent, answered both ways" bash -c \
  'for v in "$@"; do ((v > 0)) || exit 1; done' _ \
  "$(agent_metric h1 'mesh_agent_stun_requests_total{}')" "$(agent_metric h1 'mesh_agent_stun_answers_total{}')" \
  "$(agent_metric h1 'mesh_agent_probes_sent_total{}')" "$(agent_metric h1 'mesh_agent_probe_answers_total{}')" \
  "$(agent_metric h1 'mesh_agent_probes_answered_total{}')"
check "a path other than /metrics: 404" test \
  "$(lab_exec h1 curl -s -o /dev/null -w '%{http_code}' "http://$AGENT_METRICS/")" = 404

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
DELTAS_BEFORE=$(metric 'mesh_coordinator_sync_deltas_total{}')
LATENCIES_BEFORE=$(metric 'mesh_coordinator_fanout_seconds_count{}')
check "3 hosts, the full 3x3 matrix, h3 removed leaves the page without a reload" \
  lab_exec coord env OBSERVE_EXPECT="$expect" "$PY" "$CLIENT" browser "http://$METRICS/" "$OUT" \
  "$MESH_BIN/mesh-coordinator" --state-dir "$LAB_DIR/coord/state" nodes remove h3
check "the screenshots were kept" test -s "$OUT/fleet-3-hosts.png" -a -s "$OUT/fleet-after-removal.png"
echo "    screenshots: $OUT/fleet-3-hosts.png $OUT/fleet-after-removal.png"
check "2 nodes after the removal" metric_is 'mesh_coordinator_nodes{state=online}' 2
# The removal is a delta to h1 and h2, and h3's own removal told in-band: 3 more at least, each
# with its fan-out latency.
grown_by() { # NAME BEFORE N: the sample grew by N at least
  awk -v now="$(metric "$1")" -v before="$2" -v n="$3" 'BEGIN { exit !(now - before >= n) }'
}
check "the removal: 3 deltas more (within 10 s)" \
  lab_wait_for "3 more deltas" 10 grown_by 'mesh_coordinator_sync_deltas_total{}' "$DELTAS_BEFORE" 3
check "the removal: 3 fan-out latencies more" \
  grown_by 'mesh_coordinator_fanout_seconds_count{}' "$LATENCIES_BEFORE" 3
check "fan-out latency: at most once per delta" bash -c \
  'awk -v c="$1" -v d="$2" "BEGIN { exit !(c + 0 > 0 && c + 0 <= d + 0) }"' _ \
  "$(metric 'mesh_coordinator_fanout_seconds_count{}')" "$(metric 'mesh_coordinator_sync_deltas_total{}')"
check "fan-out latency: every delta within 10 s" bash -c '[[ "$1" == "$2" ]]' _ \
  "$(metric 'mesh_coordinator_fanout_seconds_bucket{le=10}')" \
  "$(metric 'mesh_coordinator_fanout_seconds_count{}')"
h1_one_peer() { [[ $(agent_metric_sum h1 mesh_agent_peers) == 1 ]]; }
check "h1's /metrics: 1 peer after the removal (within 5 s)" lab_wait_for "1 peer" 5 h1_one_peer
check "h1's /metrics: 1 peer removed from the device" \
  test "$(agent_metric h1 'mesh_agent_device_peer_changes_total{change=removed}')" = 1

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
