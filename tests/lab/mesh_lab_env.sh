# shellcheck shell=bash
# tests/lab/mesh_lab_env.sh — the start every mesh lab shares: skip (exit 77, CTest's "skipped")
# unless root, and resolve MESH_BIN (default: build/bin of this checkout) to an absolute path.
# Source it first: source "$HERE/../lab/mesh_lab_env.sh"
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIPPED: needs root (network namespaces, TUN devices)" >&2
  exit 77
fi
: "${MESH_BIN:=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../../build/bin}"
MESH_BIN=$(cd "$MESH_BIN" && pwd)
