#!/usr/bin/env bash
# The reviews' findings against the real binaries, in namespaces (docs/SECURITY.md lists which
# finding each check covers): the operator's papercuts (--version, --log-level, JSON, exit codes),
# sockets and state directories (security 10, 11), keys never shared between coordinators
# (security 3), a host with IPv6 disabled, an interface that belongs to someone else, and an
# agent that crashed taking its own device back. Prints "N passed, M failed".
# Usage: MESH_BIN=build/bin tests/integration/review_test.sh   (root)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lab/mesh_lab_env.sh"
source "$HERE/../lab/lab.sh"
source "$HERE/../lab/mesh.sh"
source "$HERE/../lab/checks.sh"

# A folder every user can reach (LAB_DIR is 0700), for the sockets another user tries.
PUB=$(mktemp -d /tmp/mesh-review-pub.XXXXXX)
chmod 0755 "$PUB"
eval "checks_$(declare -f lab_on_exit_hook)"
lab_on_exit_hook() {
  checks_lab_on_exit_hook "$@"
  rm -rf "$PUB"
}
lab_init

NOBODY=(setpriv --reuid 65534 --regid 65534 --clear-groups)
one_line_failure() { # SUBSTRING CMD...: CMD fails with one line containing SUBSTRING
  local want=$1 out rc=0
  shift
  out=$("$@" 2>&1) || rc=$?
  [[ $rc -ne 0 ]] || { echo "    succeeded: $out"; return 1; }
  [[ $(printf '%s' "$out" | grep -c .) -le 2 ]] || { echo "    too long: $out"; return 1; }
  grep -qF -- "$want" <<<"$out" || { echo "    unexpected: $out"; return 1; }
}
json_has() { # PYTHON_EXPR: true of the JSON on stdin (as j)
  python3 -c 'import json,sys; j=json.load(sys.stdin); sys.exit(0 if eval(sys.argv[1]) else 1)' "$1"
}
exit_code_is() { # CODE CMD...
  local want=$1 rc=0
  shift
  "$@" >/dev/null 2>&1 || rc=$?
  [[ $rc == "$want" ]] || { echo "    exit $rc, not $want"; return 1; }
}
mode_of() { stat -c %a "$1"; }
node_key() { # COORD_STATE_DIR HOSTNAME: the WireGuard key that coordinator lists for HOSTNAME
  "$MESH_BIN/mesh-coordinator" --state-dir "$1" nodes list --json |
    python3 -c 'import json,sys; print(next((n["public_key"] for n in json.load(sys.stdin)["nodes"] if n["hostname"]==sys.argv[1]), ""))' "$2"
}
peers_of() { lab_exec "$1" env WG_COLOR_MODE=never wg show "${2:-mesh0}" peers | sort; }

section "operator papercuts: --version, --log-level, JSON"
for b in mesh-coordinator mesh-agent meshctl; do
  check "$b --version names the release and the commit" \
    bash -c '"$1" --version | grep -Eq "^$2 [0-9]+\.[0-9]+\.[0-9]+ \(commit [0-9a-f]"' _ "$MESH_BIN/$b" "$b"
done
check "serve --log-level bogus is refused, naming the choices" \
  one_line_failure "not in {trace,debug,info,warn,error,critical,off}" \
  "$MESH_BIN/mesh-coordinator" --state-dir "$LAB_DIR/unused" serve --log-level bogus
check "and starts nothing (no state directory made)" test ! -e "$LAB_DIR/unused"
check "mesh-agent --log-level bogus is refused" \
  one_line_failure "not in {trace" "$MESH_BIN/mesh-agent" --log-level bogus
mesh_coordinator_start
admin_json() { # nodes|token PYTHON_EXPR
  mesh_admin "$1" list --json | json_has "$2"
}
check "nodes list --json on an empty mesh is a list, not {}" \
  admin_json nodes 'j["nodes"] == [] and isinstance(j["version"], int)'
mesh_admin token create --tag web >/dev/null
check "token list --json lists the token, numbers as numbers, every field present" \
  admin_json token 'len(j["tokens"]) == 1 and j["tokens"][0]["tags"] == ["web"] and j["tokens"][0]["uses"] == 0 and j["tokens"][0]["revoked"] is False'
quietly() { "$@" >/dev/null; }
check "durations take weeks (token create --ttl 1w)" quietly mesh_admin token create --ttl 1w -q
check "and combined units (--ttl 1h30m)" quietly mesh_admin token create --ttl 1h30m -q

TOKEN=$(mesh_token --reusable --ttl 1h)
FP=$(mesh_fingerprint)
COORD="$MESH_COORD_ADDR:$MESH_COORD_PORT"
mesh_host h1 1
check "meshctl status before a join: exit 2 (not joined)" exit_code_is 2 meshctl_in h1 status
status_json() { # HOST PYTHON_EXPR
  { meshctl_in "$1" status --json || true; } | json_has "$2"
}
check "meshctl status --json before a join: every field, joined false" \
  status_json h1 'j["joined"] is False and j["peers"] == [] and j["netmap_version"] == 0'
