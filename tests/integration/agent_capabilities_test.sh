#!/usr/bin/env bash
# The agent under exactly the capabilities its systemd unit grants (issue 15). The bounding and
# ambient sets are read from deploy/systemd/mesh-agent.service (never listed here); every agent
# runs as uid 0, as the unit (no User=) does, through setpriv: bounding set = the unit's, ambient
# and inheritable = the unit's ambient set, --no-new-privs for NoNewPrivileges=yes. So does the
# wireguard-go it starts. Checks: /proc/PID/status shows only those capabilities (agent and
# wireguard-go); two hosts join, ping each other and find the lan path (raw-socket probes);
# meshctl status works; a third host joins with a container subnet (its agent writes nftables
# rules and forwarding sysctls) and its join and removal reach both devices; the same agent
# without CAP_NET_ADMIN cannot restore its device (kernel driver nor wireguard-go) and says so
# (the control that the set is what matters), without CAP_NET_RAW its tunnels work but it cannot
# probe paths, and with the unit's set again it restores its device. mesh-agent@.service grants
# the same set. sd_notify as systemd would see it: READY=1 (only once the socket is up and the
# device restored: none from the agent that cannot), WATCHDOG=1 pings, STOPPING=1 on SIGTERM.
# Prints "N passed, M failed".
# Usage: MESH_BIN=build/bin tests/integration/agent_capabilities_test.sh   (root)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
UNIT=$(cd "$HERE/../../deploy/systemd" && pwd)/mesh-agent.service
source "$HERE/../lab/mesh_lab_env.sh"
command -v setpriv >/dev/null || { echo "SKIPPED: needs setpriv (util-linux)" >&2; exit 77; }
source "$HERE/../lab/lab.sh"
source "$HERE/../lab/mesh.sh"
source "$HERE/../lab/checks.sh"
source "$HERE/../lab/containers.sh"

