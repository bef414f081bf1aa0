/* tests/unit/test_expr.c - the expression forms of run.h (issue 17 item
 * 13): CX_WITH_TIMEOUT's block makes, enters, exits and releases its op
 * on its normal end, on `break` and on an early `return`, with the
 * block's result and its parent; a bad timeout skips the block;
 * CX_RUN(op, expr) and CX_RUN_TIMEOUT(parent, seconds, expr) yield the
 * expression's value and do not evaluate it when the op is cancelled.
 */
#include "cx_test.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include <cancelable.h>

/* Counts frees of the ops it is attached to (a status callback's destroy
 * notify runs when the op is freed). */
static void noop(cx_op *op, void *p) {
  (void)op;
  (void)p;
}
static void count_free(void *p) { (*(int *)p)++; }
static void watch_free(cx_op *op, int *freed) {
  CX_ASSERT_OK(cx_op_on(op, CX_OP_ON_ERROR, noop, freed, count_free));
}

static void test_with_timeout_normal(void **state) {
  (void)state;
  cx_op *outer = NULL, *kept = NULL;
  int rc = -1, body = 0, freed = 0;
  CX_ASSERT_OK(cx_op_with_timeout(&outer, NULL, 30.0, "outer"));
  CX_ASSERT_OK(cx_op_enter(outer));
  CX_WITH_TIMEOUT(step, outer, 10.0, &rc) {
    body++;
    watch_free(step, &freed);
    kept = cx_op_ref(step);
    assert_ptr_equal(cx_current(), step);
    assert_string_equal(cx_op_name(step), "step");
    assert_ptr_equal(cx_op_parent(step), outer);
    assert_true(cx_op_remaining(step) <= 10.0 + 1e-6);
    rc = cx_check(step);
  }
  assert_int_equal(body, 1);
  assert_int_equal(rc, 0);
  assert_ptr_equal(cx_current(), outer);
  assert_int_equal(cx_op_status(kept), CX_STATUS_COMPLETED);
  assert_int_equal(freed, 0); /* ours */
  cx_op_unref(kept);
  assert_int_equal(freed, 1); /* the block released its reference */
  CX_ASSERT_OK(cx_op_exit(outer, 0));
  cx_op_unref(outer);
}

static void test_with_timeout_break(void **state) {
  (void)state;
  cx_op *kept = NULL;
  int rc = 0, after = 0;
  CX_WITH_TIMEOUT(step, NULL, 10.0, &rc) {
    kept = cx_op_ref(step);
    rc = -EIO;
    if (rc != 0) break;
    after = 1;
  }
  assert_int_equal(after, 0);
  assert_null(cx_current());
  assert_int_equal(cx_op_status(kept), CX_STATUS_FAILED);
  assert_int_equal(cx_op_error(kept), -EIO);
  cx_op_unref(kept);
}

static int return_from_block(int *freed, cx_op **kept) {
  int rc = 0;
  CX_WITH_TIMEOUT(step, NULL, 10.0, &rc) {
    watch_free(step, freed);
    *kept = cx_op_ref(step);
    return 7; /* leaves the block by return: exit, then release */
  }
  return 0;
}

static void test_with_timeout_return(void **state) {
  (void)state;
  cx_op *kept = NULL;
  int freed = 0;
  assert_int_equal(return_from_block(&freed, &kept), 7);
  assert_null(cx_current());
  assert_int_equal(cx_op_status(kept), CX_STATUS_COMPLETED);
  cx_op_unref(kept);
  assert_int_equal(freed, 1);
}

/* The timeout counts from the block's start (virtual clock). */
static void test_with_timeout_fires(void **state) {
  (void)state;
  cx_op *kept = NULL;
  int rc = 0;
  CX_WITH_TIMEOUT(step, NULL, 0.1, &rc) {
    kept = cx_op_ref(step);
    CX_ASSERT_OK(cx_clock_advance(0.2));
    rc = cx_check(NULL);
  }
  CX_ASSERT_ERR(-ECANCELED, rc);
  assert_int_equal(cx_op_status(kept), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(kept), CX_REASON_TIMEOUT);
  cx_op_unref(kept);
}

