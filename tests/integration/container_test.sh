#!/usr/bin/env bash
# Container-host networking (issue 12): three hosts with container subnets from the coordinator's
# pool ("auto", IPv4 and IPv6), a "container" on each attached with the real CNI bridge and
# host-local plugins from the conflist each agent wrote. Checks that containers reach each other
# in every direction with their source addresses preserved (a UDP echo reports the source it
# saw), that a container's traffic to an address outside the mesh leaves with its host's
# address, that an agent restart adopts the routes (no change, traffic keeps flowing) and a
# coordinator outage changes nothing, that an
# overlapping prefix is refused naming the holder, that a re-joining host keeps its subnet, that
# CNI CHECK/DEL work (DEL releases the address) and a broken configuration leaves nothing behind,
# that a host leaving withdraws its subnet's routes and allowed IPs from every peer, and that its
# subnet is held for it (--container-grace) so that it gets it back when it returns.
# Prints "N passed, M failed".
# Usage: MESH_BIN=build/bin tests/integration/container_test.sh   (root)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lab/mesh_lab_env.sh"
source "$HERE/../lab/lab.sh"
source "$HERE/../lab/mesh.sh"
source "$HERE/../lab/checks.sh"
source "$HERE/../lab/containers.sh"

lab_init

join_with() { # NAME TOKEN [meshctl join ARGS...]
  local name=$1 token=$2
  shift 2
  printf '%s\n' "$token" | meshctl_in "$name" join "$MESH_COORD_ADDR:$MESH_COORD_PORT" \
    --token-file - --fingerprint "$(mesh_fingerprint)" --hostname "$name" "$@"
}
subnet_of() { # NAME [4|6]: NAME's container subnet as its agent reports it
  local family=${2:-4}
  meshctl_in "$1" status --json | jq -r '.container_subnets[]' |
    if [[ $family == 4 ]]; then grep -v :; else grep :; fi | head -1
}
allowed_ips_of() { # HOST PEER: the allowed IPs HOST's device has for PEER
  local key
  key=$(meshctl_in "$2" status --json | jq -r .public_key)
  lab_exec "$1" env WG_COLOR_MODE=never wg show "$MESH_INTERFACE" allowed-ips |
    awk -v k="$key" '$1 == k { $1 = ""; print }'
}
has_route() { local r; r=$(ctr_routes "$1"); grep -qx "$2" <<<"$r"; }
lacks_route() { ! has_route "$@"; }
allowed_has() { [[ " $(allowed_ips_of "$1" "$2") " == *" $3 "* ]]; }
allowed_lacks() { ! allowed_has "$@"; }
ctr_pings() { lab_ping "$1" "$2" 1 1; }
has_routes() { local h=$1; shift; local p; for p in "$@"; do has_route "$h" "$p" || return 1; done; }
sysctl_is() { [[ $(lab_exec "$1" cat "/proc/sys/$2") == "$3" ]]; }
mtu_is() { [[ $(lab_exec "$1" cat /sys/class/net/eth0/mtu) == "$2" ]]; }
no_eth0() { ! lab_exec "$1" ip link show eth0 >/dev/null 2>&1; }
not_listed() { ! mesh_admin nodes list | grep -q "^$1 "; }
no_allowed_ip() { ! lab_exec "$1" env WG_COLOR_MODE=never wg show "$MESH_INTERFACE" allowed-ips | grep -q "$2"; }
no_masquerade_table() { ! lab_exec "$1" nft list table inet "mesh_$MESH_INTERFACE" >/dev/null 2>&1; }
routes_unchanged() { [[ "$(routes_snapshot "$1")" == "$2" ]] || { echo "    before: $2"; echo "    after:  $(routes_snapshot "$1")"; return 1; }; }
no_route_change_since_start() {
  local log="$LAB_DIR/$1/agent.log" from
  from=$(grep -n "event=started" "$log" | tail -1 | cut -d: -f1)
  ! tail -n +"$from" "$log" | grep -q event=container_routes
}
routes_snapshot() { lab_exec "$1" ip -o route show dev "$MESH_INTERFACE"; lab_exec "$1" ip -o -6 route show dev "$MESH_INTERFACE"; }

