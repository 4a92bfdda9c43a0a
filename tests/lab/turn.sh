# shellcheck shell=bash
# tests/lab/turn.sh — a coturn TURN server on a lab host, as the relay labs and benchmarks run it:
# use-auth-secret (the coordinator derives per-node credentials from the same secret), UDP only,
# relay ports 49152-49999, its log and pid file in the lab. SOURCE after tests/lab/lab.sh.
#
#   turn_start HOST ADDR PORT SECRET   coturn on HOST listening and relaying on ADDR:PORT;
#                                      prints its PID (lab_stop-able); waits until it listens
#   turn_secret FILE                   a fresh random secret, written to FILE (0600) for the
#                                      coordinator's --turn-secret-file; prints it
turn_secret() {
  local secret
  secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  (umask 077 && printf '%s\n' "$secret" >"$1")
  printf '%s\n' "$secret"
}

turn_start() {
  local host=$1 addr=$2 port=$3 secret=$4 conf pid
  conf="$LAB_DIR/$host/turnserver-$port.conf"
  cat >"$conf" <<CONF
listening-ip=$addr
relay-ip=$addr
listening-port=$port
min-port=49152
max-port=49999
use-auth-secret
static-auth-secret=$secret
realm=mesh
no-tls
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
  printf '%s\n' "$pid"
}
