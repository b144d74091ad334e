// A process with the mappings procfs fixtures and tests need: threads (stacks and guard pages),
// memfd, SysV shm, shared anonymous memory, a named anonymous region, an unlinked file, a path with
// spaces / a newline / 0xff bytes, and a comm with a space, a `)` and a tab.
// Usage: fixture-workload DIR  (creates files in DIR; prints "ready" when everything is mapped)
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <unistd.h>
#include <fcntl.h>

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

static void *idle(void *arg) {
  (void)arg;
  for (;;) pause();
  return NULL;
}

static void map_file(const char *dir, const char *name, int shared) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || ftruncate(fd, 8192) != 0) { perror(path); exit(1); }
  char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, shared ? MAP_SHARED : MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) { perror("mmap"); exit(1); }
  p[0] = 1;
  close(fd);
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  const char *dir = argv[1];
  map_file(dir, "file name  two.bin", 1);
  map_file(dir, "new\nline", 0);
  map_file(dir, "bytes\xff\xfe", 0);
  map_file(dir, "deleted.bin", 0);
  char path[4096];
  snprintf(path, sizeof path, "%s/deleted.bin", dir);
  unlink(path);

  int mfd = memfd_create("my memfd", 0);
  if (mfd < 0 || ftruncate(mfd, 4096) != 0) { perror("memfd"); return 1; }
  char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
  m[0] = 1;

  int id = shmget(IPC_PRIVATE, 65536, IPC_CREAT | 0600);
  char *s = shmat(id, NULL, 0);
  s[0] = 1;
  shmctl(id, IPC_RMID, NULL);

  char *z = mmap(NULL, 16384, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  z[0] = 1;
  char *named = mmap(NULL, 16384, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  named[0] = 1;
  prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)named, 16384, "my name");

  pthread_t t;
  for (int i = 0; i < 3; i++) pthread_create(&t, NULL, idle, NULL);
  prctl(PR_SET_NAME, "we) ir\td", 0, 0, 0);
  printf("ready\n");
  fflush(stdout);
  for (;;) pause();
}
