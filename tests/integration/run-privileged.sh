#!/bin/sh
# Runs a privileged lab binary (argument 1) in fresh network, mount and PID namespaces with a
# private tmpfs on /var/run/wireguard, so it can neither see nor disturb the host's interfaces
# and wireguard-go sockets; every process it starts dies with it.
# Exits 77 (the tests' SKIP_RETURN_CODE) when this machine cannot run it.
set -eu
skip() {
    echo "SKIPPED: $*" >&2
    exit 77
}
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, TUN devices)"
for tool in wireguard-go wg ip unshare; do
    command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed (scripts/install-deps.sh)"
done
[ -c /dev/net/tun ] || skip "/dev/net/tun is missing"
unshare --net --mount true 2>/dev/null || skip "cannot create namespaces here"
mkdir -p /var/run/wireguard
exec unshare --net --mount --pid --fork --kill-child --propagation private sh -c \
    'mount -t tmpfs tmpfs /var/run/wireguard && ip link set lo up && exec "$@"' sh "$@"
