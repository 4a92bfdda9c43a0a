#!/bin/busybox sh
# Stage 2 of the kernel VM's init (docs/KERNEL_VM.md). run-in-vm.sh copies this file into the
# run's control share; the initramfs's stage-1 /init (scripts/kernel-vm-deps.sh) has loaded the
# modules, mounted that share on /ctl and exec'd this as PID 1 under busybox sh, PATH=/bin
# (busybox applets only: anything from the host is called inside the chroot by full path).
#
# It mounts the host's / (read-only 9p, tag mesh_root) on /newroot, gives it fresh proc, sys,
# dev, devpts, and tmpfs on /run, /tmp, /var/tmp, binds the control share to /run/mesh-vm,
# mounts the read-write shares listed in /ctl/rw.list, then chroots into it and runs
# /run/mesh-vm/cmd.sh with the host's bash: stdout to ttyS1, stderr to ttyS2 (directly, or
# through pipes with --pipe), both raw, which run-in-vm.sh streams to its own stdout/stderr. The exit status goes to /ctl/status;
# without that file run-in-vm.sh reports a failed VM.
R=/newroot
OUT=/dev/ttyS1
ERR=/dev/ttyS2

say() { echo "guest-init: $*"; }
fail() {
  say "error: $*"
  echo "kernel VM: guest-init: $*" >"$ERR" 2>/dev/null
  say "powering off"
  poweroff -f
  sleep 10
}

# Raw: no \n -> \r\n, no echo, 8-bit clean.
stty -F "$OUT" raw -echo || fail "stty $OUT"
stty -F "$ERR" raw -echo || fail "stty $ERR"

mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose mesh_root $R ||
  fail "cannot mount the host's / (9p tag mesh_root)"
mount -t proc proc $R/proc || fail "mount proc"
mount -t sysfs sysfs $R/sys || fail "mount sysfs"
mount -t devtmpfs devtmpfs $R/dev || fail "mount devtmpfs"
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts $R/dev/pts || fail "mount devpts"
mount -t tmpfs -o mode=1777 tmpfs $R/dev/shm || fail "mount /dev/shm"
# devtmpfs has no /dev/fd, /dev/std* (bash's process substitution and `cat /dev/stdin` need them).
ln -sfn /proc/self/fd $R/dev/fd
ln -sfn /proc/self/fd/0 $R/dev/stdin
ln -sfn /proc/self/fd/1 $R/dev/stdout
ln -sfn /proc/self/fd/2 $R/dev/stderr
mount -t tmpfs -o mode=0755 tmpfs $R/run || fail "mount /run"
mount -t tmpfs -o mode=1777 tmpfs $R/tmp || fail "mount /tmp"
if [ -d $R/var/tmp ]; then mount -t tmpfs -o mode=1777 tmpfs $R/var/tmp || fail "mount /var/tmp"; fi
mkdir -p $R/run/mesh-vm $R/run/lock $R/run/netns
mount --bind /ctl $R/run/mesh-vm || fail "bind the control share"

# Read-write shares: "TAG PATH" per line.
if [ -f /ctl/rw.list ]; then
  while read -r tag path; do
    [ -n "$tag" ] || continue
    mkdir -p "$R$path" 2>/dev/null
    mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=none "$tag" "$R$path" ||
      fail "cannot mount the read-write share $path (9p tag $tag)"
  done </ctl/rw.list
fi

hostname mesh-vm
ip link set lo up || fail "lo up"

say "running /run/mesh-vm/cmd.sh"
if [ -f /ctl/pipe ]; then
  # --pipe: CMD writes into pipes, as under ctest on the host (no colour, block-buffered).
  mkfifo /pipe-out /pipe-err || fail "mkfifo"
  cat /pipe-out >"$OUT" &
  cat /pipe-err >"$ERR" &
  chroot $R /bin/bash /run/mesh-vm/cmd.sh </dev/null >/pipe-out 2>/pipe-err
  rc=$?
  wait
else
  chroot $R /bin/bash /run/mesh-vm/cmd.sh </dev/null >"$OUT" 2>"$ERR"
  rc=$?
fi
say "command exited with status $rc"
echo "$rc" >/ctl/status.tmp && mv /ctl/status.tmp /ctl/status || fail "cannot write the exit status"
sync
poweroff -f
sleep 10
