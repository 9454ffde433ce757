#!/bin/bash
# Regenerate the real-Linux sample dumps for pmoview (see ../SCHEMA.md and README.md here).
#
# Needs (Debian 12 bookworm, as root):
#   apt-get install qemu-system-x86 qemu-system-arm makedumpfile cpio xz-utils binutils python3 \
#                   linux-headers-6.1.0-56-amd64 gcc       # headers + gcc only for the optional LiME dump
#   dpkg --add-architecture arm64 && apt-get update      # for the arm64 kernel/busybox .debs (downloaded, not installed)
#
# Kernels and initramfs images are built in $BUILD (default /work/linux-build), outside the repo:
# they are reproducible from Debian's packages and are not committed.
#
# usage: make_linux_samples.sh [guest ...]     (default: all five)
#   env: LIME=0 skips the LiME capture (needs linux-headers-$ABI-amd64 and gcc: apt-get install linux-headers-6.1.0-56-amd64)
#        ABI=6.1.0-56  BUILD=/work/linux-build  OUT=<sample_dumps>
#        ABI16K=6.12.118+deb12  the arm64-16k kernel (bookworm-security: linux-image-$ABI16K-arm64-16k-unsigned)
#        BUILD_ONLY=1  only download the kernels and build the initramfs images (no capture)
#        KEEP_ALL=1  store dump.elf.xz / dump.raw.xz in the guest folders too; by default they go to
#                    $BUILD/full/<guest>/ (repository size) and truth.json lists them under dumps_not_committed
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$(dirname "$HERE")}
BUILD=${BUILD:-/work/linux-build}
ABI=${ABI:-6.1.0-56}
ABI16K=${ABI16K:-6.12.118+deb12}
PY=${PYTHON:-python3}
mkdir -p "$BUILD/debs" "$BUILD/scratch"

fetch() {  # download + extract the kernel and busybox packages: fetch DPKG_ARCH [FLAVOUR [ABI [PKG_SUFFIX]]]
  local arch=$1 flavour=${2:-$1} abi=${3:-$ABI} suffix=${4:-} root=$BUILD/${2:-$1}-root
  [ -e "$root/boot/vmlinuz-$abi-$flavour" ] && [ -e "$root/bin/busybox" ] && return 0
  (cd "$BUILD/debs" && apt-get download "linux-image-$abi-$flavour$suffix:$arch" "busybox-static:$arch")
  mkdir -p "$root"
  for d in "$BUILD"/debs/linux-image-"$abi"-"$flavour$suffix"_*.deb "$BUILD"/debs/busybox-static_*_"$arch".deb; do
    dpkg-deb -x "$d" "$root"
  done
}

mkinitramfs() {  # busybox-static + qemu_fw_cfg.ko (decompressed if .ko.xz) + init.sh -> cpio.gz: mkinitramfs FLAVOUR [ABI]
  local arch=$1 abi=${2:-$ABI} root=$BUILD/$1-root out=$BUILD/initramfs-$1.cpio.gz d mod dep
  mod=$(find "$root/lib/modules/$abi-$arch" -name 'qemu_fw_cfg.ko*' | head -1)
  dep=$(modinfo -F depends "$mod" 2>/dev/null || true)
  [ -z "$dep" ] || { echo "qemu_fw_cfg has dependencies ($dep): add them" >&2; exit 1; }
  d=$(mktemp -d)
  mkdir -p "$d"/{bin,proc,sys,dev,tmp,lib/modules}
  cp "$root/bin/busybox" "$d/bin/busybox"; ln -s busybox "$d/bin/sh"
  case $mod in
    *.xz)  xz -dc "$mod" > "$d/lib/modules/qemu_fw_cfg.ko" ;;
    *.zst) zstd -dc "$mod" > "$d/lib/modules/qemu_fw_cfg.ko" ;;
    *)     cp "$mod" "$d/lib/modules/qemu_fw_cfg.ko" ;;
  esac
  if [ "$arch" = amd64 ] && [ -e "$BUILD/lime.ko" ]; then  # optional LiME capture (see build_lime)
    mkdir -p "$d/lib/modules/lime"; cp "$BUILD/lime.ko" "$d/lib/modules/lime/"
    for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
      f=$(find "$root/lib/modules/$ABI-$arch" -name "$m.ko*" | head -1)
      case $f in *.xz) xz -dc "$f" > "$d/lib/modules/lime/$m.ko" ;; *) cp "$f" "$d/lib/modules/lime/$m.ko" ;; esac
    done
  fi
  install -m 755 "$HERE/init.sh" "$d/init"
  mknod "$d/dev/console" c 5 1; mknod "$d/dev/null" c 1 3
  (cd "$d" && find . | sort | cpio -o -H newc --quiet -R 0:0) | gzip -9 > "$out"
  rm -rf "$d"
}

