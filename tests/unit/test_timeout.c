/* tests/unit/test_timeout.c - timeouts on the virtual clock (no real
 * sleeps): cx_clock_use_virtual/cx_clock_advance, a timeout counts from
 * enter, fires on the timer thread before advance returns, reason TIMEOUT
 * with the duration in the message, deadline and remaining-time queries,
 * child deadline = min(own, parent's), outer timeout cancels inner steps and
 * not the other way round, bad durations (0, negative, NaN, inf) -> -EINVAL,
 * no firing after exit, and 100 000 armed timeouts created and destroyed
 * without firing.  One real-clock check that a timeout fires.  Issue #2.
 */
#include "cx_test.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cancelable.h>

#define EPS 1e-6

/* ---------------------------------------------------------------------- */
/* helpers */

static void virtual_on(void) { CX_ASSERT_OK(cx_clock_use_virtual()); }
static void virtual_off(void) { CX_ASSERT_OK(cx_clock_use_real()); }

typedef struct fired {
  atomic_int count;
  pthread_t thread;
  double at; /* cx_now() when fired */
} fired;

static int fired_cb(cx_token *token, void *user_data) {
  (void)token;
  fired *f = user_data;
  f->thread = pthread_self();
  f->at = cx_now();
  atomic_fetch_add(&f->count, 1);
  return 0;
}

static cx_op *timed_op(const char *name, double seconds, cx_op *parent) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  o.name = name;
  o.timeout = seconds;
  o.parent = parent;
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_create(&op, &o));
  return op;
}

/* ---------------------------------------------------------------------- */
/* the virtual clock itself */

static void test_clock_virtual_switching(void **state) {
  (void)state;
  CX_ASSERT_ERR(-EINVAL, cx_clock_use_real()); /* not virtual */
  CX_ASSERT_ERR(-EINVAL, cx_clock_advance(1.0));
  double real = cx_now();
  virtual_on();
  CX_ASSERT_ERR(-EBUSY, cx_clock_use_virtual());
  /* starts at the current monotonic time */
  double v = cx_now();
  assert_true(fabs(v - real) < 5.0);
  virtual_off();
  CX_ASSERT_ERR(-EINVAL, cx_clock_use_real());
  /* real again: keeps moving */
  double r1 = cx_now();
  cx_test_sleep(0.01);
  assert_true(cx_now() > r1);
}

static void test_clock_virtual_does_not_move(void **state) {
  (void)state;
  virtual_on();
  double t0 = cx_now();
  cx_test_sleep(0.05);
  assert_true(cx_now() == t0);
  CX_ASSERT_OK(cx_clock_advance(1.5));
  assert_float_equal(cx_now(), t0 + 1.5, EPS);
  CX_ASSERT_OK(cx_clock_advance(0.0));
  assert_float_equal(cx_now(), t0 + 1.5, EPS);
  CX_ASSERT_OK(cx_clock_advance(1e-3));
  assert_float_equal(cx_now(), t0 + 1.501, EPS);
  virtual_off();
}

static void test_clock_advance_bad_input(void **state) {
  (void)state;
  virtual_on();
  double t0 = cx_now();
  CX_ASSERT_ERR(-EINVAL, cx_clock_advance(-1.0));
  CX_ASSERT_ERR(-EINVAL, cx_clock_advance(NAN));
  CX_ASSERT_ERR(-EINVAL, cx_clock_advance(INFINITY));
  CX_ASSERT_ERR(-EINVAL, cx_clock_advance(-INFINITY));
  assert_true(cx_now() == t0);
  virtual_off();
}

/* ---------------------------------------------------------------------- */
/* firing */

