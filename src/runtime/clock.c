/* src/runtime/clock.c - the one place that reads time, and the virtual
 * clock. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include <cancelable/clock.h>

#include "runtime/clock.h"
#include "runtime/compiler.h" /* cx_config.h: CX_HAVE_PTHREAD_COND_CLOCKWAIT */
#include "runtime/timer.h"

static _Atomic bool virtual_on;     /* (atomic) */
static _Atomic int64_t virtual_now; /* (atomic) ns, valid while virtual_on */

int64_t cx__mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * CX__NS_PER_SEC + ts.tv_nsec;
}

int64_t cx__now_ns(void) {
  if (atomic_load_explicit(&virtual_on, memory_order_acquire))
    return atomic_load_explicit(&virtual_now, memory_order_acquire);
  return cx__mono_ns();
}

int64_t cx__now_coarse_ns(void) {
#ifdef CLOCK_MONOTONIC_COARSE
  struct timespec ts;
  if (atomic_load_explicit(&virtual_on, memory_order_acquire))
    return atomic_load_explicit(&virtual_now, memory_order_acquire);
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (int64_t)ts.tv_sec * CX__NS_PER_SEC + ts.tv_nsec;
#else
  return cx__now_ns();
#endif
}

double cx__wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool cx__clock_is_virtual(void) {
  return atomic_load_explicit(&virtual_on, memory_order_acquire);
}

int cx__seconds_to_ns(double seconds, int64_t *out) {
  if (!isfinite(seconds) || seconds < 0 || seconds > 9.2e9) return -EINVAL;
  /* Rounds half up, as llround() for these non-negative values, without
   * the libm call: seconds * 1e9 + 0.5 < 2^63 here. */
  *out = (int64_t)(seconds * 1e9 + 0.5);
  return 0;
}

int cx__duration_to_ns(double seconds, int64_t *out) {
  int rc;
  if (!(seconds > 0)) return -EINVAL; /* also NaN */
  rc = cx__seconds_to_ns(seconds, out);
  /* A positive duration below half a nanosecond is the shortest one, not
   * none (as current coreutils rounds a tiny timeout up). */
  if (rc == 0 && *out == 0) *out = 1;
  return rc;
}

int cx__timeout_to_deadline(double timeout, int64_t *deadline) {
  int64_t ns = 0;
  if (isnan(timeout)) return -EINVAL;
  if (timeout < 0 || isinf(timeout) || timeout > 9.2e9) {
    *deadline = CX__NO_DEADLINE;
    return 0;
  }
  cx__seconds_to_ns(timeout, &ns);
  *deadline = cx__add_saturated(cx__mono_ns(), ns);
  return 0;
}

int64_t cx__add_saturated(int64_t now, int64_t ns) {
  return ns >= CX__NO_DEADLINE - now ? CX__NO_DEADLINE : now + ns;
}

struct timespec cx__ns_to_timespec(int64_t ns) {
  struct timespec ts;
  ts.tv_sec = (time_t)(ns / CX__NS_PER_SEC);
  ts.tv_nsec = (long)(ns % CX__NS_PER_SEC);
  return ts;
}

struct timespec cx__deadline_to_realtime(int64_t deadline) {
  struct timespec now;
  int64_t left = deadline - cx__mono_ns();
  clock_gettime(CLOCK_REALTIME, &now);
  return cx__ns_to_timespec(cx__add_saturated(
      (int64_t)now.tv_sec * CX__NS_PER_SEC + now.tv_nsec, left > 0 ? left : 0));
}

int cx__cond_timedwait_mono(pthread_cond_t *cond, pthread_mutex_t *mu,
                            int64_t deadline) {
  struct timespec ts;
  if (deadline == CX__NO_DEADLINE) return pthread_cond_wait(cond, mu);
#if defined(CX_HAVE_PTHREAD_COND_CLOCKWAIT)
  ts = cx__ns_to_timespec(deadline);
  return pthread_cond_clockwait(cond, mu, CLOCK_MONOTONIC, &ts);
#else
  ts = cx__deadline_to_realtime(deadline);
  return pthread_cond_timedwait(cond, mu, &ts);
#endif
}

int cx__cond_wait_deadline(pthread_cond_t *cond, pthread_mutex_t *mu,
                           int64_t deadline) {
  if (cx__cond_timedwait_mono(cond, mu, deadline) == ETIMEDOUT &&
      cx__mono_ns() >= deadline)
    return -ETIMEDOUT;
  return 0;
}

int cx__deadline_to_poll_ms(int64_t deadline) {
  int64_t left;
  if (deadline == CX__NO_DEADLINE) return -1;
  left = deadline - cx__mono_ns();
  if (left <= 0) return 0;
  left = (left + 999999) / 1000000;
  return left > INT_MAX ? INT_MAX : (int)left;
}

double cx_now(void) { return (double)cx__now_ns() / 1e9; }

int cx_clock_use_virtual(void) {
  bool expected = false;
  if (atomic_load(&virtual_on)) return -EBUSY; /* and change nothing */
  atomic_store(&virtual_now, cx__mono_ns());
  if (!atomic_compare_exchange_strong(&virtual_on, &expected, true))
    return -EBUSY;
  cx__timer_clock_changed(false);
  return 0;
}

int cx_clock_use_real(void) {
  bool expected = true;
  if (!atomic_compare_exchange_strong(&virtual_on, &expected, false))
    return -EINVAL;
  cx__timer_clock_changed(false);
  return 0;
}

int cx_clock_advance(double seconds) {
  int64_t ns;
  if (!cx__clock_is_virtual()) return -EINVAL;
  if (cx__seconds_to_ns(seconds, &ns) != 0) return -EINVAL;
  {
    int64_t now = atomic_load(&virtual_now);
    while (!atomic_compare_exchange_weak(&virtual_now, &now,
                                         cx__add_saturated(now, ns))) {
    }
  }
  cx__timer_clock_changed(true);
  return 0;
}

/* Writes @ns as seconds with at most 3 decimals ("60", "0.25") into @out:
 * cheaper than printf's %g on the timer thread. */
void cx__format_timeout_message(int64_t ns, char *out, size_t len) {
  int64_t ms = (ns + 500000) / 1000000;
  int frac = (int)(ms % 1000);
  if (ns < 1000000) {
    snprintf(out, len, "timed out after %g s", (double)ns / 1e9);
    return;
  }
  if (frac == 0) {
    snprintf(out, len, "timed out after %lld s", (long long)(ms / 1000));
    return;
  }
  while (frac % 10 == 0) frac /= 10;
  snprintf(out, len, "timed out after %lld.%0*d s", (long long)(ms / 1000),
           ms % 100 == 0  ? 1
           : ms % 10 == 0 ? 2
                          : 3,
           frac);
}
