# shellcheck shell=bash
# tests/lab/turn.sh — a coturn TURN server on a lab host, as the relay labs and benchmarks run it:
# use-auth-secret (the coordinator derives per-node credentials from the same secret), UDP and
# TCP on one port (TLS on a second one when asked), relay ports 49152-49999, its log, pid file
# and certificate in the lab. SOURCE after tests/lab/lab.sh.
#
#   turn_start HOST ADDR PORT SECRET [TLS_PORT]
#                                      coturn on HOST listening (UDP and TCP) and relaying on
#                                      ADDR:PORT, and with TLS_PORT also TLS there, with a
#                                      self-signed certificate made for it; prints its PID
#                                      (lab_stop-able); waits until it listens
#   turn_tls_fingerprint HOST          that certificate's sha256:HEX (for the coordinator's
#                                      --turn-tls-fingerprint)
#   turn_secret FILE                   a fresh random secret, written to FILE (0600) for the
#                                      coordinator's --turn-secret-file; prints it
turn_secret() {
  local secret
  secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  (umask 077 && printf '%s\n' "$secret" >"$1")
  printf '%s\n' "$secret"
}

turn_tls_fingerprint() {
  local fp
  fp=$(openssl x509 -in "$LAB_DIR/$1/turn-cert.pem" -noout -fingerprint -sha256) || return 1
  printf 'sha256:%s\n' "${fp#*=}"
}

_turn_tls_conf() { # HOST TLS_PORT: the config lines for TLS on TLS_PORT (a certificate made once)
  local dir="$LAB_DIR/$1"
  if [[ ! -s $dir/turn-cert.pem ]]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
      -subj "/CN=turn.lab" -keyout "$dir/turn-key.pem" -out "$dir/turn-cert.pem" >/dev/null 2>&1 ||
      { lab_log "turn_start: openssl cannot make a certificate"; return 1; }
  fi
  printf 'tls-listening-port=%s\ncert=%s\npkey=%s\n' "$2" "$dir/turn-cert.pem" "$dir/turn-key.pem"
}

turn_start() {
  local host=$1 addr=$2 port=$3 secret=$4 tls_port=${5:-} conf pid tls=no-tls
  conf="$LAB_DIR/$host/turnserver-$port.conf"
  if [[ -n $tls_port ]]; then
    tls=$(_turn_tls_conf "$host" "$tls_port") || return 1
  fi
  cat >"$conf" <<CONF
listening-ip=$addr
relay-ip=$addr
listening-port=$port
min-port=49152
max-port=49999
use-auth-secret
static-auth-secret=$secret
realm=mesh
$tls
no-dtls
no-cli
fingerprint
no-software-attribute
log-file=stdout
simple-log
pidfile=$LAB_DIR/$host/turnserver-$port.pid
CONF
  pid=$(lab_spawn "$host" "$LAB_DIR/$host/coturn.log" turnserver -c "$conf") || return 1
  lab_wait_for "coturn on $addr:$port" 5 bash -c \
    "[[ -n \"\$(ip netns exec $(lab_ns "$host") ss -Hlun sport = :$port)\" ]]" || return 1
  if [[ -n $tls_port ]]; then
    lab_wait_for "coturn's TLS on $addr:$tls_port" 5 bash -c \
      "[[ -n \"\$(ip netns exec $(lab_ns "$host") ss -Hltn sport = :$tls_port)\" ]]" || return 1
  fi
  printf '%s\n' "$pid"
}
