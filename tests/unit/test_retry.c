/* tests/unit/test_retry.c - cx_retry(), issue #5: attempts, fixed and
 * exponential backoff, the maximum delay, jitter bounds, the retryable
 * predicate, -ECANCELED never retried, it stops at once when the op is
 * cancelled (before an attempt, during an attempt, during a backoff sleep
 * cancelled from another thread: it returns within one backoff step), it
 * never sleeps past the op's deadline, it uses the current op when given
 * none, and bad options (zero attempts, ...) give -EINVAL with nothing
 * called.
 */
#include "cx_test.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <cancelable.h>

/* ---------------------------------------------------------------------- */
/* helpers */

#define MAX_CALLS 64

/* A scripted function: returns results[i] on call i (the last one after
 * the script ends), and records when each call happened. */
typedef struct script {
  int results[MAX_CALLS];
  int nresults;
  int calls;
  double when[MAX_CALLS];
  cx_op *op_seen;
  cx_op *cancel_on_call; /* cancel this op during the first call */
} script;

static int scripted(cx_op *op, void *p) {
  script *s = p;
  int i = s->calls < s->nresults ? s->calls : s->nresults - 1;
  if (s->calls < MAX_CALLS) s->when[s->calls] = cx_test_now();
  s->calls++;
  s->op_seen = op;
  if (s->cancel_on_call != NULL) {
    cx_op_cancel(s->cancel_on_call, CX_REASON_MANUAL, "during the call");
    s->cancel_on_call = NULL;
  }
  return s->results[i];
}

static void script_init(script *s, int n, const int *results) {
  memset(s, 0, sizeof *s);
  s->nresults = n;
  for (int i = 0; i < n; i++) s->results[i] = results[i];
}

static void script_fail_always(script *s, int err) {
  int r[1];
  r[0] = err;
  script_init(s, 1, r);
}

static cx_retry_options retry_opts(unsigned attempts, double initial,
                                   double multiplier) {
  cx_retry_options o = CX_RETRY_OPTIONS_INIT;
  o.attempts = attempts;
  o.initial_delay = initial;
  o.multiplier = multiplier;
  return o;
}

static cx_op *entered_op(const char *name, double timeout) {
  return cx_test_entered_op(name, NULL, timeout);
}

static double gap(const script *s, int i) {
  return s->when[i + 1] - s->when[i];
}

/* ---------------------------------------------------------------------- */

static void test_retry_success_first(void **state) {
  (void)state;
  script s;
  script_fail_always(&s, 0);
  cx_retry_options o = retry_opts(5, 1.0, 2.0);
  double t0 = cx_test_now();
  CX_ASSERT_OK(cx_retry(NULL, &o, scripted, &s));
  assert_int_equal(s.calls, 1);
  assert_true(cx_test_now() - t0 < 0.5); /* no backoff after a success */
}

static void test_retry_succeeds_later(void **state) {
  (void)state;
  script s;
  int r[] = {-EIO, -EAGAIN, 0, -EIO};
  script_init(&s, 4, r);
  cx_retry_options o = retry_opts(5, 0.01, 1.0);
  CX_ASSERT_OK(cx_retry(NULL, &o, scripted, &s));
  assert_int_equal(s.calls, 3);
}

static void test_retry_attempts_exhausted(void **state) {
  (void)state;
  script s;
  int r[] = {-EIO, -EAGAIN, -ENOENT, -EPIPE};
  script_init(&s, 4, r);
  cx_retry_options o = retry_opts(4, 0.01, 1.0);
  /* The last error is returned. */
  CX_ASSERT_ERR(-EPIPE, cx_retry(NULL, &o, scripted, &s));
  assert_int_equal(s.calls, 4);
  /* One attempt: no retry at all. */
  script_fail_always(&s, -EIO);
  o = retry_opts(1, 5.0, 1.0);
  double t0 = cx_test_now();
  CX_ASSERT_ERR(-EIO, cx_retry(NULL, &o, scripted, &s));
  assert_int_equal(s.calls, 1);
  assert_true(cx_test_now() - t0 < 2.5); /* no sleep after the last */
}

