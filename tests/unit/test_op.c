/* tests/unit/test_op.c - operations: options and their validation, the
 * with_timeout/with_token factories, enter/exit and the final status
 * (COMPLETED, CANCELLED, FAILED), status callbacks exactly once, context
 * accessors (times, elapsed while running and after), partial result with
 * destructor, metadata, the per-thread current-operation stack, exit out of
 * order (-EPERM), double enter / exit without enter (-EINVAL, nothing
 * changes), and the parent cascade (reason PARENT, message naming the
 * parent).  Issue #2.
 */
#include "cx_test.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cancelable.h>

/* ---------------------------------------------------------------------- */
/* helpers */

static bool is_uuid_v4(const char *s) {
  if (s == NULL || strlen(s) != CX_ID_LEN) return false;
  for (int i = 0; i < CX_ID_LEN; i++) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

static cx_op *new_op(const char *name) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  o.name = name;
  cx_op *op = NULL;
  int r = cx_op_create(&op, &o);
  assert_int_equal(r, 0);
  assert_non_null(op);
  return op;
}

static cx_op *new_child(const char *name, cx_op *parent) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  o.name = name;
  o.parent = parent;
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_create(&op, &o));
  return op;
}

/* A token whose freeing we can observe: a handle-less callback's destroy
 * notify runs when the token is freed. */
static void flag_destroy(void *p) { atomic_fetch_add((atomic_int *)p, 1); }
static int noop_cb(cx_token *t, void *p) {
  (void)t;
  (void)p;
  return 0;
}

static cx_token *observed_token(atomic_int *freed) {
  cx_token *t = cx_token_new();
  assert_non_null(t);
  CX_ASSERT_OK(cx_token_on_cancel(t, noop_cb, freed, flag_destroy, 0, NULL));
  return t;
}

/* ---------------------------------------------------------------------- */
/* create and options */

static void test_op_create_defaults(void **state) {
  (void)state;
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_create(&op, NULL));
  assert_non_null(op);
  assert_int_equal(cx_op_status(op), CX_STATUS_PENDING);
  assert_string_equal(cx_op_name(op), "operation");
  assert_true(is_uuid_v4(cx_op_id(op)));
  assert_null(cx_op_parent_id(op));
  assert_true(cx_op_start_time(op) == 0.0);
  assert_true(cx_op_end_time(op) == 0.0);
  assert_true(cx_op_elapsed(op) == 0.0);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_NONE);
  assert_null(cx_op_cancel_message(op));
  assert_int_equal(cx_op_error(op), 0);
  assert_null(cx_op_partial_result(op));
  assert_false(cx_op_is_cancelled(op));
  assert_non_null(cx_op_token(op));
  assert_false(cx_token_is_cancelled(cx_op_token(op)));
  assert_true(isinf(cx_op_deadline(op)) && cx_op_deadline(op) > 0);
  assert_true(isinf(cx_op_remaining(op)) && cx_op_remaining(op) > 0);
  cx_meta *m = cx_op_metadata(op);
  assert_non_null(m);
  assert_int_equal(cx_meta_count(m), 0);
  cx_meta_free(m);
  cx_op_unref(op);
}

static void test_op_create_unique_ids(void **state) {
  (void)state;
  cx_op *a = new_op(NULL), *b = new_op(NULL);
  assert_string_not_equal(cx_op_id(a), cx_op_id(b));
  cx_op_unref(a);
  cx_op_unref(b);
}

static void test_op_create_options(void **state) {
  (void)state;
  char name[32], id[32];
  snprintf(name, sizeof name, "fetch");
  snprintf(id, sizeof id, "my-op-1");
  cx_meta *m = cx_meta_new();
  CX_ASSERT_OK(cx_meta_set_string(m, "url", "http://x"));
  CX_ASSERT_OK(cx_meta_set_int(m, "try", 3));
  cx_op_options o = CX_OP_OPTIONS_INIT;
  o.name = name;
  o.id = id;
  o.metadata = m;
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_create(&op, &o));
  /* everything was copied */
  memset(name, 'X', sizeof name - 1);
  memset(id, 'Y', sizeof id - 1);
  CX_ASSERT_OK(cx_meta_set_string(m, "url", "changed"));
  CX_ASSERT_OK(cx_meta_set_int(m, "extra", 1));
  cx_meta_free(m);
  assert_string_equal(cx_op_name(op), "fetch");
  assert_string_equal(cx_op_id(op), "my-op-1");
  cx_meta *got = cx_op_metadata(op);
  assert_non_null(got);
  assert_int_equal(cx_meta_count(got), 2);
  const char *s = NULL;
  int64_t v = 0;
  CX_ASSERT_OK(cx_meta_get_string(got, "url", &s));
  assert_string_equal(s, "http://x");
  CX_ASSERT_OK(cx_meta_get_int(got, "try", &v));
  assert_true(v == 3);
  cx_meta_free(got);
  cx_op_unref(op);
}

static void test_op_create_id_lengths(void **state) {
  (void)state;
  char id[200];
  memset(id, 'a', sizeof id);
  id[127] = '\0';
  cx_op_options o = CX_OP_OPTIONS_INIT;
  o.id = id;
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_create(&op, &o)); /* 127 bytes: fine */
  assert_string_equal(cx_op_id(op), id);
  cx_op_unref(op);
  id[127] = 'a';
  id[128] = '\0';
  op = (cx_op *)&o;
  CX_ASSERT_ERR(-EINVAL, cx_op_create(&op, &o)); /* 128: too long */
  assert_null(op);
  o.id = "a";
  CX_ASSERT_OK(cx_op_create(&op, &o)); /* 1 byte: fine */
  assert_string_equal(cx_op_id(op), "a");
  cx_op_unref(op);
  o.id = "";
  op = (cx_op *)&o;
  CX_ASSERT_ERR(-EINVAL, cx_op_create(&op, &o));
  assert_null(op);
}

static void test_op_create_bad_options(void **state) {
  (void)state;
  cx_op_options o = CX_OP_OPTIONS_INIT;
  CX_ASSERT_ERR(-EINVAL, cx_op_create(NULL, &o));
  cx_op *op = (cx_op *)&o;
  o.size = 0;
  CX_ASSERT_ERR(-EINVAL, cx_op_create(&op, &o));
  assert_null(op);
  o.size = sizeof(size_t);
  op = (cx_op *)&o;
  CX_ASSERT_ERR(-EINVAL, cx_op_create(&op, &o));
  assert_null(op);
  const double bad[] = {-1.0, -1e-9, NAN, INFINITY, -INFINITY};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    o = (cx_op_options)CX_OP_OPTIONS_INIT;
    o.timeout = bad[i];
    op = (cx_op *)&o;
    CX_ASSERT_ERR(-EINVAL, cx_op_create(&op, &o));
    assert_null(op);
  }
  /* 0 means no timeout */
  o = (cx_op_options)CX_OP_OPTIONS_INIT;
  o.timeout = 0.0;
  CX_ASSERT_OK(cx_op_create(&op, &o));
  CX_ASSERT_OK(cx_op_enter(op));
  assert_true(isinf(cx_op_deadline(op)));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
}

/* A larger options struct (from newer headers) with the known prefix is
 * accepted: size only needs to cover what this version reads. */
static void test_op_create_larger_options(void **state) {
  (void)state;
  struct {
    cx_op_options o;
    char future[64];
  } big;
  memset(&big, 0, sizeof big);
  big.o = (cx_op_options)CX_OP_OPTIONS_INIT;
  big.o.size = sizeof big;
  big.o.name = "bigger";
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_create(&op, &big.o));
  assert_string_equal(cx_op_name(op), "bigger");
  cx_op_unref(op);
}

