/* hog MB [STEP_US] [HOLD_S]: mallocs MB megabytes in 1 MB steps, touching
 * every page, sleeping STEP_US between steps; prints "hog: done MB at T ms"
 * (T: wall-clock ms), holds the
 * memory HOLD_S seconds and exits 0. Stalled (not killed) when its cgroup has
 * oom_kill_disable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  long mb = argc > 1 ? atol(argv[1]) : 100;
  long step_us = argc > 2 ? atol(argv[2]) : 0;
  unsigned hold_s = argc > 3 ? (unsigned)atol(argv[3]) : 0;
  for (long i = 0; i < mb; i++) {
    char *p = malloc(1 << 20);
    if (p == NULL) {
      fprintf(stderr, "hog: malloc failed at %ld MB\n", i);
      return 2;
    }
    memset(p, 1, 1 << 20);
    if (step_us > 0) usleep((useconds_t)step_us);
  }
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  /* Wall-clock ms, so a bench can set the finish beside the host's log times. */
  printf("hog: done %ld MB at %lld ms\n", mb, (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
  fflush(stdout);
  if (hold_s > 0) sleep(hold_s);
  return 0;
}
