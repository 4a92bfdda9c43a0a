#!/usr/bin/env bash
# Security lab: a coordinator and agents in network namespaces, real wireguard-go and wg. Checks
# that a key rotation, an operator expiry, a key lapsing while its agent is down, a removal made
# while a peer's agent was down, and an ephemeral node going away all reach every peer's device;
# that agents renew their keys before they lapse; the remote operator API's credential and pin;
# tags from tokens; token revocation. Prints "N passed, M failed".
# Usage: MESH_BIN=build/bin tests/integration/security_test.sh   (root)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lab/mesh_lab_env.sh"
source "$HERE/../lab/lab.sh"
source "$HERE/../lab/mesh.sh"
source "$HERE/../lab/checks.sh"

lab_init

KEY_TTL=30          # seconds: agents rotate with a third left (10 s before the lapse)
EPHEMERAL_IDLE=3    # seconds
ADMIN_PORT=7444

pubkey() { lab_exec "$1" wg show mesh0 public-key; }
has_peer() { lab_exec "$1" wg show mesh0 peers | grep -qxF -- "$2"; }
# KEY is on (want=yes) or absent from (want=no) the device of every NAME.
all_devices() { # yes|no KEY NAME...
  local want=$1 key=$2 n
  shift 2
  for n in "$@"; do
    if [[ $want == yes ]]; then has_peer "$n" "$key" || return 1; else ! has_peer "$n" "$key" || return 1; fi
  done
}
peer_count() { lab_exec "$1" wg show mesh0 peers | grep -c . || true; }
# CMD keeps succeeding for SECS seconds (checked every 0.2 s): the negative twin of lab_wait_for.
holds_for() { # SECS CMD...
  local rounds=$(($1 * 5)) i
  shift
  for ((i = 0; i < rounds; i++)); do
    "$@" || return 1
    sleep 0.2
  done
}
node_json() { mesh_admin nodes list --json; }
node_field() { # HOSTNAME FIELD: the field's JSON value from `nodes list --json`
  node_json | python3 -c 'import json,sys; n=[x for x in json.load(sys.stdin).get("nodes",[]) if x["hostname"]==sys.argv[1]]; print(json.dumps(n[0].get(sys.argv[2])) if n else "absent")' "$1" "$2"
}
# The remote operator CLI, run from h1 (traffic stays inside the lab).
remote_admin() { # [--credential-file F] [--fingerprint FP] ARGS...
  lab_exec h1 "$MESH_BIN/mesh-coordinator" --remote "$MESH_COORD_ADDR:$ADMIN_PORT" "$@"
}
remote_lists_nodes() { # FP CRED_FILE COUNT
  [[ $(remote_admin --fingerprint "$1" --credential-file "$2" nodes list | tail -n +2 | grep -c .) == "$3" ]]
}
rotated_everywhere() { # HOST NEW OLD PEERS...
  [[ $(pubkey "$1") == "$2" ]] && all_devices yes "$2" "${@:4}" && all_devices no "$3" "${@:4}"
}
back_everywhere() { # HOST PEER_COUNT PEERS...
  all_devices yes "$(pubkey "$1")" "${@:3}" && [[ $(peer_count "$1") == "$2" ]]
}
key_changed() { [[ $(pubkey "$1") != "$2" ]]; }
peers_are() { [[ $(peer_count "$1") == "$2" ]]; }
node_is() { [[ $(node_field "$1" "$2") == "$3" ]]; }  # HOSTNAME FIELD JSON_VALUE|absent
none_expired() { ! node_json | grep -q '"expired": true'; }
status_says() { grep -qF -- "$2" <<<"$(meshctl_in "$1" status)"; }
token_revoked() { mesh_admin token list | grep -F -- "$1" | grep -q revoked; }
one_line_failure() { # SUBSTRING CMD...: CMD fails with one line containing SUBSTRING
  local want=$1 out rc=0
  shift
  out=$("$@" 2>&1) || rc=$?
  [[ $rc -ne 0 ]] || { echo "    succeeded: $out"; return 1; }
  [[ $(printf '%s' "$out" | grep -c .) -eq 1 ]] || { echo "    not one line: $out"; return 1; }
  grep -qF -- "$want" <<<"$out" || { echo "    unexpected: $out"; return 1; }
}

