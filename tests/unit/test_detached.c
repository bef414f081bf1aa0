/* tests/unit/test_detached.c - detached work (Go's context.WithoutCancel),
 * issue #21: a detached child (cx_op_without_cancel(), or the `detached`
 * option) keeps its parent's context - parent id, cx_op_parent(), its
 * place among the parent's children, progress reaching the parent's
 * callbacks, the registry's parent id - but neither the parent's cancel
 * (later, or earlier: it starts live) nor the parent's deadline; its own
 * timeout, its own cancel and the cascade to its own children work; it
 * may outlive its parent's exit and its owner's reference; a sibling that
 * is not detached is cancelled; the option is ignored without a parent and
 * read only when the options' size covers it (callers built before it);
 * a shared token stays shared; bad input gives -EINVAL.  Virtual clock.
 */
#include "cx_test.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include <cancelable.h>

static void test_cancel_not_inherited(void **state) {
  cx_op *parent = cx_test_entered_op("job", NULL, 0);
  cx_op *audit = NULL, *step;
  (void)state;
  CX_ASSERT_OK(cx_op_without_cancel(&audit, parent, "audit"));
  step = cx_test_op("step", parent, 0);
  assert_string_equal(cx_op_parent_id(audit), cx_op_id(parent));
  assert_ptr_equal(cx_op_parent(audit), parent);
  assert_int_equal(cx_op_child_count(parent), 2);
  CX_ASSERT_OK(cx_op_enter(audit));
  assert_true(cx_op_cancel(parent, CX_REASON_MANUAL, "abort"));
  assert_true(cx_op_is_cancelled(step));   /* a normal child is */
  assert_false(cx_op_is_cancelled(audit)); /* the detached one is not */
  CX_ASSERT_OK(cx_check(audit));
  CX_ASSERT_OK(cx_op_exit(audit, 0));
  assert_int_equal(cx_op_status(audit), CX_STATUS_COMPLETED);
  cx_op_unref(step);
  CX_ASSERT_OK(cx_op_exit(parent, -ECANCELED));
  cx_op_unref(audit);
  cx_op_unref(parent);
}

/* Created under an already cancelled parent: starts live. */
static void test_parent_cancelled_before(void **state) {
  cx_op *parent = cx_test_entered_op("job", NULL, 0);
  cx_op *cleanup = NULL;
  (void)state;
  cx_op_cancel(parent, CX_REASON_SIGNAL, "SIGTERM");
  CX_ASSERT_OK(cx_op_without_cancel(&cleanup, parent, "cleanup"));
  CX_ASSERT_OK(cx_op_enter(cleanup));
  CX_ASSERT_OK(cx_check(cleanup));
  CX_ASSERT_OK(cx_op_exit(cleanup, 0));
  CX_ASSERT_OK(cx_op_exit(parent, -ECANCELED));
  cx_op_unref(cleanup);
  cx_op_unref(parent);
}

