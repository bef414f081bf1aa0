/* src/op/op_context.c - the operation's context: accessors, metadata,
 * partial result, deadline. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "op/op.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/sync.h"
#include "token/token.h"

#define WORK_CANCELLED_MESSAGE "the work returned -ECANCELED"

bool cx__op_exited(const cx_op *op) {
  int status = atomic_load(&op->status);
  return status == CX_STATUS_COMPLETED || status == CX_STATUS_CANCELLED ||
         status == CX_STATUS_FAILED;
}

cx_token *cx_op_token(const cx_op *op) { return op ? op->token : NULL; }

bool cx_op_is_cancelled(const cx_op *op) {
  if (op == NULL) op = cx__current_scope(); /* a shield's, inside one */
  return op != NULL && cx_token_is_cancelled(op->token);
}

const char *cx__op_id(const cx_op *op) {
  cx_op *o = (cx_op *)op; /* the id is a cache: made once, atomically */
  char *id = atomic_load(&o->id);
  if (id != NULL) return id;
  return cx_token_id(o->token); /* the op's own token */
}

const char *cx_op_id(const cx_op *op) { return op ? cx__op_id(op) : NULL; }

const char *cx_op_name(const cx_op *op) { return op ? op->name : NULL; }

cx_status cx_op_status(const cx_op *op) {
  return op ? (cx_status)atomic_load(&op->status) : CX_STATUS_PENDING;
}

const char *cx_op_parent_id(const cx_op *op) {
  return op && op->parent ? cx__op_id(op->parent) : NULL;
}

/* Makes the wall-clock start time from the monotonic stamp, under the
 * op's lock: enter reads one clock, the monotonic one; the wall clock is
 * read here, and the time elapsed since the stamp is taken off it. */
static void derive_start_locked(cx_op *op) {
  if (op->start_wall == 0 && op->start_mono != 0)
    op->start_wall =
        cx__wall_now() - (double)(cx__now_ns() - op->start_mono) / 1e9;
}

/* The wall-clock start (@end false) or end time of @op, made on the first
 * request.  The end is the start plus the monotonic time between them, so
 * end - start is exactly the elapsed time (two separate wall-clock
 * readings could put a short op's end before its start). */
static double wall_time(const cx_op *op, bool end) {
  cx_op *o = (cx_op *)op; /* the cache is guarded by the op's lock */
  cx__stripe *s = cx__stripe_for(op);
  double v;
  pthread_mutex_lock(&s->mu);
  derive_start_locked(o);
  if (end && o->end_wall == 0 && o->end_mono != 0 && o->start_wall != 0)
    o->end_wall = o->start_wall + (double)(o->end_mono - o->start_mono) / 1e9;
  v = end ? o->end_wall : o->start_wall;
  pthread_mutex_unlock(&s->mu);
  return v;
}

double cx_op_start_time(const cx_op *op) {
  return op ? wall_time(op, false) : 0.0;
}

double cx_op_end_time(const cx_op *op) {
  return op ? wall_time(op, true) : 0.0;
}

void cx__op_mono_times(const cx_op *op, int64_t *start, int64_t *end) {
  cx__stripe *s = cx__stripe_for(op);
  pthread_mutex_lock(&s->mu);
  *start = op->start_mono;
  *end = op->end_mono;
  pthread_mutex_unlock(&s->mu);
}

double cx_op_elapsed(const cx_op *op) {
  int64_t start, end;
  if (op == NULL) return 0.0;
  cx__op_mono_times(op, &start, &end);
  if (start == 0) return 0.0;
  if (end == 0) end = cx__now_ns();
  return (double)(end - start) / 1e9;
}

cx_reason cx_op_cancel_reason(const cx_op *op) {
  if (op == NULL) return CX_REASON_NONE;
  if (cx_token_is_cancelled(op->token))
    return cx_token_cancel_reason(op->token);
  return cx__op_exited(op) ? op->exit_reason : CX_REASON_NONE;
}

/* "parent operation 'NAME' cancelled: MESSAGE", formatted once; MESSAGE is
 * that of the op where the cancellation started. */
static const char *parent_message(cx_op *op) {
  const cx_token *origin = cx__token_origin(op->token);
  const char *text = cx__token_own_message(origin);
  size_t len;
  char *expected = NULL, *m;
  if (text == NULL) text = "";
  len = strlen(text) + strlen(op->parent->name) + 64;
  if ((m = cx__malloc(len)) == NULL) return cx_token_cancel_message(op->token);
  snprintf(m, len, "parent operation '%s' cancelled: %s", op->parent->name,
           text);
  if (!atomic_compare_exchange_strong(&op->lazy_message, &expected, m)) {
    cx__free(m);
    return expected;
  }
  return m;
}

