/* tests/unit/test_deadline_move.c - a deadline that moves while the op
 * runs (Trio's cancel_scope.deadline, .NET's CancelAfter), issue #21:
 * cx_op_set_deadline()/cx_op_cancel_after() cancel (TIMEOUT, "deadline
 * reached") at the deadline and never early; moving it later extends,
 * earlier shortens, +INFINITY removes; a deadline at or before now cancels
 * in the call; a cancelled op stays cancelled (-ECANCELED, nothing
 * changes); children's cx_op_deadline() follows each move and a parent's
 * earlier deadline wins (and cancels them, PARENT); detached children do
 * not follow; timeouts added before enter keep applying; bad input and
 * ops not running give -EINVAL.  Races with the timer thread and with
 * exit, on the real clock (TSan).
 */
#include "cx_test.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cancelable.h>

static bool near(double a, double b) { return fabs(a - b) < 1e-6; }

static void test_fires(void **state) {
  cx_op *op = cx_test_entered_op("job", NULL, 0);
  double t0 = cx_now();
  (void)state;
  assert_true(isinf(cx_op_deadline(op)));
  CX_ASSERT_OK(cx_op_set_deadline(op, t0 + 2.0));
  assert_true(near(cx_op_deadline(op), t0 + 2.0));
  assert_true(near(cx_op_remaining(op), 2.0));
  cx_test_advance(1.999);
  assert_false(cx_op_is_cancelled(op));
  cx_test_advance(0.001);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  assert_string_equal(cx_op_cancel_message(op), "deadline reached");
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_true(isinf(cx_op_deadline(op)));
  cx_op_unref(op);
}