static void test_with_timeout_bad(void **state) {
  (void)state;
  int rc = 0, body = 0;
  CX_WITH_TIMEOUT(step, NULL, -1.0, &rc) { body++; }
  assert_int_equal(body, 0);
  CX_ASSERT_ERR(-EINVAL, rc);
  assert_null(cx_current());
}

static int work(atomic_int *calls, int result) {
  atomic_fetch_add(calls, 1);
  assert_non_null(cx_current());
  return result;
}

static void test_run_expr(void **state) {
  (void)state;
  atomic_int calls = 0;
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_create(&op, NULL));
  assert_int_equal(CX_RUN(op, work(&calls, -EIO)), -EIO);
  assert_int_equal(atomic_load(&calls), 1);
  assert_int_equal(cx_op_status(op), CX_STATUS_FAILED);
  assert_null(cx_current());
  /* entered already: enter's error, not evaluated */
  CX_ASSERT_ERR(-EINVAL, CX_RUN(op, work(&calls, 0)));
  cx_op_unref(op);
  /* cancelled before: -ECANCELED, not evaluated */
  CX_ASSERT_OK(cx_op_create(&op, NULL));
  cx_op_cancel(op, CX_REASON_MANUAL, "early");
  CX_ASSERT_ERR(-ECANCELED, CX_RUN(op, work(&calls, 0)));
  assert_int_equal(atomic_load(&calls), 1);
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  cx_op_unref(op);
}

static int in_run_op(atomic_int *calls) {
  cx_op *op = cx_current();
  atomic_fetch_add(calls, 1);
  assert_string_equal(cx_op_name(op), "run");
  assert_true(cx_op_remaining(NULL) <= 30.0 + 1e-6);
  return 0;
}

static int past_deadline(void) {
  CX_ASSERT_OK(cx_clock_advance(0.2));
  return cx_check(NULL);
}

static void test_run_timeout_expr(void **state) {
  (void)state;
  atomic_int calls = 0;
  cx_op *parent = NULL;
  CX_ASSERT_OK(CX_RUN_TIMEOUT(NULL, 30.0, in_run_op(&calls)));
  assert_int_equal(atomic_load(&calls), 1);
  assert_null(cx_current());
  CX_ASSERT_ERR(-ECANCELED, CX_RUN_TIMEOUT(NULL, 0.1, past_deadline()));
  CX_ASSERT_ERR(-EINVAL, CX_RUN_TIMEOUT(NULL, 0.0, in_run_op(&calls)));
  /* a cancelled parent: the child starts cancelled, not evaluated */
  CX_ASSERT_OK(cx_op_create(&parent, NULL));
  CX_ASSERT_OK(cx_op_enter(parent));
  cx_op_cancel(parent, CX_REASON_MANUAL, "stop");
  CX_ASSERT_ERR(-ECANCELED, CX_RUN_TIMEOUT(parent, 5.0, in_run_op(&calls)));
  assert_int_equal(atomic_load(&calls), 1);
  assert_ptr_equal(cx_current(), parent);
  CX_ASSERT_OK(cx_op_exit(parent, -ECANCELED));
  cx_op_unref(parent);
}

/* The forms nest without shadowing each other (-Wshadow is on): the
 * inner op is a child of the outer one (by cx_current()). */
static int inner_is_child(void) {
  cx_op *op = cx_current();
  return cx_op_parent(op) != NULL &&
                 strcmp(cx_op_name(cx_op_parent(op)), "run") == 0
             ? 0
             : -EPROTO;
}

static void test_run_nested(void **state) {
  (void)state;
  CX_ASSERT_OK(CX_RUN_TIMEOUT(
      NULL, 30.0, CX_RUN_TIMEOUT(cx_current(), 10.0, inner_is_child())));
  assert_null(cx_current());
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/run/with-timeout/normal-end", test_with_timeout_normal),
    CX_TEST("/run/with-timeout/break", test_with_timeout_break),
    CX_TEST("/run/with-timeout/return", test_with_timeout_return),
    CX_TEST_VCLOCK("/run/with-timeout/fires", test_with_timeout_fires),
    CX_TEST("/run/with-timeout/bad-seconds", test_with_timeout_bad),
    CX_TEST("/run/expr/run", test_run_expr),
    CX_TEST_VCLOCK("/run/expr/run-timeout", test_run_timeout_expr),
    CX_TEST("/run/expr/nested", test_run_nested),
};

CX_TEST_MAIN("run/expr", tests)
