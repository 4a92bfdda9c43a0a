#!/usr/bin/env bash
# Benchmark (on demand, not part of the test suite): cold start and roaming outages of three
# systems in one NAT topology, in one run:
#   mesh       our agents and coordinator (MESH_BIN), the coordinator's STUN responder on
#              203.0.113.254 (UDP 3478/3479, started by default)
#   wireguard  plain wireguard-go configured once with `wg set`: each host has the other's NAT
#              public address:51820 as a static endpoint, persistent-keepalive 25. Nothing
#              re-configures it after an event (that is the point of this baseline).
#   nebula     Debian's nebula 1.6.x: a lighthouse on 203.0.113.254:4242, punchy punch + respond,
#              no relays, lighthouse.interval NEBULA_LH_INTERVAL (default 10 s, nebula's default)
#
#   flock /tmp/mesh-lab.lock tests/bench/roaming_bench.sh [SYSTEM...]   # as root
#     SYSTEM: mesh, wireguard, nebula (default: all three, in that order)
#   Environment (defaults):
#     TRIALS=20            trials per case for mesh
#     BASELINE_TRIALS=5    trials per case for wireguard and nebula
#     TIMEOUT=10           seconds before a mesh trial counts as "no recovery"
#     BASELINE_TIMEOUT=30  the same for the baselines
#     SETTLE_TIMEOUT=15    seconds to wait for the pair to ping both ways before a trial; if it
#                          does not, the pair is set up again from scratch (a "re-setup")
#     BENCH_OUT=PATH       keep the CSV of every trial there (else it is deleted)
#     MESH_BIN=build/bin   the agent's binaries (not rebuilt here)
#     NEBULA_LH_INTERVAL=10
# The lab runs as root; take /tmp/mesh-lab.lock around it (above) when others run labs too.
# Nebula is installed with apt-get if it is missing (idempotent; ~30 MB, so it is not in
# scripts/install-deps.sh: only this benchmark needs it).
#
# Topology (a fresh lab per system: the script runs itself once per system, each in its own
# lab_init/lab_cleanup): the "internet" 203.0.113.0/24 with host "coord" at 203.0.113.254
# (coordinator or lighthouse; an idle host for wireguard); NAT sites s1, s2, s3 (indexes 1-3,
# endpoint-independent masquerade, tests/lab/nat.sh); host a in s1 (10.1.0.2), host c in s2
# (10.2.0.2). Overlay: mesh 100.64.0.0/10 from the coordinator; wireguard and nebula
# 10.99.0.1 (a) and 10.99.0.2 (c).
#
# What is measured (the same code for all systems; a system supplies "down", "prepare", "up"
# and the overlay addresses). A probe is a train of pings (`ping -n -D -i 0.01`: one every 10 ms,
# so a 10 ms resolution) started inside the source host (lab_exec) at the starting point; the
# first reply's time is ping's own -D timestamp. Every ping is sent after the starting point, so
# a reply to an earlier ping never counts. No reply within the timeout = "no recovery".
#   join    cold start. Before each trial: the pair is stopped with its state wiped, every NAT's
#           conntrack is flushed, and the daemons are made ready but unconfigured (mesh: both
#           agents started with empty state dirs, nodes removed from the coordinator; wireguard
#           and nebula: nothing running). Start: just before the setup. End: first reply a -> c.
#           The setup: mesh: `meshctl join` on a, then on c (one after the other);
#           wireguard: start wireguard-go on both, wait for both UAPI sockets, addresses, link
#           up, `wg set` on a then on c; nebula: start nebula on both (lighthouse already up),
#           wait for both tun devices to have their address.
#   join-c  (mesh only, the same trials) start: just before c's `meshctl join`, which starts
#           right after a's join returned. End: first reply a -> c.
#   move    c moves to the other site (nat_move_host c s3, next trial c s2, ...); a -> c. A move
#           back to a site left seconds before finds c's old NAT mappings still there (conntrack
#           keeps them for minutes): the CSV's detail column tells the two directions apart.
#   public  the NAT of c's current site changes its public address (nat_change_public SITE 33,
#           next trial 34, ...); a -> c.
#   flush   a's NAT drops all its mappings (nat_flush s1); c -> a (the direction it blocks).
#   both    a and c move at once (two nat_move_host run concurrently): a s1 -> s3 with c
#           s2 -> s1 (host index 9), next trial back (a s3 -> s1, c s1 -> s2); a -> c. They never
#           share a LAN once the event is over (c enters s1 while a leaves it: for the few ms of
#           the two ip(8) calls both may be plugged into s1).
#   Roaming trials start from a settled pair (pings both ways answered, then 1-2 s idle, random). Start:
#   right after the event command(s) returned (EPOCHREALTIME). End: the first reply.
#   After a trial without recovery the next trial starts with a re-setup (the cold start
#   procedure, unmeasured), so every trial starts from a working pair; counted in the notes.
# Output: progress on stderr; the load average (uptime) before and after; a markdown table:
# trials, recovered, p50, p99, max in ms. Percentiles are nearest-rank over ALL trials, a trial
# without recovery counting as infinitely long (shown as "> TIMEOUT"); with fewer than 100
# trials p99 is the max. CSV columns: system,case,trial,detail,result,ms,limit_ms,event_ms,resetup
# (result ok | timeout | error | unsettled; unsettled trials did not run and are not counted).
# shellcheck disable=SC1091,SC2317  # sourced libraries; functions called indirectly (traps, "${SYSTEM}_up")
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SELF="$HERE/$(basename "$0")"
: "${TRIALS:=20}"
: "${BASELINE_TRIALS:=5}"
: "${TIMEOUT:=10}"
: "${BASELINE_TIMEOUT:=30}"
: "${SETTLE_TIMEOUT:=15}"
: "${BENCH_OUT:=}"
: "${NEBULA_LH_INTERVAL:=10}"
: "${MESH_BIN:=$HERE/../../build/bin}"
export TRIALS BASELINE_TRIALS TIMEOUT BASELINE_TIMEOUT SETTLE_TIMEOUT NEBULA_LH_INTERVAL MESH_BIN

