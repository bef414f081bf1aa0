/* src/run/retry.c - retries with backoff whose waits are cancellation
 * points and never outlast the op's deadline. */
#include <math.h>

#include <cancelable/op.h>
#include <cancelable/run.h>
#include <cancelable/wait.h>

#include "op/op.h"
#include "token/token.h"

static int validate(const cx_retry_options *o) {
  if (o->size < sizeof(cx_retry_options) || o->attempts == 0) return -EINVAL;
  if (!(isfinite(o->initial_delay) && o->initial_delay >= 0)) return -EINVAL;
  if (!(isfinite(o->multiplier) && o->multiplier >= 1)) return -EINVAL;
  if (!(isfinite(o->max_delay) && o->max_delay >= 0)) return -EINVAL;
  if (!(o->jitter >= 0 && o->jitter <= 1)) return -EINVAL;
  return 0;
}

/* A uniform random number in [0, 1) from the id generator. */
static double unit_random(void) {
  uint64_t bits[2];
  cx__id_random(bits);
  return (double)(bits[0] >> 11) / 9007199254740992.0;
}

/* The delay before attempt @attempt + 1 (@attempt counts from 1). */
static double delay_for(const cx_retry_options *o, unsigned attempt) {
  double d = o->initial_delay * pow(o->multiplier, (double)(attempt - 1));
  if (o->max_delay > 0 && d > o->max_delay) d = o->max_delay;
  if (o->jitter > 0) d *= 1.0 - o->jitter + 2.0 * o->jitter * unit_random();
  return d;
}

static bool retryable(const cx_retry_options *o, int error) {
  if (error == -ECANCELED) return false;
  return o->retryable == NULL || o->retryable(error, o->retryable_data);
}

int cx_retry(cx_op *op, const cx_retry_options *opts, cx_run_fn fn,
             void *user_data) {
  cx_retry_options defaults = CX_RETRY_OPTIONS_INIT;
  int rc = 0;
  if (opts == NULL) opts = &defaults;
  if (fn == NULL || validate(opts) != 0) return -EINVAL;
  if (op == NULL) op = cx__current_scope(); /* a shield's, inside one */
  for (unsigned attempt = 1; attempt <= opts->attempts; attempt++) {
    double delay, left;
    if (cx_check(op) != 0) return -ECANCELED;
    rc = fn(op, user_data);
    if (rc == 0 || attempt == opts->attempts || !retryable(opts, rc)) return rc;
    delay = delay_for(opts, attempt);
    left = cx_op_remaining(op);
    if (delay >= left) {
      /* The deadline comes first: wait for the cancel its timeout delivers
       * (bounded, in case the clock is virtual and nobody advances it),
       * then stop without racing it with another attempt. */
      cx_token_wait(cx_op_token(op), left + 1.0);
      return -ECANCELED;
    }
    if (cx_sleep(op, delay) == -ECANCELED) return -ECANCELED;
  }
  return rc;
}
