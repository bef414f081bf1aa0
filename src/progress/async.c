/* src/progress/async.c - progress callbacks that run off the reporting
 * thread (cx_op_on_progress_async): each callback has a queue holding the
 * latest report of every op that reported since its last call (a
 * conflated channel per reporter, as the event stream coalesces progress
 * per op) and a delivery thread of its own that runs while there is work.
 *
 * A report copies its message and metadata into a record, or into that
 * reporter's record still queued (in place: cx__meta_assign()), under the
 * callback's lock; the reporter never waits for the callback, only for
 * another reporter's copy or the thread's dequeue.  The thread starts
 * with the first report queued while none runs and ends after LINGER_NS
 * without reports, or once the owner op is gone and the queue is
 * drained.
 *
 * Ownership: the owner op (through its progress callback entry) and the
 * delivery thread each hold the delivery; the op's free closes it and
 * never waits: whichever of the two lets go last runs destroy and frees
 * it, so destroy runs once, after the last call of the callback.
 *
 * Locks (the list, then one delivery's queue) are leaves, taken with no
 * other library lock held, as the event stream's; fork() holds them all
 * (fork.h), and the child starts with no delivery thread and without the
 * reports that the parent was still to deliver. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "progress/progress.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/compiler.h"
#include "runtime/fork.h"
#include "runtime/list.h"
#include "runtime/thread.h"

#define HASH_NONFATAL_OOM 1
#define uthash_malloc(sz) cx__malloc(sz)
#define uthash_free(ptr, sz) cx__free(ptr)
#define uthash_nonfatal_oom(obj) (hash_oom = true)
static _Thread_local bool hash_oom; /* the last add could not grow */
#include <uthash.h>

/* An idle delivery thread ends after this long without a report. */
#define LINGER_NS (2 * CX__NS_PER_SEC)

/* A queued report: the latest of one reporter. */
typedef struct record {
  cx__list node;     /* in the queue, oldest first */
  UT_hash_handle hh; /* in the table, by op_id */
  char *message;     /* (owned) */
  cx_meta *meta;     /* (owned) */
  size_t id_len;
  char op_id[]; /* the reporter's id */
} record;

struct cx__progress_async {
  cx__list link;           /* in deliveries; guarded by list_mu */
  cx_progress_fn fn;       /* immutable */
  void *user_data;         /* immutable */
  void (*destroy)(void *); /* immutable (nullable) */
  char *owner;             /* immutable (owned): the op's name, for logs */
  pthread_mutex_t mu;      /* guards what follows */
  pthread_cond_t wake;     /* a report was queued, or closed */
  cx__list queue;          /* records, oldest first */
  record *table;           /* the same records, by reporter id */
  bool running;            /* a delivery thread runs or is starting */
  bool waiting;            /* it waits on wake */
  bool closed;             /* the owner op is gone */
  bool stale;              /* fork child: the queue is the parent's */
};

static pthread_mutex_t list_mu = PTHREAD_MUTEX_INITIALIZER;
static cx__list deliveries = {&deliveries, &deliveries}; /* guarded by
                                                            list_mu */

/* ---- records */

static void record_free(record *r) {
  if (r == NULL) return;
  cx__free(r->message);
  cx_meta_free(r->meta);
  cx__free(r);
}

/* A copy of a report; NULL when out of memory. */
static record *record_new(const char *op_id, const char *message,
                          const cx_meta *meta) {
  size_t len = strlen(op_id);
  record *r = cx__calloc(1, sizeof *r + len + 1);
  if (r == NULL) return NULL;
  memcpy(r->op_id, op_id, len + 1);
  r->id_len = len;
  r->message = cx__strdup(message);
  r->meta = cx_meta_copy(meta);
  if (r->message == NULL || r->meta == NULL) {
    record_free(r);
    return NULL;
  }
  return r;
}

static void free_all(cx__list *list) {
  cx__list *node;
  while ((node = cx__list_first(list)) != NULL) {
    cx__list_remove(node);
    record_free(cx__container_of(node, record, node));
  }
}

/* Moves every queued record to @garbage (freed by the caller, unlocked). */
static void take_all_locked(cx__progress_async *a, cx__list *garbage) {
  HASH_CLEAR(hh, a->table);
  cx__list_move_all(&a->queue, garbage);
}

/* In a fork child, drops the reports that the parent delivers. */
static void settle_fork_locked(cx__progress_async *a, cx__list *garbage) {
  if (!a->stale) return;
  take_all_locked(a, garbage);
  a->stale = false;
}

/* ---- life cycle */