/* On error no reference is taken on the token or parent. */
static void test_op_create_error_takes_no_ref(void **state) {
  (void)state;
  atomic_int freed = 0;
  cx_token *t = observed_token(&freed);
  cx_op_options o = CX_OP_OPTIONS_INIT;
  o.token = t;
  o.timeout = NAN;
  cx_op *op = NULL;
  CX_ASSERT_ERR(-EINVAL, cx_op_create(&op, &o));
  cx_token_unref(t);
  assert_int_equal(atomic_load(&freed), 1);

  /* and on success one is */
  atomic_store(&freed, 0);
  t = observed_token(&freed);
  o.token = t;
  o.timeout = 0.0;
  CX_ASSERT_OK(cx_op_create(&op, &o));
  cx_token_unref(t);
  assert_int_equal(atomic_load(&freed), 0);
  assert_ptr_not_equal(cx_op_token(op), t); /* followed, not shared */
  cx_op_unref(op);
  assert_int_equal(atomic_load(&freed), 1);
}

/* ---------------------------------------------------------------------- */
/* factories */

static void test_op_with_timeout_factory(void **state) {
  (void)state;
  cx_op *op = (cx_op *)&op;
  const double bad[] = {0.0, -1.0, NAN, INFINITY, -INFINITY};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    op = (cx_op *)&op;
    CX_ASSERT_ERR(-EINVAL, cx_op_with_timeout(&op, NULL, bad[i], "x"));
    assert_null(op);
  }
  CX_ASSERT_ERR(-EINVAL, cx_op_with_timeout(NULL, NULL, 1.0, "x"));
  CX_ASSERT_OK(cx_op_with_timeout(&op, NULL, 30.0, "timed"));
  assert_string_equal(cx_op_name(op), "timed");
  assert_int_equal(cx_op_status(op), CX_STATUS_PENDING);
  assert_true(isinf(cx_op_deadline(op))); /* counts from enter */
  double before = cx_now();
  CX_ASSERT_OK(cx_op_enter(op));
  double after = cx_now();
  double dl = cx_op_deadline(op);
  assert_true(dl >= before + 30.0 - 1e-6 && dl <= after + 30.0 + 1e-6);
  double rem = cx_op_remaining(op);
  assert_true(rem > 0.0 && rem <= 30.0 + 1e-6);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  assert_false(cx_op_is_cancelled(op));
  cx_op_unref(op);

  CX_ASSERT_OK(cx_op_with_timeout(&op, NULL, 1.0, NULL));
  assert_string_equal(cx_op_name(op), "operation");
  cx_op_unref(op);
}

static int never_pred(void *p) {
  (void)p;
  return 0;
}

/* Issue 17 item 11: the factories take a parent right after @out, as Go's
 * WithTimeout(parent, d); NULL is no parent (not the current op). */
static void test_op_factories_parent(void **state) {
  (void)state;
  int usr1 = SIGUSR1;
  cx_token *t = cx_token_new();
  cx_op *outer = NULL, *kids[5] = {NULL}, *orphan = NULL;
  assert_non_null(t);
  CX_ASSERT_OK(cx_op_with_timeout(&outer, NULL, 30.0, "outer"));
  CX_ASSERT_OK(cx_op_enter(outer));
  CX_ASSERT_OK(cx_op_with_timeout(&kids[0], outer, 60.0, "step"));
  CX_ASSERT_OK(cx_op_with_token(&kids[1], outer, t, "tok"));
  CX_ASSERT_OK(cx_op_with_signal(&kids[2], outer, &usr1, 1, "sig"));
  CX_ASSERT_OK(cx_op_with_condition(&kids[3], outer, never_pred, NULL, NULL,
                                    1.0, "cond"));
  CX_ASSERT_OK(cx_op_combine(&kids[4], outer, &kids[0], 1, "both"));
  CX_ASSERT_OK(cx_op_with_timeout(&orphan, NULL, 1.0, "orphan"));
  assert_null(cx_op_parent(orphan)); /* NULL: no parent, not cx_current() */
  for (size_t i = 0; i < 5; i++) assert_ptr_equal(cx_op_parent(kids[i]), outer);
  assert_int_equal(cx_op_child_count(outer), 5);
  /* the outer deadline (30 s) bounds the step's own (60 s) */
  CX_ASSERT_OK(cx_op_enter(kids[0]));
  assert_true(cx_op_remaining(kids[0]) <= 30.0 + 1e-6);
  /* the outer's cancel reaches every child */
  assert_true(cx_op_cancel(outer, CX_REASON_MANUAL, "stop"));
  for (size_t i = 0; i < 5; i++) {
    assert_true(cx_op_is_cancelled(kids[i]));
    assert_int_equal(cx_op_cancel_reason(kids[i]), CX_REASON_PARENT);
  }
  assert_false(cx_token_is_cancelled(t));
  assert_false(cx_op_is_cancelled(orphan));
  CX_ASSERT_OK(cx_op_exit(kids[0], -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(outer, -ECANCELED));
  for (size_t i = 5; i-- > 0;) cx_op_unref(kids[i]);
  cx_op_unref(orphan);
  cx_op_unref(outer);
  cx_token_unref(t);
}

static void test_op_with_token_factory(void **state) {
  (void)state;
  cx_op *op = (cx_op *)&op;
  CX_ASSERT_ERR(-EINVAL, cx_op_with_token(&op, NULL, NULL, "x"));
  assert_null(op);
  cx_token *t = cx_token_new();
  CX_ASSERT_ERR(-EINVAL, cx_op_with_token(NULL, NULL, t, "x"));

  cx_op *a = NULL, *b = NULL;
  CX_ASSERT_OK(cx_op_with_token(&a, NULL, t, "a"));
  CX_ASSERT_OK(cx_op_with_token(&b, NULL, t, "b"));
  /* each op follows the token with a token of its own (issue 17 item 2) */
  assert_ptr_not_equal(cx_op_token(a), t);
  assert_ptr_not_equal(cx_op_token(b), t);
  assert_string_equal(cx_op_name(a), "a");

  CX_ASSERT_OK(cx_op_enter(a));
  CX_ASSERT_OK(cx_op_enter(b));
  /* cancelling one op cancels neither the token nor the other op */
  assert_true(cx_op_cancel(a, CX_REASON_MANUAL, "one"));
  assert_false(cx_token_is_cancelled(t));
  assert_false(cx_op_is_cancelled(b));
  /* cancelling the token cancels every op that follows it */
  assert_true(cx_token_cancel(t, CX_REASON_MANUAL, "shared"));
  CX_ASSERT_ERR(-ECANCELED, cx_check(b));
  CX_ASSERT_OK(cx_op_exit(b, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(a, -ECANCELED));
  assert_int_equal(cx_op_status(a), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_status(b), CX_STATUS_CANCELLED);
  assert_string_equal(cx_op_cancel_message(a), "one");
  assert_int_equal(cx_op_cancel_reason(b), CX_REASON_MANUAL);
  assert_string_equal(cx_op_cancel_message(b), "shared");
  cx_token_unref(t); /* the ops still hold references */
  cx_op_unref(a);
  cx_op_unref(b);
}

/* Issue 17 item 2: an op given a token and a 0.1 s timeout (virtual
 * clock) times out without cancelling the token; a second op with the
 * token works; the token still cancels an op in progress. */
static void test_op_with_token_timeout_vclock(void **state) {
  (void)state;
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_token *t = cx_token_new();
  cx_op *op = NULL;
  assert_non_null(t);
  o.token = t;
  o.timeout = 0.1;
  CX_ASSERT_OK(cx_op_create(&op, &o));
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_clock_advance(0.2));
  CX_ASSERT_ERR(-ECANCELED, cx_check(op));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  assert_false(cx_token_is_cancelled(t));
  cx_op_unref(op);
  /* the second op with the same token runs to its end */
  CX_ASSERT_OK(cx_op_create(&op, &o));
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_clock_advance(0.05));
  CX_ASSERT_OK(cx_check(op));
  assert_true(cx_token_cancel(t, CX_REASON_MANUAL, "caller stops"));
  CX_ASSERT_ERR(-ECANCELED, cx_check(op));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_MANUAL);
  assert_string_equal(cx_op_cancel_message(op), "caller stops");
  cx_op_unref(op);
  cx_token_unref(t);
}

