#!/bin/bash
# Faulting Linux samples: Debian's 6.1 kernel loads pmoview_fault.ko (built here against Debian's
# headers), which takes one unhandled kernel page fault; oops=panic turns the oops into a panic,
# and the capture waits for the panic's last console line, stops the guest and dumps it through QMP.
#
#   make_fault_samples.sh            both samples (linux-x86_64-oops-ro-write, linux-x86_64-oops-vmalloc-guard)
#
# Needs (Debian 12): qemu-system-x86 linux-headers-$ABI-amd64 gcc make cpio busybox-static (the .deb is
# downloaded, not installed) python3 with pmoview's dependencies (PYTHON, for the cut).
# Env: ABI (6.1.0-56), BUILD (/tmp/pmoview-fault-build), OUT (sample_dumps/).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$(cd "$HERE/../.." && pwd)}
BUILD=${BUILD:-/tmp/pmoview-fault-build}
ABI=${ABI:-6.1.0-56}
PY=${PYTHON:-python3}
ROOT=$BUILD/amd64-root
mkdir -p "$BUILD/debs" "$BUILD/mod"

if [ ! -e "$ROOT/boot/vmlinuz-$ABI-amd64" ] || [ ! -e "$ROOT/bin/busybox" ]; then
  (cd "$BUILD/debs" && apt-get download "linux-image-$ABI-amd64" busybox-static)
  for d in "$BUILD"/debs/*.deb; do dpkg-deb -x "$d" "$ROOT"; done
fi

cp "$HERE/pmoview_fault.c" "$HERE/Kbuild" "$BUILD/mod/"
make -s -C "/usr/src/linux-headers-$ABI-amd64" M="$BUILD/mod" modules

d=$(mktemp -d)
mkdir -p "$d"/{bin,proc,sys,dev,lib/modules}
cp "$ROOT/bin/busybox" "$d/bin/busybox"; ln -s busybox "$d/bin/sh"
mod=$(find "$ROOT/lib/modules/$ABI-amd64" -name 'qemu_fw_cfg.ko*' | head -1)
case $mod in *.xz) xz -dc "$mod" > "$d/lib/modules/qemu_fw_cfg.ko" ;; *) cp "$mod" "$d/lib/modules/qemu_fw_cfg.ko" ;; esac
cp "$BUILD/mod/pmoview_fault.ko" "$d/lib/modules/"
install -m 755 "$HERE/init.sh" "$d/init"
mknod "$d/dev/console" c 5 1; mknod "$d/dev/null" c 1 3
(cd "$d" && find . | sort | cpio -o -H newc --quiet -R 0:0) | gzip -9 > "$BUILD/initramfs-fault.cpio.gz"
rm -rf "$d"

for what in ro_write vmalloc_guard; do
  name=linux-x86_64-oops-${what//_/-}
  rm -rf "${OUT:?}/$name"
  timeout 900 nice "$PY" "$OUT/seed/capture.py" --name "$name" --out "$OUT/$name" \
    --qemu-args "-machine pc -accel tcg -cpu max,-la57 -m 512M -smp 2 -kernel $ROOT/boot/vmlinuz-$ABI-amd64 -initrd $BUILD/initramfs-fault.cpio.gz -append 'console=ttyS0 oops=panic panic=0 init_on_free=1 pmoview.what=$what' -device vmcoreinfo -nic none" \
    --ready-regex 'end Kernel panic' --formats kdump --xz '' --timeout 600 --meta "$OUT/$name/capture.json"
  "$PY" "$HERE/fault_truth.py" "$OUT/$name"
  # keep the pages of every root's tables and of the kernel log (the oops), compressed bytes unchanged
  makedumpfile -R "$BUILD/$name.diskdump" < "$OUT/$name/dump.kdump"
  PYTHONPATH="$OUT/.." "$PY" "$OUT/linux/cut_kdump.py" "$BUILD/$name.diskdump" "$OUT/$name/dump.kdump.cut" --log \
    > "$BUILD/$name.cut.json"
  mv "$OUT/$name/dump.kdump.cut" "$OUT/$name/dump.kdump"
  xz -9 -f "$OUT/$name/dump.kdump"
  "$PY" "$HERE/fault_truth.py" --xz "$OUT/$name" "$BUILD/$name.cut.json"
done
