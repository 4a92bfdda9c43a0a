#!/usr/bin/env bash
# Runs the kernel's own WireGuard selftest, tools/testing/selftests/wireguard/netns.sh, inside the
# kernel VM (docs/KERNEL_VM.md, "The kernel's netns.sh selftest"). The script is the one from
# Debian's linux-source package at the booted kernel's version, which scripts/kernel-vm-deps.sh
# keeps in $MESH_KVM_CACHE/current/selftests/wireguard/; it runs unmodified with the host's
# bash, ip, ss, ping, wg, iperf3, ncat and iptables (nft backend) over the read-only 9p root.
#
#   tests/kernel/selftest_netns.sh            # as root
#
# netns.sh has no per-test results: it runs `set -e` to its last line, so one failing step fails
# the whole run. This prints netns.sh's own output (colours stripped when stdout is not a tty),
# then "1 passed, 0 failed" or "0 passed, 1 failed", and exits with netns.sh's status (125: the
# VM itself failed or timed out).
#
# Environment: SELFTEST_TIMEOUT (the VM's --timeout, default 600 s; a run takes about 170 s),
# SELFTEST_MEM (default 1G), SELFTEST_CPUS (vCPUs, default 1; netns.sh runs one parallel iperf3
# stream per CPU).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

if [[ ${MESH_KERNEL_VM:-} != 1 ]]; then
  # ---- on the host: find netns.sh, then run this same file inside the VM -----------------------
  cache=${MESH_KVM_CACHE:-/var/cache/mesh-kernel-vm}
  kdir=${MESH_KVM_KERNEL_DIR:-$cache/current}
  if [[ ! -f $kdir/selftests/wireguard/netns.sh ]]; then
    echo "selftest_netns: no $kdir/selftests/wireguard/netns.sh; running scripts/kernel-vm-deps.sh" >&2
    bash "$repo/scripts/kernel-vm-deps.sh" >&2 || { echo "selftest_netns: kernel-vm-deps.sh failed"; echo "0 passed, 1 failed"; exit 1; }
  fi
  kdir=$(cd "$kdir" && pwd -P)
  netns=$kdir/selftests/wireguard/netns.sh
  echo "selftest_netns: $netns ($(cat "$kdir/selftests/source" 2>/dev/null))"
  start=$(date +%s.%N)
  # netns.sh colours every step (raw escapes, whatever TERM says): strip them for logs.
  strip() { if [[ -t 1 ]]; then cat; else sed -u 's/\x1b\[[0-9;]*m//g'; fi; }
  "$here/run-in-vm.sh" --timeout "${SELFTEST_TIMEOUT:-600}" --mem "${SELFTEST_MEM:-1G}" \
    --cpus "${SELFTEST_CPUS:-1}" -- \
    bash "$here/selftest_netns.sh" "$netns" | strip
  rc=${PIPESTATUS[0]}
  t=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
  echo "selftest_netns: exit $rc after ${t}s (boot included)"
  ((rc == 125)) && echo "selftest_netns: the VM failed (see above)"
  if ((rc == 0)); then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
  exit "$rc"
fi

# ---- inside the VM (root, host's / read-only, /tmp and /run tmpfs) -----------------------------
netns=${1:?usage: selftest_netns.sh NETNS_SH (inside the VM)}
missing=()
for t in bash ip ss ping wg iperf3 ncat iptables; do command -v "$t" >/dev/null || missing+=("$t"); done
if ((${#missing[@]})); then
  echo "selftest_netns: missing in the VM: ${missing[*]} (scripts/kernel-vm-deps.sh installs them)" >&2
  exit 1
fi
echo "selftest_netns: kernel $(uname -r), $(wg --version | cut -d' ' -f1-2), $(iptables --version)," \
  "$(iperf3 --version | head -n1 | cut -d' ' -f1-2), $(ncat --version 2>&1 | head -n1 | cut -d' ' -f1-3)"

# Upstream's VM builds wireguard with CONFIG_WIREGUARD_DEBUG (-DDEBUG), so its pr_debug lines
# ("wg0: Peer 3 created", "... destroyed") reach /dev/kmsg, which netns.sh's last check reads to
# prove every interface, peer and keypair it created was freed. Debian's module has them as
# dynamic debug: switch them on, or that check would pass on no data at all.
ddc=/proc/dynamic_debug/control
if [[ ! -w $ddc ]]; then
  mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
  ddc=/sys/kernel/debug/dynamic_debug/control
fi
if echo 'module wireguard +p' >"$ddc" 2>/dev/null; then
  echo "selftest_netns: wireguard debug messages on ($ddc: $(grep -c '\[wireguard\]' "$ddc") sites)"
else
  echo "selftest_netns: cannot enable wireguard's debug messages ($ddc); the object-lifetime check will see none" >&2
fi

# The guest has no /lib/modules, so a module the kernel asks for (request_module: an iptables
# match, a link type) cannot load. Log such requests instead, to name what the initramfs lacks.
# The helper runs from the initramfs's root, where the chroot's /tmp is /newroot/tmp.
modlog=/tmp/modprobe-requests.log
printf '#!/bin/sh\necho "$*" >>/newroot%s\nexit 1\n' "$modlog" >/tmp/modprobe-log
chmod 755 /tmp/modprobe-log
orig_modprobe=$(</proc/sys/kernel/modprobe)
echo /newroot/tmp/modprobe-log >/proc/sys/kernel/modprobe

start=$SECONDS
bash "$netns"
rc=$?
echo "$orig_modprobe" >/proc/sys/kernel/modprobe
echo "selftest_netns: netns.sh exited with status $rc after $((SECONDS - start)) s"
wgdbg=$(dmesg 2>/dev/null | grep -Ec 'wg[0-9]+: [A-Z][a-z]+ ?[0-9]* .*(created|destroyed)')
echo "selftest_netns: wireguard created/destroyed messages in the kernel log: ${wgdbg:-0}"
# Expected requests, left out: "netdev-wg0" and "wg0" (netns.sh's cleanup deletes interfaces that
# are already gone; the kernel then looks for a module of that name), and sock_diag for inet
# (net-pf-16-proto-4-type-N: `ss` falls back to /proc/net/*, as in upstream's VM, whose kernel
# has no INET_DIAG either).
if [[ -s $modlog ]]; then
  unexpected=$(awk '{ n = $NF; sub(/^--$/, "", n); if (n == "") next; seen[n] = 1; order[++k] = n }
    END { for (i = 1; i <= k; i++) { n = order[i]
            if (n ~ /^netdev-/ || ("netdev-" n) in seen || n ~ /^net-pf-16-proto-4-/ || done[n]++) continue
            print n } }' "$modlog")
  if [[ -n $unexpected ]]; then
    echo "selftest_netns: modules the kernel asked for but could not load (add them to MODULES in scripts/kernel-vm-deps.sh):" >&2
    while read -r m; do echo "  $m"; done <<<"$unexpected" >&2
  fi
fi
exit "$rc"