mesh_join h1 "$TOKEN" >/dev/null
mesh_host h2 2
mesh_join h2 "$TOKEN" >/dev/null
check "h1 and h2 ping each other" lab_wait_for "h1 <-> h2" 10 mesh_all_pairs_ping h1 h2
check "meshctl status when joined and connected: exit 0" exit_code_is 0 meshctl_in h1 status
check "status --json spells a LAN path \"lan\"" status_json h1 'j["peers"][0]["path"] == "lan"'
check "and nodes list --json the same" \
  admin_json nodes 'any(p["path"] == "lan" for n in j["nodes"] for p in n["paths"]) and all(p["path"] in ("lan", "probing") for n in j["nodes"] for p in n["paths"])'

section "security 10: sockets are 0600 from the start and check the peer's uid"
lab_spawn coord "$LAB_DIR/coord/coordinator2.log" bash -c 'umask 000; exec "$@"' _ \
  "$MESH_BIN/mesh-coordinator" --state-dir "$LAB_DIR/coord/state2" --admin-socket "$PUB/admin.sock" \
  serve --listen "$MESH_COORD_ADDR:7500" --stun-listen off >/dev/null
lab_wait_for "the second coordinator's admin socket" 10 test -S "$PUB/admin.sock"
check "under umask 000 the admin socket is still 0600" test "$(mode_of "$PUB/admin.sock")" = 600
chmod 0666 "$PUB/admin.sock"  # as if a wider mode had slipped through
fails() { ! "$@" >/dev/null 2>&1; }
check "another user connecting anyway is refused (SO_PEERCRED)" \
  fails "${NOBODY[@]}" "$MESH_BIN/mesh-coordinator" --admin-socket "$PUB/admin.sock" nodes list
check "root still gets the operator API there" \
  quietly "$MESH_BIN/mesh-coordinator" --admin-socket "$PUB/admin.sock" nodes list
lab_spawn h1 "$LAB_DIR/h1/agent-pub.log" bash -c 'umask 000; exec "$@"' _ \
  "$MESH_BIN/mesh-agent" --state-dir "$LAB_DIR/h1/state-pub" --socket "$PUB/agent.sock" \
  --interface mesh9 --listen-port 51900 >/dev/null
lab_wait_for "the second agent's socket" 10 test -S "$PUB/agent.sock"
check "under umask 000 the agent's socket is 0600" test "$(mode_of "$PUB/agent.sock")" = 600
chmod 0666 "$PUB/agent.sock"
check "another user's meshctl is refused (SO_PEERCRED)" \
  fails "${NOBODY[@]}" "$MESH_BIN/meshctl" --socket "$PUB/agent.sock" status
check "root's meshctl gets an answer (exit 2: not joined)" \
  exit_code_is 2 "$MESH_BIN/meshctl" --socket "$PUB/agent.sock" status

section "security 11: state directories others could write to are refused"
mkdir -m 0777 "$PUB/open"
chmod 0777 "$PUB/open"
check "mesh-agent refuses a state directory writable by others" \
  one_line_failure "writable by group or others" "$MESH_BIN/mesh-agent" --state-dir "$PUB/open" \
  --socket "$PUB/x.sock"
mkdir -m 0700 "$PUB/theirs"
chown 65534:65534 "$PUB/theirs"
check "mesh-coordinator refuses a state directory that belongs to another user" \
  one_line_failure "belongs to uid 65534" "$MESH_BIN/mesh-coordinator" --state-dir "$PUB/theirs" \
  serve --listen 127.0.0.1:0 --stun-listen off
check "and wrote nothing into it" test -z "$(ls -A "$PUB/theirs")"

section "another owner's interface"
BEFORE=$(peers_of h1)
lab_spawn h1 "$LAB_DIR/h1/agent-second.log" "$MESH_BIN/mesh-agent" \
  --state-dir "$LAB_DIR/h1/state-second" --socket /run/mesh/second.sock --interface mesh0 \
  --listen-port 51901 >/dev/null
lab_wait_for "the second agent on h1" 10 lab_exec h1 test -S /run/mesh/second.sock
node_count() { mesh_admin nodes list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["nodes"]))'; }
join_via() { # HOST SOCKET HOSTNAME: meshctl join with the token on stdin, through SOCKET
  printf '%s\n' "$TOKEN" | lab_exec "$1" "$MESH_BIN/meshctl" --socket "$2" join "$COORD" \
    --token-file - --fingerprint "$FP" --hostname "$3"
}
NODES=$(node_count)
check "a second agent given h1's interface refuses to join, naming the holder" \
  one_line_failure "another mesh-agent (pid" join_via h1 /run/mesh/second.sock intruder
