#!/usr/bin/env bash
# Runs one command inside a VM booted with Debian's kernel (which has the wireguard module), under
# qemu TCG, and exits with the command's exit status (docs/KERNEL_VM.md).
#
#   tests/kernel/run-in-vm.sh [options] -- CMD [ARGS...]
#
#   --timeout S     whole-VM limit in seconds, boot included (default 300)
#   --mem M         guest memory, qemu -m syntax (default 1G)
#   --cpus N        vCPUs (default 1; TCG runs them on host threads)
#   --env K=V       export K=V for CMD (repeatable)
#   --rw DIR        share host DIR read-write at the same path (repeatable; the rest of / is
#                   read-only, and /tmp, /var/tmp, /run are fresh tmpfs in the guest). The
#                   checkout, the working directory and absolute paths among CMD's arguments are
#                   shared this way by themselves when they live under /tmp, /var/tmp or /run.
#   --pipe          CMD's stdout/stderr are pipes (as under ctest: no colour, block-buffered, so
#                   output comes when the program flushes) instead of the guest's serial ttys
#   --keep          keep the run's folder (console log, command file) even on success
#   -q, --quiet     no progress line on stderr
#
# Inside: the host's / (read-only 9p) is the root, so host-built binaries, wg and ip run
# unchanged; CMD runs as root with bash, in the caller's working directory when the guest can
# see it (else /), with PATH, HOME=/root, TERM=dumb, NO_COLOR=1, WG_COLOR_MODE=never,
# MESH_KERNEL_VM=1 and the --env's. Its stdout and stderr stream live to this script's stdout
# and stderr (serial ports in raw mode: they are ttys in the guest, so output is line-buffered).
#
# Exit status: CMD's; 125 when the VM failed to boot, crashed, or timed out (a message on stderr
# says which and gives the console log's path, which is then kept). The kernel and initramfs come
# from scripts/kernel-vm-deps.sh (run automatically when missing; MESH_KVM_CACHE moves the cache).
# Concurrent runs are independent (a private folder each).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
CACHE=${MESH_KVM_CACHE:-/var/cache/mesh-kernel-vm}
KDIR=${MESH_KVM_KERNEL_DIR:-$CACHE/current}
VM_FAIL=125

timeout_s=300 mem=1G cpus=1 keep=0 quiet=0 pipe=0
envs=() rws=()
usage() { sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
die() { echo "run-in-vm: $*" >&2; exit "$VM_FAIL"; }
while (($#)); do
  case $1 in
    --timeout) timeout_s=${2:?}; shift 2 ;;
    --mem) mem=${2:?}; shift 2 ;;
    --cpus) cpus=${2:?}; shift 2 ;;
    --env) [[ ${2:-} == *=* ]] || die "--env wants K=V"; envs+=("$2"); shift 2 ;;
    --rw) [[ -d ${2:-} ]] || die "--rw ${2:-}: not a folder"; rws+=("$(cd "$2" && pwd -P)"); shift 2 ;;
    --keep) keep=1; shift ;;
    --pipe) pipe=1; shift ;;
    -q | --quiet) quiet=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    *) usage >&2; die "unknown option: $1 (the command goes after --)" ;;
  esac