section "coordinator with an IPv4 and an IPv6 container pool, three hosts with auto subnets"
mesh_coordinator_start --container-pool 10.244.0.0/16 --container-pool fd10:244::/48
TOKEN=$(mesh_token --reusable --ttl 1h)
for i in 1 2 3; do
  lab_host "h$i" "10.231.0.$i/24"
  # shellcheck disable=SC2046
  mesh_agent_start "h$i" $(ctr_agent_args "h$i")
done
for i in 1 2 3; do join_with "h$i" "$TOKEN" --container-subnet auto >"$LAB_DIR/h$i/join.out"; done
for h in h1 h2 h3; do
  check "$h: joined with a /24 and a /64 container subnet (printed by meshctl join)" \
    grep -qE '^container subnet 10\.244\.[0-9]+\.0/24 fd10:244:[0-9a-f:]*/64$' "$LAB_DIR/$h/join.out"
done
S1=$(subnet_of h1); S2=$(subnet_of h2); S3=$(subnet_of h3)
check "three distinct IPv4 subnets ($S1 $S2 $S3)" \
  test "$(printf '%s\n' "$S1" "$S2" "$S3" | sort -u | grep -c /24)" = 3
check "nodes list shows each host's container subnets (last column)" \
  bash -c '[[ $(grep -cE "10\.244\.[0-9]+\.0/24,fd10:244:" <<<"$1") == 3 ]]' _ "$(mesh_admin nodes list)"
for h in h1 h2 h3; do
  check "$h: the agent wrote a bridge + host-local conflist for its subnet" \
    bash -c '[[ $(jq -r ".plugins[0].type, .plugins[0].ipam.type, .plugins[0].ipam.ranges[0][0].subnet" "$1" | tr "\n" " ") == "bridge host-local $2 " ]]' \
    _ "$(ctr_conflist "$h")" "$(subnet_of "$h")"
done
for h in h1 h2 h3; do
  check "$h: 2 peers with a handshake (within 5 s)" mesh_wait_handshakes "$h" 2 5
done
check "h1 routes h2's and h3's subnets through mesh0" has_routes h1 "$S2" "$S3"
check "h1's device has h2's subnets in h2's allowed IPs" allowed_has h1 h2 "$S2"
check "h1 has no route for its own subnet through mesh0" lacks_route h1 "$S1"
check "h1: masquerade table inet mesh_mesh0 exists" lab_exec h1 nft list table inet mesh_mesh0
check "h1: IPv4 forwarding is on for mesh0" sysctl_is h1 net/ipv4/conf/mesh0/forwarding 1

section "one container per host, attached with the real bridge and host-local plugins"
for i in 1 2 3; do
  check "c$i attached to h$i (CNI ADD)" ctr_add "h$i" "c$i"
  ctr_echo_start "c$i"
done
C1=$(ctr_ip c1); C2=$(ctr_ip c2); C3=$(ctr_ip c3)
check "container addresses come from their host's subnet ($C1 $C2 $C3)" \
  bash -c '[[ $1 == ${4%.0/24}.* && $2 == ${5%.0/24}.* && $3 == ${6%.0/24}.* ]]' _ "$C1" "$C2" "$C3" "$S1" "$S2" "$S3"
check "CNI CHECK passes for c1" ctr_cni h1 c1 CHECK
check "container MTU is the mesh's (1420)" mtu_is c1 1420

section "containers reach each other in every direction, source addresses preserved"
for pair in "c1 c2" "c1 c3" "c2 c1" "c2 c3" "c3 c1" "c3 c2"; do
  read -r from to <<<"$pair"
  check "$from -> $to: the echo saw $from's own address" \
    ctr_source_is "$from" "$(ctr_ip "$to")" "$(ctr_ip "$from")"
