#!/usr/bin/env bash
# meshctl's operator commands in the NAT lab (tests/lab/nat.sh), in one short run: `meshctl ping`
# names the path that answered (lan for two hosts on one LAN, nat-direct across two NATs), with
# --until-direct, --json and a clear error for an unknown peer; `meshctl netcheck` tells an
# endpoint-independent NAT from an endpoint-dependent one; `meshctl down` takes this host out of
# the mesh (peers gone from its device, still down after an agent restart) and `meshctl up`
# restores every tunnel with the same node id and no new join; `meshctl logout` removes this
# host's node (the coordinator no longer lists it, every other host drops the peer, the host is
# left unjoined with no device and joins again with a new token as a new node), refuses with a
# clear line when not joined, and with the coordinator unreachable changes nothing unless
# --force. Prints "N passed, M failed".
# Usage: MESH_BIN=build/bin tests/integration/meshctl_lab_test.sh   (root)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lab/mesh_lab_env.sh"
MESH_COORD_ADDR=203.0.113.254
MESH_DISTINCT_PORTS=1
source "$HERE/../lab/lab.sh"
source "$HERE/../lab/nat.sh"
source "$HERE/../lab/mesh.sh"
source "$HERE/../lab/checks.sh"

lab_init

pings() { lab_ping "$1" "$(mesh_ip "$2")" 1 1; }
both_ways() { pings "$1" "$2" && pings "$2" "$1"; }
ping_path() { # HOST PEER PATH [NAME]: one round of meshctl ping to PEER names PATH (and NAME)
  local out
  out=$(meshctl_in "$1" ping -c 1 "$2") || { printf '    %s\n' "$out"; return 1; }
  grep -q "^pong from ${4:-$2} (.*) via $3 " <<<"$out" || { printf '    %s\n' "$out"; return 1; }
}
netcheck_nat() { # HOST NAT
  meshctl_in "$1" netcheck --json | grep -q "\"nat\": \"$2\""
}
node_id() { { meshctl_in "$1" status --json || true; } | sed -n 's/^  "node_id": "\([^"]*\)".*/\1/p'; }
joins() { grep -c 'event=join ' "$LAB_DIR/coord/coordinator.log" || true; }
device_peers() { lab_exec "$1" env WG_COLOR_MODE=never wg show "$MESH_INTERFACE" peers 2>/dev/null | grep -c . || true; }
no_device_peers() { [[ "$(device_peers "$1")" == 0 ]]; }
is_down() { { meshctl_in "$1" status --json || true; } | grep -q '"down": true'; }
no_ping() { ! pings "$1" "$2"; }

section "topology: two easy NATs, one endpoint-dependent NAT, a coordinator with STUN"
nat_site s1 1
nat_site s2 2
nat_site s3 3 random
mesh_coordinator_start
TOKEN=$(mesh_token --reusable --ttl 1h)
mesh_nat_host a s1 2
mesh_nat_host b s1 3
mesh_nat_host c s2 2
mesh_nat_host d s3 2
for h in a b c d; do mesh_join "$h" "$TOKEN" >/dev/null; done
check "a <-> b and a <-> c ping over the mesh (within 5 s)" \
  lab_wait_for "a <-> b, a <-> c" 5 eval 'both_ways a b && both_ways a c'

section "meshctl ping"
check "a pings b (one LAN): the path is lan" lab_wait_for "lan ping" 3 ping_path a b lan
check "a pings c (two NATs): the path is nat-direct" lab_wait_for "nat ping" 3 ping_path a c nat-direct
check "b pings a by overlay address: the path is lan" ping_path b "$(mesh_ip a)" lan a
check "--until-direct stops at the first direct answer and exits 0" \
  bash -c '[[ $(grep -c "^pong" <<<"$1") == 1 ]]' _ "$(meshctl_in a ping --until-direct -c 5 c)"
check "--json says answered, path and rtt" \
  bash -c 'grep -q "\"answered\":true,\"path\":\"lan\"" <<<"$1" && grep -q "\"rtt_ms\":" <<<"$1"' _ \
  "$(meshctl_in a ping --json -c 1 b)"
rc=0
out=$(meshctl_in a ping -c 1 nosuchhost 2>&1) || rc=$?
check "an unknown peer: exit 2 and one clear line" \
  bash -c '[[ $1 == 2 && $(wc -l <<<"$2") == 1 && $2 == *"no peer nosuchhost"* ]]' _ "$rc" "$out"

section "meshctl netcheck"
check "a (behind s1): endpoint-independent" lab_wait_for "a's NAT type" 5 netcheck_nat a endpoint-independent
check "d (behind s3, masquerade random): endpoint-dependent" \
  lab_wait_for "d's NAT type" 5 netcheck_nat d endpoint-dependent
NC=$(meshctl_in a netcheck)
printf '%s\n' "$NC" | sed 's/^/    /'
check "a: UDP yes, reflexive at nat-s1's address" \
  bash -c 'grep -q "^udp: *yes" <<<"$1" && grep -q "^reflexive: *$2:" <<<"$1"' _ "$NC" "$(nat_public_ip s1)"
check "a: no port mapping service on the lab's gateway" bash -c 'grep -q "^port mapping: *no " <<<"$1"' _ "$NC"
check "a: the coordinator is reachable, with a connect time" \
  bash -c 'grep -q "^coordinator: .* reachable, TCP connect [0-9.]* ms" <<<"$1"' _ "$NC"

