#!/bin/sh
# /init of the faulting-Linux initramfs: load qemu_fw_cfg (VMCOREINFO for QEMU's dump), then the
# pmoview_fault module with what= from the kernel command line (pmoview.what=...). The kernel runs
# with oops=panic panic=0: the oops becomes a panic and the CPUs stay where they stopped.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
insmod /lib/modules/qemu_fw_cfg.ko && echo "PMOVIEW-INSMOD qemu_fw_cfg ok"
what=$(sed -n 's/.*pmoview\.what=\([a-z_]*\).*/\1/p' /proc/cmdline)
echo "PMOVIEW-UNAME $(uname -r) $(uname -m)"
echo "PMOVIEW-WHAT $what"
sleep 1
insmod /lib/modules/pmoview_fault.ko what="$what"
echo "PMOVIEW-PANIC still running after the fault"
while true; do sleep 3600; done