/* Fixed backoff: multiplier 1. */
static void test_retry_fixed_backoff(void **state) {
  (void)state;
  script s;
  script_fail_always(&s, -EIO);
  cx_retry_options o = retry_opts(4, 0.1, 1.0);
  double t0 = cx_test_now();
  CX_ASSERT_ERR(-EIO, cx_retry(NULL, &o, scripted, &s));
  double took = cx_test_now() - t0;
  assert_int_equal(s.calls, 4);
  for (int i = 0; i < 3; i++) {
    assert_true(gap(&s, i) >= 0.095);
    assert_true(gap(&s, i) < 0.6);
  }
  assert_true(took >= 0.29);
  assert_true(took < 2.0);
}

/* Exponential backoff: 0.05, 0.1, 0.2, 0.4. */
static void test_retry_exponential_backoff(void **state) {
  (void)state;
  script s;
  script_fail_always(&s, -EIO);
  cx_retry_options o = retry_opts(5, 0.05, 2.0);
  double t0 = cx_test_now();
  CX_ASSERT_ERR(-EIO, cx_retry(NULL, &o, scripted, &s));
  double took = cx_test_now() - t0;
  assert_int_equal(s.calls, 5);
  const double nominal[] = {0.05, 0.1, 0.2, 0.4};
  for (int i = 0; i < 4; i++) assert_true(gap(&s, i) >= nominal[i] * 0.95);
  /* Each delay grows: the later gaps are clearly longer. */
  assert_true(gap(&s, 3) > gap(&s, 1) + 0.15);
  assert_true(gap(&s, 2) > gap(&s, 0) + 0.07);
  assert_true(took >= 0.74);
  assert_true(took < 3.0);
}

/* The cap: 0.1 then 1.0, 10, ... capped at 0.15. */
static void test_retry_max_delay(void **state) {
  (void)state;
  script s;
  script_fail_always(&s, -EIO);
  cx_retry_options o = retry_opts(5, 0.1, 10.0);
  o.max_delay = 0.15;
  double t0 = cx_test_now();
  CX_ASSERT_ERR(-EIO, cx_retry(NULL, &o, scripted, &s));
  double took = cx_test_now() - t0;
  assert_int_equal(s.calls, 5);
  assert_true(gap(&s, 0) >= 0.095);
  for (int i = 1; i < 4; i++) assert_true(gap(&s, i) >= 0.14);
  /* Uncapped it would take 0.1 + 1 + 10 + 100 s. */
  assert_true(took >= 0.54);
  assert_true(took < 2.5);
}

/* The cap also bounds the first delay. */
static void test_retry_max_delay_first(void **state) {
  (void)state;
  script s;
  script_fail_always(&s, -EIO);
  cx_retry_options o = retry_opts(2, 30.0, 1.0);
  o.max_delay = 0.05;
  double t0 = cx_test_now();
  CX_ASSERT_ERR(-EIO, cx_retry(NULL, &o, scripted, &s));
  assert_int_equal(s.calls, 2);
  assert_true(cx_test_now() - t0 < 2.0);
}

/* Jitter 0.5 on a fixed 0.1 s delay: every delay within [0.05, 0.15]
 * (generous upper bound for a loaded machine), and they are not all the
 * same. */
static void test_retry_jitter_bounds(void **state) {
  (void)state;
  script s;
  script_fail_always(&s, -EIO);
  cx_retry_options o = retry_opts(12, 0.1, 1.0);
  o.jitter = 0.5;
  CX_ASSERT_ERR(-EIO, cx_retry(NULL, &o, scripted, &s));
  assert_int_equal(s.calls, 12);
  double lo = 1e9, hi = 0, sum = 0;
  for (int i = 0; i < 11; i++) {
    double g = gap(&s, i);
    assert_true(g >= 0.049);
    assert_true(g < 0.15 + 0.4);
    if (g < lo) lo = g;
    if (g > hi) hi = g;
    sum += g;
  }
  /* 11 uniform draws over [0.05, 0.15] spread out by more than 10 ms with
   * overwhelming probability. */
  assert_true(hi - lo > 0.01);
  assert_true(sum / 11 < 0.1 + 0.3);
}

/* Jitter 1: delays within [0, 2 * delay]. */
static void test_retry_jitter_full(void **state) {
  (void)state;
  script s;
  script_fail_always(&s, -EIO);
  cx_retry_options o = retry_opts(6, 0.05, 1.0);
  o.jitter = 1.0;
  double t0 = cx_test_now();
  CX_ASSERT_ERR(-EIO, cx_retry(NULL, &o, scripted, &s));
  assert_int_equal(s.calls, 6);
  assert_true(cx_test_now() - t0 < 0.5 + 1.5);
}

