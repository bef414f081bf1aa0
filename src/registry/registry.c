/* src/registry/registry.c - the process-wide registry of live operations
 * and bounded history of finished ones: a uthash table by id plus two
 * lists, under one mutex.  User code (cancel callbacks) never runs under
 * that mutex: queries and cancels copy references out first. */
#include <math.h>
#include <string.h>

#include <cancelable/registry.h>

#include "base/base.h"
#include "op/op.h"
#include "registry/registry.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/fork.h"
#include "runtime/list.h"

/* uthash allocates through the library's hook and never aborts. */
static bool oom;
#define HASH_NONFATAL_OOM 1
#define uthash_malloc(sz) cx__malloc(sz)
#define uthash_free(ptr, sz) cx__free(ptr)
#define uthash_nonfatal_oom(obj) (oom = true)
#include <uthash.h>

/* A live entry holds no reference of its own: the op's enter holds one
 * until after the exit's *exited* event, which moves the entry to the
 * history, so the op outlives its live entry (and a user's last
 * cx_op_unref() of a running op leaves the enter's the only one, which
 * the op layer detects as a forgotten cx_op_exit()).  A history entry
 * holds one. */
typedef struct entry {
  UT_hash_handle hh; /* by the op's id; guarded by mu */
  cx_op *op;         /* owned ref once in the history */
  cx__list node;     /* in the live or history list */
  bool live;
  bool hashed;
} entry;

typedef struct list {
  cx__list head; /* live: oldest first; history: newest first */
  size_t count;
} list;

#define LIST_INIT(l) \
  { {&(l).head, &(l).head}, 0 }

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static entry *by_id;                      /* guarded by mu */
static list live = LIST_INIT(live);       /* guarded by mu */
static list history = LIST_INIT(history); /* guarded by mu */
static size_t history_max = 1000;         /* guarded by mu */
static _Atomic bool register_default;
static uint64_t n_completed, n_cancelled, n_failed; /* guarded by mu */
static uint64_t n_by_reason[8];                     /* guarded by mu */
static double completed_duration;                   /* guarded by mu */

/* ---- lists, _locked */

static entry *entry_of(cx__list *node) {
  return node != NULL ? cx__container_of(node, entry, node) : NULL;
}

/* The last entry of @l, or NULL. */
static entry *list_tail(list *l) {
  return l->count > 0 ? entry_of(l->head.prev) : NULL;
}

static void list_unlink(list *l, entry *e) {
  cx__list_remove(&e->node);
  l->count--;
}

static void list_push_tail(list *l, entry *e) {
  cx__list_append(&l->head, &e->node);
  l->count++;
}

static void list_push_head(list *l, entry *e) {
  /* Appending to the tail of the first node puts it in front of it. */
  cx__list_append(l->head.next, &e->node);
  l->count++;
}

/* Removes a history entry; returns its op for unref outside the lock. */
static cx_op *drop_history_locked(entry *e) {
  cx_op *op = e->op;
  list_unlink(&history, e);
  if (e->hashed) HASH_DELETE(hh, by_id, e);
  op->reg_entry = NULL;
  cx__free(e);
  return op;
}

/* Unreferences ops collected under the lock (their destruction may run
 * user destroy notifies, which must not run under the registry lock). */
static void release_all(cx_op **ops, size_t n) {
  for (size_t i = 0; i < n; i++) cx_op_unref(ops[i]);
}

/* ---- the lifecycle events */

/* From the first registered op on, progress reports are kept for the
 * export (cx_op_last_progress), as for a progress callback. */
static void watch_progress_once(void) {
  static _Atomic bool watching;
  if (!atomic_load_explicit(&watching, memory_order_acquire) &&
      !atomic_exchange(&watching, true))
    cx__op_watch_progress(+1);
}

