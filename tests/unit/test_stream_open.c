/* tests/unit/test_stream_open.c - issue 17 item 6: the standalone stream
 * (cx_stream_open(): an op of its own, made and entered at the open,
 * cancelled by a timeout on the virtual clock, by a token that it never
 * cancels, by its parent; exited COMPLETED, CANCELLED or FAILED when the
 * stream says it ended, or COMPLETED when freed early), chunked streams
 * (cx_stream_next_chunk(): 10 items in chunks of 3 are 3, 3, 3, 1; a
 * chunk's items stay valid whatever keep_last is; a cancel mid-chunk hands
 * out the items received, then -ECANCELED), the stream's progress (every N
 * items, metadata "count", "current" and "latest_item" through a
 * formatter; a per-item callback with the count and the item), and bad
 * input (k = 0, NULL arguments, bad options: -EINVAL, nothing consumed,
 * nothing entered).  Every item is freed exactly once (counters, ASan).
 */
#include "cx_test.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cancelable.h>

#include "cx_test_stream.h"

/* ---------------------------------------------------------------------- */
/* helpers (the iterator: cx_test_stream.h) */

static int reset_vclock(void **state) {
  cx_test_reset_freed(state);
  return cx_test_vclock_setup(state);
}

static cx_stream_options freeing_options(void) {
  cx_stream_options o = CX_STREAM_OPTIONS_INIT;
  o.item_free = cx_test_item_free;
  return o;
}

/* Values @from .. @to-1 were freed once each. */
static void assert_freed_once(int from, int to) {
  for (int v = from; v < to; v++) assert_int_equal(cx_test_freed[v], 1);
}

static void assert_all_freed_once(int n) {
  assert_freed_once(0, n);
  assert_int_equal(cx_test_total_freed, n);
}

static const cx_stream_result *result_of(cx_op *op) {
  const cx_stream_result *r = cx_op_partial_result(op);
  assert_non_null(r);
  return r;
}

/* ---------------------------------------------------------------------- */
/* the standalone stream */

static void test_open_completes(void **state) {
  (void)state;
  cx_test_iter it = cx_test_iter_new(10);
  cx_stream_options o = freeing_options();
  cx_stream *s = NULL;
  void *item;
  int rc, n = 0;
  assert_null(cx_current());
  CX_ASSERT_OK(cx_stream_open(&s, cx_test_next_int, &it, &o));
  cx_op *op = cx_stream_op(s);
  assert_string_equal(cx_op_name(op), "stream");
  while ((rc = cx_stream_next(s, &item)) == 1) {
    assert_ptr_equal(cx_current(), op); /* the loop runs inside the op */
    assert_int_equal(cx_op_status(op), CX_STATUS_RUNNING);
    assert_int_equal(*(int *)item, n++);
  }
  CX_ASSERT_OK(rc);
  assert_int_equal(n, 10);
  assert_null(cx_current()); /* exited at the end */
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  assert_true(result_of(op)->completed);
  assert_int_equal(result_of(op)->count, 10);
  CX_ASSERT_OK(cx_stream_next(s, &item)); /* the end again, no re-exit */
  assert_int_equal(it.calls, 11);
  cx_stream_free(s);
  assert_all_freed_once(10);
}

/* A 5 s timeout fires after 3 items: the next call says -ECANCELED and
 * the op is CANCELLED with reason TIMEOUT; the items received are the
 * partial result. */
static void test_open_timeout(void **state) {
  (void)state;
  cx_test_iter it = cx_test_iter_new(100);
  cx_stream_options o = freeing_options();
  o.timeout = 5.0;
  o.name = "download";
  cx_stream *s = NULL;
  void *item;
  CX_ASSERT_OK(cx_stream_open(&s, cx_test_next_int, &it, &o));
  cx_op *op = cx_op_ref(cx_stream_op(s));
  assert_string_equal(cx_op_name(op), "download");
  for (int i = 0; i < 3; i++) assert_int_equal(cx_stream_next(s, &item), 1);
  CX_ASSERT_OK(cx_clock_advance(5.0 - 1e-9));
  assert_int_equal(cx_stream_next(s, &item), 1);
  CX_ASSERT_OK(cx_clock_advance(1e-9));
  CX_ASSERT_ERR(-ECANCELED, cx_stream_next(s, &item));
  assert_int_equal(it.calls, 4); /* never called after the timeout */
  assert_null(cx_current());
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  const cx_stream_result *r = result_of(op);
  assert_int_equal(r->count, 4);
  assert_false(r->completed);
  CX_ASSERT_ERR(-ECANCELED, r->error);
  CX_ASSERT_ERR(-ECANCELED, cx_stream_next(s, &item));
  cx_stream_free(s);
  assert_int_equal(cx_test_total_freed,
                   0); /* the result, on the op, holds them */
  cx_op_unref(op);
  assert_all_freed_once(4);
}