cx__progress_async *cx__progress_async_new(cx_progress_fn fn, void *user_data,
                                           void (*destroy)(void *),
                                           const char *owner) {
  cx__progress_async *a = cx__calloc(1, sizeof *a);
  if (a == NULL) return NULL;
  a->owner = cx__strdup(owner != NULL ? owner : "");
  if (a->owner == NULL) {
    cx__free(a);
    return NULL;
  }
  a->fn = fn;
  a->user_data = user_data;
  a->destroy = destroy;
  cx__list_init(&a->queue);
  pthread_mutex_init(&a->mu, NULL);
  pthread_cond_init(&a->wake, NULL);
  pthread_mutex_lock(&list_mu);
  cx__list_append(&deliveries, &a->link);
  pthread_mutex_unlock(&list_mu);
  return a;
}

/* Frees @a, with its queue: the caller is the last holder.  @notify: run
 * destroy (false only for a delivery never handed to an op). */
static void async_free(cx__progress_async *a, bool notify) {
  pthread_mutex_lock(&list_mu);
  cx__list_remove(&a->link);
  pthread_mutex_unlock(&list_mu);
  HASH_CLEAR(hh, a->table);
  free_all(&a->queue);
  if (notify && a->destroy != NULL) a->destroy(a->user_data);
  pthread_cond_destroy(&a->wake);
  pthread_mutex_destroy(&a->mu);
  cx__free(a->owner);
  cx__free(a);
}

void cx__progress_async_discard(cx__progress_async *a) {
  if (a != NULL) async_free(a, false);
}

/* ---- delivery */

static void *deliver_main(void *arg) {
  cx__progress_async *a = arg;
  bool last;
  pthread_mutex_lock(&a->mu);
  for (;;) {
    int64_t idle_until = cx__add_saturated(cx__mono_ns(), LINGER_NS);
    cx__list *node;
    record *r;
    int rc;
    while (cx__list_empty(&a->queue) && !a->closed) {
      struct timespec ts = cx__deadline_to_realtime(idle_until);
      a->waiting = true;
      rc = pthread_cond_timedwait(&a->wake, &a->mu, &ts);
      a->waiting = false;
      if (rc == ETIMEDOUT && cx__mono_ns() >= idle_until) break;
    }
    node = cx__list_first(&a->queue);
    if (node == NULL) break; /* idle too long, or closed and drained */
    r = cx__container_of(node, record, node);
    cx__list_remove(node);
    HASH_DELETE(hh, a->table, r);
    pthread_mutex_unlock(&a->mu);
    rc = a->fn(r->op_id, r->message, r->meta, a->user_data);
    if (rc != 0)
      cx__log(CX_LOG_WARNING, r->op_id,
              "async progress callback of '%s' failed (%d); later reports "
              "still reach it",
              a->owner, rc);
    record_free(r);
    pthread_mutex_lock(&a->mu);
  }
  a->running = false;
  last = a->closed;
  pthread_mutex_unlock(&a->mu);
  if (last) async_free(a, true);
  return NULL;
}

/* Starts the delivery thread that the caller claimed (running set).  On
 * failure the claim is undone and the queue stays for a later start. */
static int start_thread(cx__progress_async *a) {
  int rc = cx__thread_spawn(NULL, deliver_main, a);
  if (rc == 0) return 0;
  pthread_mutex_lock(&a->mu);
  a->running = false;
  pthread_mutex_unlock(&a->mu);
  return rc;
}

/* Updates @r, still queued, to a newer report: in place (no allocation
 * when the message and the metadata's keys and strings are unchanged, the
 * usual case of a reporter that got ahead of its callback).  0 or -ENOMEM
 * (then @r unchanged). */
static int refresh_locked(record *r, const char *message, const cx_meta *meta) {
  char *m = NULL;
  if (strcmp(r->message, message) != 0 && (m = cx__strdup(message)) == NULL)
    return -ENOMEM;
  if (cx__meta_assign(r->meta, meta) != 0) {
    cx__free(m);
    return -ENOMEM;
  }
  if (m != NULL) {
    cx__free(r->message);
    r->message = m;
  }
  return 0;
}

/* Queues @r, or moves @older (@r's reporter's record still queued) to the
 * tail with @r's contents, @r then going to @garbage.  False when the
 * table cannot take @r (out of memory). */
static bool queue_locked(cx__progress_async *a, record *r, cx__list *garbage) {
  record *older;
  HASH_FIND(hh, a->table, r->op_id, r->id_len, older);
  if (older != NULL) {
    char *m = older->message;
    cx_meta *md = older->meta;
    older->message = r->message;
    older->meta = r->meta;
    r->message = m;
    r->meta = md;
    cx__list_remove(&older->node);
    cx__list_append(&a->queue, &older->node);
    cx__list_append(garbage, &r->node);
    return true;
  }
  hash_oom = false;
  HASH_ADD_KEYPTR(hh, a->table, r->op_id, r->id_len, r);
  if (hash_oom) return false; /* not even the table */
  cx__list_append(&a->queue, &r->node);
  return true;
}

