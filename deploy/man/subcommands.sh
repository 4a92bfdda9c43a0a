#!/usr/bin/env bash
# Writes a help2man --include file with one section per subcommand of PROGRAM: its usage,
# description and options exactly as `PROGRAM SUB --help` prints them, so the man page covers
# every command, not only the top-level --help. The program runs by its bare name (its folder
# put first on PATH), so the usage lines name "meshctl", not the build's path.
# Usage: deploy/man/subcommands.sh PROGRAM OUTPUT
set -euo pipefail
program=$1
output=$2
source "$(dirname "$0")/cli_help.sh"
name=$(basename "$program")
folder=$(cd "$(dirname "$program")" && pwd)
run() { PATH="$folder:$PATH" "$name" "$@"; }
# roff: a backslash is \e, and a line may not start with . or ' (a request)
roff_text() { sed -e 's/\\/\\e/g' -e 's/^\([.'"'"']\)/\\\&\1/'; }
{
  echo "[COMMANDS]"
  while read -r path; do
    [[ -n $path ]] || continue
    echo ".SS \"$name $path\""
    echo ".nf"
    # shellcheck disable=SC2086  # the path is words: "token create"
    run $path --help 2>/dev/null | roff_text
    echo ".fi"
  done < <(cli_command_paths run)
} >"$output.tmp"
mv "$output.tmp" "$output"