static void test_timeout_fires_on_advance(void **state) {
  (void)state;
  virtual_on();
  cx_op *op = timed_op("t", 5.0, NULL);
  fired f = {0};
  CX_ASSERT_OK(
      cx_token_on_cancel(cx_op_token(op), fired_cb, &f, NULL, 0, NULL));
  CX_ASSERT_OK(cx_op_enter(op));
  double entered = cx_now();
  CX_ASSERT_OK(cx_clock_advance(4.9));
  assert_false(cx_op_is_cancelled(op));
  assert_int_equal(atomic_load(&f.count), 0);
  CX_ASSERT_OK(cx_clock_advance(0.2));
  /* fired, and its callbacks returned, before advance returned */
  assert_int_equal(atomic_load(&f.count), 1);
  assert_true(cx_op_is_cancelled(op));
  CX_ASSERT_ERR(-ECANCELED, cx_check(op));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  const char *msg = cx_op_cancel_message(op);
  assert_non_null(msg);
  assert_true(strncmp(msg, "timed out after ", 16) == 0);
  assert_non_null(strchr(msg, '5'));
  /* on the timer thread, not ours */
  assert_false(pthread_equal(f.thread, pthread_self()));
  assert_true(f.at >= entered + 5.0 - EPS);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  cx_op_unref(op);
  virtual_off();
}

static void test_timeout_exact_deadline(void **state) {
  (void)state;
  virtual_on();
  cx_op *op = timed_op("t", 2.0, NULL);
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_clock_advance(2.0)); /* "whose deadline is now reached" */
  assert_true(cx_op_is_cancelled(op));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  virtual_off();
}

static void test_timeout_counts_from_enter(void **state) {
  (void)state;
  virtual_on();
  cx_op *op = timed_op("late-start", 5.0, NULL);
  CX_ASSERT_OK(cx_clock_advance(100.0)); /* long before enter */
  assert_false(cx_op_is_cancelled(op));
  CX_ASSERT_OK(cx_op_enter(op));
  assert_false(cx_op_is_cancelled(op));
  CX_ASSERT_OK(cx_clock_advance(4.0));
  assert_false(cx_op_is_cancelled(op));
  CX_ASSERT_OK(cx_clock_advance(1.5));
  assert_true(cx_op_is_cancelled(op));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  virtual_off();
}

static void test_timeout_factory_fires(void **state) {
  (void)state;
  virtual_on();
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_with_timeout(&op, NULL, 0.25, "quick"));
  CX_ASSERT_OK(cx_clock_advance(10.0));
  assert_false(cx_op_is_cancelled(op));
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_clock_advance(0.2));
  assert_false(cx_op_is_cancelled(op));
  CX_ASSERT_OK(cx_clock_advance(0.1));
  assert_true(cx_op_is_cancelled(op));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  virtual_off();
}

static void test_timeout_earliest_wins(void **state) {
  (void)state;
  virtual_on();
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_create(&op, NULL));
  CX_ASSERT_OK(cx_op_add_timeout(op, 10.0));
  CX_ASSERT_OK(cx_op_add_timeout(op, 3.0));
  CX_ASSERT_OK(cx_op_add_timeout(op, 7.0));
  fired f = {0};
  CX_ASSERT_OK(
      cx_token_on_cancel(cx_op_token(op), fired_cb, &f, NULL, 0, NULL));
  CX_ASSERT_OK(cx_op_enter(op));
  double t0 = cx_now();
  assert_float_equal(cx_op_deadline(op), t0 + 3.0, EPS);
  CX_ASSERT_OK(cx_clock_advance(3.5));
  assert_true(cx_op_is_cancelled(op));
  assert_non_null(strchr(cx_op_cancel_message(op), '3'));
  /* the later ones change nothing */
  CX_ASSERT_OK(cx_clock_advance(20.0));
  assert_int_equal(atomic_load(&f.count), 1);
  assert_non_null(strchr(cx_op_cancel_message(op), '3'));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  virtual_off();
}

static void test_timeout_options_plus_add(void **state) {
  (void)state;
  virtual_on();
  cx_op *op = timed_op("both", 8.0, NULL);
  CX_ASSERT_OK(cx_op_add_timeout(op, 2.0));
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_clock_advance(2.5));
  assert_true(cx_op_is_cancelled(op));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  virtual_off();
}

