/* src/progress/progress.c - progress callbacks and reports that bubble up
 * the hierarchy, innermost first, with optional throttling.  Callback lists
 * are append-only until the op is freed, so delivery walks them without a
 * lock.  An async callback (async.c) sits in the same list: delivery hands
 * it a copy of the report instead of calling it. */
#include <math.h>
#include <string.h>

#include <cancelable/progress.h>

#include "base/base.h"
#include "op/op.h"
#include "progress/progress.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/sync.h"

typedef struct cx__progress_cb {
  struct cx__progress_cb *_Atomic next; /* (atomic) */
  cx_progress_fn fn;                    /* immutable */
  void *user_data;                      /* immutable */
  void (*destroy)(void *);              /* immutable */
  cx__progress_async *async; /* immutable (owned): an async callback's
                                delivery (fn and the rest are in it) */
} cx__progress_cb;

/* The throttle of an op's reports (cx_op_set_progress_interval()), made
 * by the first call: its members are guarded by the op's stripe. */
typedef struct cx__progress_throttle {
  int64_t interval;          /* ns, 0 = off */
  int64_t last;              /* the last delivery, cx__now_ns() clock */
  char *withheld_message;    /* (owned) */
  cx_meta *withheld_meta;    /* (owned) */
  _Atomic bool has_withheld; /* (atomic) written under the stripe */
} cx__progress_throttle;

static int observe_ops(void);

/* Grows each time an op gets its first progress callback: the ancestors a
 * report must visit changed, so what ops remember of them (progress_up)
 * is stale.  Starts at 1 (0 marks "not known"). */
static _Atomic uint64_t progress_epoch = 1;

/* Appends a callback (@async, or @fn with its data) to @op's list. */
static int add_callback(cx_op *op, cx_progress_fn fn, void *user_data,
                        void (*destroy)(void *), cx__progress_async *async) {
  cx__progress_cb *cb;
  cx__stripe *s;
  bool first;
  cb = cx__calloc(1, sizeof *cb);
  if (cb == NULL) return -ENOMEM;
  cb->fn = fn;
  cb->user_data = user_data;
  cb->destroy = destroy;
  cb->async = async;
  atomic_init(&cb->next, NULL);
  s = cx__stripe_for(op);
  pthread_mutex_lock(&s->mu);
  first = op->progress_tail == NULL;
  if (!first)
    atomic_store_explicit(&op->progress_tail->next, cb, memory_order_release);
  else
    atomic_store_explicit(&op->progress_head, cb, memory_order_release);
  op->progress_tail = cb;
  pthread_mutex_unlock(&s->mu);
  /* After the callback is visible: a reporter that reads the new epoch
   * walks past a head it will see. */
  if (first) atomic_fetch_add(&progress_epoch, 1);
  cx__op_watch_progress(+1);
  return 0;
}

int cx_op_on_progress(cx_op *op, cx_progress_fn fn, void *user_data,
                      void (*destroy)(void *)) {
  if (op == NULL || fn == NULL) return -EINVAL;
  if (observe_ops() != 0) return -ENOMEM;
  return add_callback(op, fn, user_data, destroy, NULL);
}

int cx_op_on_progress_async(cx_op *op, cx_progress_fn fn, void *user_data,
                            void (*destroy)(void *)) {
  cx__progress_async *async;
  int rc;
  if (op == NULL || fn == NULL) return -EINVAL;
  if (observe_ops() != 0) return -ENOMEM;
  async = cx__progress_async_new(fn, user_data, destroy, op->name);
  if (async == NULL) return -ENOMEM;
  rc = add_callback(op, NULL, NULL, NULL, async);
  if (rc != 0) cx__progress_async_discard(async);
  return rc;
}

