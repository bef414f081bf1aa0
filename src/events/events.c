/* src/events/events.c - the process-wide event stream (cancelable/events.h).
 * It follows ops through their lifecycle events (op/events.h) and a cancel
 * callback per running op, made only while someone subscribes.  Each
 * subscription has a bounded queue (a list of owned records) and a
 * delivery thread; producers copy what an event needs into a record under
 * the subscription's lock and never wait for the subscriber.  The
 * sequence number is taken under the subscriptions lock, so every queue
 * receives events in sequence order. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <cancelable/events.h>

#include "op/events.h"
#include "op/op.h"
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

#define DEFAULT_CAPACITY 1024
#define MAX_CAPACITY ((size_t)1 << 20)
/* How long the delivery thread looks for more events, unsignalled, after
 * a delivery (ns). */
#define LINGER_NS INT64_C(1000000)

/* A queued event: the public view plus the storage it points into. */
typedef struct record {
  cx__list node;     /* in the subscription's queue */
  UT_hash_handle hh; /* PROGRESS: in the subscription's pending table */
  cx_event ev;       /* strings below; metadata owned */
  const cx_op *op;   /* PROGRESS: the key (never followed) */
  const cx_op *gone; /* EXITED: the op, whose pending entry it ends (the
                        address may be reused by a new op) */
  bool hashed;       /* in the pending table */
  char *op_id, *name, *parent_id, *message;
  cx_meta *meta;
} record;

struct cx_subscription {
  cx__list link; /* in subs; guarded by subs_mu */
  cx_event_fn fn;
  void *user_data;
  void (*destroy)(void *);
  size_t capacity;
  pthread_mutex_t mu;  /* guards what follows */
  pthread_cond_t wake; /* an event was queued, or stop */
  cx__list queue;      /* records, oldest first */
  record *pending;     /* the queued PROGRESS records, by op */
  size_t queued;
  uint64_t lost;  /* dropped since the last delivered event */
  bool sleeping;  /* the thread waits for a signal (not lingering) */
  bool stop;      /* unsubscribed */
  bool self_stop; /* unsubscribed from inside fn: the thread ends */
  bool orphaned;  /* in a fork child: its thread was the parent's */
  pthread_t thread;
};

static pthread_mutex_t subs_mu = PTHREAD_MUTEX_INITIALIZER;
static cx__list subs = {&subs, &subs}; /* guarded by subs_mu */
static uint64_t seq;                   /* guarded by subs_mu */
static _Atomic int nsubs;              /* (atomic) subscriptions */
static _Atomic bool observing;         /* (atomic) observer registered */

/* ---- records */

static void record_free(record *r) {
  if (r == NULL) return;
  cx__free(r->op_id);
  cx__free(r->name);
  cx__free(r->parent_id);
  cx__free(r->message);
  cx_meta_free(r->meta);
  cx__free(r);
}

/* Copies @s (NULL stays NULL); false when out of memory. */
static bool dup_into(char **to, const char *s) {
  *to = s != NULL ? cx__strdup(s) : NULL;
  return s == NULL || *to != NULL;
}

/* Copies the strings and metadata into @r and points its event at them;
 * false when out of memory (then record_free(@r)). */
static bool record_fill(record *r, const char *op_id, const char *name,
                        const char *parent_id, const char *message,
                        const cx_meta *meta) {
  if (!dup_into(&r->op_id, op_id) || !dup_into(&r->name, name) ||
      !dup_into(&r->parent_id, parent_id) || !dup_into(&r->message, message) ||
      (meta != NULL && (r->meta = cx_meta_copy(meta)) == NULL))
    return false;
  r->ev.op_id = r->op_id;
  r->ev.name = r->name;
  r->ev.parent_id = r->parent_id;
  r->ev.message = r->message;
  r->ev.metadata = r->meta;
  return true;
}