done
check "c1 pings c2" ctr_pings c1 "$C2"
check "c1 pings c3" ctr_pings c1 "$C3"
check "c2 pings c3's IPv6 address (within 3 s: DAD)" \
  lab_wait_for "IPv6 ping c2 -> c3" 3 lab_ping c2 "$(ctr_ip c3 6)" 1 1
check "c3 -> c1 over IPv6: the echo saw c3's own IPv6 address" \
  ctr_source_is c3 "$(ctr_ip c1 6)" "$(ctr_ip c3 6)"
check "host h2 reaches container c1 (its overlay source: no masquerade)" \
  ctr_source_is h2 "$C1" "$(mesh_ip h2)"

section "a container's traffic outside the mesh leaves with its host's address"
lab_host outside 10.231.0.200/24
ctr_echo_start outside
check "c1 -> outside: the echo saw h1's LAN address 10.231.0.1" ctr_source_is c1 10.231.0.200 10.231.0.1
check "c2 -> outside: the echo saw h2's LAN address 10.231.0.2" ctr_source_is c2 10.231.0.200 10.231.0.2

section "an agent crash and restart: routes and device adopted, containers keep connectivity"
# A crash, not a stop: a stopped agent takes the wireguard-go it started with it (decision 0003);
# a crashed one leaves the device running, as the kernel's device outlives any agent.
BEFORE=$(routes_snapshot h1)
kill -9 "${_MESH_AGENT_PID[h1]}"
lab_wait_for "h1's agent gone" 5 bash -c '! kill -0 "$1" 2>/dev/null' _ "${_MESH_AGENT_PID[h1]}"
check "with h1's agent dead, c1 still reaches c2 (source kept)" ctr_source_is c1 "$C2" "$C1"
check "with h1's agent dead, c2 still reaches c1 (source kept)" ctr_source_is c2 "$C1" "$C2"
# shellcheck disable=SC2046
mesh_agent_start h1 $(ctr_agent_args h1)
check "h1 syncs again (within 5 s)" lab_wait_for "h1 connected" 5 meshctl_in h1 status
check "h1's routes through mesh0 are the same after the restart" routes_unchanged h1 "$BEFORE"
check "the restarted agent changed no route (no container_routes event since it started)" \
  no_route_change_since_start h1
check "after the restart, c1 -> c3 keeps its source" ctr_source_is c1 "$C3" "$C1"

section "a coordinator outage changes nothing for running containers"
mesh_coordinator_stop
check "coordinator down: c2 -> c3 keeps its source" ctr_source_is c2 "$C3" "$C2"
check "coordinator down: h1's routes unchanged" routes_unchanged h1 "$BEFORE"
mesh_coordinator_start
check "coordinator back: h1 connected again (within 10 s)" lab_wait_for "h1 reconnects" 10 meshctl_in h1 status

section "overlapping prefixes are refused; a re-joining host keeps its subnet"
lab_host h4 10.231.0.4/24
# shellcheck disable=SC2046
mesh_agent_start h4 $(ctr_agent_args h4)
OUT=$(join_with h4 "$TOKEN" --container-subnet "$S2" 2>&1 || true)
check "h4 asking for h2's subnet is refused, naming h2" \
  bash -c 'grep -q "overlaps" <<<"$1" && grep -q "h2" <<<"$1" || { echo "    $1"; false; }' _ "$OUT"
OUT=$(join_with h4 "$TOKEN" --container-subnet 100.64.9.0/24 2>&1 || true)
check "h4 asking for part of the overlay is refused" grep -qi overlay <<<"$OUT"
OUT=$(join_with h4 "$TOKEN" --container-subnet 10.244.300.0/24 2>&1 || true)
check "a malformed prefix is refused with one clear line" \
  bash -c 'grep -qi "join failed" <<<"$1" && [[ $(grep -c . <<<"$1") == 1 ]]' _ "$OUT"
