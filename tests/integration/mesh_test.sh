#!/usr/bin/env bash
# End-to-end lab: a coordinator and agents in network namespaces, real wireguard-go and wg.
# Checks the joins, the full mesh, a late joiner, an operator removal, bad tokens, an unreachable
# coordinator, an agent restart and a coordinator restart. Prints "N passed, M failed".
# Usage: MESH_BIN=build/bin tests/integration/mesh_test.sh   (root)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lab/mesh_lab_env.sh"
source "$HERE/../lab/lab.sh"
source "$HERE/../lab/mesh.sh"
source "$HERE/../lab/checks.sh"

lab_init

# Every peer on NAME's device had a handshake within the last MAX_AGE seconds.
recent_handshakes() { # NAME COUNT MAX_AGE
  local now
  now=$(date +%s)
  lab_exec "$1" env WG_COLOR_MODE=never wg show mesh0 latest-handshakes |
    awk -v now="$now" -v want="$2" -v age="$3" '$2 > 0 && now - $2 <= age { n++ } END { exit !(n == want) }'
}
# Nothing but the running agent's own lock (which predates the join) in its state directory.
state_dir_empty() { [[ -z "$(ls -A "$LAB_DIR/$1/state" 2>/dev/null | grep -vx agent.lock)" ]]; }
node_count() { mesh_admin nodes list | tail -n +2 | grep -c . || true; }
one_line() { [[ $(printf '%s' "$1" | grep -c .) -eq 1 ]]; }

section "coordinator and three hosts join"
mesh_coordinator_start
TOKEN=$(mesh_token --reusable --ttl 1h)
for i in 1 2 3; do mesh_host "h$i" "$i"; done
for i in 1 2 3; do mesh_join "h$i" "$TOKEN" >/dev/null; done
for h in h1 h2 h3; do
  check "$h: wg show lists 2 peers with a handshake (within 3 s)" \
    lab_wait_for "handshakes on $h" 3 recent_handshakes "$h" 2 10
done
check "ping over the overlay works for every ordered pair" mesh_all_pairs_ping h1 h2 h3
check "admin socket is mode 0600" test "$(stat -c %a "$LAB_DIR/coord/state/admin.sock")" = 600
check "key files are mode 0600" test "$(stat -c %a "$LAB_DIR/h1/state/wireguard.key")" = 600
check "meshctl status shows 2 peers" bash -c "[[ \$(grep -c '100.64' <<<\"\$1\") -ge 3 ]]" _ "$(meshctl_in h1 status)"

section "a fourth host joins a running mesh"
mesh_host h4 4
mesh_join h4 "$TOKEN" >/dev/null
for h in h1 h2 h3 h4; do
  check "$h: 3 peers with a handshake (within 3 s)" \
    lab_wait_for "handshakes on $h" 3 recent_handshakes "$h" 3 10
done
check "h4 reaches and is reached by every host" mesh_all_pairs_ping h1 h2 h3 h4

section "the operator removes a host"
mesh_admin nodes remove h4 >/dev/null
for h in h1 h2 h3; do
  check "$h: h4 gone from the device (within 2 s)" mesh_wait_peers "$h" 2 2
done
check "h4: its own device has no peers" mesh_wait_peers h4 0 2
check "h4: meshctl status says it was removed" \
  bash -c 'grep -q "removed by the operator" <<<"$1"' _ "$(meshctl_in h4 status)"
check "the coordinator lists 3 nodes" test "$(node_count)" = 3