/* Adds a just-entered op to the live table. */
static void op_registered(cx_op *op) {
  entry *e = cx__calloc(1, sizeof *e), *dup = NULL;
  cx_op *dropped = NULL;
  /* An id made here is a fresh random UUID (122 random bits): no entry can
   * hold it, so the lookup for a duplicate, a walk of cold memory once
   * many ops are live, is for ids given by the user or already made. */
  bool fresh = atomic_load_explicit(&op->id, memory_order_acquire) == NULL;
  const char *id = cx__op_id(op);
  watch_progress_once();
  if (e == NULL || id == NULL) {
    cx__free(e);
    cx__log(CX_LOG_WARNING, id, "registry: out of memory, not listed");
    return;
  }
  e->op = op;
  e->live = true;
  pthread_mutex_lock(&mu);
  if (!fresh) HASH_FIND_STR(by_id, id, dup);
  if (dup != NULL && !dup->live) dropped = drop_history_locked(dup), dup = NULL;
  if (dup == NULL) {
    oom = false;
    HASH_ADD_KEYPTR(hh, by_id, id, strlen(id), e);
    e->hashed = !oom;
  }
  list_push_tail(&live, e);
  op->reg_entry = e;
  pthread_mutex_unlock(&mu);
  if (dup != NULL)
    cx__log(CX_LOG_WARNING, id,
            "registry: id already live; listed but not findable by id");
  cx_op_unref(dropped);
}

/* Counts a finished op, _locked.  @duration is only read for a COMPLETED
 * op, @reason only for a CANCELLED one. */
static void count_locked(cx_status status, double duration, cx_reason reason) {
  if (status == CX_STATUS_COMPLETED) {
    n_completed++;
    completed_duration += duration;
  } else if (status == CX_STATUS_CANCELLED) {
    n_cancelled++;
    if ((unsigned)reason < sizeof n_by_reason / sizeof n_by_reason[0])
      n_by_reason[reason]++;
  } else if (status == CX_STATUS_FAILED) {
    n_failed++;
  }
}

/* Moves an op that just exited to the history and counts it. */
static void op_unregistered(cx_op *op) {
  entry *e;
  cx_op *dropped = NULL;
  cx_status status = (cx_status)atomic_load(&op->status);
  double duration = status == CX_STATUS_COMPLETED ? cx_op_elapsed(op) : 0;
  cx_reason reason =
      status == CX_STATUS_CANCELLED ? cx_op_cancel_reason(op) : CX_REASON_NONE;
  pthread_mutex_lock(&mu);
  e = op->reg_entry;
  if (e != NULL && e->live) {
    list_unlink(&live, e);
    e->live = false;
    count_locked(status, duration, reason);
    cx_op_ref(op); /* the history's */
    list_push_head(&history, e);
    if (history.count > history_max)
      dropped = drop_history_locked(list_tail(&history));
  }
  pthread_mutex_unlock(&mu);
  cx_op_unref(dropped);
}

static void on_entered(cx_op *op) {
  if (op->register_asked ||
      atomic_load_explicit(&register_default, memory_order_relaxed)) {
    op->registered = true;
    op_registered(op);
  }
}

static void on_exited(cx_op *op) {
  if (op->registered) op_unregistered(op);
}

static const cx__op_observer observer = {.entered = on_entered,
                                         .exited = on_exited};

/* Registered when the library is loaded (when the registry is linked in at
 * all: a program that never calls it cannot see what it would list). */
__attribute__((constructor)) static void observe_ops(void) {
  cx__op_observe(&observer);
}

/* ---- settings */

void cx_registry_set_default(bool register_all) {
  atomic_store(&register_default, register_all);
}

void cx_registry_set_history_size(size_t count) {
  cx_op **dropped = NULL;
  size_t n = 0;
  pthread_mutex_lock(&mu);
  history_max = count;
  if (history.count > count) {
    dropped = cx__malloc((history.count - count) * sizeof *dropped);
    while (dropped != NULL && history.count > count)
      dropped[n++] = drop_history_locked(list_tail(&history));
  }
  pthread_mutex_unlock(&mu);
  release_all(dropped, n);
  cx__free(dropped);
}

/* ---- queries */

void cx_op_list_free(cx_op_list *l) {
  if (l == NULL) return;
  release_all(l->ops, l->count);
  cx__free(l->ops);
  l->ops = NULL;
  l->count = 0;
}

/* Copies references of the ops of @l that pass @f's early fields, at most
 * @limit (0: all). */
