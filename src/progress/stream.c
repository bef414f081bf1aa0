/* src/progress/stream.c - streams: a user iterator whose every item is a
 * cancellation point, with a count, periodic progress reports, a ring of
 * the last K items and a partial result left on the op. */
#include <stdio.h>

#include <cancelable/progress.h>

#include "op/op.h"
#include "progress/progress.h"
#include "progress/stream.h"
#include "runtime/alloc.h"

/* Frees @item now, or later when a chunk being filled holds it. */
static void drop(cx_stream *s, void *item) {
  if (s->opts.item_free == NULL) return;
  if (s->holding)
    s->held[s->held_len++] = item;
  else
    s->opts.item_free(item);
}

void cx__stream_release(cx_stream *s) {
  if (s->unkept != NULL && s->opts.item_free != NULL)
    s->opts.item_free(s->unkept);
  s->unkept = NULL;
  for (size_t i = 0; i < s->held_len; i++) s->opts.item_free(s->held[i]);
  s->held_len = 0;
}

/* The item destructor travels with the result. */
typedef struct result_box {
  cx_stream_result result; /* first: what users see */
  void (*item_free)(void *);
} result_box;

static void box_free(void *p) {
  result_box *b = p;
  if (b->item_free != NULL)
    for (size_t i = 0; i < b->result.item_count; i++)
      b->item_free(b->result.items[i]);
  cx__free(b->result.items);
  cx__free(b);
}

/* Moves the kept items into a result stored on the op. */
static int store_result(cx_stream *s) {
  result_box *b = cx__calloc(1, sizeof *b);
  if (b == NULL) return -ENOMEM;
  if (s->kept > 0) {
    b->result.items = cx__malloc(s->kept * sizeof(void *));
    if (b->result.items == NULL) {
      cx__free(b);
      return -ENOMEM;
    }
    for (size_t i = 0; i < s->kept; i++)
      b->result.items[i] = s->ring[(s->head + i) % s->opts.keep_last];
  }
  b->result.item_count = s->kept;
  b->result.count = s->count;
  b->result.completed = s->completed;
  b->result.error = s->ended ? s->outcome : 0;
  b->item_free = s->opts.item_free;
  s->kept = 0;
  s->stored = true;
  cx_op_set_partial_result(s->op, b, box_free);
  return 0;
}

/* Ends the stream with @outcome (0: completed) and stores the result; out
 * of memory the kept items stay for cx_stream_free() to try again. */
static int end(cx_stream *s, int outcome) {
  s->ended = true;
  s->completed = outcome == 0;
  s->outcome = outcome;
  store_result(s);
  return outcome;
}

bool cx__stream_options_valid(const cx_stream_options *opts) {
  return opts->size >= sizeof(cx_stream_options) && opts->total >= 0;
}

int cx__stream_alloc(cx_op *op, cx_op *scope, cx_stream_next_fn next,
                     void *state, const cx_stream_options *opts,
                     cx_stream **out) {
  cx_stream *s = cx__calloc(1, sizeof *s);
  if (s == NULL) return -ENOMEM;
  s->opts = *opts;
  if (s->opts.keep_last > 0) {
    s->ring = cx__calloc(s->opts.keep_last, sizeof(void *));
    if (s->ring == NULL) {
      cx__free(s);
      return -ENOMEM;
    }
  }
  s->op = cx_op_ref(op);
  s->scope = cx_op_ref(scope);
  s->next = next;
  s->state = state;
  *out = s;
  return 0;
}

/* Options that only cx_stream_open() reads. */
static bool has_open_options(const cx_stream_options *o) {
  return o->timeout != 0 || o->token != NULL || o->name != NULL ||
         o->parent != NULL;
}

int cx_stream_new(cx_stream **out, cx_op *op, cx_stream_next_fn next,
                  void *state, const cx_stream_options *opts) {
  cx_stream_options defaults = CX_STREAM_OPTIONS_INIT;
  if (out != NULL) *out = NULL;
  cx_op *scope = op != NULL ? op : cx__current_scope();
  if (op == NULL) op = cx_current();
  if (op == NULL || next == NULL || out == NULL) return -EINVAL;
  if (opts == NULL) opts = &defaults;
  if (!cx__stream_options_valid(opts) || has_open_options(opts)) return -EINVAL;
  return cx__stream_alloc(op, scope, next, state, opts, out);
}

static void keep(cx_stream *s, void *item) {
  size_t k = s->opts.keep_last;
  if (k == 0) {
    if (s->holding)
      drop(s, item); /* held until the chunk is released */
    else
      s->unkept = item;
    return;
  }
  if (s->kept == k) {
    drop(s, s->ring[s->head]);
    s->ring[s->head] = item;
    s->head = (s->head + 1) % k;
  } else {
    s->ring[(s->head + s->kept) % k] = item;
    s->kept++;
  }
}

static void report(cx_stream *s, const void *item) {
  cx_meta *meta = cx_meta_new();
  char message[64], text[256];
  if (meta == NULL) return;
  cx_meta_set_int(meta, CX_PROGRESS_COUNT, (int64_t)s->count);
  cx_meta_set_int(meta, CX_PROGRESS_CURRENT, (int64_t)s->count);
  if (s->opts.total > 0)
    cx_meta_set_int(meta, CX_PROGRESS_TOTAL, s->opts.total);
  if (s->opts.format_item != NULL) {
    text[0] = '\0';
    s->opts.format_item(item, text, sizeof text);
    text[sizeof text - 1] = '\0';
    cx_meta_set_string(meta, CX_PROGRESS_LATEST_ITEM, text);
  }
  snprintf(message, sizeof message, "%zu items", s->count);
  cx_report_progress(s->op, message, meta);
  cx_meta_free(meta);
}

int cx__stream_receive(cx_stream *s, void **item) {
  void *value = NULL;
  int rc;
  if (s->ended) return s->outcome; /* a cancel or error stays reported */
  if (cx_token_is_cancelled(s->scope->token)) return end(s, -ECANCELED);
  rc = s->next(s->state, &value);
  if (rc <= 0) return end(s, rc);
  s->count++;
  keep(s, value);
  *item = value;
  if (s->opts.report_every == 0) {
    if (s->opts.on_progress != NULL) /* every item, and no report */
      s->opts.on_progress(s->count, value, s->opts.user_data);
  } else if (s->count % s->opts.report_every == 0) {
    report(s, value);
    if (s->opts.on_progress != NULL)
      s->opts.on_progress(s->count, value, s->opts.user_data);
  }
  return 1;
}

int cx_stream_next(cx_stream *s, void **item) {
  int rc;
  if (s == NULL || item == NULL) return -EINVAL;
  cx__stream_release(s);
  rc = cx__stream_receive(s, item);
  if (rc != 1) cx__stream_exit_op(s);
  return rc;
}

size_t cx_stream_count(const cx_stream *s) { return s ? s->count : 0; }

cx_op *cx_stream_op(const cx_stream *s) { return s ? s->op : NULL; }

void cx_stream_free(cx_stream *s) {
  if (s == NULL) return;
  cx__stream_release(s);
  s->ended = true; /* if it had not: not completed, error 0 */
  if (!s->stored && store_result(s) != 0 && s->opts.item_free != NULL)
    for (size_t i = 0; i < s->kept; i++)
      s->opts.item_free(s->ring[(s->head + i) % s->opts.keep_last]);
  cx__stream_exit_op(s);
  cx__free(s->ring);
  cx__free(s->chunk);
  cx__free(s->held);
  cx_op_unref(s->op);
  cx_op_unref(s->scope);
  cx__free(s);
}