/* Frees the progress callbacks and the withheld report (at destroy). */
static void progress_free(cx_op *op) {
  cx__progress_cb *cb = atomic_load(&op->progress_head);
  cx__progress_throttle *throttle;
  while (cb != NULL) {
    cx__progress_cb *next = atomic_load(&cb->next);
    if (cb->async != NULL) /* delivers what it holds, then destroys */
      cx__progress_async_close(cb->async);
    else if (cb->destroy != NULL)
      cb->destroy(cb->user_data);
    cx__free(cb);
    cx__op_watch_progress(-1);
    cb = next;
  }
  throttle = atomic_load_explicit(&op->throttle, memory_order_relaxed);
  if (throttle != NULL) {
    cx__free(throttle->withheld_message);
    cx_meta_free(throttle->withheld_meta);
    cx__free(throttle);
  }
  cx__progress_last_free(op);
}

int cx_op_set_progress_interval(cx_op *op, double seconds) {
  cx__progress_throttle *fresh = NULL, *t;
  cx__stripe *s;
  int64_t ns;
  if (op == NULL || cx__seconds_to_ns(seconds, &ns) != 0) return -EINVAL;
  if (atomic_load_explicit(&op->throttle, memory_order_acquire) == NULL) {
    if (ns == 0) return 0; /* off, and never on */
    if ((fresh = cx__calloc(1, sizeof *fresh)) == NULL) return -ENOMEM;
  }
  if (observe_ops() != 0) {
    cx__free(fresh);
    return -ENOMEM;
  }
  s = cx__stripe_for(op);
  pthread_mutex_lock(&s->mu);
  t = atomic_load_explicit(&op->throttle, memory_order_relaxed);
  if (t == NULL) {
    t = fresh;
    fresh = NULL;
    atomic_init(&t->has_withheld, false);
    atomic_store_explicit(&op->throttle, t, memory_order_release);
  }
  t->interval = ns;
  pthread_mutex_unlock(&s->mu);
  cx__free(fresh); /* another call made it first */
  return 0;
}

/* What @o remembers of its nearest strict ancestor with callbacks, if it
 * was remembered at @epoch: true and *@up set, else false.  Lock-free (the
 * seqlock's read side). */
static bool up_known(cx_op *o, uint64_t epoch, cx_op **up) {
  unsigned seq =
      atomic_load_explicit(&o->progress_up_seq, memory_order_acquire);
  cx_op *found;
  uint64_t at;
  if (seq & 1u) return false; /* being written */
  /* Acquire loads: a value of a write still in progress brings its odd
   * sequence number with it, and the second read below sees it. */
  found = atomic_load_explicit(&o->progress_up, memory_order_acquire);
  at = atomic_load_explicit(&o->progress_up_epoch, memory_order_acquire);
  if (atomic_load_explicit(&o->progress_up_seq, memory_order_relaxed) != seq ||
      at != epoch)
    return false;
  *up = found;
  return true;
}

/* Remembers @up as @o's nearest strict ancestor with callbacks at
 * @epoch (the seqlock's write side, under @o's stripe). */
static void up_remember(cx_op *o, uint64_t epoch, cx_op *up) {
  cx__stripe *s = cx__stripe_for(o);
  unsigned seq;
  pthread_mutex_lock(&s->mu);
  seq = atomic_load_explicit(&o->progress_up_seq, memory_order_relaxed);
  atomic_store_explicit(&o->progress_up_seq, seq + 1, memory_order_relaxed);
  /* Release stores (no fence: ThreadSanitizer does not model them), so a
   * reader that sees either value sees the odd number before it. */
  atomic_store_explicit(&o->progress_up, up, memory_order_release);
  atomic_store_explicit(&o->progress_up_epoch, epoch, memory_order_release);
  atomic_store_explicit(&o->progress_up_seq, seq + 2, memory_order_release);
  pthread_mutex_unlock(&s->mu);
}

/* The nearest strict ancestor of @o with progress callbacks (NULL: none),
 * as of @epoch.  Walks the parents once per epoch and op, stopping at the
 * first ancestor that knows its own answer; after that a report costs
 * the ancestors with callbacks, not the depth (issue 19).  A callback
 * added while a report runs may miss that report, as if added after. */
