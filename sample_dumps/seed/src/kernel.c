/*
 * pmoview seed kernel - kernel_main: parse Multiboot2, copy the memory map,
 * extend the physical memory offset (PMO) map over all RAM, report on COM1, halt.
 *
 * One source tree, one build per variant (-DVARIANT_xxx, see Makefile):
 *   VARIANT_CORRECT        the reference implementation
 *   VARIANT_1G_PAGES       extension uses 1 GiB pages (needs CPUID pdpe1gb)
 *   VARIANT_NO_EXTENSION   extension skipped: RAM above 1 GiB not in the PMO
 *   VARIANT_WRONG_FRAME    one PMO 2 MiB entry points to the wrong frame
 *   VARIANT_HOLE           one PMO 2 MiB entry cleared
 *   VARIANT_WX             .text writable, PMO executable (boot.S)
 *   VARIANT_USER_PMO       PMO entries carry U/S (boot.S and here)
 *   VARIANT_NO_PML4_256    PML4[256] empty: no PMO; physical memory through the identity map
 *   VARIANT_LITERAL_VIRT_TO_PHYS    virt_to_phys exactly as pmo-design.md (PHYS_OFFSET tested first)
 *   VARIANT_FAULT_UNMAPPED_READ     correct, then reads a PMO address above RAM (not present)
 *   VARIANT_FAULT_RO_WRITE          correct, then makes one PMO 2 MiB page read-only and writes to it
 *   VARIANT_FAULT_NX_FETCH          correct, then jumps to kernel code through its NX PMO alias
 * The FAULT variants load an empty IDT first: the #PF cannot be delivered (#GP, #DF), so the CPU
 * triple-faults with CR2, RIP and the page tables as they were at the faulting access.
 */
#include <stdint.h>
#include <stddef.h>

#ifndef VARIANT_NAME
#define VARIANT_NAME "unknown"
#endif

#define PHYS_OFFSET      0xFFFF800000000000ULL
#define KERNEL_VIRT_BASE 0xFFFFFFFF80000000ULL

#define PTE_P   0x001ULL
#define PTE_RW  0x002ULL
#define PTE_US  0x004ULL
#define PTE_PS  0x080ULL
#define PTE_XD  (1ULL << 63)
#define PTE_ADDR_MASK 0x000FFFFFFFFFF000ULL

#define SZ_2M   0x200000ULL
#define SZ_1G   0x40000000ULL

#if defined(VARIANT_USER_PMO)
# define PMO_TABLE (PTE_P | PTE_RW | PTE_US)
# define PMO_LEAF  (PTE_P | PTE_RW | PTE_PS | PTE_US | PTE_XD)
#elif defined(VARIANT_WX)
# define PMO_TABLE (PTE_P | PTE_RW)
# define PMO_LEAF  (PTE_P | PTE_RW | PTE_PS)          /* defect: no XD */
#else
# define PMO_TABLE (PTE_P | PTE_RW)
# define PMO_LEAF  (PTE_P | PTE_RW | PTE_PS | PTE_XD)
#endif

/* ---- page-table globals (boot.S) and the static page-table pool ---- */
extern uint64_t boot_pml4[512], boot_pdpt_lo[512], boot_pd_lo[512];
extern uint64_t boot_pmo_pdpt[512], boot_pmo_pd0[512];
extern uint64_t boot_pdpt_hi[512], boot_pd_hi[512], boot_pt_hi[512];

#define PT_POOL_PAGES 16
uint64_t pt_pool[PT_POOL_PAGES][512] __attribute__((aligned(4096)));
uint32_t pt_pool_used;

/* Multiboot2 memory map entries, copied verbatim (24 bytes each:
 * u64 base_addr, u64 length, u32 type, u32 reserved). */
struct mb2_mmap_entry {
    uint64_t base_addr;
    uint64_t length;
    uint32_t type;
    uint32_t reserved;
};
#define MB2_MMAP_MAX 64
struct mb2_mmap_entry mb2_mmap_copy[MB2_MMAP_MAX];
uint32_t mb2_mmap_count;

/* ---- compiler support (freestanding) ---- */
void *memset(void *d, int c, size_t n)
{
    unsigned char *p = d;
    while (n--)
        *p++ = (unsigned char)c;
    return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
    unsigned char *p = d;
    const unsigned char *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}

/* ---- address conversions ---- */
static inline uint64_t phys_to_virt(uint64_t pa)
{
#if defined(VARIANT_NO_PML4_256)
    return pa;                      /* no PMO: the identity map (PML4[0]) is kept */
#else
    return pa + PHYS_OFFSET;
#endif
}