/* Neither the parent's deadline nor its timeout reach it; its own do. */
static void test_deadline_not_inherited(void **state) {
  cx_op *parent = cx_test_entered_op("job", NULL, 1.0);
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_op *free_op = NULL, *own = NULL, *normal;
  double t0 = cx_now();
  (void)state;
  o.parent = parent;
  o.detached = true;
  o.name = "flush";
  CX_ASSERT_OK(cx_op_create(&free_op, &o));
  o.name = "bounded";
  o.timeout = 5.0;
  CX_ASSERT_OK(cx_op_create(&own, &o));
  normal = cx_test_op("normal", parent, 5.0);
  CX_ASSERT_OK(cx_op_enter(free_op));
  CX_ASSERT_OK(cx_op_enter(own));
  CX_ASSERT_OK(cx_op_enter(normal));
  assert_true(isinf(cx_op_deadline(free_op)));
  assert_true(fabs(cx_op_deadline(own) - t0 - 5.0) < 0.01);
  assert_true(fabs(cx_op_deadline(normal) - t0 - 1.0) < 0.01);
  cx_test_advance(1.0);
  assert_true(cx_op_is_cancelled(parent));
  assert_true(cx_op_is_cancelled(normal));
  assert_false(cx_op_is_cancelled(own));
  assert_false(cx_op_is_cancelled(free_op));
  cx_test_advance(4.0);
  assert_int_equal(cx_op_cancel_reason(own), CX_REASON_TIMEOUT);
  assert_false(cx_op_is_cancelled(free_op));
  CX_ASSERT_OK(cx_op_exit(normal, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(own, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(free_op, 0));
  CX_ASSERT_OK(cx_op_exit(parent, -ECANCELED));
  cx_op_unref(normal);
  cx_op_unref(own);
  cx_op_unref(free_op);
  cx_op_unref(parent);
}

/* Its own cancel cascades to its own children, never up. */
static void test_own_cascade(void **state) {
  cx_op *parent = cx_test_entered_op("job", NULL, 0);
  cx_op *d = NULL, *grandchild;
  (void)state;
  CX_ASSERT_OK(cx_op_without_cancel(&d, parent, "detached"));
  CX_ASSERT_OK(cx_op_enter(d));
  grandchild = cx_test_entered_op("inner", d, 0);
  cx_op_cancel(parent, CX_REASON_MANUAL, NULL);
  assert_false(cx_op_is_cancelled(grandchild));
  assert_true(cx_op_cancel(d, CX_REASON_MANUAL, "own"));
  assert_int_equal(cx_op_cancel_reason(grandchild), CX_REASON_PARENT);
  assert_string_equal(cx_op_cancel_message(grandchild),
                      "parent operation 'detached' cancelled: own");
  CX_ASSERT_OK(cx_op_exit(grandchild, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(d, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(parent, -ECANCELED));
  cx_op_unref(grandchild);
  cx_op_unref(d);
  cx_op_unref(parent);
}

typedef struct got {
  int count;
  char from[64];
} got;

static int on_progress(const char *op_id, const char *message,
                       const cx_meta *meta, void *user_data) {
  got *g = user_data;
  (void)message;
  (void)meta;
  g->count++;
  /* NULL when the id could not be made (out of memory: the sweep). */
  if (op_id != NULL) strncpy(g->from, op_id, sizeof g->from - 1);
  return 0;
}

/* Progress bubbles to the parent; the parent's exit and release do not
 * end it. */
static void test_progress_and_outlives(void **state) {
  cx_op *parent = cx_test_entered_op("job", NULL, 0);
  cx_op *d = NULL;
  got g = {0, {0}};
  (void)state;
  CX_ASSERT_OK(cx_op_on_progress(parent, on_progress, &g, NULL));
  CX_ASSERT_OK(cx_op_without_cancel(&d, parent, "report"));
  CX_ASSERT_OK(cx_op_enter(d));
  CX_ASSERT_OK(cx_report_progress(d, "half", NULL));
  assert_int_equal(g.count, 1);
  assert_string_equal(g.from, cx_op_id(d));
  /* The parent is cancelled and its owner drops it while the detached op
   * still runs. */
  cx_op_cancel(parent, CX_REASON_MANUAL, NULL);
  cx_op_unref(parent); /* the detached op holds its own reference */
  assert_string_equal(cx_op_name(cx_op_parent(d)), "job");
  CX_ASSERT_OK(cx_check(d));
  CX_ASSERT_OK(cx_op_exit(d, 0));
  assert_int_equal(cx_op_status(d), CX_STATUS_COMPLETED);
  CX_ASSERT_OK(cx_op_exit(parent, -ECANCELED)); /* the entered ref */
  cx_op_unref(d);
}

static void test_registry_parent(void **state) {
  cx_op *parent = cx_test_entered_op("job", NULL, 0);
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_op *d = NULL, *found;
  (void)state;
  o.parent = parent;
  o.detached = true;
  o.register_op = true;
  o.name = "registered";
  CX_ASSERT_OK(cx_op_create(&d, &o));
  CX_ASSERT_OK(cx_op_enter(d));
  found = cx_registry_find(cx_op_id(d));
  assert_ptr_equal(found, d);
  assert_string_equal(cx_op_parent_id(found), cx_op_id(parent));
  cx_op_unref(found);
  CX_ASSERT_OK(cx_op_exit(d, 0));
  CX_ASSERT_OK(cx_op_exit(parent, 0));
  cx_op_unref(d);
  cx_op_unref(parent);
}

/* Without a parent the option changes nothing; with a token, the op
 * follows the token (and the parent's cancel still does not come). */
static void test_no_parent_and_token(void **state) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_op *parent = cx_test_entered_op("job", NULL, 0);
  cx_token *t = cx_token_new();
  cx_op *a = NULL, *b = NULL;
  (void)state;
  o.detached = true;
  CX_ASSERT_OK(cx_op_create(&a, &o));
  assert_null(cx_op_parent(a));
  o.parent = parent;
  o.token = t;
  CX_ASSERT_OK(cx_op_create(&b, &o));
  assert_ptr_not_equal(cx_op_token(b), t); /* follows it */
  cx_op_cancel(parent, CX_REASON_MANUAL, NULL);
  assert_false(cx_token_is_cancelled(t));
  cx_token_cancel(t, CX_REASON_MANUAL, NULL);
  assert_true(cx_op_is_cancelled(b));
  CX_ASSERT_OK(cx_op_exit(parent, -ECANCELED));
  cx_op_unref(a);
  cx_op_unref(b);
  cx_token_unref(t);
  cx_op_unref(parent);
}

/* Options from headers before `detached` (smaller size) are accepted and
 * give a normal child. */
static void test_old_options_size(void **state) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_op *parent = cx_test_entered_op("job", NULL, 0);
  cx_op *c = NULL;
  (void)state;
  o.size = offsetof(cx_op_options, register_op) + sizeof(bool);
  o.parent = parent;
  o.detached = true; /* beyond the size: not read */
  CX_ASSERT_OK(cx_op_create(&c, &o));
  cx_op_cancel(parent, CX_REASON_MANUAL, NULL);
  assert_true(cx_op_is_cancelled(c));
  o.size = offsetof(cx_op_options, register_op);
  cx_op *bad = (cx_op *)&o;
  CX_ASSERT_ERR(-EINVAL, cx_op_create(&bad, &o));
  assert_null(bad);
  CX_ASSERT_OK(cx_op_exit(parent, -ECANCELED));
  cx_op_unref(c);
  cx_op_unref(parent);
}

static void test_bad(void **state) {
  cx_op *parent = cx_test_op("job", NULL, 0);
  cx_op *out = (cx_op *)&out;
  (void)state;
  CX_ASSERT_ERR(-EINVAL, cx_op_without_cancel(NULL, parent, "x"));
  CX_ASSERT_ERR(-EINVAL, cx_op_without_cancel(&out, NULL, "x"));
  assert_null(out);
  assert_int_equal(cx_op_child_count(parent), 0);
  cx_op_unref(parent);
}

static const struct CMUnitTest tests[] = {
    CX_TEST_VCLOCK("/detached/cancel-not-inherited", test_cancel_not_inherited),
    CX_TEST_VCLOCK("/detached/parent-cancelled-before",
                   test_parent_cancelled_before),
    CX_TEST_VCLOCK("/detached/deadline-not-inherited",
                   test_deadline_not_inherited),
    CX_TEST_VCLOCK("/detached/own-cascade", test_own_cascade),
    CX_TEST_VCLOCK("/detached/progress-and-outlives",
                   test_progress_and_outlives),
    CX_TEST_VCLOCK("/detached/registry-parent", test_registry_parent),
    CX_TEST_VCLOCK("/detached/no-parent-and-token", test_no_parent_and_token),
    CX_TEST_VCLOCK("/detached/old-options-size", test_old_options_size),
    CX_TEST_VCLOCK("/detached/bad", test_bad),
};

CX_TEST_MAIN("detached", tests)