static void test_timeout_no_fire_after_exit(void **state) {
  (void)state;
  virtual_on();
  cx_op *op = timed_op("quick-work", 5.0, NULL);
  fired f = {0};
  CX_ASSERT_OK(
      cx_token_on_cancel(cx_op_token(op), fired_cb, &f, NULL, 0, NULL));
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_clock_advance(1.0));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  CX_ASSERT_OK(cx_clock_advance(100.0));
  assert_int_equal(atomic_load(&f.count), 0);
  assert_false(cx_op_is_cancelled(op));
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_NONE);
  cx_op_unref(op);
  virtual_off();
}

/* A source whose start fails. */
static int refuse_start(cx_source *src, void *user_data) {
  (void)src;
  (void)user_data;
  return -EIO;
}
static void no_stop(cx_source *src, void *user_data) {
  (void)src;
  (void)user_data;
}

/* The op's own timeout (a timer in the op's block since issue 19): an
 * enter that fails on a later source leaves it unarmed, and a second enter
 * arms it from that enter on, firing as a timeout source would. */
static void test_timeout_own_after_failed_enter(void **state) {
  (void)state;
  static const cx_source_ops refusing = {sizeof(cx_source_ops), refuse_start,
                                         no_stop, NULL};
  cx_source *bad;
  virtual_on();
  cx_op *op = timed_op("retried", 2.0, NULL);
  CX_ASSERT_OK(cx_source_new(&bad, &refusing, NULL, CX_REASON_MANUAL, "bad"));
  CX_ASSERT_OK(cx_op_add_source(op, bad));
  CX_ASSERT_ERR(-EIO, cx_op_enter(op));
  CX_ASSERT_OK(cx_clock_advance(5.0)); /* nothing armed: nothing fires */
  assert_false(cx_op_is_cancelled(op));
  assert_int_equal(cx_op_status(op), CX_STATUS_PENDING);
  assert_true(isinf(cx_op_deadline(op)));
  cx_op_unref(op);

  /* An op with the own timeout only: the deadline counts from its enter,
   * and the cancel reads as the timeout source's did. */
  op = timed_op("entered", 2.0, NULL);
  CX_ASSERT_OK(cx_clock_advance(3.0));
  double entered = cx_now();
  CX_ASSERT_OK(cx_op_enter(op));
  assert_true(fabs(cx_op_deadline(op) - (entered + 2.0)) < EPS);
  CX_ASSERT_OK(cx_clock_advance(1.9));
  assert_false(cx_op_is_cancelled(op));
  CX_ASSERT_OK(cx_clock_advance(0.2));
  assert_true(cx_op_is_cancelled(op));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  assert_string_equal(cx_op_cancel_message(op), "timed out after 2 s");
  assert_string_equal(cx_op_cancel_source(op), "timeout");
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  virtual_off();
}

static void test_timeout_freed_before_fire(void **state) {
  (void)state;
  virtual_on();
  cx_op *op = timed_op("dropped", 5.0, NULL);
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
  /* nothing left to fire: no use after free (ASan) */
  CX_ASSERT_OK(cx_clock_advance(10.0));
  virtual_off();
}

static void test_timeout_manual_cancel_first(void **state) {
  (void)state;
  virtual_on();
  cx_op *op = timed_op("manual", 5.0, NULL);
  CX_ASSERT_OK(cx_op_enter(op));
  cx_op_cancel(op, CX_REASON_MANUAL, "by hand");
  CX_ASSERT_OK(cx_clock_advance(10.0));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_MANUAL);
  assert_string_equal(cx_op_cancel_message(op), "by hand");
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_MANUAL);
  cx_op_unref(op);
  virtual_off();
}

/* A waiter blocked on the op's token is woken by the virtual timeout. */
static void *wait_token(void *p) {
  cx_token *t = p;
  return (void *)(intptr_t)cx_token_wait(t, 60.0);
}

