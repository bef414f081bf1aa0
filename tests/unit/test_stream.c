/* tests/unit/test_stream.c - streams, issue #4: a wrapper over a user
 * iterator where each item is a cancellation point (manual cancel, parent
 * cascade, timeout on the virtual clock); items are counted; progress is
 * reported every N items (and bubbles); the last K items are kept (default
 * 1000) and item_free runs exactly once for each item, at eviction or when
 * the result is freed; the partial result after cancel, iterator error,
 * completion and early free holds the count, the kept items (oldest first)
 * and the completed flag; keep_last 0; bad input.  Ownership is checked by
 * per-item free counters and by ASan.
 */
#include "cx_test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cancelable.h>

#include "cx_test_stream.h"

static cx_op *entered_op(const char *name, cx_op *parent) {
  return cx_test_entered_op(name, parent, 0);
}

static const cx_stream_result *result_of(cx_op *op) {
  const cx_stream_result *r = cx_op_partial_result(op);
  assert_non_null(r);
  return r;
}

static void assert_items(const cx_stream_result *r, int first, size_t n) {
  assert_int_equal(r->item_count, n);
  if (n > 0) assert_non_null(r->items);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(*(int *)r->items[i], first + (int)i);
}

static void assert_freed_once(int from, int to) {
  for (int v = from; v < to; v++) {
    if (cx_test_freed[v] != 1) {
      print_error("item %d freed %d times\n", v, cx_test_freed[v]);
      fail();
    }
  }
}

static void assert_not_freed(int from, int to) {
  for (int v = from; v < to; v++) {
    if (cx_test_freed[v] != 0) {
      print_error("item %d freed %d times, expected 0\n", v, cx_test_freed[v]);
      fail();
    }
  }
}

/* ---------------------------------------------------------------------- */

static void test_completes(void **state) {
  (void)state;
  cx_op *op = entered_op("stream", NULL);
  cx_test_iter it = cx_test_iter_new(10);
  cx_stream_options o = CX_STREAM_OPTIONS_INIT;
  assert_int_equal(o.keep_last, 1000);
  o.item_free = cx_test_item_free;
  cx_stream *s = NULL;
  CX_ASSERT_OK(
      cx_stream_new(&s, NULL, cx_test_next_int, &it, &o)); /* current op */
  assert_int_equal(cx_stream_count(s), 0);
  void *item = NULL;
  for (int i = 0; i < 10; i++) {
    assert_int_equal(cx_stream_next(s, &item), 1);
    assert_int_equal(*(int *)item, i);
    assert_int_equal(cx_stream_count(s), (size_t)i + 1);
  }
  assert_null(cx_op_partial_result(op)); /* not yet */
  assert_int_equal(cx_stream_next(s, &item), 0);
  const cx_stream_result *r = result_of(op);
  assert_int_equal(r->count, 10);
  assert_true(r->completed);
  assert_int_equal(r->error, 0);
  assert_items(r, 0, 10);
  /* After the end: the end again, the iterator is not called again. */
  int calls = it.calls;
  assert_int_equal(cx_stream_next(s, &item), 0);
  assert_int_equal(it.calls, calls);
  assert_ptr_equal(cx_op_partial_result(op), r);
  cx_stream_free(s);
  /* The items belong to the result now. */
  assert_int_equal(cx_test_total_freed, 0);
  r = result_of(op);
  assert_items(r, 0, 10);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  assert_items(result_of(op), 0, 10);
  cx_op_unref(op);
  assert_freed_once(0, 10);
  assert_int_equal(cx_test_total_freed, 10);
}