static void test_op_with_token_cancel_token(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_with_token(&op, NULL, t, NULL));
  CX_ASSERT_OK(cx_op_enter(op));
  cx_token_cancel(t, CX_REASON_CONDITION, "external");
  assert_true(cx_op_is_cancelled(op));
  CX_ASSERT_OK(cx_op_exit(op, -EIO));
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_CONDITION);
  assert_string_equal(cx_op_cancel_message(op), "external");
  cx_op_unref(op);
  cx_token_unref(t);
}

/* ---------------------------------------------------------------------- */
/* enter / exit and final status */

static void test_op_enter_exit_completed(void **state) {
  (void)state;
  cx_op *op = new_op("work");
  double w0 = cx_test_wall_now();
  CX_ASSERT_OK(cx_op_enter(op));
  double w1 = cx_test_wall_now();
  assert_int_equal(cx_op_status(op), CX_STATUS_RUNNING);
  double st = cx_op_start_time(op);
  assert_true(st >= w0 - 1.0 && st <= w1 + 1.0);
  assert_true(cx_op_end_time(op) == 0.0);
  CX_ASSERT_OK(cx_check(op));
  double w2 = cx_test_wall_now();
  CX_ASSERT_OK(cx_op_exit(op, 0));
  double w3 = cx_test_wall_now();
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  double et = cx_op_end_time(op);
  assert_true(et >= w2 - 1.0 && et <= w3 + 1.0);
  assert_true(et >= st);
  assert_int_equal(cx_op_error(op), 0);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_NONE);
  assert_null(cx_op_cancel_message(op));
  assert_true(cx_op_start_time(op) == st);
  cx_op_unref(op);
}

static void test_op_exit_ecanceled_without_trigger(void **state) {
  (void)state;
  cx_op *op = new_op("gave-up");
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_MANUAL);
  assert_string_equal(cx_op_cancel_message(op), "the work returned -ECANCELED");
  assert_int_equal(cx_op_error(op), 0);
  cx_op_unref(op);
}

static void test_op_exit_cancelled_reason_of_first_trigger(void **state) {
  (void)state;
  cx_op *op = new_op("c");
  CX_ASSERT_OK(cx_op_enter(op));
  assert_true(cx_op_cancel(op, CX_REASON_CONDITION, "disk full"));
  assert_false(cx_op_cancel(op, CX_REASON_TIMEOUT, "later"));
  CX_ASSERT_ERR(-ECANCELED, cx_check(op));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_CONDITION);
  assert_string_equal(cx_op_cancel_message(op), "disk full");
  assert_int_equal(cx_op_error(op), 0);
  cx_op_unref(op);
}

static void test_op_exit_other_error_after_cancel(void **state) {
  (void)state;
  cx_op *op = new_op("c");
  CX_ASSERT_OK(cx_op_enter(op));
  cx_op_cancel(op, CX_REASON_SIGNAL, "SIGTERM");
  CX_ASSERT_OK(cx_op_exit(op, -EIO));
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_SIGNAL);
  cx_op_unref(op);
}

static void test_op_exit_success_wins_over_cancel(void **state) {
  (void)state;
  cx_op *op = new_op("done");
  CX_ASSERT_OK(cx_op_enter(op));
  cx_op_cancel(op, CX_REASON_MANUAL, "too late");
  CX_ASSERT_OK(cx_op_exit(op, 0));
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  assert_int_equal(cx_op_error(op), 0);
  cx_op_unref(op);
}

static void test_op_exit_failed(void **state) {
  (void)state;
  cx_op *op = new_op("f");
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_op_exit(op, -EIO));
  assert_int_equal(cx_op_status(op), CX_STATUS_FAILED);
  assert_int_equal(cx_op_error(op), -EIO);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_NONE);
  assert_false(cx_op_is_cancelled(op));
  assert_true(cx_op_end_time(op) > 0.0);
  cx_op_unref(op);
}

static void test_op_cancel_before_enter(void **state) {
  (void)state;
  cx_op *op = new_op("early");
  assert_true(cx_op_cancel(op, CX_REASON_MANUAL, "before"));
  assert_int_equal(cx_op_status(op), CX_STATUS_PENDING);
  CX_ASSERT_OK(cx_op_enter(op));
  assert_int_equal(cx_op_status(op), CX_STATUS_RUNNING);
  CX_ASSERT_ERR(-ECANCELED, cx_check(op));
  CX_ASSERT_ERR(-ECANCELED, cx_check(NULL));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_MANUAL);
  assert_string_equal(cx_op_cancel_message(op), "before");
  cx_op_unref(op);
}

static void test_op_cancel_after_exit_noop(void **state) {
  (void)state;
  cx_op *op = new_op("x");
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  assert_false(cx_op_cancel(op, CX_REASON_MANUAL, "after"));
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_NONE);
  assert_null(cx_op_cancel_message(op));
  cx_op_unref(op);
}

static void test_op_cancel_bad_input(void **state) {
  (void)state;
  assert_false(cx_op_cancel(NULL, CX_REASON_MANUAL, "x"));
  cx_op *op = new_op("x");
  assert_false(cx_op_cancel(op, CX_REASON_NONE, "x"));
  assert_false(cx_op_cancel(op, (cx_reason)99, "x"));
  assert_false(cx_op_is_cancelled(op));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_NONE);
  cx_op_unref(op);
}

static void test_op_message_copied(void **state) {
  (void)state;
  cx_op *op = new_op("x");
  char msg[32];
  snprintf(msg, sizeof msg, "volatile");
  CX_ASSERT_OK(cx_op_enter(op));
  cx_op_cancel(op, CX_REASON_MANUAL, msg);
  memset(msg, 'Q', sizeof msg - 1);
  assert_string_equal(cx_op_cancel_message(op), "volatile");
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
}

/* ---------------------------------------------------------------------- */
/* bad enter / exit */

static void test_op_double_enter(void **state) {
  (void)state;
  cx_op *op = new_op("x");
  CX_ASSERT_OK(cx_op_enter(op));
  double st = cx_op_start_time(op);
  CX_ASSERT_ERR(-EINVAL, cx_op_enter(op));
  /* nothing changed: still running, once on the stack */
  assert_int_equal(cx_op_status(op), CX_STATUS_RUNNING);
  assert_true(cx_op_start_time(op) == st);
  assert_ptr_equal(cx_current(), op);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  assert_null(cx_current());
  /* enter after exit is a double enter too */
  CX_ASSERT_ERR(-EINVAL, cx_op_enter(op));
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  assert_null(cx_current());
  cx_op_unref(op);
}

static void test_op_exit_without_enter(void **state) {
  (void)state;
  cx_op *op = new_op("x");
  CX_ASSERT_ERR(-EINVAL, cx_op_exit(op, 0));
  CX_ASSERT_ERR(-EINVAL, cx_op_exit(op, -EIO));
  assert_int_equal(cx_op_status(op), CX_STATUS_PENDING);
  assert_true(cx_op_end_time(op) == 0.0);
  assert_int_equal(cx_op_error(op), 0);
  assert_null(cx_current());
  /* the op is still usable */
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  cx_op_unref(op);
}

static void test_op_double_exit(void **state) {
  (void)state;
  cx_op *op = new_op("x");
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_op_exit(op, -EIO));
  double et = cx_op_end_time(op);
  CX_ASSERT_ERR(-EINVAL, cx_op_exit(op, 0));
  assert_int_equal(cx_op_status(op), CX_STATUS_FAILED);
  assert_int_equal(cx_op_error(op), -EIO);
  assert_true(cx_op_end_time(op) == et);
  cx_op_unref(op);
}