static void test_timeout_wakes_waiter(void **state) {
  (void)state;
  virtual_on();
  cx_op *op = timed_op("w", 1.0, NULL);
  CX_ASSERT_OK(cx_op_enter(op));
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, wait_token, cx_op_token(op)), 0);
  cx_test_sleep(0.05);
  CX_ASSERT_OK(cx_clock_advance(2.0));
  void *r = NULL;
  pthread_join(th, &r);
  assert_int_equal((intptr_t)r, 0);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  virtual_off();
}

/* ---------------------------------------------------------------------- */
/* deadline and remaining */

static void test_deadline_and_remaining(void **state) {
  (void)state;
  virtual_on();
  cx_op *op = timed_op("d", 5.0, NULL);
  assert_true(isinf(cx_op_deadline(op)));
  assert_true(isinf(cx_op_remaining(op)));
  CX_ASSERT_OK(cx_op_enter(op));
  double t0 = cx_now();
  assert_float_equal(cx_op_deadline(op), t0 + 5.0, EPS);
  assert_float_equal(cx_op_remaining(op), 5.0, EPS);
  assert_float_equal(cx_op_remaining(NULL), 5.0, EPS); /* current op */
  CX_ASSERT_OK(cx_clock_advance(2.0));
  assert_float_equal(cx_op_remaining(op), 3.0, EPS);
  assert_float_equal(cx_op_deadline(op), t0 + 5.0, EPS);
  CX_ASSERT_OK(cx_clock_advance(4.0));
  /* never negative */
  assert_true(cx_op_remaining(op) == 0.0);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_true(isinf(cx_op_deadline(op))); /* not running */
  assert_true(isinf(cx_op_remaining(NULL)));
  cx_op_unref(op);
  virtual_off();
}

static void test_deadline_none(void **state) {
  (void)state;
  virtual_on();
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_create(&op, NULL));
  CX_ASSERT_OK(cx_op_enter(op));
  assert_true(isinf(cx_op_deadline(op)) && cx_op_deadline(op) > 0);
  assert_true(isinf(cx_op_remaining(op)) && cx_op_remaining(op) > 0);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
  virtual_off();
}

static void test_deadline_child_min_of_parent(void **state) {
  (void)state;
  virtual_on();
  cx_op *p = timed_op("outer", 10.0, NULL);
  CX_ASSERT_OK(cx_op_enter(p));
  double t0 = cx_now();
  CX_ASSERT_OK(cx_clock_advance(4.0));

  /* own timeout later than the parent's: the parent's bounds it */
  cx_op *c1 = timed_op("long-step", 20.0, p);
  CX_ASSERT_OK(cx_op_enter(c1));
  assert_float_equal(cx_op_deadline(c1), t0 + 10.0, EPS);
  assert_float_equal(cx_op_remaining(c1), 6.0, EPS);
  CX_ASSERT_OK(cx_op_exit(c1, 0));
  cx_op_unref(c1);

  /* own timeout earlier: its own */
  cx_op *c2 = timed_op("short-step", 3.0, p);
  CX_ASSERT_OK(cx_op_enter(c2));
  assert_float_equal(cx_op_deadline(c2), t0 + 7.0, EPS);
  CX_ASSERT_OK(cx_op_exit(c2, 0));
  cx_op_unref(c2);

  /* no timeout of its own: the parent's */
  cx_op *c3 = timed_op("plain-step", 0.0, p);
  CX_ASSERT_OK(cx_op_enter(c3));
  assert_float_equal(cx_op_deadline(c3), t0 + 10.0, EPS);
  /* and a grandchild gets the ancestor's */
  cx_op *g = timed_op("grandchild", 100.0, c3);
  CX_ASSERT_OK(cx_op_enter(g));
  assert_float_equal(cx_op_deadline(g), t0 + 10.0, EPS);
  CX_ASSERT_OK(cx_op_exit(g, 0));
  CX_ASSERT_OK(cx_op_exit(c3, 0));
  cx_op_unref(g);
  cx_op_unref(c3);

  CX_ASSERT_OK(cx_op_exit(p, 0));
  cx_op_unref(p);
  virtual_off();
}

