/* tests/unit/test_timeout_cause.c - the cause of a timeout (Go's
 * context.WithTimeoutCause), issue #21: cx_token_with_timeout_cause(),
 * cx_source_timeout_cause() and cx_op_add_timeout_cause() cancel at the
 * same instant as their plain forms (never early), with reason TIMEOUT and
 * the caller's message; linked tokens and child ops carry it in their
 * PARENT message; inside any-of the composite reports it; the earliest of
 * several timeouts wins with its own message; unref before the deadline
 * disarms and frees the copy; bad input gives -EINVAL and changes nothing;
 * out of memory gives -ENOMEM and arms nothing.  Virtual clock.
 */
#include "cx_test.h"

#include <errno.h>
#include <string.h>

#include <cancelable.h>

/* Internal (static library). */
#include "runtime/alloc.h"
#include "runtime/timer.h"

static void test_token(void **state) {
  cx_token *t = NULL, *child = NULL;
  (void)state;
  CX_ASSERT_OK(cx_token_with_timeout_cause(&t, 2.0, "backend too slow"));
  assert_non_null(t);
  CX_ASSERT_OK(cx_token_new_child(&child, t, 0));
  assert_int_equal(cx__timer_armed_count(), 1);
  cx_test_advance(1.999);
  assert_false(cx_token_is_cancelled(t)); /* never early */
  cx_test_advance(0.001);
  assert_true(cx_token_is_cancelled(t));
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_TIMEOUT);
  assert_string_equal(cx_token_cancel_message(t), "backend too slow");
  assert_int_equal(cx_token_cancel_reason(child), CX_REASON_PARENT);
  assert_non_null(strstr(cx_token_cancel_message(child), "backend too slow"));
  assert_int_equal(cx__timer_armed_count(), 0);
  cx_token_unref(child);
  cx_token_unref(t);
}

static void test_token_empty_and_unref(void **state) {
  cx_token *t = NULL, *u = NULL;
  (void)state;
  CX_ASSERT_OK(cx_token_with_timeout_cause(&t, 1.0, ""));
  CX_ASSERT_OK(cx_token_with_timeout_cause(&u, 1.0, "never seen"));
  assert_int_equal(cx__timer_armed_count(), 2);
  cx_token_unref(u); /* disarms, frees the copy (ASan checks) */
  assert_int_equal(cx__timer_armed_count(), 1);
  cx_test_advance(1.0);
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_TIMEOUT);
  assert_string_equal(cx_token_cancel_message(t), "");
  cx_token_unref(t);
}

/* A cancel by someone else first keeps its message. */
static void test_token_manual_first(void **state) {
  cx_token *t = NULL;
  (void)state;
  CX_ASSERT_OK(cx_token_with_timeout_cause(&t, 1.0, "late"));
  assert_true(cx_token_cancel(t, CX_REASON_MANUAL, "user"));
  cx_test_advance(2.0);
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_MANUAL);
  assert_string_equal(cx_token_cancel_message(t), "user");
  cx_token_unref(t);
}

static void test_token_bad(void **state) {
  cx_token *t = (cx_token *)&t;
  (void)state;
  CX_ASSERT_ERR(-EINVAL, cx_token_with_timeout_cause(NULL, 1.0, "x"));
  CX_ASSERT_ERR(-EINVAL, cx_token_with_timeout_cause(&t, 1.0, NULL));
  assert_null(t);
  t = (cx_token *)&t;
  CX_ASSERT_ERR(-EINVAL, cx_token_with_timeout_cause(&t, 0.0, "x"));
  assert_null(t);
  CX_ASSERT_ERR(-EINVAL, cx_token_with_timeout_cause(&t, -1.0, "x"));
  CX_ASSERT_ERR(-EINVAL, cx_token_with_timeout_cause(&t, 1e300, "x"));
  assert_int_equal(cx__timer_armed_count(), 0);
  for (long n = 0; n < 2; n++) {
    cx__alloc_fail_after(n, false);
    CX_ASSERT_ERR(-ENOMEM, cx_token_with_timeout_cause(&t, 1.0, "x"));
    cx__alloc_fail_after(-1, false);
    assert_null(t);
    assert_int_equal(cx__timer_armed_count(), 0);
  }
}