/* A record of @kind for @op; NULL when out of memory. */
static record *record_new(cx_event_kind kind, cx_op *op, const char *message,
                          const cx_meta *meta) {
  record *r = cx__calloc(1, sizeof *r);
  if (r == NULL) return NULL;
  r->ev.kind = kind;
  r->ev.time = cx__wall_now();
  r->ev.status = cx_op_status(op);
  if (kind == CX_EVENT_PROGRESS) r->op = op;
  if (kind == CX_EVENT_EXITED) r->gone = op;
  if (kind == CX_EVENT_CANCELLED || kind == CX_EVENT_EXITED)
    r->ev.reason = cx_op_cancel_reason(op);
  if (kind == CX_EVENT_EXITED) r->ev.error = cx_op_error(op);
  if (!record_fill(r, cx_op_id(op), cx_op_name(op), cx_op_parent_id(op),
                   message, meta)) {
    record_free(r);
    return NULL;
  }
  return r;
}

/* Another subscription's copy of @from; NULL when out of memory. */
static record *record_copy(const record *from) {
  record *r = cx__calloc(1, sizeof *r);
  if (r == NULL) return NULL;
  r->ev = from->ev;
  r->op = from->op;
  r->gone = from->gone;
  if (!record_fill(r, from->op_id, from->name, from->parent_id, from->message,
                   from->meta)) {
    record_free(r);
    return NULL;
  }
  return r;
}

/* ---- queues */

/* Takes @r out of @sub's queue (and its pending table). */
static void dequeue_locked(cx_subscription *sub, record *r) {
  cx__list_remove(&r->node);
  sub->queued--;
  if (r->hashed) HASH_DELETE(hh, sub->pending, r);
  r->hashed = false;
}

/* Puts @r at the tail of @sub's queue (a PROGRESS record also in its
 * pending table: when the table cannot grow it is just not coalesced). */
static void append_locked(cx_subscription *sub, record *r) {
  cx__list_append(&sub->queue, &r->node);
  sub->queued++;
  if (r->op != NULL) {
    hash_oom = false;
    HASH_ADD_PTR(sub->pending, op, r);
    r->hashed = !hash_oom;
  }
}

/* Counts @n events lost at the tail of @sub's queue: a GAP record there
 * (the one already at the tail, or a new one, which may go one past the
 * capacity), so the gap is delivered where the events were lost; when not
 * even that can be allocated, before the next event delivered. */
static void lose_locked(cx_subscription *sub, uint64_t n) {
  cx__list *last = sub->queue.prev;
  record *gap =
      last != &sub->queue ? cx__container_of(last, record, node) : NULL;
  if (gap == NULL || gap->ev.kind != CX_EVENT_GAP) {
    gap = cx__calloc(1, sizeof *gap);
    if (gap == NULL) {
      sub->lost += n;
      pthread_cond_signal(&sub->wake);
      return;
    }
    gap->ev.kind = CX_EVENT_GAP;
    gap->ev.time = cx__wall_now();
    append_locked(sub, gap);
  }
  gap->ev.lost += n;
  pthread_cond_signal(&sub->wake);
}

/* Queues @r (owned) on @sub, or drops it and counts the loss.  A progress
 * record replaces the op's older one still queued, which leaves the queue
 * (coalescing is no loss). */
static void enqueue(cx_subscription *sub, record *r) {
  record *older = NULL, *pending = NULL;
  pthread_mutex_lock(&sub->mu);
  if (sub->stop) {
    pthread_mutex_unlock(&sub->mu);
    record_free(r);
    return;
  }
  if (r->op != NULL) {
    HASH_FIND_PTR(sub->pending, &r->op, older);
    if (older != NULL) dequeue_locked(sub, older);
  }
  if (r->gone != NULL) { /* its last progress stays, but leaves the table */
    HASH_FIND_PTR(sub->pending, &r->gone, pending);
    if (pending != NULL) {
      HASH_DELETE(hh, sub->pending, pending);
      pending->hashed = false;
    }
  }
  if (sub->queued >= sub->capacity) {
    lose_locked(sub, 1);
    pthread_mutex_unlock(&sub->mu);
    record_free(r);
    record_free(older);
    return;
  }
  append_locked(sub, r);
  if (sub->sleeping) pthread_cond_signal(&sub->wake); /* else it looks */
  pthread_mutex_unlock(&sub->mu);
  record_free(older);
}

