/* A plain C consumer of the installed libsluice. */
#include <sluice/sluice.h>
#include <stdio.h>

int main(int argc, char **argv) {
  const char *ns = argc > 1 ? argv[1] : "default";
  sluice_segment *seg;
  sluice_limiter *lim;
  int rc = sluice_open(ns, SLUICE_CREATE, &seg);
  if (rc < 0) { fprintf(stderr, "open: %s\n", sluice_last_error()); return 1; }
  rc = sluice_define(seg, "c-api", "algorithm=\"sliding\"\nlimit=3\nwindow=\"1s\"", &lim);
  if (rc < 0) { fprintf(stderr, "define: %s\n", sluice_last_error()); return 1; }
  int granted = 0;
  for (int i = 0; i < 5; i++) granted += sluice_try_acquire(lim, 1, NULL) == 1;
  sluice_close(seg);
  printf("C consumer: %d of 5 granted\n", granted);
  return granted == 3 ? 0 : 1;
}
