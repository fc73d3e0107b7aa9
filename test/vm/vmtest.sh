#!/usr/bin/env bash
# Boot Debian's stock kernel in QEMU (TCG) with the host root shared
# read-only over 9p, cgroup2 mounted with every controller, and run one
# guest shell script. Adapted from the measured recipe in
# ../shared/reference/v2_vm.md (see docs/vm-tier.md for the pitfalls).
#
# Usage: vmtest.sh [-m MB] [-t TIMEOUT_S] [-w RW_DIR] [-l CONSOLE_LOG] /abs/script.sh [/abs/cwd]
#   -w  a host directory mounted read-write at the same path in the guest
#       (the only place guest writes survive: results go there)
#   -l  where the console log is kept (default: a temp file, removed)
# Exit: the guest script's exit code; 124 timeout; 125 no result marker; 126 setup failed.
# Runs as root. Cache: $VMTEST_CACHE or <repo>/.vmcache (ignored by git).
#
# Why each odd choice (details in docs/vm-tier.md):
#  - TCG only: /dev/kvm here is nested PVM and cannot boot a stock kernel.
#  - the generic kernel flavour: the cloud flavour has no 9p.
#  - insmod in a fixed order: the .deb ships no modules.dep and the host has no depmod.
#  - busybox cpio: the host has no cpio.
#  - the raw ELF vmlinux booted through PVH: XZ decompression costs ~2.4 s per boot under TCG.
#  - multidevs=remap: without it, exporting / across devices breaks /proc in the guest.
set -euo pipefail
MEM=1024; TMO=900; RW=; LOGFILE=
while getopts "m:t:w:l:" o; do
  case $o in m) MEM=$OPTARG;; t) TMO=$OPTARG;; w) RW=$OPTARG;; l) LOGFILE=$OPTARG;; *) exit 2;; esac
done
shift $((OPTIND-1))
[ $# -ge 1 ] || { echo "usage: vmtest.sh [-m MB] [-t S] [-w RW_DIR] [-l LOG] /abs/script.sh [/abs/cwd]" >&2; exit 2; }
SCRIPT=$(readlink -f "$1"); CWD=$(readlink -f "${2:-$(dirname "$SCRIPT")}")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${VMTEST_CACHE:-$(cd "$HERE/../.." && pwd)/.vmcache}
mkdir -p "$CACHE"
case "$SCRIPT$CWD$RW" in *" "*) echo "vmtest: paths must not contain spaces (kernel cmdline)" >&2; exit 126;; esac

setup_fail() { echo "vmtest: setup failed: $*" >&2; exit 126; }

if ! command -v qemu-system-x86_64 >/dev/null; then
  echo "vmtest: installing qemu-system-x86 (apt)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || setup_fail "apt-get update"
  apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null || setup_fail "apt-get install qemu-system-x86"
fi