ALL_SYSTEMS=(mesh wireguard nebula)
CASES=(join join-c move public flush both)

say() { printf 'bench: %s\n' "$*" >&2; }

# ================================================================ the parent: one child per system

ensure_nebula() {
  if command -v nebula >/dev/null && command -v nebula-cert >/dev/null; then return 0; fi
  say "installing Debian's nebula (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends nebula >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends nebula >/dev/null
  fi
  command -v nebula >/dev/null && command -v nebula-cert >/dev/null
}

# table < CSV: the markdown table and the notes.
table() {
  awk -F, -v order="${CASES[*]}" '
    NR == 1 { next }
    {
      key = $1 SUBSEP $2
      if (!(key in seen)) { seen[key] = 1; systems[$1] = 1; if (!($1 in sysorder)) { sysorder[$1] = ++ns; sysname[ns] = $1 } }
      limit[key] = $7
      if ($5 == "unsettled") { unsettled[key]++; next }
      n[key]++
      if ($5 == "ok") { ok[key]++; v[key, n[key]] = $6 + 0 } else { v[key, n[key]] = 1e18 }
      if ($9 == 1) resetup[key]++
    }
    function fmt(x, k) { return x >= 1e18 ? sprintf("> %d", limit[k]) : sprintf("%.1f", x) }
    function pct(k, p,   i) { i = int((p * n[k] + 99) / 100); if (i < 1) i = 1; return fmt(s[i], k) }
    END {
      nc = split(order, cases, " ")
      print "| system | case | trials | recovered | p50 ms | p99 ms | max ms |"
      print "|---|---|---:|---:|---:|---:|---:|"
      for (si = 1; si <= ns; si++) {
        for (ci = 1; ci <= nc; ci++) {
          k = sysname[si] SUBSEP cases[ci]
          if (!(k in seen)) continue
          if (n[k] == 0) { printf "| %s | %s | 0 | 0 | - | - | - |\n", sysname[si], cases[ci]; continue }
          delete s
          for (i = 1; i <= n[k]; i++) s[i] = v[k, i]
          # insertion sort (few values)
          for (i = 2; i <= n[k]; i++) { x = s[i]; j = i - 1; while (j >= 1 && s[j] > x) { s[j + 1] = s[j]; j-- } s[j + 1] = x }
          printf "| %s | %s | %d | %d | %s | %s | %s |\n", sysname[si], cases[ci], n[k], ok[k] + 0, pct(k, 50), pct(k, 99), fmt(s[n[k]], k)
        }
      }
      notes = ""
      for (si = 1; si <= ns; si++) for (ci = 1; ci <= nc; ci++) {
        k = sysname[si] SUBSEP cases[ci]
        if (resetup[k]) notes = notes sprintf("\n- %s %s: %d trial(s) started after a re-setup (the pair did not recover by itself before)", sysname[si], cases[ci], resetup[k])
        if (unsettled[k]) notes = notes sprintf("\n- %s %s: %d trial(s) not run: the pair did not come up", sysname[si], cases[ci], unsettled[k])
      }
      if (notes != "") print "\nNotes:" notes
    }'
}