/* After a report was queued: true when the caller must start the thread
 * (claimed); otherwise wakes it if it waits. */
static bool kick_locked(cx__progress_async *a) {
  if (!a->running) return a->running = true;
  if (a->waiting) pthread_cond_signal(&a->wake);
  return false;
}

int cx__progress_async_post(cx__progress_async *a, const char *op_id,
                            const char *message, const cx_meta *meta) {
  const char *id = op_id != NULL ? op_id : "";
  size_t len = strlen(id);
  record *r = NULL, *older;
  cx__list garbage;
  bool start, queued = false;
  int rc;
  cx__list_init(&garbage);
  pthread_mutex_lock(&a->mu);
  settle_fork_locked(a, &garbage);
  /* Fast path: that reporter's report is still queued (the callback is
   * behind): update it in place. */
  HASH_FIND(hh, a->table, id, len, older);
  if (older != NULL && refresh_locked(older, message, meta) == 0) {
    cx__list_remove(&older->node);
    cx__list_append(&a->queue, &older->node);
    queued = true;
  }
  if (!queued) {
    pthread_mutex_unlock(&a->mu);
    r = record_new(id, message, meta); /* the copy, unlocked */
    if (r == NULL) goto oom;
    pthread_mutex_lock(&a->mu);
    settle_fork_locked(a, &garbage);
    if (!queue_locked(a, r, &garbage)) {
      pthread_mutex_unlock(&a->mu);
      free_all(&garbage);
      record_free(r);
      goto oom;
    }
  }
  start = kick_locked(a);
  pthread_mutex_unlock(&a->mu);
  free_all(&garbage);
  if (start && (rc = start_thread(a)) != 0)
    cx__log(CX_LOG_WARNING, op_id,
            "async progress callback of '%s': no delivery thread (%d); the "
            "report waits for the next one",
            a->owner, rc);
  return 0;
oom:
  cx__log(CX_LOG_WARNING, op_id,
          "async progress callback of '%s' misses a report: out of memory",
          a->owner);
  return -ENOMEM;
}

void cx__progress_async_close(cx__progress_async *a) {
  cx__list garbage;
  bool drain;
  int rc;
  cx__list_init(&garbage);
  pthread_mutex_lock(&a->mu);
  a->closed = true;
  settle_fork_locked(a, &garbage);
  if (a->running) { /* the thread drains the queue and frees */
    if (a->waiting) pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->mu);
    free_all(&garbage);
    return;
  }
  /* Reports still queued (no thread could start): a thread delivers them
   * now, so that the last report still arrives and this call never waits
   * for the callback. */
  drain = !cx__list_empty(&a->queue);
  if (drain) a->running = true;
  pthread_mutex_unlock(&a->mu);
  free_all(&garbage);
  if (drain) {
    rc = cx__thread_spawn(NULL, deliver_main, a);
    if (rc == 0) return;
    cx__log(CX_LOG_WARNING, NULL,
            "async progress callback of '%s': no delivery thread (%d); its "
            "last reports are dropped",
            a->owner, rc);
  }
  async_free(a, true);
}

/* ---- fork: the child has no delivery thread.  A delivery whose op is
 * alive there starts a new thread with the child's next report; the
 * reports queued at the fork are the parent's to deliver.  A delivery
 * whose op the parent had already freed (its thread was draining it) has
 * no holder in the child: it stays listed, never delivered nor destroyed
 * there. */

static void fork_prepare(void) {
  cx__list *node;
  pthread_mutex_lock(&list_mu);
  cx__list_for_each(node, &deliveries)
      pthread_mutex_lock(&cx__container_of(node, cx__progress_async, link)->mu);
}

static void fork_parent(void) {
  cx__list *node;
  cx__list_for_each(node, &deliveries) pthread_mutex_unlock(
      &cx__container_of(node, cx__progress_async, link)->mu);
  pthread_mutex_unlock(&list_mu);
}

static void fork_child(void) {
  cx__list *node;
  cx__list_for_each(node, &deliveries) {
    cx__progress_async *a = cx__container_of(node, cx__progress_async, link);
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->wake, NULL); /* its waiter is not here */
    a->running = false;
    a->waiting = false;
    a->stale = !cx__list_empty(&a->queue);
  }
  pthread_mutex_init(&list_mu, NULL);
}

static const cx__fork_hooks fork_hooks = {fork_prepare, fork_parent,
                                          fork_child};

__attribute__((constructor)) static void register_fork_hooks(void) {
  cx__fork_register(&fork_hooks);
}