static cx_op *up_of(cx_op *o, uint64_t epoch) {
  cx_op *p, *known;
  if (up_known(o, epoch, &known)) return known;
  for (p = o->parent; p != NULL; p = p->parent) {
    if (atomic_load_explicit(&p->progress_head, memory_order_acquire) != NULL)
      break;
    if (up_known(p, epoch, &known)) {
      p = known;
      break;
    }
  }
  up_remember(o, epoch, p);
  return p;
}

/* Delivers one report to @reporter's callbacks and each ancestor's (an
 * async one gets a copy), visiting only the ancestors that have some.
 * 0, or -ENOMEM when an async callback could not get its copy (the others
 * still got the report). */
static int deliver(cx_op *reporter, const char *message, const cx_meta *meta) {
  int result = 0;
  uint64_t epoch = atomic_load_explicit(&progress_epoch, memory_order_acquire);
  cx__op_emit_progressed(reporter, message, meta);
  for (cx_op *o = reporter; o != NULL; o = up_of(o, epoch)) {
    cx__progress_cb *cb =
        atomic_load_explicit(&o->progress_head, memory_order_acquire);
    for (; cb != NULL;
         cb = atomic_load_explicit(&cb->next, memory_order_acquire)) {
      int rc;
      if (cb->async != NULL) {
        if (cx__progress_async_post(cb->async, cx__op_id(reporter), message,
                                    meta) != 0)
          result = -ENOMEM;
        continue;
      }
      rc = cb->fn(cx__op_id(reporter), message, meta, cb->user_data);
      if (rc != 0)
        cx__log(CX_LOG_WARNING, cx__op_id(reporter),
                "progress callback of '%s' failed (%d); the others still run",
                o->name, rc);
    }
  }
  return result;
}

/* Whether @key is absent from @meta. */
static bool missing(const cx_meta *meta, const char *key) {
  return cx_meta_type_of(meta, key) == CX_META_NONE;
}

/* Fills rate from current, and percent and eta from current/total, when
 * absent.  Current and total may be integers or doubles (a double current
 * used to lose all three).  Returns the metadata to deliver: @meta itself,
 * or a filled copy in *@copy. */
static int fill(cx_op *op, const cx_meta *meta, cx_meta **copy) {
  double current, total = 0, elapsed;
  bool has_total;
  *copy = NULL;
  if (meta == NULL ||
      cx_meta_get_double(meta, CX_PROGRESS_CURRENT, &current) != 0 ||
      !isfinite(current))
    return 0;
  has_total = cx_meta_get_double(meta, CX_PROGRESS_TOTAL, &total) == 0 &&
              isfinite(total) && total > 0;
  elapsed = cx_op_elapsed(op);
  if (!(missing(meta, CX_PROGRESS_RATE) && elapsed > 0 && current > 0) &&
      !(has_total &&
        (missing(meta, CX_PROGRESS_PERCENT) || missing(meta, CX_PROGRESS_ETA))))
    return 0; /* nothing to fill in */
  *copy = cx_meta_copy(meta);
  if (*copy == NULL) return -ENOMEM;
  if (has_total && missing(meta, CX_PROGRESS_PERCENT))
    cx_meta_set_double(*copy, CX_PROGRESS_PERCENT, 100.0 * current / total);
  if (elapsed > 0 && current > 0) {
    double rate = current / elapsed;
    if (missing(meta, CX_PROGRESS_RATE))
      cx_meta_set_double(*copy, CX_PROGRESS_RATE, rate);
    if (has_total && missing(meta, CX_PROGRESS_ETA))
      cx_meta_set_double(*copy, CX_PROGRESS_ETA,
                         (total > current ? total - current : 0) / rate);
  }
  return 0;
}

