#!/usr/bin/env bash
# Benchmark: time from a control-plane event to the moment EVERY peer's WireGuard device reflects
# it, in a mesh of N hosts. Three events, TRIALS each, a different host per trial (round-robin
# over h2..hN, carried on from one event to the next):
#   remove   `mesh-coordinator nodes remove HOST`: until HOST's public key is gone from
#            `wg show mesh0 peers` on all N-1 other hosts. The host is then added back as a new
#            machine (agent stopped, state dir wiped, agent started, joined with a fresh token).
#   expire   `mesh-coordinator nodes expire HOST`: the same measurement. The host then joins again
#            (same machine key: it keeps its node id and address).
#   rotate   `meshctl rotate-key` on HOST: until every other host lists the NEW key and not the
#            old one, and HOST's own device has the new key.
# Between trials the benchmark waits (unmeasured) until every other host lists the host's
# current key again; it then gives the host's own device 5 s to have all N-1 peers again and
# prints a NOTE under the table when it has not (not fatal: the events are measured on the
# other hosts' devices; after an expire it is also counted, see below). Before the first trial
# the mesh is fully up: every host has N-1 peers, every ordered pair has pinged over the
# overlay, every device has N-1 handshakes.
#
#   tests/bench/revocation_bench.sh [TRIALS] [HOSTS]     # as root; default: 5 trials, 10 hosts
#   (take /tmp/mesh-lab.lock when others run labs too: flock /tmp/mesh-lab.lock tests/bench/...)
#
# Measuring: just before each event command, one watcher per other host is started (N-1 in
# parallel; for rotate one more on the rotating host itself), each a bounded loop inside its
# host's namespaces that reads the device as `wg show mesh0 peers` does, every 5 ms, and records
# the time (unix us, the clock of EPOCHREALTIME) at the end of the first check that saw its change
# (remove / expire: the key gone; rotate: the old key gone and a key present that was not there
# at the watcher's first check, which must be the new key; on the rotating host itself: another
# private key, whose public key must be the new one). The command is issued only once every
# watcher has done one check (it touches a ready file; bounded wait). The trial's time runs from
# just before the command (EPOCHREALTIME) to the latest watcher's record; a watcher that has not
# seen its change POLL_TIMEOUT=10 s after the command makes the trial a "fail" (counted as
# infinitely long in the nearest-rank percentiles; with fewer than 100 trials p99 is the max).
# The resolution is one watcher poll interval: its p50 (one watcher, while all N-1 watchers poll
# an unchanging mesh) is printed under the table, with the event command's own duration. After
# every expire trial the re-joined host's own device must list every other host's current key
# again (10 s); how many did is printed. Per trial details (command; per host the time of the
# first check that saw the change and, in brackets, of the check before it: a lower bound) go to
# $LAB_DIR/trials.log (LAB_KEEP=1 keeps it). Milliseconds.
# shellcheck disable=SC1091  # sourced libraries
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TRIALS=${1:-5}
HOSTS=${2:-10}
: "${POLL_TIMEOUT:=10}"
: "${MESH_BIN:=$HERE/../../build/bin}"
MESH_BIN=$(cd "$MESH_BIN" && pwd)
[[ $(id -u) -eq 0 ]] || { echo "bench: run as root" >&2; exit 1; }
((HOSTS >= 3)) || { echo "bench: need at least 3 hosts" >&2; exit 1; }
source "$HERE/../lab/lab.sh"
source "$HERE/../lab/mesh.sh"
lab_init

now() { NOW=${EPOCHREALTIME/./}; } # unix microseconds into NOW, without a fork
log() { printf 'bench: %s\n' "$*" >&2; }

percentile() { # P < numbers (nearest rank: with fewer than 100 samples p99 is the max)
  sort -n | awk -v p="$1" '{ v[NR] = $1 } END {
    if (NR == 0) { print "-"; exit }
    r = NR * p / 100; i = int(r); if (i < r) i++; if (i < 1) i = 1
    printf "%.1f", v[i] }'
}

