/* Entry at EL1 (QEMU virt without EL2/EL3), MMU off: a stack, then main(). */
    .section .text.boot, "ax"
    .global _start
_start:
    ldr x0, =stack_top
    mov sp, x0
    /* clear .bss: the tables live there */
    ldr x0, =__bss_start
    ldr x1, =__bss_end
1:  cmp x0, x1
    b.hs 2f
    str xzr, [x0], #8
    b 1b
2:  bl main
3:  wfe
    b 3b

    .section .bss.stack, "aw", %nobits
    .balign 16
    .space 0x10000
stack_top:
