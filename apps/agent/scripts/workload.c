// Synthetic process for bench:agent: N private mappings (alternating protections so the kernel
// cannot merge neighbours into one VMA), each touched so it has resident pages, plus some heap.
// Waits until killed.
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 10;
  long heap_kb = argc > 2 ? atol(argv[2]) : 256;
  long page = sysconf(_SC_PAGESIZE);
  char *base = mmap(NULL, (size_t)(2 * n + 1) * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return 1;
  for (long i = 0; i < n; i++) {
    char *p = base + (2 * i + 1) * page;
    if (mprotect(p, page, PROT_READ | PROT_WRITE) != 0) return 1;
    p[0] = (char)i;
  }
  char *heap = malloc((size_t)heap_kb * 1024);
  if (heap) memset(heap, 1, (size_t)heap_kb * 1024);
  for (;;) pause();
}