/* The predicate decides which errors are retried, and gets its data. */
typedef struct pred_state {
  int calls;
  int last_error;
} pred_state;

static bool only_eagain(int error, void *p) {
  pred_state *ps = p;
  ps->calls++;
  ps->last_error = error;
  return error == -EAGAIN;
}

static void test_retry_predicate(void **state) {
  (void)state;
  script s;
  int r[] = {-EAGAIN, -EAGAIN, -EIO, 0};
  pred_state ps = {0, 0};
  script_init(&s, 4, r);
  cx_retry_options o = retry_opts(10, 0.01, 1.0);
  o.retryable = only_eagain;
  o.retryable_data = &ps;
  CX_ASSERT_ERR(-EIO, cx_retry(NULL, &o, scripted, &s));
  assert_int_equal(s.calls, 3);
  assert_int_equal(ps.calls, 3);
  assert_int_equal(ps.last_error, -EIO);
  /* A success is not passed to the predicate. */
  int r2[] = {-EAGAIN, 0};
  script_init(&s, 2, r2);
  ps.calls = 0;
  CX_ASSERT_OK(cx_retry(NULL, &o, scripted, &s));
  assert_int_equal(s.calls, 2);
  assert_int_equal(ps.calls, 1);
}

/* -ECANCELED from the function is never retried (default predicate). */
static void test_retry_ecanceled_not_retried(void **state) {
  (void)state;
  script s;
  script_fail_always(&s, -ECANCELED);
  cx_retry_options o = retry_opts(5, 0.5, 1.0);
  double t0 = cx_test_now();
  CX_ASSERT_ERR(-ECANCELED, cx_retry(NULL, &o, scripted, &s));
  assert_int_equal(s.calls, 1);
  assert_true(cx_test_now() - t0 < 0.45);
}

/* A cancelled op: nothing is called. */
static void test_retry_cancelled_before(void **state) {
  (void)state;
  script s;
  script_fail_always(&s, 0);
  cx_op *op = entered_op("fetch", 0);
  assert_true(cx_op_cancel(op, CX_REASON_MANUAL, NULL));
  CX_ASSERT_ERR(-ECANCELED, cx_retry(op, NULL, scripted, &s));
  CX_ASSERT_ERR(-ECANCELED, cx_retry(NULL, NULL, scripted, &s)); /* current */
  assert_int_equal(s.calls, 0);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
}

/* Cancelled during an attempt that fails: no backoff sleep, no other
 * attempt. */
static void test_retry_cancelled_during_attempt(void **state) {
  (void)state;
  script s;
  script_fail_always(&s, -EIO);
  cx_op *op = entered_op("fetch", 0);
  s.cancel_on_call = op;
  cx_retry_options o = retry_opts(5, 5.0, 1.0);
  double t0 = cx_test_now();
  CX_ASSERT_ERR(-ECANCELED, cx_retry(op, &o, scripted, &s));
  assert_true(cx_test_now() - t0 < 2.5);
  assert_int_equal(s.calls, 1);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
}

/* Cancelled during an attempt that succeeds: the success is kept. */
static void test_retry_cancelled_during_successful_attempt(void **state) {
  (void)state;
  script s;
  script_fail_always(&s, 0);
  cx_op *op = entered_op("fetch", 0);
  s.cancel_on_call = op;
  CX_ASSERT_OK(cx_retry(op, NULL, scripted, &s));
  assert_int_equal(s.calls, 1);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  cx_op_unref(op);
}

/* The "returns within one backoff step of a cancel": a UI thread
 * cancels while the loop sleeps a 5 s backoff. */
typedef struct canceller {
  cx_op *op;
  double delay;
  double cancelled_at;
} canceller;

static void *cancel_later(void *p) {
  canceller *c = p;
  cx_test_sleep(c->delay);
  c->cancelled_at = cx_test_now();
  cx_op_cancel(c->op, CX_REASON_MANUAL, "user pressed cancel");
  return NULL;
}

