/* tests/unit/test_partial.c - partial results, issue #4: settable at any
 * time (before enter, while running, from another thread, after exit),
 * retrievable after a cancel (by hand, by timeout on the virtual clock, by
 * the parent) and after exit; the destructor runs once when a value is
 * replaced (also by NULL) and once when the op is freed, never for NULL
 * destructors; bad input; the seed's "Partial Results" pattern.
 */
#include "cx_test.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cancelable.h>

typedef struct value {
  int id;
  int *destroyed; /* counter bumped by the destructor */
} value;

static void value_destroy(void *p) {
  value *v = p;
  (*v->destroyed)++;
  free(v);
}

static value *new_value(int id, int *counter) {
  value *v = malloc(sizeof *v);
  assert_non_null(v);
  v->id = id;
  v->destroyed = counter;
  return v;
}

static cx_op *new_op(const char *name, cx_op *parent) {
  return cx_test_op(name, parent, 0);
}

/* ---------------------------------------------------------------------- */

static void test_any_time(void **state) {
  (void)state;
  int d[4] = {0};
  cx_op *op = new_op("job", NULL);
  assert_null(cx_op_partial_result(op));
  CX_ASSERT_OK(cx_op_set_partial_result(op, new_value(0, &d[0]),
                                        value_destroy)); /* pending */
  assert_int_equal(((value *)cx_op_partial_result(op))->id, 0);
  CX_ASSERT_OK(cx_op_enter(op));
  assert_int_equal(((value *)cx_op_partial_result(op))->id, 0); /* kept */
  CX_ASSERT_OK(cx_op_set_partial_result(op, new_value(1, &d[1]),
                                        value_destroy)); /* running */
  assert_int_equal(d[0], 1);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  assert_int_equal(((value *)cx_op_partial_result(op))->id, 1);
  CX_ASSERT_OK(cx_op_set_partial_result(op, new_value(2, &d[2]),
                                        value_destroy)); /* after exit */
  assert_int_equal(d[1], 1);
  assert_int_equal(((value *)cx_op_partial_result(op))->id, 2);
  assert_int_equal(d[2], 0);
  cx_op_unref(op);
  assert_int_equal(d[0], 1);
  assert_int_equal(d[1], 1);
  assert_int_equal(d[2], 1);
}

static void test_after_cancel(void **state) {
  (void)state;
  int d = 0;
  cx_op *op = new_op("job", NULL);
  CX_ASSERT_OK(cx_op_enter(op));
  value *v = new_value(7, &d);
  CX_ASSERT_OK(cx_op_set_partial_result(op, v, value_destroy));
  assert_true(cx_op_cancel(op, CX_REASON_MANUAL, "stop"));
  assert_ptr_equal(cx_op_partial_result(op), v); /* after the cancel */
  CX_ASSERT_ERR(-ECANCELED, cx_check(NULL));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_ptr_equal(cx_op_partial_result(op), v); /* after exit */
  assert_int_equal(d, 0);
  /* Settable after the cancel and exit, too. */
  value *w = new_value(8, &d);
  CX_ASSERT_OK(cx_op_set_partial_result(op, w, value_destroy));
  assert_int_equal(d, 1);
  assert_ptr_equal(cx_op_partial_result(op), w);
  cx_op_unref(op);
  assert_int_equal(d, 2);
}

