# bash completion for mesh-coordinator (installed as
# share/bash-completion/completions/mesh-coordinator): serve and the operator commands.
# The commands and options are those of coordinator/main.cpp's CLI11 definitions;
# tests/deploy/completion_test.sh compares them with `mesh-coordinator [COMMAND...] --help`
# and fails when they drift.

_mesh_coordinator() {
  local cur prev words cword
  _init_completion || return

  # Subcommands by the command path before them ("main" is the program itself).
  local -A commands=(
    [main]="serve token nodes credential migrate fingerprint"
    [token]="create list revoke"
    [nodes]="list remove expire"
    [credential]="create"
  )
  local -A options=(
    [main]="-h --help --version --config --state-dir --admin-socket --remote --fingerprint
          --credential-file"
    [serve]="-h --help --listen --stun-listen --store --replica-id --ipv4-prefix --ipv6-prefix
             --container-pool --container-prefix-len --container-prefix-len6 --container-grace
             --turn --turn-secret-file --turn-tls-fingerprint --turn-credential-ttl --tls-cert
             --tls-key --admin-listen --metrics-listen --sync-waiting-per-source --node-key-ttl
             --ephemeral-inactivity
             --log-format --log-level --print-config"
    [token]="-h --help"
    [token create]="-h --help --ttl --reusable --max-uses --tag --ephemeral --coordinator
                    --quiet -q"
    [token list]="-h --help --json"
    [token revoke]="-h --help"
    [nodes]="-h --help"
    [nodes list]="-h --help --json"
    [nodes remove]="-h --help"
    [nodes expire]="-h --help"
    [credential]="-h --help"
    [credential create]="-h --help"
    [migrate]="-h --help --from --to"
    [fingerprint]="-h --help --tls-cert"
  )
  # Options that take a value (the word after them is not a command).
  local valued=" --config --state-dir --admin-socket --remote --fingerprint --credential-file
    --listen --stun-listen --store --replica-id --ipv4-prefix --ipv6-prefix --container-pool
    --container-prefix-len --container-prefix-len6 --container-grace --turn --turn-secret-file
    --turn-tls-fingerprint --turn-credential-ttl --tls-cert --tls-key --admin-listen
    --metrics-listen --node-key-ttl --ephemeral-inactivity --log-format --log-level --ttl
    --max-uses --tag --coordinator --from --to "

  local i path=main word
  for ((i = 1; i < cword; i++)); do
    word=${words[i]}
    if [[ $word == -* ]]; then
      [[ $valued == *" $word "* ]] && ((i++))
      continue
    fi
    [[ " ${commands[$path]:-} " == *" $word "* ]] || continue  # a positional (node, id)
    [[ $path == main ]] && path=$word || path+=" $word"
  done

  case $prev in
    --config | --state-dir | --admin-socket | --credential-file | --turn-secret-file | \
      --tls-cert | --tls-key) _filedir; return ;;
    --log-format) mapfile -t COMPREPLY < <(compgen -W "text json" -- "$cur"); return ;;
    --log-level)
      mapfile -t COMPREPLY < <(compgen -W "trace debug info warn error critical off" -- "$cur")
      return ;;
  esac
  [[ $valued == *" $prev "* ]] && return

  if [[ $cur == -* ]]; then
    local offered=${options[$path]:-}
    [[ $path == serve ]] && offered+=" ${options[main]}"  # serve takes the program's options too
    mapfile -t COMPREPLY < <(compgen -W "$offered" -- "$cur")
  else
    mapfile -t COMPREPLY < <(compgen -W "${commands[$path]:-}" -- "$cur")
  fi
}
complete -F _mesh_coordinator mesh-coordinator