/* Calls made from inside an op's work take NULL as the current op
 * (common.h's convention): metadata and partial results land on it. */
static void test_op_null_is_current(void **state) {
  (void)state;
  cx_op *op = cx_test_entered_op("outer", NULL, 0);
  cx_meta *m = cx_meta_new(), *got;
  int64_t n = 0;
  assert_non_null(m);
  CX_ASSERT_OK(cx_meta_set_int(m, "rows", 7));
  CX_ASSERT_OK(cx_op_update_metadata(NULL, m));
  got = cx_op_metadata(op);
  CX_ASSERT_OK(cx_meta_get_int(got, "rows", &n));
  assert_int_equal(n, 7);
  CX_ASSERT_OK(cx_op_set_partial_result(NULL, &n, NULL));
  assert_ptr_equal(cx_op_partial_result(op), &n);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_meta_free(got);
  cx_meta_free(m);
  cx_op_unref(op);
}

static void test_op_null_input(void **state) {
  (void)state;
  CX_ASSERT_ERR(-EINVAL, cx_op_enter(NULL));
  CX_ASSERT_ERR(-EINVAL, cx_op_exit(NULL, 0));
  CX_ASSERT_ERR(-EINVAL, cx_op_add_timeout(NULL, 1.0));
  CX_ASSERT_ERR(-EINVAL, cx_op_update_metadata(NULL, NULL));
  CX_ASSERT_ERR(-EINVAL, cx_op_set_partial_result(NULL, NULL, NULL));
  assert_null(cx_op_ref(NULL));
  cx_op_unref(NULL);
  assert_null(cx_op_token(NULL));
  assert_null(cx_op_id(NULL));
  assert_null(cx_op_name(NULL));
  assert_int_equal(cx_op_status(NULL), 0);
  assert_null(cx_op_parent_id(NULL));
  assert_true(cx_op_start_time(NULL) == 0.0);
  assert_true(cx_op_end_time(NULL) == 0.0);
  assert_true(cx_op_elapsed(NULL) == 0.0);
  assert_int_equal(cx_op_cancel_reason(NULL), CX_REASON_NONE);
  assert_null(cx_op_cancel_message(NULL));
  assert_int_equal(cx_op_error(NULL), 0);
  assert_null(cx_op_metadata(NULL));
  assert_null(cx_op_partial_result(NULL));
  assert_null(cx_current());
  assert_false(cx_op_is_cancelled(NULL));
  assert_true(isinf(cx_op_remaining(NULL)));
}

static void test_op_add_timeout_rules(void **state) {
  (void)state;
  cx_op *op = new_op("x");
  const double bad[] = {0.0, -2.0, NAN, INFINITY, -INFINITY};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CX_ASSERT_ERR(-EINVAL, cx_op_add_timeout(op, bad[i]));
  CX_ASSERT_OK(cx_op_enter(op));
  /* the failed calls added nothing */
  assert_true(isinf(cx_op_deadline(op)));
  CX_ASSERT_ERR(-EBUSY, cx_op_add_timeout(op, 5.0));
  assert_true(isinf(cx_op_deadline(op)));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  CX_ASSERT_ERR(-EBUSY, cx_op_add_timeout(op, 5.0));
  cx_op_unref(op);
}

/* ---------------------------------------------------------------------- */
/* status callbacks */

typedef struct status_rec {
  atomic_int start, complete, cancel, error, destroys;
  cx_status seen_status[4];
  pthread_t thread[4];
} status_rec;

static void on_start(cx_op *op, void *p) {
  status_rec *r = p;
  r->seen_status[CX_OP_ON_START] = cx_op_status(op);
  r->thread[CX_OP_ON_START] = pthread_self();
  atomic_fetch_add(&r->start, 1);
}
static void on_complete(cx_op *op, void *p) {
  status_rec *r = p;
  r->seen_status[CX_OP_ON_COMPLETE] = cx_op_status(op);
  r->thread[CX_OP_ON_COMPLETE] = pthread_self();
  atomic_fetch_add(&r->complete, 1);
}
static void on_cancel(cx_op *op, void *p) {
  status_rec *r = p;
  r->seen_status[CX_OP_ON_CANCEL] = cx_op_status(op);
  r->thread[CX_OP_ON_CANCEL] = pthread_self();
  atomic_fetch_add(&r->cancel, 1);
}
static void on_error(cx_op *op, void *p) {
  status_rec *r = p;
  r->seen_status[CX_OP_ON_ERROR] = cx_op_status(op);
  r->thread[CX_OP_ON_ERROR] = pthread_self();
  atomic_fetch_add(&r->error, 1);
}
static void rec_destroy(void *p) {
  status_rec *r = p;
  atomic_fetch_add(&r->destroys, 1);
}

static void register_all(cx_op *op, status_rec *r) {
  CX_ASSERT_OK(cx_op_on(op, CX_OP_ON_START, on_start, r, rec_destroy));
  CX_ASSERT_OK(cx_op_on(op, CX_OP_ON_COMPLETE, on_complete, r, rec_destroy));
  CX_ASSERT_OK(cx_op_on(op, CX_OP_ON_CANCEL, on_cancel, r, rec_destroy));
  CX_ASSERT_OK(cx_op_on(op, CX_OP_ON_ERROR, on_error, r, rec_destroy));
}

static void run_status_case(int result, bool cancel, int exp_start,
                            int exp_complete, int exp_cancel, int exp_error,
                            cx_status exp_status) {
  status_rec r;
  memset(&r, 0, sizeof r);
  cx_op *op = new_op("cb");
  register_all(op, &r);
  CX_ASSERT_OK(cx_op_enter(op));
  assert_int_equal(atomic_load(&r.start), 1);
  assert_int_equal(r.seen_status[CX_OP_ON_START], CX_STATUS_RUNNING);
  assert_true(pthread_equal(r.thread[CX_OP_ON_START], pthread_self()));
  assert_int_equal(
      atomic_load(&r.complete) + atomic_load(&r.cancel) + atomic_load(&r.error),
      0);
  if (cancel) cx_op_cancel(op, CX_REASON_MANUAL, "cb");
  assert_int_equal(atomic_load(&r.cancel), 0); /* fires on exit, not cancel */
  CX_ASSERT_OK(cx_op_exit(op, result));
  assert_int_equal(cx_op_status(op), exp_status);
  assert_int_equal(atomic_load(&r.start), exp_start);
  assert_int_equal(atomic_load(&r.complete), exp_complete);
  assert_int_equal(atomic_load(&r.cancel), exp_cancel);
  assert_int_equal(atomic_load(&r.error), exp_error);
  int ev = exp_complete ? CX_OP_ON_COMPLETE
           : exp_cancel ? CX_OP_ON_CANCEL
                        : CX_OP_ON_ERROR;
  assert_int_equal(r.seen_status[ev], exp_status);
  assert_true(pthread_equal(r.thread[ev], pthread_self()));
  /* nothing fires again */
  cx_op_cancel(op, CX_REASON_MANUAL, NULL);
  CX_ASSERT_ERR(-EINVAL, cx_op_exit(op, 0));
  CX_ASSERT_ERR(-EINVAL, cx_op_enter(op));
  assert_int_equal(atomic_load(&r.start), exp_start);
  assert_int_equal(atomic_load(&r.complete), exp_complete);
  assert_int_equal(atomic_load(&r.cancel), exp_cancel);
  assert_int_equal(atomic_load(&r.error), exp_error);
  assert_int_equal(atomic_load(&r.destroys), 0);
  cx_op_unref(op);
  /* each registration's destroy, once, when the op is freed */
  assert_int_equal(atomic_load(&r.destroys), 4);
}

static void test_op_callbacks_completed(void **state) {
  (void)state;
  run_status_case(0, false, 1, 1, 0, 0, CX_STATUS_COMPLETED);
}

