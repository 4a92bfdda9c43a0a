#!/usr/bin/env bash
# Runs apply_bench (ours vs wg setconf / wg syncconf) on both data planes and prints both tables:
# the kernel's WireGuard inside the VM (tests/kernel/run-in-vm.sh) and wireguard-go here, each in
# a private network and mount namespace.
#   tests/bench/apply_bench.sh [N] [ROUNDS]      # as root, after building (build/bin)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${MESH_BIN:-$HERE/../../build/bin}
BIN=$(cd "$BIN" && pwd)
N=${1:-10000}
ROUNDS=${2:-3}

case ${APPLY_BENCH_INSIDE:-} in
  kernel)
    ip link add kwbench type wireguard
    exec "$BIN/apply_bench" kernel kwbench "$N" "$ROUNDS"
    ;;
  uapi)
    mount -t tmpfs tmpfs /var/run/wireguard
    ip link set lo up
    wireguard-go -f wgbench >/dev/null 2>&1 &
    pid=$!
    trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
    for _ in $(seq 100); do [[ -S /var/run/wireguard/wgbench.sock ]] && break; sleep 0.05; done
    "$BIN/apply_bench" uapi wgbench "$N" "$ROUNDS"
    exit
    ;;
esac

[[ $(id -u) -eq 0 ]] || { echo "apply_bench: run as root" >&2; exit 1; }
echo "== wireguard-go (this machine)"
mkdir -p /var/run/wireguard
APPLY_BENCH_INSIDE=uapi unshare --net --mount --propagation private "$0" "$N" "$ROUNDS"
echo
echo "== the kernel's WireGuard (Debian's kernel in qemu TCG: emulated CPU, compare ratios only)"
"$HERE/../kernel/run-in-vm.sh" --quiet --timeout 900 --mem 2G --env APPLY_BENCH_INSIDE=kernel \
  --env MESH_BIN="$BIN" -- "$0" "$N" "$ROUNDS"
