# bash completion for meshctl (installed as share/bash-completion/completions/meshctl).
# The commands and options are those of agent/meshctl_main.cpp's CLI11 definitions;
# tests/deploy/completion_test.sh compares them with `meshctl [SUB] --help` and fails when they
# drift, so a new command or option is added here too.

_meshctl() {
  local cur prev words cword
  _init_completion || return

  local global="-h --help --version --socket"
  local -A options=(
    [join]="-h --help --token-file --token --fingerprint --hostname --container-subnet"
    [rotate-key]="-h --help"
    [status]="-h --help --json"
    [ping]="-h --help -c --count --timeout --until-direct --json"
    [down]="-h --help"
    [up]="-h --help"
    [logout]="-h --help --force"
    [netcheck]="-h --help --json"
  )
  local commands="join rotate-key status ping down up logout netcheck"

  # The subcommand: the first word that is neither an option nor an option's value.
  local i command="" socket=""
  for ((i = 1; i < cword; i++)); do
    case ${words[i]} in
      --socket) socket=${words[i + 1]:-}; ((i++)) ;;
      --socket=*) socket=${words[i]#--socket=} ;;
      -*) ;;
      *) command=${words[i]}; break ;;
    esac
  done

  case $prev in
    --socket | --token-file) _filedir; return ;;
    --token | --fingerprint | --hostname | -c | --count | --timeout) return ;;
    --container-subnet) mapfile -t COMPREPLY < <(compgen -W "auto none" -- "$cur"); return ;;
  esac

  if [[ -z $command ]]; then
    if [[ $cur == -* ]]; then
      mapfile -t COMPREPLY < <(compgen -W "$global" -- "$cur")
    else
      mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
    fi
    return
  fi
  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "${options[$command]:-}" -- "$cur")
  elif [[ $command == ping ]]; then
    # Peers by hostname, from the agent (nothing when it cannot be asked).
    local peers
    peers=$("${words[0]}" ${socket:+--socket "$socket"} status --json 2>/dev/null |
      sed -n 's/^      "hostname": "\([^"]*\)".*/\1/p')
    mapfile -t COMPREPLY < <(compgen -W "$peers" -- "$cur")
  fi
}
complete -F _meshctl meshctl
