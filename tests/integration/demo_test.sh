#!/usr/bin/env bash
# The README's first command, as a newcomer runs it: deploy/demo.sh brings up a coordinator and
# two hosts, every pair pings, and it cleans up after itself. Checks its output: the matrix
# heading printed once (operator review), every pair reachable, each host's status, and no
# namespace or process left behind.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIPPED: needs root" >&2
  exit 77
fi
if [[ -f /run/mesh-demo.env ]]; then
  echo "SKIPPED: a kept demo mesh is running here (deploy/demo.sh --stop ends it)" >&2
  exit 77
fi
pass=0 fail=0
check() { # NAME CMD...
  local name=$1
  shift
  if "$@"; then pass=$((pass + 1)); echo "  ok    $name"; else fail=$((fail + 1)); echo "  FAIL  $name"; fi
}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
timeout 300 bash "$HERE/../../deploy/demo.sh" --hosts 2 >"$out" 2>&1 || rc=$?
sed 's/^/    | /' "$out"
prefix=$(sed -n 's/^coordinator: .*(log: \/tmp\/lab-\(md[0-9]*\)\..*/\1/p' "$out" | head -1)
check "the demo exits 0" test "$rc" = 0
check "the matrix heading is printed once" test "$(grep -c 'overlay ping matrix' "$out")" = 1
check "the heading says how to read it, once" test "$(grep -o 'row = from' "$out" | wc -l)" = 1
check "every pair is reachable" grep -q "all 2 pairs reachable" "$out"
check "each host shows a connected status" test "$(grep -c '(connected)' "$out")" = 2
check "the demo's namespaces are gone" \
  bash -c '[[ -n "$1" ]] && ! ip netns list | grep -q "^$1-"' _ "$prefix"
echo "$pass passed, $fail failed"
((fail == 0))