static void test_retry_cancel_during_backoff(void **state) {
  (void)state;
  script s;
  script_fail_always(&s, -EIO);
  cx_op *op = entered_op("fetch", 0);
  canceller c = {op, 0.3, 0};
  pthread_t th;
  cx_retry_options o = retry_opts(10, 5.0, 2.0);
  assert_int_equal(pthread_create(&th, NULL, cancel_later, &c), 0);
  double t0 = cx_test_now();
  int rc = cx_retry(op, &o, scripted, &s);
  double returned = cx_test_now();
  pthread_join(th, NULL);
  CX_ASSERT_ERR(-ECANCELED, rc);
  assert_int_equal(s.calls, 1);
  assert_true(returned - t0 < 2.5);
  assert_true(returned - c.cancelled_at < 2.0);
  CX_ASSERT_OK(cx_op_exit(op, rc));
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_string_equal(cx_op_cancel_message(op), "user pressed cancel");
  cx_op_unref(op);
}

/* The same through the current op (op NULL), and with jitter. */
static void test_retry_cancel_during_backoff_current(void **state) {
  (void)state;
  script s;
  script_fail_always(&s, -EIO);
  cx_op *op = entered_op("fetch", 0);
  canceller c = {op, 0.3, 0};
  pthread_t th;
  cx_retry_options o = retry_opts(3, 5.0, 1.0);
  o.jitter = 0.2;
  assert_int_equal(pthread_create(&th, NULL, cancel_later, &c), 0);
  double t0 = cx_test_now();
  CX_ASSERT_ERR(-ECANCELED, cx_retry(NULL, &o, scripted, &s));
  assert_true(cx_test_now() - t0 < 2.5);
  pthread_join(th, NULL);
  assert_ptr_equal(s.op_seen, op); /* the function got the current op */
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
}

/* The op's deadline (0.1 s) comes long before the backoff (5 s) ends: the
 * loop does not sleep past it, and makes no attempt after it: it returns
 * -ECANCELED.  Repeated, because the end of the shortened sleep and the
 * timeout firing race each other. */
static void test_retry_deadline(void **state) {
  (void)state;
  for (int round = 0; round < 8; round++) {
    script s;
    script_fail_always(&s, -EIO);
    cx_op *op = entered_op("fetch", 0.1);
    double deadline = cx_op_deadline(op); /* cx_now() == CLOCK_MONOTONIC */
    cx_retry_options o = retry_opts(3, 5.0, 2.0);
    double t0 = cx_test_now();
    int rc = cx_retry(op, &o, scripted, &s);
    double took = cx_test_now() - t0;
    assert_true(took < 2.5); /* never a 5 s sleep */
    if (rc != -ECANCELED || s.calls != 1)
      print_error(
          "round %d: rc %s, %d calls, last call %.6f s after the "
          "deadline\n",
          round, cx_err_name(rc), s.calls, s.when[s.calls - 1] - deadline);
    CX_ASSERT_ERR(-ECANCELED, rc);
    assert_int_equal(s.calls, 1); /* no attempt after the deadline */
    CX_ASSERT_OK(cx_op_exit(op, rc));
    assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
    cx_op_unref(op);
  }
}