static void test_cancel_is_checked_before_each_item(void **state) {
  (void)state;
  cx_op *op = entered_op("stream", NULL);
  cx_test_iter it = cx_test_iter_new(100);
  it.cancel = cx_op_token(op);
  it.cancel_at = 4; /* cancelled while handing out item 4 */
  cx_stream_options o = CX_STREAM_OPTIONS_INIT;
  o.item_free = cx_test_item_free;
  cx_stream *s = NULL;
  CX_ASSERT_OK(cx_stream_new(&s, op, cx_test_next_int, &it, &o));
  void *item = NULL;
  int rc, got = 0;
  while ((rc = cx_stream_next(s, &item)) == 1) got++;
  CX_ASSERT_ERR(-ECANCELED, rc);
  assert_int_equal(got, 5);      /* the item in hand is still delivered */
  assert_int_equal(it.calls, 5); /* never called after the cancel */
  assert_int_equal(cx_stream_count(s), 5);
  const cx_stream_result *r = result_of(op);
  assert_int_equal(r->count, 5);
  assert_false(r->completed);
  CX_ASSERT_ERR(-ECANCELED, r->error);
  assert_items(r, 0, 5);
  /* Still cancelled on the next call; nothing is lost. */
  rc = cx_stream_next(s, &item);
  assert_true(rc == -ECANCELED || rc == 0);
  assert_int_equal(it.calls, 5);
  cx_stream_free(s);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  r = result_of(op);
  assert_int_equal(r->count, 5);
  assert_items(r, 0, 5);
  assert_int_equal(cx_test_total_freed, 0);
  cx_op_unref(op);
  assert_freed_once(0, 5);
  assert_int_equal(cx_test_total_freed, 5);
}

/* A stream in a child op, cancelled by the parent's timeout. */
static void test_cancel_by_parent_timeout(void **state) {
  (void)state;
  cx_op *parent = NULL;
  CX_ASSERT_OK(cx_op_with_timeout(&parent, NULL, 10.0, "batch"));
  CX_ASSERT_OK(cx_op_enter(parent));
  cx_op *op = entered_op("stream", parent);
  cx_test_iter it = cx_test_iter_new(1000);
  cx_stream_options o = CX_STREAM_OPTIONS_INIT;
  o.item_free = cx_test_item_free;
  o.keep_last = 3;
  cx_stream *s = NULL;
  CX_ASSERT_OK(cx_stream_new(&s, NULL, cx_test_next_int, &it, &o));
  void *item = NULL;
  for (int i = 0; i < 7; i++) assert_int_equal(cx_stream_next(s, &item), 1);
  CX_ASSERT_OK(cx_clock_advance(10.0));
  CX_ASSERT_ERR(-ECANCELED, cx_stream_next(s, &item));
  cx_stream_free(s);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_PARENT);
  const cx_stream_result *r = result_of(op);
  assert_int_equal(r->count, 7);
  assert_false(r->completed);
  CX_ASSERT_ERR(-ECANCELED, r->error);
  assert_items(r, 4, 3);
  assert_freed_once(0, 4);
  assert_not_freed(4, 7);
  CX_ASSERT_OK(cx_op_exit(parent, -ECANCELED));
  cx_op_unref(op);
  cx_op_unref(parent);
  assert_freed_once(0, 7);
  assert_int_equal(cx_test_total_freed, 7);
}

static void test_iterator_error(void **state) {
  (void)state;
  cx_op *op = entered_op("stream", NULL);
  cx_test_iter it = cx_test_iter_new(100);
  it.fail_at = 6;
  it.error = -EIO;
  cx_stream_options o = CX_STREAM_OPTIONS_INIT;
  o.item_free = cx_test_item_free;
  cx_stream *s = NULL;
  CX_ASSERT_OK(cx_stream_new(&s, op, cx_test_next_int, &it, &o));
  void *item = NULL;
  int rc;
  while ((rc = cx_stream_next(s, &item)) == 1) {
  }
  CX_ASSERT_ERR(-EIO, rc);
  const cx_stream_result *r = result_of(op);
  assert_int_equal(r->count, 6);
  assert_false(r->completed);
  CX_ASSERT_ERR(-EIO, r->error);
  assert_items(r, 0, 6);
  cx_stream_free(s);
  CX_ASSERT_OK(cx_op_exit(op, -EIO));
  assert_int_equal(cx_op_status(op), CX_STATUS_FAILED);
  assert_items(result_of(op), 0, 6);
  cx_op_unref(op);
  assert_freed_once(0, 6);
  assert_int_equal(cx_test_total_freed, 6);
}

