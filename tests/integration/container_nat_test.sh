#!/usr/bin/env bash
# Container subnets across NATs (issue 12): two container hosts behind two different nftables
# NATs (tests/lab/nat.sh, no port forwards), a coordinator with its STUN responder on the
# "internet". A container on each host, attached with the real CNI plugins, reaches the other
# with its source address preserved, over the direct path the hosts' tunnel took (the WireGuard
# endpoints are the NATs' public addresses, the coordinator sees no WireGuard packet: nothing is
# relayed), and a container's traffic to the internet leaves with its site's public address.
# Prints "N passed, M failed".
# Usage: MESH_BIN=build/bin tests/integration/container_nat_test.sh   (root)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lab/mesh_lab_env.sh"
MESH_COORD_ADDR=203.0.113.254
MESH_DISTINCT_PORTS=1  # every host its own WireGuard port (tests/lab/mesh.sh, mesh_port)
source "$HERE/../lab/lab.sh"
source "$HERE/../lab/nat.sh"
source "$HERE/../lab/mesh.sh"
source "$HERE/../lab/checks.sh"
source "$HERE/../lab/containers.sh"

lab_init

join_auto() { # NAME TOKEN
  printf '%s\n' "$2" | meshctl_in "$1" join "$MESH_COORD_ADDR:$MESH_COORD_PORT" \
    --token-file - --fingerprint "$(mesh_fingerprint)" --hostname "$1" --container-subnet auto
}
wg_endpoint() { # HOST PEER_HOST: the endpoint HOST's device has for PEER_HOST
  local key
  key=$(meshctl_in "$2" status --json | jq -r .public_key)
  lab_exec "$1" env WG_COLOR_MODE=never wg show "$MESH_INTERFACE" endpoints | awk -v k="$key" '$1 == k { print $2 }'
}
endpoint_is() { [[ "$(wg_endpoint "$1" "$2")" == "$3" ]] || { echo "    $1 has $2 at $(wg_endpoint "$1" "$2")"; return 1; }; }
peer_path() { meshctl_in "$1" status --json | jq -r --arg p "$2" '.peers[] | select(.hostname == $p) | .path'; }
path_is() { [[ "$(peer_path "$1" "$2")" == "$3" ]]; }

section "an internet, two NAT sites, a coordinator with STUN; a container host behind each NAT"
nat_site s1 1
nat_site s2 2
mesh_coordinator_start
mesh_watch_coordinator_udp
TOKEN=$(mesh_token --reusable --ttl 1h)
for h in a b; do
  site=s1
  [[ $h == b ]] && site=s2
  nat_host "$h" "$site" 2
  # shellcheck disable=SC2046
  mesh_agent_start "$h" $(ctr_agent_args "$h")
  join_auto "$h" "$TOKEN" >/dev/null
done
check "a: 1 peer with a handshake (within 5 s)" mesh_wait_handshakes a 1 5
check "b: 1 peer with a handshake (within 5 s)" mesh_wait_handshakes b 1 5
check "a's path to b is nat-direct (within 5 s)" lab_wait_for "a -> b nat-direct" 5 path_is a b nat-direct
check "a's device has b at nat-s2's public address" endpoint_is a b "203.0.113.2:$(mesh_port b)"
check "b's device has a at nat-s1's public address" endpoint_is b a "203.0.113.1:$(mesh_port a)"

section "containers behind the two NATs reach each other, sources preserved"
check "ca attached to a (CNI ADD)" ctr_add a ca
check "cb attached to b (CNI ADD)" ctr_add b cb
ctr_echo_start ca
ctr_echo_start cb
lab_host web 203.0.113.200/24
ctr_echo_start web
CA=$(ctr_ip ca)
CB=$(ctr_ip cb)
check "ca -> cb: the echo saw ca's own address $CA" ctr_source_is ca "$CB" "$CA"
check "cb -> ca: the echo saw cb's own address $CB" ctr_source_is cb "$CA" "$CB"
check "ca pings cb" lab_ping ca "$CB" 3 1
check "the coordinator saw no WireGuard packet (nothing relayed)" mesh_nothing_relayed
check "ca -> an internet host: it saw nat-s1's public address" ctr_source_is ca 203.0.113.200 203.0.113.1
check "cb -> an internet host: it saw nat-s2's public address" ctr_source_is cb 203.0.113.200 203.0.113.2

checks_summary
