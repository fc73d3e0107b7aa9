/* spin SECONDS: burns one CPU for SECONDS of wall time, then exits 0. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 5;
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  volatile unsigned long n = 0;
  do {
    for (int i = 0; i < 100000; i++) n++;
    clock_gettime(CLOCK_MONOTONIC, &t);
  } while ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
  printf("spin: done\n");
  return 0;
}
