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
# other hosts' devices). Before the first trial the mesh is fully up: every host has N-1 peers, every
# ordered pair has pinged over the overlay, every device has N-1 handshakes.
#
#   tests/bench/revocation_bench.sh [TRIALS] [HOSTS]     # as root; default: 5 trials, 10 hosts
#   (take /tmp/mesh-lab.lock when others run labs too: flock /tmp/mesh-lab.lock tests/bench/...)
#
# Measuring: one poll round runs `wg show mesh0 peers` (lab_exec) on each of the other hosts in
# turn, every 10 ms, for up to POLL_TIMEOUT=10 s (then the trial is a "fail", counted as infinitely
# long in the nearest-rank percentiles; with fewer than 100 trials p99 is the max). A host is done
# at the end of the first check that saw the change there; the trial's time runs from just before
# the event command (EPOCHREALTIME) to the latest of those. The resolution is about one poll round:
# its p50 with nothing changing is printed under the table, with the event command's own duration
# and how many trials were seen complete in the first round (their time is an upper bound). Per
# trial details (command, each host's first check that saw it) go to $LAB_DIR/trials.log
# (LAB_KEEP=1 keeps it). Milliseconds.
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

# Conditions on one host, for poll_all: COND HOST ARGS...
cond_gone() { read_peers "$1" && ! has_line "$PEERS_OUT" "$2"; } # HOST KEY
cond_has() { read_peers "$1" && has_line "$PEERS_OUT" "$2"; }    # HOST KEY
# HOST NEW OLD ROTATED: ROTATED's own device has NEW; any other host lists NEW and not OLD.
cond_rotated() {
  if [[ $1 == "$4" ]]; then
    [[ $(pubkey "$1" || true) == "$2" ]]
  else
    read_peers "$1" && has_line "$PEERS_OUT" "$2" && ! has_line "$PEERS_OUT" "$3"
  fi
}

# poll_all TIMEOUT_S "HOST..." COND [ARGS...]: polls the hosts (one round = each host not yet
# done in turn, then 10 ms) until `COND HOST ARGS...` held once on each. Sets POLL_DONE (unix us:
# the end of the check that saw the last host done) or POLL_DONE=fail, and POLL_MISSING (the
# hosts never done), POLL_START (unix us, the first check), POLL_AT ("HOST=US ..." per host
# done) and POLL_ROUNDS. A host done stays done (the conditions do not flip back by themselves).
poll_all() {
  local timeout_us=$(($1 * 1000000)) h t deadline pending
  local -a hosts
  read -r -a hosts <<<"$2"
  shift 2
  local -A done_at=()
  now
  deadline=$((NOW + timeout_us))
  POLL_DONE=0
  POLL_MISSING=""
  POLL_AT=""
  POLL_ROUNDS=0
  now
  POLL_START=$NOW
  while :; do
    pending=0
    POLL_ROUNDS=$((POLL_ROUNDS + 1))
    for h in "${hosts[@]}"; do
      [[ -n ${done_at[$h]:-} ]] && continue
      if "$1" "$h" "${@:2}"; then
        now
        t=$NOW
        done_at[$h]=$t
        ((t > POLL_DONE)) && POLL_DONE=$t
      else
        pending=$((pending + 1))
      fi
    done
    if ((pending == 0)); then
      for h in "${hosts[@]}"; do POLL_AT+="$h=${done_at[$h]} "; done
      return 0
    fi
    now
    if ((NOW >= deadline)); then
      POLL_DONE=fail
      for h in "${hosts[@]}"; do [[ -n ${done_at[$h]:-} ]] || POLL_MISSING+=" $h"; done
      return 1
    fi
    sleep 0.01
  done
}