static void test_keep_last(void **state) {
  (void)state;
  cx_op *op = entered_op("stream", NULL);
  cx_test_iter it = cx_test_iter_new(10);
  cx_stream_options o = CX_STREAM_OPTIONS_INIT;
  o.item_free = cx_test_item_free;
  o.keep_last = 3;
  cx_stream *s = NULL;
  CX_ASSERT_OK(cx_stream_new(&s, op, cx_test_next_int, &it, &o));
  void *item = NULL;
  for (int i = 0; i < 10; i++) {
    assert_int_equal(cx_stream_next(s, &item), 1);
    assert_int_equal(*(int *)item, i);
    /* Received i: those older than the last 3 are freed, once. */
    if (i >= 3) assert_freed_once(0, i - 2);
    assert_not_freed(i - 2 > 0 ? i - 2 : 0, i + 1);
  }
  assert_int_equal(cx_stream_next(s, &item), 0);
  const cx_stream_result *r = result_of(op);
  assert_int_equal(r->count, 10);
  assert_true(r->completed);
  assert_items(r, 7, 3);
  cx_stream_free(s);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  assert_freed_once(0, 7);
  assert_not_freed(7, 10);
  cx_op_unref(op);
  assert_freed_once(0, 10);
  assert_int_equal(cx_test_total_freed, 10);
}

static void test_keep_default_1000(void **state) {
  (void)state;
  cx_op *op = entered_op("stream", NULL);
  cx_test_iter it = cx_test_iter_new(1500);
  cx_stream_options o = CX_STREAM_OPTIONS_INIT;
  o.item_free = cx_test_item_free;
  cx_stream *s = NULL;
  CX_ASSERT_OK(cx_stream_new(&s, op, cx_test_next_int, &it, &o));
  void *item = NULL;
  int rc;
  while ((rc = cx_stream_next(s, &item)) == 1) {
  }
  CX_ASSERT_OK(rc);
  const cx_stream_result *r = result_of(op);
  assert_int_equal(r->count, 1500);
  assert_true(r->completed);
  assert_items(r, 500, 1000);
  assert_freed_once(0, 500);
  assert_not_freed(500, 1500);
  cx_stream_free(s);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
  assert_freed_once(0, 1500);
}

/* NULL options: defaults (keep 1000, no item_free: items are the user's
 * static storage here). */
static int next_static(void *state, void **item) {
  static int values[5] = {10, 11, 12, 13, 14};
  int *i = state;
  if (*i >= 5) return 0;
  *item = &values[(*i)++];
  return 1;
}

static void test_null_options(void **state) {
  (void)state;
  cx_op *op = entered_op("stream", NULL);
  int pos = 0;
  cx_stream *s = NULL;
  CX_ASSERT_OK(cx_stream_new(&s, op, next_static, &pos, NULL));
  void *item = NULL;
  int n = 0;
  while (cx_stream_next(s, &item) == 1) n++;
  assert_int_equal(n, 5);
  const cx_stream_result *r = result_of(op);
  assert_int_equal(r->count, 5);
  assert_int_equal(r->item_count, 5);
  assert_int_equal(*(int *)r->items[0], 10);
  assert_int_equal(*(int *)r->items[4], 14);
  cx_stream_free(s);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
}

