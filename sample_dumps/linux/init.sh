#!/bin/sh
# /init of the pmoview sample initramfs (busybox-static). Packed by make_linux_samples.sh.
# Mounts proc/sys/dev, loads qemu_fw_cfg (so QEMU's -device vmcoreinfo gets the guest's
# VMCOREINFO), prints facts for truth.json on the console with PMOVIEW- prefixes, then idles.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo 0 > /proc/sys/kernel/kptr_restrict
echo 0 > /proc/sys/kernel/dmesg_restrict
for m in /lib/modules/*.ko; do
  [ -e "$m" ] && insmod "$m" && echo "PMOVIEW-INSMOD $m ok"
done
# Optional LiME capture (kernel command line has pmoview.lime): virtio-blk + LiME write all of
# "System RAM" to /dev/vda with direct I/O; page cache is dropped afterwards.
if grep -q 'pmoview.lime' /proc/cmdline && [ -e /lib/modules/lime/lime.ko ]; then
  for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
    insmod /lib/modules/lime/$m.ko || echo "PMOVIEW-LIME insmod $m failed"
  done
  n=0; while [ ! -b /dev/vda ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
  if [ ! -b /dev/vda ]; then
    echo "PMOVIEW-LIME failed: no /dev/vda"
  elif insmod /lib/modules/lime/lime.ko "path=/dev/vda format=lime dio=1"; then
    echo "PMOVIEW-LIME ok"
  else
    echo "PMOVIEW-LIME failed"
  fi
  sync; echo 3 > /proc/sys/vm/drop_caches
fi
sleep 1
# keep kernel messages from interleaving with the lines below
dmesg -n 1
echo "PMOVIEW-UNAME $(uname -r) $(uname -m)"
echo "PMOVIEW-CMDLINE $(cat /proc/cmdline)"
echo "PMOVIEW-FWCFG $(ls /sys/firmware/qemu_fw_cfg/by_name/etc 2>/dev/null | tr '\n' ' ')"
grep -E ' (_text|_stext|_etext|_sdata|_edata|_end|init_top_pgt|swapper_pg_dir|page_offset_base|vmalloc_base|vmemmap_base|phys_base|init_mm|kimage_voffset|memstart_addr|level4_kernel_pgt|level3_kernel_pgt|reserved_pg_dir|idmap_pg_dir|tramp_pg_dir|init_pg_dir)$' /proc/kallsyms | while read -r a t n; do
  echo "PMOVIEW-KSYM $a $t $n"
done
while read -r l; do echo "PMOVIEW-IOMEM $l"; done < /proc/iomem
while read -r l; do echo "PMOVIEW-MODULE $l"; done < /proc/modules
grep -E '^(MemTotal|PageTables|DirectMap)' /proc/meminfo | while read -r l; do echo "PMOVIEW-MEMINFO $l"; done
grep -m1 -E '^(flags|Features)' /proc/cpuinfo | sed 's/^/PMOVIEW-CPUFLAGS /'
# ELF header + program headers of /proc/kcore: the RAM segments give the direct-map
# (linear-map) base as p_vaddr - p_paddr, i.e. the value of page_offset_base.
dd if=/proc/kcore bs=4096 count=1 2>/dev/null | hexdump -v -e '32/1 "%02x" "\n"' | while read -r l; do
  echo "PMOVIEW-KCOREHDR $l"
done
# Optional user-half truth (kernel command line has pmoview.spin): two busy shells keep the CPUs
# in EL0 with their own TTBR0 when QEMU stops the guest; for each, the first page of every
# mapping is looked up in /proc/PID/pagemap (the kernel's own VA->PFN, 8 bytes little-endian).
if grep -q 'pmoview.spin' /proc/cmdline; then
  psz=$(awk '/^KernelPageSize/ {print $2 * 1024; exit}' /proc/self/smaps)
  for n in 1 2; do
    sh -c 'while :; do :; done' &
    pid=$!
    sleep 1
    echo "PMOVIEW-SPIN $pid pagesize $psz"
    while read -r range perms rest; do
      va=$((0x${range%-*}))
      echo "PMOVIEW-MAPS $pid $range $perms $rest"
      e=$(dd if=/proc/$pid/pagemap bs=8 skip=$((va / psz)) count=1 2>/dev/null | hexdump -v -e '8/1 "%02x"')
      echo "PMOVIEW-PAGEMAP $pid $(printf '%x' $va) $e"
    done < /proc/$pid/maps
  done
fi
echo PMOVIEW-READY
while true; do sleep 3600; done
