/* tests/unit/test_shield.c - shields, issue #4: a shield is a handle with
 * status SHIELDED and its parent id set, current while it lasts; the
 * enclosing operation's cancellation (by hand, from another thread, by its
 * timeout) is not seen by checks and waits inside it (cx_check(NULL),
 * cx_sleep(NULL, ...), child ops of the shield); the shield's own timeout
 * still applies; ending it reports -ECANCELED when the enclosing op was
 * cancelled meanwhile and 0 otherwise; shields nest; bad input.
 */
#include "cx_test.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cancelable.h>

static cx_op *new_op(const char *name, cx_op *parent, double timeout) {
  return cx_test_op(name, parent, timeout);
}

/* ---------------------------------------------------------------------- */

static void test_status_and_parent(void **state) {
  (void)state;
  cx_op *op = new_op("outer", NULL, 0);
  CX_ASSERT_OK(cx_op_enter(op));
  cx_op *s = NULL;
  CX_ASSERT_OK(cx_shield_begin(&s, NULL, 0));
  assert_non_null(s);
  assert_int_equal(cx_op_status(s), CX_STATUS_SHIELDED);
  assert_string_equal(cx_status_name(cx_op_status(s)), "shielded");
  assert_ptr_equal(cx_current(), op);
  assert_non_null(cx_op_parent_id(s));
  assert_string_equal(cx_op_parent_id(s), cx_op_id(op));
  assert_ptr_equal(cx_op_parent(s), op);
  assert_non_null(cx_op_id(s));
  assert_string_not_equal(cx_op_id(s), cx_op_id(op));
  assert_false(cx_op_is_cancelled(s));
  CX_ASSERT_OK(cx_check(NULL));
  CX_ASSERT_OK(cx_shield_end(s));
  assert_int_equal(cx_op_status(s), CX_STATUS_COMPLETED);
  assert_ptr_equal(cx_current(), op);
  /* The parent id stays after the end. */
  assert_string_equal(cx_op_parent_id(s), cx_op_id(op));
  cx_op_unref(s);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  cx_op_unref(op);
}