static int snapshot(const list *l, const cx_op_filter *f, size_t limit,
                    cx_op_list *out) {
  cx__list *node;
  pthread_mutex_lock(&mu);
  if (l->count > 0) {
    out->ops = cx__malloc(l->count * sizeof *out->ops);
    if (out->ops == NULL) {
      pthread_mutex_unlock(&mu);
      return -ENOMEM;
    }
  }
  cx__list_for_each(node, &l->head) {
    entry *e = entry_of(node);
    if (limit != 0 && out->count == limit) break;
    if (cx__filter_match_early(f, e->op))
      out->ops[out->count++] = cx_op_ref(e->op);
  }
  pthread_mutex_unlock(&mu);
  return 0;
}

/* Keeps the ops of @out that pass @f's late fields (the predicate runs
 * here, no lock held), at most @limit (0: all); releases the others. */
static void refine(const cx_op_filter *f, size_t limit, cx_op_list *out) {
  int64_t now = cx__now_ns();
  size_t kept = 0;
  for (size_t i = 0; i < out->count; i++) {
    cx_op *op = out->ops[i];
    if ((limit == 0 || kept < limit) && cx__filter_match_late(f, op, now))
      out->ops[kept++] = op;
    else
      cx_op_unref(op);
  }
  out->count = kept;
}

/* The ops of @l matching @filter (at most @limit, 0: all), as references
 * the caller owns. */
static int collect(const list *l, const cx_op_filter *filter, size_t limit,
                   cx_op_list *out) {
  cx_op_filter f;
  bool late;
  int rc;
  out->ops = NULL;
  out->count = 0;
  rc = cx__filter_prepare(filter, &f);
  if (rc != 0) return rc;
  late = cx__filter_has_late(&f);
  rc = snapshot(l, &f, late ? 0 : limit, out);
  if (rc == 0 && late) refine(&f, limit, out);
  return rc;
}

cx_op *cx_registry_find(const char *id) {
  entry *e = NULL;
  cx_op *op = NULL;
  if (id == NULL) return NULL;
  pthread_mutex_lock(&mu);
  HASH_FIND_STR(by_id, id, e);
  if (e != NULL) op = cx_op_ref(e->op);
  pthread_mutex_unlock(&mu);
  return op;
}

int cx_registry_list(const cx_op_filter *filter, cx_op_list *out) {
  if (out == NULL) return -EINVAL;
  return collect(&live, filter, 0, out);
}

int cx_registry_children(const char *parent_id, cx_op_list *out) {
  cx_op_filter f = CX_OP_FILTER_INIT;
  if (out != NULL) out->ops = NULL, out->count = 0;
  if (parent_id == NULL || out == NULL) return -EINVAL;
  f.parent_id = parent_id;
  return collect(&live, &f, 0, out);
}

int cx_registry_history(const cx_op_filter *filter, size_t newest,
                        cx_op_list *out) {
  if (out == NULL) return -EINVAL;
  return collect(&history, filter, newest, out);
}

/* ---- cancel */

int cx_registry_cancel(const char *id, cx_reason reason, const char *message) {
  entry *e = NULL;
  cx_op *op = NULL;
  bool done;
  if (id == NULL || !cx__reason_valid(reason)) return -EINVAL;
  pthread_mutex_lock(&mu);
  HASH_FIND_STR(by_id, id, e);
  if (e != NULL && e->live) op = cx_op_ref(e->op);
  pthread_mutex_unlock(&mu);
  if (op == NULL) return -ENOENT;
  done = cx_op_cancel(op, reason, message);
  cx_op_unref(op);
  return done ? 1 : 0;
}

long cx_registry_cancel_all(const cx_op_filter *filter, cx_reason reason,
                            const char *message) {
  cx_op_list l;
  long n = 0;
  int rc;
  if (!cx__reason_valid(reason)) return -EINVAL;
  rc = collect(&live, filter, 0, &l);
  if (rc != 0) return rc;
  for (size_t i = 0; i < l.count; i++)
    if (cx_op_cancel(l.ops[i], reason, message)) n++;
  cx_op_list_free(&l);
  return n;
}

/* ---- statistics and cleanup */

