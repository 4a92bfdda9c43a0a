#!/usr/bin/env bash
# Smoke test of the kernel VM (docs/KERNEL_VM.md): boots Debian's kernel through run-in-vm.sh and
# proves its wireguard module works, with wg and iproute2 from the host:
#
#   A. "moved" (the kernel's own netns selftest layout): wireguard interfaces created in the
#      initial namespace and moved into namespaces a1, b1; their UDP sockets stay where they were
#      created, so the encrypted traffic goes over the initial namespace's loopback.
#   B. "over veth": namespaces a2, b2 joined by a veth pair, each wireguard interface created in
#      its own namespace, so the encrypted traffic crosses the veth.
#
# Each: keys from `wg genkey`, configured with `wg set`, ping across the tunnel, `wg show`
# reports a handshake and traffic; plus where the UDP sockets live. Prints "N passed, M failed";
# exits 0 when all passed, 1 when a check failed, 125 when the VM itself failed.
#
#   tests/kernel/smoke_test.sh            # as root
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ ${MESH_KERNEL_VM:-} != 1 ]]; then
  # On the host: run this same file inside the VM.
  start=$(date +%s.%N)
  "$here/run-in-vm.sh" --timeout "${SMOKE_TIMEOUT:-180}" -- bash "$here/smoke_test.sh"
  rc=$?
  t=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
  echo "smoke_test: exit $rc after ${t}s (boot included)"
  if ((rc == 125)); then
    echo "smoke_test: the VM failed (see above)"
    echo "0 passed, 1 failed"
  fi
  exit "$rc"
fi

# ---- inside the VM (root, host's / read-only, /tmp and /run tmpfs) ---------------------------
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   - $*"; }
bad() { fail=$((fail + 1)); echo "FAIL - $*"; }
check() { # check NAME CMD...
  local name=$1
  shift
  local out
  if out=$("$@" 2>&1); then ok "$name"; else bad "$name"; printf '%s\n' "$out" | sed 's/^/       | /'; fi
}
# Commands by full path: nothing here depends on PATH order.
IP=/usr/sbin/ip WG=/usr/bin/wg PING=/usr/bin/ping SS=/usr/bin/ss
for t in $IP $WG $PING $SS; do [[ -x $t ]] || { bad "tool $t present"; echo "$pass passed, $fail failed"; exit 1; }; done
ns() { local n=$1; shift; $IP netns exec "$n" "$@"; }

echo "kernel $(uname -r), $($WG --version | cut -d' ' -f1-2)"
umask 077
keys=/tmp/keys
mkdir -p $keys
for k in a1 b1 a2 b2; do
  $WG genkey >$keys/$k.priv
  $WG pubkey <$keys/$k.priv >$keys/$k.pub
done
check "wg genkey/pubkey give 44-char base64 keys" \
  bash -c "[[ \$(wc -c <$keys/a1.priv) == 45 && \$(wc -c <$keys/b2.pub) == 45 ]]"

handshake_ok() { # NS DEV: one peer, latest handshake after the epoch
  local hs
  hs=$(ns "$1" $WG show "$2" latest-handshakes | awk '{ print $2 }')
  echo "latest-handshakes: ${hs:-none}"
  [[ -n $hs && $hs -gt 0 ]]
}
transfer_ok() { # NS DEV: bytes received and sent both > 0
  local tr
  tr=$(ns "$1" $WG show "$2" transfer)
  echo "transfer: $tr"
  awk '{ exit !($2 > 0 && $3 > 0) }' <<<"$tr"
}
udp_listening() { # NS PORT (NS "-": the initial namespace)
  local out
  if [[ $1 == - ]]; then out=$($SS -Hunl "sport = :$2"); else out=$(ns "$1" $SS -Hunl "sport = :$2"); fi
  [[ -n $out ]]
}
not() { ! "$@"; }
setup_wg() { # NS DEV SELF PEER PORT PEER_ENDPOINT ADDR PEER_ALLOWED
  local n=$1 dev=$2 self=$3 peer=$4 port=$5 ep=$6 addr=$7 allowed=$8
  ns "$n" $WG set "$dev" private-key "$keys/$self.priv" listen-port "$port" \
    peer "$(cat "$keys/$peer.pub")" endpoint "$ep" allowed-ips "$allowed" &&
    ns "$n" $IP addr add "$addr" dev "$dev" &&
    ns "$n" $IP link set "$dev" up
}

