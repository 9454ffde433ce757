#!/bin/bash
# Regenerate every sample in sample_dumps/ (see SCHEMA.md for the layout, README.md for details).
#
#   make_samples.sh                 seed kernels, the Linux guests (if linux/make_linux_samples.sh exists), RISC-V,
#                                   the bare-metal aarch64 64 KiB kernel
#   make_samples.sh --seed-only     only the seed-* folders
#   make_samples.sh --linux-only    only the Linux guests
#   make_samples.sh --riscv-only    only the RISC-V guests (rvseed-sv39/sv48/sv57, linux-riscv64)
#   make_samples.sh --bare-only     only the bare-metal aarch64 64 KiB kernel (aarch64-64k-lpa)
#   make_samples.sh --seed-only --only seed-correct,seed-hole   (extra args go to seed/make_seed_samples.py)
#
# Needs (Debian 12, as root):
#   apt-get install qemu-system-x86 grub-pc-bin grub-common xorriso mtools gcc binutils make xz-utils python3
#   apt-get install qemu-system-arm gcc-aarch64-linux-gnu gdb-multiarch     # the bare-metal aarch64 sample
# Env: PYTHON (default python3), JOBS (seed captures in parallel, default 2).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-python3}
JOBS=${JOBS:-2}
do_seed=1 do_linux=1 do_riscv=1 do_bare=1
seed_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --seed-only)  do_linux=0; do_riscv=0; do_bare=0 ;;
    --linux-only) do_seed=0; do_riscv=0; do_bare=0 ;;
    --riscv-only) do_seed=0; do_linux=0; do_bare=0 ;;
    --bare-only)  do_seed=0; do_linux=0; do_riscv=0 ;;
    -h|--help)    sed -n '2,15p' "$0"; exit 0 ;;
    *)            seed_args+=("$1") ;;
  esac
  shift
done

if [ $do_seed = 1 ] || [ $do_linux = 1 ]; then
  for tool in qemu-system-x86_64 grub-mkrescue xorriso mformat gcc ld make xz nm; do
    command -v "$tool" >/dev/null || { echo "missing $tool: see the apt-get line at the top of $0" >&2; exit 1; }
  done
fi

if [ $do_seed = 1 ]; then
  start=$(date +%s)
  timeout 3600 "$PY" "$HERE/seed/make_seed_samples.py" --jobs "$JOBS" "${seed_args[@]}"
  timeout 900 "$PY" "$HERE/seed/verify_samples.py"
  echo "seed samples done in $(( $(date +%s) - start ))s" >&2
fi

if [ $do_linux = 1 ]; then
  if [ -x "$HERE/linux/make_linux_samples.sh" ] || [ -f "$HERE/linux/make_linux_samples.sh" ]; then
    bash "$HERE/linux/make_linux_samples.sh"
    bash "$HERE/linux/make_kdump_samples.sh"   # PTI user-mode snapshot + real kdump panic
    bash "$HERE/linux/fault/make_fault_samples.sh"   # unhandled kernel page faults (oops=panic), needs linux-headers
  else
    echo "linux/make_linux_samples.sh not found: skipping the Linux guests" >&2
  fi
fi
if [ $do_riscv = 1 ]; then
  # needs: apt-get install qemu-system-misc gcc-riscv64-linux-gnu xz-utils cpio mmdebstrap
  # (Debian 13's riscv64 kernel is unpacked by mmdebstrap)
  for tool in qemu-system-riscv64 riscv64-linux-gnu-gcc riscv64-linux-gnu-nm make xz; do
    command -v "$tool" >/dev/null || { echo "missing $tool (qemu-system-misc, gcc-riscv64-linux-gnu)" >&2; exit 1; }
  done
  PYTHONPATH="$HERE/.." timeout 3600 "$PY" "$HERE/riscv/make_riscv_samples.py"
fi
if [ $do_bare = 1 ]; then
  for tool in qemu-system-aarch64 aarch64-linux-gnu-gcc gdb-multiarch; do
    command -v "$tool" >/dev/null || { echo "missing $tool: see the apt-get line at the top of $0" >&2; exit 1; }
  done
  timeout 600 "$PY" "$HERE/bare64k/capture_bare64k.py"
fi
du -sh "$HERE"/seed-* "$HERE"/linux-* "$HERE"/rvseed-* "$HERE"/aarch64-* 2>/dev/null || true
