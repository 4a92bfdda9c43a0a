# shellcheck shell=bash
# shellcheck disable=SC2016
# tests/lab/nat.sh — NAT sites on top of tests/lab/lab.sh: hosts behind Linux NAT routers
# (nftables masquerade), for hole-punching, roaming and address-change labs.
#
# SOURCE after tests/lab/lab.sh and lab_init (do not execute it). Needs what lab.sh needs plus
# nftables (`nft`) and conntrack (`conntrack`) — scripts/install-deps.sh installs both. Works under
# `set -euo pipefail`. Like lab.sh it creates every link inside the lab's namespaces and never
# touches the initial namespace's routes, sysctls or nftables; lab_cleanup removes everything
# (every namespace here is made by lab.sh's _lab_host_make and so is recorded like lab_host's).
#
#   source tests/lab/lab.sh; source tests/lab/nat.sh
#   lab_init
#   lab_host coord 203.0.113.254/24          # an "internet" host (no default route needed)
#   nat_site a 1                             # router "nat-a": WAN 203.0.113.1, LAN 10.1.0.0/24
#   nat_site b 2 random                      # endpoint-dependent mapping (symmetric NAT)
#   nat_host a1 a 2                          # 10.1.0.2/24, default via 10.1.0.1
#   nat_host b1 b 2                          # 10.2.0.2/24, default via 10.2.0.1
#   lab_exec a1 ping -c1 203.0.113.254       # through nat-a: coord sees 203.0.113.1
#   nat_move_host a1 b 5                     # a1 is now 10.2.0.5 behind nat-b
#   nat_change_public a 11                   # nat-a's public address is now 203.0.113.11
#
# Topology. The internet is lab.sh's switch (LAB_SWITCH, bridge br0), addresses 203.0.113.0/24;
# internet hosts are ordinary lab_host hosts on it. A site NAME with index I (1..200) is a lab host
# "nat-NAME" (namespace ${LAB_PREFIX}nat-NAME with a holder, so lab_exec/lab_spawn work on it) with
#   eth0   WAN, a port of br0, 203.0.113.I/24 (changes with nat_change_public)
#   lan0   a bridge inside the router's namespace, 10.I.0.1/24, fixed MAC 02:00:0a:II:00:01 (II =
#          I in hex); bridge-nf-call-* = 0 there
#   ip_forward = 1, and nftables table "ip natlab":
#     chain wan_guard  prerouting, priority -150 (after conntrack's lookup at -200, before any
#                      NAT): on eth0 only ct state established,related passes; everything else
#                      (new/invalid/untracked) is dropped here, silently (no ICMP), for the router
#                      itself (it answers no ping on its public address) as well as for the LAN.
#                      A packet dropped before its conntrack entry
#                      is confirmed (confirmation happens last, in input/postrouting) leaves no
#                      entry: unsolicited packets, even right after nat_flush, never take a port.
#     chain forward    policy drop; lan0 -> eth0 accepted; eth0 -> lan0 only established,related
#     chain postrouting  oifname eth0 ip saddr 10.I.0.0/24 masquerade [random]
# Linux masquerade keeps the source port when the resulting tuple is free: a host sending from
# 51820 to any peer gets PUBLIC:51820 (endpoint-independent mapping; filtering is per peer
# address+port, as conntrack goes). With "random" every new flow gets a random port
# (endpoint-dependent mapping, the symmetric NAT case).
# A NAT host NAME is a lab host (namespace + holder) whose eth0 is a veth whose peer "vIDX-NAME" is
# a port of its site's lan0; address 10.I.0.HOSTINDEX/24 (HOSTINDEX 2..254), default route via
# 10.I.0.1. lab_addr NAME gives its current LAN address, lab_addr nat-SITE the site's WAN address;
# lab_hosts lists routers and NAT hosts too.
#
# Functions (all return non-zero with a "lab: ..." message on stderr on failure):
#   nat_site NAME INDEX [random|sequential]
#                                 new site, router "nat-NAME"; INDEX 1..200 (WAN .INDEX, LAN
#                                 10.INDEX.0.0/24); random: a random port per new flow;
#                                 sequential: UDP flows take ports 30000, 30001, ... in order
#                                 (both endpoint-dependent)
#   nat_host NAME SITE HOSTINDEX  new host 10.<site index>.0.HOSTINDEX in SITE's LAN
#   nat_move_host NAME SITE [HOSTINDEX]
#                                 unplug NAME and plug it into SITE's LAN: its eth0 veth is deleted
#                                 (addresses, routes, neighbours go with it) and a new one made in
#                                 SITE's lan0 with 10.<site>.0.HOSTINDEX/24 (default: the host's
#                                 current host index) and a new default route. Namespace,
#                                 processes, sockets and mount namespace stay. Prints nothing, runs
#                                 only ip commands (3 of them), no sleeps: ~30-45 ms here, most of
#                                 it the kernel unregistering the old veth. The old site's conntrack
#                                 entries of the host stay until they time out, as in a real NAT.
#   nat_change_public SITE NEWINDEX
#                                 SITE's public address becomes 203.0.113.NEWINDEX (1..254, not in
#                                 use): old address deleted, new one added, then every conntrack
#                                 entry of the old address deleted (the kernel's masquerade notifier
#                                 also deletes the masqueraded ones, but from a work queue, i.e.
#                                 a moment later, and skips it when 16 such walks are pending; it
#                                 leaves the router's own flows). New flows use the new address;
#                                 old flows do not keep working. The LAN (and nat_site_index)
#                                 stay. No sleeps.
#   nat_flush SITE                drop all of SITE's mappings (conntrack -F in the router)
#   nat_set_random SITE on|off|sequential
#                                 masquerade random (endpoint-dependent), not, or sequential
#                                 UDP ports; existing mappings are kept — nat_flush to remap
#                                 every flow
#   nat_egress SITE open|no-udp|tcp-only PORT...
#                                 what SITE's LAN may send out: everything (the default), no UDP
#                                 at all (a network that blocks UDP), or only TCP to the PORTs
#                                 (a network that lets out HTTPS and little else); silently
#                                 dropped, in a forward chain "egress" of its own
#   nat_public_ip SITE            print SITE's current public address (no prefix length)
#   nat_site_index SITE           print SITE's index (its LAN is 10.INDEX.0.0/24; fixed)
#   nat_router SITE               print the router's lab host name ("nat-SITE")
#   nat_host_site NAME            print the site host NAME is in now
#   nat_host_index NAME           print NAME's current host index
#   nat_conntrack SITE            print the router's UDP conntrack entries (conntrack -L -p udp)
#   nat_sites                     print the site names, one per line, in creation order
#
# State lives in $LAB_DIR/nat-SITE/.nat_{index,public,random} and $LAB_DIR/NAME/.nat_{site,index}.

if [[ -n "${_NAT_SH_LOADED:-}" ]]; then
  return 0
fi
_NAT_SH_LOADED=1

NAT_NET=203.0.113 # the internet: 203.0.113.0/24 on lab.sh's switch

# ---------------------------------------------------------------- internals

_nat_read() { # _nat_read FILE: print its first line; 1 if missing
  local v
  { read -r v <"$1"; } 2>/dev/null || return 1
  printf '%s\n' "$v"
}

_nat_site_dir() { # _nat_site_dir SITE: set _NAT_D to the router's dir, or fail
  _NAT_D="$LAB_DIR/nat-${1:-}"
  if [[ -z "${1:-}" || ! -r "$_NAT_D/.nat_index" ]]; then
    lab_log "no such NAT site '${1:-}'"
    return 1
  fi
}

_nat_host_dir() { # _nat_host_dir NAME: set _NAT_D to the host's dir, or fail
  _NAT_D="$LAB_DIR/${1:-}"
  if [[ -z "${1:-}" || ! -r "$_NAT_D/.nat_site" ]]; then
    lab_log "no such NAT host '${1:-}'"
    return 1
  fi
}

_nat_in() { # _nat_in SITE CMD...: run CMD in the router's network namespace (no mount ns needed)
  local site=$1
  shift
  nsenter --net="/run/netns/${LAB_PREFIX}nat-$site" -- "$@"
}

