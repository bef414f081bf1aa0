/* examples/run/wrap_retry.c - patterns: "Using wrap()", "Using wrapping()"
 * and "Retry with Tenacity" (seed: Wrapping Operations), issue #5.
 *
 * 1. A hand-written retry loop over a wrapped call: cx_wrap() checks the op
 *    before each attempt.  fetch_data() fails twice, then succeeds.
 * 2. The scoped form: CX_SCOPE enters an op for a block and CX_CALL wraps
 *    any call expression in it.
 * 3. cx_retry() (the Tenacity counterpart): exponential backoff; the op's
 *    0.4 s timeout stops it in the middle of a backoff sleep, long before
 *    the attempts run out.
 */
#include <cancelable.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct fetch {
  const char *url;
  int calls;
  int fail_first; /* fail this many calls with -EAGAIN */
} fetch;

static int fetch_data(cx_op *op, void *user_data) {
  fetch *f = user_data;
  f->calls++;
  int rc = cx_sleep(op, 0.02); /* the request */
  if (rc != 0) return rc;
  if (f->calls <= f->fail_first) {
    printf("  attempt %d: %s: temporary failure\n", f->calls, f->url);
    return -EAGAIN;
  }
  printf("  attempt %d: %s: ok\n", f->calls, f->url);
  return 0;
}

static int operation(int *n) { return ++*n; }

int main(void) {
  int ok = 1;

  /* 1. wrap() in a retry loop. */
  printf("wrap:\n");
  cx_op *op = NULL;
  if (cx_op_with_timeout(&op, NULL, 3.0, "retry_operation") != 0 ||
      cx_op_enter(op) != 0)
    return 1;
  fetch f = {"https://example.com/data", 0, 2};
  cx_wrapped wrapped_fetch = cx_wrap(op, fetch_data);
  int rc = -1;
  for (int attempt = 0; attempt < 3; attempt++) {
    rc = cx_wrapped_call(&wrapped_fetch, &f);
    if (rc == 0 || rc == -ECANCELED) break;
    if (attempt < 2) cx_sleep(op, 0.1); /* don't sleep after the last */
  }
  /* Once the op is cancelled, the wrapper no longer calls. */
  cx_op_cancel(op, CX_REASON_MANUAL, "stop");
  int extra = cx_wrapped_call(&wrapped_fetch, &f);
  printf("  after a cancel: %s, fetch not called\n", cx_err_name(extra));
  cx_op_exit(op, rc); /* the work succeeded: COMPLETED */
  printf("wrap: %s after %d attempts\n", cx_status_name(cx_op_status(op)),
         f.calls);
  ok &= rc == 0 && f.calls == 3 && extra == -ECANCELED;
  ok &= cx_op_status(op) == CX_STATUS_COMPLETED;
  cx_op_unref(op);

  /* 2. wrapping(): a scope and CX_CALL for several calls. */
  printf("wrapping:\n");
  int result = 0, another = 0;
  if (cx_op_with_timeout(&op, NULL, 30.0, "wrapping") != 0) return 1;
  rc = 0;
  CX_SCOPE(op, &rc) {
    int first = CX_CALL(NULL, operation(&result));
    int second = CX_CALL(NULL, operation(&another));
    cx_op_cancel(op, CX_REASON_MANUAL, "enough");
    int third = CX_CALL(NULL, operation(&result)); /* not called */
    printf("  calls: %d, %d, then %s\n", first, second, cx_err_name(third));
    ok &= first == 1 && second == 1 && third == -ECANCELED && result == 1;
    rc = third;
  }
  printf("wrapping: %s (%s)\n", cx_status_name(cx_op_status(op)),
         cx_op_cancel_message(op));
  ok &= cx_op_status(op) == CX_STATUS_CANCELLED;
  cx_op_unref(op);

  /* 3. cx_retry(): backoff 0.1, 0.2, 0.4, ... inside a 0.4 s timeout. */
  printf("retry:\n");
  if (cx_op_with_timeout(&op, NULL, 0.4, "fetch") != 0 || cx_op_enter(op) != 0)
    return 1;
  fetch g = {"https://example.com/flaky", 0, 1000};
  cx_retry_options ro = CX_RETRY_OPTIONS_INIT;
  ro.attempts = 10;
  ro.initial_delay = 0.1;
  ro.multiplier = 2.0;
  double t0 = now();
  rc = cx_retry(op, &ro, fetch_data, &g);
  double took = now() - t0;
  cx_op_exit(op, rc);
  printf("retry: %s after %d of 10 attempts in %.1f s, reason %s\n",
         cx_err_name(rc), g.calls, took,
         cx_reason_name(cx_op_cancel_reason(op)));
  ok &= rc == -ECANCELED && g.calls >= 2 && g.calls < 10 && took < 2.0 &&
        cx_op_cancel_reason(op) == CX_REASON_TIMEOUT;
  cx_op_unref(op);

  printf("example: %s\n", ok ? "ok" : "FAIL");
  return ok ? 0 : 1;
}
