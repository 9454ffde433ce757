/*
 * A bare-metal AArch64 kernel for QEMU virt (-cpu max) that builds 64 KiB-granule stage 1 tables with
 * 52-bit VAs (FEAT_LVA) and 52-bit PAs (FEAT_LPA: output address bits 51:48 in descriptor bits 15:12),
 * turns the MMU on and prints every mapping it made, then idles. pmoview's 64 KiB sample.
 *
 * TTBR1: T1SZ = 12 (52-bit VA): start level 1, a 1024-entry (8 KiB) top table placed 8 KiB into a
 *        64 KiB-aligned area (aligned to its size, not to a page).
 * TTBR0: T0SZ = 17 (47-bit VA): start level 1, a 32-entry (256-byte) top table at a 256-byte offset;
 *        TTBR0 carries ASID 0x42 and CnP.
 * Blocks: level 1 (4 TiB, only with FEAT_LPA), level 2 (512 MiB); pages: level 3 (64 KiB).
 * PAs above 2**48 are mapped too (no memory there: QEMU translates them, nothing reads them).
 */
#include <stdint.h>

#define UART0 0x09000000UL
#define GRANULE 0x10000UL

#define VALID (1UL << 0)
#define TABLE (1UL << 1) /* table (levels 1-2) or page (level 3) */
#define AF (1UL << 10)
#define SH_INNER (3UL << 8)
#define AP_EL0 (1UL << 6)
#define AP_RO (1UL << 7)
#define NG (1UL << 11)
#define PXN (1UL << 53)
#define UXN (1UL << 54)
#define ATTR_NORMAL (0UL << 2)
#define ATTR_DEVICE (1UL << 2)

extern char _start[], _end[];

/* One 64 KiB-aligned area for the two small top tables, then full 64 KiB tables. */
static uint64_t top_area[GRANULE / 8] __attribute__((aligned(GRANULE)));
static uint64_t tables[6][GRANULE / 8] __attribute__((aligned(GRANULE)));
static volatile uint64_t user_data[GRANULE / 8] __attribute__((aligned(GRANULE)));

static void putc_(char c) { *(volatile uint32_t *)UART0 = (uint32_t)c; }
static void puts_(const char *s) { while (*s) putc_(*s++); }
static void puthex(uint64_t v) {
    puts_("0x");
    for (int i = 60; i >= 0; i -= 4) putc_("0123456789abcdef"[(v >> i) & 15]);
}

/* FEAT_LPA descriptor address: bits 47:16 in place, bits 51:48 in 15:12. */
static uint64_t oa(uint64_t pa) { return (pa & 0x0000FFFFFFFF0000UL) | ((pa >> 48) & 0xF) << 12; }
static uint64_t table_desc(uint64_t *t) { return oa((uint64_t)t) | TABLE | VALID; }
static uint64_t block(uint64_t pa, uint64_t attrs) { return oa(pa) | attrs | AF | VALID; }
static uint64_t page(uint64_t pa, uint64_t attrs) { return oa(pa) | attrs | AF | TABLE | VALID; }

static void say_map(const char *what, uint64_t va, uint64_t pa, uint64_t size) {
    puts_("PMOVIEW-MAP ");
    puthex(va);
    putc_(' ');
    puthex(pa);
    putc_(' ');
    puthex(size);
    putc_(' ');
    puts_(what);
    putc_('\n');
}

static void say_reg(const char *name, uint64_t v) {
    puts_("PMOVIEW-REG ");
    puts_(name);
    putc_(' ');
    puthex(v);
    putc_('\n');
}

#define TTBR1_BASE 0xFFF0000000000000UL /* 2**64 - 2**52 */
#define L1_SPAN (1UL << 42)              /* 4 TiB */
#define L2_SPAN (1UL << 29)              /* 512 MiB */

