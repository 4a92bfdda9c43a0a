# shellcheck shell=bash
# tests/lab/mesh.sh — a mesh on top of the lab library: a coordinator host and agent hosts on one
# LAN (10.231.0.0/24), each agent with its own state dir, wireguard-go and local socket.
# SOURCE after tests/lab/lab.sh and lab_init. Needs MESH_BIN (directory of the built binaries).
#
#   mesh_coordinator_start                 host "coord" at 10.231.0.254, serving :7443
#   mesh_coordinator_stop / _restart
#   mesh_token [ARGS...]                   prints a new token (ARGS: --reusable --ttl 1h ...)
#   mesh_admin ARGS...                     runs `mesh-coordinator ARGS` against the lab's socket
#   mesh_host NAME INDEX                   host NAME at 10.231.0.INDEX with mesh-agent running
#   mesh_nat_host NAME SITE INDEX          the same behind a NAT site (tests/lab/nat.sh, sourced)
#   mesh_agent_start NAME [ARGS...] / mesh_agent_stop NAME   (ARGS: more mesh-agent options)
#                                          MESH_AGENT_WRAPPER (a bash array, empty by default):
#                                          words put before the agent's command, e.g. setpriv
#                                          with systemd's capability set (agent_capabilities)
#   mesh_port NAME                         NAME's WireGuard listen port: 51820, or with
#                                          MESH_DISTINCT_PORTS=1 51820 + its lab index (hosts
#                                          behind one NAT should not share a port: see below)
#   mesh_fingerprint                       the coordinator certificate's fingerprint
#   mesh_join NAME TOKEN                   meshctl join inside NAME, the token on stdin (output
#                                          to stdout)
#   mesh_ip NAME                           NAME's overlay IPv4 (after a join)
#   mesh_ping_pair NAME PEER               one ping over the overlay
#   mesh_ping_both NAME PEER               one ping each way
#   mesh_peer_path NAME PEER               the path NAME's status shows to PEER
#   mesh_all_pairs_ping NAME...            every ordered pair pings
#   meshctl_in NAME ARGS...                meshctl inside NAME
#   mesh_watch_coordinator_udp             counts the UDP the coordinator's host receives: STUN
#                                          (3478/3479) and everything else (nftables counters)
#   mesh_nothing_relayed                   no UDP but STUN reached it (and some STUN did: the
#                                          control that the counting works)
#   mesh_wait_handshakes NAME COUNT TIMEOUT
#                                          waits until NAME's device has COUNT peers with a handshake

: "${MESH_BIN:?MESH_BIN must name the directory with mesh-coordinator, mesh-agent, meshctl}"
: "${MESH_COORD_ADDR:=10.231.0.254}"  # set before sourcing to move it (the NAT labs' "internet")
MESH_COORD_PORT=7443
MESH_INTERFACE=mesh0
declare -gA _MESH_AGENT_PID=()
declare -gA _MESH_IP=()
_MESH_COORD_PID=""
_MESH_COORD_ARGS=()
[[ -v MESH_AGENT_WRAPPER ]] || MESH_AGENT_WRAPPER=()

mesh_admin() {
  "$MESH_BIN/mesh-coordinator" --state-dir "$LAB_DIR/coord/state" "$@"
}

