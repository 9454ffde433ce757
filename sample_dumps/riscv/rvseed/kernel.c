// rvseed: builds one RISC-V page table (Sv39, Sv48 or Sv57 by LEVELS) with 4 KiB pages, 2 MiB
// megapages, 1 GiB gigapages (and a 512 GiB terapage from Sv48 on), user pages with every R/W/X
// combination the spec allows, and planted reserved encodings; then, in S-mode, loads from each
// planted VA so the MMU itself says which ones fault (scause 13 = load page fault), prints the
// results on the UART and idles. The sample script captures it with QEMU.
typedef unsigned long u64;

#ifndef LEVELS
#define LEVELS 4
#endif
#define VA_BITS (12 + 9 * LEVELS)
#define SATP_MODE (LEVELS == 3 ? 8UL : LEVELS == 4 ? 9UL : 10UL)

#define PTE_V (1UL << 0)
#define PTE_R (1UL << 1)
#define PTE_W (1UL << 2)
#define PTE_X (1UL << 3)
#define PTE_U (1UL << 4)
#define PTE_G (1UL << 5)
#define PTE_A (1UL << 6)
#define PTE_D (1UL << 7)
#define AD (PTE_A | PTE_D)

#define UART 0x10000000UL
#define KERNBASE 0x80000000UL
#define HIGH_HALF ((u64)-1 << (VA_BITS - 1)) // lowest canonical upper-half VA
#define TERA_VA ((u64)-1 << 39)               // top 512 GiB of every mode from Sv48 on
#define PLANT 0x40000000UL                    // planted reserved encodings live in [1 GiB, 2 GiB)

extern long probe(u64 va);
extern char stack_top[];

static u64 pool[40][512] __attribute__((aligned(4096)));
static int pool_used;
static char user_pages[8][4096] __attribute__((aligned(4096)));
static u64 *root;

static void putc_(char c) {
  volatile unsigned char *u = (unsigned char *)UART;
  while (!(u[5] & 0x20))
    ;
  u[0] = c;
}
static void puts_(const char *s) {
  while (*s)
    putc_(*s++);
}
static void puthex(u64 v) {
  puts_("0x");
  for (int i = 60; i >= 0; i -= 4)
    putc_("0123456789abcdef"[(v >> i) & 15]);
}

static u64 *new_table(void) {
  u64 *t = pool[pool_used++];
  for (int i = 0; i < 512; i++)
    t[i] = 0;
  return t;
}
static u64 pte(u64 pa, u64 flags) { return ((pa >> 12) << 10) | flags; }

// The entry that maps va at level `leaf` (0: 4 KiB, 1: 2 MiB, 2: 1 GiB, 3: 512 GiB), making tables on the way.
static u64 *slot(u64 va, int leaf) {
  u64 *t = root;
  for (int level = LEVELS - 1; level > leaf; level--) {
    u64 *e = &t[(va >> (12 + 9 * level)) & 511];
    if (!(*e & PTE_V))
      *e = pte((u64)new_table(), PTE_V);
    t = (u64 *)((*e >> 10) << 12);
  }
  return &t[(va >> (12 + 9 * leaf)) & 511];
}
static void map(u64 va, u64 pa, int level, u64 flags) { *slot(va, level) = pte(pa, flags | PTE_V); }

struct probe_case {
  const char *name;
  u64 va;
};
static const struct probe_case probes[] = {
    {"identity-2m", KERNBASE + 0x1000},
    {"direct-1g", HIGH_HALF + 0x2000},
    {"user-r-s-mode", 0x402000},
    {"user-2m-s-mode", 0x600000},
    {"x-only", 0x405000},
    {"s-r-only", 0x406000},
    {"w-without-r", PLANT + 0x0000},
    {"wx-without-r", PLANT + 0x1000},
    {"bit54", PLANT + 0x2000},
    {"n-without-svnapot", PLANT + 0x3000},
    {"pbmt-without-svpbmt", PLANT + 0x4000},
    {"nonleaf-a", PLANT + 0x200000},
    {"nonleaf-u", PLANT + 0x400000},
    {"misaligned-2m", PLANT + 0x600000},
    {"level0-pointer", PLANT + 0x800000},
    {"nonleaf-d", PLANT + 0xa00000},
    {"misaligned-1g", 0xC0000000UL},
#if LEVELS >= 4
    {"tera-512g", TERA_VA + 0x1000},
#endif
};

