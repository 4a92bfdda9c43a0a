# shellcheck shell=bash
# shellcheck disable=SC2016,SC2034
# tests/lab/lab.sh — network-namespace lab library for the mesh's integration labs.
#
# SOURCE this file (do not execute it); needs root, bash >= 4.4, iproute2, util-linux
# (nsenter, unshare), iputils-ping. Works under `set -euo pipefail` and without a tty.
#
#   source tests/lab/lab.sh
#   lab_init                                  # prefix, LAB_DIR, switch netns, traps
#   lab_host a 10.231.0.1/24                  # netns "${LAB_PREFIX}a" + private /run/wireguard, /run/mesh
#   lab_host b 10.231.0.2/24
#   lab_exec a ip -br addr                    # run a command inside host a (net + mount ns)
#   lab_spawn a "$LAB_DIR/a/wg.log" wireguard-go -f wg0 >/dev/null; pid=$LAB_LAST_PID
#   lab_wait_for "wg0 socket on a" 5 lab_exec a test -S /run/wireguard/wg0.sock
#   lab_ping a 10.231.0.2                     # 0 if a reply came
#   lab_ping_matrix a b -- 10.231.0.1 10.231.0.2
#   lab_stop "$pid"
#   # lab_cleanup runs by itself on EXIT / INT / TERM / HUP
#
# Topology: one "switch" namespace "${LAB_PREFIX}sw" holds bridge br0 (bridge-nf-call-* = 0 there,
# br_netfilter is active on these kernels). Each host is namespace "${LAB_PREFIX}NAME" with lo and
# eth0 (a veth whose peer "pIDX-NAME" is a port of br0). Both veth ends are created directly inside
# their namespaces: nothing is ever created in the initial namespace, whose routes, sysctls and
# nftables are never touched. The only change outside is creating the empty directories
# /run/wireguard and /run/mesh if they are missing (mount points for the per-host tmpfs).
#
# Each host also has its own MOUNT namespace, kept alive by a "holder" process
# (`ip netns exec NS unshare --mount --propagation private sh -c 'mount tmpfs ...; exec sleep
# infinity'`), with private tmpfs on /run/wireguard (wireguard-go's UAPI sockets, a file system path,
# not per netns) and /run/mesh (the agent's local socket). lab_exec/lab_spawn enter the holder's
# net + mount namespaces with `nsenter -t HOLDER -n -m` and cd back to the caller's $PWD (nsenter -m
# resets the cwd to /). Files under LAB_DIR and the work tree are visible inside (same file systems).
#
# Functions (all return non-zero with a "lab: ..." message on stderr on failure):
#   lab_init                      start a run: LAB_PREFIX (ml<pid>-), LAB_DIR, switch, traps
#   lab_cleanup                   idempotent teardown (also from the traps); only what this run made
#   lab_host NAME ADDR/LEN        new host; state/log directory "$LAB_DIR/NAME"
#   lab_exec NAME CMD [ARG...]    run CMD inside NAME; stdin/stdout/stderr/exit status pass through.
#                                 CMD must be an executable (not a shell function): use bash -c '...'
#   lab_spawn NAME LOG CMD...     start CMD in the background inside NAME, stdout+stderr appended to
#                                 LOG, stdin /dev/null; prints the PID and sets LAB_LAST_PID.
#                                 The PID is recorded: lab_cleanup stops it. Works inside $(...).
#   lab_stop PID [TIMEOUT_S]      TERM, wait (default LAB_STOP_TIMEOUT=5 s), KILL; only PIDs this run
#                                 recorded (checked with the process start time, never a reused PID)
#   lab_wait_for DESC TIMEOUT_S CMD...
#                                 poll CMD (output discarded) every 50 ms until it succeeds; on timeout
#                                 prints "lab: timed out after Ns waiting for DESC", returns 1.
#                                 TIMEOUT_S may be fractional. CMD itself should not block.
#   lab_ping NAME ADDR [COUNT=1] [TIMEOUT_S=1]
#                                 ping from NAME; 0 when a reply arrived (ping -n -q -c -W)
#   lab_reach_matrix [-t TITLE] [-c COUNT] [-W TIMEOUT_S] [-p] ADDR_FN HOST...
#                                 every ordered pair, one after the other: lab_ping SRC
#                                 "$(ADDR_FN DST)"; prints a ✓/✗ table (row = from, column = to) and
#                                 the failed pairs; returns 1 if any pair failed. -p pings all pairs at
#                                 once (fast when many fail) — but NOT for a first contact over
#                                 WireGuard: A->B and B->A at the same moment cross their handshakes
#                                 and both directions stall ~5 s (REKEY_TIMEOUT).
#   lab_ping_matrix [-t TITLE] [-c N] [-W S] [-p] HOST... -- ADDR...
#                                 same, with the i-th ADDR belonging to the i-th HOST
#   lab_ns NAME                   print the netns name of NAME ("sw" gives the switch namespace)
#   lab_dir NAME                  print "$LAB_DIR/NAME"
#   lab_addr NAME                 print NAME's LAN address without prefix length
#   lab_holder_pid NAME           print the PID of NAME's namespace holder
#   lab_hosts                     print the host names, one per line, in creation order
#   lab_log MSG...                "lab: MSG" on stderr
#
# Internals for libraries on top of this one (tests/lab/nat.sh): _lab_host_make NAME (namespace +
# holder, no links), _lab_host_attach_switch NAME ADDR/LEN (eth0 on br0), _lab_netns_add NS,
# _lab_bridge_nf_off NS. lab_host = _lab_host_make + _lab_host_attach_switch.
#
# Variables: LAB_PREFIX, LAB_DIR, LAB_SWITCH (switch netns name), LAB_BRIDGE (br0), LAB_LAST_PID.
# Settings (environment, before lab_init):
#   LAB_PREFIX_BASE  prefix base, default "ml" -> namespaces "ml<pid>-NAME"
#   LAB_KEEP=1       keep LAB_DIR (logs) after cleanup; its path is printed
#   LAB_STOP_TIMEOUT seconds between TERM and KILL, default 5
#   LAB_TRACE_FILE   if set, append "prefix/dir/netns/pid ..." records to it (for a wrapper that
#                    checks that nothing is left over after the run)
# Hook: if the caller defines a function lab_on_exit_hook, the EXIT/signal handler calls it (with
# errexit off) before the teardown — e.g. to print logs of a failed run.
#
# Signals: lab_init replaces the EXIT, INT, TERM and HUP traps. On INT/TERM/HUP it tears down and
# exits 130/143/129; on EXIT it tears down and keeps the exit status. A trap runs only after the
# current foreground command ends, so keep foreground commands bounded (ping -W, timeout ...).
# A run killed with SIGKILL cannot clean up: its namespaces stay as "ml<pid>-*" (delete them with
# `ip netns delete`, after checking that <pid> is dead).

