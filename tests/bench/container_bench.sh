#!/usr/bin/env bash
# Benchmark (issue 12), two parts on the same lab and in the same run:
#  1. TCP throughput container-to-container against host-to-host over the mesh, same pair of
#     hosts (iperf3, alternating runs so both see the same machine load). Goal: >= 0.95x.
#  2. The time from `meshctl join --container-subnet auto` on a new host, through the attach of
#     a container on it (CNI ADD with the conflist its agent wrote), to the first ping reply from
#     a container on an existing host; beside it, from the same join, the first ping reply
#     host-to-host (the mesh's own floor in that trial). Goal: under 1 s.
#
#   tests/bench/container_bench.sh [RUNS=5] [TRIALS=10] [SECONDS=5]   # as root (uses build/bin)
#
# iperf3 reports the sender's CPU too (host_total, user+system of the iperf3 process), so a run
# where the load generator was the bottleneck is visible. Prints two tables.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
RUNS=${1:-5}
TRIALS=${2:-10}
SECS=${3:-5}
: "${MESH_BIN:=$HERE/../../build/bin}"
MESH_BIN=$(cd "$MESH_BIN" && pwd)
[[ $(id -u) -eq 0 ]] || { echo "SKIPPED: bench: run as root" >&2; exit 77; }
for c in iperf3 jq; do command -v "$c" >/dev/null || { echo "bench: needs $c" >&2; exit 1; }; done
source "$HERE/../lab/lab.sh"
source "$HERE/../lab/mesh.sh"
source "$HERE/../lab/containers.sh"
lab_init

now_us() { local t=${EPOCHREALTIME/./}; echo "$t"; }
join_auto() { # NAME
  printf '%s\n' "$TOKEN" | meshctl_in "$1" join "$MESH_COORD_ADDR:$MESH_COORD_PORT" \
    --token-file - --fingerprint "$(mesh_fingerprint)" --hostname "$1" --container-subnet auto
}
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit } printf "%.2f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
percentile() { # P < numbers
  sort -n | awk -v p="$1" '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit } i = int((NR - 1) * p / 100) + 1; printf "%.1f", v[i] }'
}
# One iperf3 run FROM -> TO_ADDR (server already on TO); prints "Gbit/s sender_cpu%".
iperf_run() { # FROM ADDR
  lab_exec "$1" iperf3 -J -c "$2" -t "$SECS" -O 1 2>/dev/null |
    jq -r '"\(.end.sum_received.bits_per_second / 1e9) \(.end.cpu_utilization_percent.host_total)"'
}
# The first ping reply (unix microseconds) from FROM to ADDR, 10 ms apart for up to 5 s.
first_reply() { # FROM ADDR
  lab_exec "$1" ping -n -D -i 0.01 -c 1 -w 5 "$2" 2>/dev/null |
    awk '/bytes from/ { gsub(/[\[\]]/, "", $1); split($1, p, "."); printf "%s%06d\n", p[1], p[2]; exit }'
}

mesh_coordinator_start --container-grace 0
TOKEN=$(mesh_token --reusable --ttl 2h)
for i in 1 2; do
  lab_host "h$i" "10.231.0.$i/24"
  # shellcheck disable=SC2046
  mesh_agent_start "h$i" $(ctr_agent_args "h$i")
  join_auto "h$i" >/dev/null
done
mesh_wait_handshakes h1 1 10
ctr_add h1 c1
ctr_add h2 c2
C2=$(ctr_ip c2)
H2=$(mesh_ip h2)
lab_spawn h2 "$LAB_DIR/h2/iperf.log" iperf3 -s >/dev/null
lab_spawn c2 "$LAB_DIR/c2/iperf.log" iperf3 -s >/dev/null
lab_wait_for "iperf3 on h2" 5 lab_exec h2 sh -c 'ss -ltn | grep -q ":5201 "'
lab_wait_for "iperf3 on c2" 5 lab_exec c2 sh -c 'ss -ltn | grep -q ":5201 "'
lab_ping c1 "$C2" 3 1 >/dev/null || { echo "bench: c1 cannot reach c2" >&2; exit 1; }

