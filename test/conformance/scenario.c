// Conformance scenario: builds one of the memory layouts, command lines or process states that the
// pmap reference (§17) lists, prints "READY <pid> [<pid>…]" on stdout and then sleeps until killed.
// Every mode is deterministic in what it maps, so two runs differ only in addresses and inodes.
//
//   scenario MODE [ARG]
//     plain                     nothing extra (a small PIE or non-PIE binary, depending on the build)
//     files DIR                 deleted file, /dev/zero MAP_SHARED, memfd, a path with spaces
//     sysv                      SysV segment: shmget + shmat + IPC_RMID
//     threads N                 N sleeping threads; prints their TIDs after the PID
//     big                       100 MiB anonymous (10 MiB touched) + 10 TiB PROT_NONE reservation
//     names DIR                 files with UTF-8, TAB, DEL, 0xff 0xfe, backslash and newline names
//     longpaths DIR             paths of ~200 bytes and of more than 1023 bytes
//     fixed                     mappings at 0x10000000, 0x10010000 and 0x10020000 (for -A)
//     many N                    N separate anonymous mappings
//     zombies                   two unreaped children: comm "scenario" and comm "we) ir\td"
//     cmdline KIND              re-executes itself with an odd argv (see exec_cmdline)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

static char ready_line[4096];

static void die(const char *what) {
  fprintf(stderr, "scenario: %s: %s\n", what, strerror(errno));
  exit(2);
}

static void add_pid(long pid) {
  size_t len = strlen(ready_line);
  snprintf(ready_line + len, sizeof ready_line - len, " %ld", pid);
}

static void ready_and_sleep(void) {
  printf("READY%s\n", ready_line);
  fflush(stdout);
  for (;;) pause();
}

static void touch(volatile char *p, size_t len) {
  for (size_t i = 0; i < len; i += 4096) p[i] = 1;
}

// A file of `len` bytes filled with 'x', so mappings of it have real pages behind them.
static int make_file(const char *path, size_t len) {
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die(path);
  char buf[4096];
  memset(buf, 'x', sizeof buf);
  for (size_t done = 0; done < len; done += sizeof buf)
    if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) die("write");
  return fd;
}

static void *map_file(const char *path, size_t len, int prot, int flags) {
  int fd = make_file(path, len);
  void *p = mmap(NULL, len, prot, flags, fd, 0);
  if (p == MAP_FAILED) die(path);
  close(fd);
  // Reading every page makes RSS and Pss non-zero, so the -x/-X columns carry real values.
  for (size_t i = 0; i < len; i += 4096) (void)((volatile char *)p)[i];
  return p;
}

static void join(char *out, size_t cap, const char *dir, const char *name) {
  if ((size_t)snprintf(out, cap, "%s/%s", dir, name) >= cap) {
    errno = ENAMETOOLONG;
    die(name);
  }
}

static void mode_files(const char *dir) {
  char path[4096];
  join(path, sizeof path, dir, "deleted_file.bin");
  map_file(path, 16384, PROT_READ, MAP_PRIVATE);
  if (unlink(path) != 0) die("unlink");

  int zero = open("/dev/zero", O_RDWR);
  if (zero < 0) die("/dev/zero");
  void *z = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, zero, 0);
  if (z == MAP_FAILED) die("mmap /dev/zero");
  touch(z, 64 * 1024);
  close(zero);

  int mfd = memfd_create("my memfd", 0);
  if (mfd < 0) die("memfd_create");
  if (ftruncate(mfd, 65536) != 0) die("ftruncate");
  void *m = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
  if (m == MAP_FAILED) die("mmap memfd");
  touch(m, 65536);
  close(mfd);

  join(path, sizeof path, dir, "dir with space");
  if (mkdir(path, 0755) != 0 && errno != EEXIST) die("mkdir");
  join(path, sizeof path, dir, "dir with space/file name  two.bin");
  volatile char *s = map_file(path, 8192, PROT_READ | PROT_WRITE, MAP_SHARED);
  s[0] = 'y';
  ready_and_sleep();
}

static void mode_sysv(void) {
  int id = shmget(IPC_PRIVATE, 65536, IPC_CREAT | 0600);
  if (id < 0) die("shmget");
  void *p = shmat(id, NULL, 0);
  if (p == (void *)-1) die("shmat");
  touch(p, 65536);
  // Marked for removal at once: the segment lives exactly as long as this process.
  if (shmctl(id, IPC_RMID, NULL) != 0) die("shmctl");
  ready_and_sleep();
}

