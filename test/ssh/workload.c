// A process whose memory map exercises pmap's naming rules: a shared file under a path with
// spaces, a deleted file, a memfd, a SysV segment, a thread stack, and optionally N extra small
// mappings (for the 3,000-mapping benchmark). Prints "ready" once everything is mapped, then
// sleeps until killed.
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

static void *idle(void *arg) {
  (void)arg;
  for (;;) pause();
  return NULL;
}

static void map_file(const char *path, int keep) {
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || ftruncate(fd, 8192) != 0) exit(2);
  char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) exit(3);
  p[0] = 1;
  close(fd);
  if (!keep) unlink(path);
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "/tmp";
  long extra = argc > 2 ? atol(argv[2]) : 0;
  char path[4096];

  snprintf(path, sizeof path, "%s/dir with space", dir);
  mkdir(path, 0700);
  snprintf(path, sizeof path, "%s/dir with space/file name  two.bin", dir);
  map_file(path, 1);
  snprintf(path, sizeof path, "%s/deleted_file.bin", dir);
  map_file(path, 0);

  int mfd = memfd_create("my memfd", 0);
  if (mfd < 0 || ftruncate(mfd, 65536) != 0) return 4;
  char *m = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
  if (m == MAP_FAILED) return 5;
  m[0] = 1;

  int shmid = shmget(IPC_PRIVATE, 65536, IPC_CREAT | 0600);
  if (shmid < 0) return 6;
  char *s = shmat(shmid, NULL, 0);
  if (s == (void *)-1) return 7;
  s[0] = 1;
  shmctl(shmid, IPC_RMID, NULL);

  // Alternate protections so neighbouring mappings never merge into one VMA.
  for (long i = 0; i < extra; i++) {
    int prot = (i % 2) ? PROT_READ : PROT_READ | PROT_WRITE;
    char *p = mmap(NULL, 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 8;
    if (prot & PROT_WRITE) p[0] = 1;
  }

  pthread_t thread;
  if (pthread_create(&thread, NULL, idle, NULL) != 0) return 9;

  printf("ready\n");
  fflush(stdout);
  for (;;) pause();
}