section "coordinator (TLS, key TTL ${KEY_TTL}s, admin port) and four hosts"
mesh_coordinator_start --node-key-ttl "${KEY_TTL}s" --ephemeral-inactivity "${EPHEMERAL_IDLE}s" \
  --admin-listen "$MESH_COORD_ADDR:$ADMIN_PORT"
FP=$(mesh_fingerprint)
check "the coordinator made a self-signed certificate and prints its fingerprint" \
  bash -c '[[ $1 =~ ^sha256:[0-9a-f]{64}$ ]] && [[ $(stat -c %a "$2") == 600 ]]' _ "$FP" \
  "$LAB_DIR/coord/state/tls/key.pem"
CREATE_OUT=$(mesh_admin token create --reusable --ttl 1h --tag web --coordinator "$MESH_COORD_ADDR:$MESH_COORD_PORT")
check "token create prints the complete join command with the fingerprint" \
  grep -qE -- "meshctl join $MESH_COORD_ADDR:$MESH_COORD_PORT --token mesh1_[0-9a-f_]+ --fingerprint $FP" <<<"$CREATE_OUT"
TOKEN=$(sed -n 's/^token: *//p' <<<"$CREATE_OUT")
HOSTS=(h1 h2 h3 h4)
for i in 1 2 3 4; do mesh_host "h$i" "$i"; done
for h in "${HOSTS[@]}"; do mesh_join "$h" "$TOKEN" >/dev/null; done
check "all pairs ping over the mesh" lab_wait_for "every pair" 15 mesh_all_pairs_ping "${HOSTS[@]}"
check "nodes carry the token's tag" test "$(node_field h2 tags)" = '["web"]'
STATUS=$(meshctl_in h1 status)
check "meshctl status shows the tag, the key expiry and the pinned certificate" \
  bash -c 'grep -q "tags: *web" <<<"$1" && grep -q "key expires: in" <<<"$1" && grep -qF "$2" <<<"$1"' \
  _ "$STATUS" "$FP"

section "the operator API over TLS, from another host"
check "no credential: refused in one line" \
  one_line_failure "needs a credential" remote_admin --fingerprint "$FP" nodes list
mesh_admin credential create >"$LAB_DIR/h1/operator.cred"
chmod 600 "$LAB_DIR/h1/operator.cred"
check "with the operator credential: lists the four nodes" \
  remote_lists_nodes "$FP" "$LAB_DIR/h1/operator.cred" 4
printf '%s\n' "$TOKEN" >"$LAB_DIR/h1/token.cred"
check "a join token in its place: permission denied" \
  one_line_failure "does not grant the operator API" remote_admin --fingerprint "$FP" \
  --credential-file "$LAB_DIR/h1/token.cred" nodes list
WRONG_FP="sha256:$(printf '%064d' 0)"
check "another certificate pinned: refused, naming both fingerprints" \
  one_line_failure "presented certificate $FP, not the pinned $WRONG_FP" remote_admin \
  --fingerprint "$WRONG_FP" --credential-file "$LAB_DIR/h1/operator.cred" nodes list
check "credentials are made only on the local socket" \
  one_line_failure "only on the local admin socket" remote_admin --fingerprint "$FP" \
  --credential-file "$LAB_DIR/h1/operator.cred" credential create

section "key rotation reaches every peer's device"
OLD=$(pubkey h1)
H1_BEFORE="$(node_field h1 node_id) $(node_field h1 addresses)"
NEW=$(meshctl_in h1 rotate-key | sed -n 's/^new WireGuard public key \([^ ]*\) sent.*/\1/p')
check "meshctl rotate-key prints the new key" test -n "$NEW" -a "$NEW" != "$OLD"
check "h1's device and every peer's device switch within 2 s" lab_wait_for "rotation" 2 \
  rotated_everywhere h1 "$NEW" "$OLD" h2 h3 h4
check "h1 still reaches every peer, and they reach it" lab_wait_for "pings after rotation" 10 mesh_all_pairs_ping "${HOSTS[@]}"
h1_identity_kept() {
  [[ $H1_BEFORE != *null* && "$(node_field h1 node_id) $(node_field h1 addresses)" == "$H1_BEFORE" ]]
}
check "same node id, same addresses after the rotation" h1_identity_kept

