# shellcheck shell=bash
# tests/lab/replicas.sh — coordinator replicas on a 3-member etcd cluster, on top of the lab and
# mesh libraries: host coordI (10.231.0.25I) runs etcd member eI and replica rI, the way a small
# HA control plane is deployed. SOURCE after tests/lab/lab.sh, tests/lab/mesh.sh and lab_init.
#
#   replicas_hosts                       the three hosts coord1..coord3
#   etcd_member_start I / etcd_member_kill I   (kill -9; start again keeps its data)
#   etcd_wait_healthy [TIMEOUT_S]        until every running member answers and a write commits
#   replica_start I [ARGS...] / replica_kill I (kill -9) / replica_stop I (TERM)
#   replica_admin I ARGS...              mesh-coordinator ARGS against replica I's admin socket
#   replicas_list [FIRST]                "addr1:7443,addr2:7443,addr3:7443", starting with FIRST
#   replicas_fingerprints [FIRST]        their certificate fingerprints in the same order
#   replicas_join NAME TOKEN [FIRST]     meshctl join inside NAME with the whole list
#   replica_connected I NODE             whether replica I's nodes list shows NODE connected
: "${MESH_BIN:?}"
REPLICA_PORT=7443
ETCD_CLIENT_PORT=2379
ETCD_PEER_PORT=2380
declare -gA _REPLICA_PID=() _ETCD_PID=()

replica_addr() { printf '10.231.0.%s\n' $((250 + $1)); }
replicas_hosts() {
  lab_host coord1 "$(replica_addr 1)/24" && lab_host coord2 "$(replica_addr 2)/24" &&
    lab_host coord3 "$(replica_addr 3)/24"
}
etcd_endpoints() { # "a:2379,b:2379,c:2379"
  printf '%s:%s,%s:%s,%s:%s\n' "$(replica_addr 1)" $ETCD_CLIENT_PORT "$(replica_addr 2)" \
    $ETCD_CLIENT_PORT "$(replica_addr 3)" $ETCD_CLIENT_PORT
}
etcd_store_url() { printf 'etcd://%s\n' "$(etcd_endpoints)"; }

etcd_member_start() {
  local i=$1 addr cluster=""
  addr=$(replica_addr "$i")
  for j in 1 2 3; do cluster+="${cluster:+,}e$j=http://$(replica_addr "$j"):$ETCD_PEER_PORT"; done
  _ETCD_PID[$i]=$(lab_spawn "coord$i" "$LAB_DIR/coord$i/etcd.log" etcd --name "e$i" \
    --data-dir "$LAB_DIR/coord$i/etcd" \
    --listen-client-urls "http://$addr:$ETCD_CLIENT_PORT" \
    --advertise-client-urls "http://$addr:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://$addr:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://$addr:$ETCD_PEER_PORT" \
    --initial-cluster "$cluster" --initial-cluster-token "$LAB_PREFIX" \
    --initial-cluster-state new) || return 1
}
etcd_member_kill() {
  [[ -n "${_ETCD_PID[$1]:-}" ]] && kill -9 "${_ETCD_PID[$1]}" 2>/dev/null
  _ETCD_PID[$1]=""
}
_etcd_running() { local e="" i; for i in 1 2 3; do [[ -n "${_ETCD_PID[$i]:-}" ]] && e+="${e:+,}$(replica_addr "$i"):$ETCD_CLIENT_PORT"; done; printf '%s\n' "$e"; }
_etcd_healthy() {
  lab_exec coord1 env ETCDCTL_API=3 etcdctl --endpoints "$(_etcd_running)" --command-timeout=1s \
    endpoint health >/dev/null 2>&1 &&
    lab_exec coord1 env ETCDCTL_API=3 etcdctl --endpoints "$(_etcd_running)" \
      --command-timeout=1s put /lab-probe ok >/dev/null 2>&1
}
etcd_wait_healthy() { lab_wait_for "etcd healthy" "${1:-20}" _etcd_healthy; }

replica_admin() {
  local i=$1
  shift
  "$MESH_BIN/mesh-coordinator" --state-dir "$LAB_DIR/coord$i/state" "$@"
}
replica_start() {
  local i=$1
  shift
  rm -f "$LAB_DIR/coord$i/state/admin.sock"
  _REPLICA_PID[$i]=$(lab_spawn "coord$i" "$LAB_DIR/coord$i/coordinator.log" \
    "$MESH_BIN/mesh-coordinator" --state-dir "$LAB_DIR/coord$i/state" serve \
    --store "$(etcd_store_url)" --replica-id "r$i" \
    --listen "$(replica_addr "$i"):$REPLICA_PORT" --ipv6-prefix fd7a:115c:a1e0::/48 "$@") ||
    return 1
  lab_wait_for "replica $i's admin socket" 20 test -S "$LAB_DIR/coord$i/state/admin.sock"
}
replica_kill() {
  [[ -n "${_REPLICA_PID[$1]:-}" ]] && kill -9 "${_REPLICA_PID[$1]}" 2>/dev/null
  _REPLICA_PID[$1]=""
}
replica_stop() {
  [[ -n "${_REPLICA_PID[$1]:-}" ]] && lab_stop "${_REPLICA_PID[$1]}"
  _REPLICA_PID[$1]=""
}
_replica_order() { local first=${1:-1}; printf '%s\n' "$first" $((first % 3 + 1)) $(((first + 1) % 3 + 1)); }
replicas_list() {
  local out="" i
  for i in $(_replica_order "${1:-1}"); do out+="${out:+,}$(replica_addr "$i"):$REPLICA_PORT"; done
  printf '%s\n' "$out"
}
replicas_fingerprints() {
  local out="" i
  for i in $(_replica_order "${1:-1}"); do out+="${out:+,}$(replica_admin "$i" fingerprint)"; done
  printf '%s\n' "$out"
}
replicas_join() {
  local name=$1 token=$2 first=${3:-1} out
  out=$(printf '%s\n' "$token" | meshctl_in "$name" join "$(replicas_list "$first")" \
    --token-file - --fingerprint "$(replicas_fingerprints "$first")" --hostname "$name") ||
    { printf '%s\n' "$out"; return 1; }
  printf '%s\n' "$out"
  _MESH_IP[$name]=$(sed -n 's/.*addresses \([0-9.]*\)\/.*/\1/p' <<<"$out")
}
replica_connected() { # I HOSTNAME
  replica_admin "$1" nodes list --json 2>/dev/null |
    jq -e --arg h "$2" '.nodes[] | select(.hostname == $h) | .connected' >/dev/null
}