build_lime() {  # LiME from Debian's lime-forensics-dkms source, built against linux-headers-$ABI-amd64
  [ -e "$BUILD/lime.ko" ] && return 0
  local kdir=/usr/src/linux-headers-$ABI-amd64 src
  [ -d "$kdir" ] || { echo "no $kdir (apt-get install linux-headers-$ABI-amd64): no LiME dump" >&2; return 0; }
  (cd "$BUILD/debs" && apt-get download lime-forensics-dkms) || return 0
  rm -rf "$BUILD/lime-src" && mkdir -p "$BUILD/lime-src"
  dpkg-deb -x "$(ls "$BUILD"/debs/lime-forensics-dkms_*.deb | tail -1)" "$BUILD/lime-src"
  src=$(dirname "$(find "$BUILD/lime-src/usr/src" -name main.c | head -1)")
  if make -C "$kdir" M="$src" modules > "$BUILD/lime-make.log" 2>&1; then
    cp "$src/lime.ko" "$BUILD/lime.ko"
  else
    echo "LiME build failed, see $BUILD/lime-make.log: no LiME dump" >&2
  fi
}

# init_on_free=1 (every guest): freed pages are zeroed, so the stale compressed bzImage / Image and
# other boot leftovers do not bloat the dumps. Page tables are unaffected. "-nic none" likewise.
NOTE_IOF="Kernel booted with init_on_free=1 so freed memory is zero (keeps the dumps small); page tables are not affected."

capture() {  # name flavour mem cpu append [extra capture args...]  (env KABI: the flavour's ABI)
  local name=$1 arch=$2 mem=$3 cpu=$4 append=$5; shift 5
  local kern=$BUILD/$arch-root/boot/vmlinuz-${KABI:-$ABI}-$arch
  local qarch=x86_64; case $arch in arm64*) qarch=aarch64 ;; esac
  rm -rf "${OUT:?}/$name"
  local stash=(--stash "$BUILD/full"); [ "${KEEP_ALL:-0}" = 1 ] && stash=()
  # QEMU itself runs under timeout 300 (capture_linux.py --qemu-timeout); the outer bound also covers xz -9
  timeout 1500 "$PY" "$HERE/capture_linux.py" --name "$name" --arch $qarch --kernel "$kern" \
    --initrd "$BUILD/initramfs-$arch.cpio.gz" --mem "$mem" --smp 2 --cpu "$cpu" --append "$append" \
    --out "$OUT/$name" --work "$BUILD/scratch" --boot-timeout 240 --qemu-timeout 300 "${stash[@]}" "$@"
}

GUESTS=${*:-linux-x86_64-4l-nokaslr linux-x86_64-4l-kaslr linux-x86_64-5l-kaslr linux-arm64 linux-arm64-16k-52bit}
for g in $GUESTS; do
  case $g in
    linux-x86_64-*) fetch amd64; [ "${LIME:-1}" = 1 ] && build_lime
                    [ -n "${done_amd64:-}" ] || { mkinitramfs amd64; done_amd64=1; } ;;
    linux-arm64)    fetch arm64; [ -n "${done_arm64:-}" ] || { mkinitramfs arm64; done_arm64=1; } ;;
    linux-arm64-16k-52bit) fetch arm64 arm64-16k "$ABI16K" -unsigned; mkinitramfs arm64-16k "$ABI16K" ;;
  esac