static void test_outer_timeout_cancels_inner(void **state) {
  (void)state;
  virtual_on();
  cx_op *p = timed_op("outer", 5.0, NULL);
  CX_ASSERT_OK(cx_op_enter(p));
  cx_op *c = timed_op("inner", 60.0, p);
  CX_ASSERT_OK(cx_op_enter(c));
  CX_ASSERT_OK(cx_clock_advance(5.5));
  assert_true(cx_op_is_cancelled(p));
  assert_true(cx_op_is_cancelled(c));
  assert_int_equal(cx_op_cancel_reason(p), CX_REASON_TIMEOUT);
  assert_int_equal(cx_op_cancel_reason(c), CX_REASON_PARENT);
  assert_non_null(strstr(cx_op_cancel_message(c), "'outer'"));
  CX_ASSERT_OK(cx_op_exit(c, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(p, -ECANCELED));
  assert_int_equal(cx_op_status(c), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(c), CX_REASON_PARENT);
  cx_op_unref(c);
  cx_op_unref(p);
  virtual_off();
}

static void test_inner_timeout_only_its_step(void **state) {
  (void)state;
  virtual_on();
  cx_op *p = timed_op("outer", 60.0, NULL);
  CX_ASSERT_OK(cx_op_enter(p));
  cx_op *c = timed_op("inner", 2.0, p);
  CX_ASSERT_OK(cx_op_enter(c));
  CX_ASSERT_OK(cx_clock_advance(3.0));
  assert_true(cx_op_is_cancelled(c));
  assert_int_equal(cx_op_cancel_reason(c), CX_REASON_TIMEOUT);
  assert_false(cx_op_is_cancelled(p));
  CX_ASSERT_OK(cx_op_exit(c, -ECANCELED));
  /* the outer one carries on, and its own timeout still applies */
  cx_op *c2 = timed_op("next", 0.0, p);
  CX_ASSERT_OK(cx_op_enter(c2));
  CX_ASSERT_OK(cx_check(c2));
  CX_ASSERT_OK(cx_op_exit(c2, 0));
  CX_ASSERT_OK(cx_clock_advance(60.0));
  assert_true(cx_op_is_cancelled(p));
  assert_int_equal(cx_op_cancel_reason(p), CX_REASON_TIMEOUT);
  CX_ASSERT_OK(cx_op_exit(p, -ECANCELED));
  cx_op_unref(c2);
  cx_op_unref(c);
  cx_op_unref(p);
  virtual_off();
}

/* ---------------------------------------------------------------------- */
/* bad durations */

static void test_timeout_bad_durations(void **state) {
  (void)state;
  const double bad[] = {0.0, -0.0, -1.0,     -1e-300,
                        NAN, -NAN, INFINITY, -INFINITY};
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_create(&op, NULL));
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CX_ASSERT_ERR(-EINVAL, cx_op_add_timeout(op, bad[i]));
    cx_op *o2 = (cx_op *)&o2;
    CX_ASSERT_ERR(-EINVAL, cx_op_with_timeout(&o2, NULL, bad[i], "bad"));
    assert_null(o2);
  }
  /* options: 0 means none, the rest are rejected */
  const double bad_opt[] = {-1.0, -1e-300, NAN, INFINITY, -INFINITY};
  for (size_t i = 0; i < sizeof bad_opt / sizeof bad_opt[0]; i++) {
    cx_op_options o = CX_OP_OPTIONS_INIT;
    o.timeout = bad_opt[i];
    cx_op *o3 = (cx_op *)&o3;
    CX_ASSERT_ERR(-EINVAL, cx_op_create(&o3, &o));
    assert_null(o3);
  }
  /* nothing was added to op */
  virtual_on();
  CX_ASSERT_OK(cx_op_enter(op));
  assert_true(isinf(cx_op_deadline(op)));
  CX_ASSERT_OK(cx_clock_advance(1e6));
  assert_false(cx_op_is_cancelled(op));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  cx_op_unref(op);
  virtual_off();
}