section "operator expiry, and the way back"
H3KEY=$(pubkey h3)
mesh_admin nodes expire h3 >/dev/null
check "h3's key leaves every peer's device within 2 s" lab_wait_for "expiry" 2 all_devices no "$H3KEY" h1 h2 h4
check "h3's own device drops its peers" lab_wait_for "h3 empty" 5 peers_are h3 0
check "h3's status says it must join again" status_says h3 "key expired; run meshctl join"
check "the coordinator lists h3 as expired" test "$(node_field h3 expired)" = true
mesh_join h3 "$TOKEN" >/dev/null
check "a re-join brings h3 back on every device and all its peers back on its own" \
  lab_wait_for "h3 back" 10 back_everywhere h3 3 h1 h2 h4
check "and pings flow again" lab_wait_for "pings after re-join" 10 mesh_all_pairs_ping "${HOSTS[@]}"

section "agents renew keys before they lapse (TTL ${KEY_TTL}s)"
H2KEY=$(pubkey h2)
check "h2 rotates by itself within the TTL" lab_wait_for "renewal" "$KEY_TTL" key_changed h2 "$H2KEY"
check "no node expired meanwhile" none_expired
check "every pair still pings" lab_wait_for "pings after renewal" 10 mesh_all_pairs_ping "${HOSTS[@]}"

section "a key lapses while its agent is down"
H4KEY=$(pubkey h4)
mesh_agent_stop h4
# (Peers that rotate meanwhile take h4 off their devices already: as the pair's younger side they
# wait for h4's acknowledgement, which an agent that is down cannot give.)
check "the coordinator expires h4's key once it lapsed" lab_wait_for "lapse" $((KEY_TTL + 5)) \
  node_is h4 expired true
check "h4's key is on no peer's device" lab_wait_for "h4 off devices" 2 all_devices no "$H4KEY" h1 h2 h3
mesh_agent_start h4
check "h4's agent, back, is refused and drops its peers" lab_wait_for "h4 refused" 10 peers_are h4 0
check "h4's status asks for a new join" lab_wait_for "h4 status" 5 status_says h4 "run meshctl join"

section "a removal made while a peer's agent was down takes effect when it returns"
H2KEY=$(pubkey h2)
mesh_agent_stop h1
mesh_admin nodes remove h2 >/dev/null
check "h3's device drops h2 at once" lab_wait_for "h3 drops h2" 2 all_devices no "$H2KEY" h3
mesh_agent_start h1
check "h1's agent, back, starts from its saved map and drops h2 within 5 s" \
  lab_wait_for "h1 drops h2" 5 all_devices no "$H2KEY" h1
check "h1 and h3 still reach each other" lab_wait_for "h1 <-> h3" 10 mesh_all_pairs_ping h1 h3

section "ephemeral nodes go away after ${EPHEMERAL_IDLE}s offline"
EPH=$(mesh_token --ephemeral --ttl 1h)
mesh_host h5 5
mesh_join h5 "$EPH" >/dev/null
H5KEY=$(pubkey h5)
check "h5 joined and is on h1's and h3's devices" lab_wait_for "h5 joined" 10 all_devices yes "$H5KEY" h1 h3
check "h5 is listed as ephemeral" test "$(node_field h5 ephemeral)" = true
check "while connected it stays, past the inactivity limit" \
  holds_for $((EPHEMERAL_IDLE + 1)) node_is h5 hostname '"h5"'
mesh_agent_stop h5
check "offline, it is removed from the coordinator" lab_wait_for "h5 removed" $((EPHEMERAL_IDLE + 5)) \
  node_is h5 hostname absent
check "and from every peer's device" lab_wait_for "h5 gone" 2 all_devices no "$H5KEY" h1 h3

section "token revocation"
REVOKED_OUT=$(mesh_admin token create --reusable)
REVOKED=$(sed -n 's/^token: *//p' <<<"$REVOKED_OUT")
REVOKED_ID=$(sed -n 's/^id: *//p' <<<"$REVOKED_OUT")
mesh_admin token revoke "$REVOKED_ID" >/dev/null
check "token list shows it revoked" token_revoked "$REVOKED_ID"
mesh_host h6 6
check "a join with it is refused, naming the revocation" \
  one_line_failure "was revoked" meshctl_in h6 join "$MESH_COORD_ADDR:$MESH_COORD_PORT" \
  --token "$REVOKED" --fingerprint "$FP" --hostname h6

checks_summary