static void test_op_callbacks_cancelled(void **state) {
  (void)state;
  run_status_case(-ECANCELED, true, 1, 0, 1, 0, CX_STATUS_CANCELLED);
}

static void test_op_callbacks_cancelled_by_result(void **state) {
  (void)state;
  run_status_case(-ECANCELED, false, 1, 0, 1, 0, CX_STATUS_CANCELLED);
}

static void test_op_callbacks_failed(void **state) {
  (void)state;
  run_status_case(-EIO, false, 1, 0, 0, 1, CX_STATUS_FAILED);
}

static void test_op_callbacks_never_entered(void **state) {
  (void)state;
  status_rec r;
  memset(&r, 0, sizeof r);
  cx_op *op = new_op("never");
  register_all(op, &r);
  cx_op_cancel(op, CX_REASON_MANUAL, NULL);
  cx_op_unref(op);
  assert_int_equal(atomic_load(&r.start) + atomic_load(&r.complete) +
                       atomic_load(&r.cancel) + atomic_load(&r.error),
                   0);
  assert_int_equal(atomic_load(&r.destroys), 4);
}

typedef struct seq_log {
  int seq[16];
  int n;
} seq_log;

typedef struct seq_item {
  seq_log *log;
  int id;
} seq_item;

static void seq_cb(cx_op *op, void *p) {
  (void)op;
  seq_item *it = p;
  it->log->seq[it->log->n++] = it->id;
}

static void test_op_callbacks_order(void **state) {
  (void)state;
  seq_log log = {{0}, 0};
  seq_item items[6];
  cx_op *op = new_op("order");
  for (int i = 0; i < 6; i++) {
    items[i] = (seq_item){&log, i};
    CX_ASSERT_OK(cx_op_on(op, (i % 2) ? CX_OP_ON_COMPLETE : CX_OP_ON_START,
                          seq_cb, &items[i], NULL));
  }
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  assert_int_equal(log.n, 6);
  const int expect[6] = {0, 2, 4, 1, 3, 5};
  for (int i = 0; i < 6; i++) assert_int_equal(log.seq[i], expect[i]);
  cx_op_unref(op);
}

static void test_op_on_bad_input(void **state) {
  (void)state;
  status_rec r;
  memset(&r, 0, sizeof r);
  cx_op *op = new_op("x");
  CX_ASSERT_ERR(-EINVAL,
                cx_op_on(NULL, CX_OP_ON_START, on_start, &r, rec_destroy));
  CX_ASSERT_ERR(-EINVAL, cx_op_on(op, CX_OP_ON_START, NULL, &r, rec_destroy));
  CX_ASSERT_ERR(-EINVAL,
                cx_op_on(op, (cx_op_event)4, on_start, &r, rec_destroy));
  CX_ASSERT_ERR(-EINVAL,
                cx_op_on(op, (cx_op_event)-1, on_start, &r, rec_destroy));
  cx_op_unref(op);
  /* none of the failed registrations ran or was destroyed */
  assert_int_equal(atomic_load(&r.start) + atomic_load(&r.complete), 0);
  assert_int_equal(atomic_load(&r.destroys), 0);
}

/* Issue 17 item 4: a routine inside a running op hooks its end; START
 * (past) runs at once; after exit the event that happened runs at once
 * and the others never; each destroy runs once. */
static void test_op_on_while_running(void **state) {
  (void)state;
  status_rec r;
  memset(&r, 0, sizeof r);
  cx_op *op = new_op("x");
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_op_on(op, CX_OP_ON_COMPLETE, on_complete, &r, rec_destroy));
  CX_ASSERT_OK(cx_op_on(op, CX_OP_ON_CANCEL, on_cancel, &r, rec_destroy));
  assert_int_equal(atomic_load(&r.complete), 0);
  CX_ASSERT_OK(cx_op_on(op, CX_OP_ON_START, on_start, &r, rec_destroy));
  assert_int_equal(atomic_load(&r.start), 1); /* at once: START is past */
  assert_int_equal(r.seen_status[CX_OP_ON_START], CX_STATUS_RUNNING);
  assert_int_equal(atomic_load(&r.destroys), 1);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  assert_int_equal(atomic_load(&r.complete), 1);
  assert_int_equal(atomic_load(&r.cancel), 0);
  /* after exit: the event that happened runs at once, another never */
  CX_ASSERT_OK(cx_op_on(op, CX_OP_ON_COMPLETE, on_complete, &r, rec_destroy));
  assert_int_equal(atomic_load(&r.complete), 2);
  CX_ASSERT_OK(cx_op_on(op, CX_OP_ON_ERROR, on_error, &r, rec_destroy));
  assert_int_equal(atomic_load(&r.error), 0);
  assert_int_equal(atomic_load(&r.destroys), 3);
  cx_op_unref(op); /* the two registered during the run */
  assert_int_equal(atomic_load(&r.destroys), 5);
}

/* The race of cx_op_on() with exit, on another thread (run under TSan):
 * whichever side wins, the callback runs exactly once, and its destroy
 * too. */
typedef struct race {
  cx_op *op;
  atomic_int runs, destroys;
  atomic_bool go;
} race;

static void race_fn(cx_op *op, void *p) {
  (void)op;
  atomic_fetch_add(&((race *)p)->runs, 1);
}

static void race_destroy(void *p) {
  atomic_fetch_add(&((race *)p)->destroys, 1);
}

static void *register_racing(void *p) {
  race *r = p;
  while (!atomic_load(&r->go)) {
  }
  CX_ASSERT_OK(cx_op_on(r->op, CX_OP_ON_COMPLETE, race_fn, r, race_destroy));
  return NULL;
}

static void test_op_on_races_exit(void **state) {
  (void)state;
  for (int i = 0; i < 200; i++) {
    race r;
    pthread_t t;
    r.op = new_op("racing");
    atomic_init(&r.runs, 0);
    atomic_init(&r.destroys, 0);
    atomic_init(&r.go, false);
    CX_ASSERT_OK(cx_op_enter(r.op));
    assert_int_equal(pthread_create(&t, NULL, register_racing, &r), 0);
    atomic_store(&r.go, true);
    CX_ASSERT_OK(cx_op_exit(r.op, 0));
    assert_true(cx_test_join_within(t, 30, NULL));
    assert_int_equal(atomic_load(&r.runs), 1);
    cx_op_unref(r.op);
    assert_int_equal(atomic_load(&r.destroys), 1);
  }
}

/* Callbacks may call back into the library: no lock is held. */
typedef struct reenter {
  cx_op *inner;
  int inner_enter, inner_exit;
  bool cancel_result;
  size_t meta_count;
} reenter;

static void reenter_complete(cx_op *op, void *p) {
  reenter *r = p;
  r->cancel_result = cx_op_cancel(op, CX_REASON_MANUAL, "in callback");
  cx_meta *m = cx_op_metadata(op);
  r->meta_count = cx_meta_count(m);
  cx_meta_free(m);
  (void)cx_op_elapsed(op);
  (void)cx_op_name(op);
  r->inner = NULL;
  if (cx_op_create(&r->inner, NULL) == 0) {
    r->inner_enter = cx_op_enter(r->inner);
    r->inner_exit = cx_op_exit(r->inner, 0);
  }
}

static void test_op_callbacks_no_lock_held(void **state) {
  (void)state;
  reenter r = {NULL, -1, -1, true, 99};
  cx_op *op = new_op("reenter");
  CX_ASSERT_OK(cx_op_on(op, CX_OP_ON_COMPLETE, reenter_complete, &r, NULL));
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  assert_false(r.cancel_result); /* exited: cancel is a no-op */
  assert_int_equal(r.meta_count, 0);
  assert_non_null(r.inner);
  CX_ASSERT_OK(r.inner_enter);
  CX_ASSERT_OK(r.inner_exit);
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  assert_null(cx_current());
  cx_op_unref(r.inner);
  cx_op_unref(op);
}

