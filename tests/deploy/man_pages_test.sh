#!/usr/bin/env bash
# The man pages help2man made from the binaries' --help and --version (deploy/CMakeLists.txt,
# target man): each renders with groff and with man -l, says what it is in NAME, carries the
# version the binary prints, and documents every command the binary's --help tree lists (and a
# few options a reader looks for). Unprivileged.
# Usage: MESH_BIN=build/bin tests/deploy/man_pages_test.sh MAN_DIR   (skips, 77, without groff,
# man or the pages)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${MESH_BIN:-$ROOT/build/bin}
MAN_DIR=${1:-$ROOT/build/deploy/man}
for tool in groff man; do
  command -v "$tool" >/dev/null || { echo "skip: no $tool (scripts/install-deps.sh)"; exit 77; }
done
for page in meshctl.1 mesh-agent.8 mesh-coordinator.8; do
  [[ -s $MAN_DIR/$page ]] || { echo "skip: no $MAN_DIR/$page (build the man target)"; exit 77; }
done
source "$ROOT/deploy/man/cli_help.sh"

passed=0
failed=0
check() { # DESC CMD...
  if "${@:2}"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1"; fi
}
has() { grep -qF -- "$2" <<<"$1"; }

for page in meshctl.1 mesh-agent.8 mesh-coordinator.8; do
  program=${page%.*}
  errors=$(groff -man -Tutf8 -ww -z "$MAN_DIR/$page" 2>&1)
  check "$page renders with groff without warnings ($errors)" test -z "$errors"
  text=$(groff -man -Tutf8 -P-cbou "$MAN_DIR/$page" 2>/dev/null)
  check "$page renders with man -l" bash -c 'MANWIDTH=100 man -l "$1" 2>/dev/null | grep -q "^NAME"' _ "$MAN_DIR/$page"
  check "$page: NAME says $program" has "$(sed -n '/^NAME/,/^[A-Z]/p' <<<"$text")" "$program -"
  check "$page: SYNOPSIS" has "$text" "SYNOPSIS"
  version=$("$BIN/$program" --version | head -1)
  # help2man's footer (.TH): the whole --version line, as the binary prints it.
  check "$page carries the version ($version)" has "$(grep '^\.TH' "$MAN_DIR/$page")" "\"$version\""
  while read -r path; do
    [[ -z $path ]] && continue
    check "$page documents '$program $path'" has "$text" "$program $path"
  done < <(cli_command_paths "$BIN/$program")
  while read -r option; do
    check "$page lists $program's option $option" has "$text" "$option"
  done < <(cli_options "$BIN/$program")
done
meshctl=$(groff -man -Tutf8 -P-cbou "$MAN_DIR/meshctl.1" 2>/dev/null)
check "meshctl.1 has ping's --until-direct" has "$meshctl" "--until-direct"
check "meshctl.1 has logout's --force" has "$meshctl" "--force"
check "meshctl.1 is in section 1, the daemons in 8" \
  bash -c 'grep -q "^\.TH MESHCTL \"1\"" "$1/meshctl.1" && grep -q "^\.TH MESH-AGENT \"8\"" "$1/mesh-agent.8"' _ "$MAN_DIR"

echo "$passed passed, $failed failed"
((failed == 0))
