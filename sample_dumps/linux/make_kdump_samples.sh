#!/bin/bash
# Regenerate sample_dumps/linux-x86_64-pti-user and sample_dumps/linux-x86_64-kdump-panic (README.md
# here, "The kdump guest"): one Debian 6.1 guest with pti=on and crashkernel=, snapshotted with both
# CPUs in user mode, then panicked so its capture kernel saves /proc/vmcore (ELF copy and
# makedumpfile -l/-c -d 31). About 3 minutes on 2 cores (QEMU TCG).
# Needs (Debian 12): qemu-system-x86 makedumpfile kexec-tools busybox-static cpio xz-utils python3, and
# PYTHON set to an interpreter with pmoview installed (the cuts use it), e.g. PYTHON=.venv/bin/python.
# env: ABI=6.1.0-56  BUILD=/work/linux-build  OUT=<sample_dumps>
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$(dirname "$HERE")}
BUILD=${BUILD:-/work/linux-build}
ABI=${ABI:-6.1.0-56}
PY=${PYTHON:-python3}
ROOT=$BUILD/amd64-root
mkdir -p "$BUILD/debs"
if [ ! -e "$ROOT/boot/vmlinuz-$ABI-amd64" ] || [ ! -e "$ROOT/bin/busybox" ]; then
  (cd "$BUILD/debs" && apt-get download "linux-image-$ABI-amd64:amd64" "busybox-static:amd64")
  mkdir -p "$ROOT"
  for d in "$BUILD"/debs/linux-image-"$ABI"-amd64_*.deb "$BUILD"/debs/busybox-static_*_amd64.deb; do dpkg-deb -x "$d" "$ROOT"; done
fi
bash "$HERE/make_kdump_initramfs.sh" "$ROOT" "$BUILD" "$ABI"
PTI=$OUT/linux-x86_64-pti-user PANIC=$OUT/linux-x86_64-kdump-panic WORK=$BUILD/kdump-work
rm -rf "$PTI" "$PANIC" "$WORK"; mkdir -p "$PTI" "$PANIC"
timeout 1200 nice "$PY" "$HERE/capture_kdump.py" --kernel "$ROOT/boot/vmlinuz-$ABI-amd64" \
  --initrd "$BUILD/kdump-amd64.cpio.gz" --work "$WORK" --out-pti "$PTI" --out-panic "$PANIC"
timeout 900 "$PY" "$HERE/finish_kdump_samples.py" "$WORK" "$PTI" "$PANIC"
du -sh "$PTI" "$PANIC"