static void test_extend_shorten_remove(void **state) {
  cx_op *a = cx_test_entered_op("a", NULL, 0);
  cx_op *b = cx_test_entered_op("b", NULL, 0);
  cx_op *c = cx_test_entered_op("c", NULL, 0);
  (void)state;
  CX_ASSERT_OK(cx_op_cancel_after(a, 1.0));
  CX_ASSERT_OK(cx_op_cancel_after(b, 10.0));
  CX_ASSERT_OK(cx_op_cancel_after(c, 1.0));
  cx_test_advance(0.5);
  CX_ASSERT_OK(cx_op_cancel_after(a, 2.0)); /* now 2.5 */
  CX_ASSERT_OK(cx_op_cancel_after(b, 0.5)); /* now 1.0 */
  CX_ASSERT_OK(cx_op_cancel_after(c, INFINITY));
  assert_true(isinf(cx_op_deadline(c)));
  cx_test_advance(0.5); /* t = 1.0 */
  assert_false(cx_op_is_cancelled(a));
  assert_true(cx_op_is_cancelled(b));
  assert_false(cx_op_is_cancelled(c));
  cx_test_advance(1.499);
  assert_false(cx_op_is_cancelled(a));
  cx_test_advance(0.001);
  assert_true(cx_op_is_cancelled(a));
  cx_test_advance(100.0);
  assert_false(cx_op_is_cancelled(c));
  CX_ASSERT_OK(cx_op_exit(c, 0));
  CX_ASSERT_OK(cx_op_exit(b, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(a, -ECANCELED));
  cx_op_unref(a);
  cx_op_unref(b);
  cx_op_unref(c);
}

static void test_passed_and_cancelled(void **state) {
  cx_op *a = cx_test_entered_op("a", NULL, 0);
  cx_op *b = cx_test_entered_op("b", NULL, 0);
  cx_op *c = cx_test_entered_op("c", NULL, 0);
  (void)state;
  CX_ASSERT_OK(cx_op_set_deadline(a, cx_now() - 1.0));
  assert_true(cx_op_is_cancelled(a)); /* in the call */
  assert_int_equal(cx_op_cancel_reason(a), CX_REASON_TIMEOUT);
  assert_string_equal(cx_op_cancel_message(a), "deadline set in the past");
  CX_ASSERT_OK(cx_op_cancel_after(b, 0.0));
  assert_true(cx_op_is_cancelled(b));
  CX_ASSERT_OK(cx_op_set_deadline(c, -INFINITY));
  assert_true(cx_op_is_cancelled(c));
  /* Cancelled stays cancelled. */
  CX_ASSERT_ERR(-ECANCELED, cx_op_cancel_after(a, 100.0));
  CX_ASSERT_ERR(-ECANCELED, cx_op_set_deadline(b, INFINITY));
  assert_string_equal(cx_op_cancel_message(a), "deadline set in the past");
  CX_ASSERT_OK(cx_op_exit(c, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(b, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(a, -ECANCELED));
  cx_op_unref(a);
  cx_op_unref(b);
  cx_op_unref(c);
}

static void test_children_follow(void **state) {
  cx_op *parent = cx_test_entered_op("parent", NULL, 0);
  cx_op *child = cx_test_entered_op("child", parent, 0);
  cx_op *own = cx_test_entered_op("own", parent, 3.0);
  cx_op *free_op = NULL;
  double t0 = cx_now();
  (void)state;
  CX_ASSERT_OK(cx_op_without_cancel(&free_op, parent, "detached"));
  CX_ASSERT_OK(cx_op_enter(free_op));
  CX_ASSERT_OK(cx_op_cancel_after(parent, 5.0));
  assert_true(near(cx_op_deadline(child), t0 + 5.0));
  assert_true(near(cx_op_deadline(own), t0 + 3.0));
  assert_true(isinf(cx_op_deadline(free_op)));
  CX_ASSERT_OK(cx_op_cancel_after(parent, 10.0));
  assert_true(near(cx_op_deadline(child), t0 + 10.0));
  CX_ASSERT_OK(cx_op_cancel_after(parent, 1.0));
  assert_true(near(cx_op_deadline(own), t0 + 1.0));
  CX_ASSERT_OK(cx_op_cancel_after(parent, 8.0));
  /* The child's own later deadline does not extend the parent's. */
  CX_ASSERT_OK(cx_op_cancel_after(child, 20.0));
  assert_true(near(cx_op_deadline(child), t0 + 8.0));
  cx_test_advance(3.0);
  assert_int_equal(cx_op_cancel_reason(own), CX_REASON_TIMEOUT);
  assert_false(cx_op_is_cancelled(child));
  cx_test_advance(5.0);
  assert_int_equal(cx_op_cancel_reason(child), CX_REASON_PARENT);
  assert_false(cx_op_is_cancelled(free_op));
  CX_ASSERT_OK(cx_op_exit(free_op, 0));
  CX_ASSERT_OK(cx_op_exit(own, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(child, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(parent, -ECANCELED));
  cx_op_unref(free_op);
  cx_op_unref(own);
  cx_op_unref(child);
  cx_op_unref(parent);
}

/* Timeouts from before enter keep applying: the earliest wins. */
static void test_with_timeout(void **state) {
  cx_op *op = cx_test_entered_op("job", NULL, 2.0);
  double t0 = cx_now();
  (void)state;
  CX_ASSERT_OK(cx_op_cancel_after(op, 5.0));
  assert_true(near(cx_op_deadline(op), t0 + 2.0));
  CX_ASSERT_OK(cx_op_cancel_after(op, 1.0));
  assert_true(near(cx_op_deadline(op), t0 + 1.0));
  cx_test_advance(1.0);
  assert_string_equal(cx_op_cancel_message(op), "deadline reached");
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
}

static void test_bad(void **state) {
  cx_op *pending = cx_test_op("pending", NULL, 0);
  cx_op *op = cx_test_entered_op("job", NULL, 0);
  (void)state;
  CX_ASSERT_ERR(-EINVAL, cx_op_set_deadline(NULL, 1.0));
  CX_ASSERT_ERR(-EINVAL, cx_op_cancel_after(NULL, 1.0));
  CX_ASSERT_ERR(-EINVAL, cx_op_set_deadline(op, NAN));
  CX_ASSERT_ERR(-EINVAL, cx_op_cancel_after(op, NAN));
  CX_ASSERT_ERR(-EINVAL, cx_op_cancel_after(op, -1.0));
  CX_ASSERT_ERR(-EINVAL, cx_op_cancel_after(op, -INFINITY));
  CX_ASSERT_ERR(-EINVAL, cx_op_cancel_after(op, 1e300));
  CX_ASSERT_ERR(-EINVAL, cx_op_cancel_after(pending, 1.0));
  CX_ASSERT_ERR(-EINVAL, cx_op_set_deadline(pending, cx_now() + 1.0));
  assert_true(isinf(cx_op_deadline(op)));
  assert_false(cx_op_is_cancelled(op));
  CX_ASSERT_OK(cx_op_cancel_after(op, 1.0));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  CX_ASSERT_ERR(-EINVAL, cx_op_cancel_after(op, 1.0)); /* exited */
  cx_test_advance(2.0);
  assert_false(cx_op_is_cancelled(op)); /* exit stopped the timer */
  cx_op_unref(op);
  cx_op_unref(pending);
}

/* ---- races, real clock */

typedef struct mover {
  cx_op *op;
  atomic_bool stop;
  unsigned seed;
} mover;

static void *move_loop(void *p) {
  mover *m = p;
  while (!atomic_load(&m->stop)) {
    m->seed = m->seed * 1103515245u + 12345u;
    double s = (double)(m->seed >> 16 & 1023) * 1e-6; /* 0 .. 1 ms */
    int rc = cx_op_cancel_after(m->op, (m->seed & 7) == 0 ? INFINITY : s);
    /* -ENOMEM / -EAGAIN: the timer could not be made or armed (the
     * allocation sweep injects it on this thread too); documented. */
    if (rc != 0 && rc != -ECANCELED && rc != -EINVAL && rc != -ENOMEM &&
        rc != -EAGAIN) {
      fprintf(stderr, "unexpected %d\n", rc);
      abort();
    }
  }
  return NULL;
}

/* Two threads move an op's deadline around while the timer fires and the
 * owner exits; afterwards no cancel arrives. */
static void test_race(void **state) {
  (void)state;
  for (int i = 0; i < 200; i++) {
    cx_op *op = cx_test_entered_op("raced", NULL, 0);
    mover m1 = {op, false, (unsigned)i * 2u + 1u};
    mover m2 = {op, false, (unsigned)i * 7u + 3u};
    pthread_t t1, t2;
    bool cancelled;
    assert_int_equal(pthread_create(&t1, NULL, move_loop, &m1), 0);
    assert_int_equal(pthread_create(&t2, NULL, move_loop, &m2), 0);
    cx_test_sleep((i % 4) * 1e-4);
    CX_ASSERT_OK(cx_op_exit(op, 0));
    cancelled = cx_op_is_cancelled(op);
    atomic_store(&m1.stop, true);
    atomic_store(&m2.stop, true);
    assert_true(cx_test_join_within(t1, 30.0, NULL));
    assert_true(cx_test_join_within(t2, 30.0, NULL));
    if (i % 50 == 0) cx_test_sleep(0.005);
    /* Exit stopped the timer: nothing cancels the op afterwards. */
    assert_int_equal(cx_op_is_cancelled(op), cancelled);
    cx_op_unref(op);
  }
}

/* A mover on another thread while the owner enters: it gets -EINVAL
 * until enter is done, then its setting holds (enter no longer overwrites
 * it, TSan sees no race on the deadline fields). */
static void *move_once_running(void *p) {
  cx_op *op = p;
  int rc;
  while ((rc = cx_op_cancel_after(op, 100.0)) == -EINVAL) sched_yield();
  return (void *)(intptr_t)rc;
}

static void test_race_enter(void **state) {
  (void)state;
  for (int i = 0; i < 200; i++) {
    cx_op *op = cx_test_op("entering", NULL, 0);
    pthread_t t;
    void *rc;
    double left;
    assert_int_equal(pthread_create(&t, NULL, move_once_running, op), 0);
    if (i % 2) sched_yield();
    CX_ASSERT_OK(cx_op_enter(op));
    assert_true(cx_test_join_within(t, 30.0, &rc));
    CX_ASSERT_OK((int)(intptr_t)rc);
    left = cx_op_remaining(op);
    assert_true(left > 50.0 && left <= 100.0); /* the move was kept */
    CX_ASSERT_OK(cx_op_exit(op, 0));
    cx_op_unref(op);
  }
}

static const struct CMUnitTest tests[] = {
    CX_TEST_VCLOCK("/deadline-move/fires", test_fires),
    CX_TEST_VCLOCK("/deadline-move/extend-shorten-remove",
                   test_extend_shorten_remove),
    CX_TEST_VCLOCK("/deadline-move/passed-and-cancelled",
                   test_passed_and_cancelled),
    CX_TEST_VCLOCK("/deadline-move/children-follow", test_children_follow),
    CX_TEST_VCLOCK("/deadline-move/with-timeout", test_with_timeout),
    CX_TEST_VCLOCK("/deadline-move/bad", test_bad),
    CX_TEST("/deadline-move/race", test_race),
    CX_TEST("/deadline-move/race-enter", test_race_enter),
};

CX_TEST_MAIN("deadline-move", tests)