static void *thread_main(void *arg) {
  long *tid = arg;
  *tid = syscall(SYS_gettid);
  for (;;) pause();
  return NULL;
}

static void mode_threads(int n) {
  if (n < 1 || n > 64) n = 8;
  static long tids[64];
  for (int i = 0; i < n; i++) {
    pthread_t t;
    if (pthread_create(&t, NULL, thread_main, &tids[i]) != 0) die("pthread_create");
  }
  for (int i = 0; i < n; i++)
    while (__atomic_load_n(&tids[i], __ATOMIC_SEQ_CST) == 0) usleep(1000);
  for (int i = 0; i < n; i++) add_pid(tids[i]);
  ready_and_sleep();
}

static void mode_big(void) {
  size_t len = 100u << 20;
  char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) die("mmap 100M");
  touch(p, 10u << 20);
  size_t huge = (size_t)10 << 40;
  void *r = mmap(NULL, huge, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (r == MAP_FAILED) die("mmap 10T");
  ready_and_sleep();
}

static void mode_names(const char *dir) {
  static const char *names[] = {
      "utf8_\xc3\xa9t\xc3\xa9_\xe2\x82\xac.bin",
      "tab\there.bin",
      "del\x7f.bin",
      "bad\xff\xfe.bin",
      "back\\slash.bin",
      "nl\nhere.bin",
  };
  char path[4096];
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    join(path, sizeof path, dir, names[i]);
    map_file(path, 4096, PROT_READ, MAP_PRIVATE);
  }
  ready_and_sleep();
}

static void mode_longpaths(const char *dir) {
  char path[4096];
  char comp[201];
  // ~200 bytes in total: the -X description is cut at 127 bytes, inside this directory name.
  memset(comp, 'a', 120);
  comp[120] = 0;
  join(path, sizeof path, dir, comp);
  if (mkdir(path, 0755) != 0 && errno != EEXIST) die("mkdir");
  strncat(path, "/mid_file_name.bin", sizeof path - strlen(path) - 1);
  map_file(path, 4096, PROT_READ, MAP_PRIVATE);

  // More than 1023 bytes: five 200-byte directory names.
  memset(comp, 'b', 200);
  comp[200] = 0;
  snprintf(path, sizeof path, "%s", dir);
  for (int i = 0; i < 5; i++) {
    strncat(path, "/", sizeof path - strlen(path) - 1);
    strncat(path, comp, sizeof path - strlen(path) - 1);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) die("mkdir");
  }
  strncat(path, "/long_file_name.bin", sizeof path - strlen(path) - 1);
  map_file(path, 8192, PROT_READ, MAP_PRIVATE);
  ready_and_sleep();
}

static void *map_fixed(uintptr_t addr, size_t len, int prot) {
  void *p = mmap((void *)addr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (p == MAP_FAILED || (uintptr_t)p != addr) die("mmap fixed");
  return p;
}

static void mode_fixed(void) {
  touch(map_fixed(0x10000000, 16384, PROT_READ | PROT_WRITE), 16384);
  map_fixed(0x10010000, 16384, PROT_READ | PROT_WRITE);
  map_fixed(0x10020000, 4096, PROT_READ);
  ready_and_sleep();
}

static void mode_many(int n) {
  if (n < 1 || n > 100000) n = 3000;
  // Reserve one block and protect every other page differently, so the kernel cannot merge
  // neighbours and each page stays its own mapping.
  size_t page = 4096;
  char *base = mmap(NULL, (size_t)n * page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) die("mmap many");
  for (int i = 0; i < n; i += 2)
    if (mprotect(base + (size_t)i * page, page, PROT_READ | PROT_WRITE) != 0) die("mprotect");
  for (int i = 0; i < n; i += 2) base[(size_t)i * page] = 1;
  ready_and_sleep();
}

static pid_t zombie(const char *comm) {
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    if (comm != NULL) prctl(PR_SET_NAME, comm, 0, 0, 0);
    _exit(0);
  }
  // Wait until the child really is a zombie, without reaping it.
  siginfo_t info;
  if (waitid(P_PID, pid, &info, WEXITED | WNOWAIT) != 0) die("waitid");
  return pid;
}

