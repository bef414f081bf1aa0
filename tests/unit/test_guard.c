/* tests/unit/test_guard.c - cancel on scope exit (tokio's drop_guard),
 * issue #21: CX_CANCEL_ON_EXIT / CX_CANCEL_GUARD cancel a token or an op
 * (reason MANUAL, message "scope exited") when the block is left normally,
 * by `return` or by `break`, and not once disarmed; the explicit
 * cx_guard_init/_init_op/_disarm/_end pair does the same and reports
 * whether it cancelled; the first cancel keeps its reason; an op guard
 * cascades to children and does nothing after the op exited; references
 * are released; bad input gives -EINVAL and a disarmed guard.
 */
#include "cx_test.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <cancelable.h>

static void assert_scope_exited(cx_token *t) {
  assert_true(cx_token_is_cancelled(t));
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_MANUAL);
  assert_string_equal(cx_token_cancel_message(t), "scope exited");
}

/* ---- the explicit pair */

static void test_pair_token(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  cx_cancel_guard g;
  CX_ASSERT_OK(cx_guard_init(&g, t));
  assert_false(cx_token_is_cancelled(t));
  assert_int_equal(cx_guard_end(&g), 1);
  assert_scope_exited(t);
  assert_null(g.token);
  assert_int_equal(cx_guard_end(&g), 0); /* ended: nothing more */
  assert_int_equal(cx_guard_disarm(&g), 0);
  cx_token_unref(t);
}

static void test_pair_disarm(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  cx_cancel_guard g;
  CX_ASSERT_OK(cx_guard_init(&g, t));
  CX_ASSERT_OK(cx_guard_disarm(&g));
  CX_ASSERT_OK(cx_guard_disarm(&g)); /* twice is harmless */
  assert_int_equal(cx_guard_end(&g), 0);
  assert_false(cx_token_is_cancelled(t));
  cx_token_unref(t);
}

/* The guard's reference keeps the token alive after the caller's went. */
static void test_pair_holds_reference(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  cx_token *watch = NULL;
  cx_cancel_guard g;
  CX_ASSERT_OK(cx_token_new_child(&watch, t, 0));
  CX_ASSERT_OK(cx_guard_init(&g, t));
  cx_token_unref(t);
  assert_int_equal(cx_guard_end(&g), 1);
  assert_true(cx_token_is_cancelled(watch));
  assert_int_equal(cx_token_cancel_reason(watch), CX_REASON_PARENT);
  cx_token_unref(watch);
}

static void test_pair_already_cancelled(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  cx_cancel_guard g;
  CX_ASSERT_OK(cx_guard_init(&g, t));
  assert_true(cx_token_cancel(t, CX_REASON_ERROR, "boom"));
  assert_int_equal(cx_guard_end(&g), 0);
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_ERROR);
  assert_string_equal(cx_token_cancel_message(t), "boom");
  cx_token_unref(t);
}