host_bps=() ctr_bps=() host_cpu=() ctr_cpu=()
for ((r = 0; r < RUNS; r++)); do
  read -r b c < <(iperf_run h1 "$H2")
  host_bps+=("$b") host_cpu+=("$c")
  read -r b c < <(iperf_run c1 "$C2")
  ctr_bps+=("$b") ctr_cpu+=("$c")
done
H=$(printf '%s\n' "${host_bps[@]}" | median)
C=$(printf '%s\n' "${ctr_bps[@]}" | median)
HC=$(printf '%s\n' "${host_cpu[@]}" | median)
CC=$(printf '%s\n' "${ctr_cpu[@]}" | median)
RATIO=$(awk -v a="$C" -v b="$H" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }')

# Part 2: h3 joins fresh each trial (new keys: its state is wiped), attaches c3, and c1 pings it.
lab_host h3 10.231.0.3/24
_lab_host_make c3
join_ms=() ctr_ms=() host_ms=() fails=0
for ((t = 0; t < TRIALS; t++)); do
  # shellcheck disable=SC2046
  mesh_agent_start h3 $(ctr_agent_args h3)
  t0=$(now_us)
  if ! join_auto h3 >"$LAB_DIR/h3/join.out" 2>&1; then
    fails=$((fails + 1))
  else
    t1=$(now_us)
    H3=$(mesh_ip h3)
    lab_exec h1 ping -n -D -i 0.01 -c 1 -w 5 "$H3" >"$LAB_DIR/h3/hostping" 2>&1 &
    hostping=$!
    if ctr_add h3 c3 >/dev/null 2>&1; then
      t2=$(first_reply c1 "$(ctr_ip c3)")
      wait "$hostping" || true
      th=$(awk '/bytes from/ { gsub(/[\[\]]/, "", $1); split($1, p, "."); printf "%s%06d\n", p[1], p[2]; exit }' "$LAB_DIR/h3/hostping")
      if [[ -n $t2 && -n $th ]]; then
        join_ms+=("$(((t1 - t0) / 1000))")
        ctr_ms+=("$(awk -v a="$t2" -v b="$t0" 'BEGIN { printf "%.1f", (a - b) / 1000 }')")
        host_ms+=("$(awk -v a="$th" -v b="$t0" 'BEGIN { printf "%.1f", (a - b) / 1000 }')")
      else
        fails=$((fails + 1))
      fi
      ctr_cni h3 c3 DEL >/dev/null 2>&1 || true
    else
      wait "$hostping" || true
      fails=$((fails + 1))
    fi
  fi
  mesh_admin nodes remove h3 >/dev/null 2>&1 || true
  mesh_agent_stop h3
  rm -rf "${LAB_DIR:?}/h3/state" "$LAB_DIR/h3/cni" "$LAB_DIR/h3/cni-ipam"
  _MESH_IP[h3]=""
done

echo
echo "TCP over the mesh, same pair of hosts (iperf3, $RUNS x ${SECS}s each, alternating; wireguard-go)"
echo "| path                   | median Gbit/s | sender CPU % (median) | runs |"
echo "|------------------------|--------------:|----------------------:|-----:|"
printf '| host -> host (base)    | %13s | %21s | %4d |\n' "$H" "$HC" "$RUNS"
printf '| container -> container | %13s | %21s | %4d |\n' "$C" "$CC" "$RUNS"
echo "container / host: $RATIO (goal >= 0.95x)"
echo
echo "meshctl join --container-subnet auto -> first container-to-container ping (ms; $TRIALS trials, $fails failed)"
echo "| measure                                   |   p50 |   p90 |   max |"
echo "|-------------------------------------------|------:|------:|------:|"
for row in "join returns:join_ms" "first host ping h1 -> new (base):host_ms" "first container ping c1 -> new:ctr_ms"; do
  label=${row%%:*}
  declare -n arr=${row##*:}
  printf '| %-41s | %5s | %5s | %5s |\n' "$label" \
    "$(printf '%s\n' "${arr[@]}" | percentile 50)" "$(printf '%s\n' "${arr[@]}" | percentile 90)" \
    "$(printf '%s\n' "${arr[@]}" | percentile 100)"
  unset -n arr
done
echo "goal: container ping p90 under 1000 ms"
((fails == 0))
