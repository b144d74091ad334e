// Benchmark workload: one process with N extra small mappings that cannot merge (alternating
// protections), some pages touched so smaps has page tables to walk.
// Usage: workload N TOUCH_EVERY   prints "ready" when mapped, then sleeps until killed.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv) {
  // Die with the benchmark even if it is killed without cleaning up.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (argc < 3) return 2;
  long n = atol(argv[1]);
  long every = atol(argv[2]);
  long pg = sysconf(_SC_PAGESIZE);
  if (n > 0) {
    char *base = mmap(NULL, (size_t)n * pg, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) { perror("mmap"); return 1; }
    for (long i = 0; i < n; i++)
      if (every > 0 && i % every == 0) base[i * pg] = 1;
    for (long i = 1; i < n; i += 2)
      if (mprotect(base + i * pg, pg, PROT_READ) != 0) { perror("mprotect"); return 1; }
  }
  if (getppid() == 1) return 0;
  printf("ready\n");
  fflush(stdout);
  for (;;) pause();
}
