/* sluice C API: a stable ABI for C and FFI callers.
 *
 * Return codes: >= 0 success (1 granted / 0 not granted where a decision is
 * returned), < 0 a SLUICE_E* error; sluice_strerror(code) describes it, and
 * sluice_last_error() gives this thread's last detailed message. No C++
 * exception ever leaves a function of this API: an allocation failure is
 * SLUICE_ENOMEM, anything else unexpected SLUICE_EINTERNAL. */
#ifndef SLUICE_SLUICE_H_
#define SLUICE_SLUICE_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SLUICE_STATIC_DEFINE)
#define SLUICE_API
#else
#define SLUICE_API __attribute__((visibility("default")))
#endif

typedef struct sluice_segment sluice_segment;
typedef struct sluice_limiter sluice_limiter;

typedef struct sluice_lease {
  uint64_t token;     /* fencing token, strictly increasing per limiter */
  int64_t granted_ns; /* CLOCK_MONOTONIC */
  int64_t expires_ns; /* CLOCK_MONOTONIC */
  uint32_t index;
  uint32_t reserved;
} sluice_lease;

enum {
  SLUICE_OK = 0,
  SLUICE_EINVAL = -1,
  SLUICE_ENOTFOUND = -2,
  SLUICE_EEXIST = -3,
  SLUICE_ECORRUPT = -4,
  SLUICE_EVERSION = -5,
  SLUICE_EFULL = -6,
  SLUICE_EIO = -7,
  SLUICE_ETIMEOUT = -8,
  SLUICE_EPERM = -9,
  SLUICE_ECANCELLED = -10,
  SLUICE_ENOTHELD = -11,
  SLUICE_ENOMEM = -12,   /* out of memory */
  SLUICE_EINTERNAL = -13 /* an unexpected internal error (a bug: please report) */
};

/* sluice_open flags */
#define SLUICE_CREATE 1
#define SLUICE_READONLY 2

/* Opens namespace `ns` (NULL: $SLUICE_NAMESPACE or "default"). */
SLUICE_API int sluice_open(const char *ns, int flags, sluice_segment **out);
SLUICE_API void sluice_close(sluice_segment *seg);
/* Defines limiter `name` from its budget-file table, e.g.
 * "algorithm=\"sliding\"\nlimit=5\nwindow=\"800ms\"". Same params = no-op;
 * other params of the same algorithm apply live. The limiter handle belongs
 * to the segment and is freed by sluice_close. */
SLUICE_API int sluice_define(sluice_segment *seg, const char *name, const char *spec,
                             sluice_limiter **out);
SLUICE_API int sluice_find(sluice_segment *seg, const char *name, sluice_limiter **out);
/* 1 granted, 0 denied (*retry_after_ns, if not NULL, says how long to wait;
 * -1: never, more permits than the limiter's capacity), < 0 error
 * (SLUICE_EPERM on a segment opened SLUICE_READONLY). */
SLUICE_API int sluice_try_acquire(sluice_limiter *l, uint32_t permits, int64_t *retry_after_ns);
/* Blocks; timeout_ns < 0 waits forever. 1 granted, SLUICE_ETIMEOUT, or
 * SLUICE_EINVAL at once when permits exceed the limiter's capacity (also
 * when the capacity shrinks below permits during the wait). */
SLUICE_API int sluice_acquire(sluice_limiter *l, uint32_t permits, int64_t timeout_ns);
SLUICE_API int sluice_lease_acquire(sluice_limiter *l, int64_t timeout_ns, sluice_lease *out);
SLUICE_API int sluice_lease_release(sluice_limiter *l, const sluice_lease *lease);
SLUICE_API int sluice_lease_renew(sluice_limiter *l, sluice_lease *lease);
SLUICE_API const char *sluice_strerror(int code);
/* Detailed message of this thread's last failed call ("" if none). */
SLUICE_API const char *sluice_last_error(void);
/* CLOCK_MONOTONIC in nanoseconds, the clock decisions use. */
SLUICE_API int64_t sluice_now_ns(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SLUICE_SLUICE_H_ */
