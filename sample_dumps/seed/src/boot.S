/*
 * pmoview seed kernel - 32-bit Multiboot2 entry, boot page tables, switch to
 * long mode, jump into the higher half and call kernel_main(mb2_info_pa).
 *
 * Boot page tables (all 4 KiB aligned named globals in .bss):
 *   boot_pml4[0]   -> boot_pdpt_lo[0]  -> boot_pd_lo      identity map, 1 GiB, 2 MiB pages
 *                                                        (kernel_main removes PML4[0])
 *   boot_pml4[256] -> boot_pmo_pdpt[0] -> boot_pmo_pd0    PMO: VA 0xFFFF800000000000 + x -> PA x,
 *                                                        first 1 GiB, 2 MiB pages, RW+XD, supervisor
 *   boot_pml4[511] -> boot_pdpt_hi[510] -> boot_pd_hi[0] -> boot_pt_hi
 *                                                        kernel image, 4 KiB pages, per-section rights
 *
 * Variants handled here: VARIANT_WX (.text writable, PMO without XD),
 * VARIANT_USER_PMO (U/S set on every PMO entry), VARIANT_NO_PML4_256 (PML4[256] left empty).
 */
#define KERNEL_VMA      0xFFFFFFFF80000000
#define V2P(x)          ((x) - KERNEL_VMA)

#define PTE_P           0x001
#define PTE_RW          0x002
#define PTE_US          0x004
#define PTE_PS          0x080
#define PTE_XD_HI       0x80000000      /* bit 63, in the high dword */

#if defined(VARIANT_USER_PMO)
# define PMO_TABLE      (PTE_P | PTE_RW | PTE_US)
# define PMO_LEAF       (PTE_P | PTE_RW | PTE_PS | PTE_US)
#else
# define PMO_TABLE      (PTE_P | PTE_RW)
# define PMO_LEAF       (PTE_P | PTE_RW | PTE_PS)
#endif
#if defined(VARIANT_WX)
# define PMO_LEAF_HI    0               /* defect: PMO executable */
# define TEXT_FLAGS     (PTE_P | PTE_RW) /* defect: .text writable */
#else
# define PMO_LEAF_HI    PTE_XD_HI
# define TEXT_FLAGS     PTE_P
#endif

#define MB2_MAGIC       0xe85250d6
#define MB2_BOOT_MAGIC  0x36d76289

    .section .multiboot, "a"
    .balign 8
mb2_header:
    .long   MB2_MAGIC
    .long   0                                   /* i386 (protected mode) */
    .long   mb2_header_end - mb2_header
    .long   -(MB2_MAGIC + (mb2_header_end - mb2_header))
    /* entry address tag: the ELF entry is a higher-half VA, give GRUB the PA */
    .balign 8
    .word   3, 0
    .long   12
    .long   V2P(_start)
    .balign 8
    .word   0, 0                                /* end tag */
    .long   8
mb2_header_end:

    .section .text.boot, "ax"
    .code32
    .globl  _start
    .type   _start, @function
_start:
    cli
    cld
    cmp     $MB2_BOOT_MAGIC, %eax
    jne     .Lhang32
    mov     %ebx, %esi                          /* Multiboot2 info PA, kept until kernel_main */
    mov     $V2P(boot_stack_top), %esp

    /* zero .bss (GRUB does it too; do not rely on it) */
    mov     $V2P(__bss_start), %edi
    mov     $V2P(__bss_end), %ecx
    sub     %edi, %ecx
    shr     $2, %ecx
    xor     %eax, %eax
    rep stosl

    /* PML4 */
    movl    $(V2P(boot_pdpt_lo) + PTE_P + PTE_RW), V2P(boot_pml4) + 0 * 8
#if !defined(VARIANT_NO_PML4_256)
    movl    $(V2P(boot_pmo_pdpt) + PMO_TABLE), V2P(boot_pml4) + 256 * 8
#endif
    movl    $(V2P(boot_pdpt_hi) + PTE_P + PTE_RW), V2P(boot_pml4) + 511 * 8

    /* identity map: 1 GiB in 2 MiB pages (only for the switch to long mode) */
    movl    $(V2P(boot_pd_lo) + PTE_P + PTE_RW), V2P(boot_pdpt_lo)
    mov     $V2P(boot_pd_lo), %edi
    xor     %ecx, %ecx
1:  mov     %ecx, %eax
    shl     $21, %eax
    or      $(PTE_P | PTE_RW | PTE_PS), %eax
    mov     %eax, (%edi, %ecx, 8)
    movl    $0, 4(%edi, %ecx, 8)
    inc     %ecx
    cmp     $512, %ecx
    jb      1b

    /* PMO: first 1 GiB of physical memory at 0xFFFF800000000000, 2 MiB pages */
    movl    $(V2P(boot_pmo_pd0) + PMO_TABLE), V2P(boot_pmo_pdpt)
    mov     $V2P(boot_pmo_pd0), %edi
    xor     %ecx, %ecx
1:  mov     %ecx, %eax
    shl     $21, %eax
    or      $PMO_LEAF, %eax
    mov     %eax, (%edi, %ecx, 8)
    movl    $PMO_LEAF_HI, 4(%edi, %ecx, 8)
    inc     %ecx
    cmp     $512, %ecx
    jb      1b

    /* kernel image: 0xFFFFFFFF80000000 = PML4[511] PDPT[510] PD[0] */
    movl    $(V2P(boot_pd_hi) + PTE_P + PTE_RW), V2P(boot_pdpt_hi) + 510 * 8
    movl    $(V2P(boot_pt_hi) + PTE_P + PTE_RW), V2P(boot_pd_hi) + 0 * 8
    mov     $V2P(boot_pt_hi), %edi
    mov     $V2P(__kernel_start), %eax          /* PA of the page being mapped */
2:  cmp     $V2P(__kernel_end), %eax
    jae     5f
    mov     %eax, %ecx
    shr     $12, %ecx                           /* PT index (image ends below 2 MiB) */
    mov     %eax, %edx
    cmp     $V2P(__text_end), %eax
    jae     3f
    or      $TEXT_FLAGS, %edx                   /* .text: R-X */
    xor     %ebx, %ebx
    jmp     4f
3:  mov     $PTE_XD_HI, %ebx
    cmp     $V2P(__rodata_end), %eax
    jae     6f
    or      $PTE_P, %edx                        /* .rodata: R--, XD */
    jmp     4f
6:  or      $(PTE_P | PTE_RW), %edx             /* .data/.bss: RW-, XD */
4:  mov     %edx, (%edi, %ecx, 8)
    mov     %ebx, 4(%edi, %ecx, 8)
    add     $4096, %eax
    jmp     2b
5:
    /* CR3, PAE, EFER.LME|NXE, CR0.PG|WP */
    mov     $V2P(boot_pml4), %eax
    mov     %eax, %cr3
    mov     %cr4, %eax
    or      $0x20, %eax                         /* PAE */
    mov     %eax, %cr4
    mov     $0xC0000080, %ecx
    rdmsr
    or      $0x900, %eax                        /* LME (8) | NXE (11) */
    wrmsr
    mov     %cr0, %eax
    or      $0x80010001, %eax                   /* PG | WP | PE */
    mov     %eax, %cr0

    lgdt    V2P(gdt64_ptr32)
    ljmp    $0x08, $V2P(.Llong_mode_low)

.Lhang32:
    cli
    hlt
    jmp     .Lhang32

    .code64
.Llong_mode_low:
    movabs  $.Lhigher_half, %rax
    jmp     *%rax
    .size   _start, . - _start

    .section .text, "ax"
.Lhigher_half:
    lgdt    gdt64_ptr64(%rip)                   /* GDTR -> higher-half VA */
    mov     $0x10, %ax
    mov     %ax, %ds
    mov     %ax, %es
    mov     %ax, %ss
    xor     %ax, %ax
    mov     %ax, %fs
    mov     %ax, %gs
    movabs  $boot_stack_top, %rsp
    xor     %ebp, %ebp
    mov     %esi, %edi                          /* zero-extends: mb2 info PA */
    call    kernel_main
.Lhalt:
    cli
    hlt
    jmp     .Lhalt

    /* GDT in .rodata: accessed bits preset so the CPU never writes to it */
    .section .rodata
    .balign 16
gdt64:
    .quad   0
    .quad   0x00AF9B000000FFFF                  /* 0x08: 64-bit code, DPL0 */
    .quad   0x00CF93000000FFFF                  /* 0x10: data, DPL0 */
gdt64_end:
    .balign 8
gdt64_ptr32:
    .word   gdt64_end - gdt64 - 1
    .long   V2P(gdt64)
    .balign 8
gdt64_ptr64:
    .word   gdt64_end - gdt64 - 1
    .quad   gdt64

    .section .bss
    .balign 4096
    .globl  boot_pml4, boot_pdpt_lo, boot_pd_lo, boot_pmo_pdpt, boot_pmo_pd0
    .globl  boot_pdpt_hi, boot_pd_hi, boot_pt_hi, boot_stack_top
boot_pml4:      .skip 4096
    .type boot_pml4, @object
    .size boot_pml4, 4096
boot_pdpt_lo:   .skip 4096
    .type boot_pdpt_lo, @object
    .size boot_pdpt_lo, 4096
boot_pd_lo:     .skip 4096
    .type boot_pd_lo, @object
    .size boot_pd_lo, 4096
boot_pmo_pdpt:  .skip 4096
    .type boot_pmo_pdpt, @object
    .size boot_pmo_pdpt, 4096
boot_pmo_pd0:   .skip 4096
    .type boot_pmo_pd0, @object
    .size boot_pmo_pd0, 4096
boot_pdpt_hi:   .skip 4096
    .type boot_pdpt_hi, @object
    .size boot_pdpt_hi, 4096
boot_pd_hi:     .skip 4096
    .type boot_pd_hi, @object
    .size boot_pd_hi, 4096
boot_pt_hi:     .skip 4096
    .type boot_pt_hi, @object
    .size boot_pt_hi, 4096
boot_stack:     .skip 16384
boot_stack_top:

    .section .note.GNU-stack, "", @progbits