void main(void) {
    uint64_t mmfr0, mmfr2;
    __asm__ volatile("mrs %0, id_aa64mmfr0_el1" : "=r"(mmfr0));
    __asm__ volatile("mrs %0, id_aa64mmfr2_el1" : "=r"(mmfr2));
    say_reg("ID_AA64MMFR0_EL1", mmfr0);
    say_reg("ID_AA64MMFR2_EL1", mmfr2);
    if ((mmfr0 & 0xF) < 6 || ((mmfr0 >> 24) & 0xF) != 0 || ((mmfr2 >> 16) & 0xF) < 1) {
        puts_("PMOVIEW-FAIL need PARange 52 bits, 64 KiB granule and FEAT_LVA\n");
        for (;;) __asm__ volatile("wfe");
    }

    uint64_t *t1 = top_area + 0x2000 / 8;   /* TTBR1 top: 1024 entries, 8 KiB-aligned */
    uint64_t *t0 = top_area + 0x4100 / 8;   /* TTBR0 top: 32 entries, 256-byte-aligned */
    uint64_t *k_l2 = tables[0], *k_l3 = tables[1], *u_l2 = tables[2], *u_l3 = tables[3];
    uint64_t kpa = (uint64_t)_start & ~(GRANULE - 1);
    uint64_t kend = ((uint64_t)_end + GRANULE - 1) & ~(GRANULE - 1);

    /* TTBR1 */
    t1[0] = block(0, ATTR_NORMAL | SH_INNER | PXN | UXN); /* 4 TiB at PA 0 */
    say_map("l1-block", TTBR1_BASE, 0, L1_SPAN);
    t1[1] = block(1UL << 48, ATTR_NORMAL | SH_INNER | PXN | UXN | AP_RO); /* 4 TiB at PA 2**48 */
    say_map("l1-block-lpa", TTBR1_BASE + L1_SPAN, 1UL << 48, L1_SPAN);
    uint64_t kbase = 0xFFFF800000000000UL; /* L1 index (kbase - TTBR1_BASE) >> 42 */
    t1[(kbase - TTBR1_BASE) >> 42] = table_desc(k_l2);
    k_l2[0] = block(0x40000000UL, ATTR_NORMAL | SH_INNER | PXN | UXN); /* linear-map-like */
    say_map("l2-block", kbase, 0x40000000UL, L2_SPAN);
    k_l2[1] = table_desc(k_l3);
    uint64_t i = 0;
    for (uint64_t pa = kpa; pa < kend; pa += GRANULE, i++) { /* the image, page by page */
        k_l3[i] = page(pa, ATTR_NORMAL | SH_INNER | UXN | AP_RO);
        say_map("l3-page", kbase + L2_SPAN + i * GRANULE, pa, GRANULE);
    }
    k_l3[1000] = page(0xA000012340000UL, ATTR_DEVICE | PXN | UXN); /* PA bits 51:48 = 0xa */
    say_map("l3-page-lpa", kbase + L2_SPAN + 1000 * GRANULE, 0xA000012340000UL, GRANULE);
    k_l3[2000] = page(UART0, ATTR_DEVICE | PXN | UXN);
    say_map("l3-page-uart", kbase + L2_SPAN + 2000 * GRANULE, UART0, GRANULE);
    puts_("PMOVIEW-UNMAPPED ");
    puthex(kbase + L2_SPAN + 3000 * GRANULE);
    puts_("\nPMOVIEW-UNMAPPED ");
    puthex(TTBR1_BASE + 2 * L1_SPAN);
    putc_('\n');

    /* TTBR0: identity for the code and the UART, one user page, one unbacked LPA page */
    t0[0] = table_desc(u_l2);
    u_l2[0] = block(0, ATTR_DEVICE | PXN | UXN);
    say_map("l2-block-identity-device", 0, 0, L2_SPAN);
    u_l2[2] = block(0x40000000UL, ATTR_NORMAL | SH_INNER | UXN);
    say_map("l2-block-identity", 0x40000000UL, 0x40000000UL, L2_SPAN);
    u_l2[8] = table_desc(u_l3);
    u_l3[0] = page((uint64_t)user_data, ATTR_NORMAL | SH_INNER | AP_EL0 | NG | PXN | UXN);
    say_map("l3-page-user", 8 * L2_SPAN, (uint64_t)user_data, GRANULE);
    u_l3[1] = page(0x1000040000000UL, ATTR_NORMAL | SH_INNER | AP_EL0 | NG | PXN);
    say_map("l3-page-user-lpa", 8 * L2_SPAN + GRANULE, 0x1000040000000UL, GRANULE);
    t0[31] = table_desc(tables[4]); /* an empty level 2 table at the top of the 47-bit range */
    puts_("PMOVIEW-UNMAPPED ");
    puthex(8 * L2_SPAN + 2 * GRANULE);
    puts_("\nPMOVIEW-UNMAPPED ");
    puthex(31 * L1_SPAN);
    putc_('\n');
    user_data[0] = 0x5ca1ab1e64cafe00UL;

    uint64_t mair = 0xFFUL | (0x00UL << 8);
    uint64_t tcr = 17UL                      /* T0SZ: 47-bit VA */
                   | (1UL << 8) | (1UL << 10) | (3UL << 12) /* IRGN0, ORGN0 WBWA, SH0 inner */
                   | (1UL << 14)             /* TG0 64 KiB */
                   | (12UL << 16)            /* T1SZ: 52-bit VA */
                   | (1UL << 24) | (1UL << 26) | (3UL << 28)
                   | (3UL << 30)             /* TG1 64 KiB */
                   | (6UL << 32);            /* IPS 52 bits */
    uint64_t ttbr0 = (uint64_t)t0 | (0x42UL << 48) | 1; /* ASID 0x42, CnP */
    uint64_t ttbr1 = (uint64_t)t1;
    say_reg("MAIR_EL1", mair);
    say_reg("TCR_EL1", tcr);
    say_reg("TTBR0_EL1", ttbr0);
    say_reg("TTBR1_EL1", ttbr1);
    __asm__ volatile("dsb sy");
    __asm__ volatile("msr mair_el1, %0" ::"r"(mair));
    __asm__ volatile("msr tcr_el1, %0" ::"r"(tcr));
    __asm__ volatile("msr ttbr0_el1, %0" ::"r"(ttbr0));
    __asm__ volatile("msr ttbr1_el1, %0" ::"r"(ttbr1));
    __asm__ volatile("isb; tlbi vmalle1; dsb nsh; isb");
    uint64_t sctlr;
    __asm__ volatile("mrs %0, sctlr_el1" : "=r"(sctlr));
    sctlr |= 1UL | (1UL << 2) | (1UL << 12); /* M, C, I */
    __asm__ volatile("msr sctlr_el1, %0; isb" ::"r"(sctlr));
    /* Read back through the new high mapping of RAM: proves the walk the MMU just did. */
    volatile uint64_t *alias = (volatile uint64_t *)(kbase + ((uint64_t)user_data - 0x40000000UL));
    say_reg("READBACK", *alias);
    puts_("PMOVIEW-READY\n");
    for (;;) __asm__ volatile("wfe");
}
