# Reads a CLI11 program's --help (sourced; bash). What the man pages and the completion test
# take the commands and options from, so neither keeps its own list.
#   cli_subcommands PROGRAM [SUB...]   the subcommands `PROGRAM SUB... --help` lists, one a line
#   cli_options PROGRAM [SUB...]       its options (every name: -c and --count), one a line
#   cli_command_paths PROGRAM          every subcommand path ("token create"), depth first

# CLI11 prints "Options:", "Subcommands:" (and "Positionals:") headings, then entries indented
# by two spaces; a wrapped description is indented further.
_cli_help_section() { # SECTION PROGRAM [SUB...]
  local section=$1
  shift
  "$@" --help 2>/dev/null | awk -v want="$section:" '
    /^[A-Za-z][A-Za-z ]*:$/ { in_section = ($0 == want); next }
    /^[^ ]/ { in_section = 0 }
    in_section && /^  [^ ]/ { print $1 }'
}

cli_subcommands() { _cli_help_section Subcommands "$@"; }

cli_options() { # a name is cut at "=" ("--config=/etc/mesh/coordinator.toml": its default)
  _cli_help_section Options "$@" | tr ',' '\n' | sed 's/=.*//' | grep '^-'
}

cli_command_paths() { # PROGRAM [PREFIX...]
  local program=$1 sub
  shift
  for sub in $(cli_subcommands "$program" "$@"); do
    printf '%s\n' "$*${*:+ }$sub"
    cli_command_paths "$program" "$@" "$sub"
  done
}
