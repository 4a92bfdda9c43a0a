#!/usr/bin/env bash
# The bash completion of meshctl and mesh-coordinator (deploy/completion), driven the way bash
# drives it (COMP_WORDS, COMP_CWORD) under bash-completion: a few spot checks, then every command
# and option the built binaries' --help lists is completed, and nothing else is, so the files
# fail here as soon as they drift from the CLI11 definitions. Unprivileged.
# Usage: MESH_BIN=build/bin tests/deploy/completion_test.sh   (skips, 77, without bash-completion
# or the binaries)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${MESH_BIN:-$ROOT/build/bin}
if [[ ! -r /usr/share/bash-completion/bash_completion ]]; then
  echo "skip: bash-completion is not installed (scripts/install-deps.sh)"
  exit 77
fi
if [[ ! -x $BIN/meshctl || ! -x $BIN/mesh-coordinator ]]; then
  echo "skip: no meshctl or mesh-coordinator in $BIN"
  exit 77
fi
# shellcheck disable=SC1091
source /usr/share/bash-completion/bash_completion
source "$ROOT/deploy/completion/meshctl.bash"
source "$ROOT/deploy/completion/mesh-coordinator.bash"
source "$ROOT/deploy/man/cli_help.sh"

passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); printf 'FAIL: %s\n' "$*"; }

# The completions of the last word of a command line, one a line, sorted.
completions() { # WORD...
  local fn
  fn=$(complete -p "$1" | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
  COMP_WORDS=("$@")
  COMP_CWORD=$(($# - 1))
  COMP_LINE="$*"
  COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  "$fn" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
  ((${#COMPREPLY[@]})) && printf '%s\n' "${COMPREPLY[@]}" | sort -u
}

expect_exactly() { # WANT WORD...: the completions are exactly WANT (space-separated)
  local want=$1 got
  shift
  got=$(completions "$@" | tr '\n' ' ')
  got=${got% }
  [[ "$got" == "$want" ]] && ok || bad "'$*<TAB>' gave '$got', want '$want'"
}
expect_includes() { # WANT WORD...
  local want=$1
  shift
  completions "$@" | grep -qxF -- "$want" && ok || bad "'$*<TAB>' does not offer $want"
}
# The completions of WORD... equal LIST (one a line, any order): none missing, none extra.
expect_same() { # WHAT LIST WORD...
  local what=$1 list=$2 missing extra
  shift 2
  missing=$(comm -23 <(sort -u <<<"$list") <(completions "$@"))
  extra=$(comm -13 <(sort -u <<<"$list") <(completions "$@"))
  if [[ -z $missing && -z $extra ]]; then
    ok
  else
    bad "$what: '$*<TAB>' misses [${missing//$'\n'/ }] and offers what --help does not list [${extra//$'\n'/ }]"
  fi
}

# -- spot checks, as a user types them
expect_exactly "ping" meshctl pi
expect_exactly "logout" meshctl lo
expect_includes "--until-direct" meshctl ping --
expect_includes "--count" meshctl ping -c 3 --
expect_exactly "--force" meshctl logout --f
expect_exactly "status" meshctl --socket /tmp/x.sock st
expect_exactly "auto none" meshctl join --container-subnet ""
expect_exactly "" meshctl ping --timeout ""
expect_exactly "create list revoke" mesh-coordinator token ""
expect_exactly "remove" mesh-coordinator --state-dir /tmp/s nodes rem
expect_includes "--reusable" mesh-coordinator token create --
expect_includes "--metrics-listen" mesh-coordinator serve --me
expect_includes "--state-dir" mesh-coordinator serve --st
expect_exactly "json text" mesh-coordinator serve --log-format ""

# -- in step with --help: every command and option, and no other
cmds=$(cli_subcommands "$BIN/meshctl")
[[ $(wc -l <<<"$cmds") -ge 8 && $cmds == *logout* ]] || bad "meshctl --help lists no logout (or too few commands): $cmds"
expect_same "meshctl's commands" "$cmds" meshctl ""
expect_same "meshctl's options" "$(cli_options "$BIN/meshctl")" meshctl -
for c in $cmds; do
  expect_same "meshctl $c's options" "$(cli_options "$BIN/meshctl" "$c")" meshctl "$c" -
done

expect_same "mesh-coordinator's commands" "$(cli_subcommands "$BIN/mesh-coordinator")" \
  mesh-coordinator ""
expect_same "mesh-coordinator's options" "$(cli_options "$BIN/mesh-coordinator")" \
  mesh-coordinator -
paths=$(cli_command_paths "$BIN/mesh-coordinator")
[[ $(wc -l <<<"$paths") -ge 12 ]] || bad "mesh-coordinator's command tree looks too small: $paths"
while read -r path; do
  # shellcheck disable=SC2086  # the path is words
  subs=$(cli_subcommands "$BIN/mesh-coordinator" $path)
  # shellcheck disable=SC2086
  [[ -n $subs ]] && expect_same "mesh-coordinator $path's commands" "$subs" mesh-coordinator $path ""
  # shellcheck disable=SC2086
  opts=$(cli_options "$BIN/mesh-coordinator" $path)
  if [[ $path == serve ]]; then  # serve also takes the program's own options
    opts+=$'\n'$(cli_options "$BIN/mesh-coordinator")
  fi
  # shellcheck disable=SC2086
  expect_same "mesh-coordinator $path's options" "$opts" mesh-coordinator $path -
done <<<"$paths"

echo "$passed passed, $failed failed"
((failed == 0))
