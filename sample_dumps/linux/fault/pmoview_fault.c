// SPDX-License-Identifier: GPL-2.0
/*
 * pmoview_fault: makes the kernel take one page fault it cannot handle, for pmoview's faulting
 * Linux samples. Before the access it prints, on the console, what the kernel itself says about the
 * address (lookup_address: the level of the entry that maps it or where the walk stops), so the
 * sample's truth does not depend on pmoview.
 *
 *   insmod pmoview_fault.ko what=ro_write       write to this module's .rodata (read-only once loaded)
 *   insmod pmoview_fault.ko what=vmalloc_guard  read the guard page after a vmalloc'ed page: not present
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/vmalloc.h>
#include <asm/pgtable_types.h>

static char *what = "ro_write";
/* In .rodata: CONFIG_STRICT_MODULE_RWX maps it read-only once the module is loaded. */
static const char pmoview_ro[PAGE_SIZE] __aligned(PAGE_SIZE) = "pmoview: this page is read-only";
module_param(what, charp, 0444);

static void report(const char *kind, unsigned long va)
{
	unsigned int level = 0;
	pte_t *pte = lookup_address(va, &level);

	pr_emerg("PMOVIEW-FAULT what=%s va=0x%lx lookup_level=%u entry=0x%llx\n", kind, va,
		 pte ? level : 0, pte ? (unsigned long long)pte_val(*pte) : 0ULL);
}

static int __init pmoview_fault_init(void)
{
	if (!strcmp(what, "vmalloc_guard")) {
		char *p = vmalloc(PAGE_SIZE);
		unsigned long va;

		if (!p)
			return -ENOMEM;
		va = (unsigned long)p + PAGE_SIZE + 0x238;
		report("vmalloc_guard", va);
		pr_emerg("PMOVIEW-FAULTING read 0x%lx\n", va);
		(void)READ_ONCE(*(volatile unsigned long *)va);
	} else {
		unsigned long va = (unsigned long)pmoview_ro + 0x10;

		report("ro_write", va);
		pr_emerg("PMOVIEW-FAULTING write 0x%lx\n", va);
		WRITE_ONCE(*(volatile char *)va, 'X');
	}
	pr_emerg("PMOVIEW-PANIC the access did not fault\n");
	return -EINVAL;
}

module_init(pmoview_fault_init);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("one unhandled kernel page fault, for pmoview samples");