static inline uint64_t virt_to_phys(uint64_t va)
{
#if defined(VARIANT_LITERAL_VIRT_TO_PHYS)
    /* literally pmo-design.md: kernel-image VAs are >= PHYS_OFFSET too */
    if (va >= PHYS_OFFSET)
        return va - PHYS_OFFSET;
    return va - KERNEL_VIRT_BASE;
#else
    if (va >= KERNEL_VIRT_BASE)     /* kernel image first */
        return va - KERNEL_VIRT_BASE;
    if (va >= PHYS_OFFSET)
        return va - PHYS_OFFSET;
    return va;                      /* identity map */
#endif
}

/* ---- CPU helpers ---- */
static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint64_t read_cr3(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr3, %0" : "=r"(v));
    return v;
}

static inline void write_cr3(uint64_t v)
{
    __asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory");
}

static inline uint64_t read_cr4(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr4, %0" : "=r"(v));
    return v;
}

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
                     : "a"(leaf), "c"(sub));
}

static inline void flush_tlb(void)
{
    /* no global pages are used (CR4.PGE=0): reloading CR3 flushes everything */
    write_cr3(read_cr3());
}

/* ---- COM1 ---- */
#define COM1 0x3f8

static void serial_init(void)
{
    outb(COM1 + 1, 0x00);   /* no interrupts */
    outb(COM1 + 3, 0x80);   /* DLAB */
    outb(COM1 + 0, 0x01);   /* 115200 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03);   /* 8N1 */
    outb(COM1 + 2, 0xC7);   /* FIFO */
    outb(COM1 + 4, 0x03);
}

static void putc_serial(char c)
{
    if (c == '\n')
        putc_serial('\r');
    while (!(inb(COM1 + 5) & 0x20))
        ;
    outb(COM1, (uint8_t)c);
}

static void puts_serial(const char *s)
{
    while (*s)
        putc_serial(*s++);
}

static void puthex(uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    puts_serial("0x");
    for (int shift = 60; shift >= 0; shift -= 4)
        putc_serial(digits[(v >> shift) & 0xf]);
}