/* The token cancels the stream (its reason kept); the stream's own
 * timeout never cancels the token. */
static void test_open_token(void **state) {
  (void)state;
  cx_token *tok = cx_token_new();
  assert_non_null(tok);
  cx_test_iter it = cx_test_iter_new(100);
  it.cancel = tok;
  it.cancel_at = 6;
  cx_stream_options o = freeing_options();
  o.token = tok;
  o.timeout = 60.0;
  cx_stream *s = NULL;
  void *item;
  int rc, got = 0;
  CX_ASSERT_OK(cx_stream_open(&s, cx_test_next_int, &it, &o));
  cx_op *op = cx_op_ref(cx_stream_op(s));
  while ((rc = cx_stream_next(s, &item)) == 1) got++;
  CX_ASSERT_ERR(-ECANCELED, rc);
  assert_int_equal(got, 7); /* the item in hand is still delivered */
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_MANUAL);
  assert_string_equal(cx_op_cancel_message(op), "enough");
  cx_stream_free(s);
  cx_op_unref(op);
  cx_token_unref(tok);

  /* a timeout of the stream leaves the caller's token alone */
  tok = cx_token_new();
  it = cx_test_iter_new(100);
  it.next = 50;
  o.token = tok;
  o.timeout = 1.0;
  CX_ASSERT_OK(cx_stream_open(&s, cx_test_next_int, &it, &o));
  op = cx_op_ref(cx_stream_op(s));
  assert_int_equal(cx_stream_next(s, &item), 1);
  CX_ASSERT_OK(cx_clock_advance(1.0));
  CX_ASSERT_ERR(-ECANCELED, cx_stream_next(s, &item));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  assert_false(cx_token_is_cancelled(tok));
  cx_stream_free(s);
  cx_op_unref(op);

  /* a token cancelled before the open: the first call ends it */
  cx_token_cancel(tok, CX_REASON_SIGNAL, NULL);
  it = cx_test_iter_new(100);
  o.timeout = 0;
  CX_ASSERT_OK(cx_stream_open(&s, cx_test_next_int, &it, &o));
  CX_ASSERT_ERR(-ECANCELED, cx_stream_next(s, &item));
  assert_int_equal(it.calls, 0);
  assert_int_equal(cx_op_cancel_reason(cx_stream_op(s)), CX_REASON_SIGNAL);
  assert_null(cx_current());
  cx_stream_free(s);
  cx_token_unref(tok);
  assert_freed_once(0, 7);
  assert_freed_once(50, 51);
  assert_int_equal(cx_test_total_freed, 8);
}

static void test_open_parent_and_error(void **state) {
  (void)state;
  cx_op *parent = cx_test_entered_op("batch", NULL, 0);
  cx_test_iter it = cx_test_iter_new(100);
  cx_stream_options o = freeing_options();
  o.parent = parent;
  cx_stream *s = NULL;
  void *item;
  CX_ASSERT_OK(cx_stream_open(&s, cx_test_next_int, &it, &o));
  cx_op *op = cx_op_ref(cx_stream_op(s));
  assert_ptr_equal(cx_op_parent(op), parent);
  assert_int_equal(cx_stream_next(s, &item), 1);
  cx_op_cancel(parent, CX_REASON_MANUAL, "stop");
  CX_ASSERT_ERR(-ECANCELED, cx_stream_next(s, &item));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_PARENT);
  assert_ptr_equal(cx_current(), parent);
  cx_stream_free(s);
  cx_op_unref(op);
  CX_ASSERT_OK(cx_op_exit(parent, -ECANCELED));
  cx_op_unref(parent);

  /* the iterator's error: FAILED with it */
  it = cx_test_iter_new(100);
  it.next = 10;
  it.fail_at = 12;
  it.error = -EIO;
  o.parent = NULL;
  CX_ASSERT_OK(cx_stream_open(&s, cx_test_next_int, &it, &o));
  op = cx_op_ref(cx_stream_op(s));
  while (cx_stream_next(s, &item) == 1) {
  }
  assert_int_equal(cx_op_status(op), CX_STATUS_FAILED);
  CX_ASSERT_ERR(-EIO, cx_op_error(op));
  CX_ASSERT_ERR(-EIO, result_of(op)->error);
  cx_stream_free(s);
  cx_op_unref(op);
  assert_freed_once(0, 1);
  assert_freed_once(10, 12);
  assert_int_equal(cx_test_total_freed, 3);
}