static void test_timeout_tiny_and_huge(void **state) {
  (void)state;
  virtual_on();
  cx_op *tiny = timed_op("tiny", 1e-9, NULL);
  cx_op *huge = timed_op("huge", 1e9, NULL);
  CX_ASSERT_OK(cx_op_enter(huge));
  CX_ASSERT_OK(cx_op_enter(tiny));
  CX_ASSERT_OK(cx_clock_advance(1e-6));
  assert_true(cx_op_is_cancelled(tiny));
  assert_false(cx_op_is_cancelled(huge));
  CX_ASSERT_OK(cx_op_exit(tiny, -ECANCELED));
  CX_ASSERT_OK(cx_clock_advance(1e6));
  assert_false(cx_op_is_cancelled(huge));
  CX_ASSERT_OK(cx_op_exit(huge, 0));
  cx_op_unref(tiny);
  cx_op_unref(huge);
  virtual_off();
}

/* ---------------------------------------------------------------------- */
/* many timeouts */

enum { MANY = 100000 };

static atomic_int g_many_fired;

static int many_cb(cx_token *token, void *user_data) {
  (void)token;
  (void)user_data;
  atomic_fetch_add(&g_many_fired, 1);
  return 0;
}

/* Armed one after the other. */
static void test_timeout_many_sequential(void **state) {
  (void)state;
  virtual_on();
  atomic_store(&g_many_fired, 0);
  for (int i = 0; i < MANY; i++) {
    cx_op *op = NULL;
    CX_ASSERT_OK(cx_op_with_timeout(&op, NULL, 60.0 + (i % 100), NULL));
    CX_ASSERT_OK(
        cx_token_on_cancel(cx_op_token(op), many_cb, NULL, NULL, 0, NULL));
    CX_ASSERT_OK(cx_op_enter(op));
    CX_ASSERT_OK(cx_op_exit(op, 0));
    cx_op_unref(op);
  }
  CX_ASSERT_OK(cx_clock_advance(1000.0));
  assert_int_equal(atomic_load(&g_many_fired), 0);
  virtual_off();
}

/* All armed at once (nested), then disarmed in reverse order. */
static void test_timeout_many_armed_at_once(void **state) {
  (void)state;
  virtual_on();
  atomic_store(&g_many_fired, 0);
  cx_op **ops = calloc(MANY, sizeof *ops);
  assert_non_null(ops);
  for (int i = 0; i < MANY; i++) {
    /* varied deadlines so a heap really has to order them */
    CX_ASSERT_OK(cx_op_with_timeout(
        &ops[i], NULL, 60.0 + (double)((i * 7919) % MANY) / 100.0, NULL));
    CX_ASSERT_OK(
        cx_token_on_cancel(cx_op_token(ops[i]), many_cb, NULL, NULL, 0, NULL));
    CX_ASSERT_OK(cx_op_enter(ops[i]));
  }
  CX_ASSERT_OK(cx_clock_advance(30.0)); /* none due yet */
  assert_int_equal(atomic_load(&g_many_fired), 0);
  for (int i = MANY - 1; i >= 0; i--) {
    CX_ASSERT_OK(cx_op_exit(ops[i], 0));
    cx_op_unref(ops[i]);
  }
  CX_ASSERT_OK(cx_clock_advance(10000.0));
  assert_int_equal(atomic_load(&g_many_fired), 0);
  free(ops);
  virtual_off();
}