const char *cx_op_cancel_message(const cx_op *op) {
  const char *lazy;
  if (op == NULL) return NULL;
  if (!cx_token_is_cancelled(op->token)) {
    if (cx__op_exited(op) && op->exit_reason != CX_REASON_NONE)
      return WORK_CANCELLED_MESSAGE;
    return NULL;
  }
  if (!op->in_hub || cx_token_cancel_reason(op->token) != CX_REASON_PARENT ||
      cx__token_cause(op->token) != cx__op_tree_parent_token(op))
    return cx_token_cancel_message(op->token);
  lazy = atomic_load(&op->lazy_message);
  /* Logically const: the message is a cache made on the first request. */
  return lazy != NULL ? lazy : parent_message((cx_op *)op);
}

const char *cx_op_cancel_source(const cx_op *op) {
  const char *own;
  if (op == NULL || !cx_token_is_cancelled(op->token)) return NULL;
  own = cx__token_source(op->token);
  return own != NULL ? own : cx__token_source(cx__token_origin(op->token));
}

int cx_op_error(const cx_op *op) {
  if (op == NULL || atomic_load(&op->status) != CX_STATUS_FAILED) return 0;
  return op->error;
}

int64_t cx__op_effective_deadline(const cx_op *op) {
  int64_t d = CX__NO_DEADLINE;
  int st = atomic_load(&op->status);
  if (st != CX_STATUS_RUNNING && st != CX_STATUS_SHIELDED) return d;
  for (; op != NULL; op = op->parent) {
    int64_t own = atomic_load(&op->deadline);
    if (own < d) d = own;
    if (op->is_shield || op->detached) break;
  }
  return d;
}

double cx_op_deadline(const cx_op *op) {
  int64_t d;
  if (op == NULL) return INFINITY;
  d = cx__op_effective_deadline(op);
  return d == CX__NO_DEADLINE ? INFINITY : (double)d / 1e9;
}

double cx_op_remaining(const cx_op *op) {
  int64_t d, left;
  if (op == NULL) op = cx__current_scope(); /* a shield's, inside one */
  if (op == NULL) return INFINITY;
  d = cx__op_effective_deadline(op);
  if (d == CX__NO_DEADLINE) return INFINITY;
  left = d - cx__now_ns();
  return left > 0 ? (double)left / 1e9 : 0.0;
}

cx_meta *cx_op_metadata(const cx_op *op) {
  cx__stripe *s;
  cx_meta *copy;
  if (op == NULL) return NULL;
  s = cx__stripe_for(op);
  pthread_mutex_lock(&s->mu);
  copy = cx_meta_copy(op->meta);
  pthread_mutex_unlock(&s->mu);
  return copy;
}

int cx_op_update_metadata(cx_op *op, const cx_meta *values) {
  cx__stripe *s;
  int rc;
  if (op == NULL) op = cx_current();
  if (op == NULL || values == NULL) return -EINVAL;
  s = cx__stripe_for(op);
  pthread_mutex_lock(&s->mu);
  if (op->meta == NULL) op->meta = cx_meta_new();
  rc = op->meta != NULL ? cx__meta_merge(op->meta, values) : -ENOMEM;
  pthread_mutex_unlock(&s->mu);
  return rc;
}

int cx_op_set_partial_result(cx_op *op, void *value, void (*destroy)(void *)) {
  cx__stripe *s;
  void *old;
  void (*old_destroy)(void *);
  if (op == NULL) op = cx_current();
  if (op == NULL) return -EINVAL;
  s = cx__stripe_for(op);
  pthread_mutex_lock(&s->mu);
  old = op->partial;
  old_destroy = op->partial_destroy;
  op->partial = value;
  op->partial_destroy = destroy;
  pthread_mutex_unlock(&s->mu);
  if (old_destroy != NULL && old != value) old_destroy(old);
  return 0;
}

void *cx_op_partial_result(const cx_op *op) {
  cx__stripe *s;
  void *v;
  if (op == NULL) return NULL;
  s = cx__stripe_for(op);
  pthread_mutex_lock(&s->mu);
  v = op->partial;
  pthread_mutex_unlock(&s->mu);
  return v;
}