/* Explicit enclosing op, and a shield with no op around at all. */
static void test_explicit_and_no_enclosing(void **state) {
  (void)state;
  cx_op *op = new_op("outer", NULL, 0);
  CX_ASSERT_OK(cx_op_enter(op));
  cx_op *inner = new_op("inner", op, 0);
  CX_ASSERT_OK(cx_op_enter(inner));
  cx_op *s = NULL;
  CX_ASSERT_OK(cx_shield_begin(&s, op, 0)); /* shield from outer, not inner */
  assert_string_equal(cx_op_parent_id(s), cx_op_id(op));
  assert_ptr_equal(cx_current(), op);
  cx_op_cancel(op, CX_REASON_MANUAL, NULL);
  CX_ASSERT_OK(cx_check(NULL));
  CX_ASSERT_ERR(-ECANCELED, cx_shield_end(s));
  assert_ptr_equal(cx_current(), inner);
  CX_ASSERT_ERR(-ECANCELED, cx_check(NULL)); /* inner got the cascade */
  cx_op_unref(s);
  CX_ASSERT_OK(cx_op_exit(inner, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(inner);
  cx_op_unref(op);

  assert_null(cx_current());
  CX_ASSERT_OK(cx_shield_begin(&s, NULL, 0));
  assert_null(cx_op_parent_id(s));
  assert_null(cx_op_parent(s));
  assert_int_equal(cx_op_status(s), CX_STATUS_SHIELDED);
  assert_null(cx_current()); /* nothing enclosed */
  CX_ASSERT_OK(cx_shield_end(s));
  assert_null(cx_current());
  cx_op_unref(s);
}

static void test_blocks_enclosing_cancel(void **state) {
  (void)state;
  cx_op *op = new_op("outer", NULL, 0);
  CX_ASSERT_OK(cx_op_enter(op));
  cx_op *s = NULL;
  CX_ASSERT_OK(cx_shield_begin(&s, NULL, 0));
  assert_true(cx_op_cancel(op, CX_REASON_MANUAL, "outer stop"));
  assert_true(cx_op_is_cancelled(op));
  CX_ASSERT_ERR(-ECANCELED, cx_check(op)); /* the op itself is cancelled */
  /* ... but the shielded work does not see it. */
  assert_false(cx_op_is_cancelled(NULL));
  assert_false(cx_op_is_cancelled(s));
  CX_ASSERT_OK(cx_check(NULL));
  CX_ASSERT_OK(cx_check(s));
  CX_ASSERT_OK(cx_sleep(NULL, 0.02));
  CX_ASSERT_OK(cx_sleep(s, 0.02));
  /* Other waits: their own timeout, not -ECANCELED. */
  CX_ASSERT_ERR(-ETIMEDOUT, cx_poll(NULL, NULL, 0, 0.02));
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  CX_ASSERT_ERR(-ETIMEDOUT, cx_wait_fd(NULL, fds[0], POLLIN, 0.02));
  assert_int_equal(write(fds[1], "x", 1), 1);
  assert_true(cx_wait_fd(NULL, fds[0], POLLIN, 5.0) & POLLIN);
  close(fds[0]);
  close(fds[1]);
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
  pthread_mutex_lock(&mu);
  int rc;
  do rc = cx_cond_wait(NULL, &cv, &mu, 0.02);
  while (rc == 0); /* spurious wake-ups */
  pthread_mutex_unlock(&mu);
  CX_ASSERT_ERR(-ETIMEDOUT, rc);
  assert_int_equal(cx_op_cancel_reason(s), CX_REASON_NONE);
  assert_true(isinf(cx_op_remaining(NULL)));
  /* Children made inside the shield are shielded too. */
  cx_op *kid = new_op("kid", s, 0);
  CX_ASSERT_OK(cx_op_enter(kid));
  CX_ASSERT_OK(cx_check(NULL));
  CX_ASSERT_OK(cx_op_exit(kid, 0));
  assert_int_equal(cx_op_status(kid), CX_STATUS_COMPLETED);
  cx_op_unref(kid);

  CX_ASSERT_ERR(-ECANCELED, cx_shield_end(s));
  assert_int_equal(cx_op_status(s), CX_STATUS_COMPLETED);
  assert_ptr_equal(cx_current(), op);
  CX_ASSERT_ERR(-ECANCELED, cx_check(NULL));
  cx_op_unref(s);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_MANUAL);
  cx_op_unref(op);
}

typedef struct late_cancel {
  cx_op *op;
  double delay;
} late_cancel;

static void *cancel_later(void *p) {
  late_cancel *c = p;
  cx_test_sleep(c->delay);
  cx_op_cancel(c->op, CX_REASON_MANUAL, "from another thread");
  return NULL;
}

/* A cancel from another thread during a shielded wait does not cut it. */
static void test_wait_not_interrupted(void **state) {
  (void)state;
  cx_op *op = new_op("outer", NULL, 0);
  CX_ASSERT_OK(cx_op_enter(op));
  cx_op *s = NULL;
  CX_ASSERT_OK(cx_shield_begin(&s, op, 0));
  late_cancel c = {op, 0.05};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, cancel_later, &c), 0);
  double t0 = cx_test_now();
  CX_ASSERT_OK(cx_sleep(NULL, 0.3));
  assert_true(cx_test_now() - t0 >= 0.25);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_true(cx_op_is_cancelled(op));
  CX_ASSERT_OK(cx_check(NULL));
  CX_ASSERT_ERR(-ECANCELED, cx_shield_end(s));
  /* Unshielded again: a wait returns at once. */
  t0 = cx_test_now();
  CX_ASSERT_ERR(-ECANCELED, cx_sleep(NULL, 30.0));
  assert_true(cx_test_now() - t0 < 10.0);
  cx_op_unref(s);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
}