section "meshctl down / up"
ID_A=$(node_id a)
# a <-> d crosses an endpoint-dependent NAT with no relay in this lab: it is checked after up
# only if it worked before.
D_TOO=true
lab_wait_for "a <-> d" 5 pings d a || D_TOO=false
JOINS=$(joins)
node_ids() { mesh_admin nodes list --json | grep -o '"node_id": *"[^"]*"' | sort -u | tr '\n' ' '; }
NODES=$(node_ids)
check "meshctl down on a" meshctl_in a down
check "a's device has no peers" no_device_peers a
check "b no longer reaches a" no_ping b a
check "meshctl status on a says down" is_down a
mesh_agent_stop a
mesh_agent_start a
check "after an agent restart a is still down (no peers)" eval 'is_down a && no_device_peers a'
check "meshctl up on a" meshctl_in a up
check "every tunnel of a is back: b, c (and d: $D_TOO) (within 10 s)" \
  lab_wait_for "tunnels after up" 10 eval 'both_ways a b && both_ways a c && { ! $D_TOO || pings d a; }'
check "a kept its node id ($ID_A)" bash -c '[[ $1 == "$2" ]]' _ "$(node_id a)" "$ID_A"
check "no new join reached the coordinator" bash -c '[[ $1 == "$2" ]]' _ "$(joins)" "$JOINS"
check "the coordinator lists the same 4 nodes" \
  bash -c '[[ $1 == "$2" && $(wc -w <<<"$1") == 8 ]]' _ "$(node_ids)" "$NODES"

section "meshctl logout"
ID_B=$(node_id b)
KEY_B=$(meshctl_in b status --json | jq -r .public_key)
# Outputs are read whole before grep looks (grep -q ending a pipe early fails it under pipefail).
peer_keys() { lab_exec "$1" env WG_COLOR_MODE=never wg show "$MESH_INTERFACE" peers 2>/dev/null || true; }
has_peer_key() { grep -qxF "$2" <<<"$(peer_keys "$1")"; }
no_host_has_b() { ! has_peer_key a "$KEY_B" && ! has_peer_key c "$KEY_B" && ! has_peer_key d "$KEY_B"; }
nodes_json() { mesh_admin nodes list --json; }
listed() { local out; out=$(nodes_json) && grep -q "\"$1\"" <<<"$out"; }
not_listed() { local out; out=$(nodes_json) && ! grep -q "\"$1\"" <<<"$out"; }
status_rc() { local rc=0; meshctl_in "$1" status >/dev/null 2>&1 || rc=$?; echo "$rc"; }
check "before: the coordinator lists b ($ID_B)" listed "$ID_B"
check "before: a's device has b's peer ($KEY_B)" has_peer_key a "$KEY_B"
rc=0
out=$(meshctl_in b logout 2>&1) || rc=$?
printf '    %s\n' "$out"
check "meshctl logout on b: exit 0, one line naming b" \
  bash -c '[[ $1 == 0 && $(wc -l <<<"$2") == 1 && $2 == "logged out: b ($3) removed from the mesh"* ]]' _ "$rc" "$out" "$ID_B"
check "the coordinator's nodes list no longer shows b" not_listed "$ID_B"
check "a, c and d drop b's peer (within 3 s)" lab_wait_for "b's peer gone" 3 no_host_has_b
check "b's status: not joined (exit 2)" bash -c '[[ $1 == 2 ]]' _ "$(status_rc b)"
check "b has no mesh device left" eval '! lab_exec b ip link show "$MESH_INTERFACE" >/dev/null 2>&1'
check "b's state directory holds no state and no keys" \
  eval '[[ ! -e $LAB_DIR/b/state/state.pb && ! -e $LAB_DIR/b/state/machine.key && ! -e $LAB_DIR/b/state/wireguard.key ]]'
rc=0
out=$(meshctl_in b logout 2>&1) || rc=$?
check "logout again: exit 1 and one line saying b is not joined" \
  bash -c '[[ $1 == 1 && $(wc -l <<<"$2") == 1 && $2 == *"not joined"* ]]' _ "$rc" "$out"
check "b joins again with a new token" eval 'mesh_join b "$(mesh_token --ttl 1h)" >/dev/null'
check "as a new node" bash -c '[[ -n $1 && $1 != "$2" ]]' _ "$(node_id b)" "$ID_B"
check "a <-> b ping again (within 10 s)" lab_wait_for "a <-> b after the new join" 10 both_ways a b

section "meshctl logout with the coordinator unreachable"
ID_B2=$(node_id b)
mesh_coordinator_stop
rc=0
out=$(meshctl_in b logout 2>&1) || rc=$?
printf '    %s\n' "$out"
check "exit 1, one line saying the coordinator is unreachable" \
  bash -c '[[ $1 == 1 && $(wc -l <<<"$2") == 1 && $2 == *"coordinator is unreachable"* ]]' _ "$rc" "$out"
check "nothing cleared: b is still $ID_B2 with its peers" \
  eval '[[ $(node_id b) == "$ID_B2" && $(device_peers b) -gt 0 && -e $LAB_DIR/b/state/state.pb ]]'
rc=0
out=$(meshctl_in b logout --force 2>&1) || rc=$?
printf '    %s\n' "$out"
check "--force clears b anyway (exit 0) and says the node stays in the mesh" \
  bash -c '[[ $1 == 0 && $2 == *"without removing b ($3)"* ]]' _ "$rc" "$out" "$ID_B2"
check "b: not joined, no state left" \
  eval '[[ $(status_rc b) == 2 && ! -e $LAB_DIR/b/state/state.pb ]]'

checks_summary