# unit_caps KEY [UNIT]: the capabilities KEY= grants in the unit, one a line, lower case without
# "cap_" (systemd's rules: assignments add up, an empty one resets the list).
unit_caps() {
  local key=$1 unit=${2:-$UNIT} line value word
  local -a caps=()
  while IFS= read -r line; do
    [[ $line == "$key="* ]] || continue
    value=${line#"$key="}
    if [[ -z ${value//[[:space:]]/} ]]; then caps=(); continue; fi
    if [[ $value == '~'* ]]; then
      echo "$unit: $key=~... (a deny list) is not handled by this test" >&2
      return 1
    fi
    for word in $value; do
      word=${word,,}
      caps+=("${word#cap_}")
    done
  done <"$unit"
  ((${#caps[@]})) || return 0
  printf '%s\n' "${caps[@]}" | sort -u
}
# unit_setting KEY [UNIT]: the last value of KEY= in the unit (empty if absent).
unit_setting() { sed -n "s/^$1=//p" "${2:-$UNIT}" | tail -1; }

unit_summary() { # UNIT: what this lab mirrors of it, one line
  echo "bounding=$(unit_caps CapabilityBoundingSet "$1" | tr '\n' ' ')" \
    "ambient=$(unit_caps AmbientCapabilities "$1" | tr '\n' ' ')" \
    "nnp=$(unit_setting NoNewPrivileges "$1") user=$(unit_setting User "$1")"
}

# setpriv's capability list: "-all,+a,+b" from names on stdin.
caps_arg() {
  local c out=-all
  while read -r c; do [[ -z $c ]] || out+=",+$c"; done
  printf '%s\n' "$out"
}
# wrapper_for BOUNDING AMBIENT: MESH_AGENT_WRAPPER that runs the agent as the unit would with
# those sets (newline-separated names); NOTIFY_SOCKET for host b (NOTIFY set by the caller).
wrapper_for() {
  MESH_AGENT_WRAPPER=(setpriv --bounding-set "$(caps_arg <<<"$1")"
    --inh-caps "$(caps_arg <<<"$2")" --ambient-caps "$(caps_arg <<<"$2")")
  [[ $NNP == yes ]] && MESH_AGENT_WRAPPER+=(--no-new-privs)
  if [[ -n ${NOTIFY:-} ]]; then
    MESH_AGENT_WRAPPER=(env "NOTIFY_SOCKET=$NOTIFY" WATCHDOG_USEC=1000000
      "${MESH_AGENT_WRAPPER[@]}")
  fi
}

# decode HEX: the capability names of a /proc/PID/status mask, one a line, sorted. Names come
# from setpriv --list-caps, which lists them in the kernel's numbering (0, 1, ...).
decode() {
  local -a names
  local mask=$((16#$1)) i
  mapfile -t names < <(setpriv --list-caps)
  for ((i = 0; i < 64; i++)); do
    if (((mask >> i) & 1)); then printf '%s\n' "${names[i]:-cap$i}"; fi
  done | sort
}
# The same with capsh --decode, when libcap's capsh is there (a second opinion on decode).
decode_capsh() {
  capsh --decode="0x$1" | sed 's/^[^=]*=//' | tr , '\n' | sed 's/^cap_//' | { grep . || true; } |
    sort
}
status_field() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
caps_of() { decode "$(status_field "$1" "$2")"; }
# has_caps PID FIELD EXPECTED: FIELD of PID decodes to EXPECTED (names, one a line).
has_caps() {
  local got
  got=$(caps_of "$1" "$2")
  [[ $got == "$3" ]] && return 0
  echo "    $2 of pid $1: $(tr '\n' ' ' <<<"$got")(want $(tr '\n' ' ' <<<"$3"))"
  return 1
}
show_caps() { # PID LABEL
  local f
  for f in CapEff CapPrm CapInh CapBnd CapAmb; do
    printf '    %s %s=%s (%s)\n' "$2" "$f" "$(status_field "$1" "$f")" \
      "$(caps_of "$1" "$f" | tr '\n' ' ' | sed 's/ $//')"
  done
}
wireguard_go_of() { # AGENT_PID: the wireguard-go it started
  local p
  for p in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
    [[ $(cat "/proc/$p/comm" 2>/dev/null) == wireguard-go ]] && { echo "$p"; return 0; }
  done
  return 1
}
gone() { [[ ! -e /proc/$1 ]] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
no_device() { ! lab_exec "$1" ip link show "$MESH_INTERFACE" >/dev/null 2>&1; }
device_up_with_address() {
  local a
  a=$(lab_exec "$1" ip -br addr show "$MESH_INTERFACE") && grep -q " $(mesh_ip "$1")/" <<<"$a"
}
status_lists() { # NAME PEER
  meshctl_in "$1" status >/dev/null &&
    meshctl_in "$1" status --json |
    jq -e --arg p "$2" '.peers[] | select(.hostname == $p)' >/dev/null
}
sysctl_is() { [[ $(lab_exec "$1" cat "/proc/sys/$2") == "$3" ]]; }
# Whole outputs before grep -q: under pipefail a writer cut off by grep's early exit fails.
has_ctr_route() { local r; r=$(ctr_routes "$1"); grep -qx "$2" <<<"$r"; }
path_is() { [[ $(mesh_peer_path "$1" "$2") == "$3" ]]; }
notified() { grep -c "$2" "$LAB_DIR/$1/notify.log" || true; }
notified_at_least() { [[ $(notified "$1" "$2") -ge $3 ]]; }

lab_init

section "the unit's capabilities ($UNIT)"
BOUND=$(unit_caps CapabilityBoundingSet)
AMBIENT=$(unit_caps AmbientCapabilities)
NNP=$(unit_setting NoNewPrivileges)
printf '    CapabilityBoundingSet: %s\n    AmbientCapabilities: %s\n    NoNewPrivileges=%s\n' \
  "$(tr '\n' ' ' <<<"$BOUND")" "$(tr '\n' ' ' <<<"$AMBIENT")" "$NNP"
check "the unit names a bounding set, and CAP_NET_ADMIN is in it (the negative control drops it)" \
  grep -qx net_admin <<<"$BOUND"
check "the unit has no User= (so this lab runs the agent as uid 0 with the reduced set too)" \
  test -z "$(unit_setting User)"
check "mesh-agent@.service grants the same (bounding, ambient, NoNewPrivileges, no User=)" \
  test "$(unit_summary "${UNIT%.service}@.service")" = "$(unit_summary "$UNIT")"
if command -v capsh >/dev/null; then
  check "the bash decoder agrees with capsh --decode" \
    test "$(decode 3000; decode 1fffeffffff)" = "$(decode_capsh 3000; decode_capsh 1fffeffffff)"
fi

section "two hosts under exactly those capabilities join and ping each other"
mesh_coordinator_start --container-pool 10.244.0.0/16 --container-pool fd10:244::/48
TOKEN=$(mesh_token --reusable --ttl 1h)
wrapper_for "$BOUND" "$AMBIENT"
mesh_host a 1
lab_host b 10.231.0.2/24
NOTIFY=$LAB_DIR/b/notify.sock
lab_spawn b "$LAB_DIR/b/notify.log" /usr/bin/python3 -u -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); s.settimeout(1.0)
end = time.time() + 280
while time.time() < end:
    try:
        print(s.recv(4096).decode().replace("\n", "|"), flush=True)
    except socket.timeout:
        pass' "$NOTIFY" >/dev/null
lab_wait_for "the notify socket" 5 test -S "$NOTIFY"
wrapper_for "$BOUND" "$AMBIENT"
mesh_agent_start b
check "b (not joined yet): READY=1 once its socket is up" \
  lab_wait_for "READY=1" 5 notified_at_least b READY=1 1
check "b: WATCHDOG=1 pings from the main loop (3 within 3 s, WATCHDOG_USEC=1 s)" \
  lab_wait_for "3 WATCHDOG=1" 3 notified_at_least b WATCHDOG=1 3
NOTIFY=""
wrapper_for "$BOUND" "$AMBIENT"
for h in a b; do mesh_join "$h" "$TOKEN" >/dev/null; done
check "a <-> b ping over the mesh (within 5 s)" lab_wait_for "a <-> b" 5 mesh_ping_both a b
check "meshctl status on a exits 0 and lists b as a peer" status_lists a b
check "a's path to b is lan (the probes from the WireGuard port: raw sockets)" \
  lab_wait_for "a's path to b: lan" 5 path_is a b lan

section "what the running processes really have (/proc/PID/status)"
for h in a b; do
  pid=${_MESH_AGENT_PID[$h]}
  check "$h: pid $pid is mesh-agent" test "$(cat "/proc/$pid/comm")" = mesh-agent
  show_caps "$pid" "$h agent"
  for f in CapEff CapPrm CapBnd; do
    check "$h: agent's $f is the unit's bounding set" has_caps "$pid" "$f" "$BOUND"
  done
  for f in CapAmb CapInh; do
    check "$h: agent's $f is the unit's ambient set" has_caps "$pid" "$f" "$AMBIENT"
  done
  if [[ $NNP == yes ]]; then
    check "$h: agent runs with no_new_privs" test "$(status_field "$pid" NoNewPrivs)" = 1
  fi
  check "$h: agent runs as uid 0" test "$(status_field "$pid" Uid)" = 0
  wg=$(wireguard_go_of "$pid") || wg=""
  check "$h: the agent started wireguard-go (pid ${wg:-none})" test -n "$wg"
  if [[ -n $wg ]]; then
    show_caps "$wg" "$h wireguard-go"
    for f in CapEff CapBnd; do
      check "$h: wireguard-go's $f is the unit's bounding set" has_caps "$wg" "$f" "$BOUND"
    done
  fi
done

section "reconciles: a third host with a container subnet joins, then the operator removes it"
# The container subnet is what needs nftables (masquerade) and forwarding sysctls.
lab_host c 10.231.0.3/24
# shellcheck disable=SC2046
mesh_agent_start c $(ctr_agent_args c)
printf '%s\n' "$TOKEN" | meshctl_in c join "$MESH_COORD_ADDR:$MESH_COORD_PORT" --token-file - \
  --fingerprint "$(mesh_fingerprint)" --hostname c --container-subnet auto >"$LAB_DIR/c/join.out"
for h in a b; do check "$h: c is on its device (within 3 s)" mesh_wait_peers "$h" 2 3; done
# status exits 3 until c's Sync stream is up: the subnet is there all the same.
SC=$({ meshctl_in c status --json || true; } | jq -r '.container_subnets[]' |
  { grep -v : || true; } | head -1)
check "a <-> c ping over the mesh (within 5 s)" lab_wait_for "a <-> c" 5 mesh_ping_both a c
check "c: got a container subnet ($SC) and wrote its CNI conflist" test -s "$(ctr_conflist c)"
check "c: its agent made the masquerade table (nftables)" \
  lab_wait_for "table inet mesh_mesh0" 3 lab_exec c nft list table inet "mesh_$MESH_INTERFACE"
check "c: its agent turned IPv4 forwarding on for mesh0 (sysctl)" \
  lab_wait_for "forwarding" 3 sysctl_is c "net/ipv4/conf/$MESH_INTERFACE/forwarding" 1
check "c: and IPv6 forwarding for its IPv6 subnet (sysctl)" \
  lab_wait_for "forwarding" 3 sysctl_is c net/ipv6/conf/all/forwarding 1
for h in a b; do
  check "$h: routes c's subnet through mesh0 (within 3 s)" \
    lab_wait_for "route" 3 has_ctr_route "$h" "$SC"
done
mesh_admin nodes remove c >/dev/null
for h in a b; do check "$h: c is gone from its device (within 3 s)" mesh_wait_peers "$h" 1 3; done
check "a: c's subnet route is withdrawn (within 3 s)" \
  lab_wait_for "no route" 3 eval '! has_ctr_route a "$SC"'
check "a <-> b still ping" mesh_ping_both a b

section "negative control: b's agent without CAP_NET_ADMIN (the unit's set minus that one)"
READY_BEFORE=$(notified b READY=1)
mesh_agent_stop b
check "b: STOPPING=1 on SIGTERM" lab_wait_for "STOPPING=1" 3 notified_at_least b STOPPING=1 1
check "b: its device went with its wireguard-go" lab_wait_for "no mesh0 on b" 3 no_device b
NOTIFY=$LAB_DIR/b/notify.sock
wrapper_for "$(grep -vx net_admin <<<"$BOUND")" "$(grep -vx net_admin <<<"$AMBIENT")"
# The kernel driver first (auto), then wireguard-go (userspace): each must fail for want of it.
WG_LOG=$LAB_DIR/b/state/wireguard-go.log
WG_LOG_BEFORE=$(wc -l <"$WG_LOG")
for driver in auto userspace; do
  log=$LAB_DIR/b/agent-no-net-admin-$driver.log
  pid=$(lab_spawn b "$log" "${MESH_AGENT_WRAPPER[@]}" "$MESH_BIN/mesh-agent" \
    --state-dir "$LAB_DIR/b/state" --socket /run/mesh/agent.sock --interface "$MESH_INTERFACE" \
    --listen-port "$(mesh_port b)" --driver "$driver")
  check "--driver $driver: the agent exits (within 10 s)" lab_wait_for "the agent to exit" 10 gone "$pid"
  grep 'event=fatal' "$log" | sed 's/^/    /'
  check "--driver $driver: its fatal error says it lacks CAP_NET_ADMIN" \
    grep -q 'event=fatal.*\(not permitted; this process lacks CAP_NET_ADMIN\|lacks CAP_NET_ADMIN, which wireguard-go\)' \
    "$log"
  check "--driver $driver: no device" no_device b
done
tail -n +$((WG_LOG_BEFORE + 1)) "$WG_LOG" >"$LAB_DIR/b/wireguard-go-no-net-admin.log"
sed -n '/[Tt][Uu][Nn]/s/^/    wireguard-go: /p' "$LAB_DIR/b/wireguard-go-no-net-admin.log" | tail -1
check "--driver userspace: wireguard-go itself was refused its TUN device" \
  grep -qi 'tun.*operation not permitted' "$LAB_DIR/b/wireguard-go-no-net-admin.log"
check "without CAP_NET_ADMIN: no READY=1 was sent" test "$(notified b READY=1)" = "$READY_BEFORE"

section "b's agent without CAP_NET_RAW (the other one the unit lists) runs, but cannot probe"
if grep -qx net_raw <<<"$BOUND"; then
  wrapper_for "$(grep -vx net_raw <<<"$BOUND")" "$(grep -vx net_raw <<<"$AMBIENT")"
  mesh_agent_start b
  check "b without CAP_NET_RAW: paths disabled, and the warning names CAP_NET_RAW" \
    lab_wait_for "paths_disabled" 5 grep -q 'event=paths_disabled.*CAP_NET_RAW' "$LAB_DIR/b/agent.log"
  check "b without CAP_NET_RAW: the tunnel to a still works (its first candidate, within 5 s)" \
    lab_wait_for "a <-> b" 5 mesh_ping_both a b
  echo "    b's path to a: $(mesh_peer_path b a)"
  check "b without CAP_NET_RAW: its status shows no probed (lan) path to a" \
    eval '[[ $(mesh_peer_path b a) != lan ]]'
  mesh_agent_stop b
fi

section "b's agent with the unit's set again restores its device"
READY_BEFORE=$(notified b READY=1)
wrapper_for "$BOUND" "$AMBIENT"
mesh_agent_start b
check "b: READY=1 again" lab_wait_for "READY=1" 5 notified_at_least b READY=1 $((READY_BEFORE + 1))
check "b: by then its device is up with its overlay address" device_up_with_address b
check "b: READY's status says joined" \
  bash -c 'grep READY=1 "$1" | tail -1 | grep -q "STATUS=joined as b"' _ "$LAB_DIR/b/notify.log"
check "b: and it finds the lan path again (within 5 s)" \
  lab_wait_for "b's path to a: lan" 5 path_is b a lan
check "a <-> b ping again (within 5 s)" lab_wait_for "a <-> b" 5 mesh_ping_both a b

checks_summary