/* Freed before the end: the op exits COMPLETED, the result says not
 * completed. */
static void test_open_free_early(void **state) {
  (void)state;
  cx_test_iter it = cx_test_iter_new(100);
  cx_stream_options o = freeing_options();
  cx_stream *s = NULL;
  void *item;
  CX_ASSERT_OK(cx_stream_open(&s, cx_test_next_int, &it, &o));
  cx_op *op = cx_op_ref(cx_stream_op(s));
  assert_int_equal(cx_stream_next(s, &item), 1);
  assert_int_equal(cx_stream_next(s, &item), 1);
  cx_stream_free(s);
  assert_null(cx_current());
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  assert_false(result_of(op)->completed);
  assert_int_equal(result_of(op)->count, 2);
  cx_op_unref(op);
  assert_all_freed_once(2);
}

/* ---------------------------------------------------------------------- */
/* progress */

typedef struct seen {
  int reports;
  int64_t count[8];
  int64_t current[8];
  char latest[8][32];
  int calls; /* on_progress */
  size_t cb_count[16];
  int cb_item[16];
} seen;

static int on_report(const char *op_id, const char *message,
                     const cx_meta *metadata, void *user_data) {
  seen *p = user_data;
  (void)op_id;
  (void)message;
  if (p->reports < 8) {
    p->count[p->reports] = cx_meta_int_or(metadata, CX_PROGRESS_COUNT, -1);
    p->current[p->reports] = cx_meta_int_or(metadata, CX_PROGRESS_CURRENT, -1);
    snprintf(p->latest[p->reports], sizeof p->latest[0], "%s",
             cx_meta_string_or(metadata, CX_PROGRESS_LATEST_ITEM, "-"));
  }
  p->reports++;
  return 0;
}

static void on_item(size_t count, const void *item, void *user_data) {
  seen *p = user_data;
  if (p->calls < 16) {
    p->cb_count[p->calls] = count;
    p->cb_item[p->calls] = *(const int *)item;
  }
  p->calls++;
}

static void format_int(const void *item, char *buf, size_t size) {
  snprintf(buf, size, "item %d", *(const int *)item);
}

static void test_progress_count_and_latest(void **state) {
  (void)state;
  seen up = {0};
  cx_op *parent = cx_test_entered_op("batch", NULL, 0);
  CX_ASSERT_OK(cx_op_on_progress(parent, on_report, &up, NULL));
  cx_test_iter it = cx_test_iter_new(10);
  cx_stream_options o = freeing_options();
  o.parent = parent;
  o.report_every = 4;
  o.on_progress = on_item;
  o.user_data = &up;
  o.format_item = format_int;
  cx_stream *s = NULL;
  void *item;
  CX_ASSERT_OK(cx_stream_open(&s, cx_test_next_int, &it, &o));
  while (cx_stream_next(s, &item) == 1) {
  }
  assert_int_equal(up.reports, 2);
  assert_true(up.count[0] == 4 && up.count[1] == 8);
  assert_true(up.current[0] == 4 && up.current[1] == 8);
  assert_string_equal(up.latest[0], "item 3");
  assert_string_equal(up.latest[1], "item 7");
  assert_int_equal(up.calls, 2);
  assert_true(up.cb_count[0] == 4 && up.cb_item[0] == 3);
  assert_true(up.cb_count[1] == 8 && up.cb_item[1] == 7);
  cx_stream_free(s);

  /* on_progress alone: every item, and no report */
  memset(&up, 0, sizeof up);
  it = cx_test_iter_new(5);
  o.report_every = 0;
  CX_ASSERT_OK(cx_stream_open(&s, cx_test_next_int, &it, &o));
  while (cx_stream_next(s, &item) == 1) {
  }
  assert_int_equal(up.calls, 5);
  for (int i = 0; i < 5; i++) {
    assert_int_equal(up.cb_count[i], (size_t)i + 1);
    assert_int_equal(up.cb_item[i], i);
  }
  assert_int_equal(up.reports, 0);
  cx_stream_free(s);

  /* reports without a formatter: the count, no latest_item */
  memset(&up, 0, sizeof up);
  it = cx_test_iter_new(4);
  o.report_every = 2;
  o.on_progress = NULL;
  o.format_item = NULL;
  CX_ASSERT_OK(cx_stream_open(&s, cx_test_next_int, &it, &o));
  while (cx_stream_next(s, &item) == 1) {
  }
  assert_int_equal(up.reports, 2);
  assert_true(up.count[0] == 2 && up.count[1] == 4);
  assert_string_equal(up.latest[1], "-");
  cx_stream_free(s);
  CX_ASSERT_OK(cx_op_exit(parent, 0));
  cx_op_unref(parent);
  assert_int_equal(cx_test_total_freed, 19);
}