static void mode_zombies(void) {
  pid_t plain = zombie(NULL);
  pid_t weird = zombie("we) ir\td");
  add_pid(plain);
  add_pid(weird);
  ready_and_sleep();
}

static char *big_arg(size_t len, char fill) {
  char *s = malloc(len + 1);
  if (s == NULL) die("malloc");
  memset(s, fill, len);
  s[len] = 0;
  return s;
}

// The odd command lines are made by re-executing this binary through execve, because only that
// can pass arbitrary bytes (invalid UTF-8, empty strings) as arguments. argv[1] is "run-KIND",
// which the re-executed process recognises.
static void exec_cmdline(const char *self, const char *kind) {
  char run[64];
  snprintf(run, sizeof run, "run-%s", kind);
  char *env[] = {"SCENARIO_ENV=one", "SECOND=two", NULL};
  if (strcmp(kind, "odd") == 0) {
    char *argv[] = {(char *)self, run, "plain", "arg with  spaces", "", "", "tab\there",
                    "nl\nhere", "utf8_\xc3\xa9\xe2\x82\xac", "ctl\x01\x7f", "", NULL};
    execve(self, argv, env);
  } else if (strcmp(kind, "invalid") == 0) {
    char *argv[] = {(char *)self, run, "\tpre", "\xff" "z", "a\tb", "\xc3\xa9", NULL};
    execve(self, argv, env);
  } else if (strcmp(kind, "truncated") == 0) {
    char *argv[] = {(char *)self, run, "euro", "\xe2\x82", NULL};
    execve(self, argv, env);
  } else if (strcmp(kind, "huge") == 0) {
    // Three 50,000-byte arguments: past pmap's 131071-byte cut, below the kernel's per-arg limit.
    char *argv[] = {(char *)self, run, big_arg(50000, 'p'), big_arg(50000, 'q'),
                    big_arg(50000, 'r'), NULL};
    execve(self, argv, env);
  } else if (strcmp(kind, "zeroed") == 0 || strcmp(kind, "overwritten") == 0) {
    char *argv[] = {(char *)self, run, "some", "args", NULL};
    execve(self, argv, env);
  } else {
    fprintf(stderr, "scenario: unknown cmdline kind %s\n", kind);
    exit(2);
  }
  die("execve");
}

static void run_cmdline(int argc, char **argv) {
  char *start = argv[0];
  char *end = argv[argc - 1] + strlen(argv[argc - 1]) + 1;
  if (strcmp(argv[1], "run-zeroed") == 0) {
    memset(start, 0, (size_t)(end - start));
  } else if (strcmp(argv[1], "run-overwritten") == 0) {
    // Like setproctitle: the final NUL goes too, so the kernel continues into the environment.
    memset(start, ' ', (size_t)(end - start));
    memcpy(start, "t x", 3);
  }
  ready_and_sleep();
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: scenario MODE [ARG]\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  snprintf(ready_line, sizeof ready_line, " %ld", (long)getpid());
  const char *mode = argv[1];
  const char *arg = argc > 2 ? argv[2] : NULL;
  if (strncmp(mode, "run-", 4) == 0) run_cmdline(argc, argv);
  if (strcmp(mode, "plain") == 0) ready_and_sleep();
  if (arg == NULL && strcmp(mode, "sysv") != 0 && strcmp(mode, "big") != 0 &&
      strcmp(mode, "fixed") != 0 && strcmp(mode, "zombies") != 0) {
    fprintf(stderr, "scenario: mode %s needs an argument\n", mode);
    return 2;
  }
  if (strcmp(mode, "files") == 0) mode_files(arg);
  if (strcmp(mode, "sysv") == 0) mode_sysv();
  if (strcmp(mode, "threads") == 0) mode_threads(atoi(arg));
  if (strcmp(mode, "big") == 0) mode_big();
  if (strcmp(mode, "names") == 0) mode_names(arg);
  if (strcmp(mode, "longpaths") == 0) mode_longpaths(arg);
  if (strcmp(mode, "fixed") == 0) mode_fixed();
  if (strcmp(mode, "many") == 0) mode_many(atoi(arg));
  if (strcmp(mode, "zombies") == 0) mode_zombies();
  if (strcmp(mode, "cmdline") == 0) {
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0) die("readlink");
    self[n] = 0;
    exec_cmdline(self, arg);
  }
  fprintf(stderr, "scenario: unknown mode %s\n", mode);
  return 2;
}