# The cache is rebuilt when this script changes (the initramfs /init is in it).
RECIPE=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)
if [ ! -f "$CACHE/initramfs.cpio.gz" ] || [ ! -f "$CACHE/vmlinux" ] || [ ! -f "$CACHE/kernel-version" ] ||
   [ "$(cat "$CACHE/recipe" 2>/dev/null)" != "$RECIPE" ]; then
  W=$(mktemp -d "$CACHE/prep.XXXXXX"); trap 'rm -rf "$W"' EXIT
  kpkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'; }
  KPKG=$(kpkg)
  [ -n "$KPKG" ] || { apt-get update -qq; KPKG=$(kpkg); }
  [ -n "$KPKG" ] || setup_fail "cannot resolve the kernel package behind linux-image-amd64"
  KVER=${KPKG#linux-image-}
  echo "vmtest: preparing kernel $KVER in $CACHE" >&2
  # The .debs are kept in the cache. A stale package list 404s on a superseded
  # kernel ABI: refresh and retry once.
  mkdir -p "$CACHE/debs"
  if ! ls "$CACHE/debs/$KPKG"_*.deb "$CACHE"/debs/busybox-static_*.deb >/dev/null 2>&1; then
    rm -f "$CACHE"/debs/*.deb
    (cd "$CACHE/debs" && { apt-get download -qq "$KPKG" busybox-static 2>/dev/null ||
                { apt-get update -qq && apt-get download -qq "$KPKG" busybox-static; }; }) || setup_fail "apt-get download $KPKG busybox-static"
  fi
  cp "$CACHE/debs/$KPKG"_*.deb "$CACHE"/debs/busybox-static_*.deb "$W/"
  dpkg-deb -x "$W"/busybox-static_*.deb "$W/bb"
  MODS="kernel/drivers/virtio/virtio_ring kernel/drivers/virtio/virtio kernel/drivers/virtio/virtio_pci_modern_dev
        kernel/drivers/virtio/virtio_pci_legacy_dev kernel/drivers/virtio/virtio_pci kernel/net/9p/9pnet
        kernel/net/9p/9pnet_virtio kernel/fs/netfs/netfs kernel/fs/fscache/fscache kernel/fs/9p/9p kernel/fs/overlayfs/overlay"
  mkdir -p "$W/k"
  # shellcheck disable=SC2046
  dpkg-deb --fsys-tarfile "$W/$KPKG"_*.deb | tar -x -C "$W/k" "./boot/vmlinuz-$KVER" \
    $(for m in $MODS; do echo "./lib/modules/$KVER/$m.ko"; done) || setup_fail "extracting $KPKG"
  R="$W/root"; mkdir -p "$R"/{bin,lib/modules,proc,sys,dev,lower,upper,newroot}
  cp "$W/bb/bin/busybox" "$R/bin/"
  for m in $MODS; do cp "$W/k/lib/modules/$KVER/$m.ko" "$R/lib/modules/"; done
  mknod -m 600 "$R/dev/console" c 5 1; mknod -m 666 "$R/dev/null" c 1 3
  cat > "$R/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
# Loopback only (no NIC): the daemon's /metrics listens on 127.0.0.1.
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up || echo "VMTEST: could not bring up lo"
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci \
         9pnet 9pnet_virtio netfs fscache 9p overlay; do
  insmod /lib/modules/$m.ko || echo "VMTEST: insmod $m failed"
done
SCRIPT=; CWD=/; RW=
for a in $(cat /proc/cmdline); do case "$a" in
  vmtest.script=*) SCRIPT="${a#*=}";; vmtest.cwd=*) CWD="${a#*=}";; vmtest.rw=*) RW="${a#*=}";;
esac; done
fail() { echo "VMTEST: $*"; echo; echo "VMTEST-RESULT: 125"; poweroff -f; }
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /lower || fail "9p mount failed"
mount -t tmpfs -o mode=755 tmpfs /upper; mkdir -p /upper/u /upper/w
mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w /newroot || fail "overlay mount failed"
mount -t proc proc /newroot/proc; mount -t sysfs sysfs /newroot/sys
mount -t devtmpfs devtmpfs /newroot/dev; mount -t tmpfs tmpfs /newroot/run; mount -t tmpfs tmpfs /newroot/tmp
mount -t cgroup2 -o nsdelegate cgroup2 /newroot/sys/fs/cgroup || fail "cgroup2 mount failed"
# The working directory (the repo) comes in as its own read-only share: the
# root share does not show it when it lives under a path the guest covers
# with a tmpfs of its own (/tmp, /run), which is where a CI clone may be.
if [ "$CWD" != "/" ]; then
  mkdir -p "/newroot$CWD"
  mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose repo "/newroot$CWD" || fail "repo 9p mount failed"
fi
if [ -n "$RW" ]; then
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 rwshare /newroot$RW || fail "rw 9p mount failed"
fi
chroot /newroot /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root NO_COLOR=1 /bin/sh -c "cd '$CWD' && exec /bin/sh '$SCRIPT'" </dev/console >/dev/console 2>&1
RC=$?
sync
echo; echo "VMTEST-RESULT: $RC"   # leading newline: the marker must start a line
poweroff -f
INIT
  chmod +x "$R/init"
  (cd "$R" && find . | "$R/bin/busybox" cpio -o -H newc -R 0:0 2>/dev/null | gzip -1) > "$W/initramfs.cpio.gz"
  # bzImage payload is XZ: write it to a file first (piping into xz -dc EPIPEs node).
  node -e 'const fs=require("fs"), b=fs.readFileSync(process.argv[1]);
    const i=b.indexOf(Buffer.from([0xfd,0x37,0x7a,0x58,0x5a,0x00]));
    if (i>=0) fs.writeFileSync(process.argv[2], b.subarray(i))' "$W/k/boot/vmlinuz-$KVER" "$W/vmlinux.xz"
  xz -dc "$W/vmlinux.xz" > "$W/vmlinux" 2>/dev/null || true  # xz complains about trailing data: harmless
  head -c 4 "$W/vmlinux" | grep -q ELF || cp "$W/k/boot/vmlinuz-$KVER" "$W/vmlinux"  # fallback: compressed bzImage
  mv "$W/vmlinux" "$CACHE/vmlinux"
  mv "$W/initramfs.cpio.gz" "$CACHE/initramfs.cpio.gz"
  echo "$KVER" > "$CACHE/kernel-version"
  echo "$RECIPE" > "$CACHE/recipe"
  echo "vmtest: prepared kernel $KVER in $CACHE" >&2
fi

RWOPT=(); RWARG=
if [ -n "$RW" ]; then
  RW=$(readlink -f "$RW")
  RWOPT=(-virtfs "local,path=$RW,mount_tag=rwshare,security_model=none,multidevs=remap"); RWARG="vmtest.rw=$RW"
fi
# The guest CPU: TCG's "max" minus the AVX family. QEMU 7.2 (Debian 12) is the
# first to emulate AVX/AVX2 in TCG, and V8 uses them in its JIT whenever
# CPUID offers them; the daemon crashed inside JIT-compiled code under "max"
# (docs/vm-tier.md). Without AVX, V8 emits SSE code, long-proven under TCG.
VCPU=${VMTEST_CPU:-max,-avx,-avx2,-fma,-f16c,-avx512f}
# One vCPU. With two, the daemon crashed in 1 of 4 loaded runs even without
# AVX: cores show the main thread jumping into JIT code that reads as zeros,
# i.e. code a V8 background thread wrote was not visible to the other vCPU
# (multi-threaded TCG). With one vCPU every V8 thread runs on the same one.
VSMP=${VMTEST_SMP:-1}
KEEP_LOG=1
if [ -z "$LOGFILE" ]; then LOGFILE=$(mktemp); KEEP_LOG=0; fi
: > "$LOGFILE"
set +e
# loglevel=3 keeps the kernel's OOM reports (KERN_ERR) off the console; the
# guest script saves dmesg to the results share instead.
timeout --kill-after=10 "$TMO" qemu-system-x86_64 -accel tcg -cpu "$VCPU" -m "$MEM" -smp "$VSMP" \
  -display none -no-reboot -serial stdio -nodefaults \
  -kernel "$CACHE/vmlinux" -initrd "$CACHE/initramfs.cpio.gz" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 psi=1 vmtest.script=$SCRIPT vmtest.cwd=$CWD $RWARG" \
  -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
  -virtfs "local,path=$CWD,mount_tag=repo,security_model=none,readonly=on,multidevs=remap" \
  "${RWOPT[@]}" </dev/null 2>&1 | tee "$LOGFILE"
QRC=${PIPESTATUS[0]}
set -e
tail_log() { echo "vmtest: ---- last 40 console lines ----" >&2; tr -d '\r' < "$LOGFILE" | tail -n 40 >&2; echo "vmtest: ----" >&2; }
if [ "$QRC" = 124 ] || [ "$QRC" = 137 ]; then
  echo "vmtest: TIMEOUT after ${TMO}s" >&2; tail_log
  [ "$KEEP_LOG" = 1 ] || rm -f "$LOGFILE"; exit 124
fi
RC=$(tr -d '\r' < "$LOGFILE" | awk '/^VMTEST-RESULT: /{print $2}' | tail -1)
if [ -z "$RC" ]; then
  echo "vmtest: guest produced no result marker (qemu rc=$QRC)" >&2; tail_log
  [ "$KEEP_LOG" = 1 ] || rm -f "$LOGFILE"; exit 125
fi
[ "$KEEP_LOG" = 1 ] || rm -f "$LOGFILE"
exit "$RC"