if [[ -z "${_ROAMING_BENCH_SYSTEM:-}" ]]; then
  [[ $(id -u) -eq 0 ]] || { say "run as root"; exit 1; }
  SYSTEMS=("$@")
  ((${#SYSTEMS[@]})) || SYSTEMS=("${ALL_SYSTEMS[@]}")
  for s in "${SYSTEMS[@]}"; do
    case $s in mesh | wireguard | nebula) ;; *) say "unknown system '$s' (mesh, wireguard, nebula)"; exit 2 ;; esac
  done
  for c in wireguard-go wg nft conntrack ping; do
    command -v "$c" >/dev/null || { say "missing $c (scripts/install-deps.sh)"; exit 1; }
  done
  if [[ " ${SYSTEMS[*]} " == *" mesh "* ]]; then
    MESH_BIN=$(cd "$MESH_BIN" && pwd)
    for b in mesh-coordinator mesh-agent meshctl; do
      [[ -x $MESH_BIN/$b ]] || { say "no $MESH_BIN/$b (build first)"; exit 1; }
    done
    export MESH_BIN
  fi
  if [[ " ${SYSTEMS[*]} " == *" nebula "* ]]; then
    ensure_nebula || { say "cannot install nebula"; exit 1; }
  fi
  OUT_DIR=$(mktemp -d "${TMPDIR:-/tmp}/roaming-bench.XXXXXX")
  CSV="$OUT_DIR/trials.csv"
  echo "system,case,trial,detail,result,ms,limit_ms,event_ms,resetup" >"$CSV"
  CHILD=""
  on_parent_signal() { # EXIT_STATUS: stop the child (it tears its lab down), then leave
    trap '' INT TERM HUP
    if [[ -n $CHILD ]]; then kill -TERM "$CHILD" 2>/dev/null || true; wait "$CHILD" 2>/dev/null || true; fi
    rm -rf -- "$OUT_DIR"
    exit "$1"
  }
  trap 'on_parent_signal 130' INT
  trap 'on_parent_signal 143' TERM
  trap 'on_parent_signal 129' HUP
  trap 'rm -rf -- "$OUT_DIR"' EXIT
  LOAD_BEFORE=$(uptime)
  say "load before: $LOAD_BEFORE"
  say "TRIALS=$TRIALS BASELINE_TRIALS=$BASELINE_TRIALS TIMEOUT=${TIMEOUT}s BASELINE_TIMEOUT=${BASELINE_TIMEOUT}s"
  FAILED_SYSTEMS=()
  for s in "${SYSTEMS[@]}"; do
    say "=== $s (a fresh lab)"
    _ROAMING_BENCH_SYSTEM=$s _ROAMING_BENCH_CSV=$CSV bash "$SELF" &
    CHILD=$!
    rc=0
    wait "$CHILD" || rc=$?
    CHILD=""
    if ((rc != 0)); then
      say "$s: the run stopped with status $rc (its trials so far are in the table)"
      FAILED_SYSTEMS+=("$s (status $rc)")
    fi
  done
  LOAD_AFTER=$(uptime)
  say "load after: $LOAD_AFTER"
  echo
  echo "Roaming benchmark: outage / cold start in ms (TRIALS=$TRIALS for mesh, BASELINE_TRIALS=$BASELINE_TRIALS"
  echo "for the baselines; no recovery within ${TIMEOUT} s (mesh) / ${BASELINE_TIMEOUT} s (baselines) counts as"
  echo "infinite; nearest-rank percentiles; with fewer than 100 trials p99 = max)"
  echo "load before: $LOAD_BEFORE"
  echo "load after:  $LOAD_AFTER"
  echo
  table <"$CSV"
  if ((${#FAILED_SYSTEMS[@]})); then
    echo
    echo "Runs that stopped early: ${FAILED_SYSTEMS[*]}"
  fi
  if [[ -n $BENCH_OUT ]]; then
    cp -- "$CSV" "$BENCH_OUT"
    say "CSV of all trials: $BENCH_OUT"
  fi
  ((${#FAILED_SYSTEMS[@]} == 0))
  exit
fi

# ================================================================ the child: one system, one lab

SYSTEM=$_ROAMING_BENCH_SYSTEM
PARENT_CSV=$_ROAMING_BENCH_CSV
COORD_ADDR=203.0.113.254
source "$HERE/../lab/lab.sh"
source "$HERE/../lab/nat.sh"
if [[ $SYSTEM == mesh ]]; then
  # shellcheck disable=SC2034  # read by mesh.sh
  MESH_COORD_ADDR=$COORD_ADDR
  source "$HERE/../lab/mesh.sh"
  N_TRIALS=$TRIALS
  LIMIT_S=$TIMEOUT
else
  N_TRIALS=$BASELINE_TRIALS
  LIMIT_S=$BASELINE_TIMEOUT
fi
_lab_secs_to_us "$LIMIT_S" || { say "bad timeout '$LIMIT_S'"; exit 2; }
LIMIT_US=$_LAB_US

# On a run that stopped with an error: the tail of every log (LAB_KEEP=1 keeps them all).
lab_on_exit_hook() {
  [[ ${1:-0} != 0 ]] || return 0
  local f
  for f in "$LAB_DIR"/*/*.log "$LAB_DIR"/*/state/*.log; do
    [[ -f $f ]] || continue
    printf -- '--- %s (last 20 lines)\n' "$f" >&2
    tail -20 "$f" >&2
  done
}

lab_init
LOCAL_CSV="$LAB_DIR/trials.csv"
: >"$LOCAL_CSV"

NOW=0
now_us() { local t=${EPOCHREALTIME//[!0-9]/}; NOW=$((10#$t)); }
ms_of() { awk -v u="$1" 'BEGIN { printf "%.1f", u / 1000 }'; }

record() { # CASE TRIAL DETAIL RESULT US EVENT_US RESETUP
  local ms="" ev line
  [[ $4 == ok ]] && ms=$(ms_of "$5")
  ev=$(ms_of "${6:-0}")
  line="$SYSTEM,$1,$2,$3,$4,$ms,$((LIMIT_US / 1000)),$ev,$7"
  printf '%s\n' "$line" >>"$LOCAL_CSV"
  printf '%s\n' "$line" >>"$PARENT_CSV"
  if [[ $4 == ok ]]; then say "$SYSTEM $1 #$2 ($3): $ms ms"; else say "$SYSTEM $1 #$2 ($3): $4"; fi
}

# poll_fast DESC TIMEOUT_S CMD...: like lab_wait_for, every 10 ms (for steps inside a timed setup).
poll_fast() {
  local desc=$1 deadline
  _lab_secs_to_us "$2" || return 2
  shift 2
  now_us
  deadline=$((NOW + _LAB_US))
  while :; do
    "$@" >/dev/null 2>&1 && return 0
    now_us
    ((NOW < deadline)) || break
    sleep 0.01
  done
  say "timed out waiting for $desc"
  return 1
}

# first_reply SRC DST FROM_US LIMIT_US: a train of pings SRC -> DST, one every 10 ms, started
# after FROM_US (so every probe was sent after the event); RESULT = the first reply's receive time
# (ping -D) - FROM_US in microseconds, or "timeout" when none came within LIMIT_US.
RESULT=""
first_reply() {
  local src=$1 dst=$2 from=$3 limit=$4 deadline out pid line ts secs
  deadline=$((from + limit))
  secs=$(((limit + 999999) / 1000000))
  out=$(mktemp "$LAB_DIR/.train.XXXXXX")
  lab_exec "$src" ping -n -D -i 0.01 -W 1 -w "$secs" "$dst" >"$out" 2>/dev/null &
  pid=$!
  RESULT=timeout
  while :; do
    line=$(grep -m1 ' bytes from ' "$out" 2>/dev/null) || line=""
    if [[ $line =~ ^\[([0-9]+)\.([0-9]+)\] ]]; then
      ts=${BASH_REMATCH[2]}000000
      ts=$((10#${BASH_REMATCH[1]} * 1000000 + 10#${ts:0:6}))
      ((ts - from <= limit)) && RESULT=$((ts - from))
      break
    fi
    now_us
    ((NOW < deadline)) && kill -0 "$pid" 2>/dev/null || break
    sleep 0.005
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f -- "$out"
  [[ $RESULT != timeout ]]
}

IP_A=""
IP_C=""
pings() { lab_ping "$1" "$2" 1 1; }
both_ways() { pings a "$IP_C" && pings c "$IP_A"; }

# ---------------------------------------------------------------- system: wireguard

declare -A WG_PID=() WG_PUB=() WG_OVL=([a]=10.99.0.1 [c]=10.99.0.2)
wireguard_init() {
  local h
  lab_host coord "$COORD_ADDR/24"
  nat_host a s1 2
  nat_host c s2 2
  for h in a c; do
    (umask 077 && wg genkey >"$LAB_DIR/$h/wg.key")
    WG_PUB[$h]=$(wg pubkey <"$LAB_DIR/$h/wg.key")
  done
}
wg_gone() { ! lab_exec "$1" ip link show wg0; }
wireguard_down() {
  local h
  for h in a c; do
    if [[ -n ${WG_PID[$h]:-} ]]; then lab_stop "${WG_PID[$h]}" || return 1; fi
    WG_PID[$h]=""
    poll_fast "wg0 gone on $h" 5 wg_gone "$h" || return 1
  done
}
wireguard_prepare() { :; }
wireguard_up() {
  local h peer
  for h in a c; do
    lab_spawn "$h" "$LAB_DIR/$h/wireguard-go.log" wireguard-go -f wg0 >/dev/null || return 1
    WG_PID[$h]=$LAB_LAST_PID
  done
  for h in a c; do
    poll_fast "wg0's UAPI socket on $h" 5 lab_exec "$h" test -S /run/wireguard/wg0.sock || return 1
    lab_exec "$h" ip addr add "${WG_OVL[$h]}/24" dev wg0 || return 1
    lab_exec "$h" ip link set wg0 up || return 1
  done
  for h in a c; do
    if [[ $h == a ]]; then peer=c; else peer=a; fi
    lab_exec "$h" wg set wg0 private-key "$LAB_DIR/$h/wg.key" listen-port 51820 \
      peer "${WG_PUB[$peer]}" endpoint "$(nat_public_ip "$(nat_host_site "$peer")"):51820" \
      allowed-ips "${WG_OVL[$peer]}/32" persistent-keepalive 25 || return 1
  done
  IP_A=${WG_OVL[a]}
  IP_C=${WG_OVL[c]}
}

# ---------------------------------------------------------------- system: nebula

declare -A NEB_PID=() NEB_OVL=([a]=10.99.0.1 [c]=10.99.0.2)
NEB_LH_OVL=10.99.0.254
nebula_config() { # NAME: the config of host NAME (or the lighthouse, "coord") on stdout
  local name=$1 d="$LAB_DIR/nebula"
  cat <<EOF
pki:
  ca: $d/ca.crt
  cert: $d/$name.crt
  key: $d/$name.key
static_host_map:
  "$NEB_LH_OVL": ["$COORD_ADDR:4242"]
lighthouse:
EOF
  if [[ $name == coord ]]; then
    cat <<EOF
  am_lighthouse: true
  interval: $NEBULA_LH_INTERVAL
listen:
  host: 0.0.0.0
  port: 4242
tun:
  disabled: true
EOF
  else
    cat <<EOF
  am_lighthouse: false
  interval: $NEBULA_LH_INTERVAL
  hosts:
    - "$NEB_LH_OVL"
listen:
  host: 0.0.0.0
  port: 4242
tun:
  disabled: false
  dev: neb-$name
  mtu: 1300
EOF
  fi
  cat <<EOF
punchy:
  punch: true
  respond: true
relay:
  am_relay: false
  use_relays: false
logging:
  level: info
  format: text
firewall:
  outbound:
    - port: any
      proto: any
      host: any
  inbound:
    - port: any
      proto: any
      host: any
EOF
}
neb_listening() { lab_exec coord ss -Hlun 'sport = :4242' | grep -q .; }
nebula_init() {
  local d="$LAB_DIR/nebula" h
  lab_host coord "$COORD_ADDR/24"
  nat_host a s1 2
  nat_host c s2 2
  mkdir -p "$d"
  nebula-cert ca -name roaming-bench -duration 48h -out-crt "$d/ca.crt" -out-key "$d/ca.key"
  nebula-cert sign -ca-crt "$d/ca.crt" -ca-key "$d/ca.key" -name lighthouse -ip "$NEB_LH_OVL/24" \
    -out-crt "$d/coord.crt" -out-key "$d/coord.key"
  for h in a c; do
    nebula-cert sign -ca-crt "$d/ca.crt" -ca-key "$d/ca.key" -name "$h" -ip "${NEB_OVL[$h]}/24" \
      -out-crt "$d/$h.crt" -out-key "$d/$h.key"
  done
  for h in coord a c; do nebula_config "$h" >"$d/$h.yml"; done
  lab_spawn coord "$LAB_DIR/coord/nebula.log" nebula -config "$d/coord.yml" >/dev/null
  lab_wait_for "the lighthouse on 203.0.113.254:4242" 10 neb_listening
}
neb_gone() { ! lab_exec "$1" ip link show "neb-$1"; }
neb_ready() { lab_exec "$1" ip -4 -o addr show dev "neb-$1" | grep -q "inet ${NEB_OVL[$1]}/"; }
nebula_down() {
  local h
  for h in a c; do
    if [[ -n ${NEB_PID[$h]:-} ]]; then lab_stop "${NEB_PID[$h]}" || return 1; fi
    NEB_PID[$h]=""
    poll_fast "neb-$h gone" 5 neb_gone "$h" || return 1
  done
}
nebula_prepare() { :; }
nebula_up() {
  local h
  for h in a c; do
    lab_spawn "$h" "$LAB_DIR/$h/nebula.log" nebula -config "$LAB_DIR/nebula/$h.yml" >/dev/null || return 1
    NEB_PID[$h]=$LAB_LAST_PID
  done
  for h in a c; do poll_fast "neb-$h with its address" 10 neb_ready "$h" || return 1; done
  IP_A=${NEB_OVL[a]}
  IP_C=${NEB_OVL[c]}
}

# ---------------------------------------------------------------- system: mesh

MESH_TOKEN=""
MESH_C_JOIN_US=0
mesh_init() {
  mesh_coordinator_start
  MESH_TOKEN=$(mesh_token --reusable --ttl 4h)
  nat_host a s1 2
  nat_host c s2 2
}
mesh0_gone() { ! lab_exec "$1" ip link show "$MESH_INTERFACE"; }
mesh_down() {
  local h
  for h in a c; do
    if [[ -n ${_MESH_IP[$h]:-} ]]; then mesh_admin nodes remove "$h" >/dev/null 2>&1 || true; fi
    if [[ -n ${_MESH_AGENT_PID[$h]:-} ]]; then mesh_agent_stop "$h" || return 1; fi
    poll_fast "$MESH_INTERFACE gone on $h" 5 mesh0_gone "$h" || return 1
    rm -rf -- "${LAB_DIR:?}/$h/state"
    # shellcheck disable=SC2004  # an associative array (declared in mesh.sh)
    _MESH_IP[$h]=""
  done
}
mesh_prepare() {
  mesh_agent_start a || return 1
  mesh_agent_start c || return 1
}
mesh_up() {
  mesh_join a "$MESH_TOKEN" >"$LAB_DIR/a/join.out" 2>&1 ||
    { say "join a: $(cat "$LAB_DIR/a/join.out")"; return 1; }
  now_us
  MESH_C_JOIN_US=$NOW
  mesh_join c "$MESH_TOKEN" >"$LAB_DIR/c/join.out" 2>&1 ||
    { say "join c: $(cat "$LAB_DIR/c/join.out")"; return 1; }
  IP_A=${_MESH_IP[a]}
  IP_C=${_MESH_IP[c]}
  [[ -n $IP_A && -n $IP_C ]] || { say "no overlay address in the join output"; return 1; }
}

# ---------------------------------------------------------------- the measurements

flush_all_nats() { local s; for s in $(nat_sites); do nat_flush "$s"; done; }

# cold_start: the pair from nothing; T0 = the setup's start. Returns 1 if the setup failed.
T0=0
cold_start() {
  "${SYSTEM}_down" || return 1
  flush_all_nats || return 1
  "${SYSTEM}_prepare" || return 1
  now_us
  T0=$NOW
  "${SYSTEM}_up"
}

# settle: the pair pings both ways, then 1-2 s idle (uniformly random: a fixed idle time would land
# every event at the same phase of a system's periodic timers, e.g. our 500 ms path checks, and
# measure one point of the distribution instead of the distribution); re-setup (unmeasured cold
# start) if it does not within SETTLE_TIMEOUT or if NEED_RESETUP is set. RESETUP=1 when a
# re-setup was done.
idle() { sleep "$(printf '1.%03d' $((RANDOM % 1000)))"; }
NEED_RESETUP=0
RESETUP=0
settle() {
  RESETUP=0
  if ((NEED_RESETUP == 0)) && lab_wait_for "the pair pinging both ways" "$SETTLE_TIMEOUT" both_ways; then
    idle
    return 0
  fi
  RESETUP=1
  NEED_RESETUP=0
  say "$SYSTEM: re-setup of the pair"
  if cold_start && lab_wait_for "the pair after a re-setup" "$((SETTLE_TIMEOUT + LIMIT_S))" both_ways; then
    idle
    return 0
  fi
  NEED_RESETUP=1
  return 1
}

join_trials() {
  local t
  for ((t = 1; t <= N_TRIALS; t++)); do
    if ! cold_start; then
      record join "$t" "setup failed" error 0 0 0
      [[ $SYSTEM == mesh ]] && record join-c "$t" "setup failed" error 0 0 0
      NEED_RESETUP=1
      continue
    fi
    if first_reply a "$IP_C" "$T0" "$LIMIT_US"; then
      record join "$t" "a -> c" ok "$RESULT" 0 0
      if [[ $SYSTEM == mesh ]]; then
        record join-c "$t" "a -> c" ok $((RESULT - (MESH_C_JOIN_US - T0))) 0 0
      fi
    else
      record join "$t" "a -> c" timeout 0 0 0
      [[ $SYSTEM == mesh ]] && record join-c "$t" "a -> c" timeout 0 0 0
      NEED_RESETUP=1
    fi
  done
}

# event_CASE TRIAL: does the event, sets DETAIL, SRC, DST (the probe's direction).
DETAIL=""
SRC=""
DST=""
event_move() {
  local from to
  from=$(nat_host_site c)
  if [[ $from == s2 ]]; then to=s3; else to=s2; fi
  DETAIL="c $from->$to"
  nat_move_host c "$to"
  SRC=a DST=$IP_C
}
event_public() {
  local site old new
  site=$(nat_host_site c)
  old=$(nat_public_ip "$site")
  if (($1 % 2)); then new=33; else new=34; fi
  DETAIL="$site ${old##*.}->$new"
  nat_change_public "$site" "$new"
  SRC=a DST=$IP_C
}
event_flush() {
  DETAIL="s1"
  nat_flush s1
  SRC=c DST=$IP_A
}
event_both() {
  local mover
  if [[ $(nat_host_site a) == s1 ]]; then
    DETAIL="a s1->s3 c s2->s1"
    nat_move_host a s3 2 &
    mover=$!
    nat_move_host c s1 9
  else
    DETAIL="a s3->s1 c s1->s2"
    nat_move_host c s2 2 &
    mover=$!
    nat_move_host a s1 2
  fi
  wait "$mover"
  SRC=a DST=$IP_C
}

roam_trials() { # CASE
  local case=$1 t t_begin t_end
  for ((t = 1; t <= N_TRIALS; t++)); do
    if ! settle; then
      record "$case" "$t" "-" unsettled 0 0 1
      continue
    fi
    now_us
    t_begin=$NOW
    "event_$case" "$t"
    now_us
    t_end=$NOW
    if first_reply "$SRC" "$DST" "$t_end" "$LIMIT_US"; then
      record "$case" "$t" "$DETAIL" ok "$RESULT" $((t_end - t_begin)) "$RESETUP"
    else
      record "$case" "$t" "$DETAIL" timeout 0 $((t_end - t_begin)) "$RESETUP"
      NEED_RESETUP=1
    fi
  done
}

say "$SYSTEM: lab $LAB_PREFIX, $N_TRIALS trials per case, timeout ${LIMIT_S}s"
nat_site s1 1
nat_site s2 2
nat_site s3 3
"${SYSTEM}_init"
if [[ $SYSTEM == nebula ]]; then say "$(nebula -version | head -1)"; fi

join_trials
for case in move public flush; do roam_trials "$case"; done
# "both" starts from a in s1, c in s2 (c may be in s3 after an odd number of moves)
if [[ $(nat_host_site c) != s2 ]]; then
  nat_move_host c s2 2
fi
roam_trials both
say "$SYSTEM: done"