fmt_ms() { # a percentile, "> TIMEOUT" for a failed trial
  awk -v lim="$POLL_TIMEOUT" '{ if ($1 + 0 >= 1e11) printf "> %d000\n", lim; else print }'
}

pubkey() { lab_exec "$1" wg show "$MESH_INTERFACE" public-key 2>/dev/null; }

# The peers of NAME's device, one key a line, into PEERS_OUT; 1 if wg show failed.
read_peers() { PEERS_OUT=$(lab_exec "$1" wg show "$MESH_INTERFACE" peers 2>/dev/null); }

has_line() { [[ $'\n'$1$'\n' == *$'\n'"$2"$'\n'* ]]; }

cond_has() { read_peers "$1" && has_line "$PEERS_OUT" "$2"; } # HOST KEY

# poll_all TIMEOUT_S "HOST..." COND [ARGS...] (the unmeasured waits): polls the hosts (one
# round = each host not yet done in turn, then 10 ms) until `COND HOST ARGS...` held once on
# each. 0 when it did; else 1, with POLL_MISSING (the hosts never done).
poll_all() {
  local timeout_us=$(($1 * 1000000)) h deadline pending
  local -a hosts
  read -r -a hosts <<<"$2"
  shift 2
  local -A done_at=()
  now
  deadline=$((NOW + timeout_us))
  POLL_MISSING=""
  while :; do
    pending=0
    for h in "${hosts[@]}"; do
      [[ -n ${done_at[$h]:-} ]] && continue
      if "$1" "$h" "${@:2}"; then done_at[$h]=1; else pending=$((pending + 1)); fi
    done
    ((pending == 0)) && return 0
    now
    if ((NOW >= deadline)); then
      for h in "${hosts[@]}"; do [[ -n ${done_at[$h]:-} ]] || POLL_MISSING+=" $h"; done
      return 1
    fi
    sleep 0.01
  done
}

# ---------------------------------------------------------------- watchers

# The watcher, a python3 process inside a host's namespaces: DIR MODE TIMEOUT_US [KEY]. It reads
# the device as `wg show` does (a UAPI `get=1` on /run/wireguard/mesh0.sock), without a fork per
# check: 9 watchers that each forked `wg show` every 5 ms kept both of the lab's 2 CPUs busy (a
# check took 16 ms, and the event commands ran 2-3 times slower). A check starts every 5 ms (at
# once if the last one took longer) and looks for the change:
#   gone     KEY (base64, as `wg show` prints it) is not among the device's peers
#   rotated  KEY is not among the peers, and a key is that was not at the first check (SEEN)
#   own      the device's private key is not the one of the first check (SEEN: its public key,
#            by `wg pubkey`, once seen: not part of the timed check)
#   never    never (it polls until DIR/stop appears: the poll interval)
# The first check must not see the change (result "early" otherwise); after it, DIR/ready. It
# ends with DIR/result: "done END PREV SEEN" (unix us at the end of the first check that saw the
# change, and at the end of the check before), or "early", "timeout" (TIMEOUT_US after its
# start), "stopped" (DIR/stop); and DIR/polls: "START END" of every check, unix us, one a line.
WATCHER='
import base64, os, socket, subprocess, sys, time
d, mode, timeout_us = sys.argv[1], sys.argv[2], int(sys.argv[3])
key = sys.argv[4] if len(sys.argv) > 4 else ""
if mode not in ("gone", "rotated", "own", "never"): sys.exit("watcher: bad mode " + mode)
with open(d + "/pid", "w") as f: f.write("%d\n" % os.getpid())
def now(): return time.time_ns() // 1000
key_hex = base64.b64decode(key).hex() if mode in ("gone", "rotated") else ""
polls = []
def finish(result):
    with open(d + "/polls", "w") as f: f.writelines("%d %d\n" % p for p in polls)
    with open(d + "/result", "w") as f: f.write(result + "\n")
    sys.exit(0)