/* The enclosing op's timeout fires during the shield: not seen inside. */
static void test_enclosing_timeout(void **state) {
  (void)state;
  cx_op *op = new_op("outer", NULL, 5.0);
  CX_ASSERT_OK(cx_op_enter(op));
  cx_op *s = NULL;
  CX_ASSERT_OK(cx_shield_begin(&s, NULL, 0));
  CX_ASSERT_OK(cx_clock_advance(10.0));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  CX_ASSERT_OK(cx_check(NULL));
  assert_true(isinf(cx_op_deadline(s))); /* not bounded by the outer */
  CX_ASSERT_ERR(-ECANCELED, cx_shield_end(s));
  CX_ASSERT_ERR(-ECANCELED, cx_check(NULL));
  cx_op_unref(s);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  cx_op_unref(op);
}

/* The shield's own timeout applies (virtual clock). */
static void test_own_timeout(void **state) {
  (void)state;
  cx_op *op = new_op("outer", NULL, 0);
  CX_ASSERT_OK(cx_op_enter(op));
  cx_op *s = NULL;
  double t0 = cx_now();
  CX_ASSERT_OK(cx_shield_begin(&s, NULL, 5.0));
  assert_true(fabs(cx_op_deadline(s) - (t0 + 5.0)) < 1e-6);
  CX_ASSERT_OK(cx_clock_advance(4.0));
  CX_ASSERT_OK(cx_check(NULL));
  CX_ASSERT_OK(cx_clock_advance(1.0));
  CX_ASSERT_ERR(-ECANCELED, cx_check(NULL));
  assert_true(cx_op_is_cancelled(s));
  assert_int_equal(cx_op_cancel_reason(s), CX_REASON_TIMEOUT);
  assert_false(cx_op_is_cancelled(op)); /* never reaches the enclosing op */
  CX_ASSERT_OK(cx_shield_end(s));       /* the enclosing op is live */
  assert_int_equal(cx_op_status(s), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(s), CX_REASON_TIMEOUT);
  CX_ASSERT_OK(cx_check(NULL));
  cx_op_unref(s);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  cx_op_unref(op);
}

/* Both: the enclosing op cancelled and the shield's own timeout fired. */
static void test_own_timeout_real_clock(void **state) {
  (void)state;
  cx_op *op = new_op("outer", NULL, 0);
  CX_ASSERT_OK(cx_op_enter(op));
  cx_op *s = NULL;
  double t0 = cx_test_now(); /* before the shield's timer starts */
  CX_ASSERT_OK(cx_shield_begin(&s, NULL, 0.1));
  cx_op_cancel(op, CX_REASON_MANUAL, NULL);
  CX_ASSERT_ERR(-ECANCELED, cx_sleep(NULL, 30.0));
  double took = cx_test_now() - t0;
  assert_true(took >= 0.09 && took < 10.0);
  assert_int_equal(cx_op_cancel_reason(s), CX_REASON_TIMEOUT);
  CX_ASSERT_ERR(-ECANCELED, cx_shield_end(s));
  assert_int_equal(cx_op_status(s), CX_STATUS_CANCELLED);
  cx_op_unref(s);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
}