/* ---------------------------------------------------------------------- */
/* elapsed */

static void test_op_elapsed_virtual(void **state) {
  (void)state;
  CX_ASSERT_OK(cx_clock_use_virtual());
  cx_op *op = new_op("timed");
  CX_ASSERT_OK(cx_clock_advance(3.0));
  assert_true(cx_op_elapsed(op) == 0.0); /* before enter */
  CX_ASSERT_OK(cx_op_enter(op));
  assert_float_equal(cx_op_elapsed(op), 0.0, 1e-9);
  CX_ASSERT_OK(cx_clock_advance(2.5));
  assert_float_equal(cx_op_elapsed(op), 2.5, 1e-6); /* while running */
  CX_ASSERT_OK(cx_clock_advance(1.0));
  assert_float_equal(cx_op_elapsed(op), 3.5, 1e-6);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  CX_ASSERT_OK(cx_clock_advance(100.0));
  assert_float_equal(cx_op_elapsed(op), 3.5, 1e-6); /* frozen after exit */
  CX_ASSERT_OK(cx_clock_use_real());
  assert_float_equal(cx_op_elapsed(op), 3.5, 1e-6);
  cx_op_unref(op);
}

static void test_op_elapsed_real(void **state) {
  (void)state;
  cx_op *op = new_op("timed");
  CX_ASSERT_OK(cx_op_enter(op));
  cx_test_sleep(0.05);
  double e1 = cx_op_elapsed(op);
  assert_true(e1 >= 0.04 && e1 < 30.0);
  cx_test_sleep(0.02);
  double e2 = cx_op_elapsed(op);
  assert_true(e2 > e1);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  double e3 = cx_op_elapsed(op);
  assert_true(e3 >= e2);
  cx_test_sleep(0.05);
  assert_true(cx_op_elapsed(op) == e3);
  /* consistent with the wall-clock times (generous slack) */
  double span = cx_op_end_time(op) - cx_op_start_time(op);
  assert_true(span >= e3 - 1.0 && span <= e3 + 1.0);
  cx_op_unref(op);
}

/* ---------------------------------------------------------------------- */
/* partial result */

static atomic_int g_partial_freed;
static void partial_free(void *p) {
  atomic_fetch_add(&g_partial_freed, 1);
  free(p);
}

static void test_op_partial_result(void **state) {
  (void)state;
  atomic_store(&g_partial_freed, 0);
  cx_op *op = new_op("partial");
  CX_ASSERT_OK(cx_op_enter(op));
  int *a = malloc(sizeof *a);
  *a = 1;
  CX_ASSERT_OK(cx_op_set_partial_result(op, a, partial_free));
  assert_ptr_equal(cx_op_partial_result(op), a);
  int *b = malloc(sizeof *b);
  *b = 2;
  CX_ASSERT_OK(cx_op_set_partial_result(op, b, partial_free));
  assert_int_equal(atomic_load(&g_partial_freed), 1); /* a released */
  assert_ptr_equal(cx_op_partial_result(op), b);
  cx_op_cancel(op, CX_REASON_TIMEOUT, "cut short");
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  /* kept after a cancel and after exit */
  assert_ptr_equal(cx_op_partial_result(op), b);
  assert_int_equal(*(int *)cx_op_partial_result(op), 2);
  assert_int_equal(atomic_load(&g_partial_freed), 1);
  cx_op_unref(op);
  assert_int_equal(atomic_load(&g_partial_freed), 2); /* b released */
}

static void test_op_partial_result_null_and_no_destroy(void **state) {
  (void)state;
  atomic_store(&g_partial_freed, 0);
  static int fixed = 7;
  cx_op *op = new_op("partial");
  CX_ASSERT_OK(cx_op_set_partial_result(op, &fixed, NULL));
  assert_ptr_equal(cx_op_partial_result(op), &fixed);
  CX_ASSERT_OK(cx_op_set_partial_result(op, NULL, NULL));
  assert_null(cx_op_partial_result(op));
  int *c = malloc(sizeof *c);
  /* error: value not destroyed */
  CX_ASSERT_ERR(-EINVAL, cx_op_set_partial_result(NULL, c, partial_free));
  assert_int_equal(atomic_load(&g_partial_freed), 0);
  CX_ASSERT_OK(cx_op_set_partial_result(op, c, partial_free));
  cx_op_unref(op);
  assert_int_equal(atomic_load(&g_partial_freed), 1);
}

/* ---------------------------------------------------------------------- */
/* metadata */

static void test_op_metadata(void **state) {
  (void)state;
  cx_op *op = new_op("meta");
  cx_meta *v = cx_meta_new();
  CX_ASSERT_OK(cx_meta_set_int(v, "items", 10));
  CX_ASSERT_OK(cx_meta_set_string(v, "stage", "download"));
  CX_ASSERT_OK(cx_op_update_metadata(op, v));
  cx_meta_free(v);

  cx_meta *m = cx_op_metadata(op);
  assert_int_equal(cx_meta_count(m), 2);
  /* a copy: changing it does not change the op */
  CX_ASSERT_OK(cx_meta_set_int(m, "items", 999));
  cx_meta_free(m);

  v = cx_meta_new();
  CX_ASSERT_OK(cx_meta_set_int(v, "items", 20));
  CX_ASSERT_OK(cx_meta_set_bool(v, "done", true));
  CX_ASSERT_OK(cx_op_update_metadata(op, v));
  cx_meta_free(v);

  m = cx_op_metadata(op);
  assert_int_equal(cx_meta_count(m), 3);
  int64_t items = 0;
  const char *stage = NULL;
  bool done = false;
  CX_ASSERT_OK(cx_meta_get_int(m, "items", &items));
  assert_true(items == 20);
  CX_ASSERT_OK(cx_meta_get_string(m, "stage", &stage));
  assert_string_equal(stage, "download");
  CX_ASSERT_OK(cx_meta_get_bool(m, "done", &done));
  assert_true(done);
  assert_string_equal(cx_meta_key_at(m, 0), "items");
  assert_string_equal(cx_meta_key_at(m, 2), "done");
  cx_meta_free(m);

  CX_ASSERT_ERR(-EINVAL, cx_op_update_metadata(op, NULL));
  /* metadata survives exit */
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  m = cx_op_metadata(op);
  assert_int_equal(cx_meta_count(m), 3);
  cx_meta_free(m);
  cx_op_unref(op);
}

/* ---------------------------------------------------------------------- */
/* current operation stack */

static cx_op *deep_current(int depth) {
  if (depth == 0) return cx_current();
  volatile int pad = depth;
  cx_op *r = deep_current(depth - 1);
  (void)pad;
  return r;
}

static void *other_thread_current(void *p) {
  (void)p;
  return cx_current();
}

typedef struct exit_other {
  cx_op *op;
  int result;
} exit_other;

static void *exit_from_other_thread(void *p) {
  exit_other *e = p;
  e->result = cx_op_exit(e->op, 0);
  return NULL;
}

static void test_op_current_stack(void **state) {
  (void)state;
  assert_null(cx_current());
  cx_op *a = new_op("a"), *b = new_op("b"), *c = new_op("c");
  CX_ASSERT_OK(cx_op_enter(a));
  assert_ptr_equal(cx_current(), a);
  assert_ptr_equal(deep_current(50), a);
  CX_ASSERT_OK(cx_op_enter(b));
  assert_ptr_equal(cx_current(), b);
  CX_ASSERT_OK(cx_op_enter(c));
  assert_ptr_equal(deep_current(100), c);

  /* another thread has its own (empty) stack */
  pthread_t th;
  void *seen = (void *)1;
  assert_int_equal(pthread_create(&th, NULL, other_thread_current, NULL), 0);
  pthread_join(th, &seen);
  assert_null(seen);

  CX_ASSERT_OK(cx_op_exit(c, 0));
  assert_ptr_equal(cx_current(), b);
  CX_ASSERT_OK(cx_op_exit(b, 0));
  assert_ptr_equal(cx_current(), a);
  CX_ASSERT_OK(cx_op_exit(a, 0));
  assert_null(cx_current());
  cx_op_unref(a);
  cx_op_unref(b);
  cx_op_unref(c);
}

