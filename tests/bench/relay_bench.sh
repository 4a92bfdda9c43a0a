#!/usr/bin/env bash
# Benchmark (issue 13): one pair of hosts, first relayed through coturn (both NATs
# endpoint-dependent), then direct once both NATs turn endpoint-independent (same run, same
# pair): TCP throughput (iperf3), RTT (ping), the agents' CPU per Gbit/s while relayed (their
# proxies carry the packets), coturn's CPU, the time from the second join to the first relayed
# ping, and the time from the NATs' change to the pair's direct path.
#
#   tests/bench/relay_bench.sh [RUNS=3] [SECONDS=5]     # as root (uses build/bin)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
RUNS=${1:-3}
SECS=${2:-5}
: "${MESH_BIN:=$HERE/../../build/bin}"
MESH_BIN=$(cd "$MESH_BIN" && pwd)
[[ $(id -u) -eq 0 ]] || { echo "SKIPPED: bench: run as root" >&2; exit 77; }
for c in iperf3 jq turnserver; do command -v "$c" >/dev/null || { echo "bench: needs $c" >&2; exit 1; }; done
MESH_COORD_ADDR=203.0.113.254
MESH_DISTINCT_PORTS=1
source "$HERE/../lab/lab.sh"
source "$HERE/../lab/nat.sh"
source "$HERE/../lab/mesh.sh"
source "$HERE/../lab/turn.sh"
lab_init

RELAY_ADDR=203.0.113.253
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }  # utime + stime, clock ticks
join() { mesh_join "$1" "$TOKEN" >/dev/null; }
peer_path() { mesh_peer_path "$1" "$2"; }
path_is() { [[ "$(peer_path "$1" "$2")" == "$3" ]]; }
both_direct() { path_is a b nat-direct && path_is b a nat-direct; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit } printf "%.3f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
rtt() { lab_exec a ping -n -q -c 20 -i 0.05 -W 1 "$(mesh_ip b)" | awk -F/ '/rtt/ { print $5 }'; }
# RUNS iperf3 runs a -> b; prints "median_gbps agent_cpu_seconds coturn_cpu_seconds total_gbit".
measure() {
  local ticks hz=$(getconf CLK_TCK) a0 b0 c0 a1 b1 c1 rates=() total=0 g
  a0=$(cpu_ticks "$AGENT_A"); b0=$(cpu_ticks "$AGENT_B"); c0=$(cpu_ticks "$COTURN")
  for ((r = 0; r < RUNS; r++)); do
    g=$(lab_exec a iperf3 -J -c "$(mesh_ip b)" -t "$SECS" -O 1 | jq -r '.end.sum_received.bits_per_second / 1e9')
    rates+=("$g")
    total=$(awk -v t="$total" -v g="$g" -v s="$SECS" 'BEGIN { print t + g * s }')
  done
  a1=$(cpu_ticks "$AGENT_A"); b1=$(cpu_ticks "$AGENT_B"); c1=$(cpu_ticks "$COTURN")
  printf '%s %s %s %s\n' "$(printf '%s\n' "${rates[@]}" | median)" \
    "$(awk -v d=$((a1 - a0 + b1 - b0)) -v hz="$hz" 'BEGIN { printf "%.2f", d / hz }')" \
    "$(awk -v d=$((c1 - c0)) -v hz="$hz" 'BEGIN { printf "%.2f", d / hz }')" "$total"
}

nat_site s1 1 random
nat_site s2 2 random
lab_host coord "$MESH_COORD_ADDR/24"
lab_host relay "$RELAY_ADDR/24"
SECRET=$(turn_secret "$LAB_DIR/coord/turn-secret")
COTURN=$(turn_start relay "$RELAY_ADDR" 3480 "$SECRET")
mesh_coordinator_start --turn "turn:$RELAY_ADDR:3480" --turn-secret-file "$LAB_DIR/coord/turn-secret"
TOKEN=$(mesh_token --reusable --ttl 1h)
nat_host a s1 2
nat_host b s2 2
mesh_agent_start a
mesh_agent_start b
AGENT_A=${_MESH_AGENT_PID[a]}
AGENT_B=${_MESH_AGENT_PID[b]}
join a
T0=$(now_ms)
join b
lab_wait_for "first relayed ping" 5 lab_ping a "$(mesh_ip b)" 1 1
T1=$(now_ms)
path_is a b relay || { echo "bench: the pair is not relayed ($(peer_path a b))" >&2; exit 1; }
lab_spawn b "$LAB_DIR/b/iperf.log" iperf3 -s >/dev/null
lab_wait_for "iperf3 on b" 5 lab_exec b sh -c 'ss -ltn | grep -q ":5201 "'
read -r R_GBPS R_AGENT R_COTURN R_GBIT < <(measure)
R_RTT=$(rtt)

nat_set_random s1 off
nat_set_random s2 off
nat_flush s1
nat_flush s2
T2=$(now_ms)
lab_wait_for "direct path" 30 both_direct || true
T3=$(now_ms)
if ! both_direct; then echo "bench: the pair did not go direct (a: $(peer_path a b), b: $(peer_path b a))" >&2; exit 1; fi
read -r D_GBPS D_AGENT D_COTURN D_GBIT < <(measure)
D_RTT=$(rtt)

per_gbit() { awk -v c="$1" -v g="$2" 'BEGIN { if (g > 0) printf "%.2f", c / g; else print "-" }'; }
echo
echo "one pair, relayed through coturn then direct (iperf3 $RUNS x ${SECS}s each; wireguard-go; NAT lab)"
echo "| path                  | median Gbit/s | RTT ms (avg of 20) | agents' CPU s per Gbit | coturn CPU s per Gbit |"
echo "|-----------------------|--------------:|-------------------:|-----------------------:|----------------------:|"
printf '| relayed (coturn)      | %13s | %18s | %22s | %21s |\n' "$R_GBPS" "$R_RTT" "$(per_gbit "$R_AGENT" "$R_GBIT")" "$(per_gbit "$R_COTURN" "$R_GBIT")"
printf '| direct (base)         | %13s | %18s | %22s | %21s |\n' "$D_GBPS" "$D_RTT" "$(per_gbit "$D_AGENT" "$D_GBIT")" "$(per_gbit "$D_COTURN" "$D_GBIT")"
awk -v r="$R_GBPS" -v d="$D_GBPS" 'BEGIN { if (d > 0) printf "relayed / direct throughput: %.2fx (goal >= 0.8x)\n", r / d }'
echo "second join -> first relayed ping: $((T1 - T0)) ms (goal: within 3 s)"
echo "NATs turned endpoint-independent -> both sides direct: $((T3 - T2)) ms (goal: within 2 s)"
