#!/usr/bin/env bash
# Installs the Debian packages the build, the test suite and the demo need.
# Idempotent: packages already present are skipped, apt runs only when something is missing.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake ninja-build pkg-config clang-format
  libboost-dev libsodium-dev libprotobuf-dev protobuf-compiler
  libgrpc++-dev protobuf-compiler-grpc libspdlog-dev libfmt-dev catch2
  libmnl-dev libsqlite3-dev libcli11-dev libssl-dev nlohmann-json3-dev
  # sd_notify for Type=notify units, systemd-analyze for the units' check (issue 15)
  libsystemd-dev systemd python3
  # real parts used by the agent, the labs and the demo
  wireguard-tools wireguard-go iproute2 iputils-ping util-linux procps nftables
  # NAT labs (tests/lab/nat.sh, tests/integration/nat_lab_selftest.sh)
  conntrack socat
  # a real STUN server for the agent's STUN client (tests/integration/nat_mesh_test.sh)
  coturn
  # container subnets (issue 12): the real CNI plugins the labs attach "containers" with,
  # libnftables for the agent's masquerade rule, jq for the labs' reading of the agent's conflist
  containernetworking-plugins libnftables-dev jq
  # several coordinators on etcd (issue 14): the server the tests start, and etcd's v3 API
  # .proto files with the ones they import (gogoproto, google.api annotations)
  etcd-server etcd-client golang-etcd-server-dev golang-github-gogo-protobuf-dev
  golang-github-grpc-ecosystem-grpc-gateway-dev
  # the Kubernetes manifests' shape check (tests/deploy/kubernetes_manifests_test.py)
  python3-yaml
  # the observability lab (tests/integration/observe_test.sh): a real Prometheus parser, a gRPC
  # health client, and a real browser driven over the DevTools protocol
  python3-prometheus-client python3-grpcio python3-websocket chromium curl
  # meshctl logout, completion and man pages (issue 15): man pages made from --help, the
  # renderer and man(1) their test reads them with, and bash-completion for the completion test
  help2man groff-base man-db bash-completion
  # libFuzzer harnesses (tests/fuzz, -DMESH_FUZZ=ON): the runtime is only a Recommends of clang
  clang libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run as root" >&2
  exit 1
fi

echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