static void test_op(void **state) {
  cx_op *op = cx_test_op("fetch", NULL, 0);
  cx_op *child;
  (void)state;
  CX_ASSERT_OK(cx_op_add_timeout_cause(op, 5.0, "fetch budget spent"));
  CX_ASSERT_OK(cx_op_enter(op));
  child = cx_test_entered_op("step", op, 0);
  cx_test_advance(4.9);
  CX_ASSERT_OK(cx_check(child));
  cx_test_advance(0.1);
  CX_ASSERT_ERR(-ECANCELED, cx_check(op));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  assert_string_equal(cx_op_cancel_message(op), "fetch budget spent");
  assert_int_equal(cx_op_cancel_reason(child), CX_REASON_PARENT);
  assert_string_equal(cx_op_cancel_message(child),
                      "parent operation 'fetch' cancelled: fetch budget spent");
  CX_ASSERT_OK(cx_op_exit(child, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  cx_op_unref(child);
  cx_op_unref(op);
}

/* The earliest timeout wins, with its own message; the deadline counts. */
static void test_op_earliest_wins(void **state) {
  cx_op *a = cx_test_op("a", NULL, 0), *b = cx_test_op("b", NULL, 0);
  double t0 = cx_now();
  (void)state;
  CX_ASSERT_OK(cx_op_add_timeout_cause(a, 3.0, "slow cause"));
  CX_ASSERT_OK(cx_op_add_timeout(a, 1.0));
  CX_ASSERT_OK(cx_op_add_timeout(b, 3.0));
  CX_ASSERT_OK(cx_op_add_timeout_cause(b, 1.0, "fast cause"));
  CX_ASSERT_OK(cx_op_enter(a));
  CX_ASSERT_OK(cx_op_enter(b));
  assert_true(cx_op_deadline(a) - t0 > 0.99 && cx_op_deadline(a) - t0 < 1.01);
  cx_test_advance(1.0);
  assert_string_equal(cx_op_cancel_message(a), "timed out after 1 s");
  assert_string_equal(cx_op_cancel_message(b), "fast cause");
  CX_ASSERT_OK(cx_op_exit(b, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(a, -ECANCELED));
  cx_op_unref(a);
  cx_op_unref(b);
}

static void test_op_bad(void **state) {
  cx_op *op = cx_test_op("x", NULL, 0);
  (void)state;
  CX_ASSERT_ERR(-EINVAL, cx_op_add_timeout_cause(NULL, 1.0, "x"));
  CX_ASSERT_ERR(-EINVAL, cx_op_add_timeout_cause(op, 1.0, NULL));
  CX_ASSERT_ERR(-EINVAL, cx_op_add_timeout_cause(op, 0.0, "x"));
  CX_ASSERT_ERR(-EINVAL, cx_op_add_timeout_cause(op, -2.0, "x"));
  CX_ASSERT_OK(cx_op_enter(op));
  assert_true(cx_op_deadline(op) == CX_FOREVER || cx_op_remaining(op) > 1e300);
  CX_ASSERT_ERR(-EBUSY, cx_op_add_timeout_cause(op, 1.0, "x"));
  cx_test_advance(10.0);
  assert_false(cx_op_is_cancelled(op)); /* nothing was added */
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
}

/* As a source, alone and inside any-of. */
static void test_source(void **state) {
  cx_source *src = NULL, *subs[2], *any = NULL;
  cx_op *op = cx_test_op("s", NULL, 0), *op2 = cx_test_op("t", NULL, 0);
  (void)state;
  CX_ASSERT_OK(cx_source_timeout_cause(&src, 2.0, "quota window closed"));
  assert_string_equal(cx_source_name(src), "timeout");
  assert_int_equal(cx_source_reason(src), CX_REASON_TIMEOUT);
  CX_ASSERT_OK(cx_op_add_source(op, src));
  CX_ASSERT_OK(cx_source_timeout_cause(&subs[0], 1.0, "inner cause"));
  CX_ASSERT_OK(cx_source_timeout(&subs[1], 5.0));
  CX_ASSERT_OK(cx_source_any_of(&any, subs, 2));
  CX_ASSERT_OK(cx_op_add_source(op2, any));
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_op_enter(op2));
  cx_test_advance(1.0);
  /* the any-of says which member fired (issue 17) */
  assert_string_equal(cx_op_cancel_message(op2),
                      "inner cause (the first: timeout)");
  assert_false(cx_op_is_cancelled(op));
  cx_test_advance(1.0);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  assert_string_equal(cx_op_cancel_message(op), "quota window closed");
  CX_ASSERT_OK(cx_op_exit(op2, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op2);
  cx_op_unref(op);
}

static void test_source_bad(void **state) {
  cx_source *src = (cx_source *)&src;
  (void)state;
  CX_ASSERT_ERR(-EINVAL, cx_source_timeout_cause(&src, 1.0, NULL));
  assert_null(src);
  src = (cx_source *)&src;
  CX_ASSERT_ERR(-EINVAL, cx_source_timeout_cause(&src, -1.0, "x"));
  assert_null(src);
  CX_ASSERT_ERR(-EINVAL, cx_source_timeout_cause(NULL, 1.0, "x"));
  for (long n = 0; n < 3; n++) {
    cx__alloc_fail_after(n, false);
    int rc = cx_source_timeout_cause(&src, 1.0, "x");
    cx__alloc_fail_after(-1, false);
    if (rc == 0) {
      cx_source_free(src); /* fewer allocations than n + 1 */
      continue;
    }
    CX_ASSERT_ERR(-ENOMEM, rc);
    assert_null(src);
  }
  /* A source never given away frees its copy (ASan checks). */
  CX_ASSERT_OK(cx_source_timeout_cause(&src, 1.0, "freed"));
  cx_source_free(src);
}

static const struct CMUnitTest tests[] = {
    CX_TEST_VCLOCK("/timeout-cause/token", test_token),
    CX_TEST_VCLOCK("/timeout-cause/token/empty-and-unref",
                   test_token_empty_and_unref),
    CX_TEST_VCLOCK("/timeout-cause/token/manual-first",
                   test_token_manual_first),
    CX_TEST_VCLOCK("/timeout-cause/token/bad", test_token_bad),
    CX_TEST_VCLOCK("/timeout-cause/op", test_op),
    CX_TEST_VCLOCK("/timeout-cause/op/earliest-wins", test_op_earliest_wins),
    CX_TEST_VCLOCK("/timeout-cause/op/bad", test_op_bad),
    CX_TEST_VCLOCK("/timeout-cause/source", test_source),
    CX_TEST_VCLOCK("/timeout-cause/source/bad", test_source_bad),
};

CX_TEST_MAIN("timeout-cause", tests)