/* A parent's deadline bounds the sleep of a child's retry loop too. */
static void test_retry_parent_deadline(void **state) {
  (void)state;
  script s;
  script_fail_always(&s, -EIO);
  cx_op *parent = entered_op("outer", 0.3);
  cx_op *child = NULL;
  cx_op_options co = CX_OP_OPTIONS_INIT;
  co.parent = parent;
  co.name = "step";
  CX_ASSERT_OK(cx_op_create(&child, &co));
  CX_ASSERT_OK(cx_op_enter(child));
  cx_retry_options o = retry_opts(3, 5.0, 1.0);
  double t0 = cx_test_now();
  CX_ASSERT_ERR(-ECANCELED, cx_retry(NULL, &o, scripted, &s));
  assert_true(cx_test_now() - t0 < 2.5);
  CX_ASSERT_OK(cx_op_exit(child, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(parent, -ECANCELED));
  assert_int_equal(cx_op_cancel_reason(child), CX_REASON_PARENT);
  cx_op_unref(child);
  cx_op_unref(parent);
}

/* No op at all: plain retries, the function receives NULL. */
static void test_retry_no_op(void **state) {
  (void)state;
  script s;
  int r[] = {-EIO, 0};
  script_init(&s, 2, r);
  s.op_seen = (cx_op *)(uintptr_t)1;
  assert_null(cx_current());
  CX_ASSERT_OK(cx_retry(NULL, NULL, scripted, &s));
  assert_int_equal(s.calls, 2);
  assert_null(s.op_seen);
}

/* NULL options: 3 attempts, 0.1 s then 0.2 s. */
static void test_retry_defaults(void **state) {
  (void)state;
  script s;
  script_fail_always(&s, -EIO);
  double t0 = cx_test_now();
  CX_ASSERT_ERR(-EIO, cx_retry(NULL, NULL, scripted, &s));
  double took = cx_test_now() - t0;
  assert_int_equal(s.calls, 3);
  assert_true(gap(&s, 0) >= 0.095);
  assert_true(gap(&s, 1) >= 0.19);
  assert_true(took < 2.5);
}

static void test_retry_bad_options(void **state) {
  (void)state;
  script s;
  script_fail_always(&s, 0);
  cx_retry_options o;
  cx_retry_options good = CX_RETRY_OPTIONS_INIT;

  o = good;
  o.attempts = 0;
  CX_ASSERT_ERR(-EINVAL, cx_retry(NULL, &o, scripted, &s));
  const double bad_delays[] = {-0.1, NAN, INFINITY};
  for (int i = 0; i < 3; i++) {
    o = good;
    o.initial_delay = bad_delays[i];
    CX_ASSERT_ERR(-EINVAL, cx_retry(NULL, &o, scripted, &s));
    o = good;
    o.max_delay = bad_delays[i];
    CX_ASSERT_ERR(-EINVAL, cx_retry(NULL, &o, scripted, &s));
  }
  const double bad_mult[] = {0.5, 0.0, -2.0, NAN, INFINITY};
  for (int i = 0; i < 5; i++) {
    o = good;
    o.multiplier = bad_mult[i];
    CX_ASSERT_ERR(-EINVAL, cx_retry(NULL, &o, scripted, &s));
  }
  const double bad_jitter[] = {-0.01, 1.01, NAN};
  for (int i = 0; i < 3; i++) {
    o = good;
    o.jitter = bad_jitter[i];
    CX_ASSERT_ERR(-EINVAL, cx_retry(NULL, &o, scripted, &s));
  }
  o = good;
  o.size = sizeof(size_t);
  CX_ASSERT_ERR(-EINVAL, cx_retry(NULL, &o, scripted, &s));
  CX_ASSERT_ERR(-EINVAL, cx_retry(NULL, NULL, NULL, NULL));
  assert_int_equal(s.calls, 0);

  /* The bounds themselves are fine: zero delay, multiplier 1, jitter 0
   * and 1. */
  o = good;
  o.initial_delay = 0;
  o.multiplier = 1;
  o.jitter = 1;
  CX_ASSERT_OK(cx_retry(NULL, &o, scripted, &s));
  assert_int_equal(s.calls, 1);
}

/* ---------------------------------------------------------------------- */

static const struct CMUnitTest tests[] = {
    CX_TEST("/retry/success-first", test_retry_success_first),
    CX_TEST("/retry/succeeds-later", test_retry_succeeds_later),
    CX_TEST("/retry/attempts-exhausted", test_retry_attempts_exhausted),
    CX_TEST("/retry/backoff/fixed", test_retry_fixed_backoff),
    CX_TEST("/retry/backoff/exponential", test_retry_exponential_backoff),
    CX_TEST("/retry/backoff/max-delay", test_retry_max_delay),
    CX_TEST("/retry/backoff/max-delay-first", test_retry_max_delay_first),
    CX_TEST("/retry/backoff/jitter-bounds", test_retry_jitter_bounds),
    CX_TEST("/retry/backoff/jitter-full", test_retry_jitter_full),
    CX_TEST("/retry/predicate", test_retry_predicate),
    CX_TEST("/retry/ecanceled-not-retried", test_retry_ecanceled_not_retried),
    CX_TEST("/retry/cancel/before", test_retry_cancelled_before),
    CX_TEST("/retry/cancel/during-attempt",
            test_retry_cancelled_during_attempt),
    CX_TEST("/retry/cancel/during-successful-attempt",
            test_retry_cancelled_during_successful_attempt),
    CX_TEST("/retry/cancel/during-backoff", test_retry_cancel_during_backoff),
    CX_TEST("/retry/cancel/during-backoff-current-op",
            test_retry_cancel_during_backoff_current),
    CX_TEST("/retry/deadline/own", test_retry_deadline),
    CX_TEST("/retry/deadline/parent", test_retry_parent_deadline),
    CX_TEST("/retry/no-op", test_retry_no_op),
    CX_TEST("/retry/defaults", test_retry_defaults),
    CX_TEST("/retry/bad-options", test_retry_bad_options),
};

CX_TEST_MAIN("retry", tests)