static void test_keep_none(void **state) {
  (void)state;
  cx_op *op = entered_op("stream", NULL);
  cx_test_iter it = cx_test_iter_new(5);
  cx_stream_options o = CX_STREAM_OPTIONS_INIT;
  o.item_free = cx_test_item_free;
  o.keep_last = 0;
  cx_stream *s = NULL;
  CX_ASSERT_OK(cx_stream_new(&s, op, cx_test_next_int, &it, &o));
  void *item = NULL;
  for (int i = 0; i < 5; i++) {
    assert_int_equal(cx_stream_next(s, &item), 1);
    assert_int_equal(*(int *)item, i); /* valid until the next call */
    if (i > 0) assert_freed_once(0, i);
    assert_not_freed(i, i + 1);
  }
  assert_int_equal(cx_stream_next(s, &item), 0);
  assert_freed_once(0, 5);
  const cx_stream_result *r = result_of(op);
  assert_int_equal(r->count, 5);
  assert_int_equal(r->item_count, 0);
  assert_true(r->completed);
  cx_stream_free(s);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
  assert_freed_once(0, 5);
  assert_int_equal(cx_test_total_freed, 5);
}

/* keep_last 0 and freed before the end: the item in hand is freed too. */
static void test_keep_none_free_early(void **state) {
  (void)state;
  cx_op *op = entered_op("stream", NULL);
  cx_test_iter it = cx_test_iter_new(5);
  cx_stream_options o = CX_STREAM_OPTIONS_INIT;
  o.item_free = cx_test_item_free;
  o.keep_last = 0;
  cx_stream *s = NULL;
  CX_ASSERT_OK(cx_stream_new(&s, op, cx_test_next_int, &it, &o));
  void *item = NULL;
  assert_int_equal(cx_stream_next(s, &item), 1);
  assert_int_equal(cx_stream_next(s, &item), 1);
  cx_stream_free(s);
  assert_freed_once(0, 2);
  const cx_stream_result *r = result_of(op);
  assert_int_equal(r->count, 2);
  assert_false(r->completed);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
  assert_int_equal(cx_test_total_freed, 2);
}

static void test_free_before_end(void **state) {
  (void)state;
  cx_op *op = entered_op("stream", NULL);
  cx_test_iter it = cx_test_iter_new(100);
  cx_stream_options o = CX_STREAM_OPTIONS_INIT;
  o.item_free = cx_test_item_free;
  o.keep_last = 2;
  cx_stream *s = NULL;
  CX_ASSERT_OK(cx_stream_new(&s, op, cx_test_next_int, &it, &o));
  void *item = NULL;
  for (int i = 0; i < 3; i++) assert_int_equal(cx_stream_next(s, &item), 1);
  assert_null(cx_op_partial_result(op));
  cx_stream_free(s);
  const cx_stream_result *r = result_of(op);
  assert_int_equal(r->count, 3);
  assert_false(r->completed);
  assert_int_equal(r->error, 0);
  assert_items(r, 1, 2);
  assert_freed_once(0, 1);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
  assert_freed_once(0, 3);
  assert_int_equal(cx_test_total_freed, 3);
}

/* A second stream on the same op replaces the first's result: the
 * replaced result's items are freed then, once. */
static void test_result_replaced(void **state) {
  (void)state;
  cx_op *op = entered_op("stream", NULL);
  cx_test_iter a = cx_test_iter_new(3);
  cx_test_iter b = cx_test_iter_new(6);
  b.next = 3;
  cx_stream_options o = CX_STREAM_OPTIONS_INIT;
  o.item_free = cx_test_item_free;
  cx_stream *s = NULL;
  void *item = NULL;
  CX_ASSERT_OK(cx_stream_new(&s, op, cx_test_next_int, &a, &o));
  while (cx_stream_next(s, &item) == 1) {
  }
  cx_stream_free(s);
  assert_int_equal(cx_test_total_freed, 0);
  CX_ASSERT_OK(cx_stream_new(&s, op, cx_test_next_int, &b, &o));
  while (cx_stream_next(s, &item) == 1) {
  }
  assert_freed_once(0, 3); /* first result released */
  const cx_stream_result *r = result_of(op);
  assert_int_equal(r->count, 3);
  assert_items(r, 3, 3);
  cx_stream_free(s);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
  assert_freed_once(0, 6);
}

