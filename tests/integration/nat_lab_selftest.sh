#!/usr/bin/env bash
# Self-test of tests/lab/nat.sh with plain tools only (iproute2, nftables, conntrack, socat, ping;
# no mesh binaries). Needs root; exit 77 otherwise. Sends traffic only inside namespaces it creates.
# shellcheck disable=SC2317,SC1091,SC2016,SC2034,SC2001
# (SC2016, SC2034: checks are eval strings, expanded when they run)
#
#   sudo tests/integration/nat_lab_selftest.sh   # "ok - ..." lines, last line "N passed, M failed"
#
# The outer run starts this script again as the "inner" lab and afterwards checks that nothing is
# left (namespaces with the run's prefix, recorded PIDs, LAB_DIR) and that the initial namespace's
# links, routes, nftables ruleset and forwarding/bridge sysctls are as before.
#
# Inner lab: internet hosts coord (203.0.113.254) and inet2 (.253), both running a UDP
# "reflector" on :3478 that answers each datagram with the source ADDR:PORT it saw (a tiny STUN);
# sites a (1), b (2) and c (3, created with `random`); hosts a1 a2 (site a), b1 (b), c1 (c).
# UDP tools: a one-shot sender (socat UDP-SENDTO, source port 51820), a probe (sends from 51820 to
# a reflector and prints the reply: the host's public mapping) and a listener on 51820 that logs
# "SRC:PORT MESSAGE" per datagram (socat UDP-RECVFROM,fork). One socket per host on 51820 at a
# time: hole punching alternates sender and listener; the NATs' conntrack entries outlive sockets.
set -euo pipefail
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIPPED: needs root (network namespaces, nftables)" >&2
  exit 77
fi

SELF=$(readlink -f "${BASH_SOURCE[0]}")
HERE=$(dirname "$SELF")