_nat_valid_index() { # _nat_valid_index VALUE MIN MAX WHAT
  if [[ ! $1 =~ ^[1-9][0-9]*$ ]] || (($1 < $2 || $1 > $3)); then
    lab_log "$4 must be a number in $2..$3, not '$1'"
    return 1
  fi
}

# _nat_public_in_use N: 0 if 203.0.113.N is some host's address or some site's public address.
_nat_public_in_use() {
  local f a
  for f in "$LAB_DIR"/*/.addr; do
    [[ -r $f ]] || continue
    read -r a <"$f" || continue
    [[ ${a%/*} == "$NAT_NET.$1" ]] && return 0
  done
  return 1
}

# _nat_lan_in_use SITE HOSTINDEX [EXCEPT]: 0 if a host other than EXCEPT is SITE's HOSTINDEX.
_nat_lan_in_use() {
  local d s i
  for d in "$LAB_DIR"/*/; do
    d=${d%/}
    [[ -r $d/.nat_site && ${d##*/} != "${3:-}" ]] || continue
    read -r s <"$d/.nat_site" || continue
    read -r i <"$d/.nat_index" || continue
    [[ $s == "$1" && $i == "$2" ]] && return 0
  done
  return 1
}

_nat_masq_rule() { # _nat_masq_rule INDEX on|off|sequential PUBLIC: the postrouting rule(s)
  local r="oifname \"eth0\" ip saddr 10.$1.0.0/24 counter masquerade"
  [[ $2 == on ]] && r+=" random"
  # Sequential: every new UDP flow takes the next port of 30000-30999 (a predictable
  # endpoint-dependent allocator, as some carrier-grade and cloud NATs have); the rest as usual.
  # (numgen's value through a map: used as a port directly it would be in host byte order.)
  if [[ $2 == sequential ]]; then
    local ports i
    ports=$(for ((i = 0; i < 1000; i++)); do printf '%s%d : %d' "${i:+, }" "$i" $((30000 + i)); done)
    ports=${ports#, }
    printf 'oifname "eth0" ip saddr 10.%s.0.0/24 meta l4proto udp counter snat to %s : numgen inc mod 1000 map { %s }\n' \
      "$1" "$3" "$ports"
  fi
  printf '%s\n' "$r"
}

# _nat_plug NAME SITE HOSTINDEX [replace]: a new eth0 in host NAME (with "replace": its old eth0 is
# deleted first), its peer a port of SITE's lan0; address, default route. Three ip commands.
# eth0 keeps one MAC address for the host's life (02:00:00:00:II:II from the host's lab index), as
# a real NIC does when its host moves, so a router's neighbour entry for it never points to a MAC
# that is gone.
_nat_plug() {
  local name=$1 site=$2 hidx=$3 replace=${4:-} sidx hns rns port idx mac del=""
  read -r sidx <"$LAB_DIR/nat-$site/.nat_index" || return 1
  read -r idx <"$LAB_DIR/$name/.idx" || return 1
  hns="${LAB_PREFIX}${name}"
  rns="${LAB_PREFIX}nat-${site}"
  port="v${idx}-${name}"
  port=${port:0:15}
  mac=$(printf '02:00:00:00:%02x:%02x' $((idx / 256 % 256)) $((idx % 256)))
  # Interface indexes of their own, so a veth end's index never equals its peer's: the kernel
  # treats a carrier change of a device whose ifindex equals its iflink as not urgent and applies
  # it through linkwatch, up to a second later, and the bridge forwards nothing to the port until
  # then (seen every few moves, when the two namespaces' counters happened to meet).
  local plug
  plug=$(($(wc -l 2>/dev/null <"$LAB_DIR/.nat_plugs" || echo 0) + 1))
  echo "$name $site" >>"$LAB_DIR/.nat_plugs"
  # Deleting one end of a veth deletes the other (the old lan0 port) and eth0's addresses/routes.
  [[ $replace == replace ]] && del="link del dev eth0"
  # onlink: the route need not wait for the carrier, which comes when the port joins lan0 below.
  # The cable first, then the address (as DHCP would): the host never has an address on a link
  # without carrier. And the gateway's (fixed) MAC comes with it, as a stale neighbour entry that
  # the kernel uses at once and confirms later: a host's first ARP request on a freshly plugged
  # veth was now and then lost, and ARP retries only after a second, which timed the lab's link
  # layer instead of the mesh.
  ip -n "$hns" -batch - <<EOF || { lab_log "$name: cannot make an eth0 into site $site"; return 1; }
$del
link add eth0 index $((1000 + plug)) address $mac type veth peer name $port index $((20000 + plug)) netns $rns
link set dev eth0 up
EOF
  ip -n "$rns" link set dev "$port" master lan0 up || { lab_log "$name: cannot plug into site $site"; return 1; }
  ip -n "$hns" -batch - <<EOF || { lab_log "$name: cannot configure eth0 in site $site"; return 1; }
addr add 10.$sidx.0.$hidx/24 dev eth0
neigh replace 10.$sidx.0.1 lladdr $(printf '02:00:0a:%02x:00:01' "$sidx") dev eth0 nud stale
route add default via 10.$sidx.0.1 dev eth0
EOF
  printf '%s\n' "$site" >"$LAB_DIR/$name/.nat_site"
  printf '%s\n' "$hidx" >"$LAB_DIR/$name/.nat_index"
  printf '%s\n' "10.$sidx.0.$hidx/24" >"$LAB_DIR/$name/.addr"
}

# ---------------------------------------------------------------- public API

nat_site() {
  local site=${1:-} sidx=${2:-} mode=${3:-} random=off r ns mac
  if [[ -z "$site" || -z "$sidx" ]] || (($# > 3)); then
    lab_log "usage: nat_site NAME INDEX [random]"
    return 2
  fi
  case $mode in
    "") ;;
    random) random=on ;;
    sequential) random=sequential ;;
    *) lab_log "nat_site: third argument must be 'random' or 'sequential', not '$mode'"; return 2 ;;
  esac
  _lab_need_init || return 1
  command -v nft >/dev/null || { lab_log "nat_site: nft (nftables) is missing"; return 1; }
  command -v conntrack >/dev/null || { lab_log "nat_site: conntrack is missing"; return 1; }
  _nat_valid_index "$sidx" 1 200 "nat_site $site: INDEX" || return 1
  if [[ -e "$LAB_DIR/nat-$site/.nat_index" ]]; then
    lab_log "nat_site: site '$site' exists already"
    return 1
  fi
  for r in "$LAB_DIR"/nat-*/.nat_index; do
    [[ -r $r && "$(_nat_read "$r")" == "$sidx" ]] &&
      { lab_log "nat_site $site: index $sidx is taken (LAN 10.$sidx.0.0/24)"; return 1; }
  done
  if _nat_public_in_use "$sidx"; then
    lab_log "nat_site $site: $NAT_NET.$sidx is in use"
    return 1
  fi
  _lab_host_make "nat-$site" || return 1
  _lab_host_attach_switch "nat-$site" "$NAT_NET.$sidx/24" || return 1
  ns="${LAB_PREFIX}nat-$site"
  # A fixed MAC: a bridge whose MAC was never set takes the lowest MAC of its ports, so hosts
  # plugging in or out would change the router's MAC under the other hosts' ARP caches (their
  # packets to the router then go nowhere until ARP re-resolves, ~5 s or more).
  mac=$(printf '02:00:0a:%02x:00:01' "$sidx")
  # An anchor port (a veth pair inside the router, one end in lan0) keeps lan0's carrier up while no
  # host is plugged in, like a switch that stays up: a bridge that loses its last port goes
  # NO-CARRIER, and regaining it is handled by the kernel's linkwatch, rate-limited to one run a
  # second, so the first frames to the next host that plugs in were dropped for up to ~1 s.
  ip -n "$ns" -batch - <<EOF || { lab_log "nat_site $site: cannot create lan0"; return 1; }
link add lan0 address $mac type bridge
addr add 10.$sidx.0.1/24 dev lan0
link add anchor0 type veth peer name anchor1
link set dev anchor0 master lan0 up
link set dev anchor1 up
link set dev lan0 up
EOF
  _lab_bridge_nf_off "$ns" || return 1
  _nat_in "$site" sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward' ||
    { lab_log "nat_site $site: cannot set ip_forward"; return 1; }
  _nat_in "$site" nft -f - <<EOF || { lab_log "nat_site $site: nft failed"; return 1; }
table ip natlab {
  chain wan_guard {
    type filter hook prerouting priority -150; policy accept;
    iifname "eth0" ct state established,related accept
    iifname "eth0" counter drop comment "unsolicited: dropped before its entry is confirmed"
  }
  chain forward {
    type filter hook forward priority filter; policy drop;
    iifname "lan0" oifname "eth0" accept
    iifname "eth0" oifname "lan0" ct state established,related accept
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    $(_nat_masq_rule "$sidx" "$random" "$NAT_NET.$sidx")
  }
}
EOF
  printf '%s\n' "$sidx" >"$LAB_DIR/nat-$site/.nat_index"
  printf '%s\n' "$NAT_NET.$sidx" >"$LAB_DIR/nat-$site/.nat_public"
  printf '%s\n' "$random" >"$LAB_DIR/nat-$site/.nat_random"
  printf '%s\n' "$site" >>"$LAB_DIR/.nat_sites"
}

nat_host() {
  local name=${1:-} site=${2:-} hidx=${3:-}
  if [[ -z "$name" || -z "$site" || -z "$hidx" ]]; then
    lab_log "usage: nat_host NAME SITE HOSTINDEX"
    return 2
  fi
  _lab_need_init || return 1
  _nat_site_dir "$site" || return 1
  _nat_valid_index "$hidx" 2 254 "nat_host $name: HOSTINDEX" || return 1
  if _nat_lan_in_use "$site" "$hidx"; then
    lab_log "nat_host $name: host index $hidx is taken in site $site"
    return 1
  fi
  _lab_host_make "$name" || return 1
  _nat_plug "$name" "$site" "$hidx"
}

nat_move_host() {
  local name=${1:-} site=${2:-} hidx=${3:-}
  if [[ -z "$name" || -z "$site" ]]; then
    lab_log "usage: nat_move_host NAME SITE [HOSTINDEX]"
    return 2
  fi
  _nat_host_dir "$name" || return 1
  if [[ -z "$hidx" ]]; then read -r hidx <"$_NAT_D/.nat_index" || return 1; fi
  _nat_site_dir "$site" || return 1
  _nat_valid_index "$hidx" 2 254 "nat_move_host $name: HOSTINDEX" || return 1
  if _nat_lan_in_use "$site" "$hidx" "$name"; then
    lab_log "nat_move_host $name: host index $hidx is taken in site $site"
    return 1
  fi
  _nat_plug "$name" "$site" "$hidx" replace
}

nat_change_public() {
  local site=${1:-} nidx=${2:-} old ns
  if [[ -z "$site" || -z "$nidx" ]]; then
    lab_log "usage: nat_change_public SITE NEWINDEX"
    return 2
  fi
  _nat_site_dir "$site" || return 1
  _nat_valid_index "$nidx" 1 254 "nat_change_public $site: NEWINDEX" || return 1
  read -r old <"$_NAT_D/.nat_public" || return 1
  [[ $old == "$NAT_NET.$nidx" ]] && return 0
  if _nat_public_in_use "$nidx"; then
    lab_log "nat_change_public $site: $NAT_NET.$nidx is in use"
    return 1
  fi
  ns="${LAB_PREFIX}nat-$site"
  # Delete first (new namespaces have promote_secondaries=0); the on-link route goes and comes back.
  ip -n "$ns" -batch - <<EOF || { lab_log "nat_change_public $site: ip failed"; return 1; }
addr del $old/24 dev eth0
addr add $NAT_NET.$nidx/24 dev eth0
EOF
  printf '%s\n' "$NAT_NET.$nidx" >"$_NAT_D/.nat_public"
  printf '%s\n' "$NAT_NET.$nidx/24" >"$_NAT_D/.addr"
  # The kernel's masquerade notifier deletes the entries masqueraded to the old address, but
  # asynchronously (a work queue); and entries of the router's own flows stay. Delete both kinds
  # now. conntrack -D exits 1 when nothing matched: that is not an error here.
  _nat_in "$site" conntrack -D --reply-dst "$old" >/dev/null 2>&1 || true
  _nat_in "$site" conntrack -D --orig-src "$old" >/dev/null 2>&1 || true
}

nat_flush() {
  local site=${1:-} err
  _nat_site_dir "$site" || return 1
  if ! err=$(_nat_in "$site" conntrack -F 2>&1); then
    lab_log "nat_flush $site: $err"
    return 1
  fi
}

nat_set_random() {
  local site=${1:-} mode=${2:-} sidx
  case $mode in
    on | off | sequential) ;;
    *) lab_log "usage: nat_set_random SITE on|off|sequential"; return 2 ;;
  esac
  _nat_site_dir "$site" || return 1
  read -r sidx <"$_NAT_D/.nat_index" || return 1
  # One transaction: no moment without a masquerade rule.
  _nat_in "$site" nft -f - <<EOF || { lab_log "nat_set_random $site: nft failed"; return 1; }
flush chain ip natlab postrouting
$(_nat_masq_rule "$sidx" "$mode" "$(_nat_read "$_NAT_D/.nat_public")" | sed 's/^/add rule ip natlab postrouting /')
EOF
  printf '%s\n' "$mode" >"$_NAT_D/.nat_random"
}