if [[ -n "${_LAB_SH_LOADED:-}" ]]; then
  return 0
fi
_LAB_SH_LOADED=1

: "${LAB_PREFIX_BASE:=ml}"
: "${LAB_KEEP:=0}"
: "${LAB_STOP_TIMEOUT:=5}"
: "${LAB_TRACE_FILE:=}"
LAB_PREFIX=""
LAB_DIR=""
LAB_SWITCH=""
LAB_BRIDGE="br0"
LAB_LAST_PID=""
_LAB_OWNER=""
_LAB_CLEANED=0
_LAB_NOW=0
_LAB_US=0
_LAB_HPID=""
declare -gA _LAB_PM_ADDR=()

lab_log() { printf 'lab: %s\n' "$*" >&2; }

# ---------------------------------------------------------------- internals

_lab_now() { # microseconds since the epoch into _LAB_NOW (no fork)
  local t=${EPOCHREALTIME//[!0-9]/}
  _LAB_NOW=$((10#$t))
}

_lab_secs_to_us() { # "1.5" -> _LAB_US=1500000; returns 1 if not a number
  local s=$1 int frac
  [[ $s =~ ^([0-9]*)(\.([0-9]*))?$ && -n "${BASH_REMATCH[1]}${BASH_REMATCH[3]}" ]] || return 1
  int=${BASH_REMATCH[1]:-0}
  frac=${BASH_REMATCH[3]:-}000000
  frac=${frac:0:6}
  _LAB_US=$((10#$int * 1000000 + 10#$frac))
}

_lab_trace() {
  [[ -n "$LAB_TRACE_FILE" ]] || return 0
  printf '%s\n' "$*" >>"$LAB_TRACE_FILE" 2>/dev/null || true
}

# _lab_proc_start PID: print the start time (clock ticks after boot) of PID; 1 if gone.
_lab_proc_start() {
  local line rest f
  { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
  rest=${line##*) }
  read -r -a f <<<"$rest"
  printf '%s\n' "${f[19]}"
}

# _lab_alive PID START: 0 if PID is running and is the process that started at START
# (so a reused PID never counts). A zombie counts as gone (and is reaped if it is our child).
_lab_alive() {
  local pid=$1 start=${2:-0} line rest f
  [[ $pid =~ ^[0-9]+$ && $start != 0 && -n $start ]] || return 1
  { read -r line <"/proc/$pid/stat"; } 2>/dev/null || return 1
  rest=${line##*) }
  read -r -a f <<<"$rest"
  [[ "${f[19]:-}" == "$start" ]] || return 1
  if [[ "${f[0]}" == Z ]]; then
    wait "$pid" 2>/dev/null || true
    return 1
  fi
  return 0
}

_lab_need_init() {
  if [[ -z "$LAB_DIR" || ! -d "$LAB_DIR" ]]; then
    lab_log "lab_init has not run (or lab_cleanup already ran)"
    return 1
  fi
}

_lab_valid_name() {
  if [[ ! $1 =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ || $1 == sw ]]; then
    lab_log "bad host name '$1' (letters, digits, _ . -; 'sw' is the switch)"
    return 1
  fi
}

# _lab_record_pid PID ROLE: remember PID (with its start time) for lab_stop / lab_cleanup.
_lab_record_pid() {
  local pid=$1 role=$2 start
  start=$(_lab_proc_start "$pid") || start=0
  printf '%s %s %s\n' "$pid" "$start" "$role" >>"$LAB_DIR/.pids"
  _lab_trace "pid $pid $start $role"
}

# _lab_holder NAME: set _LAB_HPID to the live holder PID of host NAME.
_lab_holder() {
  local name=${1:-} pid start
  _lab_need_init || return 1
  if [[ -z "$name" || ! -r "$LAB_DIR/$name/.holder" ]]; then
    lab_log "no such lab host '$name'"
    return 1
  fi
  read -r pid start <"$LAB_DIR/$name/.holder" || return 1
  if ! _lab_alive "$pid" "$start"; then
    lab_log "host '$name': its namespace holder (pid $pid) is gone"
    return 1
  fi
  _LAB_HPID=$pid
}

# _lab_netns_add NS: record, then create a network namespace with lo up; trace its inode.
_lab_netns_add() {
  local ns=$1 ino
  printf '%s\n' "$ns" >>"$LAB_DIR/.netns"
  if ! ip netns add "$ns"; then
    lab_log "ip netns add $ns failed"
    return 1
  fi
  ino=$(stat -L -c %i "/run/netns/$ns" 2>/dev/null) || ino="?"
  _lab_trace "netns $ns $ino"
  ip -n "$ns" link set lo up || return 1
}

# _lab_stop_set TIMEOUT_US "pid:start"...: TERM all live ones, bounded wait, then KILL.
_lab_stop_set() {
  local timeout_us=$1 item deadline
  shift
  local -a alive=() still=()
  for item in "$@"; do
    if _lab_alive "${item%%:*}" "${item#*:}"; then
      kill -TERM "${item%%:*}" 2>/dev/null || true
      alive+=("$item")
    fi
  done
  local phase
  for phase in TERM KILL; do
    ((${#alive[@]})) || return 0
    if [[ $phase == KILL ]]; then
      for item in "${alive[@]}"; do
        lab_log "pid ${item%%:*} still running $((timeout_us / 1000)) ms after TERM: sending KILL"
        kill -KILL "${item%%:*}" 2>/dev/null || true
      done
      timeout_us=2000000
    fi
    _lab_now
    deadline=$((_LAB_NOW + timeout_us))
    while :; do
      still=()
      for item in "${alive[@]}"; do
        if _lab_alive "${item%%:*}" "${item#*:}"; then still+=("$item"); fi
      done
      alive=("${still[@]}")
      ((${#alive[@]})) || return 0
      _lab_now
      ((_LAB_NOW < deadline)) || break
      sleep 0.05
    done
  done
  for item in "${alive[@]}"; do
    lab_log "warning: pid ${item%%:*} survived KILL (uninterruptible?)"
  done
  return 1
}

_lab_on_exit() {
  local rc=$?
  set +e
  if declare -F lab_on_exit_hook >/dev/null; then lab_on_exit_hook "$rc"; fi
  lab_cleanup
  exit "$rc"
}

_lab_on_signal() {
  local sig=$1 rc
  case $sig in INT) rc=130 ;; TERM) rc=143 ;; HUP) rc=129 ;; *) rc=1 ;; esac
  set +e
  lab_log "caught SIG$sig, tearing down"
  if declare -F lab_on_exit_hook >/dev/null; then lab_on_exit_hook "$rc"; fi
  lab_cleanup
  trap - EXIT
  exit "$rc"
}

# ---------------------------------------------------------------- public API

lab_init() {
  local c base n=0
  if [[ $EUID -ne 0 ]]; then
    lab_log "labs need root"
    return 1
  fi
  for c in ip nsenter unshare ping stat mktemp sleep; do
    command -v "$c" >/dev/null || { lab_log "missing command: $c"; return 1; }
  done
  if [[ -n "$LAB_DIR" && -d "$LAB_DIR" ]]; then
    lab_log "lab_init: this shell already has a lab ($LAB_PREFIX)"
    return 1
  fi
  base="${LAB_PREFIX_BASE}$$"
  LAB_PREFIX="${base}-"
  # A run that was SIGKILLed with the same PID may have left namespaces: never reuse them.
  while compgen -G "/run/netns/${LAB_PREFIX}*" >/dev/null; do
    n=$((n + 1))
    LAB_PREFIX="${base}x${n}-"
  done
  LAB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/lab-${LAB_PREFIX%-}.XXXXXX") || { LAB_DIR=""; return 1; }
  : >"$LAB_DIR/.pids"
  : >"$LAB_DIR/.netns"
  : >"$LAB_DIR/.hosts"
  _LAB_OWNER=$BASHPID
  _LAB_CLEANED=0
  _lab_trace "prefix $LAB_PREFIX"
  _lab_trace "dir $LAB_DIR"
  trap '_lab_on_exit' EXIT
  trap '_lab_on_signal INT' INT
  trap '_lab_on_signal TERM' TERM
  trap '_lab_on_signal HUP' HUP

  LAB_SWITCH="${LAB_PREFIX}sw"
  _lab_netns_add "$LAB_SWITCH" || return 1
  ip -n "$LAB_SWITCH" link add "$LAB_BRIDGE" type bridge || { lab_log "cannot create bridge"; return 1; }
  ip -n "$LAB_SWITCH" link set "$LAB_BRIDGE" up || return 1
  # br_netfilter: bridged frames would traverse this namespace's netfilter hooks. Off here.
  _lab_bridge_nf_off "$LAB_SWITCH"
}

lab_cleanup() {
  local - # errexit etc. are restored on return
  set +e
  [[ -n "$LAB_DIR" && -n "$_LAB_OWNER" ]] || return 0
  [[ "$BASHPID" == "$_LAB_OWNER" ]] || return 0 # never from a subshell of the lab's shell
  ((_LAB_CLEANED)) && return 0
  _LAB_CLEANED=1
  trap '' INT TERM HUP # the teardown itself is bounded; do not let a second ^C cut it short

  local timeout_us pid start role ns item
  local -a spawned=() holders=() strays=() namespaces=()
  _lab_secs_to_us "$LAB_STOP_TIMEOUT" || _LAB_US=5000000
  timeout_us=$_LAB_US
  if [[ -r "$LAB_DIR/.pids" ]]; then
    while read -r pid start role; do
      [[ -n "$pid" ]] || continue
      if [[ $role == holder:* ]]; then holders+=("$pid:$start"); else spawned+=("$pid:$start"); fi
    done <"$LAB_DIR/.pids"
  fi
  if [[ -r "$LAB_DIR/.netns" ]]; then
    mapfile -t namespaces <"$LAB_DIR/.netns"
  fi

  # 1. processes this run spawned
  _lab_stop_set "$timeout_us" "${spawned[@]}"
  # 2. anything else still inside our network namespaces (e.g. backgrounded lab_exec), not holders
  for ns in "${namespaces[@]}"; do
    [[ -e "/run/netns/$ns" ]] || continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      local is_holder=0
      for item in "${holders[@]}"; do [[ ${item%%:*} == "$pid" ]] && is_holder=1; done
      ((is_holder)) && continue
      start=$(_lab_proc_start "$pid") || continue
      strays+=("$pid:$start")
    done
  done
  if ((${#strays[@]})); then
    lab_log "stopping ${#strays[@]} unrecorded process(es) left in the lab's namespaces"
    _lab_stop_set "$timeout_us" "${strays[@]}"
  fi
  # 3. the namespace holders (their mount namespaces and tmpfs go with them)
  _lab_stop_set "$timeout_us" "${holders[@]}"
  # 4. the network namespaces, hosts first, switch last (veth pairs die with them)
  local i
  for ((i = ${#namespaces[@]} - 1; i >= 0; i--)); do
    ns=${namespaces[i]}
    [[ -n "$ns" && -e "/run/netns/$ns" ]] || continue
    ip netns delete "$ns" 2>/dev/null || lab_log "warning: ip netns delete $ns failed"
  done
  # 5. the run directory
  if [[ "$LAB_KEEP" == 1 ]]; then
    lab_log "kept $LAB_DIR"
  else
    rm -rf -- "$LAB_DIR"
  fi
  _lab_trace "cleanup done"
  trap '_lab_on_signal INT' INT
  trap '_lab_on_signal TERM' TERM
  trap '_lab_on_signal HUP' HUP
  return 0
}

# _lab_bridge_nf_off NS: bridge-nf-call-{iptables,ip6tables,arptables}=0 in NS (br_netfilter is
# active on these kernels: bridged frames would traverse NS's netfilter hooks).
_lab_bridge_nf_off() {
  ip netns exec "$1" sh -c '
    for k in iptables ip6tables arptables; do
      f=/proc/sys/net/bridge/bridge-nf-call-$k
      if [ -e "$f" ]; then echo 0 >"$f" || exit 1; fi
    done' || { lab_log "cannot turn bridge-nf-call-* off in namespace $1"; return 1; }
}

# _lab_host_make NAME: a host without links: network namespace "${LAB_PREFIX}NAME" (lo up), state
# directory, mount-namespace holder; registered for lab_hosts / lab_exec / lab_spawn / lab_cleanup.
# The caller gives it its eth0 (e.g. _lab_host_attach_switch). $LAB_DIR/NAME/.idx holds its index.
_lab_host_make() {
  local name=${1:-} ns dir idx pid start line deadline
  _lab_need_init || return 1
  _lab_valid_name "$name" || return 1
  dir="$LAB_DIR/$name"
  if [[ -e "$dir/.holder" ]]; then
    lab_log "lab_host: host '$name' exists already"
    return 1
  fi
  ns="${LAB_PREFIX}${name}"
  idx=0
  while read -r line; do idx=$((idx + 1)); done <"$LAB_DIR/.hosts"
  idx=$((idx + 1))
  mkdir -p "$dir" || return 1
  printf '%s\n' "$idx" >"$dir/.idx"
  _lab_netns_add "$ns" || return 1
  printf '%s\n' "$name" >>"$LAB_DIR/.hosts"

  # Mount points in the initial file system (the only change allowed outside the namespaces).
  mkdir -p /run/wireguard /run/mesh || return 1
  ip netns exec "$ns" unshare --mount --propagation private sh -c '
    mount -t tmpfs -o mode=0755 tmpfs /run/wireguard &&
    mount -t tmpfs -o mode=0755 tmpfs /run/mesh &&
    echo ready && exec sleep infinity' </dev/null >"$dir/.holder.out" 2>&1 &
  pid=$!
  disown "$pid" 2>/dev/null || true
  _lab_record_pid "$pid" "holder:$name"
  start=$(_lab_proc_start "$pid") || start=0
  printf '%s %s\n' "$pid" "$start" >"$dir/.holder"
  _lab_now
  deadline=$((_LAB_NOW + 5000000))
  while :; do
    line=""
    { read -r line <"$dir/.holder.out"; } 2>/dev/null || true
    [[ $line == ready ]] && break
    if ! _lab_alive "$pid" "$start"; then
      lab_log "lab_host $name: namespace holder failed: $(head -c 500 "$dir/.holder.out" 2>/dev/null)"
      return 1
    fi
    _lab_now
    if ((_LAB_NOW >= deadline)); then
      lab_log "timed out after 5s waiting for the mount namespace of $name"
      return 1
    fi
    sleep 0.02
  done
}

# _lab_host_attach_switch NAME ADDR/LEN: eth0 of host NAME (made by _lab_host_make), a veth whose
# peer "pIDX-NAME" is a port of the switch's br0; ADDR/LEN on it ($LAB_DIR/NAME/.addr).
_lab_host_attach_switch() {
  local name=$1 addr=$2 ns dir idx port
  ns="${LAB_PREFIX}${name}"
  dir="$LAB_DIR/$name"
  read -r idx <"$dir/.idx" || return 1
  port="p${idx}-${name}"
  port=${port:0:15}
  # Both ends are created inside their namespaces: nothing appears in the initial namespace.
  ip -n "$ns" link add eth0 type veth peer name "$port" netns "$LAB_SWITCH" ||
    { lab_log "lab_host $name: cannot create veth pair"; return 1; }
  ip -n "$ns" addr add "$addr" dev eth0 || { lab_log "lab_host $name: bad address '$addr'"; return 1; }
  ip -n "$ns" link set eth0 up || return 1
  ip -n "$LAB_SWITCH" link set "$port" master "$LAB_BRIDGE" || return 1
  ip -n "$LAB_SWITCH" link set "$port" up || return 1
  printf '%s\n' "$addr" >"$dir/.addr"
}

lab_host() {
  local name=${1:-} addr=${2:-}
  if [[ -z "$name" || -z "$addr" ]]; then
    lab_log "usage: lab_host NAME ADDR/LEN"
    return 1
  fi
  _lab_need_init || return 1
  _lab_valid_name "$name" || return 1
  if [[ $addr != */* ]]; then
    lab_log "lab_host $name: address needs a prefix length (ADDR/LEN): '$addr'"
    return 1
  fi
  _lab_host_make "$name" || return 1
  _lab_host_attach_switch "$name" "$addr"
}

lab_exec() {
  local name=${1:-}
  if (($# < 2)); then
    lab_log "usage: lab_exec NAME CMD [ARG...]"
    return 2
  fi
  shift
  _lab_holder "$name" || return 1
  nsenter -t "$_LAB_HPID" -n -m -- \
    sh -c 'cd "$1" 2>/dev/null || cd /; shift; exec "$@"' lab-exec "$PWD" "$@"
}

lab_spawn() {
  local name=${1:-} log=${2:-} pid
  if (($# < 3)); then
    lab_log "usage: lab_spawn NAME LOGFILE CMD [ARG...]"
    return 2
  fi
  shift 2
  _lab_holder "$name" || return 1
  mkdir -p "$(dirname -- "$log")" || return 1
  nsenter -t "$_LAB_HPID" -n -m -- \
    sh -c 'cd "$1" 2>/dev/null || cd /; shift; exec "$@"' lab-spawn "$PWD" "$@" \
    </dev/null >>"$log" 2>&1 &
  pid=$!
  disown "$pid" 2>/dev/null || true
  _lab_record_pid "$pid" "spawn:$name:$1"
  LAB_LAST_PID=$pid
  printf '%s\n' "$pid"
}

lab_stop() {
  local pid=${1:-} timeout=${2:-$LAB_STOP_TIMEOUT} p s r start=""
  [[ $pid =~ ^[0-9]+$ ]] || { lab_log "usage: lab_stop PID [TIMEOUT_S]"; return 2; }
  _lab_need_init || return 1
  while read -r p s r; do
    [[ $p == "$pid" && $r != holder:* ]] && start=$s
  done <"$LAB_DIR/.pids"
  if [[ -z "$start" ]]; then
    lab_log "lab_stop: pid $pid was not started by lab_spawn in this lab; not touching it"
    return 1
  fi
  _lab_secs_to_us "$timeout" || { lab_log "lab_stop: bad timeout '$timeout'"; return 2; }
  _lab_stop_set "$_LAB_US" "$pid:$start"
}

lab_wait_for() {
  local desc=${1:-} timeout=${2:-} deadline
  if (($# < 3)); then
    lab_log "usage: lab_wait_for DESC TIMEOUT_S CMD [ARG...]"
    return 2
  fi
  shift 2
  _lab_secs_to_us "$timeout" || { lab_log "lab_wait_for: bad timeout '$timeout'"; return 2; }
  _lab_now
  deadline=$((_LAB_NOW + _LAB_US))
  while :; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    _lab_now
    ((_LAB_NOW < deadline)) || break
    sleep 0.05
  done
  lab_log "timed out after ${timeout}s waiting for $desc"
  return 1
}

lab_ping() {
  local name=${1:-} addr=${2:-} count=${3:-1} timeout=${4:-1}
  if [[ -z "$name" || -z "$addr" ]]; then
    lab_log "usage: lab_ping NAME ADDR [COUNT] [TIMEOUT_S]"
    return 2
  fi
  lab_exec "$name" ping -n -q -c "$count" -i 0.2 -W "$timeout" "$addr" >/dev/null 2>&1
}

lab_reach_matrix() {
  local title="reachability" count=1 wait_s=1 parallel=0
  while (($#)); do
    case $1 in
      -t) title=$2; shift 2 ;;
      -c) count=$2; shift 2 ;;
      -W) wait_s=$2; shift 2 ;;
      -p) parallel=1; shift ;;
      *) break ;;
    esac
  done
  local fn=${1:-}
  if (($# < 3)); then
    lab_log "usage: lab_reach_matrix [-t TITLE] [-c COUNT] [-W TIMEOUT_S] [-p] ADDR_FN HOST HOST..."
    return 2
  fi
  shift
  _lab_need_init || return 1
  local -a hosts=("$@") pids=()
  local -A addr=()
  local h s i j w=4 tmp res failed=0 cell
  for h in "${hosts[@]}"; do
    addr[$h]=$("$fn" "$h") || { lab_log "lab_reach_matrix: $fn $h failed"; return 1; }
    ((${#h} + 2 > w)) && w=$((${#h} + 2))
  done
  tmp=$(mktemp -d "$LAB_DIR/.matrix.XXXXXX") || return 1
  for ((i = 0; i < ${#hosts[@]}; i++)); do
    for ((j = 0; j < ${#hosts[@]}; j++)); do
      ((i == j)) && continue
      if ((parallel)); then
        (
          if lab_ping "${hosts[i]}" "${addr[${hosts[j]}]}" "$count" "$wait_s"; then r=ok; else r=fail; fi
          printf '%s\n' "$r" >"$tmp/$i.$j"
        ) &
        pids+=($!)
      else
        if lab_ping "${hosts[i]}" "${addr[${hosts[j]}]}" "$count" "$wait_s"; then res=ok; else res=fail; fi
        printf '%s\n' "$res" >"$tmp/$i.$j"
      fi
    done
  done
  for s in "${pids[@]}"; do wait "$s" || true; done # only with -p

  printf '%s (row = from, column = to)\n' "$title"
  printf '%*s' "$w" ''
  for h in "${hosts[@]}"; do printf '%-*s' "$w" "$h"; done
  printf '\n'
  local -a failures=()
  for ((i = 0; i < ${#hosts[@]}; i++)); do
    printf '%-*s' "$w" "${hosts[i]}"
    for ((j = 0; j < ${#hosts[@]}; j++)); do
      if ((i == j)); then
        cell="-"
      else
        res=""
        { read -r res <"$tmp/$i.$j"; } 2>/dev/null || true
        if [[ $res == ok ]]; then
          cell="✓"
        else
          cell="✗"
          failed=$((failed + 1))
          failures+=("${hosts[i]} -> ${hosts[j]} (${addr[${hosts[j]}]})")
        fi
      fi
      printf '%s%*s' "$cell" $((w - 1)) ''
    done
    printf '\n'
  done
  rm -rf -- "$tmp"
  if ((failed)); then
    for s in "${failures[@]}"; do printf '  ✗ %s\n' "$s"; done
    printf '%d of %d pairs unreachable\n' "$failed" $((${#hosts[@]} * (${#hosts[@]} - 1)))
    return 1
  fi
  printf 'all %d pairs reachable\n' $((${#hosts[@]} * (${#hosts[@]} - 1)))
}

_lab_pm_addr() {
  [[ -n "${_LAB_PM_ADDR[$1]:-}" ]] || return 1
  printf '%s\n' "${_LAB_PM_ADDR[$1]}"
}

lab_ping_matrix() {
  local -a opts=() hosts=() addrs=()
  while (($#)); do
    case $1 in
      -[tcW]) opts+=("$1" "$2"); shift 2 ;;
      -p) opts+=("$1"); shift ;;
      *) break ;;
    esac
  done
  while (($#)) && [[ $1 != -- ]]; do hosts+=("$1"); shift; done
  (($#)) && shift
  addrs=("$@")
  if ((${#hosts[@]} < 2 || ${#hosts[@]} != ${#addrs[@]})); then
    lab_log "usage: lab_ping_matrix [-t TITLE] [-c N] [-W S] [-p] HOST... -- ADDR... (one ADDR per HOST)"
    return 2
  fi
  local i
  _LAB_PM_ADDR=()
  for ((i = 0; i < ${#hosts[@]}; i++)); do _LAB_PM_ADDR[${hosts[i]}]=${addrs[i]}; done
  lab_reach_matrix "${opts[@]}" _lab_pm_addr "${hosts[@]}"
}

lab_ns() {
  local name=${1:-}
  [[ -n "$LAB_PREFIX" ]] || { lab_log "lab_init has not run"; return 1; }
  if [[ $name == sw ]]; then printf '%s\n' "$LAB_SWITCH"; return 0; fi
  [[ -e "$LAB_DIR/$name/.holder" ]] || { lab_log "no such lab host '$name'"; return 1; }
  printf '%s\n' "${LAB_PREFIX}${name}"
}

lab_dir() {
  [[ -e "$LAB_DIR/${1:-}/.holder" ]] || { lab_log "no such lab host '${1:-}'"; return 1; }
  printf '%s\n' "$LAB_DIR/$1"
}

lab_addr() {
  local a
  [[ -r "$LAB_DIR/${1:-}/.addr" ]] || { lab_log "no such lab host '${1:-}'"; return 1; }
  read -r a <"$LAB_DIR/$1/.addr"
  printf '%s\n' "${a%/*}"
}

lab_holder_pid() {
  _lab_holder "${1:-}" || return 1
  printf '%s\n' "$_LAB_HPID"
}

lab_hosts() {
  _lab_need_init || return 1
  cat -- "$LAB_DIR/.hosts"
}