static void test_after_timeout_and_parent(void **state) {
  (void)state;
  int d = 0;
  cx_op *parent = NULL;
  CX_ASSERT_OK(cx_op_with_timeout(&parent, NULL, 5.0, "parent"));
  CX_ASSERT_OK(cx_op_enter(parent));
  cx_op *child = new_op("child", parent);
  CX_ASSERT_OK(cx_op_enter(child));
  value *pv = new_value(1, &d), *cv = new_value(2, &d);
  CX_ASSERT_OK(cx_op_set_partial_result(parent, pv, value_destroy));
  CX_ASSERT_OK(cx_op_set_partial_result(child, cv, value_destroy));
  CX_ASSERT_OK(cx_clock_advance(5.0));
  CX_ASSERT_ERR(-ECANCELED, cx_check(NULL));
  CX_ASSERT_OK(cx_op_exit(child, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(parent, -ECANCELED));
  assert_int_equal(cx_op_cancel_reason(parent), CX_REASON_TIMEOUT);
  assert_int_equal(cx_op_cancel_reason(child), CX_REASON_PARENT);
  /* Each op keeps its own. */
  assert_ptr_equal(cx_op_partial_result(parent), pv);
  assert_ptr_equal(cx_op_partial_result(child), cv);
  assert_int_equal(d, 0);
  cx_op_unref(child);
  assert_int_equal(d, 1);
  cx_op_unref(parent);
  assert_int_equal(d, 2);
}

static void test_destructor_on_replace_and_free(void **state) {
  (void)state;
  int da = 0, db = 0, dc = 0;
  cx_op *op = new_op("job", NULL);
  value *a = new_value(1, &da), *b = new_value(2, &db);
  CX_ASSERT_OK(cx_op_set_partial_result(op, a, value_destroy));
  CX_ASSERT_OK(cx_op_set_partial_result(op, b, value_destroy));
  assert_int_equal(da, 1);
  assert_int_equal(db, 0);
  assert_ptr_equal(cx_op_partial_result(op), b);
  /* Replaced by NULL: b released, nothing stored. */
  CX_ASSERT_OK(cx_op_set_partial_result(op, NULL, NULL));
  assert_int_equal(db, 1);
  assert_null(cx_op_partial_result(op));
  /* A value without destructor is never freed by the op. */
  static int plain = 42;
  CX_ASSERT_OK(cx_op_set_partial_result(op, &plain, NULL));
  assert_ptr_equal(cx_op_partial_result(op), &plain);
  value *c = new_value(3, &dc);
  CX_ASSERT_OK(cx_op_set_partial_result(op, c, value_destroy));
  assert_int_equal(plain, 42);
  /* Freed with the op, once. */
  cx_op_ref(op);
  cx_op_unref(op);
  assert_int_equal(dc, 0);
  cx_op_unref(op);
  assert_int_equal(da, 1);
  assert_int_equal(db, 1);
  assert_int_equal(dc, 1);
}

static void test_bad_input(void **state) {
  (void)state;
  int d = 0;
  value *v = new_value(1, &d);
  CX_ASSERT_ERR(-EINVAL, cx_op_set_partial_result(NULL, v, value_destroy));
  assert_int_equal(d, 0); /* not destroyed: still the caller's */
  free(v);
  assert_null(cx_op_partial_result(NULL));
}

/* Set from one thread while another reads it; both after join. */
typedef struct setter_arg {
  cx_op *op;
  int rounds;
  int *destroyed;
} setter_arg;

static void *setter(void *p) {
  setter_arg *a = p;
  for (int i = 0; i < a->rounds; i++)
    CX_ASSERT_OK(cx_op_set_partial_result(a->op, new_value(i, a->destroyed),
                                          value_destroy));
  return NULL;
}

static void test_other_thread(void **state) {
  (void)state;
  int d = 0;
  cx_op *op = new_op("job", NULL);
  CX_ASSERT_OK(cx_op_enter(op));
  setter_arg a = {op, 1000, &d};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, setter, &a), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(d, 999);
  value *v = cx_op_partial_result(op);
  assert_non_null(v);
  assert_int_equal(v->id, 999);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
  assert_int_equal(d, 1000);
}

/* The seed's pattern: store {processed, results, progress} every 100
 * items; on timeout, read back what was done. */
typedef struct batch {
  int processed;
  int *results;
  int count;
  double progress;
} batch;

static void batch_free(void *p) {
  batch *b = p;
  free(b->results);
  free(b);
}

static int process_dataset(cx_op *op, const int *data, int n, int *results,
                           int *nres) {
  *nres = 0;
  for (int i = 0; i < n; i++) {
    int rc = cx_check(NULL);
    if (rc != 0) return rc;
    results[(*nres)++] = data[i] * 2;
    if (i % 100 == 0) {
      batch *b = malloc(sizeof *b);
      assert_non_null(b);
      b->processed = i;
      b->count = *nres;
      b->results = malloc(sizeof(int) * (size_t)*nres);
      assert_non_null(b->results);
      memcpy(b->results, results, sizeof(int) * (size_t)*nres);
      b->progress = (double)i / n;
      CX_ASSERT_OK(cx_op_set_partial_result(op, b, batch_free));
    }
    if (i == 450) CX_ASSERT_OK(cx_clock_advance(60.0)); /* time runs out */
  }
  return 0;
}

static void test_seed_pattern(void **state) {
  (void)state;
  enum { N = 1000 };
  static int data[N], results[N];
  for (int i = 0; i < N; i++) data[i] = i;
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_with_timeout(&op, NULL, 60.0, NULL));
  CX_ASSERT_OK(cx_op_enter(op));
  int nres = 0;
  int rc = process_dataset(op, data, N, results, &nres);
  CX_ASSERT_OK(cx_op_exit(op, rc));
  CX_ASSERT_ERR(-ECANCELED, rc);
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  const batch *b = cx_op_partial_result(op);
  assert_non_null(b);
  assert_int_equal(b->processed, 400);
  assert_int_equal(b->count, 401);
  assert_int_equal(b->results[400], 800);
  assert_true(b->progress > 0.39 && b->progress < 0.41);
  cx_op_unref(op);
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/tree/partial/any-time", test_any_time),
    CX_TEST("/tree/partial/after-cancel", test_after_cancel),
    CX_TEST_VCLOCK("/tree/partial/after-timeout-and-parent",
                   test_after_timeout_and_parent),
    CX_TEST("/tree/partial/destructor-on-replace-and-free",
            test_destructor_on_replace_and_free),
    CX_TEST("/tree/partial/bad-input", test_bad_input),
    CX_TEST("/tree/partial/other-thread", test_other_thread),
    CX_TEST_VCLOCK("/tree/partial/seed-pattern", test_seed_pattern),
};

CX_TEST_MAIN("tree/partial", tests)