static void test_nested(void **state) {
  (void)state;
  cx_op *op = new_op("outer", NULL, 0);
  CX_ASSERT_OK(cx_op_enter(op));
  cx_op *s1 = NULL, *s2 = NULL;
  CX_ASSERT_OK(cx_shield_begin(&s1, NULL, 0));
  CX_ASSERT_OK(cx_shield_begin(&s2, NULL, 0));
  assert_string_equal(cx_op_parent_id(s2), cx_op_id(s1));
  assert_int_equal(cx_op_status(s2), CX_STATUS_SHIELDED);
  assert_ptr_equal(cx_current(), op);
  cx_op_cancel(op, CX_REASON_MANUAL, NULL);
  CX_ASSERT_OK(cx_check(NULL));
  /* Ending out of order is refused and changes nothing. */
  CX_ASSERT_ERR(-EPERM, cx_shield_end(s1));
  assert_int_equal(cx_op_status(s1), CX_STATUS_SHIELDED);
  assert_ptr_equal(cx_current(), op);
  /* s2's enclosing op is s1: live. */
  CX_ASSERT_OK(cx_shield_end(s2));
  assert_ptr_equal(cx_current(), op);
  CX_ASSERT_OK(cx_check(NULL)); /* still shielded by s1 */
  CX_ASSERT_OK(cx_sleep(NULL, 0.01));
  CX_ASSERT_ERR(-ECANCELED, cx_shield_end(s1));
  assert_ptr_equal(cx_current(), op);
  CX_ASSERT_ERR(-ECANCELED, cx_check(NULL));
  cx_op_unref(s2);
  cx_op_unref(s1);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
}

/* A shield inside an op inside a shield: the middle op is cancelled by
 * hand; the inner shield protects from it; the outer one is untouched. */
static void test_nested_with_op_between(void **state) {
  (void)state;
  cx_op *op = new_op("outer", NULL, 0);
  CX_ASSERT_OK(cx_op_enter(op));
  cx_op *s1 = NULL, *s2 = NULL;
  CX_ASSERT_OK(cx_shield_begin(&s1, NULL, 0));
  cx_op *mid = new_op("mid", s1, 0);
  CX_ASSERT_OK(cx_op_enter(mid));
  CX_ASSERT_OK(cx_shield_begin(&s2, NULL, 0));
  assert_string_equal(cx_op_parent_id(s2), cx_op_id(mid));
  cx_op_cancel(op, CX_REASON_MANUAL, NULL); /* blocked by s1 */
  assert_false(cx_op_is_cancelled(mid));
  CX_ASSERT_OK(cx_shield_end(s2));
  cx_op_cancel(mid, CX_REASON_MANUAL, NULL);
  CX_ASSERT_ERR(-ECANCELED, cx_check(NULL));
  CX_ASSERT_OK(cx_op_exit(mid, -ECANCELED));
  CX_ASSERT_OK(cx_check(NULL)); /* in s1 */
  CX_ASSERT_ERR(-ECANCELED, cx_shield_end(s1));
  cx_op_unref(s2);
  cx_op_unref(mid);
  cx_op_unref(s1);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
}

static void test_bad_input(void **state) {
  (void)state;
  cx_op *op = new_op("outer", NULL, 0);
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_ERR(-EINVAL, cx_shield_begin(NULL, NULL, 0));
  const double bad[] = {-1.0, NAN, INFINITY, -INFINITY};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cx_op *s = op;
    CX_ASSERT_ERR(-EINVAL, cx_shield_begin(&s, NULL, bad[i]));
    assert_null(s);
    assert_ptr_equal(cx_current(), op);
  }
  CX_ASSERT_ERR(-EINVAL, cx_shield_end(NULL));
  CX_ASSERT_ERR(-EINVAL, cx_shield_end(op)); /* not a shield */
  assert_int_equal(cx_op_status(op), CX_STATUS_RUNNING);
  assert_ptr_equal(cx_current(), op);

  cx_op *s = NULL;
  CX_ASSERT_OK(cx_shield_begin(&s, NULL, 0));
  CX_ASSERT_ERR(-EINVAL, cx_op_exit(s, 0)); /* shields end with shield_end */
  CX_ASSERT_ERR(-EINVAL, cx_op_enter(s));   /* already begun */
  assert_int_equal(cx_op_status(s), CX_STATUS_SHIELDED);
  /* An op entered inside the shield must exit first. */
  cx_op *inner = new_op("inner", NULL, 0);
  CX_ASSERT_OK(cx_op_enter(inner));
  CX_ASSERT_ERR(-EPERM, cx_shield_end(s));
  assert_int_equal(cx_op_status(s), CX_STATUS_SHIELDED);
  assert_ptr_equal(cx_current(), inner);
  CX_ASSERT_OK(cx_op_exit(inner, 0));
  cx_op_unref(inner);
  CX_ASSERT_OK(cx_shield_end(s));
  CX_ASSERT_ERR(-EINVAL, cx_shield_end(s)); /* already ended */
  assert_ptr_equal(cx_current(), op);
  assert_int_equal(cx_op_status(s), CX_STATUS_COMPLETED);
  cx_op_unref(s);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
}