/* Gives @r a sequence number and a copy to every subscription (the last
 * one gets @r itself); a subscription that cannot get a copy (out of
 * memory) counts it lost. */
static void publish(record *r) {
  cx__list *node;
  pthread_mutex_lock(&subs_mu);
  r->ev.seq = ++seq;
  cx__list_for_each(node, &subs) {
    cx_subscription *sub = cx__container_of(node, cx_subscription, link);
    record *mine = node->next == &subs ? r : record_copy(r);
    if (mine == r) r = NULL;
    if (mine != NULL) {
      enqueue(sub, mine);
    } else {
      pthread_mutex_lock(&sub->mu);
      lose_locked(sub, 1);
      pthread_mutex_unlock(&sub->mu);
    }
  }
  pthread_mutex_unlock(&subs_mu);
  record_free(r); /* no subscription any more */
}

/* Makes and publishes an event of @op; an event that cannot be made (out
 * of memory) is counted lost by every subscription. */
static void emit(cx_event_kind kind, cx_op *op, const char *message,
                 const cx_meta *meta) {
  record *r;
  if (atomic_load_explicit(&nsubs, memory_order_relaxed) == 0) return;
  r = record_new(kind, op, message, meta);
  if (r == NULL) {
    cx__list *node;
    pthread_mutex_lock(&subs_mu);
    ++seq;
    cx__list_for_each(node, &subs) {
      cx_subscription *sub = cx__container_of(node, cx_subscription, link);
      pthread_mutex_lock(&sub->mu);
      lose_locked(sub, 1);
      pthread_mutex_unlock(&sub->mu);
    }
    pthread_mutex_unlock(&subs_mu);
    return;
  }
  publish(r);
}

/* ---- the op observer */

/* cx_op.events_state: a followed op's cancel is told once, before its
 * exit, whichever of its cancel callback and its exit gets there first. */
enum {
  FOLLOW_NONE = 0, /* entered with no subscriber */
  FOLLOW_LIVE = 1, /* followed, cancel not told */
  FOLLOW_TELLING,  /* a thread is telling the cancel */
  FOLLOW_TOLD,     /* told */
  FOLLOW_EXITING   /* exiting: a late callback stays silent */
};

/* Tells @op's cancel if nobody has yet. */
static void tell_cancel(cx_op *op) {
  int expected = FOLLOW_LIVE;
  if (!atomic_compare_exchange_strong(&op->events_state, &expected,
                                      FOLLOW_TELLING))
    return;
  emit(CX_EVENT_CANCELLED, op, cx_op_cancel_message(op), NULL);
  atomic_store(&op->events_state, FOLLOW_TOLD);
}

static int on_cancel(cx_token *token, void *user_data) {
  (void)token;
  tell_cancel(user_data);
  return 0;
}

static void release_op(void *op) { cx_op_unref(op); }

static void on_entered(cx_op *op) {
  if (atomic_load_explicit(&nsubs, memory_order_relaxed) == 0) return;
  emit(CX_EVENT_ENTERED, op, NULL, NULL);
  atomic_store(&op->events_state, FOLLOW_LIVE);
  /* Already cancelled: the exit tells it. */
  if (cx_token_on_cancel(op->token, on_cancel, cx_op_ref(op), release_op,
                         CX_CALLBACK_NO_RUN_IF_CANCELLED, &op->events_cb) != 0)
    cx_op_unref(op);
}

/* The exit's waiters may wake (phase 1 of the cancel) before the cancel's
 * callbacks run (phase 2): the exit tells the cancel itself then, or waits
 * for the thread that is telling it (an enqueue), so CANCELLED always comes
 * before EXITED, and once. */
static void on_exiting(cx_op *op) {
  cx_callback *cb = op->events_cb;
  if (atomic_load(&op->events_state) == FOLLOW_NONE) return;
  if (cx_op_is_cancelled(op)) tell_cancel(op);
  while (atomic_load(&op->events_state) == FOLLOW_TELLING) sched_yield();
  atomic_store(&op->events_state, FOLLOW_EXITING);
  op->events_cb = NULL;
  /* Never waits: a late callback finds FOLLOW_EXITING and stays silent. */
  if (cb != NULL) cx_callback_unregister_nowait(cb);
}

