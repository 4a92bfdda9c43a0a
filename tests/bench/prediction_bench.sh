#!/usr/bin/env bash
# Benchmark (issue 13, one hard side): port prediction's success rate per NAT kind. One pair: h
# behind an endpoint-dependent NAT, e behind an endpoint-independent one, coturn relaying them
# meanwhile. Each trial flushes both NATs' mappings (as a NAT reboot would): the pair loses its
# path, falls back to the relay, h learns its new mapping by STUN, e probes the ports around it
# (<= 256 ports, <= 100 probes/s, <= 10 s a campaign). A trial succeeds when both sides are
# nat-direct again within TIMEOUT seconds of the flush. Kinds: "sequential" (the NAT hands out
# UDP ports in order) and "random" (masquerade random: a random port per flow).
#
#   tests/bench/prediction_bench.sh [TRIALS=20] [TIMEOUT=12]     # as root (uses build/bin)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TRIALS=${1:-20}
TIMEOUT=${2:-12}
: "${MESH_BIN:=$HERE/../../build/bin}"
MESH_BIN=$(cd "$MESH_BIN" && pwd)
[[ $(id -u) -eq 0 ]] || { echo "SKIPPED: bench: run as root" >&2; exit 77; }
for c in jq turnserver; do command -v "$c" >/dev/null || { echo "bench: needs $c" >&2; exit 1; }; done
MESH_COORD_ADDR=203.0.113.254
MESH_DISTINCT_PORTS=1
source "$HERE/../lab/lab.sh"
source "$HERE/../lab/nat.sh"
source "$HERE/../lab/mesh.sh"
source "$HERE/../lab/turn.sh"
lab_init

RELAY_ADDR=203.0.113.253
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
join() { mesh_join "$1" "$TOKEN" >/dev/null; }
peer_path() { mesh_peer_path "$1" "$2"; }
both_direct() { [[ "$(peer_path e h)" == nat-direct && "$(peer_path h e)" == nat-direct ]]; }
not_direct() { [[ "$(peer_path e h)" != nat-direct ]]; }
agent_cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

nat_site s1 1 sequential
nat_site s2 2
lab_host coord "$MESH_COORD_ADDR/24"
lab_host relay "$RELAY_ADDR/24"
SECRET=$(turn_secret "$LAB_DIR/coord/turn-secret")
turn_start relay "$RELAY_ADDR" 3480 "$SECRET" >/dev/null
mesh_coordinator_start --turn "turn:$RELAY_ADDR:3480" --turn-secret-file "$LAB_DIR/coord/turn-secret"
TOKEN=$(mesh_token --reusable --ttl 1h)
nat_host h s1 2
nat_host e s2 2
mesh_agent_start h
mesh_agent_start e
AGENT_E=${_MESH_AGENT_PID[e]}
join e
join h
lab_wait_for "h and e connected" 15 both_direct || true

declare -A OK TIMES CPU
for kind in sequential random; do
  case $kind in
    sequential) nat_set_random s1 sequential ;;
    random) nat_set_random s1 on ;;
  esac
  OK[$kind]=0
  TIMES[$kind]=""
  cpu0=$(agent_cpu "$AGENT_E")
  for ((t = 1; t <= TRIALS; t++)); do
    nat_flush s1
    nat_flush s2
    T0=$(now_ms)
    lab_wait_for "the path lost" 5 not_direct >/dev/null 2>&1 || true
    if lab_wait_for "direct again" "$TIMEOUT" both_direct >/dev/null 2>&1; then
      ms=$(($(now_ms) - T0))
      OK[$kind]=$((OK[$kind] + 1))
      TIMES[$kind]+="$ms "
      echo "  $kind trial $t: direct after $ms ms"
    else
      echo "  $kind trial $t: still $(peer_path e h) after ${TIMEOUT}s"
    fi
  done
  CPU[$kind]=$(awk -v d=$(($(agent_cpu "$AGENT_E") - cpu0)) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", d / hz }')
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit } print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
echo
echo "port prediction, one endpoint-dependent NAT ($TRIALS trials per kind, ${TIMEOUT}s each at most; NAT lab)"
echo "| hard NAT's port allocation | direct within ${TIMEOUT}s | median ms to direct | e's agent CPU s (all trials) |"
echo "|----------------------------|-----------------:|--------------------:|-----------------------------:|"
for kind in sequential random; do
  printf '| %-26s | %8s of %-5s | %19s | %28s |\n' "$kind" "${OK[$kind]}" "$TRIALS" \
    "$(echo "${TIMES[$kind]}" | median)" "${CPU[$kind]}"
done
