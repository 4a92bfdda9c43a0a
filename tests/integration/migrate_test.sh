#!/usr/bin/env bash
# A fleet on one SQLite coordinator moves to three replicas on etcd without any host joining
# again (issue 14): two hosts join the SQLite coordinator, it stops, `mesh-coordinator migrate`
# copies the fleet into a 3-member etcd, and the replicas start on it (the first one with the old
# state directory, so the certificate the hosts pinned is the same). The hosts reconnect by
# themselves with their node ids and addresses, a third host joins through another replica and
# everyone pings everyone. A second migrate into the same etcd, and one from a directory a
# coordinator is using, are refused. Prints "N passed, M failed".
# Usage: MESH_BIN=build/bin tests/integration/migrate_test.sh   (root)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lab/mesh_lab_env.sh"
source "$HERE/../lab/lab.sh"
source "$HERE/../lab/mesh.sh"
source "$HERE/../lab/replicas.sh"
source "$HERE/../lab/checks.sh"
command -v etcd >/dev/null || { echo "SKIP: etcd not installed (scripts/install-deps.sh)"; exit 77; }

lab_init
node_ids() { replica_admin "$1" nodes list --json | jq -r '[.nodes[] | "\(.hostname)=\(.node_id)=\(.addresses[0])"] | sort | join(" ")'; }
connected() { # I HOSTNAME...
  local i=$1 h
  shift
  for h in "$@"; do replica_connected "$i" "$h" || return 1; done
}
joins_of() { cat "$LAB_DIR"/coord*/coordinator.log | grep 'event=join ' | grep -c "hostname=$1 " || true; }

section "a fleet on one SQLite coordinator"
replicas_hosts
SQLITE_PID=$(lab_spawn coord1 "$LAB_DIR/coord1/coordinator.log" "$MESH_BIN/mesh-coordinator" \
  --state-dir "$LAB_DIR/coord1/state" serve --listen "$(replica_addr 1):$REPLICA_PORT" \
  --ipv6-prefix fd7a:115c:a1e0::/48)
lab_wait_for "the SQLite coordinator" 10 test -S "$LAB_DIR/coord1/state/admin.sock"
TOKEN=$(replica_admin 1 token create --quiet --reusable --ttl 1h)
FP1=$(replica_admin 1 fingerprint)
for i in 1 2; do mesh_host "h$i" $((10 + i)); done
for i in 1 2; do
  printf '%s\n' "$TOKEN" | meshctl_in "h$i" join "$(replica_addr 1):$REPLICA_PORT" --token-file - \
    --fingerprint "$FP1" --hostname "h$i" >/dev/null
done
check "h1 and h2 ping each other" lab_wait_for "h1 <-> h2" 5 mesh_ping_both h1 h2
BEFORE=$(node_ids 1)
echo "    before: $BEFORE"

section "migrate into a 3-member etcd"
for i in 1 2 3; do etcd_member_start "$i"; done
check "etcd: 3 members healthy (within 20 s)" etcd_wait_healthy 20
lab_stop "$SQLITE_PID"
out=$(lab_exec coord1 "$MESH_BIN/mesh-coordinator" migrate --from "sqlite:$LAB_DIR/coord1/state" \
  --to "$(etcd_store_url)" 2>&1) && rc=0 || rc=$?
printf '%s\n' "$out" | sed 's/^/    /'
check "migrate copies the fleet (2 nodes) and says what to do next" \
  bash -c '[[ $1 == 0 ]] && grep -q "migrated 2 nodes" <<<"$2" && grep -q "no host joins again" <<<"$2"' _ "$rc" "$out"
for i in 1 2 3; do replica_start "$i"; done
check "h1 and h2 are back on replica 1 by themselves (within 15 s)" \
  lab_wait_for "reconnects" 15 connected 2 h1 h2
check "with the same node ids and addresses" test "$(node_ids 2)" = "$BEFORE"
check "neither joined again" test "$(( $(joins_of h1) + $(joins_of h2) ))" = 2
check "h1 and h2 still ping each other" mesh_ping_both h1 h2

section "the migrated fleet grows through another replica"
mesh_host h3 13
check "h3 joins with the whole list, starting at replica 2" replicas_join h3 "$TOKEN" 2 >/dev/null
mesh_wait_peers h1 2 2 && mesh_wait_peers h2 2 2 && ok=1 || ok=0
check "h1 and h2 have h3 on their devices (within 2 s)" test "$ok" = 1
check "every ordered pair pings" lab_wait_for "all pairs" 5 mesh_all_pairs_ping h1 h2 h3

section "refusals"
out=$(lab_exec coord1 "$MESH_BIN/mesh-coordinator" migrate --from "sqlite:$LAB_DIR/coord1/state" \
  --to "$(etcd_store_url)" 2>&1) && rc=0 || rc=$?
echo "    $out"
check "migrate from a directory a coordinator is using is refused" \
  bash -c '[[ $1 != 0 ]] && grep -q "is using" <<<"$2"' _ "$rc" "$out"
replica_stop 1
out=$(lab_exec coord1 "$MESH_BIN/mesh-coordinator" migrate --from "sqlite:$LAB_DIR/coord1/state" \
  --to "$(etcd_store_url)" 2>&1) && rc=0 || rc=$?
echo "    $out"
check "a second migrate into a store with a fleet is refused" \
  bash -c '[[ $1 != 0 ]] && grep -q "holds a fleet already" <<<"$2"' _ "$rc" "$out"
out=$(lab_exec coord1 "$MESH_BIN/mesh-coordinator" migrate --from "sqlite:$LAB_DIR/nowhere" \
  --to "$(etcd_store_url)" 2>&1) && rc=0 || rc=$?
check "migrate from a directory without a database names it" \
  bash -c '[[ $1 != 0 ]] && grep -q "no coordinator database" <<<"$2"' _ "$rc" "$out"

checks_summary