# ============================================================== inner: the lab
inner() {
  source "$HERE/../lab/lab.sh"
  source "$HERE/../lab/nat.sh"
  local results=${NAT_SELFTEST_RESULTS:?}
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
      [[ -s $f ]] || continue
      echo "--- $f (tail)"
      tail -n 20 "$f"
    done
  }
  init_links() { ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | sort; }
  us() { local t=${EPOCHREALTIME//[!0-9]/}; echo $((10#$t)); }
  ms_since() { echo "$((($(us) - $1) / 1000)).$(((($(us) - $1) / 100) % 10))"; }

  local links_before
  links_before=$(init_links)
  lab_init
  local T0
  T0=$(us)

  # --- UDP helpers (scripts, so socat can run them; paths contain no ':' or ',')
  cat >"$LAB_DIR/udp-log.sh" <<'EOF'
#!/bin/sh
# socat UDP-RECVFROM,fork child: one datagram on stdin; append "SRC:PORT MESSAGE" to $1
printf '%s:%s %s\n' "$SOCAT_PEERADDR" "$SOCAT_PEERPORT" "$(cat)" >>"$1"
EOF
  cat >"$LAB_DIR/udp-reflect.sh" <<'EOF'
#!/bin/sh
# socat UDP-RECVFROM,fork child: answer the datagram with the source address:port it came from
IFS= read -r _line
printf '%s:%s\n' "$SOCAT_PEERADDR" "$SOCAT_PEERPORT"
EOF
  cat >"$LAB_DIR/udp-probe.sh" <<'EOF'
#!/bin/sh
# socat UDP child: send one datagram, write the first reply line to fd 3
echo probe
IFS= read -r reply && printf '%s\n' "$reply" >&3
EOF
  chmod +x "$LAB_DIR"/udp-*.sh
  bound() { [[ -n "$(lab_exec "$1" ss -Hnlu "sport = :$2")" ]]; }
  reflector() { # reflector HOST: on :3478
    lab_spawn "$1" "$LAB_DIR/$1/reflector.log" \
      socat UDP-RECVFROM:3478,fork SYSTEM:"exec $LAB_DIR/udp-reflect.sh" >/dev/null
    lab_wait_for "reflector on $1" 5 bound "$1" 3478
  }
  declare -gA LISTENER=()
  listen() { # listen HOST LOGNAME: log every datagram to :51820 into $LAB_DIR/HOST/LOGNAME
    : >"$LAB_DIR/$1/$2"
    lab_spawn "$1" "$LAB_DIR/$1/listener.log" socat -u UDP-RECVFROM:51820,fork \
      SYSTEM:"exec $LAB_DIR/udp-log.sh $LAB_DIR/$1/$2" >/dev/null
    LISTENER[$1]=$LAB_LAST_PID
    lab_wait_for "listener on $1" 5 bound "$1" 51820
  }
  unbound() { ! bound "$@"; }
  unlisten() { # stop HOST's listener; wait until :51820 is free for the next sender
    lab_stop "${LISTENER[$1]}" 2
    lab_wait_for ":51820 free on $1" 3 unbound "$1" 51820
  }
  send() { # send HOST DEST PORT MESSAGE [SPORT=51820]
    printf '%s\n' "$4" | lab_exec "$1" socat -u - "UDP-SENDTO:$2:$3,sourceport=${5:-51820}"
  }
  probe() { # probe HOST DEST [SPORT=51820]: prints the mapping DEST's reflector saw ("" if none)
    lab_exec "$1" socat -T 3 -t 0.05 "UDP:$2:3478,sourceport=${3:-51820}" \
      SYSTEM:"exec $LAB_DIR/udp-probe.sh" 3>&1 2>/dev/null || true
  }
  got() { grep -qxF -- "$3" "$LAB_DIR/$1/$2"; }     # got HOST LOGNAME "SRC:PORT MESSAGE"
  wait_got() { lab_wait_for "$1 to receive '$3'" 3 got "$@"; }
  nothing_in() { [[ ! -s "$LAB_DIR/$1/$2" ]]; }
  not_got() { ! got "$@"; }
  ct_all() { lab_exec "nat-$1" conntrack -L 2>/dev/null || true; }
  guard_drops() { # packets the wan_guard drop rule counted
    lab_exec "nat-$1" nft list chain ip natlab wan_guard | sed -n 's/.*counter packets \([0-9]*\).*drop.*/\1/p'
  }
  out_has() { # out_has ERE CMD...: CMD succeeds and prints a line matching ERE
    local pat=$1 out
    shift
    out=$("$@" 2>&1) || { echo "  '$*' failed: $out"; return 1; }
    grep -E -- "$pat" <<<"$out" >/dev/null && return 0
    echo "  no line matching '$pat' in the output of '$*':"
    sed 's/^/    /' <<<"$out"
    return 1
  }
  eq() { # eq WHAT GOT WANT
    [[ $2 == "$3" ]] && return 0
    echo "  $1: got '$2', want '$3'"
    return 1
  }

  # --- topology
  lab_host coord 203.0.113.254/24
  lab_host inet2 203.0.113.253/24
  nat_site a 1
  nat_site b 2
  nat_site c 3 random
  nat_host a1 a 2
  nat_host a2 a 3
  nat_host b1 b 2
  nat_host c1 c 2
  echo "# topology up in $(ms_since "$T0") ms"

  # --- the library's state and the namespaces' configuration
  check "nat_public_ip a" eq public "$(nat_public_ip a)" 203.0.113.1
  check "nat_site_index b" eq index "$(nat_site_index b)" 2
  check "nat_router / nat_sites" eq sites "$(nat_router a) $(nat_sites | tr '\n' ' ')" "nat-a a b c "
  check "nat_host_site / nat_host_index" eq site "$(nat_host_site b1) $(nat_host_index a2)" "b 3"
  check "lab_addr of a NAT host and of a router" eq addr "$(lab_addr a1) $(lab_addr nat-b)" "10.1.0.2 203.0.113.2"
  has_addr() { out_has " inet $3 " lab_exec "$1" ip -o -4 addr show dev "$2"; }
  check "router: eth0 203.0.113.1/24, lan0 10.1.0.1/24" eval \
    'has_addr nat-a eth0 203.0.113.1/24 && has_addr nat-a lan0 10.1.0.1/24'
  check "router: ip_forward=1" eq ip_forward "$(lab_exec nat-b cat /proc/sys/net/ipv4/ip_forward)" 1
  bnf_off() {
    local f=/proc/sys/net/bridge/bridge-nf-call-iptables
    [[ -e $f ]] || return 0 # no br_netfilter loaded: nothing to turn off
    eq bridge-nf-call-iptables "$(lab_exec nat-a cat "$f")" 0
  }
  check "router: bridge-nf-call-iptables=0" bnf_off
  check "router: nftables masquerade (plain on a, random on c)" eval \
    'out_has "masquerade\$" lab_exec nat-a nft list chain ip natlab postrouting &&
     out_has "masquerade random\$" lab_exec nat-c nft list chain ip natlab postrouting'
  check "router: lan0 has the fixed MAC 02:00:0a:02:00:01" out_has "link/ether 02:00:0a:02:00:01 " \
    lab_exec nat-b ip -o link show dev lan0
  check "host: eth0 10.1.0.3/24" has_addr a2 eth0 10.1.0.3/24
  check "host: default route via 10.2.0.1" out_has "via 10.2.0.1 dev eth0" lab_exec b1 ip route show default
  lan_ports() { lab_exec "nat-$1" ip -o link show master lan0 2>/dev/null | grep -vc ' anchor0' || true; }  # hosts' ports (not the anchor)
  check "site a's lan0 has 2 ports, b's 1" eq ports "$(lan_ports a) $(lan_ports b)" "2 1"
  check "no link appeared in the initial namespace" eq links "$(init_links | tr '\n' ' ')" "$(tr '\n' ' ' <<<"$links_before")"
  check "nat_site: a taken index is refused" eval '! nat_site dup 2 2>/dev/null'
  check "nat_site: index 201 is refused" eval '! nat_site big 201 2>/dev/null'
  check "nat_host: a taken host index is refused" eval '! nat_host dup a 3 2>/dev/null'

  # --- ICMP and the LAN
  check "a1 pings the internet host 203.0.113.254 through nat-a" lab_ping a1 203.0.113.254 2 1
  check "c1 pings 203.0.113.253 through nat-c" lab_ping c1 203.0.113.253 2 1
  check "LAN: a1 pings a2" lab_ping a1 10.1.0.3 2 1
  check "LAN: a2 pings a1" lab_ping a2 10.1.0.2 2 1
  check "LAN: a1 pings its router 10.1.0.1" lab_ping a1 10.1.0.1 2 1
  check "a1 cannot reach b1's LAN address 10.2.0.2" eval '! lab_ping a1 10.2.0.2 1 0.5'

  # --- unsolicited traffic from the internet (before any UDP from the LANs)
  local drops0
  drops0=$(guard_drops a)
  listen a1 unsolicited
  listen a2 unsolicited
  send coord 203.0.113.1 51820 "unsolicited-1" 3478
  send coord 203.0.113.1 51820 "unsolicited-2" 3478
  send coord 203.0.113.1 3478 "unsolicited-3" 3478
  check "the router does not answer pings from the internet" eval '! lab_ping coord 203.0.113.1 1 0.5'
  sleep 0.3
  check "unsolicited UDP to 203.0.113.1:51820 reaches no host" eval \
    'nothing_in a1 unsolicited && nothing_in a2 unsolicited'
  check "unsolicited: no conntrack entry from the internet host in nat-a" eval \
    '! ct_all a | grep -E "^[a-z]+ +[0-9]+ +[0-9]+ src=203\.0\.113\.254 "'
  check "unsolicited: dropped by the wan_guard rule (its counter went up by >= 4)" \
    [ $(($(guard_drops a) - drops0)) -ge 4 ]
  unlisten a1
  unlisten a2

  # --- mappings as the internet sees them
  reflector coord
  reflector inet2
  check "a1 from :51820 -> coord: seen as 203.0.113.1:51820 (the unsolicited packets took no port)" \
    eq mapping "$(probe a1 203.0.113.254)" 203.0.113.1:51820
  check "a1 from :51820 -> inet2: same mapping 203.0.113.1:51820 (endpoint-independent)" \
    eq mapping "$(probe a1 203.0.113.253)" 203.0.113.1:51820
  check "b1 from :51820 -> coord: seen as 203.0.113.2:51820" eq mapping "$(probe b1 203.0.113.254)" 203.0.113.2:51820
  local m1 m2
  m1=$(probe c1 203.0.113.254)
  m2=$(probe c1 203.0.113.253)
  echo "# site c (random): c1:51820 -> coord seen as $m1, -> inet2 as $m2"
  check "random: both mappings use 203.0.113.3" eval '[[ $m1 == 203.0.113.3:* && $m2 == 203.0.113.3:* ]]'
  check "random: the ports towards two destinations differ" [ "${m1#*:}" != "${m2#*:}" ]

  # --- hole punching a1 <-> b1, both on :51820
  send a1 203.0.113.2 51820 "punch-a1" # opens nat-a; dropped by nat-b
  check "punching: a1's first packet left no entry in nat-b" eval \
    '! nat_conntrack b | grep "src=203.0.113.1 dst=203.0.113.2 sport=51820 dport=51820"'
  listen a1 punch
  send b1 203.0.113.1 51820 "hello-from-b1" # opens nat-b, passes nat-a's hole
  check "punching: a1 receives b1's packet from 203.0.113.2:51820" wait_got a1 punch "203.0.113.2:51820 hello-from-b1"
  unlisten a1
  listen b1 punch
  send a1 203.0.113.2 51820 "hello-from-a1"
  check "punching: b1 receives a1's packet from 203.0.113.1:51820" wait_got b1 punch "203.0.113.1:51820 hello-from-a1"

  # --- nat_flush: the hole is gone until b1 sends again
  nat_flush b
  check "nat_flush b: no UDP entry left" eq entries "$(nat_conntrack b | grep -c . || true)" 0
  send a1 203.0.113.2 51820 "after-flush-1"
  sleep 0.3
  check "after the flush, a1's packet does not reach b1" not_got b1 punch "203.0.113.1:51820 after-flush-1"
  check "after the flush, that packet left no entry in nat-b" eq entries "$(nat_conntrack b | grep -c . || true)" 0
  unlisten b1
  listen a1 punch2
  send b1 203.0.113.1 51820 "b1-again"
  check "b1 sends again: a1 receives it, still from 203.0.113.2:51820" wait_got a1 punch2 "203.0.113.2:51820 b1-again"
  unlisten a1
  listen b1 punch2
  send a1 203.0.113.2 51820 "after-flush-2"
  check "... and the hole is open again: b1 receives a1" wait_got b1 punch2 "203.0.113.1:51820 after-flush-2"
  unlisten b1

  # --- nat_set_random
  nat_set_random b on
  nat_flush b
  m1=$(probe b1 203.0.113.254)
  m2=$(probe b1 203.0.113.253)
  echo "# site b random: b1:51820 -> coord seen as $m1, -> inet2 as $m2"
  check "nat_set_random b on: ports towards two destinations differ" eval \
    '[[ $m1 == 203.0.113.2:* && $m2 == 203.0.113.2:* && ${m1#*:} != "${m2#*:}" ]]'
  nat_set_random b off
  nat_flush b
  check "nat_set_random b off: 51820 kept again towards both" eq mappings \
    "$(probe b1 203.0.113.254) $(probe b1 203.0.113.253)" "203.0.113.2:51820 203.0.113.2:51820"

  # --- nat_move_host
  lab_exec a2 sh -c 'echo a2 >/run/wireguard/probe'
  local spid ns_before t out
  spid=$(lab_spawn a2 "$LAB_DIR/a2/sleep.log" sleep 300)
  ns_before=$(readlink "/proc/$(lab_holder_pid a2)/ns/net")
  m1=$(probe a2 203.0.113.254)
  check "before the move: a2 is seen as 203.0.113.1" eval '[[ $m1 == 203.0.113.1:* ]]'
  t=$(us)
  nat_move_host a2 b 3 >"$LAB_DIR/move.out" 2>&1
  echo "# nat_move_host a2 b 3 took $(ms_since "$t") ms"
  check "nat_move_host prints nothing" nothing_in . move.out
  check "nat_move_host: site, index and address follow" eq state \
    "$(nat_host_site a2) $(nat_host_index a2) $(lab_addr a2)" "b 3 10.2.0.3"
  check "moved: eth0 10.2.0.3/24, default via 10.2.0.1" eval \
    'has_addr a2 eth0 10.2.0.3/24 && out_has "via 10.2.0.1 dev eth0" lab_exec a2 ip route show default &&
     [ "$(lab_exec a2 ip -o -4 addr show dev eth0 | grep -c inet)" = 1 ]'
  check "moved: lan0 ports: site a 1, site b 2" eq ports "$(lan_ports a) $(lan_ports b)" "1 2"
  check "moved: the host's processes, netns and mount namespace stay" eval \
    '[ -d /proc/$spid ] && [ "$(readlink /proc/$spid/ns/net)" = "$ns_before" ] &&
     lab_exec a2 test -e /run/wireguard/probe'
  m1=$(probe a2 203.0.113.254)
  check "moved: coord now sees a2 as 203.0.113.2 (got $m1)" eval '[[ $m1 == 203.0.113.2:* ]]'
  check "moved: a2 pings b1 on its new LAN" lab_ping a2 10.2.0.2 2 1
  check "moved: a2 no longer reaches a1 (10.1.0.2)" eval '! lab_ping a2 10.1.0.2 1 0.5'
  check "nat_move_host: a taken index is refused" eval '! nat_move_host a2 b 2 2>/dev/null'
  t=$(us)
  nat_move_host a2 a 7
  echo "# nat_move_host a2 a 7 took $(ms_since "$t") ms"
  m1=$(probe a2 203.0.113.254)
  check "moved back with a new index: 10.1.0.7, seen as 203.0.113.1 (got $m1)" eval \
    '[[ $(lab_addr a2) == 10.1.0.7 && $m1 == 203.0.113.1:* ]]'
  check "a1 still reaches coord right after hosts left and joined its LAN (lan0's MAC is fixed)" \
    lab_ping a1 203.0.113.254 1 1
  lab_stop "$spid" 2

  # --- nat_change_public
  lab_ping nat-a 203.0.113.254 1 1 || true # a flow of the router itself, from the old address
  check "before the change: nat-a has entries of 203.0.113.1" out_has "=203\.0\.113\.1 " ct_all a
  t=$(us)
  nat_change_public a 11 >"$LAB_DIR/change.out" 2>&1
  echo "# nat_change_public a 11 took $(ms_since "$t") ms"
  check "nat_change_public prints nothing" nothing_in . change.out
  check "nat_change_public: nat_public_ip / lab_addr" eq public "$(nat_public_ip a) $(lab_addr nat-a)" "203.0.113.11 203.0.113.11"
  check "nat-a's eth0 has only 203.0.113.11/24" eq addrs \
    "$(lab_exec nat-a ip -o -4 addr show dev eth0 | awk '{ print $4 }' | tr '\n' ' ')" "203.0.113.11/24 "
  check "no conntrack entry of the old address is left" eval '! ct_all a | grep "=203\.0\.113\.1 "'
  check "a1 is now seen as 203.0.113.11:51820" eq mapping "$(probe a1 203.0.113.254)" 203.0.113.11:51820
  check "a2 too (203.0.113.11)" eval '[[ $(probe a2 203.0.113.254) == 203.0.113.11:* ]]'
  listen a1 oldaddr
  send b1 203.0.113.1 51820 "to-old-address" # b1's hole towards 203.0.113.1:51820 is still open
  send b1 203.0.113.11 51820 "to-new-address" # and there is no flow a1 -> b1 with the new one
  sleep 0.3
  check "the old flow is dead: nothing reaches a1 (old or new address)" nothing_in a1 oldaddr
  unlisten a1
  check "nat_change_public: an address in use is refused" eval '! nat_change_public a 254 2>/dev/null'

  check "still no link in the initial namespace" eq links "$(init_links | tr '\n' ' ')" "$(tr '\n' ' ' <<<"$links_before")"
  echo "# lab run took $(ms_since "$T0") ms (without teardown)"
  grep -q '^fail' "$results" && exit 1
  exit 0
}

# ============================================================== outer: run + leftover checks
outer() {
  local c
  for c in socat conntrack nft ss ping; do
    if ! command -v "$c" >/dev/null; then
      echo "nat_lab_selftest: missing $c (scripts/install-deps.sh installs it)" >&2
      echo "0 passed, 1 failed"
      exit 1
    fi
  done
  local work passed=0 failed=0 rc
  work=$(mktemp -d "${TMPDIR:-/tmp}/nat-selftest.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf -- '$work'" EXIT
  ok() { echo "ok - $1"; passed=$((passed + 1)); }
  nok() { echo "not ok - $1"; failed=$((failed + 1)); }
  expect() { # expect DESC CMD...
    local d=$1
    shift
    if "$@"; then ok "$d"; else nok "$d"; fi
  }
  snapshot() { # the initial namespace's state the lab must not touch
    ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print "link", $2 }' | sort
    ip route show table all
    ip -6 route show table all 2>/dev/null || true
    nft list ruleset 2>/dev/null || true
    local f
    for f in /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/conf/all/forwarding \
      /proc/sys/net/ipv4/conf/all/rp_filter /proc/sys/net/bridge/bridge-nf-call-iptables \
      /proc/sys/net/bridge/bridge-nf-call-ip6tables; do
      [[ -r $f ]] && echo "$f $(cat "$f")"
    done
    return 0
  }
  local t0 t1
  t0=${EPOCHREALTIME//[!0-9]/}
  snapshot >"$work/before"
  local trace="$work/trace" results="$work/results"
  : >"$trace"
  set +e
  NAT_SELFTEST_ROLE=inner LAB_TRACE_FILE=$trace NAT_SELFTEST_RESULTS=$results bash "$SELF" </dev/null
  rc=$?
  set -e
  local p f
  p=$(grep -c '^pass' "$results" 2>/dev/null || true)
  f=$(grep -c '^fail' "$results" 2>/dev/null || true)
  passed=$((passed + p))
  failed=$((failed + f))
  expect "inner lab exits 0 (rc $rc)" [ "$rc" = 0 ]
  expect "inner lab ran its checks ($p)" [ "$p" -ge 50 ]

  local prefix dir
  prefix=$(awk '$1 == "prefix" { print $2 }' "$trace")
  dir=$(awk '$1 == "dir" { print $2 }' "$trace")
  no_namespaces() {
    [[ -n $prefix ]] || { echo "  no prefix in the trace"; return 1; }
    if compgen -G "/run/netns/${prefix}*" >/dev/null; then
      echo "  left: $(cd /run/netns && echo "${prefix}"*)"
      return 1
    fi
  }
  no_processes() { # no recorded PID (holder or spawned) still running as that process
    local kind pid start role st state bad=0
    while read -r kind pid start role; do
      [[ $kind == pid ]] || continue
      state="" st=""
      if [[ -r /proc/$pid/stat ]]; then
        read -r state st < <(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $1, $20 }') || true
      fi
      if [[ -n $st && $st == "$start" && $state != Z ]]; then
        echo "  pid $pid ($role) still running"
        bad=1
      fi
    done <"$trace"
    ((bad == 0))
  }
  expect "nothing left: no namespace with the run's prefix ($prefix)" no_namespaces
  expect "nothing left: no holder or spawned process" no_processes
  expect "nothing left: LAB_DIR removed" eval '[[ -n $dir && ! -e $dir ]]'
  snapshot >"$work/after"
  expect "the initial namespace's links, routes, nftables and sysctls are unchanged" \
    diff -u "$work/before" "$work/after"

  t1=${EPOCHREALTIME//[!0-9]/}
  printf '# self-test took %d.%02d s\n' $(((t1 - t0) / 1000000)) $((((t1 - t0) / 10000) % 100))
  echo "$passed passed, $failed failed"
  ((failed == 0))
}

if [[ ${NAT_SELFTEST_ROLE:-} == inner ]]; then
  inner
else
  outer
fi