/* Progress every N items, bubbling to the parent. */
typedef struct prog {
  int calls;
  int64_t current[8];
  int64_t total[8];
  double percent[8];
  char op_id[64];
} prog;

static int on_prog(const char *op_id, const char *message,
                   const cx_meta *metadata, void *user_data) {
  prog *p = user_data;
  (void)message;
  if (p->calls < 8) {
    p->current[p->calls] = -1;
    p->total[p->calls] = -1;
    p->percent[p->calls] = -1;
    cx_meta_get_int(metadata, CX_PROGRESS_CURRENT, &p->current[p->calls]);
    cx_meta_get_int(metadata, CX_PROGRESS_TOTAL, &p->total[p->calls]);
    cx_meta_get_double(metadata, CX_PROGRESS_PERCENT, &p->percent[p->calls]);
  }
  snprintf(p->op_id, sizeof p->op_id, "%s", op_id);
  p->calls++;
  return 0;
}

static void test_progress_every(void **state) {
  (void)state;
  cx_op *parent = entered_op("parent", NULL);
  cx_op *op = entered_op("stream", parent);
  prog mine = {0}, up = {0};
  CX_ASSERT_OK(cx_op_on_progress(op, on_prog, &mine, NULL));
  CX_ASSERT_OK(cx_op_on_progress(parent, on_prog, &up, NULL));
  cx_test_iter it = cx_test_iter_new(10);
  cx_stream_options o = CX_STREAM_OPTIONS_INIT;
  o.item_free = cx_test_item_free;
  o.report_every = 4;
  o.total = 10;
  cx_stream *s = NULL;
  CX_ASSERT_OK(cx_stream_new(&s, op, cx_test_next_int, &it, &o));
  void *item = NULL;
  for (int i = 1; i <= 10; i++) {
    assert_int_equal(cx_stream_next(s, &item), 1);
    assert_int_equal(mine.calls, i / 4);
  }
  assert_int_equal(cx_stream_next(s, &item), 0);
  assert_int_equal(mine.calls, 2);
  assert_int_equal(up.calls, 2);
  assert_string_equal(up.op_id, cx_op_id(op));
  assert_true(mine.current[0] == 4 && mine.current[1] == 8);
  assert_true(mine.total[0] == 10 && mine.total[1] == 10);
  assert_true(mine.percent[0] > 39.9 && mine.percent[0] < 40.1);
  assert_true(mine.percent[1] > 79.9 && mine.percent[1] < 80.1);
  cx_stream_free(s);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  CX_ASSERT_OK(cx_op_exit(parent, 0));
  cx_op_unref(op);
  cx_op_unref(parent);
  assert_int_equal(cx_test_total_freed, 10);

  /* report_every 0: never. */
  op = entered_op("quiet", NULL);
  prog none = {0};
  CX_ASSERT_OK(cx_op_on_progress(op, on_prog, &none, NULL));
  it = cx_test_iter_new(20);
  o.report_every = 0;
  CX_ASSERT_OK(cx_stream_new(&s, op, cx_test_next_int, &it, &o));
  while (cx_stream_next(s, &item) == 1) {
  }
  assert_int_equal(none.calls, 0);
  cx_stream_free(s);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
}

/* The stream holds its op: freeing the op first is safe. */
static void test_stream_outlives_op_ref(void **state) {
  (void)state;
  cx_op *op = entered_op("stream", NULL);
  cx_test_iter it = cx_test_iter_new(3);
  cx_stream_options o = CX_STREAM_OPTIONS_INIT;
  o.item_free = cx_test_item_free;
  cx_stream *s = NULL;
  CX_ASSERT_OK(cx_stream_new(&s, op, cx_test_next_int, &it, &o));
  void *item = NULL;
  assert_int_equal(cx_stream_next(s, &item), 1);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
  assert_int_equal(cx_stream_next(s, &item), 1);
  cx_stream_free(s); /* stores the result and frees the op */
  assert_freed_once(0, 2);
  assert_int_equal(cx_test_total_freed, 2);
}

