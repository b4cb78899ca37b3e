/* Calls every function of the installed <sluice/sluice.h>, built as plain C
 * with pkg-config against the installed shared libsluice. A function the
 * library does not export fails the link; a wrong result exits 1.
 * usage: c_api NAMESPACE (created here; the caller removes it). */
#include <sluice/sluice.h>
#include <stdio.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond)                                                                      \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      fprintf(stderr, "c_api.c:%d: CHECK(%s) failed; last error: %s\n", __LINE__, #cond, \
              sluice_last_error());                                                      \
      failures++;                                                                        \
    }                                                                                    \
  } while (0)

int main(int argc, char **argv) {
  const char *ns = argc > 1 ? argv[1] : "default";
  sluice_segment *seg = NULL;
  sluice_limiter *win = NULL, *found = NULL, *gcra = NULL, *lock = NULL;
  int64_t retry = 0;

  int64_t t0 = sluice_now_ns();
  CHECK(t0 > 0);
  CHECK(strcmp(sluice_strerror(SLUICE_OK), "success") == 0);
  CHECK(strcmp(sluice_strerror(SLUICE_ENOTFOUND), "not found") == 0);

  if (sluice_open(ns, SLUICE_CREATE, &seg) != SLUICE_OK) {
    fprintf(stderr, "open %s: %s\n", ns, sluice_last_error());
    return 1;
  }
  sluice_segment *unused = NULL;
  CHECK(sluice_open(ns, 1 << 7, &unused) == SLUICE_EINVAL && unused == NULL); /* unknown flag */
  CHECK(sluice_last_error()[0] != '\0');

  /* window: 2 per second. */
  CHECK(sluice_define(seg, "win", "algorithm=\"window\"\nlimit=2\nwindow=\"1s\"", &win) ==
        SLUICE_OK);
  CHECK(sluice_define(seg, "bad", "algorithm=\"window\"\nlimit=2", &found) == SLUICE_EINVAL);
  CHECK(sluice_find(seg, "win", &found) == SLUICE_OK);
  CHECK(sluice_find(seg, "absent", &found) == SLUICE_ENOTFOUND);
  CHECK(strstr(sluice_last_error(), "absent") != NULL);
  CHECK(sluice_try_acquire(win, 1, &retry) == 1 && retry == 0);
  CHECK(sluice_try_acquire(win, 1, NULL) == 1);
  CHECK(sluice_try_acquire(win, 1, &retry) == 0 && retry > 0);
  CHECK(sluice_try_acquire(win, 3, &retry) == 0 && retry == -1); /* above capacity */
  CHECK(sluice_try_acquire(win, 0, NULL) == SLUICE_EINVAL);

  /* gcra: 1000 per second, burst 1: a blocking acquire is granted at once. */
  CHECK(sluice_define(seg, "gcra", "algorithm=\"gcra\"\nrate=1000\nperiod=\"1s\"\nburst=1",
                      &gcra) == SLUICE_OK);
  CHECK(sluice_acquire(gcra, 1, 1000000000) == 1);
  CHECK(sluice_acquire(gcra, 2, 1000000000) == SLUICE_EINVAL); /* above capacity */

  /* lease: one holder. */
  CHECK(sluice_define(seg, "lock", "algorithm=\"lease\"\nholders=1\nttl=\"10s\"", &lock) ==
        SLUICE_OK);
  sluice_lease lease, other;
  memset(&lease, 0, sizeof lease);
  CHECK(sluice_lease_acquire(lock, 0, &lease) == 1);
  CHECK(lease.token > 0 && lease.expires_ns > lease.granted_ns);
  CHECK(sluice_lease_acquire(lock, 0, &other) == SLUICE_ETIMEOUT);
  int64_t old_expiry = lease.expires_ns;
  CHECK(sluice_lease_renew(lock, &lease) == SLUICE_OK && lease.expires_ns >= old_expiry);
  CHECK(sluice_lease_release(lock, &lease) == SLUICE_OK);
  CHECK(sluice_lease_release(lock, &lease) == SLUICE_ENOTHELD);
  CHECK(sluice_lease_renew(lock, &lease) == SLUICE_ENOTHELD);
  sluice_close(seg);

  /* A read-only mapping decides nothing. */
  sluice_segment *ro = NULL;
  CHECK(sluice_open(ns, SLUICE_READONLY, &ro) == SLUICE_OK);
  if (ro) {
    CHECK(sluice_find(ro, "win", &found) == SLUICE_OK);
    CHECK(sluice_try_acquire(found, 1, NULL) == SLUICE_EPERM);
    sluice_close(ro);
  }

  CHECK(sluice_now_ns() >= t0);
  printf("C API: 12 functions called, %d failed checks\n", failures);
  return failures == 0 ? 0 : 1;
}
