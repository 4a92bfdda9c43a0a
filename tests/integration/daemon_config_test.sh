#!/usr/bin/env bash
# The daemons as systemd runs them (issue 15): the units pass systemd-analyze verify (offline,
# copies pointing at the built binaries); each daemon reads deploy/config/*.toml, a flag wins
# over the file, a bad key or value names FILE:LINE and the key; the coordinator started from a
# config file alone sends READY=1 and, with WATCHDOG_USEC, WATCHDOG=1 to NOTIFY_SOCKET. The
# agent's notifications need a device (privileges): agent_capabilities_test.sh checks them.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${MESH_BIN:-$ROOT/build/bin}
T=$(mktemp -d)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. systemd-analyze verify on every unit (the template as one instance).
for u in "$ROOT"/deploy/systemd/*.service; do
  sed "s#/usr/local/bin/#$BIN/#g" "$u" > "$T/$(basename "$u")"
done
cp "$T/mesh-agent@.service" "$T/mesh-agent@lab.service"
for u in mesh-coordinator.service mesh-agent.service mesh-agent@lab.service; do
  (cd "$T" && systemd-analyze verify --man=no "./$u") || fail "systemd-analyze verify $u"
done
echo "ok: units verify"

# 2. The sample files load; a flag wins over them.
"$BIN/mesh-agent" --config "$ROOT/deploy/config/agent.toml" --listen-port 51999 --print-config \
  > "$T/agent.out"
grep -qx 'listen_port = 51999' "$T/agent.out" || fail "flag does not override the file"
grep -qx 'interface = "mesh0"' "$T/agent.out" || fail "agent.toml not applied"
"$BIN/mesh-coordinator" --config "$ROOT/deploy/config/coordinator.toml" serve --print-config \
  > "$T/coord.out"
grep -qx 'node_key_ttl = "90d"' "$T/coord.out" || fail "coordinator.toml not applied"
# What --print-config prints reads back as the same settings.
"$BIN/mesh-agent" --config "$T/agent.out" --print-config | tail -n +2 > "$T/again.out"
tail -n +2 "$T/agent.out" | diff - "$T/again.out" || fail "print-config does not round-trip"
echo "ok: config files and overrides"

# 3. Mistakes name the file, the line and the key.
printf 'interface = "m0"\n\nlisten_prot = 1\n' > "$T/bad1.toml"
out=$("$BIN/mesh-agent" --config "$T/bad1.toml" 2>&1) && fail "unknown key accepted"
[ "$out" = "mesh-agent: $T/bad1.toml:3: unknown key \"listen_prot\"" ] || fail "got: $out"
printf '# x\nnode_key_ttl = "soon"\n' > "$T/bad2.toml"
out=$("$BIN/mesh-coordinator" --config "$T/bad2.toml" serve 2>&1) && fail "bad value accepted"
case "$out" in "mesh-coordinator: $T/bad2.toml:2: bad value for \"node_key_ttl\""*) ;;
  *) fail "got: $out" ;; esac
"$BIN/mesh-agent" --config "$T/missing.toml" >/dev/null 2>&1 && fail "missing --config accepted"
echo "ok: errors name file, line and key"

# 4. A coordinator from a config file alone, under a fake systemd notify socket.
cat > "$T/coordinator.toml" <<CONF
state_dir = "$T/state"
listen = "127.0.0.1:0"
stun_listen = "off"
log_format = "json"
CONF
python3 - "$T/notify.sock" > "$T/notify.log" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); s.settimeout(1.0)
end = time.time() + 20
while time.time() < end:
    try:
        print(s.recv(4096).decode().replace("\n", "|"), flush=True)
    except socket.timeout:
        pass
PY
LISTENER=$!
for _ in $(seq 50); do [ -S "$T/notify.sock" ] && break; sleep 0.1; done
NOTIFY_SOCKET="$T/notify.sock" WATCHDOG_USEC=2000000 \
  "$BIN/mesh-coordinator" --config "$T/coordinator.toml" serve > "$T/coord.log" 2>&1 &
PID=$!
for _ in $(seq 100); do grep -q 'WATCHDOG=1' "$T/notify.log" && grep -q READY=1 "$T/notify.log" && break; sleep 0.1; done
grep -q 'READY=1' "$T/notify.log" || fail "no READY=1: $(cat "$T/notify.log" "$T/coord.log")"
for _ in $(seq 50); do [ "$(grep -c 'WATCHDOG=1' "$T/notify.log")" -ge 3 ] && break; sleep 0.1; done
[ "$(grep -c 'WATCHDOG=1' "$T/notify.log")" -ge 3 ] || fail "no WATCHDOG=1 pings"
kill "$PID"; wait "$PID" || true; PID=""
for _ in $(seq 50); do grep -q 'STOPPING=1' "$T/notify.log" && break; sleep 0.1; done
grep -q 'STOPPING=1' "$T/notify.log" || fail "no STOPPING=1"
kill "$LISTENER" 2>/dev/null || true
# json logs: every line one object with event.
python3 -c 'import json,sys; [json.loads(l)["event"] for l in open(sys.argv[1]) if l.strip()]' \
  "$T/coord.log" || fail "log lines are not JSON objects with event: $(head -3 "$T/coord.log")"
echo "ok: READY, WATCHDOG, STOPPING; json logs"
echo "PASS"
