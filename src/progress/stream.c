/* src/progress/stream.c - streams: a user iterator whose every item is a
 * cancellation point, with a count, periodic progress reports, a ring of
 * the last K items and a partial result left on the op. */
#include <stdio.h>

#include <cancelable/progress.h>

#include "op/op.h"
#include "progress/progress.h"
#include "runtime/alloc.h"

struct cx_stream {
  cx_op *op;    /* owned ref: reports and the partial result go to it */
  cx_op *scope; /* owned ref: its cancellation ends the stream (inside a
                   shield, the shield's handle; else op) */
  cx_stream_next_fn next;
  void *state;
  cx_stream_options opts;
  void **ring;  /* keep_last slots */
  size_t head;  /* index of the oldest kept item */
  size_t kept;  /* items in the ring */
  size_t count; /* items received */
  void *unkept; /* with keep_last 0: the item handed out last,
                   freed at the next call */
  bool ended;
  int outcome; /* once ended: what every later call returns
                  (0 completed, -ECANCELED, the error) */
};

/* Frees the item handed out last when none are kept. */
static void drop_unkept(cx_stream *s) {
  if (s->unkept != NULL && s->opts.item_free != NULL)
    s->opts.item_free(s->unkept);
  s->unkept = NULL;
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
static int finish(cx_stream *s, bool completed, int error) {
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
  b->result.completed = completed;
  b->result.error = error;
  b->item_free = s->opts.item_free;
  s->kept = 0;
  s->ended = true;
  s->outcome = completed ? 0 : error;
  cx_op_set_partial_result(s->op, b, box_free);
  return 0;
}

int cx_stream_new(cx_op *op, cx_stream_next_fn next, void *state,
                  const cx_stream_options *opts, cx_stream **out) {
  cx_stream_options defaults = CX_STREAM_OPTIONS_INIT;
  cx_stream *s;
  if (out != NULL) *out = NULL;
  cx_op *scope = op != NULL ? op : cx__current_scope();
  if (op == NULL) op = cx_current();
  if (op == NULL || next == NULL || out == NULL) return -EINVAL;
  if (opts == NULL) opts = &defaults;
  if (opts->size < sizeof(cx_stream_options) || opts->total < 0) return -EINVAL;
  s = cx__calloc(1, sizeof *s);
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

static void keep(cx_stream *s, void *item) {
  size_t k = s->opts.keep_last;
  if (k == 0) {
    s->unkept = item;
    return;
  }
  if (s->kept == k) {
    if (s->opts.item_free != NULL) s->opts.item_free(s->ring[s->head]);
    s->ring[s->head] = item;
    s->head = (s->head + 1) % k;
  } else {
    s->ring[(s->head + s->kept) % k] = item;
    s->kept++;
  }
}

static void report(cx_stream *s) {
  cx_meta *meta = cx_meta_new();
  char message[64];
  if (meta == NULL) return;
  cx_meta_set_int(meta, CX_PROGRESS_CURRENT, (int64_t)s->count);
  if (s->opts.total > 0)
    cx_meta_set_int(meta, CX_PROGRESS_TOTAL, s->opts.total);
  snprintf(message, sizeof message, "%zu items", s->count);
  cx_report_progress(s->op, message, meta);
  cx_meta_free(meta);
}

int cx_stream_next(cx_stream *s, void **item) {
  void *value = NULL;
  int rc;
  if (s == NULL || item == NULL) return -EINVAL;
  drop_unkept(s);
  if (s->ended) return s->outcome; /* a cancel or error stays reported */
  if (cx_token_is_cancelled(s->scope->token)) {
    finish(s, false, -ECANCELED);
    return -ECANCELED;
  }
  rc = s->next(s->state, &value);
  if (rc <= 0) {
    finish(s, rc == 0, rc);
    return rc;
  }
  s->count++;
  keep(s, value);
  *item = value;
  if (s->opts.report_every > 0 && s->count % s->opts.report_every == 0)
    report(s);
  return 1;
}

size_t cx_stream_count(const cx_stream *s) { return s ? s->count : 0; }

void cx_stream_free(cx_stream *s) {
  if (s == NULL) return;
  drop_unkept(s);
  if (!s->ended && finish(s, false, 0) != 0 && s->opts.item_free != NULL)
    for (size_t i = 0; i < s->kept; i++)
      s->opts.item_free(s->ring[(s->head + i) % s->opts.keep_last]);
  cx__free(s->ring);
  cx_op_unref(s->op);
  cx_op_unref(s->scope);
  cx__free(s);
}