typedef struct shield_thread_arg {
  cx_op *op;
  int end_rc;
  int check_rc;
} shield_thread_arg;

static void *shield_on_thread(void *p) {
  shield_thread_arg *a = p;
  cx_op *s = NULL;
  CX_ASSERT_OK(cx_shield_begin(&s, a->op, 0));
  late_cancel c = {a->op, 0.05};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, cancel_later, &c), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  a->check_rc = cx_check(NULL);
  a->end_rc = cx_shield_end(s);
  cx_op_unref(s);
  return NULL;
}

/* A shield begun on another thread than the one running the op. */
static void test_other_thread(void **state) {
  (void)state;
  cx_op *op = new_op("outer", NULL, 0);
  CX_ASSERT_OK(cx_op_enter(op));
  shield_thread_arg a = {op, 1, 1};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, shield_on_thread, &a), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  CX_ASSERT_OK(a.check_rc);
  CX_ASSERT_ERR(-ECANCELED, a.end_rc);
  CX_ASSERT_ERR(-ECANCELED, cx_check(NULL));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
}

/* Issue 17 item 3: inside a shield the current op stays the enclosing
 * one: metadata, partial results and progress set through cx_current()
 * land on it; every call that takes NULL for "the current op" to check
 * or wait still sees the shield's non-cancellation. */
typedef struct seen_progress {
  char op_id[64];
  char message[32];
  int calls;
} seen_progress;

static int on_progress(const char *op_id, const char *message,
                       const cx_meta *meta, void *user_data) {
  seen_progress *p = user_data;
  (void)meta;
  snprintf(p->op_id, sizeof p->op_id, "%s", op_id ? op_id : "");
  snprintf(p->message, sizeof p->message, "%s", message ? message : "");
  p->calls++;
  return 0;
}

static int count_item(void *state, void **item) {
  int *n = state;
  if (*n >= 3) return 0;
  (*n)++;
  *item = n;
  return 1;
}

static int check_fn(cx_op *op, void *user_data) {
  (void)op;
  (void)user_data;
  return cx_check(NULL);
}

static int quick_blocking(void *arg) {
  (void)arg;
  return 7;
}

static void *check_on_thread(void *p) {
  *(int *)p = cx_check(NULL);
  return NULL;
}

static void count_end(cx_op *op, void *p) {
  (void)op;
  (*(int *)p)++;
}