# One line per trial in $LAB_DIR/trials.log: ms from the event to the command's return, to the
# first check, and to each host's first check that saw the change.
trial_log() { # EVENT NAME T0
  local a out="$1 $2: result=$RESULT cmd=$((CMD_US / 1000)) rounds=$POLL_ROUNDS first_check=$(((POLL_START - $3) / 1000))"
  TRIAL_ROUNDS=$POLL_ROUNDS
  for a in $POLL_AT; do out+=" ${a%%=*}=$(((${a#*=} - $3) / 1000))"; done
  printf '%s\n' "$out" >>"$LAB_DIR/trials.log"
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

# The trials run in this shell, not in $(...): the lab records the agents they start, and a
# subshell's records would be lost. They leave their result (microseconds or "fail") in RESULT.
remove_trial() { # NAME
  local name=$1 key t0 tok
  key=$(pubkey "$name")
  now
  t0=$NOW
  mesh_admin nodes remove "$name" >"$LAB_DIR/$name/event.out" 2>&1 ||
    log "nodes remove $name failed: $(cat "$LAB_DIR/$name/event.out")"
  now
  CMD_US=$((NOW - t0))
  poll_all "$POLL_TIMEOUT" "${OTHERS[$name]}" cond_gone "$key" || true
  if [[ $POLL_DONE == fail ]]; then
    RESULT=fail
    log "remove $name: key $key still on:$POLL_MISSING after ${POLL_TIMEOUT}s"
  else
    RESULT=$((POLL_DONE - t0))
  fi
  trial_log remove "$name" "$t0"
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
  now
  t0=$NOW
  mesh_admin nodes expire "$name" >"$LAB_DIR/$name/event.out" 2>&1 ||
    log "nodes expire $name failed: $(cat "$LAB_DIR/$name/event.out")"
  now
  CMD_US=$((NOW - t0))
  poll_all "$POLL_TIMEOUT" "${OTHERS[$name]}" cond_gone "$key" || true
  if [[ $POLL_DONE == fail ]]; then
    RESULT=fail
    log "expire $name: key $key still on:$POLL_MISSING after ${POLL_TIMEOUT}s"
  else
    RESULT=$((POLL_DONE - t0))
  fi
  trial_log expire "$name" "$t0"
  mesh_join "$name" "$TOKEN" >"$LAB_DIR/$name/join.out" 2>&1 ||
    { log "re-join of $name after expire failed: $(cat "$LAB_DIR/$name/join.out")"; return 1; }
  wait_back "$name"
}

rotate_trial() { # NAME
  local name=$1 old new t0 t1 out
  old=$(pubkey "$name")
  now
  t0=$NOW
  if ! out=$(meshctl_in "$name" rotate-key 2>&1); then
    log "rotate-key on $name failed: $out"
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
    RESULT=fail
    return 0
  fi
  poll_all "$POLL_TIMEOUT" "${OTHERS[$name]} $name" cond_rotated "$new" "$old" "$name" || true
  t1=$POLL_DONE
  if [[ $t1 == fail ]]; then
    RESULT=fail
    log "rotate $name: old $old new $new; not done on:$POLL_MISSING after ${POLL_TIMEOUT}s; own key now '$(pubkey "$name" || true)'"
  else
    RESULT=$((t1 - t0))
  fi
  trial_log rotate "$name" "$t0"
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

# The poll round, nothing changing: h1's other hosts, checked as a trial checks them (one
# round of poll_all with a condition that holds at once).
rounds=()
for ((r = 0; r < 20; r++)); do
  now
  t0=$NOW
  poll_all 10 "${OTHERS[h1]}" cond_gone "not-a-key"
  rounds+=($((POLL_DONE - t0)))
done
round_p50=$(printf '%s\n' "${rounds[@]}" | awk '{ print $1 / 1000 }' | percentile 50)

# ---------------------------------------------------------------- trials

ROWS=()
CMDS=()
OWN_SHORT=()
FIRSTS=()
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
next=0
for event in remove expire rotate; do
  CUR_EVENT=$event
  samples=()
  cmds=()
  fails=0
  first=0
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
      ((TRIAL_ROUNDS == 1)) && first=$((first + 1))
      log "$event $host: $(awk -v u="$RESULT" 'BEGIN { printf "%.1f", u / 1000 }') ms (command $(awk -v u="$CMD_US" 'BEGIN { printf "%.1f", u / 1000 }') ms)"
    fi
  done
  # A failed trial counts as infinitely long (nearest rank over all trials).
  ms=$(printf '%s\n' "${samples[@]}" | awk '{ if ($1 < 0) print 1e12; else print $1 / 1000 }')
  ROWS+=("$(printf '| %-6s | %6d | %8s | %12s | %5d |' "$event" "$TRIALS" \
    "$(percentile 50 <<<"$ms" | fmt_ms)" "$(percentile 99 <<<"$ms" | fmt_ms)" "$fails")")
  FIRSTS+=("$event $first/$TRIALS")
  CMDS+=("$event $(printf '%s\n' "${cmds[@]}" | awk 'NF { print $1 / 1000 }' | percentile 50) ms")
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "event -> every peer's WireGuard device ($HOSTS hosts, $TRIALS trials per event; wireguard-go, LAN lab; ms)"
echo "| event  | trials |   p50 ms | p99 (max) ms | fails |"
echo "|:-------|-------:|---------:|-------------:|------:|"
printf '%s\n' "${ROWS[@]}"
echo
echo "poll round (\`wg show $MESH_INTERFACE peers\` on $((HOSTS - 1)) hosts, nothing changing): p50 $round_p50 ms -- the resolution"
cmds_line=$(printf '%s, ' "${CMDS[@]}")
echo "the event command alone (p50, included above): ${cmds_line%, }"
firsts_line=$(printf '%s, ' "${FIRSTS[@]}")
echo "trials whose change every host already showed at its first check (the time is then the command plus at most one poll round, an upper bound): ${firsts_line%, }"
for n in "${OWN_SHORT[@]}"; do echo "NOTE: once back on every peer, $n (not measured; see the run's log)"; done
echo "load average before / after the trials: $LOAD_BEFORE / $LOAD_AFTER ($(nproc) CPUs)"