static void on_exited(cx_op *op) {
  emit(
      CX_EVENT_EXITED, op,
      cx_op_status(op) == CX_STATUS_CANCELLED ? cx_op_cancel_message(op) : NULL,
      NULL);
}

static void on_progressed(cx_op *op, const char *message, const cx_meta *meta) {
  emit(CX_EVENT_PROGRESS, op, message, meta);
}

static const cx__op_observer observer = {.entered = on_entered,
                                         .exiting = on_exiting,
                                         .exited = on_exited,
                                         .progressed = on_progressed};

/* ---- delivery */

static void subscription_free(cx_subscription *sub) {
  cx__list *node;
  while ((node = cx__list_first(&sub->queue)) != NULL) {
    record *r = cx__container_of(node, record, node);
    dequeue_locked(sub, r);
    record_free(r);
  }
  if (sub->destroy != NULL) sub->destroy(sub->user_data);
  pthread_cond_destroy(&sub->wake);
  pthread_mutex_destroy(&sub->mu);
  cx__free(sub);
}

/* Delivers a GAP event for @lost events, outside the lock. */
static void deliver_gap(cx_subscription *sub, uint64_t lost) {
  cx_event gap;
  memset(&gap, 0, sizeof gap);
  gap.kind = CX_EVENT_GAP;
  gap.time = cx__wall_now();
  gap.lost = lost;
  sub->fn(&gap, sub->user_data);
}

/* Waits with @sub->mu held until @sub has work or stops.  Having just
 * delivered, the thread first lingers (LINGER_NS, looking again without
 * being signalled) before it sleeps until signalled: while events flow, a
 * reporter pays no wake-up (a futex call, most of a report's cost with a
 * subscriber), at the price of up to LINGER_NS of latency. */
static void wait_for_work(cx_subscription *sub, bool *lingered) {
  while (!sub->stop && cx__list_empty(&sub->queue) && sub->lost == 0) {
    if (!*lingered) {
      *lingered = true;
      (void)cx__cond_wait_deadline(&sub->wake, &sub->mu,
                                   cx__mono_ns() + LINGER_NS);
      continue;
    }
    sub->sleeping = true;
    pthread_cond_wait(&sub->wake, &sub->mu);
    sub->sleeping = false;
  }
  *lingered = false;
}

static void *deliver_main(void *arg) {
  cx_subscription *sub = arg;
  bool lingered = true; /* nothing delivered yet: sleep at once */
  pthread_mutex_lock(&sub->mu);
  for (;;) {
    cx__list *node;
    uint64_t lost;
    wait_for_work(sub, &lingered);
    if (sub->stop) break;
    node = cx__list_first(&sub->queue);
    if (node != NULL) dequeue_locked(sub, cx__container_of(node, record, node));
    lost = sub->lost;
    sub->lost = 0;
    pthread_mutex_unlock(&sub->mu);
    if (lost != 0) deliver_gap(sub, lost);
    if (node != NULL) {
      record *r = cx__container_of(node, record, node);
      sub->fn(&r->ev, sub->user_data);
      record_free(r);
    }
    pthread_mutex_lock(&sub->mu);
    pthread_cond_broadcast(&sub->wake);
  }
  if (sub->self_stop) {
    /* Unsubscribed from inside fn: nobody joins this thread. */
    pthread_mutex_unlock(&sub->mu);
    subscription_free(sub);
    return NULL;
  }
  pthread_mutex_unlock(&sub->mu);
  return NULL;
}

