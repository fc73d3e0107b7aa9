/* forks N SECONDS: tries N forks; each child sleeps SECONDS and exits. Prints
 * "forks: ok=K failed=F" (failed forks are the pids limit at work), waits for
 * the children and exits 0. Bounded: at most N children ever exist. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 30;
  int seconds = argc > 2 ? atoi(argv[2]) : 5;
  int ok = 0, failed = 0;
  for (int i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      sleep((unsigned)seconds);
      _exit(0);
    }
    if (pid < 0) failed++;
    else ok++;
  }
  printf("forks: ok=%d failed=%d\n", ok, failed);
  fflush(stdout);
  while (wait(NULL) > 0 || errno == EINTR) {
  }
  return 0;
}
