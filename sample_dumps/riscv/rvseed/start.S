# rvseed: a bare-metal RISC-V kernel for pmoview's samples. QEMU virt with -bios none starts every
# hart here in M-mode at 0x80000000; hart 0 builds the page tables (kernel.c), the others park.
    .section .text.start
    .globl _start
_start:
    csrr t0, mhartid
    bnez t0, park
    la sp, stack_top
    call mmain
park:
    wfi
    j park

# long probe(unsigned long va): load a doubleword from va in S-mode. If the MMU faults, the trap
# lands on probe_fault (stvec, direct mode), which returns -scause; stval holds the VA.
    .text
    .globl probe
    .balign 4
probe:
    la t0, probe_fault
    csrw stvec, t0
    ld a0, 0(a0)
    ret
    .balign 4
probe_fault:
    csrr a0, scause
    neg a0, a0
    ret

    .bss
    .balign 16
    .space 16384
    .globl stack_top
stack_top:
