#!/bin/bash
# Build the two initramfs images of the kdump guest from Debian packages (see README.md):
#   $BUILD/capture-amd64.cpio.gz  busybox-static, makedumpfile (host's Debian binary + its libraries),
#                                 qemu_fw_cfg and virtio-blk modules, kdump_init.sh as /init
#   $BUILD/kdump-amd64.cpio.gz    the same plus kexec (kexec-tools) and /boot/{vmlinuz,capture.cpio.gz}
# usage: make_kdump_initramfs.sh ROOT BUILD ABI     (ROOT: the extracted linux-image + busybox packages)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$1 BUILD=$2 ABI=$3
MODS=$ROOT/lib/modules/$ABI-amd64

copy_bin() {  # copy an ELF executable and every library ldd names into the tree $1
  local d=$1 bin=$2 lib
  install -D -m 755 "$bin" "$d/usr/sbin/$(basename "$bin")"
  for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
    [ -e "$d$lib" ] || install -D -m 755 "$lib" "$d$lib"
  done
}

tree() {  # $1: directory to fill; $2: with kexec (1) or not (0)
  local d=$1 m f
  mkdir -p "$d"/{bin,proc,sys,dev,tmp,boot,lib/modules/virtio}
  cp "$ROOT/bin/busybox" "$d/bin/busybox"; ln -s busybox "$d/bin/sh"
  cp "$(find "$MODS" -name 'qemu_fw_cfg.ko*' | head -1)" "$d/lib/modules/qemu_fw_cfg.ko"
  for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
    f=$(find "$MODS" -name "$m.ko*" | head -1); cp "$f" "$d/lib/modules/virtio/$m.ko"
  done
  copy_bin "$d" "$(command -v makedumpfile)"
  [ "$2" = 1 ] && copy_bin "$d" "$(command -v kexec)"
  install -m 755 "$HERE/kdump_init.sh" "$d/init"
  mknod "$d/dev/console" c 5 1; mknod "$d/dev/null" c 1 3
}

pack() { (cd "$1" && find . | sort | cpio -o -H newc --quiet -R 0:0) | gzip -9 > "$2"; }

t=$(mktemp -d)
tree "$t/capture" 0
pack "$t/capture" "$BUILD/capture-amd64.cpio.gz"
tree "$t/first" 1
cp "$ROOT/boot/vmlinuz-$ABI-amd64" "$t/first/boot/vmlinuz"
cp "$BUILD/capture-amd64.cpio.gz" "$t/first/boot/capture.cpio.gz"
pack "$t/first" "$BUILD/kdump-amd64.cpio.gz"
rm -rf "$t"
ls -l "$BUILD"/capture-amd64.cpio.gz "$BUILD"/kdump-amd64.cpio.gz