static void test_current_is_enclosing(void **state) {
  (void)state;
  seen_progress seen = {{0}, {0}, 0};
  cx_op *op = new_op("outer", NULL, 0);
  CX_ASSERT_OK(cx_op_on_progress(op, on_progress, &seen, NULL));
  CX_ASSERT_OK(cx_op_enter(op));
  cx_op *s = NULL;
  CX_ASSERT_OK(cx_shield_begin(&s, NULL, 0));
  assert_ptr_equal(cx_current(), op);
  /* context set through the current op lands on the enclosing op */
  cx_meta *m = cx_meta_new();
  assert_non_null(m);
  CX_ASSERT_OK(cx_meta_set_string(m, "stage", "flush"));
  CX_ASSERT_OK(cx_op_update_metadata(cx_current(), m));
  cx_meta_free(m);
  static int partial = 42;
  CX_ASSERT_OK(cx_op_set_partial_result(cx_current(), &partial, NULL));
  assert_ptr_equal(cx_op_partial_result(op), &partial);
  assert_null(cx_op_partial_result(s));
  int ends = 0;
  CX_ASSERT_OK(cx_op_on(cx_current(), CX_OP_ON_CANCEL, count_end, &ends, NULL));
  CX_ASSERT_OK(cx_report_progress(NULL, "saving", NULL));
  assert_int_equal(seen.calls, 1);
  assert_string_equal(seen.op_id, cx_op_id(op));
  assert_string_equal(seen.message, "saving");
  /* the enclosing op is cancelled: nothing inside the shield sees it */
  assert_true(cx_op_cancel(op, CX_REASON_MANUAL, "stop"));
  assert_false(cx_op_is_cancelled(NULL));
  CX_ASSERT_OK(cx_check(NULL));
  CX_ASSERT_OK(cx_sleep(NULL, 0.01));
  assert_true(isinf(cx_op_remaining(NULL)));
  cx_wrapped w = cx_wrap(NULL, check_fn);
  CX_ASSERT_OK(cx_wrapped_call(&w, NULL));
  CX_ASSERT_OK(cx_run_in(s, check_fn, NULL));
  cx_retry_options ro = CX_RETRY_OPTIONS_INIT;
  CX_ASSERT_OK(cx_retry(NULL, &ro, check_fn, NULL));
  assert_int_equal(cx_run_until_cancelled(NULL, quick_blocking, NULL, NULL), 7);
  int n = 0, seen_items = 0;
  void *item;
  cx_stream *st = NULL;
  CX_ASSERT_OK(cx_stream_new(&st, NULL, count_item, &n, NULL));
  while (cx_stream_next(st, &item) == 1) seen_items++;
  assert_int_equal(seen_items, 3);
  cx_stream_free(st);
  /* its partial result went to the enclosing op too */
  assert_ptr_not_equal(cx_op_partial_result(op), &partial);
  assert_non_null(cx_op_partial_result(op));
  /* a thread started inside the shield is shielded too */
  pthread_t t;
  int thread_rc = 1;
  CX_ASSERT_OK(cx_thread_create(&t, NULL, check_on_thread, &thread_rc));
  assert_true(cx_test_join_within(t, 30, NULL));
  CX_ASSERT_OK(thread_rc);
  CX_ASSERT_ERR(-ECANCELED, cx_shield_end(s));
  cx_op_unref(s);
  /* the enclosing op kept what was set inside the shield */
  cx_meta *got = cx_op_metadata(op);
  const char *stage = NULL;
  CX_ASSERT_OK(cx_meta_get_string(got, "stage", &stage));
  assert_string_equal(stage, "flush");
  cx_meta_free(got);
  CX_ASSERT_ERR(-ECANCELED, cx_check(NULL));
  assert_int_equal(ends, 0);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(ends, 1); /* the status callback was the op's */
  cx_op_unref(op);
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/tree/shield/current-is-enclosing", test_current_is_enclosing),
    CX_TEST("/tree/shield/status-and-parent", test_status_and_parent),
    CX_TEST("/tree/shield/explicit-and-no-enclosing",
            test_explicit_and_no_enclosing),
    CX_TEST("/tree/shield/blocks-enclosing-cancel",
            test_blocks_enclosing_cancel),
    CX_TEST("/tree/shield/wait-not-interrupted", test_wait_not_interrupted),
    CX_TEST_VCLOCK("/tree/shield/enclosing-timeout", test_enclosing_timeout),
    CX_TEST_VCLOCK("/tree/shield/own-timeout", test_own_timeout),
    CX_TEST("/tree/shield/own-timeout-real-clock", test_own_timeout_real_clock),
    CX_TEST("/tree/shield/nested", test_nested),
    CX_TEST("/tree/shield/nested-with-op-between", test_nested_with_op_between),
    CX_TEST("/tree/shield/bad-input", test_bad_input),
    CX_TEST("/tree/shield/other-thread", test_other_thread),
};

CX_TEST_MAIN("tree/shield", tests)
