#!/usr/bin/env bash
# Self-test of tests/lab/lab.sh. Needs root. Sends traffic only inside namespaces it creates.
# shellcheck disable=SC2317,SC1091
#
#   sudo tests/integration/lab_selftest.sh      # last line: "N passed, M failed"; exit 0 iff M == 0
#
# The outer run starts this same script as an "inner" lab several times and checks after each
# that nothing is left behind (namespaces with the run's prefix, recorded PIDs, processes in the
# run's namespaces, LAB_DIR):
#   1. normal run: 3 hosts on a bridge, LAN ping matrix, wireguard-go full mesh with wg,
#      overlay matrix, plus checks of the library's own behaviour;
#   2. LAB_SELFTEST_FAIL=after-hosts: the inner lab fails (set -e) after creating hosts and
#      spawning processes;
#   3. / 4. LAB_SELFTEST_FAIL=hang: the inner lab brings the mesh up and is then stopped with
#      SIGTERM, and with SIGINT.
set -euo pipefail
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIPPED: needs root (network namespaces, TUN devices)" >&2
  exit 77
fi

SELF=$(readlink -f "${BASH_SOURCE[0]}")
HERE=$(dirname "$SELF")
LIB="$HERE/../lab/lab.sh"

# ============================================================== inner: one lab run
inner() {
  # shellcheck source=../lab/lab.sh
  source "$LIB"
  local results=${LAB_SELFTEST_RESULTS:?} mode=${LAB_SELFTEST_FAIL:-}
  : >"$results"
  check() { # check DESC CMD...
    local desc=$1
    shift
    if "$@"; then
      echo "ok - $desc"
      echo "pass $desc" >>"$results"
    else
      echo "not ok - $desc"
      echo "fail $desc" >>"$results"
    fi
  }
  lab_on_exit_hook() {
    local rc=$1 f
    ((rc == 0)) && return 0
    for f in "$LAB_DIR"/*/*.log; do
      [[ -e $f ]] || continue
      echo "--- $f (tail)"
      tail -n 20 "$f"
    done
  }

  lab_init
  check "lab_init: prefix ml<pid>-" [ "$LAB_PREFIX" = "ml$$-" -o "${LAB_PREFIX#ml"$$"x}" != "$LAB_PREFIX" ]
  check "lab_init: LAB_DIR exists" test -d "$LAB_DIR"
  check "lab_init: switch namespace exists" test -e "/run/netns/$LAB_SWITCH"
  bnf_off() {
    local v
    v=$(ip netns exec "$LAB_SWITCH" cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null) || return 0
    [ "$v" = 0 ]
  }
  check "switch: bridge-nf-call-iptables=0" bnf_off

  local i h
  local -a hosts=(h1 h2 h3)
  for i in 1 2 3; do lab_host "h$i" "10.231.0.$i/24"; done
  count_host_ns() {
    local -a found=()
    local f
    for f in /run/netns/"$LAB_PREFIX"*; do [[ -e $f ]] && found+=("$f"); done
    # the switch + 3 hosts
    [ "${#found[@]}" = 4 ] && [ -e "/run/netns/${LAB_PREFIX}h1" ] && [ -e "/run/netns/${LAB_PREFIX}h3" ]
  }
  check "lab_host: 3 host namespaces with the prefix" count_host_ns
  has_addr() { lab_exec "$1" ip -o -4 addr show dev eth0 | grep -q " $2/24 "; }
  check "lab_host: eth0 addresses" eval 'has_addr h1 10.231.0.1 && has_addr h2 10.231.0.2 && has_addr h3 10.231.0.3'
  ports_in_ns() { # every switch port's peer is in a named namespace, not the initial one
    local n
    n=$(ip -n "$LAB_SWITCH" -o link show master "$LAB_BRIDGE" | grep -c 'link-netns ')
    [ "$n" = 3 ]
  }
  check "lab_host: veth peers live in host namespaces" ports_in_ns
  check "lab_addr" [ "$(lab_addr h2)" = 10.231.0.2 ]
  check "lab_ns" [ "$(lab_ns h3)" = "${LAB_PREFIX}h3" ]

  # private /run/wireguard and /run/mesh per host
  lab_exec h1 sh -c 'echo h1 >/run/wireguard/probe && echo h1 >/run/mesh/probe'
  check "mount ns: h1 sees its own /run/wireguard file" lab_exec h1 test -e /run/wireguard/probe
  check "mount ns: h2 does not see h1's /run/wireguard" eval '! lab_exec h2 test -e /run/wireguard/probe'
  check "mount ns: h3 does not see h1's /run/mesh" eval '! lab_exec h3 test -e /run/mesh/probe'
  check "mount ns: initial namespace does not see it" eval '! test -e /run/wireguard/probe'

  # lab_exec: exit status, cwd, netns
  set +e
  lab_exec h2 sh -c 'exit 7'
  local rc=$?
  set -e
  check "lab_exec: exit status passes through" [ "$rc" = 7 ]
  check "lab_exec: keeps the caller's cwd" [ "$(cd "$LAB_DIR" && lab_exec h1 pwd)" = "$LAB_DIR" ]
  check "lab_exec: runs in the host netns" \
    [ "$(lab_exec h3 readlink /proc/self/ns/net)" = "$(readlink "/proc/$(lab_holder_pid h3)/ns/net")" ]

  # lab_wait_for
  local t0 t1 msg
  t0=${EPOCHREALTIME//[!0-9]/}
  set +e
  msg=$(lab_wait_for "nothing" 0.3 false 2>&1)
  rc=$?
  set -e
  t1=${EPOCHREALTIME//[!0-9]/}
  check "lab_wait_for: times out with status 1" [ "$rc" = 1 ]
  check "lab_wait_for: timeout message" [ "$msg" = "lab: timed out after 0.3s waiting for nothing" ]
  check "lab_wait_for: waited ~0.3 s" [ $(((t1 - t0) / 1000)) -ge 290 -a $(((t1 - t0) / 1000)) -lt 2000 ]
  check "lab_wait_for: succeeds at once" lab_wait_for "true" 1 true

  # lab_spawn from $(...) + lab_stop
  local spid
  spid=$(lab_spawn h2 "$LAB_DIR/h2/sleep.log" sleep 300)
  check "lab_spawn: prints a live PID" test -d "/proc/$spid"
  check "lab_spawn: process is in the host netns" \
    [ "$(readlink "/proc/$spid/ns/net")" = "$(readlink "/proc/$(lab_holder_pid h2)/ns/net")" ]
  lab_stop "$spid" 2
  check "lab_stop: process is gone" eval "! test -d /proc/$spid || grep -q '^State:.*Z' /proc/$spid/status"
  check "lab_stop: refuses a PID the lab did not start" eval '! lab_stop $$ 2>/dev/null'

  if [[ $mode == after-hosts ]]; then
    for h in "${hosts[@]}"; do lab_spawn "$h" "$LAB_DIR/$h/sleep.log" sleep 300 >/dev/null; done
    lab_exec h1 sleep 300 & # an unrecorded process inside a lab namespace: cleanup must find it
    disown $!
    sleep 0.2
    echo "failing on purpose (LAB_SELFTEST_FAIL=after-hosts)"
    false # set -e: the EXIT trap must tear everything down
  fi

  # LAN reachability
  check "LAN: ping h1 -> h2" lab_ping h1 10.231.0.2
  check "LAN: ping matrix" lab_ping_matrix -p -t "LAN reachability (parallel)" h1 h2 h3 -- 10.231.0.1 10.231.0.2 10.231.0.3

  # wireguard-go full mesh
  for h in "${hosts[@]}"; do
    (umask 077 && wg genkey >"$LAB_DIR/$h/private.key")
    wg pubkey <"$LAB_DIR/$h/private.key" >"$LAB_DIR/$h/public.key"
    lab_spawn "$h" "$LAB_DIR/$h/wireguard-go.log" wireguard-go -f wg0 >/dev/null
    echo "$LAB_LAST_PID" >"$LAB_DIR/$h/wg.pid"
  done
  local ok=1
  for h in "${hosts[@]}"; do
    lab_wait_for "/run/wireguard/wg0.sock in $h" 10 lab_exec "$h" test -S /run/wireguard/wg0.sock || ok=0
  done
  check "wireguard-go: UAPI socket in every host" [ "$ok" = 1 ]
  check "wireguard-go: sockets are per host (none in the initial fs)" eval '! test -e /run/wireguard/wg0.sock'
  local j
  for i in 1 2 3; do
    lab_exec "h$i" wg set wg0 private-key "$LAB_DIR/h$i/private.key" listen-port 51820
    lab_exec "h$i" ip addr add "100.64.0.$i/24" dev wg0
    lab_exec "h$i" ip link set wg0 up
  done
  for i in 1 2 3; do
    for j in 1 2 3; do
      ((i == j)) && continue
      lab_exec "h$i" wg set wg0 peer "$(cat "$LAB_DIR/h$j/public.key")" \
        allowed-ips "100.64.0.$j/32" endpoint "10.231.0.$j:51820"
    done
  done
  check "wg: each host has 2 peers" eval \
    '[ "$(lab_exec h1 wg show wg0 peers | wc -l)$(lab_exec h2 wg show wg0 peers | wc -l)$(lab_exec h3 wg show wg0 peers | wc -l)" = 222 ]'
  overlay_addr() { echo "100.64.0.${1#h}"; }
  check "overlay: reachability matrix (wireguard-go mesh)" lab_reach_matrix -t "overlay reachability" overlay_addr "${hosts[@]}"
  handshakes_done() {
    local h n
    for h in "${hosts[@]}"; do
      n=$(lab_exec "$h" wg show wg0 latest-handshakes | awk '$2 > 0' | wc -l)
      [ "$n" = 2 ] || return 1
    done
  }
  check "wg: every peer has a handshake" handshakes_done

  if [[ $mode == hang ]]; then
    lab_exec h1 sleep 300 &
    disown $!
    echo "hang-ready" >>"${LAB_TRACE_FILE:?}"
    echo "waiting for a signal (LAB_SELFTEST_FAIL=hang)"
    local n
    for ((n = 0; n < 600; n++)); do sleep 0.05; done # bounded: 30 s
    echo "no signal came"
    exit 3
  fi

  # a dead peer shows up in the matrix
  lab_stop "$(cat "$LAB_DIR/h3/wg.pid")"
  check "lab_stop: wireguard-go on h3 stopped, its socket removed" \
    eval '! lab_exec h3 test -e /run/wireguard/wg0.sock'
  local out
  set +e
  out=$(lab_reach_matrix -p -t "overlay with h3 down" -W 0.5 overlay_addr "${hosts[@]}")
  rc=$?
  set -e
  printf '%s\n' "$out"
  check "matrix: fails when a host is down" [ "$rc" = 1 ]
  check "matrix: marks h1 -> h3 as ✗" eval 'printf "%s\n" "$out" | grep -q "✗ h1 -> h3"'
  check "matrix: h1 -> h2 still ✓" eval 'printf "%s\n" "$out" | grep -q "^h1  *-  *✓"'

  grep -q '^fail' "$results" && exit 1
  exit 0
}

# ============================================================== outer: runs + leftover checks
outer() {
  if [[ $EUID -ne 0 ]]; then
    echo "lab_selftest: needs root" >&2
    echo "0 passed, 1 failed"
    exit 1
  fi
  local work passed=0 failed=0 child=""
  work=$(mktemp -d "${TMPDIR:-/tmp}/lab-selftest.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf -- '$work'" EXIT
  trap 'if [[ -n $child ]]; then kill -TERM "$child" 2>/dev/null; wait "$child"; fi; exit 130' INT TERM

  ok() { echo "ok - $1"; passed=$((passed + 1)); }
  nok() { echo "not ok - $1"; failed=$((failed + 1)); }
  expect() { # expect DESC CMD...
    local d=$1
    shift
    if "$@"; then ok "$d"; else nok "$d"; fi
  }
  clk_tck=$(getconf CLK_TCK)
  uptime_ticks() {
    local u
    read -r u _ </proc/uptime
    echo $((10#${u%.*} * clk_tck + 10#${u#*.} * clk_tck / 100))
  }
  # nothing_left TRACE END_TICKS: no netns with the prefix, no recorded PID, no process in the
  # run's namespaces (that started before the run ended), no LAB_DIR.
  nothing_left() {
    local trace=$1 end=$2 prefix dir bad=0 kind a b c
    prefix=$(awk '$1 == "prefix" { print $2 }' "$trace")
    dir=$(awk '$1 == "dir" { print $2 }' "$trace")
    if [[ -z $prefix ]]; then
      echo "  no prefix in trace"
      return 1
    fi
    if compgen -G "/run/netns/${prefix}*" >/dev/null; then
      echo "  left namespaces: $(cd /run/netns && echo "${prefix}"*)"
      bad=1
    fi
    while read -r kind a b c; do
      case $kind in
        pid)
          local st="" state=""
          if [[ -r /proc/$a/stat ]]; then
            read -r state st < <(sed 's/.*) //' "/proc/$a/stat" 2>/dev/null | awk '{ print $1, $20 }') || true
          fi
          # a zombie is dead: its new parent (PID 1 here) reaps it when it gets to it
          if [[ -n $st && $st == "$b" && $state != Z ]]; then
            echo "  pid $a ($c) still running"
            bad=1
          fi
          ;;
        netns)
          [[ $b =~ ^[0-9]+$ ]] || continue
          local ino path pid pst
          # one stat over all processes: "INODE /proc/PID/ns/net"
          while read -r ino path; do
            [[ $ino == "$b" ]] || continue
            pid=${path#/proc/}
            pid=${pid%%/*}
            pst=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $20 }') || continue
            # the inode number can be reused by a namespace created after the run ended
            if [[ -n $pst ]] && ((pst <= end)); then
              echo "  process $pid is still in namespace $a"
              bad=1
            fi
          done < <(stat -L -c '%i %n' /proc/[0-9]*/ns/net 2>/dev/null || true)
          ;;
      esac
    done <"$trace"
    if [[ -n $dir && -e $dir ]]; then
      echo "  LAB_DIR $dir still exists"
      bad=1
    fi
    ((bad == 0))
  }
  run_inner() { # run_inner NAME MODE [args for env]: sets rc, trace, end
    local name=$1 mode=$2
    trace="$work/$name.trace"
    results="$work/$name.results"
    : >"$trace"
    set +e
    LAB_SELFTEST_ROLE=inner LAB_SELFTEST_FAIL=$mode LAB_TRACE_FILE=$trace \
      LAB_SELFTEST_RESULTS=$results bash "$SELF" </dev/null
    rc=$?
    set -e
    end=$(uptime_ticks)
  }

  local t0 t1 rc trace results end
  t0=${EPOCHREALTIME//[!0-9]/}

  echo "# run 1: full lab"
  run_inner full ""
  local p f
  p=$(grep -c '^pass' "$results" || true)
  f=$(grep -c '^fail' "$results" || true)
  passed=$((passed + p))
  failed=$((failed + f))
  expect "run 1: inner lab exits 0" [ "$rc" = 0 ]
  expect "run 1: ran its checks" [ "$p" -ge 30 ]
  expect "run 1: nothing left after exit" nothing_left "$trace" "$end"

  echo "# run 2: failure after hosts are up"
  run_inner fail "after-hosts" >"$work/fail.out" 2>&1
  expect "run 2: inner lab fails" [ "$rc" -ne 0 ]
  expect "run 2: it did get as far as spawning processes in 3 hosts" \
    [ "$(grep -c '^pid .* spawn:h[123]:sleep$' "$trace")" -ge 4 ]
  expect "run 2: nothing left after the failure" nothing_left "$trace" "$end"
  if ((failed)); then cat "$work/fail.out"; fi

  local sig want n
  for sig in TERM INT; do
    echo "# run: SIG$sig while the mesh is up"
    trace="$work/sig$sig.trace"
    : >"$trace"
    # env --default-signal: background jobs of a non-interactive shell start with SIGINT ignored,
    # and bash cannot trap a signal that was ignored when it started.
    LAB_SELFTEST_ROLE=inner LAB_SELFTEST_FAIL=hang LAB_TRACE_FILE=$trace \
      LAB_SELFTEST_RESULTS="$work/sig$sig.results" \
      env --default-signal=INT bash "$SELF" </dev/null >"$work/sig$sig.out" 2>&1 &
    child=$!
    for ((n = 0; n < 400; n++)); do # bounded: 20 s
      grep -q '^hang-ready' "$trace" && break
      sleep 0.05
    done
    expect "SIG$sig: inner lab reached the hang point" grep -q '^hang-ready' "$trace"
    kill "-$sig" "$child" 2>/dev/null || true
    rc=0
    for ((n = 0; n < 400; n++)); do # bounded: 20 s
      kill -0 "$child" 2>/dev/null || break
      sleep 0.05
    done
    if kill -0 "$child" 2>/dev/null; then
      kill -KILL "$child" 2>/dev/null || true
    fi
    wait "$child" || rc=$?
    child=""
    end=$(uptime_ticks)
    case $sig in TERM) want=143 ;; INT) want=130 ;; esac
    expect "SIG$sig: inner lab exits $want" [ "$rc" = "$want" ]
    expect "SIG$sig: nothing left after the signal" nothing_left "$trace" "$end"
    if ((failed)); then cat "$work/sig$sig.out"; fi
  done

  t1=${EPOCHREALTIME//[!0-9]/}
  printf '# self-test took %d.%02d s\n' $(((t1 - t0) / 1000000)) $((((t1 - t0) / 10000) % 100))
  echo "$passed passed, $failed failed"
  ((failed == 0))
}

if [[ ${LAB_SELFTEST_ROLE:-} == inner ]]; then
  inner
else
  outer
fi