/* ---------------------------------------------------------------------- */
/* chunks */

/* 10 items in chunks of 3: 3, 3, 3, 1, then the end.  keep_last 2 (less
 * than a chunk) and 0: the chunk's items stay valid until the next call. */
static void chunks_of_3(size_t keep_last) {
  cx_test_iter it = cx_test_iter_new(10);
  cx_op *op = cx_test_entered_op("chunks", NULL, 0);
  cx_stream_options o = freeing_options();
  o.keep_last = keep_last;
  cx_stream *s = NULL;
  void *const *chunk = NULL;
  size_t n = 0, sizes[8];
  int rc, chunks = 0, v = 0;
  CX_ASSERT_OK(cx_stream_new(&s, op, cx_test_next_int, &it, &o));
  while ((rc = cx_stream_next_chunk(s, 3, &chunk, &n)) == 1) {
    assert_true(chunks < 8);
    sizes[chunks++] = n;
    for (size_t i = 0; i < n; i++) {
      assert_int_equal(*(int *)chunk[i], v); /* valid: ASan would say */
      assert_int_equal(cx_test_freed[v], 0);
      v++;
    }
  }
  CX_ASSERT_OK(rc);
  assert_int_equal(chunks, 4);
  assert_true(sizes[0] == 3 && sizes[1] == 3 && sizes[2] == 3 && sizes[3] == 1);
  assert_int_equal(cx_stream_count(s), 10);
  assert_true(result_of(op)->completed);
  assert_int_equal(result_of(op)->item_count, keep_last < 10 ? keep_last : 10);
  cx_stream_free(s);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
  assert_all_freed_once(10);
}

static void test_chunks_3_3_3_1(void **state) {
  (void)state;
  chunks_of_3(1000);
  cx_test_reset_freed(state);
  chunks_of_3(2);
  cx_test_reset_freed(state);
  chunks_of_3(0);
}

/* Cancelled while the second chunk fills: its items so far come first,
 * then -ECANCELED.  Chunks and single items mix. */
static void test_chunk_cancel_mid_chunk(void **state) {
  (void)state;
  cx_op *op = cx_test_entered_op("chunks", NULL, 0);
  cx_test_iter it = cx_test_iter_new(100);
  it.cancel = cx_op_token(op);
  it.cancel_at = 5;
  cx_stream_options o = freeing_options();
  cx_stream *s = NULL;
  void *const *chunk;
  void *item;
  size_t n;
  CX_ASSERT_OK(cx_stream_new(&s, op, cx_test_next_int, &it, &o));
  assert_int_equal(cx_stream_next(s, &item), 1); /* 0 */
  assert_int_equal(cx_stream_next_chunk(s, 3, &chunk, &n), 1);
  assert_int_equal(n, 3); /* 1 2 3 */
  assert_int_equal(cx_stream_next_chunk(s, 3, &chunk, &n), 1);
  assert_int_equal(n, 2); /* 4 5, then the cancel */
  assert_int_equal(*(int *)chunk[0], 4);
  assert_int_equal(*(int *)chunk[1], 5);
  CX_ASSERT_ERR(-ECANCELED, cx_stream_next_chunk(s, 3, &chunk, &n));
  CX_ASSERT_ERR(-ECANCELED, cx_stream_next(s, &item));
  assert_int_equal(it.calls, 6);
  assert_int_equal(result_of(op)->count, 6);
  cx_stream_free(s);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  assert_all_freed_once(6);
}

/* A standalone stream in chunks: the op runs while the last, partial chunk
 * is processed and exits at the end that follows it. */
static void test_chunk_open(void **state) {
  (void)state;
  cx_test_iter it = cx_test_iter_new(5);
  cx_stream_options o = freeing_options();
  cx_stream *s = NULL;
  void *const *chunk;
  size_t n;
  CX_ASSERT_OK(cx_stream_open(&s, cx_test_next_int, &it, &o));
  cx_op *op = cx_stream_op(s);
  assert_int_equal(cx_stream_next_chunk(s, 4, &chunk, &n), 1);
  assert_int_equal(n, 4);
  assert_int_equal(cx_stream_next_chunk(s, 4, &chunk, &n), 1);
  assert_int_equal(n, 1);
  assert_int_equal(cx_op_status(op), CX_STATUS_RUNNING);
  assert_ptr_equal(cx_current(), op);
  CX_ASSERT_OK(cx_stream_next_chunk(s, 4, &chunk, &n));
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  assert_null(cx_current());
  cx_stream_free(s);
  assert_all_freed_once(5);
}