static void test_bad_input(void **state) {
  (void)state;
  cx_test_iter it = cx_test_iter_new(3);
  cx_stream *s = (cx_stream *)&it;
  assert_null(cx_current());
  CX_ASSERT_ERR(-EINVAL, cx_stream_new(&s, NULL, cx_test_next_int, &it, NULL));
  assert_null(s);
  cx_op *op = entered_op("stream", NULL);
  s = (cx_stream *)&it;
  CX_ASSERT_ERR(-EINVAL, cx_stream_new(&s, op, NULL, &it, NULL));
  assert_null(s);
  CX_ASSERT_ERR(-EINVAL, cx_stream_new(NULL, op, cx_test_next_int, &it, NULL));
  cx_stream_options o = CX_STREAM_OPTIONS_INIT;
  o.size = 0;
  s = (cx_stream *)&it;
  CX_ASSERT_ERR(-EINVAL, cx_stream_new(&s, op, cx_test_next_int, &it, &o));
  assert_null(s);
  void *item = NULL;
  CX_ASSERT_ERR(-EINVAL, cx_stream_next(NULL, &item));
  CX_ASSERT_OK(cx_stream_new(&s, op, cx_test_next_int, &it, NULL));
  CX_ASSERT_ERR(-EINVAL, cx_stream_next(s, NULL));
  assert_int_equal(it.calls, 0);
  assert_int_equal(cx_stream_count(NULL), 0);
  cx_stream_free(NULL);
  cx_stream_free(s);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
}

/* A cancellation point keeps reporting the cancel: calling next again on
 * a cancelled op gives -ECANCELED again, not 0 ("the end, completed"). */
static void test_cancel_sticky(void **state) {
  (void)state;
  cx_op *op = entered_op("stream", NULL);
  cx_test_iter it = cx_test_iter_new(100);
  cx_stream_options o = CX_STREAM_OPTIONS_INIT;
  o.item_free = cx_test_item_free;
  cx_stream *s = NULL;
  CX_ASSERT_OK(cx_stream_new(&s, op, cx_test_next_int, &it, &o));
  void *item = NULL;
  assert_int_equal(cx_stream_next(s, &item), 1);
  cx_op_cancel(op, CX_REASON_MANUAL, NULL);
  CX_ASSERT_ERR(-ECANCELED, cx_stream_next(s, &item));
  CX_ASSERT_ERR(-ECANCELED, cx_stream_next(s, &item));
  assert_false(result_of(op)->completed);
  cx_stream_free(s);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  assert_int_equal(cx_test_total_freed, 1);
}

#define FT(path, fn) \
  { (path), (fn), cx_test_reset_freed, NULL, NULL }

#define VT(path, fn) CX_TEST_VCLOCK(path, fn)

static const struct CMUnitTest tests[] = {
    FT("/tree/stream/completes", test_completes),
    FT("/tree/stream/cancel-before-each-item",
       test_cancel_is_checked_before_each_item),
    VT("/tree/stream/cancel-by-parent-timeout", test_cancel_by_parent_timeout),
    FT("/tree/stream/iterator-error", test_iterator_error),
    FT("/tree/stream/keep-last", test_keep_last),
    FT("/tree/stream/keep-default-1000", test_keep_default_1000),
    FT("/tree/stream/null-options", test_null_options),
    FT("/tree/stream/keep-none", test_keep_none),
    FT("/tree/stream/keep-none-free-early", test_keep_none_free_early),
    FT("/tree/stream/free-before-end", test_free_before_end),
    FT("/tree/stream/result-replaced", test_result_replaced),
    FT("/tree/stream/progress-every", test_progress_every),
    FT("/tree/stream/outlives-op-ref", test_stream_outlives_op_ref),
    FT("/tree/stream/bad-input", test_bad_input),
    FT("/tree/stream/cancel-sticky", test_cancel_sticky),
};

CX_TEST_MAIN("tree/stream", tests)
