#!/usr/bin/env bash
# The demo: on a fresh machine, installs what it needs, builds, starts a coordinator and N hosts
# (network namespaces on one bridge, each with its own mesh-agent and wireguard-go), joins them
# with one token, and prints the overlay reachability matrix and each host's peers. Then cleans up
# -- or, with --keep, leaves the mesh running and says how to use and stop it.
#
#   deploy/demo.sh [--hosts N] [--nat] [--keep]   # as root; N = 3 by default (2..50)
#   deploy/demo.sh --stop                         # stops a mesh left running by --keep
#   --nat: every host behind a NAT of its own (no port forwards), the coordinator on the "internet"
#   MESH_DEMO_BUILD_DIR=DIR: build in (and run from) DIR instead of build/
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE_FILE=/run/mesh-demo.env
HOSTS=3
KEEP=0
NAT=0

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

stop_kept() {
  if [[ ! -f $STATE_FILE ]]; then
    echo "demo: no demo mesh is running (no $STATE_FILE)"
    return 0
  fi
  # shellcheck disable=SC1090
  source "$STATE_FILE"
  local ns pid
  for ns in $(ip netns list | awk '{print $1}' | grep "^${DEMO_PREFIX}" || true); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null || true; done
  done
  sleep 1
  for ns in $(ip netns list | awk '{print $1}' | grep "^${DEMO_PREFIX}" || true); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns delete "$ns"
  done
  rm -rf "$DEMO_DIR" "$STATE_FILE"
  echo "demo: stopped the mesh (namespaces ${DEMO_PREFIX}*) and removed $DEMO_DIR"
}

while (($#)); do
  case $1 in
    --hosts) HOSTS=${2:-}; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --nat) NAT=1; shift ;;
    --stop) stop_kept; exit 0 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "demo: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if ! [[ $HOSTS =~ ^[0-9]+$ ]] || ((HOSTS < 2 || HOSTS > 50)); then
  echo "demo: --hosts must be a number from 2 to 50" >&2
  exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "demo: run as root (it creates network namespaces and WireGuard devices)" >&2
  exit 1
fi
if [[ -f $STATE_FILE ]]; then
  echo "demo: a kept demo mesh is still running; stop it first with: $0 --stop" >&2
  exit 1
fi

step() { printf '\n== [%s] %s\n' "$1" "$2"; }

step 1/5 "packages"
bash "$ROOT/scripts/install-deps.sh"

BUILD=${MESH_DEMO_BUILD_DIR:-$ROOT/build}  # the suite's demo test passes its own build
step 2/5 "build ($BUILD, about 3 minutes the first time)"
build_log=$(mktemp)
if ! { cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
  cmake --build "$BUILD" -j "$(nproc)" --target mesh-coordinator mesh-agent meshctl; } >"$build_log" 2>&1; then
  tail -n 40 "$build_log"
  rm -f "$build_log"
  echo "demo: the build failed (above); nothing was started" >&2
  exit 1
fi
grep -E "^\[[0-9]+/[0-9]+\] Linking" "$build_log" || echo "up to date"
rm -f "$build_log"

MESH_BIN="$BUILD/bin"
LAB_PREFIX_BASE=md
((NAT)) && MESH_COORD_ADDR=203.0.113.254  # on the "internet" (tests/lab/nat.sh)
# shellcheck source=../tests/lab/lab.sh
source "$ROOT/tests/lab/lab.sh"
# shellcheck source=../tests/lab/nat.sh
source "$ROOT/tests/lab/nat.sh"
# shellcheck source=../tests/lab/mesh.sh
source "$ROOT/tests/lab/mesh.sh"
lab_on_exit_hook() {
  [[ ${1:-0} == 0 ]] && return 0
  echo "demo: something failed; the last lines of each log:"
  for f in "$LAB_DIR"/*/*.log; do [[ -f $f ]] && { echo "--- $f"; tail -8 "$f"; }; done
}
lab_init

if ((NAT)); then
  step 3/5 "coordinator and $HOSTS hosts, each behind its own NAT (site N: LAN 10.N.0.0/24, public 203.0.113.N)"
else
  step 3/5 "coordinator and $HOSTS hosts (namespaces on one bridge, LAN 10.231.0.0/24)"
fi
mesh_coordinator_start
echo "coordinator: $MESH_COORD_ADDR:$MESH_COORD_PORT (log: $LAB_DIR/coord/coordinator.log)"
TOKEN=$(mesh_token --reusable --ttl 1h)
echo "join token:  $TOKEN"
echo "certificate: $(mesh_fingerprint) (self-signed at first start; every join pins it)"
NAMES=()
for ((i = 1; i <= HOSTS; i++)); do
  if ((NAT)); then
    nat_site "site$i" "$i"
    mesh_nat_host "host$i" "site$i" 2
  else
    mesh_host "host$i" "$i"
  fi
  NAMES+=("host$i")
done

step 4/5 "meshctl join on every host"
start=$(date +%s%N)
for name in "${NAMES[@]}"; do
  printf '%-7s ' "$name"
  mesh_join "$name" "$TOKEN"
done
for name in "${NAMES[@]}"; do
  mesh_wait_handshakes "$name" $((HOSTS - 1)) 10 || true
done
echo "all joins and handshakes done in $((($(date +%s%N) - start) / 1000000)) ms"

step 5/5 "reachability over the overlay (ping, every ordered pair)"
rc=0
lab_reach_matrix -t "overlay ping matrix" mesh_ip "${NAMES[@]}" || rc=$?
for name in "${NAMES[@]}"; do
  printf '\n--- %s: meshctl status\n' "$name"
  meshctl_in "$name" status || true  # exits 3 when not connected: show it all the same
done
printf '\n--- the coordinator: mesh-coordinator nodes list\n'
mesh_admin nodes list

if ((KEEP)); then
  trap - EXIT INT TERM HUP
  {
    echo "DEMO_PREFIX=$LAB_PREFIX"
    echo "DEMO_DIR=$LAB_DIR"
  } >"$STATE_FILE"
  cat <<EOM

The mesh keeps running. Run a command inside a host, e.g. host1:
  nsenter -t $(lab_holder_pid host1) -n -m $MESH_BIN/meshctl status
  nsenter -t $(lab_holder_pid host1) -n -m ping $(mesh_ip host2)
  nsenter -t $(lab_holder_pid host1) -n -m wg show mesh0
Operator commands:
  $MESH_BIN/mesh-coordinator --state-dir $LAB_DIR/coord/state nodes list
  $MESH_BIN/mesh-coordinator --state-dir $LAB_DIR/coord/state token create --coordinator $MESH_COORD_ADDR:$MESH_COORD_PORT
  nsenter -t $(lab_holder_pid host1) -n -m $MESH_BIN/meshctl rotate-key
Logs: $LAB_DIR/*/agent.log, $LAB_DIR/coord/coordinator.log
Stop it with:
  $0 --stop
EOM
else
  printf '\ncleaning up (namespaces, processes, %s); use --keep to leave the mesh running\n' "$LAB_DIR"
fi
exit "$rc"
