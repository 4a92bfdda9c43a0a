# shellcheck shell=bash
# tests/lab/containers.sh — "containers" for the container-subnet labs: network namespaces
# attached to a host's CNI network by invoking the real reference plugins exactly as a container
# runtime does (CNI_COMMAND ADD/CHECK/DEL, the network configuration on stdin, CNI_NETNS,
# CNI_IFNAME, CNI_PATH, CNI_CONTAINERID), with the configuration the host's agent wrote.
# CNI_NETNS is /proc/PID/ns/net of the container's namespace holder: a host's mount namespace
# (private, made before the container) does not see the container's /run/netns bind mount.
# SOURCE after tests/lab/mesh.sh. Needs jq, socat and containernetworking-plugins (/usr/lib/cni).
#
#   ctr_agent_args NAME               mesh-agent options giving host NAME its own CNI conf and
#                                     lease directories under $LAB_DIR/NAME
#   ctr_conflist NAME                 the path of the conflist NAME's agent writes
#   ctr_add HOST CTR                  a namespace CTR (lab.sh host without links) attached to
#                                     HOST's network (CNI ADD); its address in $LAB_DIR/CTR/.ip4
#                                     (.ip6 too when the subnet has IPv6)
#   ctr_cni HOST CTR CMD              runs the bridge plugin for CTR with CMD (ADD, CHECK, DEL);
#                                     CHECK and DEL get ADD's result as prevResult
#   ctr_ip CTR [4|6]                  CTR's address
#   ctr_echo_start NAME               UDP echoes on NAME's ports 7000 (IPv4) and 7006 (IPv6) that
#                                     answer with the sender's address as it arrived
#                                     (SOCAT_PEERADDR)
#   ctr_source_seen FROM ADDR         what the echo at ADDR saw as FROM's source address
#   ctr_routes HOST                   the agent's routes through mesh0 on HOST (protocol 77)
: "${CNI_PLUGIN_DIR:=/usr/lib/cni}"

ctr_agent_args() {
  printf '%s\n' --cni-conf-dir "$LAB_DIR/$1/cni" --cni-ipam-dir "$LAB_DIR/$1/cni-ipam"
}

ctr_conflist() { printf '%s\n' "$LAB_DIR/$1/cni/10-$MESH_INTERFACE.conflist"; }

# The plugin configuration a runtime derives from a conflist for its first plugin: the list's
# cniVersion and name, the plugin's own keys, and for CHECK/DEL the ADD result as prevResult.
_ctr_plugin_conf() { # HOST [PREV_RESULT_FILE]
  local conflist
  conflist=$(ctr_conflist "$1")
  [[ -r $conflist ]] || { lab_log "no CNI configuration at $conflist"; return 1; }
  if [[ -n ${2:-} ]]; then
    jq -c --slurpfile prev "$2" '{cniVersion, name} + .plugins[0] + {prevResult: $prev[0]}' "$conflist"
  else
    jq -c '{cniVersion, name} + .plugins[0]' "$conflist"
  fi
}

ctr_cni() { # HOST CTR CMD [CONFIG_JSON (default: the agent's)]
  local host=$1 ctr=$2 cmd=$3 conf=${4:-}
  if [[ -z $conf ]]; then
    if [[ $cmd == ADD ]]; then
      conf=$(_ctr_plugin_conf "$host") || return 1
    else
      conf=$(_ctr_plugin_conf "$host" "$LAB_DIR/$ctr/cni-result.json") || return 1
    fi
  fi
  printf '%s' "$conf" | lab_exec "$host" env CNI_COMMAND="$cmd" CNI_CONTAINERID="lab-$ctr" \
    CNI_NETNS="/proc/$(lab_holder_pid "$ctr")/ns/net" CNI_IFNAME=eth0 CNI_PATH="$CNI_PLUGIN_DIR" \
    "$CNI_PLUGIN_DIR/bridge"
}

ctr_add() { # HOST CTR
  local host=$1 ctr=$2 result
  [[ -e "$LAB_DIR/$ctr/.holder" ]] || _lab_host_make "$ctr" || return 1
  result=$(ctr_cni "$host" "$ctr" ADD) || { printf '%s\n' "$result" >&2; return 1; }
  printf '%s\n' "$result" >"$LAB_DIR/$ctr/cni-result.json"
  { jq -r '.ips[] | .address' <<<"$result" | grep -v : || true; } | head -1 | cut -d/ -f1 >"$LAB_DIR/$ctr/.ip4"
  { jq -r '.ips[] | .address' <<<"$result" | grep : || true; } | head -1 | cut -d/ -f1 >"$LAB_DIR/$ctr/.ip6"
  [[ -s "$LAB_DIR/$ctr/.ip4" ]]
}

ctr_ip() { # CTR [4|6]
  cat "$LAB_DIR/$1/.ip${2:-4}"
}

ctr_echo_start() { # NAME
  lab_spawn "$1" "$LAB_DIR/$1/echo.log" socat UDP4-RECVFROM:7000,fork \
    SYSTEM:'echo $SOCAT_PEERADDR' >/dev/null
  lab_spawn "$1" "$LAB_DIR/$1/echo6.log" socat UDP6-RECVFROM:7006,fork \
    SYSTEM:'echo $SOCAT_PEERADDR' >/dev/null
  lab_wait_for "the UDP echoes on $1" 5 _ctr_echo_listens "$1"
}
_ctr_echo_listens() { [[ $(lab_exec "$1" ss -Hlun '( sport = :7000 or sport = :7006 )' | grep -c .) -ge 2 ]]; }

# socat reports an IPv6 peer in full (0000:...:0001, in brackets): compare in that form.
_ctr_v6_full() { # ADDR
  local head tail g i n
  local -a H=() T=() out=()
  if [[ $1 == *::* ]]; then head=${1%%::*} tail=${1#*::}; else head=$1 tail=""; fi
  [[ -n $head ]] && IFS=: read -ra H <<<"$head"
  [[ -n $tail ]] && IFS=: read -ra T <<<"$tail"
  n=$((8 - ${#H[@]} - ${#T[@]}))
  for g in "${H[@]}"; do out+=("$(printf '%04x' $((16#$g)))"); done
  for ((i = 0; i < n; i++)); do out+=(0000); done
  for g in "${T[@]}"; do out+=("$(printf '%04x' $((16#$g)))"); done
  (IFS=:; printf '%s\n' "${out[*]}")
}

# The source address the echo at ADDR saw for one datagram from FROM ("" when none answered).
ctr_source_seen() { # FROM ADDR
  local target="$2:7000" seen
  [[ $2 == *:* ]] && target="[$2]:7006"
  seen=$(printf 'who\n' | lab_exec "$1" timeout 3 socat -T2 - "UDP:$target" 2>/dev/null || true)
  seen=${seen%%$'\n'*}
  seen=${seen#[}
  printf '%s\n' "${seen%]}"
}

ctr_source_is() { # FROM ADDR EXPECTED
  local seen want=$3
  seen=$(ctr_source_seen "$1" "$2")
  [[ $want == *:* ]] && want=$(_ctr_v6_full "$want")
  [[ $seen == "$want" ]] || { echo "    $1 -> $2: the receiver saw source '$seen', not '$want'"; return 1; }
}

ctr_routes() { # HOST
  lab_exec "$1" ip -o route show dev "$MESH_INTERFACE" proto 77 | awk '{ print $1 }' | sort
  lab_exec "$1" ip -o -6 route show dev "$MESH_INTERFACE" proto 77 | awk '{ print $1 }' | sort
}