static void test_op_exit_out_of_order(void **state) {
  (void)state;
  cx_op *a = new_op("a"), *b = new_op("b");
  CX_ASSERT_OK(cx_op_enter(a));
  CX_ASSERT_OK(cx_op_enter(b));
  CX_ASSERT_ERR(-EPERM, cx_op_exit(a, 0));
  /* nothing changed */
  assert_int_equal(cx_op_status(a), CX_STATUS_RUNNING);
  assert_true(cx_op_end_time(a) == 0.0);
  assert_ptr_equal(cx_current(), b);
  CX_ASSERT_OK(cx_op_exit(b, 0));
  assert_ptr_equal(cx_current(), a);
  CX_ASSERT_OK(cx_op_exit(a, -EIO));
  assert_int_equal(cx_op_status(a), CX_STATUS_FAILED);
  assert_null(cx_current());
  cx_op_unref(a);
  cx_op_unref(b);
}

static void test_op_exit_from_other_thread(void **state) {
  (void)state;
  cx_op *a = new_op("a");
  CX_ASSERT_OK(cx_op_enter(a));
  exit_other e = {a, 12345};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, exit_from_other_thread, &e), 0);
  pthread_join(th, NULL);
  CX_ASSERT_ERR(-EPERM, e.result);
  assert_int_equal(cx_op_status(a), CX_STATUS_RUNNING);
  assert_ptr_equal(cx_current(), a);
  CX_ASSERT_OK(cx_op_exit(a, 0));
  cx_op_unref(a);
}

/* The op stays alive while running when its last user reference goes on
 * another thread: enter takes its own reference (on its own thread the
 * drop would be a forgotten exit, tests/unit/test_forgotten_exit.c). */
static void *unref_op(void *op) {
  cx_op_unref(op);
  return NULL;
}

static void test_op_running_keeps_ref(void **state) {
  (void)state;
  atomic_int freed = 0;
  pthread_t th;
  cx_token *t = observed_token(&freed);
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_with_token(&op, NULL, t, "held"));
  cx_token_unref(t);
  CX_ASSERT_OK(cx_op_enter(op));
  assert_int_equal(pthread_create(&th, NULL, unref_op, op), 0);
  assert_true(cx_test_join_within(th, 30.0, NULL));
  assert_ptr_equal(cx_current(), op); /* the enter reference keeps it */
  assert_string_equal(cx_op_name(op), "held");
  assert_int_equal(cx_op_status(op), CX_STATUS_RUNNING);
  assert_int_equal(atomic_load(&freed), 0);
  CX_ASSERT_OK(cx_op_exit(op, 0)); /* releases the last reference */
  assert_null(cx_current());
  assert_int_equal(atomic_load(&freed), 1);
}

static void test_op_is_cancelled_current(void **state) {
  (void)state;
  cx_op *op = new_op("cur");
  assert_false(cx_op_is_cancelled(NULL));
  CX_ASSERT_OK(cx_op_enter(op));
  assert_false(cx_op_is_cancelled(NULL));
  cx_op_cancel(op, CX_REASON_MANUAL, NULL);
  assert_true(cx_op_is_cancelled(NULL));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_false(cx_op_is_cancelled(NULL));
  cx_op_unref(op);
}

/* ---------------------------------------------------------------------- */
/* parent cascade */

static void test_op_parent_cascade(void **state) {
  (void)state;
  cx_op *p = new_op("outer");
  cx_op *c = new_child("inner", p);
  assert_string_equal(cx_op_parent_id(c), cx_op_id(p));
  CX_ASSERT_OK(cx_op_enter(p));
  CX_ASSERT_OK(cx_op_enter(c));
  assert_true(cx_op_cancel(p, CX_REASON_MANUAL, "stop"));
  assert_true(cx_op_is_cancelled(c));
  CX_ASSERT_ERR(-ECANCELED, cx_check(c));
  assert_int_equal(cx_op_cancel_reason(c), CX_REASON_PARENT);
  assert_string_equal(cx_op_cancel_message(c),
                      "parent operation 'outer' cancelled: stop");
  CX_ASSERT_OK(cx_op_exit(c, -ECANCELED));
  assert_int_equal(cx_op_status(c), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(c), CX_REASON_PARENT);
  CX_ASSERT_OK(cx_op_exit(p, -ECANCELED));
  assert_int_equal(cx_op_status(p), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(p), CX_REASON_MANUAL);
  assert_string_equal(cx_op_cancel_message(p), "stop");
  cx_op_unref(c);
  cx_op_unref(p);
}

static void test_op_child_does_not_cancel_parent(void **state) {
  (void)state;
  cx_op *p = new_op("outer");
  cx_op *c = new_child("inner", p);
  CX_ASSERT_OK(cx_op_enter(p));
  CX_ASSERT_OK(cx_op_enter(c));
  cx_op_cancel(c, CX_REASON_MANUAL, "only me");
  assert_false(cx_op_is_cancelled(p));
  CX_ASSERT_OK(cx_op_exit(c, -ECANCELED));
  CX_ASSERT_OK(cx_check(p));
  CX_ASSERT_OK(cx_op_exit(p, 0));
  assert_int_equal(cx_op_status(p), CX_STATUS_COMPLETED);
  cx_op_unref(c);
  cx_op_unref(p);
}