/* ---------------------------------------------------------------------- */
/* bad input: -EINVAL, nothing consumed, nothing made or entered */

static void test_bad_input(void **state) {
  (void)state;
  cx_test_iter it = cx_test_iter_new(10);
  cx_stream_options o = freeing_options();
  cx_stream *s = (cx_stream *)&it;
  CX_ASSERT_ERR(-EINVAL, cx_stream_open(&s, NULL, &it, &o));
  assert_null(s);
  CX_ASSERT_ERR(-EINVAL, cx_stream_open(NULL, cx_test_next_int, &it, &o));
  const double bad_timeout[] = {-1.0, NAN, INFINITY, -INFINITY};
  for (size_t i = 0; i < 4; i++) {
    cx_stream_options b = o;
    b.timeout = bad_timeout[i];
    s = (cx_stream *)&it;
    CX_ASSERT_ERR(-EINVAL, cx_stream_open(&s, cx_test_next_int, &it, &b));
    assert_null(s);
  }
  cx_stream_options b = o;
  b.size = 0;
  CX_ASSERT_ERR(-EINVAL, cx_stream_open(&s, cx_test_next_int, &it, &b));
  b = o;
  b.total = -1;
  CX_ASSERT_ERR(-EINVAL, cx_stream_open(&s, cx_test_next_int, &it, &b));
  assert_null(cx_current());
  /* the op-bound stream refuses the open-only options */
  cx_op *op = cx_test_entered_op("mine", NULL, 0);
  b = o;
  b.timeout = 1.0;
  CX_ASSERT_ERR(-EINVAL, cx_stream_new(&s, op, cx_test_next_int, &it, &b));
  b = o;
  b.name = "x";
  CX_ASSERT_ERR(-EINVAL, cx_stream_new(&s, op, cx_test_next_int, &it, &b));
  assert_null(s);
  /* chunks: k 0 and NULL arguments change nothing */
  CX_ASSERT_OK(cx_stream_new(&s, op, cx_test_next_int, &it, &o));
  void *const *chunk = NULL;
  size_t n = 0;
  CX_ASSERT_ERR(-EINVAL, cx_stream_next_chunk(s, 0, &chunk, &n));
  CX_ASSERT_ERR(-EINVAL, cx_stream_next_chunk(s, 3, NULL, &n));
  CX_ASSERT_ERR(-EINVAL, cx_stream_next_chunk(s, 3, &chunk, NULL));
  CX_ASSERT_ERR(-EINVAL, cx_stream_next_chunk(NULL, 3, &chunk, &n));
  assert_int_equal(it.calls, 0);
  assert_int_equal(cx_stream_count(s), 0);
  assert_null(chunk);
  assert_int_equal(cx_stream_next_chunk(s, 3, &chunk, &n), 1);
  assert_int_equal(n, 3);
  /* a bad call keeps the chunk handed out valid */
  CX_ASSERT_ERR(-EINVAL, cx_stream_next_chunk(s, 0, &chunk, &n));
  assert_int_equal(*(int *)chunk[2], 2);
  assert_null(cx_stream_op(NULL));
  assert_ptr_equal(cx_stream_op(s), op);
  cx_stream_free(s);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
  assert_all_freed_once(3);
}

#define FT(path, fn) \
  { (path), (fn), cx_test_reset_freed, NULL, NULL }
#define VT(path, fn) \
  { (path), (fn), reset_vclock, cx_test_vclock_teardown, NULL }

static const struct CMUnitTest tests[] = {
    FT("/tree/stream/open/completes", test_open_completes),
    VT("/tree/stream/open/timeout", test_open_timeout),
    VT("/tree/stream/open/token", test_open_token),
    FT("/tree/stream/open/parent-and-error", test_open_parent_and_error),
    FT("/tree/stream/open/free-early", test_open_free_early),
    FT("/tree/stream/progress/count-and-latest",
       test_progress_count_and_latest),
    FT("/tree/stream/chunk/3-3-3-1", test_chunks_3_3_3_1),
    FT("/tree/stream/chunk/cancel-mid-chunk", test_chunk_cancel_mid_chunk),
    FT("/tree/stream/chunk/open", test_chunk_open),
    FT("/tree/stream/open/bad-input", test_bad_input),
};

CX_TEST_MAIN("tree/stream/open", tests)