done
(($#)) || { usage >&2; die "no command (tests/kernel/run-in-vm.sh [options] -- CMD [ARGS...])"; }
[[ $timeout_s =~ ^[0-9]+$ && $timeout_s -gt 0 ]] || die "--timeout wants whole seconds"

# ---- what the guest would not see --------------------------------------------------------------
# The guest mounts fresh tmpfs on /tmp, /var/tmp and /run, hiding the host's. Whatever the command
# needs from there -- this checkout, the working directory (a build folder), absolute paths among
# its arguments -- is shared in read-write at the same path: its top folder there (/tmp/X).
shadowed_top() { # PATH: the folder right under /tmp, /var/tmp or /run that holds PATH, if any
  local p
  p=$(readlink -f -- "$1" 2>/dev/null) || return 1
  [[ -e $p ]] || return 1
  case $p in
    /var/tmp/*/* | /var/tmp/*) p=/var/tmp/$(cut -d/ -f4 <<<"$p") ;;
    /tmp/* | /run/*) p=$(cut -d/ -f1-3 <<<"$p") ;;
    *) return 1 ;;
  esac
  [[ -d $p ]] && printf '%s\n' "$p"
}
share_if_shadowed() {
  local top existing
  top=$(shadowed_top "$1") || return 0
  for existing in "${rws[@]}"; do [[ $existing == "$top" ]] && return 0; done
  rws+=("$top")
}
share_if_shadowed "$repo"
share_if_shadowed "$PWD"
for arg in "$@"; do [[ $arg == /* ]] && share_if_shadowed "$arg"; done

# ---- kernel, initramfs, qemu ----------------------------------------------------------------
if [[ ! -s $KDIR/vmlinux || ! -s $KDIR/initramfs.cpio ]] || ! command -v qemu-system-x86_64 >/dev/null; then
  [[ -z ${MESH_KVM_KERNEL_DIR:-} ]] || die "MESH_KVM_KERNEL_DIR=$KDIR has no vmlinux and initramfs.cpio"
  echo "run-in-vm: kernel VM not prepared; running scripts/kernel-vm-deps.sh" >&2
  bash "$repo/scripts/kernel-vm-deps.sh" >&2 || die "scripts/kernel-vm-deps.sh failed"
fi
KDIR=$(cd "$KDIR" && pwd -P) || die "no $KDIR"

# ---- the run's folder: control share (command, guest init, exit status) and console log -------
run=$(mktemp -d "${TMPDIR:-/tmp}/mesh-kvm.XXXXXX") || die "mktemp failed"
ctl=$run/ctl
mkdir "$ctl"
cp "$here/guest-init.sh" "$ctl/guest-init.sh"
{
  echo "# generated by run-in-vm.sh"
  echo "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  echo "export HOME=/root TERM=dumb NO_COLOR=1 WG_COLOR_MODE=never LANG=C.UTF-8 MESH_KERNEL_VM=1"
  for kv in "${envs[@]}"; do printf 'export %q=%q\n' "${kv%%=*}" "${kv#*=}"; done
  printf 'cd %q 2>/dev/null || cd /\n' "$PWD"
  printf 'exec'
  printf ' %q' "$@"
  printf '\n'
} >"$ctl/cmd.sh"

virtfs=(
  -virtfs "local,path=/,mount_tag=mesh_root,security_model=none,readonly=on,multidevs=remap"
  -virtfs "local,path=$ctl,mount_tag=mesh_ctl,security_model=none,multidevs=remap"
)
: >"$ctl/rw.list"
((pipe)) && : >"$ctl/pipe"
for i in "${!rws[@]}"; do
  virtfs+=(-virtfs "local,path=${rws[$i]},mount_tag=mesh_rw$i,security_model=none,multidevs=remap")
  echo "mesh_rw$i ${rws[$i]}" >>"$ctl/rw.list"
done

# stdout: ttyS1 through qemu's stdio chardev (qemu's fd 1 is ours). stderr: ttyS2 into a FIFO
# that a cat copies to our fd 2 (a file chardev reopening /dev/stderr would keep an offset of its
# own and overwrite, or be overwritten by, what else goes to a log file there).
mkfifo "$run/stderr.fifo" || die "mkfifo failed"
errdev=(-chardev "file,id=err,path=$run/stderr.fifo")

qemu=(
  qemu-system-x86_64 -accel tcg -M pc -cpu max -smp "$cpus" -m "$mem"
  -nodefaults -no-user-config -display none -no-reboot
  -kernel "$KDIR/vmlinux" -initrd "$KDIR/initramfs.cpio"
  -append "console=ttyS0 panic=-1 oops=panic loglevel=4 8250.nr_uarts=4 random.trust_cpu=on ${MESH_KVM_APPEND:-}"
  -serial "file:$run/console.log"
  -chardev stdio,id=out -serial chardev:out
  "${errdev[@]}" -serial chardev:err
  "${virtfs[@]}"
)
echo "${qemu[*]}" >"$run/qemu.cmdline"

((quiet)) || echo "run-in-vm: booting $(basename "$(dirname "$KDIR/vmlinux")") (timeout ${timeout_s}s, log $run/console.log): $*" >&2
start=$(date +%s.%N)
# timeout puts itself in its own process group, so a Ctrl-C on our terminal does not reach it:
# forward INT/TERM to it, it passes them on to qemu.
cat "$run/stderr.fifo" >&2 &
catpid=$!
timeout -k 5 "$timeout_s" "${qemu[@]}" </dev/null &
qpid=$!
interrupted=""
trap 'interrupted=INT; kill -TERM "$qpid" 2>/dev/null' INT
trap 'interrupted=TERM; kill -TERM "$qpid" 2>/dev/null' TERM HUP
wait "$qpid"
qrc=$?
while kill -0 "$qpid" 2>/dev/null; do wait "$qpid"; qrc=$?; done # wait again after a trapped signal
trap - INT TERM HUP
# If qemu never opened the FIFO, cat still waits in open(): a read-write open of our own never
# blocks, and closing it gives cat its end of file.
exec 8<>"$run/stderr.fifo"
exec 8>&-
wait "$catpid"
elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')

if [[ -n $interrupted ]]; then
  echo "run-in-vm: interrupted (SIG$interrupted), VM stopped after ${elapsed}s" >&2
  rm -rf "$run"
  [[ $interrupted == INT ]] && exit 130
  exit 143
fi
fail() {
  echo "run-in-vm: $*" >&2
  if [[ -s $run/console.log ]]; then
    echo "run-in-vm: last lines of the console log:" >&2
    tail -n 15 "$run/console.log" | sed 's/^/  | /' >&2
  fi
  echo "run-in-vm: console log kept: $run/console.log" >&2
  exit "$VM_FAIL"
}
if [[ -f $ctl/status ]]; then
  rc=$(<"$ctl/status")
  [[ $rc =~ ^[0-9]+$ ]] || fail "unreadable exit status '$rc' (after ${elapsed}s)"
  ((quiet)) || echo "run-in-vm: exit status $rc after ${elapsed}s" >&2
  if ((keep)); then echo "run-in-vm: kept $run" >&2; else rm -rf "$run"; fi
  exit "$rc"
fi
panic=$(grep -a -m1 -o 'Kernel panic - .*' "$run/console.log" 2>/dev/null | tr -d '\r')
[[ -z $panic ]] || fail "the guest kernel panicked after ${elapsed}s: $panic"
case $qrc in
  124 | 137) fail "timed out after ${timeout_s}s (the command did not finish; --timeout to allow more)" ;;
  0) fail "the VM powered off without an exit status after ${elapsed}s (failed boot, crash or panic)" ;;
  *) fail "qemu failed (exit $qrc) after ${elapsed}s, no exit status (failed boot, crash or panic)" ;;
esac