static void test_pair_op(void **state) {
  (void)state;
  cx_op *op = cx_test_entered_op("work", NULL, 0);
  cx_op *child = cx_test_entered_op("background", op, 0);
  cx_cancel_guard g;
  CX_ASSERT_OK(cx_guard_init_op(&g, op));
  assert_int_equal(cx_guard_end(&g), 1);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_MANUAL);
  assert_string_equal(cx_op_cancel_message(op), "scope exited");
  assert_int_equal(cx_op_cancel_reason(child), CX_REASON_PARENT);
  CX_ASSERT_OK(cx_op_exit(child, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  cx_op_unref(child);
  cx_op_unref(op);
}

/* A guard ended after its op exited completes nothing and cancels nothing. */
static void test_pair_op_exited(void **state) {
  (void)state;
  cx_op *op = cx_test_entered_op("work", NULL, 0);
  cx_cancel_guard g;
  CX_ASSERT_OK(cx_guard_init_op(&g, op));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  assert_int_equal(cx_guard_end(&g), 0);
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  assert_false(cx_op_is_cancelled(op));
  cx_op_unref(op);
}

static void test_pair_bad(void **state) {
  (void)state;
  cx_cancel_guard g;
  cx_token *t = cx_token_new();
  CX_ASSERT_ERR(-EINVAL, cx_guard_init(NULL, t));
  CX_ASSERT_ERR(-EINVAL, cx_guard_init_op(NULL, NULL));
  memset(&g, 0xff, sizeof g);
  CX_ASSERT_ERR(-EINVAL, cx_guard_init(&g, NULL));
  assert_null(g.token);
  assert_null(g.op);
  assert_int_equal(cx_guard_end(&g), 0);
  memset(&g, 0xff, sizeof g);
  CX_ASSERT_ERR(-EINVAL, cx_guard_init_op(&g, NULL));
  assert_int_equal(cx_guard_end(&g), 0);
  CX_ASSERT_ERR(-EINVAL, cx_guard_end(NULL));
  CX_ASSERT_ERR(-EINVAL, cx_guard_disarm(NULL));
  assert_false(cx_token_is_cancelled(t));
  cx_token_unref(t);
}

/* ---- the macro */

static void scope_normal(cx_token *t) {
  CX_CANCEL_ON_EXIT(t);
  assert_false(cx_token_is_cancelled(t));
}

static int scope_return(cx_token *t, int fail) {
  CX_CANCEL_ON_EXIT(t);
  if (fail) return -EIO; /* the error path */
  assert_false(cx_token_is_cancelled(t));
  return 0;
}

static void test_macro_normal(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  scope_normal(t);
  assert_scope_exited(t);
  cx_token_unref(t);
}

static void test_macro_early_return(void **state) {
  (void)state;
  cx_token *a = cx_token_new();
  cx_token *b = cx_token_new();
  CX_ASSERT_ERR(-EIO, scope_return(a, 1));
  assert_scope_exited(a);
  CX_ASSERT_OK(scope_return(b, 0));
  assert_scope_exited(b);
  cx_token_unref(a);
  cx_token_unref(b);
}

static void test_macro_break(void **state) {
  (void)state;
  cx_token *t[3];
  for (int i = 0; i < 3; i++) t[i] = cx_token_new();
  for (int i = 0; i < 3; i++) {
    CX_CANCEL_ON_EXIT(t[i]);
    assert_false(cx_token_is_cancelled(t[i]));
    if (i == 1) break;
  }
  assert_true(cx_token_is_cancelled(t[0]));
  assert_true(cx_token_is_cancelled(t[1]));
  assert_false(cx_token_is_cancelled(t[2]));
  for (int i = 0; i < 3; i++) cx_token_unref(t[i]);
}

static void test_macro_named_disarm(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  {
    CX_CANCEL_GUARD(keep, t);
    CX_ASSERT_OK(cx_guard_disarm(&keep));
  }
  assert_false(cx_token_is_cancelled(t));
  cx_token_unref(t);
}

static void test_macro_op(void **state) {
  (void)state;
  cx_op *op = cx_test_op("pending", NULL, 0);
  { CX_CANCEL_ON_EXIT(op); }
  assert_true(cx_op_is_cancelled(op));
  assert_string_equal(cx_op_cancel_message(op), "scope exited");
  /* Entered after: it starts cancelled. */
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_ERR(-ECANCELED, cx_check(op));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
}

static void test_macro_null(void **state) {
  (void)state;
  cx_token *none = NULL;
  { CX_CANCEL_ON_EXIT(none); /* disarmed: nothing to cancel, no crash */ }
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/guard/pair/token", test_pair_token),
    CX_TEST("/guard/pair/disarm", test_pair_disarm),
    CX_TEST("/guard/pair/holds-reference", test_pair_holds_reference),
    CX_TEST("/guard/pair/already-cancelled", test_pair_already_cancelled),
    CX_TEST("/guard/pair/op", test_pair_op),
    CX_TEST("/guard/pair/op-exited", test_pair_op_exited),
    CX_TEST("/guard/pair/bad", test_pair_bad),
    CX_TEST("/guard/macro/normal", test_macro_normal),
    CX_TEST("/guard/macro/early-return", test_macro_early_return),
    CX_TEST("/guard/macro/break", test_macro_break),
    CX_TEST("/guard/macro/named-disarm", test_macro_named_disarm),
    CX_TEST("/guard/macro/op", test_macro_op),
    CX_TEST("/guard/macro/null", test_macro_null),
};

CX_TEST_MAIN("guard", tests)
