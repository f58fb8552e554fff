/*
 * memhog: a process that holds anonymous memory, as a guest workload does, for the
 * real-guest tests (busybox has nothing like it; tmpfs pages belong to no process, so
 * the OOM killer cannot free them by killing one).
 *
 *   memhog MIB [HOT_MIB] [RATE_MIB_PER_S]
 *
 * Maps MIB of private anonymous memory one MiB at a time (at RATE MiB/s, or at once),
 * writing every page, then prints "ready MIB" and keeps the first HOT_MIB hot: every
 * page of it is written again once a second, so reclaim finds it referenced.
 * Built static by build-guest.sh; its output goes to a file the control port reads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024L * 1024L)
#define PAGE 4096L

static void touch(volatile char *p, long bytes, char v) {
  for (long off = 0; off < bytes; off += PAGE) p[off] = v;
}

static void nap(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: memhog MIB [HOT_MIB] [RATE_MIB_PER_S]\n");
    return 2;
  }
  long mib = atol(argv[1]);
  long hot = argc > 2 ? atol(argv[2]) : 0;
  double rate = argc > 3 ? atof(argv[3]) : 0;
  if (mib <= 0 || hot < 0 || hot > mib || rate < 0) {
    fprintf(stderr, "memhog: bad arguments\n");
    return 2;
  }
  char **chunks = calloc((size_t)mib, sizeof *chunks);
  if (!chunks) return 1;
  for (long i = 0; i < mib; i++) {
    chunks[i] = mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (chunks[i] == MAP_FAILED) {
      fprintf(stderr, "memhog: mmap failed after %ld MiB\n", i);
      return 1;
    }
    touch(chunks[i], MIB, 1);
    if (rate > 0) nap(1.0 / rate);
  }
  printf("ready %ld\n", mib);
  fflush(stdout);
  for (char v = 2;; v++) {
    for (long i = 0; i < hot; i++) touch(chunks[i], MIB, v);
    nap(1.0);
  }
}
