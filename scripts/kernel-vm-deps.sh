#!/usr/bin/env bash
# Prepares the kernel VM that tests/kernel/run-in-vm.sh boots (docs/KERNEL_VM.md): Debian's own
# kernel, which has WireGuard as a module, booted under qemu TCG.
#
#   scripts/kernel-vm-deps.sh          # as root; idempotent
#
# Steps, each skipped when its output is already there (a second run takes a few seconds and
# downloads nothing):
#   1. apt-get installs qemu-system-x86 busybox-static cpio xz-utils kmod, and the tools the
#      kernel's netns.sh selftest runs (iproute2 iputils-ping wireguard-tools iperf3 ncat
#      iptables) (only the missing ones)
#   2. resolves the kernel package that linux-image-amd64 depends on (linux-image-6.1.0-NN-amd64)
#      and `apt-get download`s it into the cache
#   3. dpkg -x's it, runs depmod -b (the .deb ships no modules.dep)
#   4. extracts the uncompressed ELF vmlinux from vmlinuz (the xz stream, as extract-vmlinux does)
#   5. builds an uncompressed cpio initramfs: busybox-static, the modules (wireguard, 9p, virtio,
#      veth, dummy, netfilter and their dependencies, in load order) and a stage-1 /init
#   6. fetches linux-source-X.Y at the image's version and keeps only its
#      tools/testing/selftests/wireguard (netns.sh, for tests/kernel/selftest_netns.sh)
#
# Cache: $MESH_KVM_CACHE (default /var/cache/mesh-kernel-vm, outside the work tree so that fresh
# clones and build-dir wipes keep it), one folder per kernel version, and `current` -> the one
# run-in-vm.sh boots:
#   $MESH_KVM_CACHE/6.1.0-NN-amd64/{*.deb, root/, vmlinux, initramfs.cpio, initramfs.sig,
#                                   selftests/{source, wireguard/}}
set -euo pipefail

CACHE=${MESH_KVM_CACHE:-/var/cache/mesh-kernel-vm}
PACKAGES=(qemu-system-x86 busybox-static cpio xz-utils kmod)
# What the kernel's tools/testing/selftests/wireguard/netns.sh runs inside the VM (from the
# host's / over 9p): ip and ss, ping, wg, iperf3, ncat, iptables (Debian's: the nft backend).
PACKAGES+=(iproute2 iputils-ping wireguard-tools iperf3 ncat iptables)
# Modules the VM loads at boot; each comes with its dependencies (modprobe --show-depends).
# wireguard: the device under test. 9p/9pnet_virtio/virtio_pci: the host's / and the control
# share. veth: namespaces joined by a veth pair. Add here what a new test needs (the initramfs
# is rebuilt when this list or the stage-1 init changes).
MODULES=(virtio_pci 9pnet_virtio 9p wireguard veth)
# The kernel's netns.sh selftest: a dummy interface; iptables (nft backend) in the filter, nat
# and mangle tables with -m length, -j SNAT, -j MARK; nf_conntrack's sysctls. (The guest has no
# /lib/modules, so the kernel's own request_module() cannot load these on demand.)
MODULES+=(dummy nf_conntrack nf_nat nf_tables nft_compat nft_chain_nat xt_nat xt_mark xt_length)

log() { echo "kernel-vm-deps: $*"; }
die() { echo "kernel-vm-deps: error: $*" >&2; exit 1; }
t0=$SECONDS
trap 'echo "kernel-vm-deps: error: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

