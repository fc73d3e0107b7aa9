/* hog MB [STEP_US]: mallocs MB megabytes in 1 MB steps, touching every page,
 * sleeping STEP_US between steps; prints "hog: done MB" and exits 0 once it
 * holds them all. Stalled (not killed) when its cgroup has oom_kill_disable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  long mb = argc > 1 ? atol(argv[1]) : 100;
  long step_us = argc > 2 ? atol(argv[2]) : 0;
  for (long i = 0; i < mb; i++) {
    char *p = malloc(1 << 20);
    if (p == NULL) {
      fprintf(stderr, "hog: malloc failed at %ld MB\n", i);
      return 2;
    }
    memset(p, 1, 1 << 20);
    if (step_us > 0) usleep((useconds_t)step_us);
  }
  printf("hog: done %ld MB\n", mb);
  fflush(stdout);
  return 0;
}
