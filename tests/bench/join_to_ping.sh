#!/usr/bin/env bash
# Benchmark: time from `meshctl join` on a new host to the first ping reply from EVERY peer over
# the overlay, in a mesh of N hosts (the new one included). Baseline in the same run: two plain
# wireguard-go devices configured by hand with `wg set` on both sides, from the first `wg set`
# to the first ping reply -- the floor any control plane on this data plane can reach.
#
#   tests/bench/join_to_ping.sh [TRIALS] [SIZES...]     # as root; default: 10 trials, sizes 3 10
#
# Each trial joins a fresh machine (new keys) as host N, measures, then the operator removes it
# and its agent starts over with an empty state directory. Prints a table (milliseconds).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TRIALS=${1:-10}
shift || true
SIZES=("$@")
((${#SIZES[@]})) || SIZES=(3 10)
: "${MESH_BIN:=$HERE/../../build/bin}"
MESH_BIN=$(cd "$MESH_BIN" && pwd)
[[ $(id -u) -eq 0 ]] || { echo "bench: run as root" >&2; exit 1; }
source "$HERE/../lab/lab.sh"
source "$HERE/../lab/mesh.sh"
lab_init

now_us() { local t=${EPOCHREALTIME/./}; echo "$t"; }

# Starts one pinger per address from NAME (10 ms apart, up to 5 s) and prints, once all ended,
# the latest first-reply time (unix microseconds) among them, or "fail".
first_replies() { # NAME ADDR...
  local name=$1 a i=0 files=() pids=() latest=0 t
  shift
  for a in "$@"; do
    files+=("$LAB_DIR/ping.$name.$i")
    lab_exec "$name" ping -n -D -i 0.01 -c 1 -w 5 "$a" >"${files[-1]}" 2>&1 &
    pids+=($!)
    i=$((i + 1))
  done
  wait "${pids[@]}" || true
  for f in "${files[@]}"; do
    t=$(awk '/bytes from/ { gsub(/[\[\]]/, "", $1); split($1, p, "."); printf "%s%06d\n", p[1], p[2]; exit }' "$f")
    [[ -n $t ]] || { echo fail; return; }
    ((t > latest)) && latest=$t
  done
  echo "$latest"
}

percentile() { # P < numbers
  sort -n | awk -v p="$1" '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit } i = int((NR - 1) * p / 100) + 1; printf "%.1f", v[i] }'
}

# The trials run in this shell, not in $(...): the lab records the processes they start, and a
# subshell's records would be lost. They leave their result (microseconds or "fail") in RESULT.
baseline_trial() {
  local k1 k2 p1 p2 t0 t1
  k1=$(wg genkey); k2=$(wg genkey)
  p1=$(wg pubkey <<<"$k1"); p2=$(wg pubkey <<<"$k2")
  for b in b1 b2; do
    lab_exec "$b" ip link del wgb 2>/dev/null || true
    lab_spawn "$b" "$LAB_DIR/$b/wg.log" wireguard-go -f wgb >/dev/null || return 1
    lab_wait_for "wgb on $b" 5 lab_exec "$b" test -S /run/wireguard/wgb.sock
  done
  lab_exec b1 ip addr add 100.100.0.1/24 dev wgb
  lab_exec b2 ip addr add 100.100.0.2/24 dev wgb
  lab_exec b1 ip link set wgb up
  lab_exec b2 ip link set wgb up
  t0=$(now_us)
  lab_exec b1 wg set wgb private-key <(echo "$k1") listen-port 51820 peer "$p2" \
    endpoint "$(lab_addr b2):51820" allowed-ips 100.100.0.2/32
  lab_exec b2 wg set wgb private-key <(echo "$k2") listen-port 51820 peer "$p1" \
    endpoint "$(lab_addr b1):51820" allowed-ips 100.100.0.1/32
  t1=$(first_replies b1 100.100.0.2)
  for b in b1 b2; do lab_exec "$b" ip link del wgb 2>/dev/null || true; done
  if [[ $t1 == fail ]]; then RESULT=fail; else RESULT=$((t1 - t0)); fi
}

mesh_trial() { # NEWHOST PEERS...
  local new=$1 t0 t1 addrs=() p
  shift
  for p in "$@"; do addrs+=("$(mesh_ip "$p")"); done
  t0=$(now_us)
  if ! mesh_join "$new" "$TOKEN" >"$LAB_DIR/$new/join.out" 2>&1; then
    echo "bench: join failed: $(cat "$LAB_DIR/$new/join.out")" >&2
    t1=fail
  else
    t1=$(first_replies "$new" "${addrs[@]}")
  fi
  mesh_admin nodes remove "$new" >/dev/null
  mesh_agent_stop "$new"
  if [[ $t1 == fail ]]; then
    # Keep the evidence: the state dir (wireguard-go.log) and the pings.
    FAILS_KEPT=$((FAILS_KEPT + 1))
    mv "$LAB_DIR/$new/state" "$LAB_DIR/$new/failed-$FAILS_KEPT"
    cp "$LAB_DIR"/ping."$new".* "$LAB_DIR/$new/failed-$FAILS_KEPT/" 2>/dev/null || true
    echo "bench: trial failed; evidence in $LAB_DIR/$new/failed-$FAILS_KEPT (LAB_KEEP=1 keeps it)" >&2
  fi
  rm -rf "${LAB_DIR:?}/$new/state"
  _MESH_IP[$new]=""
  mesh_agent_start "$new"
  if [[ $t1 == fail ]]; then RESULT=fail; else RESULT=$((t1 - t0)); fi
}

lab_host b1 10.231.0.201/24
lab_host b2 10.231.0.202/24
mesh_coordinator_start
TOKEN=$(mesh_token --reusable --ttl 2h)
max_size=0
for n in "${SIZES[@]}"; do ((n > max_size)) && max_size=$n; done
PEERS=()
ROWS=()
FAILS_KEPT=0
baseline=()
for ((t = 0; t < TRIALS; t++)); do
  baseline_trial
  [[ $RESULT == fail ]] || baseline+=("$RESULT")
done
base_p50=$(printf '%s\n' "${baseline[@]}" | awk '{ print $1 / 1000 }' | percentile 50)

for n in $(printf '%s\n' "${SIZES[@]}" | sort -n); do
  # Grow the resident mesh to n-1 hosts.
  while ((${#PEERS[@]} < n - 1)); do
    idx=$((${#PEERS[@]} + 1))
    mesh_host "p$idx" "$idx"
    mesh_join "p$idx" "$TOKEN" >/dev/null
    PEERS+=("p$idx")
  done
  for p in "${PEERS[@]}"; do mesh_wait_handshakes "$p" $((n - 2)) 10 || true; done
  lab_ip=$((100 + n))
  mesh_host "new$n" "$lab_ip"
  samples=()
  fails=0
  for ((t = 0; t < TRIALS; t++)); do
    mesh_trial "new$n" "${PEERS[@]}"
    if [[ $RESULT == fail ]]; then fails=$((fails + 1)); else samples+=("$RESULT"); fi
  done
  ms=$(printf '%s\n' "${samples[@]}" | awk '{ print $1 / 1000 }')
  p50=$(percentile 50 <<<"$ms")
  p90=$(percentile 90 <<<"$ms")
  max=$(percentile 100 <<<"$ms")
  ratio=$(awk -v a="$p50" -v b="$base_p50" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }')
  ROWS+=("$(printf '| %5d | %6d | %5d | %8s | %8s | %8s | %14s | %10s |' "$n" "${#samples[@]}" "$fails" "$p50" "$p90" "$max" "$base_p50" "$ratio")")
done

echo
echo "join -> first ping reply from every peer (ms; $TRIALS trials per size; wireguard-go, LAN lab)"
echo "| hosts | trials | fails |      p50 |      p90 |      max | wg set p50 (base) | p50 / base |"
echo "|------:|-------:|------:|---------:|---------:|---------:|---------------:|-----------:|"
printf '%s\n' "${ROWS[@]}"
