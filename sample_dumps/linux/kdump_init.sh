#!/bin/sh
# /init of the pmoview kdump guest (busybox-static), packed by make_kdump_sample.sh. One script,
# two roles:
#  - first kernel (no /proc/vmcore): print facts for truth.json (PMOVIEW-* lines), load the
#    capture kernel with kexec -p, start one busy loop per CPU (so both CPUs run user code
#    under PTI), print PMOVIEW-READY, then wait for "crash" on the console and panic with sysrq c;
#  - capture kernel (/proc/vmcore exists): copy /proc/vmcore to /dev/vda as is (the ELF copy)
#    and stream makedumpfile -l -d 31 and -c -d 31 (flattened, -F) to /dev/vdb and /dev/vdc.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo 0 > /proc/sys/kernel/kptr_restrict
echo 0 > /proc/sys/kernel/dmesg_restrict
insmod /lib/modules/qemu_fw_cfg.ko && echo "PMOVIEW-INSMOD qemu_fw_cfg ok"

if [ -e /proc/vmcore ]; then
  echo "PMOVIEW-CAPTURE-KERNEL $(uname -r) $(cat /proc/cmdline)"
  for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
    insmod /lib/modules/virtio/$m.ko || echo "PMOVIEW-CAPTURE insmod $m failed"
  done
  n=0; while [ ! -b /dev/vdc ] && [ $n -lt 200 ]; do sleep 0.1; n=$((n+1)); done
  echo "PMOVIEW-VMCORE-SIZE $(stat -c %s /proc/vmcore)"
  dd if=/proc/vmcore of=/dev/vda bs=1M 2>/dev/null; echo "PMOVIEW-ELF-COPY rc=$?"
  makedumpfile -F -l -d 31 /proc/vmcore > /dev/vdb; echo "PMOVIEW-MAKEDUMPFILE-LZO rc=$?"
  makedumpfile -F -c -d 31 /proc/vmcore > /dev/vdc; echo "PMOVIEW-MAKEDUMPFILE-ZLIB rc=$?"
  sync
  echo PMOVIEW-CAPTURE-DONE
  poweroff -f
fi

sleep 1
dmesg -n 1
echo "PMOVIEW-UNAME $(uname -r) $(uname -m)"
echo "PMOVIEW-CMDLINE $(cat /proc/cmdline)"
echo "PMOVIEW-PTI $(cat /sys/devices/system/cpu/vulnerabilities/meltdown)"
grep -E ' (_text|_stext|_etext|_sdata|_edata|_end|init_top_pgt|swapper_pg_dir|page_offset_base|vmalloc_base|vmemmap_base|phys_base|init_mm|prb|printk_rb_static|cpu_entry_area|entry_SYSCALL_64)$' /proc/kallsyms | while read -r a t n; do
  echo "PMOVIEW-KSYM $a $t $n"
done
while read -r l; do echo "PMOVIEW-IOMEM $l"; done < /proc/iomem
grep -m1 -E '^flags' /proc/cpuinfo | sed 's/^/PMOVIEW-CPUFLAGS /'
dd if=/proc/kcore bs=4096 count=1 2>/dev/null | hexdump -v -e '32/1 "%02x" "\n"' | while read -r l; do
  echo "PMOVIEW-KCOREHDR $l"
done
kexec -p /boot/vmlinuz --initrd=/boot/capture.cpio.gz \
  --append="console=ttyS0 irqpoll nr_cpus=1 reset_devices init_on_free=1 panic=-1" \
  && echo "PMOVIEW-KEXEC loaded $(cat /sys/kernel/kexec_crash_loaded)" || echo "PMOVIEW-KEXEC failed"
for c in 0 1; do taskset -c $c sh -c 'while :; do :; done' & done
sleep 1
echo PMOVIEW-READY
while read -r cmd; do
  if [ "$cmd" = crash ]; then echo "PMOVIEW-PANIC"; echo c > /proc/sysrq-trigger; fi
done
while true; do sleep 3600; done