section "bad tokens and an unreachable coordinator"
lab_host bad 10.231.0.50/24
mesh_agent_start bad
join_fails() { # TOKEN EXPECTED_SUBSTRING [COORD [FINGERPRINT]]
  local out rc=0
  out=$(meshctl_in bad join "${3:-$MESH_COORD_ADDR:$MESH_COORD_PORT}" --token "$1" \
    --fingerprint "${4:-$(mesh_fingerprint)}" --hostname bad 2>&1) || rc=$?
  [[ $rc -ne 0 ]] || { echo "    join succeeded"; return 1; }
  one_line "$out" || { echo "    not one line: $out"; return 1; }
  grep -q -- "$2" <<<"$out" || { echo "    unexpected message: $out"; return 1; }
  state_dir_empty bad || { echo "    state left behind: $(ls -A "$LAB_DIR/bad/state")"; return 1; }
}
UNKNOWN="mesh1_0123456789abcdef_$(printf '%048d' 0)"
check "unknown token: one line, non-zero, nothing stored" join_fails "$UNKNOWN" "unknown join token"
check "malformed token: one line, non-zero, nothing stored" join_fails "not-a-token" "malformed"
SHORT=$(mesh_token --ttl 1s)
sleep 1.2
check "expired token: names the expiry, nothing stored" join_fails "$SHORT" "expired at"
SINGLE=$(mesh_token)
mesh_host h5 5
mesh_join h5 "$SINGLE" >/dev/null
check "used-up token: refused, nothing stored" join_fails "$SINGLE" "used up"
START=$(date +%s)
check "unreachable coordinator: clear message, nothing stored" \
  join_fails "$TOKEN" "cannot reach the coordinator" "$MESH_COORD_ADDR:7999"
check "unreachable coordinator: gives up within 20 s" test $(($(date +%s) - START)) -le 20
WRONG_PIN="sha256:$(printf '%064d' 0)"
check "another coordinator certificate: refused, names both fingerprints, nothing stored" \
  join_fails "$TOKEN" "not the pinned $WRONG_PIN" "$MESH_COORD_ADDR:$MESH_COORD_PORT" "$WRONG_PIN"
check "malformed fingerprint: refused, nothing stored" \
  join_fails "$TOKEN" "64" "$MESH_COORD_ADDR:$MESH_COORD_PORT" "sha256:abc"
check "no node was created by any failed join" test "$(node_count)" = 4

section "agent restart keeps identity"
before=$(meshctl_in h1 status --json)
nodes_before=$(node_count)
mesh_agent_stop h1
mesh_agent_start h1  # returns once its socket answers
after=$(meshctl_in h1 status --json)
field() { grep -o "\"$1\": \"[^\"]*\"" <<<"$2" | head -1; }
check "same node id" test "$(field node_id "$before")" = "$(field node_id "$after")"
check "same public key" test "$(field public_key "$before")" = "$(field public_key "$after")"
check "same overlay addresses" test "$(grep -A2 '"addresses"' <<<"$before")" = "$(grep -A2 '"addresses"' <<<"$after")"
check "no second node" test "$(node_count)" = "$nodes_before"
check "h1's tunnels are back (within 3 s)" lab_wait_for "h1 handshakes" 3 recent_handshakes h1 3 5
check "ping works both ways after the restart" mesh_all_pairs_ping h1 h2 h3

section "coordinator restart: tunnels stay up, agents reconnect"
lab_exec h2 ping -n -q -i 0.02 -c 250 -W 1 "$(mesh_ip h3)" >"$LAB_DIR/h2/ping.log" 2>&1 &
PINGER=$!
sleep 1
mesh_coordinator_restart
wait "$PINGER" || true
loss=$(sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p' "$LAB_DIR/h2/ping.log")
check "no packet lost during the restart (loss ${loss:-?}%)" test "${loss:-100}" = 0
connected_all() { [[ $(mesh_admin nodes list | awk 'NR > 1 && $4 == "yes"' | grep -c .) -eq 4 ]]; }
check "all 4 agents reconnected (within 5 s)" lab_wait_for "agents to reconnect" 5 connected_all
mesh_host h6 6
mesh_join h6 "$TOKEN" >/dev/null
check "a host joining after the restart reaches everyone" \
  lab_wait_for "handshakes on h6" 3 recent_handshakes h6 4 10

checks_summary