# Extra `serve` arguments are remembered, so mesh_coordinator_restart keeps them.
mesh_coordinator_start() { # [EXTRA serve ARGS...]
  (($#)) && _MESH_COORD_ARGS=("$@")
  if [[ -z "$(lab_ns coord 2>/dev/null || true)" ]] || ! ip netns list | grep -q "^$(lab_ns coord)\b"; then
    lab_host coord "$MESH_COORD_ADDR/24" || return 1
  fi
  _MESH_COORD_PID=$(lab_spawn coord "$LAB_DIR/coord/coordinator.log" \
    "$MESH_BIN/mesh-coordinator" --state-dir "$LAB_DIR/coord/state" serve \
    --listen "$MESH_COORD_ADDR:$MESH_COORD_PORT" --ipv6-prefix fd7a:115c:a1e0::/48 \
    "${_MESH_COORD_ARGS[@]}") || return 1
  lab_wait_for "the coordinator's admin socket" 10 test -S "$LAB_DIR/coord/state/admin.sock"
}

mesh_coordinator_stop() {
  [[ -n "$_MESH_COORD_PID" ]] && lab_stop "$_MESH_COORD_PID"
  _MESH_COORD_PID=""
}

mesh_coordinator_restart() {
  mesh_coordinator_stop
  mesh_coordinator_start
}

mesh_token() {
  mesh_admin token create --quiet "$@"
}

# The coordinator certificate's fingerprint, which every join pins.
mesh_fingerprint() {
  mesh_admin fingerprint
}

meshctl_in() {
  local name=$1
  shift
  lab_exec "$name" "$MESH_BIN/meshctl" --socket /run/mesh/agent.sock "$@"
}

# Two hosts behind one NAT that both send from 51820 to one destination cannot both keep the
# port there: the NAT gives the second another one, which is not the mapping STUN showed it, and
# that pair then finds no direct path (decision 0005). The NAT labs give every host its own port.
mesh_port() {
  local idx=0
  if [[ ${MESH_DISTINCT_PORTS:-0} == 1 ]]; then read -r idx <"$LAB_DIR/$1/.idx" || return 1; fi
  printf '%s\n' $((51820 + idx))
}

mesh_agent_start() { # NAME [EXTRA mesh-agent ARGS...]
  local name=$1 port
  shift
  port=$(mesh_port "$name") || return 1
  _MESH_AGENT_PID[$name]=$(lab_spawn "$name" "$LAB_DIR/$name/agent.log" \
    "${MESH_AGENT_WRAPPER[@]}" "$MESH_BIN/mesh-agent" --state-dir "$LAB_DIR/$name/state" \
    --socket /run/mesh/agent.sock --interface "$MESH_INTERFACE" --listen-port "$port" "$@") || return 1
  lab_wait_for "mesh-agent on $name" 10 lab_exec "$name" test -S /run/mesh/agent.sock
}

mesh_agent_stop() {
  local name=$1
  [[ -n "${_MESH_AGENT_PID[$name]:-}" ]] && lab_stop "${_MESH_AGENT_PID[$name]}"
  _MESH_AGENT_PID[$name]=""
}

mesh_host() {
  local name=$1 index=$2
  lab_host "$name" "10.231.0.$index/24" || return 1
  mesh_agent_start "$name"
}

mesh_nat_host() {
  nat_host "$1" "$2" "$3" || return 1
  mesh_agent_start "$1"
}

mesh_join() {
  local name=$1 token=$2 out
  # The token on stdin, as the README shows: never on a command line other users can read.
  out=$(printf '%s\n' "$token" | meshctl_in "$name" join "$MESH_COORD_ADDR:$MESH_COORD_PORT" \
    --token-file - --fingerprint "$(mesh_fingerprint)" --hostname "$name") ||
    { printf '%s\n' "$out"; return 1; }
  printf '%s\n' "$out"
  # "joined as NAME (ID), addresses 100.64.0.N/10 fd..."
  _MESH_IP[$name]=$(sed -n 's/.*addresses \([0-9.]*\)\/.*/\1/p' <<<"$out")
}

# One ping from NAME to PEER's overlay address (1 s timeout).
mesh_ping_pair() { lab_ping "$1" "$(mesh_ip "$2")" 1 1 >/dev/null 2>&1; }
mesh_ping_both() { mesh_ping_pair "$1" "$2" && mesh_ping_pair "$2" "$1"; }
mesh_peer_path() { # NAME PEER: the path NAME's status shows to PEER (lan, nat-direct, relay, ...)
  meshctl_in "$1" status --json | jq -r --arg p "$2" '.peers[] | select(.hostname == $p) | .path'
}
# Every ordered pair of NAMEs pings over the overlay; names the first pair that does not.
mesh_all_pairs_ping() { # NAME...
  local a b
  for a in "$@"; do for b in "$@"; do
    [[ $a == "$b" ]] && continue
    mesh_ping_pair "$a" "$b" || { echo "    no reply $a -> $b"; return 1; }
  done; done
}

mesh_ip() {
  if [[ -z "${_MESH_IP[$1]:-}" ]]; then
    # status exits 3 while disconnected: the addresses are there all the same.
    _MESH_IP[$1]=$({ meshctl_in "$1" status --json || true; } | sed -n 's/.*"\(100\.[0-9.]*\)\/[0-9]*".*/\1/p' | head -1)
  fi
  printf '%s\n' "${_MESH_IP[$1]}"
}

# Peers of NAME's device with a completed handshake.
mesh_handshakes() {
  lab_exec "$1" env WG_COLOR_MODE=never wg show "$MESH_INTERFACE" latest-handshakes 2>/dev/null |
    awk '$2 != 0 { n++ } END { print n + 0 }'
}

mesh_peer_count() {
  lab_exec "$1" env WG_COLOR_MODE=never wg show "$MESH_INTERFACE" peers 2>/dev/null | grep -c . || true
}

_mesh_has_handshakes() { [[ "$(mesh_handshakes "$1")" -ge "$2" ]]; }
_mesh_has_peers() { [[ "$(mesh_peer_count "$1")" -eq "$2" ]]; }

mesh_wait_handshakes() {
  lab_wait_for "$3 s for $2 handshakes on $1" "$3" _mesh_has_handshakes "$1" "$2"
}

mesh_wait_peers() {
  lab_wait_for "$1 to have exactly $2 peers" "$3" _mesh_has_peers "$1" "$2"
}

mesh_watch_coordinator_udp() {
  lab_exec coord nft -f - <<'NFT'
table inet watch {
  counter other {}
  counter stun {}
  chain in {
    type filter hook input priority 0;
    udp dport { 3478, 3479 } counter name stun accept
    meta l4proto udp counter name other
  }
}
NFT
}
_mesh_coord_udp() { # other|stun
  lab_exec coord nft list counter inet watch "$1" 2>/dev/null | awk '/packets/ { print $2 }'
}
mesh_nothing_relayed() {
  local n s
  n=$(_mesh_coord_udp other)
  s=$(_mesh_coord_udp stun)
  [[ $n == 0 && $s -gt 0 ]] || { echo "    $n non-STUN UDP packets, $s STUN packets"; return 1; }
}