static void putdec(uint64_t v)
{
    char buf[24];
    int i = 0;
    do {
        buf[i++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (i--)
        putc_serial(buf[i]);
}

static __attribute__((unused)) void print_entry(const char *table, unsigned idx, uint64_t value)
{
    puts_serial("PTE ");
    puts_serial(table);
    puts_serial("[");
    putdec(idx);
    puts_serial("] = ");
    puthex(value);
    puts_serial("\n");
}

static __attribute__((noreturn)) void halt_forever(void)
{
    for (;;)
        __asm__ volatile("cli; hlt");
}

static __attribute__((noreturn)) void panic(const char *msg)
{
    puts_serial("PMOVIEW-PANIC ");
    puts_serial(msg);
    puts_serial("\n");
    halt_forever();
}

static __attribute__((unused)) uint64_t *pml4_now(void)
{
    return (uint64_t *)phys_to_virt(read_cr3() & PTE_ADDR_MASK);
}

/* ---- page-table pool ---- */
static __attribute__((unused)) uint64_t *pt_alloc(void)
{
    if (pt_pool_used >= PT_POOL_PAGES)
        panic("pt_pool exhausted");
    uint64_t *page = pt_pool[pt_pool_used++];
    memset(page, 0, 4096);
    return page;
}

static __attribute__((unused)) uint64_t *table_at(uint64_t entry)
{
    return (uint64_t *)phys_to_virt(entry & PTE_ADDR_MASK);
}

/* ---- Multiboot2 ---- */
#define MB2_TAG_END  0
#define MB2_TAG_MMAP 6

static void parse_multiboot2(uint64_t info_pa)
{
    const uint8_t *info = (const uint8_t *)phys_to_virt(info_pa);
    uint32_t total = *(const uint32_t *)info;
    uint32_t off = 8;

    while (off + 8 <= total) {
        uint32_t type = *(const uint32_t *)(info + off);
        uint32_t size = *(const uint32_t *)(info + off + 4);
        if (type == MB2_TAG_END)
            break;
        if (type == MB2_TAG_MMAP) {
            uint32_t entry_size = *(const uint32_t *)(info + off + 8);
            for (uint32_t e = 16; e + entry_size <= size && mb2_mmap_count < MB2_MMAP_MAX;
                 e += entry_size)
                memcpy(&mb2_mmap_copy[mb2_mmap_count++], info + off + e,
                       sizeof(struct mb2_mmap_entry));
        }
        off += (size + 7) & ~7u;
    }
}

/* ---- PMO extension ---- */
#if !defined(VARIANT_NO_EXTENSION) && !defined(VARIANT_NO_PML4_256)
static void pmo_map_range(uint64_t *pmo_pdpt, uint64_t start, uint64_t end)
{
#if defined(VARIANT_1G_PAGES)
    /* 1 GiB pages: PDPT entries are leaves (CPUID pdpe1gb is NOT checked) */
    for (uint64_t pa = start & ~(SZ_1G - 1); pa < end; pa += SZ_1G) {
        if (pa < SZ_1G)
            continue;                               /* boot.S mapped the first GiB */
        unsigned i = (unsigned)(pa >> 30);
        if (!(pmo_pdpt[i] & PTE_P))
            pmo_pdpt[i] = pa | PMO_LEAF;
    }
#else
    for (uint64_t pa = start & ~(SZ_2M - 1); pa < end; pa += SZ_2M) {
        if (pa < SZ_1G)
            continue;                               /* boot.S mapped the first GiB */
        unsigned i = (unsigned)(pa >> 30);
        if (!(pmo_pdpt[i] & PTE_P)) {
            uint64_t *pd = pt_alloc();
            pmo_pdpt[i] = virt_to_phys((uint64_t)pd) | PMO_TABLE;
        }
        uint64_t *pd = table_at(pmo_pdpt[i]);
        pd[(pa >> 21) & 511] = pa | PMO_LEAF;
    }
#endif
}
#endif


#if defined(VARIANT_FAULT_UNMAPPED_READ) || defined(VARIANT_FAULT_RO_WRITE) || defined(VARIANT_FAULT_NX_FETCH)
/* Target of the NX fetch: reached through its PMO alias, never through .text. */
static __attribute__((noinline, used)) void fault_target(void)
{
    __asm__ volatile("nop");
}

static __attribute__((noreturn)) void fault_now(void)
{
    /* an IDT of limit 0: no vector can be delivered, so the #PF escalates to a triple fault */
    static const struct __attribute__((packed)) { uint16_t limit; uint64_t base; } no_idt = { 0, 0 };
    __asm__ volatile("lidt %0" : : "m"(no_idt));
#if defined(VARIANT_FAULT_UNMAPPED_READ)
    /* PA 0x70000000 is above RAM (1536 MiB): its PMO PD entry (extension PD index 384) is empty */
    volatile uint64_t *p = (volatile uint64_t *)phys_to_virt(0x70000000ULL + 0x1238);
    puts_serial("PMOVIEW-FAULTING access=read va=");
    puthex((uint64_t)p);
    puts_serial("\n");
    (void)*p;
#elif defined(VARIANT_FAULT_RO_WRITE)
    /* PMO 2 MiB page for PA 0x04000000 (boot_pmo_pd0[32]) made read-only; CR0.WP=1 (boot.S) */
    uint64_t *pd0 = table_at(table_at(pml4_now()[256])[0]);
    pd0[32] &= ~PTE_RW;
    print_entry("boot_pmo_pd0", 32, pd0[32]);
    flush_tlb();
    volatile uint64_t *p = (volatile uint64_t *)phys_to_virt(0x04000000ULL + 0x5670);
    puts_serial("PMOVIEW-FAULTING access=write va=");
    puthex((uint64_t)p);
    puts_serial("\n");
    *p = 0x4641554c54;
#else
    /* the PMO maps all RAM with XD=1: executing kernel text through it faults on the fetch */
    void (*alias)(void) = (void (*)(void))phys_to_virt(virt_to_phys((uint64_t)&fault_target));
    puts_serial("PMOVIEW-FAULTING access=exec va=");
    puthex((uint64_t)alias);
    puts_serial("\n");
    alias();
#endif
    panic("the faulting access did not fault");
}
#endif

static __attribute__((unused)) const char marker[8] = { 'P', 'M', 'O', 'V', 'I', 'E', 'W', '!' };

void kernel_main(uint64_t mb2_info_pa)
{
    uint32_t r[4];

    serial_init();
    puts_serial("PMOVIEW-BOOT variant=" VARIANT_NAME " mb2_info=");
    puthex(mb2_info_pa);
    puts_serial("\n");

    cpuid(0x80000001, 0, r);
    uint32_t ext_edx = r[3];
    cpuid(7, 0, r);
    puts_serial("CPUID nx=");
    putdec((ext_edx >> 20) & 1);
    puts_serial(" pdpe1gb=");
    putdec((ext_edx >> 26) & 1);
    puts_serial(" la57=");
    putdec((r[2] >> 16) & 1);
    puts_serial("\n");
    puts_serial("REGS cr3=");
    puthex(read_cr3());
    puts_serial(" cr4=");
    puthex(read_cr4());
    puts_serial(" efer=");
    puthex(rdmsr(0xC0000080));
    puts_serial("\n");

    parse_multiboot2(mb2_info_pa);
    for (uint32_t i = 0; i < mb2_mmap_count; i++) {
        puts_serial("MMAP ");
        puthex(mb2_mmap_copy[i].base_addr);
        puts_serial(" ");
        puthex(mb2_mmap_copy[i].base_addr + mb2_mmap_copy[i].length);
        puts_serial(" ");
        putdec(mb2_mmap_copy[i].type);
        puts_serial("\n");
    }

    uint64_t *pml4 __attribute__((unused)) = (uint64_t *)phys_to_virt(read_cr3() & PTE_ADDR_MASK);

#if !defined(VARIANT_NO_PML4_256)
    /* the identity map was only needed for the jump to long mode */
    pml4[0] = 0;
    flush_tlb();
#endif

#if !defined(VARIANT_NO_EXTENSION) && !defined(VARIANT_NO_PML4_256)
    uint64_t *pmo_pdpt = table_at(pml4[256]);
    for (uint32_t i = 0; i < mb2_mmap_count; i++) {
        if (mb2_mmap_copy[i].type != 1)
            continue;
        uint64_t start = mb2_mmap_copy[i].base_addr;
        uint64_t end = start + mb2_mmap_copy[i].length;
        if (end > SZ_1G)
            pmo_map_range(pmo_pdpt, start, end);
    }
    for (unsigned i = 0; i < 512; i++)
        if (pmo_pdpt[i])
            print_entry("boot_pmo_pdpt", i, pmo_pdpt[i]);
#endif

#if defined(VARIANT_WRONG_FRAME)
    {
        /* defect: PMO VA 0xffff80000c800000 (PD index 100) maps PA 0x0ca00000 */
        uint64_t *pd0 = table_at(pmo_pdpt[0]);
        pd0[100] = (101ULL * SZ_2M) | PMO_LEAF;
        puts_serial("DEFECT boot_pmo_pd0[100] maps PA ");
        puthex(101ULL * SZ_2M);
        puts_serial(" instead of ");
        puthex(100ULL * SZ_2M);
        puts_serial("\n");
        print_entry("boot_pmo_pd0", 100, pd0[100]);
    }
#endif
#if defined(VARIANT_HOLE)
    {
        /* defect: the PMO entry for PA 0x48000000 (VA 0xffff800048000000) cleared */
        uint64_t hole = 0x48000000ULL;
        uint64_t *pd = table_at(pmo_pdpt[hole >> 30]);
        pd[(hole >> 21) & 511] = 0;
        puts_serial("DEFECT PMO entry for PA ");
        puthex(hole);
        puts_serial(" cleared: PD PA ");
        puthex(pmo_pdpt[hole >> 30] & PTE_ADDR_MASK);
        puts_serial(" index ");
        putdec((hole >> 21) & 511);
        puts_serial("\n");
    }
#endif

    flush_tlb();

#if !defined(VARIANT_NO_EXTENSION) && !defined(VARIANT_NO_PML4_256) && !defined(VARIANT_LITERAL_VIRT_TO_PHYS)
    /* self-test: write "PMOVIEW!" at the last 8 bytes of every RAM range that
     * ends above 1 GiB, through the PMO (skipped where the PMO cannot reach) */
    for (uint32_t i = 0; i < mb2_mmap_count; i++) {
        if (mb2_mmap_copy[i].type != 1)
            continue;
        uint64_t end = mb2_mmap_copy[i].base_addr + mb2_mmap_copy[i].length;
        if (end <= SZ_1G)
            continue;
        volatile char *p = (volatile char *)phys_to_virt(end - 8);
        for (int k = 0; k < 8; k++)
            p[k] = marker[k];
        puts_serial("MARK ");
        puthex(end - 8);
        puts_serial(p[7] == '!' ? " ok\n" : " BAD\n");
    }
#endif
#if defined(VARIANT_LITERAL_VIRT_TO_PHYS)
    puts_serial("NOTE self-test skipped: the PMO above 1 GiB would fault (reserved bits)\n");
#endif

    puts_serial("PMOVIEW-READY variant=" VARIANT_NAME "\n");
#if defined(VARIANT_FAULT_UNMAPPED_READ) || defined(VARIANT_FAULT_RO_WRITE) || defined(VARIANT_FAULT_NX_FETCH)
    fault_now();
#endif
    halt_forever();
}