check "the coordinator never heard of it" test "$(node_count)" = "$NODES"
check "h1's peers are untouched" test "$(peers_of h1)" = "$BEFORE"
# A device someone set up by hand (as wg-quick would): its key is not the agent's.
lab_spawn h2 "$LAB_DIR/h2/wgx.log" wireguard-go -f wgx >/dev/null
lab_wait_for "wgx" 5 lab_exec h2 test -S /run/wireguard/wgx.sock
lab_exec h2 bash -c 'wg set wgx private-key <(wg genkey) listen-port 51990 peer "$(wg genkey | wg pubkey)" allowed-ips 10.99.0.1/32'
WGX=$(peers_of h2 wgx)
lab_spawn h2 "$LAB_DIR/h2/agent-wgx.log" "$MESH_BIN/mesh-agent" --state-dir "$LAB_DIR/h2/state-wgx" \
  --socket /run/mesh/wgx.sock --interface wgx --listen-port 51991 >/dev/null
lab_wait_for "the wgx agent" 10 lab_exec h2 test -S /run/mesh/wgx.sock
check "an agent given a hand-made device refuses to join: not this agent's" \
  one_line_failure "is not this agent's" join_via h2 /run/mesh/wgx.sock wgx
check "the coordinator never heard of that one either" test "$(node_count)" = "$NODES"
check "and leaves its peer alone" test "$(peers_of h2 wgx)" = "$WGX"
check "and its state directory holds nothing but its lock" \
  test "$(ls -A "$LAB_DIR/h2/state-wgx")" = agent.lock

section "an agent that crashed takes its own device back"
H1_PID=${_MESH_AGENT_PID[h1]}
kill -KILL "$H1_PID"
lab_wait_for "h1's agent to die" 5 bash -c '! kill -0 "$1" 2>/dev/null' _ "$H1_PID"
started_twice() { [[ $(grep -c "event=started" "$LAB_DIR/h1/agent.log") -ge 2 ]]; }
mesh_agent_start h1
lab_wait_for "the restarted agent" 10 started_twice
check "the restarted agent adopted its wireguard-go (its alias)" \
  lab_wait_for "device_adopted" 5 grep -q "event=device_adopted interface=mesh0" "$LAB_DIR/h1/agent.log"
check "and the tunnel still works" lab_wait_for "h1 -> h2" 5 mesh_ping_pair h1 h2

section "a host with IPv6 disabled"
lab_host v6off 10.231.0.6/24
lab_exec v6off sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
mesh_agent_start v6off
check "meshctl join succeeds" quietly mesh_join v6off "$TOKEN"
check "IPv4 over the mesh works both ways" lab_wait_for "v6off <-> h1" 10 mesh_all_pairs_ping v6off h1
says_ipv4_only() { meshctl_in v6off status | grep -q "IPv4 only: IPv6 is disabled"; }
check "status says IPv4 only" says_ipv4_only
check "status --json says ipv6_disabled" status_json v6off 'j["ipv6_disabled"] is True and j["connected"]'
lab_exec v6off sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0
V6_PEER=$(meshctl_in h1 status --json | python3 -c 'import json,sys; print([a for a in json.load(sys.stdin)["addresses"] if ":" in a][0].split("/")[0])')
has_overlay_ipv6() { lab_exec v6off ip -6 addr show dev mesh0 | grep -q "fd7a:115c:a1e0:"; }
check "once IPv6 is enabled, the device takes its IPv6 address (within 8 s)" \
  lab_wait_for "v6off's IPv6 address" 8 has_overlay_ipv6
check "and IPv6 over the mesh works" lab_wait_for "ping6" 5 lab_ping v6off "$V6_PEER"

section "security 3: joining another coordinator makes fresh keys"
lab_spawn coord "$LAB_DIR/coord/coordinatorB.log" "$MESH_BIN/mesh-coordinator" \
  --state-dir "$LAB_DIR/coord/stateB" serve --listen "$MESH_COORD_ADDR:7600" --stun-listen off >/dev/null
lab_wait_for "coordinator B" 10 test -S "$LAB_DIR/coord/stateB/admin.sock"
TOKEN_B=$("$MESH_BIN/mesh-coordinator" --state-dir "$LAB_DIR/coord/stateB" token create -q)
FP_B=$("$MESH_BIN/mesh-coordinator" --state-dir "$LAB_DIR/coord/stateB" fingerprint)
KEY_A=$(node_key "$LAB_DIR/coord/state" h2)
join_b() {
  printf '%s\n' "$TOKEN_B" | meshctl_in h2 join "$MESH_COORD_ADDR:7600" --token-file - \
    --fingerprint "$FP_B" --hostname h2
}
check "h2 joins coordinator B" quietly join_b
KEY_B=$(node_key "$LAB_DIR/coord/stateB" h2)
check "B sees a WireGuard key A never saw" bash -c '[[ -n $1 && -n $2 && $1 != "$2" ]]' _ "$KEY_A" "$KEY_B"
check "h2's device runs the new key" test "$(lab_exec h2 wg show mesh0 public-key)" = "$KEY_B"

section "meshctl status exit codes follow the coordinator"
mesh_coordinator_stop
check "coordinator gone: meshctl status exits 3 (within 40 s)" \
  lab_wait_for "exit 3" 40 exit_code_is 3 meshctl_in h1 status

checks_summary