/* Throttling: true when the report must be withheld (then it is stored). */
static bool withhold(cx_op *op, const char *message, const cx_meta *meta,
                     int *rc) {
  cx__progress_throttle *t;
  cx__stripe *s;
  int64_t now;
  bool hold = false;
  *rc = 0;
  if (atomic_load_explicit(&op->throttle, memory_order_acquire) == NULL)
    return false; /* never throttled */
  s = cx__stripe_for(op);
  pthread_mutex_lock(&s->mu);
  t = atomic_load_explicit(&op->throttle, memory_order_relaxed);
  if (t->interval > 0) {
    now = cx__now_ns();
    if (t->last != 0 && now - t->last < t->interval) {
      char *m = cx__strdup(message);
      cx_meta *copy = cx_meta_copy(meta);
      hold = true;
      if (m == NULL || copy == NULL) {
        cx__free(m);
        cx_meta_free(copy);
        *rc = -ENOMEM;
      } else {
        cx__free(t->withheld_message);
        cx_meta_free(t->withheld_meta);
        t->withheld_message = m;
        t->withheld_meta = copy;
        atomic_store(&t->has_withheld, true);
      }
    } else {
      t->last = now;
      atomic_store(&t->has_withheld, false);
    }
  }
  pthread_mutex_unlock(&s->mu);
  return hold;
}

int cx_report_progress(cx_op *op, const char *message,
                       const cx_meta *metadata) {
  cx_meta *filled, *empty = NULL;
  const cx_meta *meta;
  int rc;
  /* Nobody listens (no callback, no event subscriber, no registered op):
   * reporting is free. */
  if (!cx__op_progress_watched()) return 0;
  if (op == NULL) op = cx_current();
  if (op == NULL) return 0;
  if (message == NULL) message = "";
  rc = fill(op, metadata, &filled);
  if (rc != 0) return rc;
  meta = filled != NULL ? filled : metadata;
  if (meta == NULL) {
    meta = empty = cx_meta_new();
    if (empty == NULL) return -ENOMEM;
  }
  /* Kept for readers (cx_op_last_progress), throttled or not, before any
   * delivery: a callback or subscriber that reads the op sees this report.
   * A report that cannot be kept goes nowhere (a retry delivers it once). */
  rc = observe_ops();
  if (rc == 0) rc = cx__progress_keep(op, message, meta);
  if (rc == 0 && !withhold(op, message, meta, &rc))
    rc = deliver(op, message, meta);
  cx_meta_free(filled);
  cx_meta_free(empty);
  return rc;
}

/* Delivers the report withheld by throttling, if any (at exit). */
static void progress_flush(cx_op *op) {
  cx__progress_throttle *t =
      atomic_load_explicit(&op->throttle, memory_order_acquire);
  cx__stripe *s;
  char *message = NULL;
  cx_meta *meta = NULL;
  if (t == NULL || !atomic_load(&t->has_withheld)) return; /* none held */
  s = cx__stripe_for(op);
  pthread_mutex_lock(&s->mu);
  if (atomic_load(&t->has_withheld)) {
    message = t->withheld_message;
    meta = t->withheld_meta;
    t->withheld_message = NULL;
    t->withheld_meta = NULL;
    atomic_store(&t->has_withheld, false);
  }
  pthread_mutex_unlock(&s->mu);
  if (message == NULL) return;
  (void)deliver(op, message, meta); /* a lost copy is logged */
  cx__free(message);
  cx_meta_free(meta);
}

static const cx__op_observer observer = {.exiting = progress_flush,
                                         .destroyed = progress_free};
static _Atomic bool observing; /* (atomic) observer registered */

/* Follows the ops' exits and ends from the first use of progress on: an op
 * needs it only once it has a callback or an interval. */
static int observe_ops(void) {
  int rc;
  if (atomic_load_explicit(&observing, memory_order_acquire)) return 0;
  rc = cx__op_observe(&observer);
  if (rc == 0) atomic_store_explicit(&observing, true, memory_order_release);
  return rc;
}