static void build(void) {
  root = new_table();
  // Kernel identity map: 4 x 2 MiB megapages, RWX, global (the kernel runs from them).
  for (u64 off = 0; off < (8UL << 20); off += 2UL << 20)
    map(KERNBASE + off, KERNBASE + off, 1, PTE_R | PTE_W | PTE_X | PTE_G | AD);
  map(UART, UART, 0, PTE_R | PTE_W | PTE_G | AD);
  // A direct map of the first GiB of RAM in the upper half: one gigapage.
  map(HIGH_HALF, KERNBASE, 2, PTE_R | PTE_W | PTE_G | AD);
#if LEVELS >= 4
  map(TERA_VA, 0, 3, PTE_R | PTE_G | AD);
#endif
  // User pages: text, data, read-only, then S-mode only pages with odd permissions.
  u64 up = (u64)user_pages;
  map(0x400000, up + 0x0000, 0, PTE_U | PTE_R | PTE_X | AD);
  map(0x401000, up + 0x1000, 0, PTE_U | PTE_R | PTE_W | AD);
  map(0x402000, up + 0x2000, 0, PTE_U | PTE_R | AD);
  map(0x403000, up + 0x3000, 0, PTE_U | PTE_R | PTE_W | PTE_X | AD);
  map(0x405000, up + 0x5000, 0, PTE_X | AD);
  map(0x406000, up + 0x6000, 0, PTE_R | AD);
  map(0x407000, up + 0x7000, 0, PTE_R | PTE_W | AD); // A and D clear below: a page never touched
  *slot(0x407000, 0) &= ~AD;
  map(0x600000, KERNBASE + (2UL << 20), 1, PTE_U | PTE_R | PTE_W | AD);
  // Planted reserved encodings: each makes the MMU raise a page fault.
  map(PLANT + 0x0000, up, 0, PTE_W | AD);
  map(PLANT + 0x1000, up, 0, PTE_W | PTE_X | AD);
  *slot(PLANT + 0x2000, 0) = pte(up, PTE_V | PTE_R | AD) | (1UL << 54);
  *slot(PLANT + 0x3000, 0) = pte(up, PTE_V | PTE_R | AD) | (1UL << 63);
  *slot(PLANT + 0x4000, 0) = pte(up, PTE_V | PTE_R | AD) | (1UL << 61);
  map(PLANT + 0x200000, up, 0, PTE_R | AD);
  *slot(PLANT + 0x200000, 1) |= PTE_A;
  map(PLANT + 0x400000, up, 0, PTE_R | AD);
  *slot(PLANT + 0x400000, 1) |= PTE_U;
  *slot(PLANT + 0x600000, 1) = pte(KERNBASE + 0x1000, PTE_V | PTE_R | AD);
  *slot(PLANT + 0x800000, 0) = pte(up, PTE_V);
  map(PLANT + 0xa00000, up, 0, PTE_R | AD);
  *slot(PLANT + 0xa00000, 1) |= PTE_D;
  *slot(0xC0000000UL, 2) = pte(KERNBASE + (2UL << 20), PTE_V | PTE_R | AD);
}

void smain(void) {
  u64 satp;
  asm volatile("csrr %0, satp" : "=r"(satp));
  puts_("rvseed: S-mode, satp=");
  puthex(satp);
  puts_("\n");
  for (unsigned i = 0; i < sizeof probes / sizeof probes[0]; i++) {
    long r = probe(probes[i].va);
    puts_("probe ");
    puts_(probes[i].name);
    puts_(" va=");
    puthex(probes[i].va);
    if (r < 0 && r > -64) {
      puts_(" fault scause=");
      putc_('0' + (char)(-r / 10));
      putc_('0' + (char)(-r % 10));
    } else {
      puts_(" ok");
    }
    puts_("\n");
  }
  puts_("PMOVIEW-READY variant=sv");
  putc_('0' + VA_BITS / 10);
  putc_('0' + VA_BITS % 10);
  puts_("\n");
  for (;;)
    asm volatile("wfi");
}

void mmain(void) {
  build();
  // PMP: let S-mode reach all of physical memory (QEMU enforces PMP from M-mode's settings).
  asm volatile("csrw pmpaddr0, %0" ::"r"(0x3fffffffffffffUL));
  asm volatile("csrw pmpcfg0, %0" ::"r"(0xfUL));
  asm volatile("csrw medeleg, %0" ::"r"(0xffffUL));
  asm volatile("csrw mideleg, zero");
  asm volatile("csrw satp, %0" ::"r"((SATP_MODE << 60) | ((u64)root >> 12)));
  asm volatile("sfence.vma zero, zero");
  u64 ms;
  asm volatile("csrr %0, mstatus" : "=r"(ms));
  ms = (ms & ~(3UL << 11)) | (1UL << 11); // MPP = S
  asm volatile("csrw mstatus, %0" ::"r"(ms));
  asm volatile("csrw mepc, %0" ::"r"((u64)smain));
  asm volatile("mret");
}
