/* src/wait/sleep.c - a sleep that a cancel interrupts. */
#include <math.h>
#include <time.h>

#include "runtime/clock.h"
#include "wait/wait_internal.h"

/* Uncancellable sleep to an absolute monotonic deadline. */
static void plain_sleep(int64_t ns) {
  struct timespec ts = cx__ns_to_timespec(cx__add_saturated(cx__mono_ns(), ns));
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0) {
  }
}

int cx_sleep(cx_op *op, double seconds) {
  const cx_op *target = cx__wait_op(op);
  int64_t ns = CX__NO_DEADLINE;
  int rc;
  if (isnan(seconds) || seconds < 0) return -EINVAL;
  /* Beyond 9.2e9 s (about 292 years), or infinite: no deadline at all. */
  if (cx__seconds_to_ns(seconds, &ns) != 0) seconds = INFINITY;
  if (target == NULL) {
    plain_sleep(ns);
    return 0;
  }
  rc = cx_token_wait(target->token, seconds);
  if (rc == 0) return -ECANCELED;
  return rc == -ETIMEDOUT ? 0 : rc;
}