done
# BUILD_ONLY=1: stop here, with the kernels and initramfs images built (the live tests and bench_live.py boot them)
[ "${BUILD_ONLY:-0}" = 1 ] && exit 0
for g in $GUESTS; do
  case $g in
    linux-x86_64-4l-nokaslr)  # the benchmark's real 2 GiB guest; ELF not stored (size)
      capture $g amd64 2G max,-la57 "console=ttyS0 nokaslr init_on_free=1" \
        --notes "$NOTE_IOF 2 GiB guest; ELF dump not stored to keep the repository small." ;;
    linux-x86_64-4l-kaslr)
      lime=(); la=""
      lnote=""
      [ -e "$BUILD/lime.ko" ] && { lime=(--lime-disk 640M); la=" pmoview.lime"
        lnote=" dump.lime.xz: Debian's lime-forensics (LiME 1.9.1) built for this kernel, loaded by /init with virtio-blk (path=/dev/vda format=lime dio=1) before the PMOVIEW lines, so it is an earlier moment than the other dumps: kernel page tables match, much other memory differs. Its ranges are /proc/iomem System RAM (lime_ranges)."; }
      capture $g amd64 512M max,-la57 "console=ttyS0 init_on_free=1$la" --elf --raw 0x0:0x20000000 "${lime[@]}" \
        --notes "$NOTE_IOF dump.raw.xz is pmemsave of PA 0x0-0x20000000 (all RAM of this 512 MiB guest, including the 0xa0000-0x100000 legacy hole as QEMU reads it).$lnote" ;;
    linux-x86_64-5l-kaslr)
      capture $g amd64 512M max "console=ttyS0 init_on_free=1" --elf \
        --notes "$NOTE_IOF -cpu max has LA57: the kernel runs 5-level paging (CR4.LA57). HMP info mem prints nothing under LA57." ;;
    linux-arm64)
      capture $g arm64 512M max "console=ttyAMA0 init_on_free=1" --elf \
        --notes "$NOTE_IOF QEMU 7.2 'info registers' shows no TTBR/TCR and there is no 'info tlb'/'info mem' for arm (the files hold QEMU's answer). Walk from VMCOREINFO swapper_pg_dir/kimage_voffset/PHYS_OFFSET. Debian arm64 has no CONFIG_KALLSYMS_ALL: /proc/kallsyms lists text symbols only. KASLR is on: QEMU virt passes a kaslr-seed." ;;
    linux-arm64-16k-52bit)  # 16 KiB pages, VA_BITS=52 with FEAT_LPA2 (QEMU 7.2 -cpu max has it), KASLR
      KABI=$ABI16K capture $g arm64-16k 512M max "console=ttyAMA0 init_on_free=1 pmoview.spin" --elf --verify-translations \
        --notes "$NOTE_IOF Debian's 6.12 arm64-16k kernel: 16 KiB granule, 52-bit VA and PA with FEAT_LPA2 (TCR_EL1.DS=1; the boot log says 'detected: 52-bit Virtual Addressing (LPA2)'). pmoview.spin: /init leaves two busy shells running so that both CPUs stop in EL0 with a user TTBR0. 'translations' holds kernel and user VAs translated three ways (gva2gpa per CPU, gdbstub virtual vs physical reads, the kernel's arithmetic); 'cpus' the TTBR0/TTBR1/TCR/MAIR each CPU had (QEMU gdbstub system registers). The committed kdump is cut to its page tables (truth.json 'cut')." ;;
    *) echo "unknown guest $g" >&2; exit 2 ;;
  esac
done
# Keep the repository small: the two 4-level x86 guests are cut to their page tables (recorded in
# truth.json "cut"; the uncut dumps are the ones QEMU just wrote), big monitor captures are xz'd.
for g in linux-x86_64-4l-nokaslr linux-x86_64-4l-kaslr linux-arm64-16k-52bit; do
  case " $GUESTS " in *" $g "*) PYTHONPATH="$OUT/.." "${PYTHON:-python3}" "$OUT/linux/cut_dump.py" "$OUT/$g/dump.kdump" ;; esac
done
lime_full="$BUILD/full/linux-x86_64-4l-kaslr/dump.lime.xz"
[ -e "$lime_full" ] && PYTHONPATH="$OUT/.." "${PYTHON:-python3}" "$OUT/linux/cut_lime.py" "$lime_full" "$OUT/linux-x86_64-4l-kaslr"
find "$OUT"/linux-* -name 'info-*.txt' -size +1M -exec xz -9 -f {} \;
du -sh "$OUT"/linux-*