echo "# A: created in the initial namespace, moved into a1 and b1 (encrypted traffic over lo)"
$IP link set lo up
for n in a1 b1; do $IP netns add $n && ns $n $IP link set lo up; done
check "A: create wireguard links in the initial namespace" \
  bash -c "$IP link add wgA1 type wireguard && $IP link add wgB1 type wireguard"
check "A: move them into a1, b1" \
  bash -c "$IP link set wgA1 netns a1 && $IP link set wgB1 netns b1"
check "A: configure a1 (wg set, address, up)" \
  setup_wg a1 wgA1 a1 b1 51821 127.0.0.1:51822 10.0.1.1/24 10.0.1.2/32
check "A: configure b1" \
  setup_wg b1 wgB1 b1 a1 51822 127.0.0.1:51821 10.0.1.2/24 10.0.1.1/32
check "A: ping a1 -> b1 through the tunnel" ns a1 $PING -c 3 -i 0.2 -W 5 10.0.1.2
check "A: wg show reports a handshake (a1)" handshake_ok a1 wgA1
check "A: wg show reports a handshake (b1)" handshake_ok b1 wgB1
check "A: wg show reports traffic both ways" transfer_ok a1 wgA1
check "A: its UDP socket stays in the initial namespace" udp_listening - 51821
check "A: and is not in a1" not udp_listening a1 51821

echo "# B: namespaces a2, b2 joined by a veth pair, each interface created in its own namespace"
for n in a2 b2; do $IP netns add $n && ns $n $IP link set lo up; done
check "B: veth pair a2 <-> b2" bash -c "$IP link add va type veth peer name vb &&
  $IP link set va netns a2 && $IP link set vb netns b2 &&
  $IP -n a2 addr add 192.168.241.1/24 dev va && $IP -n a2 link set va up &&
  $IP -n b2 addr add 192.168.241.2/24 dev vb && $IP -n b2 link set vb up"
check "B: plain ping across the veth" ns a2 $PING -c 1 -W 5 192.168.241.2
check "B: create wireguard links inside a2, b2" \
  bash -c "$IP -n a2 link add wgA2 type wireguard && $IP -n b2 link add wgB2 type wireguard"
check "B: configure a2" setup_wg a2 wgA2 a2 b2 51831 192.168.241.2:51832 10.0.2.1/24 10.0.2.2/32
check "B: configure b2" setup_wg b2 wgB2 b2 a2 51832 192.168.241.1:51831 10.0.2.2/24 10.0.2.1/32
rx_before=$(ns b2 cat /sys/class/net/vb/statistics/rx_packets)
check "B: ping a2 -> b2 through the tunnel" ns a2 $PING -c 3 -i 0.2 -W 5 10.0.2.2
check "B: wg show reports a handshake (a2)" handshake_ok a2 wgA2
check "B: wg show reports a handshake (b2)" handshake_ok b2 wgB2
check "B: wg show reports traffic both ways" transfer_ok b2 wgB2
check "B: its UDP socket is in a2" udp_listening a2 51831
check "B: and not in the initial namespace" not udp_listening - 51831
check "B: the encrypted packets crossed the veth" bash -c \
  "[[ \$($IP netns exec b2 cat /sys/class/net/vb/statistics/rx_packets) -gt $((rx_before + 3)) ]]"
check "B: wg show endpoint of a2's peer is b2's veth address" bash -c \
  "$IP netns exec a2 $WG show wgA2 endpoints | grep -q '192.168.241.2:51832'"

echo "$pass passed, $fail failed"
((fail == 0))
