// pmoview sample helper, added to xv6's user programs by make_riscv_samples.sh (ours, not xv6's):
// grow the heap by a few pages, touch them, then spin in user mode so that at capture time a hart
// runs with this process's page table in satp (QEMU's "info mem" for that hart is then the truth
// for a user address space: text, data, guard page, stack, heap, trapframe, trampoline).
#include "kernel/types.h"
#include "user/user.h"

int
main(int argc, char *argv[])
{
  int pages = argc > 1 ? atoi(argv[1]) : 3;
  char *heap = sbrk(pages * 4096);
  for(int i = 0; i < pages * 4096; i += 4096)
    heap[i] = (char)i;
  printf("spin %d: %d heap pages at %p\n", getpid(), pages, heap);
  volatile unsigned long n = 0;
  for(;;)
    n++;
}