# ---- 1. host packages -----------------------------------------------------------------------
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
apt_updated=0
apt_update() {
  ((apt_updated)) && return 0
  log "apt-get update"
  apt-get update -qq
  apt_updated=1
}
if ((${#missing[@]})); then
  [[ $(id -u) -eq 0 ]] || die "missing packages (${missing[*]}); run as root"
  export DEBIAN_FRONTEND=noninteractive
  apt_update
  log "installing ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "packages present (${PACKAGES[*]})"
fi

mkdir -p "$CACHE"
# One preparation at a time (concurrent test runs may all call this).
exec 9>"$CACHE/.lock"
flock 9

# ---- 2. resolve and download the kernel package ---------------------------------------------
resolve_kernel() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1
}
pkg=$(resolve_kernel)
if [[ -z $pkg ]]; then
  apt_update
  pkg=$(resolve_kernel)
fi
[[ -n $pkg ]] || die "cannot resolve the kernel package: apt-cache depends linux-image-amd64 lists no linux-image-*-amd64"
kver=${pkg#linux-image-}
dir=$CACHE/$kver
mkdir -p "$dir"
log "kernel $kver ($pkg) in $dir"

deb=$(compgen -G "$dir/${pkg}_*.deb" | head -n1 || true)
if [[ -z $deb ]]; then
  tmp=$(mktemp -d "$dir/.download.XXXXXX")
  # apt downloads as its sandbox user _apt when it can write the folder (else it warns).
  chmod 755 "$tmp"
  chown _apt "$tmp" 2>/dev/null || true
  log "downloading $pkg"
  td=$SECONDS
  if ! (cd "$tmp" && apt-get download -q "$pkg" 2>&1 | sed 's/^/  /'); then
    # The package lists may name a version the mirror no longer has: refresh once and retry.
    apt_update
    (cd "$tmp" && apt-get download -q "$pkg" 2>&1 | sed 's/^/  /') || die "apt-get download $pkg failed"
  fi
  f=$(compgen -G "$tmp/${pkg}_*.deb" | head -n1 || true)
  [[ -n $f ]] || die "apt-get download left no ${pkg}_*.deb"
  mv "$f" "$dir/"
  rm -rf "$tmp"
  deb=$dir/${f##*/}
  log "downloaded ${deb##*/} ($(du -m "$deb" | cut -f1) MiB) in $((SECONDS - td)) s"
else
  log "have ${deb##*/}"
fi

# ---- 3. extract, depmod ---------------------------------------------------------------------
root=$dir/root
if [[ ! -f $root/lib/modules/$kver/modules.dep ]]; then
  log "extracting ${deb##*/}"
  rm -rf "$root" "$root.tmp"
  dpkg -x "$deb" "$root.tmp"
  [[ -f $root.tmp/boot/vmlinuz-$kver && -d $root.tmp/lib/modules/$kver ]] ||
    die "${deb##*/} has no boot/vmlinuz-$kver or lib/modules/$kver"
  log "depmod -b $root $kver"
  depmod -b "$root.tmp" "$kver"
  mv "$root.tmp" "$root"
else
  log "have $root (modules.dep present)"
fi

# ---- 4. uncompressed vmlinux (boots about twice as fast as the bzImage) ----------------------
vmlinux=$dir/vmlinux
is_elf() { [[ -s $1 && $(head -c4 "$1" | od -An -tx1 | tr -d ' \n') == 7f454c46 ]]; }
if ! is_elf "$vmlinux"; then
  vmlinuz=$root/boot/vmlinuz-$kver
  log "extracting vmlinux from ${vmlinuz##*/}"
  ok=0
  # Every offset of the xz magic (FD 37 7A 58 5A 00); the first that decompresses to an ELF wins.
  # (tail dies of SIGPIPE when xz stops at the stream's end: only xz's status counts.)
  while read -r off; do
    if { tail -c +"$((off + 1))" "$vmlinuz" || true; } | xz -dc --single-stream >"$vmlinux.tmp" 2>/dev/null &&
      is_elf "$vmlinux.tmp"; then
      ok=1
      break
    fi
  done < <(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$vmlinuz" | cut -d: -f1)
  ((ok)) || { rm -f "$vmlinux.tmp"; die "no xz-compressed ELF found in $vmlinuz"; }
  mv "$vmlinux.tmp" "$vmlinux"
  log "vmlinux: $(($(stat -c %s "$vmlinux") >> 20)) MiB"
else
  log "have vmlinux"
fi

# ---- 5. initramfs ---------------------------------------------------------------------------
# Stage 1, the initramfs's /init: loads the modules, mounts the control share (9p tag mesh_ctl)
# and hands over to the stage-2 script there, which run-in-vm.sh copies in for each run
# (tests/kernel/guest-init.sh), so changing stage 2 needs no rebuild. Any failure here powers
# off, and run-in-vm.sh, finding no exit status, reports a failed boot (the console log says why).
read -r -d '' STAGE1 <<'EOF' || true
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
fail() { echo "stage1: $*" >&2; echo "stage1: powering off" >&2; poweroff -f; sleep 5; }
mkdir -p /proc /sys /dev /ctl /newroot
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r m; do
  [ -n "$m" ] || continue
  insmod "/lib/modules/$m" || fail "insmod $m failed"
done </modules.list
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=none mesh_ctl /ctl ||
  fail "cannot mount the control share (9p tag mesh_ctl)"
[ -f /ctl/guest-init.sh ] || fail "no /ctl/guest-init.sh"
exec sh /ctl/guest-init.sh
EOF

# The modules, dependencies first, without duplicates ("builtin X" lines need nothing).
deps=""
for m in "${MODULES[@]}"; do
  deps+=$(modprobe -d "$root" -S "$kver" --show-depends "$m") || die "modprobe --show-depends $m failed"
  deps+=$'\n'
done
mapfile -t insmods < <(awk '$1 == "insmod" && !seen[$2]++ { print $2 }' <<<"$deps")
((${#insmods[@]})) || die "no modules resolved"
sig=$( (printf '%s\n' "$STAGE1" "${insmods[@]}"; dpkg-query -W -f='${Version}' busybox-static) | sha256sum | cut -d' ' -f1)
initrd=$dir/initramfs.cpio
if [[ ! -s $initrd || ! -f $dir/initramfs.sig || $(cat "$dir/initramfs.sig") != "$sig" ]]; then
  log "building initramfs (${#insmods[@]} modules)"
  stage=$(mktemp -d "$dir/.initramfs.XXXXXX")
  trap 'rm -rf "$stage"' EXIT
  mkdir -p "$stage"/{bin,lib/modules,proc,sys,dev,ctl,newroot,tmp}
  cp /bin/busybox "$stage/bin/busybox"
  : >"$stage/modules.list"
  for ko in "${insmods[@]}"; do
    b=${ko##*/}
    cp "$ko" "$stage/lib/modules/$b"
    echo "$b" >>"$stage/modules.list"
    log "  + ${b%.ko}"
  done
  printf '%s\n' "$STAGE1" >"$stage/init"
  chmod 755 "$stage/init" "$stage/bin/busybox"
  # No /dev/console node needed: the kernel's built-in initramfs has one, ours is unpacked over it.
  (cd "$stage" && { find . -mindepth 1 | LC_ALL=C sort; } |
    cpio -o -H newc --quiet -R 0:0 >"$initrd.tmp")
  mv "$initrd.tmp" "$initrd"
  echo "$sig" >"$dir/initramfs.sig"
  rm -rf "$stage"
  trap - EXIT
  log "initramfs: $(($(stat -c %s "$initrd") >> 10)) KiB"
else
  log "have initramfs (${#insmods[@]} modules, up to date)"
fi

# ---- 6. the kernel's own WireGuard selftest (tools/testing/selftests/wireguard) ---------------
# From Debian's linux-source-X.Y at the booted image's version (the same upstream release and
# Debian patches as the kernel under test). Streamed out of the .deb: the ~140 MiB .deb is
# deleted afterwards and the ~1.3 GiB tarball never lands, so only the folder (164 KiB) stays.
# tests/kernel/selftest_netns.sh runs its netns.sh in the VM.
selftests=$dir/selftests
kimg_ver=$(dpkg-deb -f "$deb" Version)
src_pkg=linux-source-$(cut -d. -f1,2 <<<"$kver")
if [[ -f $selftests/wireguard/netns.sh && -f $selftests/source && $(<"$selftests/source") == "$src_pkg $kimg_ver" ]]; then
  log "have the WireGuard selftest ($src_pkg $kimg_ver)"
else
  rm -rf "$selftests" "$dir"/.selftests.*
  tmp=$(mktemp -d "$dir/.selftests.XXXXXX")
  chmod 755 "$tmp"
  chown _apt "$tmp" 2>/dev/null || true
  log "downloading $src_pkg=$kimg_ver (~140 MiB, for tools/testing/selftests/wireguard only)"
  td=$SECONDS
  if ! (cd "$tmp" && apt-get download -q "$src_pkg=$kimg_ver" 2>&1 | sed 's/^/  /'); then
    apt_update
    (cd "$tmp" && apt-get download -q "$src_pkg=$kimg_ver" 2>&1 | sed 's/^/  /') ||
      die "apt-get download $src_pkg=$kimg_ver failed (the selftest must match the booted kernel)"
  fi
  sdeb=$(compgen -G "$tmp/${src_pkg}_*.deb" | head -n1 || true)
  [[ -n $sdeb ]] || die "apt-get download left no ${src_pkg}_*.deb"
  log "downloaded ${sdeb##*/} ($(du -m "$sdeb" | cut -f1) MiB) in $((SECONDS - td)) s; extracting tools/testing/selftests/wireguard"
  td=$SECONDS
  # .deb -> data tar -> usr/src/linux-source-X.Y.tar.xz -> the one folder. GNU tar reads each
  # archive to its end, so no stage is cut short (no SIGPIPE under pipefail).
  mkdir "$tmp/out"
  dpkg-deb --fsys-tarfile "$sdeb" |
    tar -xOf - --wildcards "*/usr/src/$src_pkg.tar.xz" |
    tar -xJf - -C "$tmp/out" --strip-components=4 "$src_pkg/tools/testing/selftests/wireguard"
  [[ -f $tmp/out/wireguard/netns.sh ]] || die "$src_pkg has no tools/testing/selftests/wireguard/netns.sh"
  echo "$src_pkg $kimg_ver" >"$tmp/out/source"
  mv "$tmp/out" "$selftests"
  rm -rf "$tmp"
  log "selftest in $selftests/wireguard ($(du -sk "$selftests" | cut -f1) KiB) in $((SECONDS - td)) s; .deb deleted"
fi

ln -sfn "$kver" "$CACHE/current"
# Older kernels (the Debian point release moved on): about 0.5 GB each, not booted any more.
for old in "$CACHE"/*/; do
  old=${old%/}
  [[ -L $old || ${old##*/} == "$kver" ]] && continue
  [[ -f $old/initramfs.sig || -d $old/root ]] || continue
  log "removing the previous kernel ${old##*/}"
  rm -rf "$old"
done
log "ready: $CACHE/current -> $kver ($((SECONDS - t0)) s)"
