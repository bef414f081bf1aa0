/* examples/tree/streams.c - streams: the reference library's
 * cancelable_stream() and chunked_cancelable_stream() (issue 17 item 6).
 *
 *   async for record in cancelable_stream(read_records(), timeout=0.5,
 *                                         report_interval=5,
 *                                         on_progress=show):
 *       store(record)
 *
 *   async for chunk in chunked_cancelable_stream(read_records(), 3, c):
 *       store_many(chunk)
 *
 * A "slow source" hands out a record every 10 ms.  1. A stream with an op
 * of its own and a 0.5 s timeout: progress every 5 records with the count
 * and the latest record; the timeout ends it and the op says so.  2. Ten
 * records in chunks of 3: 3, 3, 3 and a last chunk of 1.  3. A token of
 * the caller stops a stream (reason kept) and is never spent by it.
 */
#include <cancelable.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct source {
  int next, end; /* records next .. end-1 */
} source;

/* The iterator: a heap string per record, 10 ms apart (a cancellation
 * point: a cancel while it waits ends the stream with -ECANCELED). */
static int read_record(void *state, void **item) {
  source *src = state;
  char *record;
  int rc;
  if (src->next >= src->end) return 0;
  rc = cx_sleep(NULL, 0.01);
  if (rc != 0) return rc;
  record = malloc(32);
  if (record == NULL) return -ENOMEM;
  snprintf(record, 32, "record %d", src->next++);
  *item = record;
  return 1;
}

static void format_record(const void *item, char *buf, size_t size) {
  snprintf(buf, size, "%s", (const char *)item);
}

static int show(const char *op_id, const char *message, const cx_meta *meta,
                void *user_data) {
  (void)op_id;
  (void)message;
  (void)user_data;
  printf("  progress: %lld records, latest '%s'\n",
         (long long)cx_meta_int_or(meta, CX_PROGRESS_COUNT, -1),
         cx_meta_string_or(meta, CX_PROGRESS_LATEST_ITEM, "?"));
  return 0;
}

/* 1. timeout, progress with the count and the latest record. */
static int with_timeout(void) {
  source src = {0, 1000};
  cx_stream_options o = CX_STREAM_OPTIONS_INIT;
  cx_op *watch = NULL;
  cx_stream *s;
  void *item;
  int rc, stored = 0;
  /* The stream's op is made inside cx_stream_open(): watch its reports
   * through a parent (reports bubble up). */
  if (cx_op_create(&watch, NULL) != 0 || cx_op_enter(watch) != 0) return 0;
  cx_op_on_progress(watch, show, NULL, NULL);
  o.timeout = 0.5;
  o.report_every = 5;
  o.format_item = format_record;
  o.item_free = free;
  o.keep_last = 3;
  o.name = "import";
  o.parent = watch;
  if (cx_stream_open(&s, read_record, &src, &o) != 0) return 0;
  while ((rc = cx_stream_next(s, &item)) == 1) stored++;
  cx_op *op = cx_stream_op(s);
  const cx_stream_result *r = cx_op_partial_result(op);
  printf("import: %s (%s), %d records stored, last kept '%s'\n",
         cx_status_name(cx_op_status(op)),
         cx_reason_name(cx_op_cancel_reason(op)), stored,
         r != NULL && r->item_count > 0 ? (char *)r->items[r->item_count - 1]
                                        : "-");
  int ok = rc == -ECANCELED && cx_op_status(op) == CX_STATUS_CANCELLED &&
           cx_op_cancel_reason(op) == CX_REASON_TIMEOUT && r != NULL &&
           r->count == (size_t)stored && stored > 0 && stored < 1000;
  cx_stream_free(s);
  cx_op_exit(watch, 0);
  cx_op_unref(watch);
  return ok;
}

/* 2. chunks of 3 over 10 records. */
static int in_chunks(void) {
  source src = {0, 10};
  cx_stream_options o = CX_STREAM_OPTIONS_INIT;
  cx_stream *s;
  void *const *chunk;
  size_t n, sizes = 0;
  int rc;
  o.item_free = free;
  o.keep_last = 0; /* the chunk's records stay valid until the next call */
  if (cx_stream_open(&s, read_record, &src, &o) != 0) return 0;
  while ((rc = cx_stream_next_chunk(s, 3, &chunk, &n)) == 1) {
    printf("chunk of %zu:", n);
    for (size_t i = 0; i < n; i++) printf(" '%s'", (char *)chunk[i]);
    printf("\n");
    sizes = sizes * 10 + n;
  }
  int ok = rc == 0 && sizes == 3331 &&
           cx_op_status(cx_stream_op(s)) == CX_STATUS_COMPLETED;
  cx_stream_free(s);
  return ok;
}

/* 3. the caller's token stops the stream; the stream never cancels it. */
static void stop_after(size_t count, const void *item, void *user_data) {
  (void)item;
  if (count == 7) cx_token_cancel(user_data, CX_REASON_MANUAL, "enough");
}

static int with_token(void) {
  source src = {0, 1000};
  cx_stream_options o = CX_STREAM_OPTIONS_INIT;
  cx_token *token = cx_token_new();
  cx_stream *s;
  void *item;
  int rc, got = 0;
  if (token == NULL) return 0;
  o.token = token;
  o.on_progress = stop_after; /* every record: no report interval */
  o.user_data = token;
  o.item_free = free;
  if (cx_stream_open(&s, read_record, &src, &o) != 0) return 0;
  while ((rc = cx_stream_next(s, &item)) == 1) got++;
  cx_op *op = cx_stream_op(s);
  printf(
      "token: %s (%s: %s) after %d records\n", cx_status_name(cx_op_status(op)),
      cx_reason_name(cx_op_cancel_reason(op)), cx_op_cancel_message(op), got);
  int ok = rc == -ECANCELED && got == 7 &&
           cx_op_cancel_reason(op) == CX_REASON_MANUAL;
  cx_stream_free(s);
  cx_token_unref(token);
  return ok;
}

int main(void) {
  int ok = with_timeout();
  ok = in_chunks() && ok;
  ok = with_token() && ok;
  if (!ok) return 1;
  printf("example: ok\n");
  return 0;
}