static void test_op_parent_already_cancelled(void **state) {
  (void)state;
  cx_op *p = new_op("outer");
  CX_ASSERT_OK(cx_op_enter(p));
  cx_op_cancel(p, CX_REASON_TIMEOUT, "late");
  cx_op *c = new_child("inner", p);
  CX_ASSERT_OK(cx_op_enter(c)); /* starts out cancelled */
  assert_int_equal(cx_op_status(c), CX_STATUS_RUNNING);
  CX_ASSERT_ERR(-ECANCELED, cx_check(c));
  assert_int_equal(cx_op_cancel_reason(c), CX_REASON_PARENT);
  assert_string_equal(cx_op_cancel_message(c),
                      "parent operation 'outer' cancelled: late");
  CX_ASSERT_OK(cx_op_exit(c, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(p, -ECANCELED));
  cx_op_unref(c);
  cx_op_unref(p);
}

static void test_op_cascade_grandchildren(void **state) {
  (void)state;
  cx_op *p = new_op("top");
  cx_op *c = new_child("mid", p);
  cx_op *g = new_child("leaf", c);
  CX_ASSERT_OK(cx_op_enter(p));
  CX_ASSERT_OK(cx_op_enter(c));
  CX_ASSERT_OK(cx_op_enter(g));
  cx_op_cancel(p, CX_REASON_SIGNAL, "SIGINT");
  assert_int_equal(cx_op_cancel_reason(g), CX_REASON_PARENT);
  assert_string_equal(cx_op_cancel_message(c),
                      "parent operation 'top' cancelled: SIGINT");
  /* the grandchild's message names its parent (mid) and carries the
   * original message */
  const char *gm = cx_op_cancel_message(g);
  assert_non_null(gm);
  assert_true(strncmp(gm, "parent operation '", 18) == 0);
  assert_non_null(strstr(gm, "SIGINT"));
  CX_ASSERT_OK(cx_op_exit(g, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(c, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(p, -ECANCELED));
  cx_op_unref(g);
  cx_op_unref(c);
  cx_op_unref(p);
}

/* Cancelling a pending child's parent: the child is a descendant too. */
static void test_op_cascade_to_pending_child(void **state) {
  (void)state;
  cx_op *p = new_op("outer");
  cx_op *c = new_child("pending", p);
  cx_op_cancel(p, CX_REASON_MANUAL, "early");
  assert_true(cx_op_is_cancelled(c));
  assert_int_equal(cx_op_cancel_reason(c), CX_REASON_PARENT);
  cx_op_unref(c);
  cx_op_unref(p);
}

/* The child keeps its parent alive (a reference is taken); the parent never
 * keeps finished children alive. */
static void test_op_parent_child_lifetimes(void **state) {
  (void)state;
  cx_op *p = new_op("outer");
  cx_op *c = new_child("inner", p);
  char pid[128];
  snprintf(pid, sizeof pid, "%s", cx_op_id(p));
  cx_op_unref(p);
  assert_string_equal(cx_op_parent_id(c), pid);
  cx_op_unref(c);

  /* many children come and go under one parent: no growth, no UAF */
  p = new_op("outer");
  CX_ASSERT_OK(cx_op_enter(p));
  for (int i = 0; i < 20000; i++) {
    c = new_child("short", p);
    CX_ASSERT_OK(cx_op_enter(c));
    CX_ASSERT_OK(cx_op_exit(c, 0));
    cx_op_unref(c);
  }
  cx_op *keep = new_child("kept", p);
  cx_op_cancel(p, CX_REASON_MANUAL, NULL);
  assert_true(cx_op_is_cancelled(keep));
  CX_ASSERT_OK(cx_op_exit(p, -ECANCELED));
  cx_op_unref(keep);
  cx_op_unref(p);
}

/* A chain of 100 000 ops, each the child of the previous: cancelling the
 * root reaches the leaf without recursion (run on a small stack). */
enum { DEEP = 100000 };

typedef struct op_chain {
  cx_op **ops;
  bool cancelled;
} op_chain;

static void *cancel_op_root(void *p) {
  op_chain *c = p;
  c->cancelled = cx_op_cancel(c->ops[0], CX_REASON_MANUAL, "root");
  return NULL;
}

static void test_op_deep_chain_cascade(void **state) {
  (void)state;
  op_chain c = {calloc(DEEP, sizeof(cx_op *)), false};
  assert_non_null(c.ops);
  c.ops[0] = new_op("root");
  for (int i = 1; i < DEEP; i++) {
    cx_op_options o = CX_OP_OPTIONS_INIT;
    o.parent = c.ops[i - 1];
    o.name = "link";
    CX_ASSERT_OK(cx_op_create(&c.ops[i], &o));
  }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_t th;
  assert_int_equal(pthread_create(&th, &attr, cancel_op_root, &c), 0);
  pthread_attr_destroy(&attr);
  pthread_join(th, NULL);
  assert_true(c.cancelled);
  assert_true(cx_op_is_cancelled(c.ops[DEEP - 1]));
  assert_int_equal(cx_op_cancel_reason(c.ops[DEEP - 1]), CX_REASON_PARENT);
  assert_string_equal(cx_op_cancel_message(c.ops[1]),
                      "parent operation 'root' cancelled: root");
  for (int i = DEEP - 1; i >= 0; i--) cx_op_unref(c.ops[i]);
  free(c.ops);
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/op/create/defaults", test_op_create_defaults),
    CX_TEST("/op/create/unique-ids", test_op_create_unique_ids),
    CX_TEST("/op/create/options", test_op_create_options),
    CX_TEST("/op/create/id-lengths", test_op_create_id_lengths),
    CX_TEST("/op/create/bad-options", test_op_create_bad_options),
    CX_TEST("/op/create/larger-options", test_op_create_larger_options),
    CX_TEST("/op/create/error-takes-no-ref", test_op_create_error_takes_no_ref),
    CX_TEST("/op/factory/with-timeout", test_op_with_timeout_factory),
    CX_TEST("/op/factory/parent", test_op_factories_parent),
    CX_TEST("/op/factory/with-token", test_op_with_token_factory),
    CX_TEST_VCLOCK("/op/factory/with-token/timeout-vclock",
                   test_op_with_token_timeout_vclock),
    CX_TEST("/op/factory/with-token/cancel-token",
            test_op_with_token_cancel_token),
    CX_TEST("/op/exit/completed", test_op_enter_exit_completed),
    CX_TEST("/op/exit/ecanceled-without-trigger",
            test_op_exit_ecanceled_without_trigger),
    CX_TEST("/op/exit/cancelled-first-trigger",
            test_op_exit_cancelled_reason_of_first_trigger),
    CX_TEST("/op/exit/other-error-after-cancel",
            test_op_exit_other_error_after_cancel),
    CX_TEST("/op/exit/success-wins-over-cancel",
            test_op_exit_success_wins_over_cancel),
    CX_TEST("/op/exit/failed", test_op_exit_failed),
    CX_TEST("/op/cancel/before-enter", test_op_cancel_before_enter),
    CX_TEST("/op/cancel/after-exit-noop", test_op_cancel_after_exit_noop),
    CX_TEST("/op/cancel/bad-input", test_op_cancel_bad_input),
    CX_TEST("/op/cancel/message-copied", test_op_message_copied),
    CX_TEST("/op/enter/double", test_op_double_enter),
    CX_TEST("/op/exit/without-enter", test_op_exit_without_enter),
    CX_TEST("/op/exit/double", test_op_double_exit),
    CX_TEST("/op/null-input", test_op_null_input),
    CX_TEST("/op/null-is-current", test_op_null_is_current),
    CX_TEST("/op/add-timeout/rules", test_op_add_timeout_rules),
    CX_TEST("/op/callbacks/completed", test_op_callbacks_completed),
    CX_TEST("/op/callbacks/cancelled", test_op_callbacks_cancelled),
    CX_TEST("/op/callbacks/cancelled-by-result",
            test_op_callbacks_cancelled_by_result),
    CX_TEST("/op/callbacks/failed", test_op_callbacks_failed),
    CX_TEST("/op/callbacks/never-entered", test_op_callbacks_never_entered),
    CX_TEST("/op/callbacks/order", test_op_callbacks_order),
    CX_TEST("/op/callbacks/bad-input", test_op_on_bad_input),
    CX_TEST("/op/callbacks/while-running", test_op_on_while_running),
    CX_TEST("/op/callbacks/races-exit", test_op_on_races_exit),
    CX_TEST("/op/callbacks/no-lock-held", test_op_callbacks_no_lock_held),
    CX_TEST("/op/elapsed/virtual-clock", test_op_elapsed_virtual),
    CX_TEST("/op/elapsed/real-clock", test_op_elapsed_real),
    CX_TEST("/op/partial-result/destructor", test_op_partial_result),
    CX_TEST("/op/partial-result/null-and-no-destroy",
            test_op_partial_result_null_and_no_destroy),
    CX_TEST("/op/metadata", test_op_metadata),
    CX_TEST("/op/current/stack", test_op_current_stack),
    CX_TEST("/op/exit/out-of-order", test_op_exit_out_of_order),
    CX_TEST("/op/exit/other-thread", test_op_exit_from_other_thread),
    CX_TEST("/op/enter/keeps-ref", test_op_running_keeps_ref),
    CX_TEST("/op/is-cancelled/current", test_op_is_cancelled_current),
    CX_TEST("/op/parent/cascade", test_op_parent_cascade),
    CX_TEST("/op/parent/child-does-not-cancel-parent",
            test_op_child_does_not_cancel_parent),
    CX_TEST("/op/parent/already-cancelled", test_op_parent_already_cancelled),
    CX_TEST("/op/parent/grandchildren", test_op_cascade_grandchildren),
    CX_TEST("/op/parent/pending-child", test_op_cascade_to_pending_child),
    CX_TEST("/op/parent/lifetimes", test_op_parent_child_lifetimes),
    CX_TEST("/op/parent/deep-chain", test_op_deep_chain_cascade),
};

CX_TEST_MAIN("op", tests)