/* Many armed, half of them due: exactly those fire, in one advance. */
static void test_timeout_many_some_fire(void **state) {
  (void)state;
  virtual_on();
  enum { N = 2000 };
  atomic_store(&g_many_fired, 0);
  cx_op **ops = calloc(N, sizeof *ops);
  for (int i = 0; i < N; i++) {
    CX_ASSERT_OK(
        cx_op_with_timeout(&ops[i], NULL, (i % 2) ? 1.0 : 100.0, NULL));
    CX_ASSERT_OK(
        cx_token_on_cancel(cx_op_token(ops[i]), many_cb, NULL, NULL, 0, NULL));
    CX_ASSERT_OK(cx_op_enter(ops[i]));
  }
  CX_ASSERT_OK(cx_clock_advance(2.0));
  assert_int_equal(atomic_load(&g_many_fired), N / 2);
  for (int i = 0; i < N; i++)
    assert_int_equal(cx_op_is_cancelled(ops[i]), (i % 2) == 1);
  for (int i = N - 1; i >= 0; i--) {
    CX_ASSERT_OK(cx_op_exit(ops[i], cx_check(ops[i])));
    assert_int_equal(cx_op_status(ops[i]),
                     (i % 2) ? CX_STATUS_CANCELLED : CX_STATUS_COMPLETED);
    cx_op_unref(ops[i]);
  }
  free(ops);
  virtual_off();
}

/* ---------------------------------------------------------------------- */
/* real clock */

static void test_timeout_real_clock_fires(void **state) {
  (void)state;
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_with_timeout(&op, NULL, 0.2, "real"));
  double t0 = cx_test_now();
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_token_wait(cx_op_token(op), 30.0));
  double dt = cx_test_now() - t0;
  assert_true(dt >= 0.15); /* not early */
  assert_true(dt < 30.0);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/timeout/clock/virtual-switching", test_clock_virtual_switching),
    CX_TEST("/timeout/clock/virtual-does-not-move",
            test_clock_virtual_does_not_move),
    CX_TEST("/timeout/clock/advance-bad-input", test_clock_advance_bad_input),
    CX_TEST("/timeout/fires-on-advance", test_timeout_fires_on_advance),
    CX_TEST("/timeout/exact-deadline", test_timeout_exact_deadline),
    CX_TEST("/timeout/counts-from-enter", test_timeout_counts_from_enter),
    CX_TEST("/timeout/factory-fires", test_timeout_factory_fires),
    CX_TEST("/timeout/earliest-wins", test_timeout_earliest_wins),
    CX_TEST("/timeout/options-plus-add", test_timeout_options_plus_add),
    CX_TEST("/timeout/no-fire-after-exit", test_timeout_no_fire_after_exit),
    CX_TEST("/timeout/own/after-failed-enter",
            test_timeout_own_after_failed_enter),
    CX_TEST("/timeout/freed-before-fire", test_timeout_freed_before_fire),
    CX_TEST("/timeout/manual-cancel-first", test_timeout_manual_cancel_first),
    CX_TEST("/timeout/wakes-waiter", test_timeout_wakes_waiter),
    CX_TEST("/timeout/deadline/remaining", test_deadline_and_remaining),
    CX_TEST("/timeout/deadline/none", test_deadline_none),
    CX_TEST("/timeout/deadline/child-min-of-parent",
            test_deadline_child_min_of_parent),
    CX_TEST("/timeout/parent/outer-cancels-inner",
            test_outer_timeout_cancels_inner),
    CX_TEST("/timeout/parent/inner-only-its-step",
            test_inner_timeout_only_its_step),
    CX_TEST("/timeout/bad-durations", test_timeout_bad_durations),
    CX_TEST("/timeout/tiny-and-huge", test_timeout_tiny_and_huge),
    CX_TEST("/timeout/many/sequential", test_timeout_many_sequential),
    CX_TEST("/timeout/many/armed-at-once", test_timeout_many_armed_at_once),
    CX_TEST("/timeout/many/some-fire", test_timeout_many_some_fire),
    CX_TEST("/timeout/real-clock/fires", test_timeout_real_clock_fires),
};

CX_TEST_MAIN("timeout", tests)