def get():  # (private key, [peer public keys]), hex, or None if the device cannot be read
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        s.connect("/run/wireguard/mesh0.sock")
        s.sendall(b"get=1\n\n")
        buf = b""
        while not buf.endswith(b"\n\n"):
            c = s.recv(65536)
            if not c: break
            buf += c
        s.close()
    except OSError:
        return None
    priv, peers, ok = "", [], False
    for line in buf.decode().split("\n"):
        if line.startswith("private_key="): priv = line[12:]
        elif line.startswith("public_key="): peers.append(line[11:])
        elif line == "errno=0": ok = True
    return (priv, peers) if ok else None
first, init, prev = True, None, 0
deadline = now() + timeout_us
while True:
    start = now()
    g = get()
    seen = None
    if g is not None:
        priv, peers = g
        if first: init = priv if mode == "own" else set(peers)
        if mode == "own":
            if priv and priv != init: seen = priv
        elif mode != "never" and key_hex not in peers:
            if mode == "gone": seen = ""
            else:
                new = [k for k in peers if k not in init]
                if new: seen = base64.b64encode(bytes.fromhex(new[0])).decode()
    end = now()
    polls.append((start, end))
    if seen is not None:
        if first: finish("early")
        if mode == "own":
            r = subprocess.run(["wg", "pubkey"], capture_output=True, text=True,
                               input=base64.b64encode(bytes.fromhex(seen)).decode() + "\n")
            seen = r.stdout.strip() or "?"
        finish("done %d %d %s" % (end, prev, seen))
    if g is not None and first:
        first = False
        open(d + "/ready", "w").close()
    prev = end
    if os.path.exists(d + "/stop"): finish("stopped")
    if end >= deadline: finish("timeout")
    wait = start + 5000 - now()
    if wait > 0: time.sleep(wait / 1e6)
'
# A watcher ends by itself this long after its start (the ready wait takes 5 s at most).
WATCH_TIMEOUT_US=$(((POLL_TIMEOUT + 7) * 1000000))
WATCH_N=0
WATCH_BASE=""
WATCH_PIDS=() # the background shells (children of this one) running lab_exec, one a watcher
WATCH_DIRS=()
WATCH_HOSTS=()

watch_begin() { # LABEL: a new set of watchers, in $LAB_DIR/watch/N-LABEL
  WATCH_N=$((WATCH_N + 1))
  WATCH_BASE=$LAB_DIR/watch/$WATCH_N-$1
  mkdir -p "$WATCH_BASE"
  WATCH_PIDS=()
  WATCH_DIRS=()
  WATCH_HOSTS=()
}

watch_start() { # NAME MODE [KEY]: a watcher on NAME, in the background
  local d=$WATCH_BASE/$1
  mkdir -p "$d"
  lab_exec "$1" python3 -c "$WATCHER" "$d" "$2" "$WATCH_TIMEOUT_US" "${3:-}" \
    </dev/null >"$d/stderr" 2>&1 &
  WATCH_PIDS+=("$!")
  WATCH_DIRS+=("$d")
  WATCH_HOSTS+=("$1")
}