int cx_registry_get_stats(cx_registry_stats *out) {
  cx__list *node;
  if (out == NULL) return -EINVAL;
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&mu);
  out->live = live.count;
  cx__list_for_each(node, &live.head) {
    int status = atomic_load(&entry_of(node)->op->status);
    if (status >= 0 && status < 6) out->live_by_status[status]++;
  }
  out->completed = n_completed;
  out->cancelled = n_cancelled;
  out->failed = n_failed;
  memcpy(out->cancelled_by_reason, n_by_reason, sizeof n_by_reason);
  out->average_duration =
      n_completed ? completed_duration / (double)n_completed : 0;
  out->history = history.count;
  pthread_mutex_unlock(&mu);
  return 0;
}

/* Whether prune drops @e, at @rank from the newest (0 first). */
static bool prunable(entry *e, size_t rank, int64_t cutoff, size_t max_count,
                     unsigned flags) {
  int64_t start, end;
  if ((flags & CX_PRUNE_KEEP_FAILED) &&
      atomic_load(&e->op->status) == CX_STATUS_FAILED)
    return false;
  if (max_count != 0 && rank >= max_count) return true;
  if (cutoff == INT64_MIN) return false;
  cx__op_mono_times(e->op, &start, &end);
  return end < cutoff;
}

/* The end time before which entries are too old, or INT64_MIN for no age
 * limit. */
static int64_t prune_cutoff(double max_age_seconds) {
  int64_t age;
  if (max_age_seconds == 0 || cx__seconds_to_ns(max_age_seconds, &age) != 0)
    return INT64_MIN; /* 0, or beyond what ns hold: +infinity */
  return cx__now_ns() - age;
}

long cx_registry_prune(double max_age_seconds, size_t max_count,
                       unsigned flags) {
  cx_op **dropped;
  cx__list *node, *next;
  size_t n = 0, rank = 0;
  int64_t cutoff;
  if (!(max_age_seconds >= 0)) return -EINVAL; /* negative or NaN */
  if ((flags & ~CX_PRUNE_KEEP_FAILED) != 0) return -EINVAL;
  cutoff = prune_cutoff(max_age_seconds);
  pthread_mutex_lock(&mu);
  dropped = cx__malloc((history.count + 1) * sizeof *dropped);
  if (dropped == NULL) {
    pthread_mutex_unlock(&mu);
    return -ENOMEM;
  }
  /* Newest first: @rank counts the entries before, dropped or not. */
  for (node = history.head.next; node != &history.head; node = next, rank++) {
    entry *e = entry_of(node);
    next = node->next;
    if (prunable(e, rank, cutoff, max_count, flags))
      dropped[n++] = drop_history_locked(e);
  }
  pthread_mutex_unlock(&mu);
  release_all(dropped, n);
  cx__free(dropped);
  return (long)n;
}

void cx_registry_clear(void) {
  cx__list all, *node;
  cx__list_init(&all);
  pthread_mutex_lock(&mu);
  HASH_CLEAR(hh, by_id);
  cx__list_move_all(&live.head, &all);
  cx__list_move_all(&history.head, &all);
  live.count = history.count = 0;
  n_completed = n_cancelled = n_failed = 0;
  memset(n_by_reason, 0, sizeof n_by_reason);
  completed_duration = 0;
  cx__list_for_each(node, &all) {
    entry *e = entry_of(node);
    e->op->reg_entry = NULL;
    if (e->live) e->op = NULL; /* holds no reference */
  }
  pthread_mutex_unlock(&mu);
  while ((node = cx__list_first(&all)) != NULL) {
    entry *e = entry_of(node);
    cx__list_remove(node);
    cx_op_unref(e->op);
    cx__free(e);
  }
}

/* ---- fork: hold the lock across fork() so the child's copy is whole. */

static void fork_prepare(void) { pthread_mutex_lock(&mu); }
static void fork_parent(void) { pthread_mutex_unlock(&mu); }
static void fork_child(void) { pthread_mutex_init(&mu, NULL); }

static const cx__fork_hooks fork_hooks = {fork_prepare, fork_parent,
                                          fork_child};

/* Registered when the library is loaded, before any op can hold the lock. */
__attribute__((constructor)) static void register_fork_hooks(void) {
  cx__fork_register(&fork_hooks);
}