nat_egress() {
  local site=${1:-} mode=${2:-} rule ports
  _nat_site_dir "$site" || return 1
  shift 2 || true
  case $mode in
    open) rule="" ;;
    no-udp) rule='iifname "lan0" meta l4proto udp counter drop' ;;
    tcp-only)
      (($# > 0)) || { lab_log "usage: nat_egress SITE tcp-only PORT..."; return 2; }
      ports=$(IFS=,; echo "$*")
      rule="iifname \"lan0\" tcp dport { $ports } accept
    iifname \"lan0\" counter drop" ;;
    *) lab_log "usage: nat_egress SITE open|no-udp|tcp-only PORT..."; return 2 ;;
  esac
  # Before the forward chain (priority filter - 1); one transaction.
  _nat_in "$site" nft -f - <<EOF || { lab_log "nat_egress $site: nft failed"; return 1; }
add chain ip natlab egress { type filter hook forward priority -1; policy accept; }
flush chain ip natlab egress
table ip natlab {
  chain egress {
    $rule
  }
}
EOF
}

nat_public_ip() {
  _nat_site_dir "${1:-}" || return 1
  _nat_read "$_NAT_D/.nat_public"
}

nat_site_index() {
  _nat_site_dir "${1:-}" || return 1
  _nat_read "$_NAT_D/.nat_index"
}

nat_router() {
  _nat_site_dir "${1:-}" || return 1
  printf 'nat-%s\n' "$1"
}

nat_host_site() {
  _nat_host_dir "${1:-}" || return 1
  _nat_read "$_NAT_D/.nat_site"
}

nat_host_index() {
  _nat_host_dir "${1:-}" || return 1
  _nat_read "$_NAT_D/.nat_index"
}

nat_conntrack() {
  _nat_site_dir "${1:-}" || return 1
  # conntrack prints its "N flow entries have been shown" summary on stderr
  _nat_in "$1" conntrack -L -p udp 2>/dev/null
}

nat_sites() {
  _lab_need_init || return 1
  [[ -r "$LAB_DIR/.nat_sites" ]] || return 0
  cat -- "$LAB_DIR/.nat_sites"
}