# Until every watcher has done its first check, 5 s at most. 1 (logged) if one has not.
watch_ready() {
  local d n deadline
  now
  deadline=$((NOW + 5000000))
  while :; do
    n=0
    for d in "${WATCH_DIRS[@]}"; do [[ -e $d/ready || -e $d/result ]] && n=$((n + 1)); done
    ((n == ${#WATCH_DIRS[@]})) && break
    now
    ((NOW < deadline)) || break
    sleep 0.005
  done
  for d in "${WATCH_DIRS[@]}"; do
    if [[ ! -e $d/ready ]]; then
      log "watcher $d is not polling: $(cat "$d/result" "$d/stderr" 2>/dev/null | tr '\n' ' ')"
      return 1
    fi
  done
}

running() { # PID: a live process (not a zombie)
  local line rest
  { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
  rest=${line##*) }
  [[ ${rest%% *} != Z ]]
}

# watch_end WAIT_S: until every watcher has a result (WAIT_S at most), then DIR/stop for the
# rest; reaps them all. One that has not ended 2 s after that is killed: the watcher process
# (its DIR/pid, only while it is still the child of the shell that started it) and that shell.
watch_end() {
  local d i pid inner ppid line rest all deadline
  now
  deadline=$((NOW + $1 * 1000000))
  while :; do
    all=1
    for d in "${WATCH_DIRS[@]}"; do [[ -e $d/result ]] || { all=0; break; }; done
    ((all)) && break
    now
    ((NOW < deadline)) || break
    sleep 0.01
  done
  for d in "${WATCH_DIRS[@]}"; do : >"$d/stop"; done
  now
  deadline=$((NOW + 2000000))
  for i in "${!WATCH_PIDS[@]}"; do
    pid=${WATCH_PIDS[$i]}
    while running "$pid"; do
      now
      ((NOW < deadline)) || break
      sleep 0.01
    done
    if running "$pid"; then
      log "watcher ${WATCH_DIRS[$i]} did not stop; killing it"
      inner=$(cat "${WATCH_DIRS[$i]}/pid" 2>/dev/null || true)
      if [[ $inner =~ ^[0-9]+$ ]] && { read -r line <"/proc/$inner/stat"; } 2>/dev/null; then
        rest=${line##*) }
        read -r _ ppid _ <<<"$rest"
        [[ $ppid == "$pid" ]] && kill "$inner" 2>/dev/null
      fi
      kill "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  WATCH_PIDS=()
}

ms1() { # US: into MS, as milliseconds with one decimal
  local u=$1 sign=""
  ((u < 0)) && { sign=-; u=$((-u)); }
  printf -v MS '%s%d.%d' "$sign" $((u / 1000)) $((u % 1000 / 100))
}

# watch_result EVENT NAME T0 [NEW]: RESULT from this trial's watchers (us from T0 to the latest
# record, or "fail"); NEW: the key the watchers that record one must have seen. One line in
# $LAB_DIR/trials.log: the command's duration, then per host the ms from T0 to the end of the
# first check that saw the change and, in brackets, to the end of the check before it.
watch_result() {
  local t0=$3 new=${4:-} i h r max=0 out bad=""
  local -a f
  ms1 "$CMD_US"
  out="$1 $2: cmd=$MS"
  for i in "${!WATCH_DIRS[@]}"; do
    h=${WATCH_HOSTS[$i]}
    r=$(cat "${WATCH_DIRS[$i]}/result" 2>/dev/null || echo none)
    read -r -a f <<<"$r"
    if [[ ${f[0]:-} == "done" ]]; then
      [[ -z $new || ${f[3]:-} == "$new" ]] || bad+=" $h(saw ${f[3]:-?}, not $new)"
      ((f[1] > max)) && max=${f[1]}
      ms1 $((f[1] - t0))
      out+=" $h=$MS"
      ms1 $((f[2] - t0))
      out+="[$MS]"
    else
      bad+=" $h(${f[0]:-none})"
      out+=" $h=${f[0]:-none}"
    fi
  done
  if [[ -n $bad ]]; then
    RESULT=fail
    log "$1 $2: not seen:$bad"
  elif ((max - t0 > POLL_TIMEOUT * 1000000)); then
    RESULT=fail
    log "$1 $2: seen after more than ${POLL_TIMEOUT}s"
  else
    RESULT=$((max - t0))
  fi
  printf '%s result=%s\n' "$out" "$RESULT" >>"$LAB_DIR/trials.log"
  # Every watcher's poll intervals (us), for the line under the table.
  for i in "${!WATCH_DIRS[@]}"; do
    [[ -s ${WATCH_DIRS[$i]}/polls ]] &&
      awk 'NR > 1 { print $1 - p } { p = $1 }' "${WATCH_DIRS[$i]}/polls" >>"$LAB_DIR/intervals"
  done
  return 0
}

declare -A OTHERS=() # NAME -> every mesh host but NAME, space-separated

# Unmeasured: until every other host lists NAME's current key (read again after that: the
# device may still be changing right after a join). NAME's own device should then have all N-1
# peers as well; if it does not within 5 s, that is noted (OWN_SHORT) but the trials go on: the
# events are measured on the other hosts' devices.
wait_back() { # NAME
  local name=$1 key="" i n
  for ((i = 0; i < 3; i++)); do
    key=$(pubkey "$name") || key=""
    if [[ -n $key ]] && poll_all 20 "${OTHERS[$name]}" cond_has "$key" &&
      [[ $(pubkey "$name" || true) == "$key" ]]; then
      if ! mesh_wait_peers "$name" $((HOSTS - 1)) 5 2>/dev/null; then
        n=$(mesh_peer_count "$name")
        OWN_SHORT+=("$name after $CUR_EVENT: $n of $((HOSTS - 1)) peers")
        log "$name is back on every peer, but its own device has $n of $((HOSTS - 1)) peers after 5 s; see $LAB_DIR/$name/agent.log"
      fi
      return 0
    fi
  done
  log "$name is not back (key '${key}', missing on:${POLL_MISSING:-?}); see $LAB_DIR/$name/agent.log"
  return 1
}

# own_has_all NAME TIMEOUT_S: NAME's device lists exactly the other hosts' current keys (within
# TIMEOUT_S). 1 if not, with OWN_DIFF (how many, which are missing, which are extra).
own_has_all() {
  local name=$1 o k want="" got="" deadline
  for o in ${OTHERS[$name]}; do
    k=$(pubkey "$o") || k=""
    want+="$k"$'\n'
  done
  want=$(sort <<<"$want" | sed '/^$/d')
  now
  deadline=$((NOW + $2 * 1000000))
  while :; do
    read_peers "$name" || PEERS_OUT=""
    got=$(sort <<<"$PEERS_OUT" | sed '/^$/d')
    [[ $got == "$want" ]] && return 0
    now
    ((NOW < deadline)) || break
    sleep 0.05
  done
  OWN_DIFF="has $(grep -c . <<<"$got" || true) of $(grep -c . <<<"$want" || true) peers after $2 s;"
  OWN_DIFF+=" missing: $(comm -13 <(printf '%s\n' "$got") <(printf '%s\n' "$want") | tr '\n' ' ')"
  OWN_DIFF+="extra: $(comm -23 <(printf '%s\n' "$got") <(printf '%s\n' "$want") | tr '\n' ' ')"
  return 1
}

# The trials run in this shell, not in $(...): the lab records the agents they start, and a
# subshell's records would be lost. They leave their result (microseconds or "fail") in RESULT.
# The watchers (every other host; for rotate the host itself too) are polling before the
# event command is issued.
watch_others() { # NAME EVENT MODE KEY
  local o
  watch_begin "$2-$1"
  for o in ${OTHERS[$1]}; do watch_start "$o" "$3" "$4"; done
}

remove_trial() { # NAME
  local name=$1 key t0 tok
  key=$(pubkey "$name")
  watch_others "$name" remove gone "$key"
  watch_ready || { watch_end 0; return 1; }
  now
  t0=$NOW
  mesh_admin nodes remove "$name" >"$LAB_DIR/$name/event.out" 2>&1 ||
    log "nodes remove $name failed: $(cat "$LAB_DIR/$name/event.out")"
  now
  CMD_US=$((NOW - t0))
  watch_end $((POLL_TIMEOUT + 1))
  watch_result remove "$name" "$t0"
  # Back as a new machine.
  mesh_agent_stop "$name"
  rm -rf "${LAB_DIR:?}/$name/state"
  _MESH_IP["$name"]=""
  mesh_agent_start "$name"
  tok=$(mesh_token --reusable --ttl 1h)
  mesh_join "$name" "$tok" >"$LAB_DIR/$name/join.out" 2>&1 ||
    { log "re-join of $name failed: $(cat "$LAB_DIR/$name/join.out")"; return 1; }
  wait_back "$name"
}

expire_trial() { # NAME
  local name=$1 key t0
  key=$(pubkey "$name")
  watch_others "$name" expire gone "$key"
  watch_ready || { watch_end 0; return 1; }
  now
  t0=$NOW
  mesh_admin nodes expire "$name" >"$LAB_DIR/$name/event.out" 2>&1 ||
    log "nodes expire $name failed: $(cat "$LAB_DIR/$name/event.out")"
  now
  CMD_US=$((NOW - t0))
  watch_end $((POLL_TIMEOUT + 1))
  watch_result expire "$name" "$t0"
  mesh_join "$name" "$TOKEN" >"$LAB_DIR/$name/join.out" 2>&1 ||
    { log "re-join of $name after expire failed: $(cat "$LAB_DIR/$name/join.out")"; return 1; }
  wait_back "$name" || return 1
  # The re-joined host's own device must list every other host again (an agent that kept the
  # expired map's version got none of its unchanged peers back).
  if own_has_all "$name" 10; then
    REJOIN_OK=$((REJOIN_OK + 1))
  else
    REJOIN_BAD+=("$name: $OWN_DIFF")
    log "expire $name: after the re-join its own device $OWN_DIFF see $LAB_DIR/$name/agent.log"
  fi
}

rotate_trial() { # NAME
  local name=$1 old new t0 out
  old=$(pubkey "$name")
  watch_others "$name" rotate rotated "$old"
  watch_start "$name" own
  watch_ready || { watch_end 0; return 1; }
  now
  t0=$NOW
  if ! out=$(meshctl_in "$name" rotate-key 2>&1); then
    log "rotate-key on $name failed: $out"
    watch_end 0
    RESULT=fail
    return 0
  fi
  now
  CMD_US=$((NOW - t0))
  # "new WireGuard public key <base64> sent; ..."
  new=""
  [[ $out =~ new\ WireGuard\ public\ key\ ([A-Za-z0-9+/=]+) ]] && new=${BASH_REMATCH[1]}
  if [[ -z $new ]]; then
    log "rotate-key on $name: no key in its output: $out"
    watch_end 0
    RESULT=fail
    return 0
  fi
  watch_end $((POLL_TIMEOUT + 1))
  watch_result rotate "$name" "$t0" "$new"
  [[ $RESULT != fail ]] ||
    log "rotate $name: old $old new $new; own key now '$(pubkey "$name" || true)'"
  wait_back "$name"
}

# ---------------------------------------------------------------- the mesh

mesh_coordinator_start
TOKEN=$(mesh_token --reusable --ttl 2h)
ALL=()
for ((i = 1; i <= HOSTS; i++)); do
  mesh_host "h$i" "$i"
  mesh_join "h$i" "$TOKEN" >"$LAB_DIR/h$i/join.out" ||
    { log "join of h$i failed: $(cat "$LAB_DIR/h$i/join.out")"; exit 1; }
  ALL+=("h$i")
done
for h in "${ALL[@]}"; do mesh_wait_peers "$h" $((HOSTS - 1)) 20; done
for h in "${ALL[@]}"; do
  OTHERS[$h]=""
  for o in "${ALL[@]}"; do [[ $o == "$h" ]] || OTHERS[$h]+="$o "; done
  OTHERS[$h]=${OTHERS[$h]% }
done
ADDRS=()
for h in "${ALL[@]}"; do ADDRS+=("$(mesh_ip "$h")"); done
# One pair after the other (no -p: crossing first handshakes stall ~5 s); a second pass if a
# first contact was slow.
for attempt in 1 2 3; do
  if lab_ping_matrix -t "overlay pings" -W 2 "${ALL[@]}" -- "${ADDRS[@]}" >"$LAB_DIR/matrix.out" 2>&1; then
    break
  fi
  ((attempt < 3)) || { cat "$LAB_DIR/matrix.out" >&2; log "the mesh does not come up"; exit 1; }
done
for h in "${ALL[@]}"; do mesh_wait_handshakes "$h" $((HOSTS - 1)) 10; done
log "mesh of $HOSTS hosts up (all pairs ping, $((HOSTS - 1)) handshakes each)"

# The watchers' poll interval, nothing changing: h1's other hosts each polled by a watcher, all
# at once, for 2 s; the intervals of one of them (h2's).
watch_begin calibrate
for h in ${OTHERS[h1]}; do watch_start "$h" never; done
watch_ready || { watch_end 0; log "the watchers do not start"; exit 1; }
sleep 2
watch_end 0
interval_p50=$(awk 'NR > 1 { print ($1 - p) / 1000 } { p = $1 }' "$WATCH_BASE/h2/polls" | percentile 50)
interval_n=$(($(grep -c . "$WATCH_BASE/h2/polls") - 1))
check_p50=$(awk '{ print ($2 - $1) / 1000 }' "$WATCH_BASE/h2/polls" | percentile 50)
: >"$LAB_DIR/intervals"

# ---------------------------------------------------------------- trials

ROWS=()
CMDS=()
OWN_SHORT=()
REJOIN_OK=0
REJOIN_BAD=()
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
next=0
for event in remove expire rotate; do
  CUR_EVENT=$event
  samples=()
  cmds=()
  fails=0
  for ((t = 0; t < TRIALS; t++)); do
    host="h$((2 + next % (HOSTS - 1)))"
    next=$((next + 1))
    CMD_US=""
    "${event}_trial" "$host" || { log "$event $host: could not restore the host; stopping"; exit 1; }
    [[ -z $CMD_US ]] || cmds+=("$CMD_US")
    if [[ $RESULT == fail ]]; then
      fails=$((fails + 1))
      samples+=(-1)
      log "$event $host: fail"
    else
      samples+=("$RESULT")
      log "$event $host: $(awk -v u="$RESULT" 'BEGIN { printf "%.1f", u / 1000 }') ms (command $(awk -v u="$CMD_US" 'BEGIN { printf "%.1f", u / 1000 }') ms)"
    fi
  done
  # A failed trial counts as infinitely long (nearest rank over all trials).
  ms=$(printf '%s\n' "${samples[@]}" | awk '{ if ($1 < 0) print 1e12; else print $1 / 1000 }')
  ROWS+=("$(printf '| %-6s | %6d | %8s | %12s | %5d |' "$event" "$TRIALS" \
    "$(percentile 50 <<<"$ms" | fmt_ms)" "$(percentile 99 <<<"$ms" | fmt_ms)" "$fails")")
  CMDS+=("$event $(printf '%s\n' "${cmds[@]}" | awk 'NF { print $1 / 1000 }' | percentile 50) ms")
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "event -> every peer's WireGuard device ($HOSTS hosts, $TRIALS trials per event; wireguard-go, LAN lab; ms)"
echo "| event  | trials |   p50 ms | p99 (max) ms | fails |"
echo "|:-------|-------:|---------:|-------------:|------:|"
printf '%s\n' "${ROWS[@]}"
echo
intervals_p50=$(awk '{ print $1 / 1000 }' "$LAB_DIR/intervals" | percentile 50)
intervals_p99=$(awk '{ print $1 / 1000 }' "$LAB_DIR/intervals" | percentile 99)
echo "watcher poll interval (a UAPI get on $MESH_INTERFACE, as \`wg show\` reads it, started every 5 ms; $((HOSTS - 1)) watchers at once, nothing changing; one watcher, $interval_n intervals): p50 $interval_p50 ms -- the resolution (one check: p50 $check_p50 ms; during the trials, all watchers: p50 $intervals_p50 ms, p99 $intervals_p99 ms)"
cmds_line=$(printf '%s, ' "${CMDS[@]}")
echo "the event command alone (p50, included above): ${cmds_line%, }"
echo "expire re-join: host regained all peers in $REJOIN_OK/$TRIALS trials"
for n in "${REJOIN_BAD[@]}"; do echo "  not regained: $n"; done
for n in "${OWN_SHORT[@]}"; do echo "NOTE: once back on every peer, $n (not measured; see the run's log)"; done
echo "load average before / after the trials: $LOAD_BEFORE / $LOAD_AFTER ($(nproc) CPUs)"