check "h4 is not in the mesh after the refusals" not_listed h4
check "h4 joins with its own prefix 10.250.4.0/24" join_with h4 "$TOKEN" --container-subnet 10.250.4.0/24
check "h1 routes h4's own prefix (within 2 s)" lab_wait_for "h1 route to h4" 2 has_route h1 10.250.4.0/24
join_with h2 "$TOKEN" >/dev/null
check "h2 re-joining without --container-subnet keeps $S2" test "$(subnet_of h2)" = "$S2"
join_with h2 "$TOKEN" --container-subnet "$S2" >/dev/null
check "h2 re-joining naming its own $S2 keeps it" test "$(subnet_of h2)" = "$S2"
join_with h2 "$TOKEN" --container-subnet auto >/dev/null
check "h2 re-joining with auto keeps $S2" test "$(subnet_of h2)" = "$S2"
check "c1 -> c2 still keeps its source" ctr_source_is c1 "$C2" "$C1"

section "CNI DEL releases the address; a broken configuration leaves nothing behind"
check "CNI DEL of c3" ctr_cni h3 c3 DEL
check "c3's address lease is released" \
  bash -c '! ls "$1" | grep -qx "$2"' _ "$LAB_DIR/h3/cni-ipam/$MESH_INTERFACE" "$C3"
check "c3 has no eth0 after DEL" no_eth0 c3
BROKEN=$(jq -c '{cniVersion, name} + .plugins[0] | .ipam.ranges[0][0].subnet = "10.244.999.0/24"' "$(ctr_conflist h3)")
OUT=$(ctr_cni h3 c3 ADD "$BROKEN" 2>&1 || true)
check "ADD with a broken subnet fails with the plugin's error" \
  bash -c 'jq -e ".code and (.msg | test(\"invalid CIDR\"))" <<<"$1" >/dev/null' _ "$OUT"
# What a runtime does after a failed ADD (CNI spec): DEL with the same configuration. The
# plugin answers with the same error, yet removes the link the failed ADD left.
ctr_cni h3 c3 DEL "$BROKEN" >/dev/null 2>&1 || true
check "after the runtime's DEL nothing of the failed ADD is left in c3 (no eth0)" no_eth0 c3
OUT=$(ctr_cni h3 c3 ADD "not json" 2>&1 || true)
check "ADD with a configuration that is not JSON fails (code 6: cannot decode), nothing made" \
  bash -c 'jq -e ".code == 6" <<<"$1" >/dev/null' _ "$OUT"
check "c3 has no eth0 after the undecodable ADD" no_eth0 c3
check "c3 attached again (CNI ADD)" ctr_add h3 c3
C3=$(ctr_ip c3)
check "c1 -> c3 (re-attached) keeps its source" ctr_source_is c1 "$C3" "$C1"

section "a host leaving withdraws its subnet from every peer"
mesh_admin nodes remove h3 >/dev/null
for h in h1 h2 h4; do
  check "$h: route to h3's $S3 withdrawn (within 2 s)" lab_wait_for "$h route gone" 2 lacks_route "$h" "$S3"
done
check "h1's device has no peer with $S3 in its allowed IPs" no_allowed_ip h1 "$S3"
check "h3's agent removed its conflist (within 2 s)" \
  lab_wait_for "h3 conflist removed" 2 test ! -e "$(ctr_conflist h3)"
check "h3's masquerade table is gone" no_masquerade_table h3
check "c1 -> c2 unaffected" ctr_source_is c1 "$C2" "$C1"
OUT=$(join_with h4 "$TOKEN" --container-subnet "$S3" 2>&1 || true)
check "h3's subnet is held for it: h4 cannot take it" grep -q "held for the removed host h3" <<<"$OUT"

section "the removed host comes back within the grace period: its subnet and containers too"
join_with h3 "$TOKEN" --container-subnet auto >/dev/null
check "h3 re-joined (a new node) with its old subnet $S3" test "$(subnet_of h3)" = "$S3"
check "h1 routes $S3 again (within 2 s)" lab_wait_for "h1 route to h3" 2 has_route h1 "$S3"
check "h3's conflist is back" test -s "$(ctr_conflist h3)"
check "c1 -> c3 (which kept its address) works again, source kept (within 3 s)" \
  lab_wait_for "c1 -> c3 again" 3 ctr_source_is c1 "$C3" "$C1"

checks_summary