int cx_events_subscribe(cx_subscription **out, cx_event_fn fn, void *user_data,
                        void (*destroy)(void *), size_t capacity) {
  cx_subscription *sub;
  int rc;
  if (out != NULL) *out = NULL;
  if (fn == NULL || out == NULL || capacity > MAX_CAPACITY) return -EINVAL;
  if (!atomic_load(&observing)) {
    rc = cx__op_observe(&observer);
    if (rc != 0) return rc;
    atomic_store(&observing, true);
  }
  sub = cx__calloc(1, sizeof *sub);
  if (sub == NULL) return -ENOMEM;
  cx__list_init(&sub->link);
  sub->fn = fn;
  sub->user_data = user_data;
  sub->destroy = destroy;
  sub->capacity = capacity != 0 ? capacity : DEFAULT_CAPACITY;
  cx__list_init(&sub->queue);
  pthread_mutex_init(&sub->mu, NULL);
  pthread_cond_init(&sub->wake, NULL);
  rc = cx__thread_spawn_joinable(&sub->thread, deliver_main, sub);
  if (rc != 0) {
    sub->destroy = NULL;
    subscription_free(sub);
    return rc == -ENOMEM ? -ENOMEM : -EAGAIN;
  }
  pthread_mutex_lock(&subs_mu);
  cx__list_append(&subs, &sub->link);
  atomic_fetch_add(&nsubs, 1);
  cx__op_watch_progress(+1);
  pthread_mutex_unlock(&subs_mu);
  *out = sub;
  return 0;
}

int cx_events_unsubscribe(cx_subscription *sub) {
  bool inside;
  if (sub == NULL) return -EINVAL;
  pthread_mutex_lock(&subs_mu);
  if (cx__list_linked(&sub->link)) {
    cx__list_remove(&sub->link);
    atomic_fetch_sub(&nsubs, 1);
    cx__op_watch_progress(-1);
  }
  pthread_mutex_unlock(&subs_mu);
  if (sub->orphaned) { /* a parent's, in a fork child: no thread to stop */
    subscription_free(sub);
    return 0;
  }
  inside = pthread_equal(pthread_self(), sub->thread);
  pthread_mutex_lock(&sub->mu);
  sub->stop = true;
  sub->self_stop = inside;
  pthread_cond_broadcast(&sub->wake);
  pthread_mutex_unlock(&sub->mu);
  if (inside) {
    pthread_detach(sub->thread);
    return 0; /* the thread frees it after fn returns */
  }
  pthread_join(sub->thread, NULL);
  subscription_free(sub);
  return 0;
}

/* ---- fork: the child has no delivery thread, so no subscription; a
 * parent's handle may still be unsubscribed there (it is only freed). */

/* Every queue is whole in the child: its lock is held across the fork. */
static void fork_prepare(void) {
  cx__list *node;
  pthread_mutex_lock(&subs_mu);
  cx__list_for_each(node, &subs)
      pthread_mutex_lock(&cx__container_of(node, cx_subscription, link)->mu);
}

static void fork_parent(void) {
  cx__list *node;
  cx__list_for_each(node, &subs)
      pthread_mutex_unlock(&cx__container_of(node, cx_subscription, link)->mu);
  pthread_mutex_unlock(&subs_mu);
}
static void fork_child(void) {
  cx__list *node;
  while ((node = cx__list_first(&subs)) != NULL) {
    cx_subscription *sub = cx__container_of(node, cx_subscription, link);
    cx__list_remove(node);
    pthread_mutex_init(&sub->mu, NULL);
    pthread_cond_init(&sub->wake, NULL); /* its waiter is not here */
    sub->orphaned = true;
    atomic_fetch_sub(&nsubs, 1);
    cx__op_watch_progress(-1);
  }
  pthread_mutex_init(&subs_mu, NULL);
}

static const cx__fork_hooks fork_hooks = {fork_prepare, fork_parent,
                                          fork_child};

__attribute__((constructor)) static void register_fork_hooks(void) {
  cx__fork_register(&fork_hooks);
}

const char *cx_event_kind_name(cx_event_kind kind) {
  switch (kind) {
    case CX_EVENT_ENTERED:
      return "entered";
    case CX_EVENT_PROGRESS:
      return "progress";
    case CX_EVENT_CANCELLED:
      return "cancelled";
    case CX_EVENT_EXITED:
      return "exited";
    case CX_EVENT_GAP:
      return "gap";
  }
  return "unknown";
}
