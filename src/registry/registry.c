/* src/registry/registry.c - the process-wide registry of live operations
 * and bounded history of finished ones.
 *
 * Registering an op costs no allocation, no id and no lock shared by the
 * whole process: the op links its own node (cx_op.reg_node) into the live
 * list of a shard, one of SHARDS, each with its own lock, given out to
 * threads in turn (an op exits on the thread that entered it, so both
 * steps find the same shard, and two threads never meet).  At exit the op
 * moves to its shard's list of finished ops ("done"); every FLUSH_BATCH
 * of them, and before any query, they move into the history (a ring of
 * records, history.c) under its own mutex, which then drops the oldest
 * beyond the bound, setting aside those of other shards for their own
 * threads to free (see handback).  The index by id is
 * made by the first lookup by id and kept from then on (a registration
 * then makes the op's id); ids are otherwise made when asked for.
 *
 * Order: a shard's lists keep the order of its registrations (live,
 * oldest first) and exits (done, newest first); queries merge the shards
 * by start time (live) and the history by end time, never reordering two
 * ops of one shard, so ops of one thread are listed exactly in the order
 * they registered and exited.
 *
 * Locks, outermost first: the index's build mutex (index_build_mu, a
 * lookup's), the fork gate, the shards' word locks
 * (ascending), the history's mutex, the index stripes' (under which a
 * lookup takes only ops' stripes, to read their times).  User code (cancel
 * callbacks, destroy notifies, log handlers, predicates) never runs under any
 * of them: queries and cancels copy references out first, and dropped ops are
 * released after the locks. */
#include <string.h>

#include <cancelable/registry.h>

#include "base/base.h"
#include "op/op.h"
#include "registry/registry.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/fork.h"
#include "runtime/list.h"
#include "runtime/sync.h"
#include "runtime/thread.h"

enum {
  SHARDS = 16,      /* live lists; at most 256 (cx_op.reg_shard) */
  FLUSH_BATCH = 32, /* finished ops a shard gathers before the history */
  STRIPES = 16      /* locks of the index by id */
};

/* Where an op's reg_node is (cx_op.reg_where).  A live op holds no
 * reference of the registry's: the op's enter holds one until after the
 * exit's *exited* event, which moves it out of the live list, so the op
 * outlives its live entry (and a user's last cx_op_unref() of a running
 * op leaves the enter's the only one, which the op layer detects as a
 * forgotten cx_op_exit()).  A finished op (done or history) holds one. */
enum { REG_NONE, REG_LIVE, REG_DONE, REG_HISTORY };

typedef struct shard {
  _Alignas(64) cx__lock lock; /* a word lock (see gate_lock_shard) on a
                                 cache line of its own */
  cx__list live;              /* guarded by mu: oldest first */
  size_t live_count;          /* guarded by mu */
  cx__list done;      /* guarded by mu: finished, newest first, not yet in
                         the history (references) */
  size_t done_count;  /* guarded by mu */
  uint64_t completed; /* guarded by mu: the finished counts */
  uint64_t cancelled;
  uint64_t failed;
  uint64_t by_reason[8];
  double completed_s; /* guarded by mu: the COMPLETED ops' durations, in
                         seconds (a sum of ns would overflow: 292 years) */
} shard;

#define SHARD_INIT(i)                                \
  [i] = {.lock = CX__LOCK_INIT,                      \
         .live = {&shards[i].live, &shards[i].live}, \
         .done = {&shards[i].done, &shards[i].done}}
static shard shards[SHARDS] = {
    SHARD_INIT(0),  SHARD_INIT(1),  SHARD_INIT(2),  SHARD_INIT(3),
    SHARD_INIT(4),  SHARD_INIT(5),  SHARD_INIT(6),  SHARD_INIT(7),
    SHARD_INIT(8),  SHARD_INIT(9),  SHARD_INIT(10), SHARD_INIT(11),
    SHARD_INIT(12), SHARD_INIT(13), SHARD_INIT(14), SHARD_INIT(15)};
_Static_assert(SHARDS == 16 && SHARDS <= 256, "one SHARD_INIT per shard");

static pthread_mutex_t hist_mu = PTHREAD_MUTEX_INITIALIZER;
static cx__history history = CX__HISTORY_INIT; /* guarded by hist_mu */
/* Ops set aside per shard at most (then the trimming thread frees them). */
enum { HANDBACK = 4 * FLUSH_BATCH };
/* Ops that fell out of the history while a thread of another shard
 * flushed: set aside (no line of theirs written, unless the index by id is
 * on) until a thread of their own shard (the one that entered the op,
 * unless more than SHARDS threads share the shards) flushes and frees
 * them, so that an op's lines stay with that thread's CPU (X7 in
 * docs/benchmarks.md).  A full array is freed by the trimming thread, and
 * every sync_history() and stats call frees them all.  Guarded by
 * hist_mu. */
static struct {
  cx_op *ops[HANDBACK];
  size_t n;
} handback[SHARDS];
/* Set under hist_mu when the history could not grow and kept fewer ops
 * than its bound; logged by the next release_all(), after the locks. */
static _Atomic bool history_short;
/* Settings that every registration or exit reads and almost nothing
 * writes, on a cache line of their own (not beside the history's, which
 * every flush writes). */
static struct {
  _Alignas(64) _Atomic size_t history_max;
  _Atomic bool register_default;
  _Atomic bool index_on; /* see index_build() */
  _Atomic bool forking;  /* see fork_gate */
} hot = {1000, false, false, false};

/* fork(): the child's copy of the registry must be whole, but holding
 * every shard's lock across fork() would make the library hold more locks
 * at once than ThreadSanitizer follows (64).  So the prepare handler
 * closes the gate (fork_gate, held until the parent or child handler),
 * sets hot.forking, then takes and releases each shard's lock and the
 * history's: whoever takes one of them first (the outermost it takes)
 * checks hot.forking under it and, when set, releases it and waits at the
 * gate.  Once the handler has passed a lock, no critical section under it
 * is under way or can start, so the lists and the index (changed only
 * under a shard's or the history's lock) are whole at the fork. */
static pthread_mutex_t fork_gate = PTHREAD_MUTEX_INITIALIZER;

static void fork_wait(void) {
  pthread_mutex_lock(&fork_gate);
  pthread_mutex_unlock(&fork_gate);
}

/* Locks @mu, the outermost registry lock the caller takes (a shard's, or
 * the history's taken alone), once no fork() is under way. */
static void gate_lock(pthread_mutex_t *mu) {
  for (;;) {
    pthread_mutex_lock(mu);
    if (!atomic_load_explicit(&hot.forking, memory_order_relaxed)) return;
    pthread_mutex_unlock(mu);
    fork_wait();
  }
}

/* gate_lock() for a shard's lock.  A word lock (runtime/sync.h): one
 * compare-and-swap to take, one store to release, where a mutex costs
 * several times that, and a shard is nearly always its own thread's
 * alone.  Its critical sections are a few stores long, but for queries,
 * which hold every shard's while they walk the live lists (a registration
 * that meets one spins, yields, then sleeps in short steps until it ends),
 * and for the history's lock taken under it. */
static void gate_lock_shard(shard *s) {
  for (;;) {
    cx__lock_acquire(&s->lock);
    if (!atomic_load_explicit(&hot.forking, memory_order_relaxed)) return;
    cx__lock_release(&s->lock);
    fork_wait();
  }
}

/* Every shard's lock, in order, for one snapshot. */
static void lock_shards(void) {
  for (;;) {
    for (int i = 0; i < SHARDS; i++) cx__lock_acquire(&shards[i].lock);
    if (!atomic_load_explicit(&hot.forking, memory_order_relaxed)) return;
    for (int i = SHARDS - 1; i >= 0; i--) cx__lock_release(&shards[i].lock);
    fork_wait();
  }
}

/* ---- the index by id: a chained hash table per stripe, made by the first
 * lookup.  A node is in it from then until its op leaves the registry, so
 * an indexed op is alive (the enter's or the history's reference). */

typedef struct inode {
  struct inode *next; /* in its bucket */
  cx_op *op;          /* not owned */
  uint64_t hash;      /* of the op's id */
} inode;

typedef struct stripe {
  _Alignas(64) pthread_mutex_t mu;
  inode **buckets; /* guarded by mu: a power of two of them, or NULL */
  size_t nbuckets; /* guarded by mu */
  size_t count;    /* guarded by mu */
} stripe;

#define STRIPE_INIT(i) [i] = {.mu = PTHREAD_MUTEX_INITIALIZER}
static stripe stripes[STRIPES] = {
    STRIPE_INIT(0),  STRIPE_INIT(1),  STRIPE_INIT(2),  STRIPE_INIT(3),
    STRIPE_INIT(4),  STRIPE_INIT(5),  STRIPE_INIT(6),  STRIPE_INIT(7),
    STRIPE_INIT(8),  STRIPE_INIT(9),  STRIPE_INIT(10), STRIPE_INIT(11),
    STRIPE_INIT(12), STRIPE_INIT(13), STRIPE_INIT(14), STRIPE_INIT(15)};
_Static_assert(STRIPES == 16, "one STRIPE_INIT per stripe");

/* hot.index_on: whether registrations index their op: set by every
 * build (the first lookup by id's, and those after a clear or an op left
 * out), read under the shard's lock (a lookup sets it before it
 * indexes each shard under that lock, so every op is indexed by one or
 * the other); turned off by cx_registry_clear() under every lock, which
 * stops a build under way (see index_build(), and drop_locked(), which
 * relies on it). */
/* Some registration could not index its op (out of memory): the next
 * lookup builds again, which indexes the ops not indexed yet. */
static _Atomic bool index_missing;
/* The last build indexed every registered op: set by a build that ended
 * with the index still on and nothing left out (under the history's lock,
 * which cx_registry_clear() holds when it clears both), so it implies
 * index_on.  The index holds every registered op when it is set and
 * index_missing is not (index_whole()).  A lookup that finds it not whole
 * builds, or waits on index_build_mu for the build under way: seeing
 * index_on is not enough, a build may not have reached the op's shard yet.
 * Only lookups take index_build_mu, with no other lock held, and run no
 * user code under it (the build's warning is logged after it). */
static _Atomic bool index_ready;
static pthread_mutex_t index_build_mu = PTHREAD_MUTEX_INITIALIZER;

/* FNV-1a, 64 bits. */
static uint64_t hash_id(const char *id) {
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  for (; *id != '\0'; id++)
    h = (h ^ (unsigned char)*id) * UINT64_C(0x100000001b3);
  return h ^ (h >> 32);
}

static stripe *stripe_of(uint64_t hash) { return &stripes[hash % STRIPES]; }

static size_t bucket_of(const stripe *st, uint64_t hash) {
  return (size_t)(hash / STRIPES) & (st->nbuckets - 1);
}

/* Doubles @st's buckets when they are few (from 64): false only when it
 * has none and none can be made. */
static bool stripe_grow_locked(stripe *st) {
  size_t n = st->nbuckets != 0 ? st->nbuckets * 2 : 64;
  inode **b;
  if (st->nbuckets != 0 && st->count < st->nbuckets * 2) return true;
  b = cx__calloc(n, sizeof *b);
  if (b == NULL) return st->nbuckets != 0; /* longer chains */
  for (size_t i = 0; i < st->nbuckets; i++) {
    inode *node = st->buckets[i], *next;
    for (; node != NULL; node = next) {
      size_t k = (size_t)(node->hash / STRIPES) & (n - 1);
      next = node->next;
      node->next = b[k];
      b[k] = node;
    }
  }
  cx__free(st->buckets);
  st->buckets = b;
  st->nbuckets = n;
  return true;
}

/* Indexes @op (not indexed), under the lock of the list holding it: makes
 * its id if need be.  False when out of memory. */
static bool index_add_locked(cx_op *op) {
  const char *id = cx__op_id(op);
  inode *node;
  stripe *st;
  uint64_t h;
  if (id == NULL) return false;
  h = hash_id(id);
  st = stripe_of(h);
  node = cx__block_alloc(sizeof *node);
  if (node == NULL) return false;
  node->op = op;
  node->hash = h;
  pthread_mutex_lock(&st->mu);
  if (!stripe_grow_locked(st)) {
    pthread_mutex_unlock(&st->mu);
    cx__block_free(node, sizeof *node);
    return false;
  }
  node->next = st->buckets[bucket_of(st, h)];
  st->buckets[bucket_of(st, h)] = node;
  st->count++;
  pthread_mutex_unlock(&st->mu);
  op->reg_indexed = true;
  return true;
}

/* Takes @op out of the index, under the lock of the list holding it. */
static void index_remove_locked(cx_op *op) {
  uint64_t h;
  stripe *st;
  inode **p, *found = NULL;
  if (!op->reg_indexed) return;
  op->reg_indexed = false;
  h = hash_id(cx__op_id(op)); /* made when it was indexed */
  st = stripe_of(h);
  pthread_mutex_lock(&st->mu);
  for (p = &st->buckets[bucket_of(st, h)]; *p != NULL; p = &(*p)->next)
    if ((*p)->op == op) {
      found = *p;
      *p = found->next;
      st->count--;
      break;
    }
  pthread_mutex_unlock(&st->mu);
  cx__block_free(found, sizeof *found);
}

/* Empties the index (every shard's lock and the history's held). */
static void index_clear_locked(void) {
  for (int i = 0; i < STRIPES; i++) {
    stripe *st = &stripes[i];
    pthread_mutex_lock(&st->mu);
    for (size_t k = 0; k < st->nbuckets; k++) {
      inode *node = st->buckets[k], *next;
      for (; node != NULL; node = next) {
        next = node->next;
        node->op->reg_indexed = false;
        cx__block_free(node, sizeof *node);
      }
    }
    cx__free(st->buckets);
    st->buckets = NULL;
    st->nbuckets = st->count = 0;
    pthread_mutex_unlock(&st->mu);
  }
}

/* ---- lists */

static cx_op *op_of(cx__list *node) {
  return cx__container_of(node, cx_op, reg_node);
}

/* Unreferences the ops of @dropped (their destruction may run user
 * destroy notifies, which must not run under a registry lock). */
static void release_all(cx__list *dropped) {
  cx__list *node;
  if (atomic_load_explicit(&history_short, memory_order_relaxed) &&
      atomic_exchange(&history_short, false))
    cx__log(CX_LOG_WARNING, NULL,
            "registry: out of memory, the history kept fewer finished ops");
  while ((node = cx__list_first(dropped)) != NULL) {
    cx__list_remove(node);
    cx_op_unref(op_of(node));
  }
}

/* Puts @op, just taken out of the history, onto @dropped, _locked
 * (hist_mu).  Its reg_where is never read again (only an exit reads it),
 * and an op is only indexed while the index is on (added under a lock
 * that cx_registry_clear() holds when it empties the index and turns it
 * off; see index_build()): with the index off, the op's lines, which
 * another CPU may hold, are written once, for @dropped's link. */
static void drop_locked(cx_op *op, cx__list *dropped) {
  if (atomic_load_explicit(&hot.index_on, memory_order_relaxed))
    index_remove_locked(op);
  cx__list_append(dropped, &op->reg_node);
}

/* Moves the ops set aside for shard @i onto @dropped, _locked. */
static void take_back_locked(unsigned i, cx__list *dropped) {
  while (handback[i].n > 0)
    drop_locked(handback[i].ops[--handback[i].n], dropped);
}

/* Sets aside @r's op, just taken out of the history, for a thread of its
 * shard, _locked.  It leaves the index now, as a dropped op does (the op
 * is only read and written when the index is on, which is rare). */
static void hand_back_locked(cx__history_rec r, cx__list *dropped) {
  if (handback[r.shard].n == HANDBACK) take_back_locked(r.shard, dropped);
  if (atomic_load_explicit(&hot.index_on, memory_order_relaxed))
    index_remove_locked(r.op);
  handback[r.shard].ops[handback[r.shard].n++] = r.op;
}

/* Drops the oldest entries beyond the bound, _locked: onto @dropped, or
 * set aside when another shard's than @me (-1: none) made them. */
static void trim_locked(int me, cx__list *dropped) {
  size_t max = atomic_load_explicit(&hot.history_max, memory_order_relaxed);
  while (history.count > max) {
    cx__history_rec r = cx__history_pop_oldest(&history);
    if (me >= 0 && (int)r.shard != me)
      hand_back_locked(r, dropped);
    else
      drop_locked(r.op, dropped);
  }
}

/* How many of @k more records the history can take: all of them, unless
 * it cannot grow; then it drops its oldest to make room and sets *@short_,
 * _locked. */
static size_t room_locked(size_t k, cx__list *dropped, bool *short_) {
  size_t room;
  if (cx__history_reserve(&history, k)) return k;
  *short_ = true;
  while (cx__history_room(&history) < k && history.count > 0)
    drop_locked(cx__history_pop_oldest(&history).op, dropped);
  room = cx__history_room(&history);
  return room < k ? room : k;
}

/* Moves @s's finished ops into the history, then trims it; @s's lock and
 * the history's held.  Newest first by end time, but an op never passes
 * one of its own shard (exit order within a shard is kept whatever the
 * clock did).  The end times were written by the exiting threads before
 * they took @s's lock, and are never written again.  @own: the caller is
 * a thread of @s, which sets aside the other shards' ops it trims and
 * takes back its own (see handback). */
static void flush_locked(shard *s, bool own, cx__list *dropped) {
  int me = own ? (int)(s - shards) : -1;
  cx__history_rec batch[FLUSH_BATCH];
  while (s->done_count > 0) {
    /* The oldest FLUSH_BATCH first (newer ones then merge above them),
     * into @batch newest first. */
    size_t k = s->done_count < FLUSH_BATCH ? s->done_count : FLUSH_BATCH;
    size_t fit;
    bool short_ = false;
    for (size_t j = k; j-- > 0;) {
      cx_op *op = op_of(s->done.prev);
      cx__list_remove(&op->reg_node);
      op->reg_where = REG_HISTORY;
      batch[j] = (cx__history_rec){op, op->end_mono, op->reg_shard};
    }
    s->done_count -= k;
    fit = room_locked(k, dropped, &short_);
    for (size_t j = fit; j < k; j++) drop_locked(batch[j].op, dropped);
    cx__history_merge(&history, batch, fit);
    trim_locked(me, dropped);
    /* The ring could not grow and the history now holds fewer than its
     * bound (when the trim took as many anyway, nothing was lost). */
    if (short_ && history.count < atomic_load_explicit(&hot.history_max,
                                                       memory_order_relaxed))
      atomic_store(&history_short, true);
  }
  if (own) take_back_locked((unsigned)me, dropped);
}

/* Frees every op set aside, _locked. */
static void take_back_all_locked(cx__list *dropped) {
  for (unsigned i = 0; i < SHARDS; i++) take_back_locked(i, dropped);
}

/* Moves every shard's finished ops into the history, so that it holds
 * exactly the newest ones, and lets go of those set aside. */
static void sync_history(cx__list *dropped) {
  for (int i = 0; i < SHARDS; i++) {
    shard *s = &shards[i];
    gate_lock_shard(s);
    if (s->done_count > 0) {
      pthread_mutex_lock(&hist_mu);
      flush_locked(s, false, dropped);
      pthread_mutex_unlock(&hist_mu);
    }
    cx__lock_release(&s->lock);
  }
  gate_lock(&hist_mu);
  take_back_all_locked(dropped);
  pthread_mutex_unlock(&hist_mu);
}

static void unlock_shards(void) {
  for (int i = SHARDS - 1; i >= 0; i--) cx__lock_release(&shards[i].lock);
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

static shard *calling_thread_shard(void) {
  return &shards[cx__thread_slot() % SHARDS];
}

/* Adds a just-entered op to the live list of the calling thread's shard. */
static void op_registered(cx_op *op) {
  shard *s = calling_thread_shard();
  bool unindexed = false;
  watch_progress_once();
  op->reg_shard = (uint8_t)(s - shards);
  op->reg_indexed = false;
  gate_lock_shard(s);
  cx__list_append(&s->live, &op->reg_node);
  s->live_count++;
  op->reg_where = REG_LIVE;
  if (atomic_load(&hot.index_on) && !index_add_locked(op)) {
    /* Under the lock: a lookup that could list the op sees the index not
     * whole (a build clears index_missing before it takes any shard's). */
    atomic_store(&index_missing, true);
    unindexed = true;
  }
  cx__lock_release(&s->lock);
  if (unindexed) {
    cx__log(CX_LOG_WARNING, atomic_load(&op->id),
            "registry: out of memory, listed but not findable by id yet");
  }
}

/* Counts a finished op, _locked.  @ns is only read for a COMPLETED op,
 * @reason only for a CANCELLED one. */
static void count_locked(shard *s, cx_status status, int64_t ns,
                         cx_reason reason) {
  if (status == CX_STATUS_COMPLETED) {
    s->completed++;
    s->completed_s += (double)ns / 1e9;
  } else if (status == CX_STATUS_CANCELLED) {
    s->cancelled++;
    if ((unsigned)reason < sizeof s->by_reason / sizeof s->by_reason[0])
      s->by_reason[reason]++;
  } else if (status == CX_STATUS_FAILED) {
    s->failed++;
  }
}

/* Moves an op that just exited out of the live list and counts it.  The
 * exiting thread entered the op: it wrote the op's start and end times
 * and its status itself, so it reads them without the op's lock. */
static void op_unregistered(cx_op *op) {
  shard *s = &shards[op->reg_shard];
  cx__list dropped;
  cx_status status = (cx_status)atomic_load(&op->status);
  int64_t ns = op->end_mono - op->start_mono;
  cx_reason reason =
      status == CX_STATUS_CANCELLED ? cx_op_cancel_reason(op) : CX_REASON_NONE;
  size_t max;
  cx__list_init(&dropped);
  gate_lock_shard(s);
  /* Read under the shard's lock: cx_registry_set_history_size() stores
   * the bound, then flushes every shard under its lock, so an op kept
   * here on the old bound is flushed (and dropped) by it. */
  max = atomic_load_explicit(&hot.history_max, memory_order_relaxed);
  if (op->reg_where == REG_LIVE) { /* not forgotten by cx_registry_clear() */
    cx__list_remove(&op->reg_node);
    s->live_count--;
    count_locked(s, status, ns, reason);
    if (max > 0) {
      cx_op_ref(op);                                /* the history's */
      cx__list_append(s->done.next, &op->reg_node); /* first */
      op->reg_where = REG_DONE;
      /* A shard gathers fewer than min(FLUSH_BATCH, bound) finished ops
       * before they join the history: that many beyond the bound may
       * stay referenced per shard until then (none with a bound of 1). */
      if (++s->done_count >= FLUSH_BATCH || s->done_count >= max) {
        pthread_mutex_lock(&hist_mu);
        flush_locked(s, true, &dropped);
        pthread_mutex_unlock(&hist_mu);
      }
    } else {
      op->reg_where = REG_NONE;
      index_remove_locked(op);
    }
  }
  cx__lock_release(&s->lock);
  release_all(&dropped);
}

static void on_entered(cx_op *op) {
  if (op->register_asked ||
      atomic_load_explicit(&hot.register_default, memory_order_relaxed)) {
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
  atomic_store(&hot.register_default, register_all);
}

void cx_registry_set_history_size(size_t count) {
  cx__list dropped;
  cx__list_init(&dropped);
  atomic_store(&hot.history_max, count);
  sync_history(&dropped);
  gate_lock(&hist_mu);
  trim_locked(-1, &dropped);
  pthread_mutex_unlock(&hist_mu);
  release_all(&dropped);
}

/* ---- the index: lookups */

/* Indexes every registered op not indexed yet (all of them, the first
 * time), shard by shard: registrations index their own op meanwhile.  An
 * op only ever moves from a shard to the history, so visiting the shards
 * first misses none.  An op is only ever indexed while the index is on,
 * checked under a lock that cx_registry_clear() holds when it turns it
 * off: a clear meanwhile stops the build (drop_locked() relies on it).
 * Called under index_build_mu.
 * Returns: how many it could not index (out of memory; the next lookup
 * builds again), 0 when a clear stopped it. */
static size_t index_build(void) {
  cx__list *node;
  size_t failed = 0;
  bool cleared = false;
  /* Not ready before not missing: see index_whole(). */
  atomic_store(&index_ready, false);
  atomic_store(&hot.index_on, true);
  atomic_store(&index_missing, false);
  for (int i = 0; i < SHARDS && !cleared; i++) {
    shard *s = &shards[i];
    gate_lock_shard(s);
    cleared = !atomic_load(&hot.index_on);
    if (cleared) {
      cx__lock_release(&s->lock);
      break;
    }
    cx__list_for_each(node, &s->live) {
      if (!op_of(node)->reg_indexed && !index_add_locked(op_of(node))) failed++;
    }
    cx__list_for_each(node, &s->done) {
      if (!op_of(node)->reg_indexed && !index_add_locked(op_of(node))) failed++;
    }
    cx__lock_release(&s->lock);
  }
  gate_lock(&hist_mu);
  cleared = cleared || !atomic_load(&hot.index_on);
  for (size_t i = 0; !cleared && i < history.count; i++) {
    cx_op *op = cx__history_op(&history, i);
    if (!op->reg_indexed && !index_add_locked(op)) failed++;
  }
  if (!cleared && failed == 0) atomic_store(&index_ready, true);
  pthread_mutex_unlock(&hist_mu);
  return cleared ? 0 : failed; /* the ops it left out are gone after a clear */
}

/* Whether @a, a candidate for @id, is a better answer than @best: a live
 * op over a finished one; the oldest of live ones, the newest of finished
 * ones (duplicates only come from ids given by the user). */
static bool better(cx_op *a, cx_op *best) {
  int64_t as, ae, bs, be;
  bool a_live = !cx__op_exited(a), b_live;
  if (best == NULL) return true;
  b_live = !cx__op_exited(best);
  if (a_live != b_live) return a_live;
  cx__op_mono_times(a, &as, &ae);
  cx__op_mono_times(best, &bs, &be);
  return a_live ? as < bs : ae > be;
}

/* Whether the index holds every registered op (see index_ready).
 * index_missing first: a build stores index_ready false before it stores
 * index_missing false, so a lookup that sees that store sees the index not
 * ready until the build ends (read in the other order, an old ready and a
 * new not-missing would pass while the build runs). */
static bool index_whole(void) {
  if (atomic_load(&index_missing)) return false;
  return atomic_load(&index_ready);
}

/* A reference to the registered op with @id (live only with @live_only),
 * or NULL.  One lookup at a time builds the index; the others wait for
 * it. */
static cx_op *lookup(const char *id, bool live_only) {
  cx__list dropped;
  uint64_t h = hash_id(id);
  stripe *st = stripe_of(h);
  cx_op *best = NULL;
  cx__list_init(&dropped);
  if (!index_whole()) {
    size_t failed = 0;
    pthread_mutex_lock(&index_build_mu);
    if (!index_whole()) failed = index_build();
    pthread_mutex_unlock(&index_build_mu);
    if (failed > 0)
      cx__log(CX_LOG_WARNING, NULL,
              "registry: out of memory, %zu ops not findable by id yet",
              failed);
  }
  sync_history(&dropped); /* what fell out of the history is not found */
  pthread_mutex_lock(&st->mu);
  if (st->nbuckets != 0) {
    for (inode *n = st->buckets[bucket_of(st, h)]; n != NULL; n = n->next)
      if (n->hash == h && strcmp(cx__op_id(n->op), id) == 0 &&
          (!live_only || !cx__op_exited(n->op)) && better(n->op, best))
        best = n->op;
  }
  cx_op_ref(best);
  pthread_mutex_unlock(&st->mu);
  release_all(&dropped);
  return best;
}

/* ---- queries */

void cx_op_list_free(cx_op_list *l) {
  if (l == NULL) return;
  for (size_t i = 0; i < l->count; i++) cx_op_unref(l->ops[i]);
  cx__free(l->ops);
  l->ops = NULL;
  l->count = 0;
}

/* Copies references of the live ops that pass @f's early fields, oldest
 * first: the shards' lists merged by start time (written by the entering
 * thread before it linked the op, never again while it runs), all
 * shards locked for one snapshot. */
static int snapshot_live(const cx_op_filter *f, cx_op_list *out) {
  cx__list *at[SHARDS];
  int active[SHARDS], n = 0;
  size_t total = 0;
  lock_shards();
  for (int i = 0; i < SHARDS; i++) {
    total += shards[i].live_count;
    if (shards[i].live_count > 0) {
      at[n] = shards[i].live.next;
      active[n++] = i;
    }
  }
  if (total > 0 && (out->ops = cx__malloc(total * sizeof *out->ops)) == NULL) {
    unlock_shards();
    return -ENOMEM;
  }
  while (n > 0) {
    int k = 0;
    cx_op *op;
    for (int j = 1; j < n; j++)
      if (op_of(at[j])->start_mono < op_of(at[k])->start_mono) k = j;
    op = op_of(at[k]);
    at[k] = at[k]->next;
    if (at[k] == &shards[active[k]].live) { /* that shard is done */
      n--;
      at[k] = at[n];
      active[k] = active[n];
      /* Keeps the lower shard first among equal start times. */
      for (int j = k; j + 1 < n && active[j] > active[j + 1]; j++) {
        cx__list *t = at[j];
        int a = active[j];
        at[j] = at[j + 1], active[j] = active[j + 1];
        at[j + 1] = t, active[j + 1] = a;
      }
    }
    if (cx__filter_match_early(f, op)) out->ops[out->count++] = cx_op_ref(op);
  }
  unlock_shards();
  return 0;
}

/* Copies references of the history's ops that pass @f's early fields,
 * newest first, at most @limit (0: all). */
static int snapshot_history(const cx_op_filter *f, size_t limit,
                            cx_op_list *out) {
  cx__list dropped;
  int rc = 0;
  cx__list_init(&dropped);
  sync_history(&dropped);
  gate_lock(&hist_mu);
  if (history.count > 0 &&
      (out->ops = cx__malloc(history.count * sizeof *out->ops)) == NULL)
    rc = -ENOMEM;
  for (size_t i = 0; rc == 0 && i < history.count; i++) {
    cx_op *op = cx__history_op(&history, i);
    if (limit != 0 && out->count == limit) break;
    if (cx__filter_match_early(f, op)) out->ops[out->count++] = cx_op_ref(op);
  }
  pthread_mutex_unlock(&hist_mu);
  release_all(&dropped);
  return rc;
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

/* The live (@live) or finished ops matching @filter (at most @limit, 0:
 * all), as references the caller owns. */
static int collect(bool live, const cx_op_filter *filter, size_t limit,
                   cx_op_list *out) {
  cx_op_filter f;
  bool late;
  int rc;
  out->ops = NULL;
  out->count = 0;
  rc = cx__filter_prepare(filter, &f);
  if (rc != 0) return rc;
  late = cx__filter_has_late(&f);
  rc = live ? snapshot_live(&f, out)
            : snapshot_history(&f, late ? 0 : limit, out);
  if (rc == 0 && late) refine(&f, limit, out);
  return rc;
}

cx_op *cx_registry_find(const char *id) {
  return id != NULL ? lookup(id, false) : NULL;
}

int cx_registry_list(const cx_op_filter *filter, cx_op_list *out) {
  if (out == NULL) return -EINVAL;
  return collect(true, filter, 0, out);
}

int cx_registry_children(const char *parent_id, cx_op_list *out) {
  cx_op_filter f = CX_OP_FILTER_INIT;
  if (out != NULL) out->ops = NULL, out->count = 0;
  if (parent_id == NULL || out == NULL) return -EINVAL;
  f.parent_id = parent_id;
  return collect(true, &f, 0, out);
}

int cx_registry_history(const cx_op_filter *filter, size_t newest,
                        cx_op_list *out) {
  if (out == NULL) return -EINVAL;
  return collect(false, filter, newest, out);
}

/* ---- cancel */

int cx_registry_cancel(const char *id, cx_reason reason, const char *message) {
  cx_op *op;
  bool done;
  if (id == NULL || !cx__reason_valid(reason)) return -EINVAL;
  op = lookup(id, true);
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
  rc = collect(true, filter, 0, &l);
  if (rc != 0) return rc;
  for (size_t i = 0; i < l.count; i++)
    if (cx_op_cancel(l.ops[i], reason, message)) n++;
  cx_op_list_free(&l);
  return n;
}

/* ---- statistics and cleanup */

int cx_registry_get_stats(cx_registry_stats *out) {
  cx__list dropped, *node;
  double completed_s = 0;
  if (out == NULL) return -EINVAL;
  memset(out, 0, sizeof *out);
  cx__list_init(&dropped);
  lock_shards();
  pthread_mutex_lock(&hist_mu);
  for (int i = 0; i < SHARDS; i++) {
    shard *s = &shards[i];
    flush_locked(s, false, &dropped);
    out->live += s->live_count;
    cx__list_for_each(node, &s->live) {
      int status = atomic_load(&op_of(node)->status);
      if (status >= 0 && status < 6) out->live_by_status[status]++;
    }
    out->completed += s->completed;
    out->cancelled += s->cancelled;
    out->failed += s->failed;
    for (int r = 0; r < 8; r++) out->cancelled_by_reason[r] += s->by_reason[r];
    completed_s += s->completed_s;
  }
  take_back_all_locked(&dropped);
  out->history = history.count;
  pthread_mutex_unlock(&hist_mu);
  unlock_shards();
  out->average_duration =
      out->completed ? completed_s / (double)out->completed : 0;
  release_all(&dropped);
  return 0;
}

/* What cx_registry_prune() drops, and where to. */
typedef struct prune_ctx {
  int64_t cutoff;
  size_t max_count;
  unsigned flags;
  cx__list *dropped;
} prune_ctx;

/* Whether prune drops @op, at @rank from the newest (0 first). */
static bool prunable(cx_op *op, size_t rank, const prune_ctx *p) {
  int64_t start, end;
  if ((p->flags & CX_PRUNE_KEEP_FAILED) &&
      atomic_load(&op->status) == CX_STATUS_FAILED)
    return false;
  if (p->max_count != 0 && rank >= p->max_count) return true;
  if (p->cutoff == INT64_MIN) return false;
  cx__op_mono_times(op, &start, &end);
  return end < p->cutoff;
}

/* cx__history_filter()'s callback for prune, _locked. */
static bool prune_keep(cx_op *op, size_t rank, void *ctx) {
  prune_ctx *p = ctx;
  if (!prunable(op, rank, p)) return true;
  drop_locked(op, p->dropped);
  return false;
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
  cx__list dropped;
  prune_ctx p = {.max_count = max_count, .flags = flags, .dropped = &dropped};
  long n;
  if (!(max_age_seconds >= 0)) return -EINVAL; /* negative or NaN */
  if ((flags & ~CX_PRUNE_KEEP_FAILED) != 0) return -EINVAL;
  p.cutoff = prune_cutoff(max_age_seconds);
  cx__list_init(&dropped);
  sync_history(&dropped); /* what fell out already is not counted */
  release_all(&dropped);
  gate_lock(&hist_mu);
  /* Newest first: the rank counts the entries before, dropped or not. */
  n = (long)cx__history_filter(&history, prune_keep, &p);
  pthread_mutex_unlock(&hist_mu);
  release_all(&dropped);
  return n;
}

void cx_registry_clear(void) {
  cx__list all, *node;
  cx__list_init(&all);
  lock_shards();
  pthread_mutex_lock(&hist_mu);
  index_clear_locked();
  atomic_store(&index_ready, false);
  atomic_store(&hot.index_on, false);
  atomic_store(&index_missing, false);
  for (int i = 0; i < SHARDS; i++) {
    shard *s = &shards[i];
    /* Live ops stay running, unregistered: the registry holds no
     * reference of theirs to drop. */
    while ((node = cx__list_first(&s->live)) != NULL) {
      cx__list_remove(node);
      op_of(node)->reg_where = REG_NONE;
    }
    cx__list_move_all(&s->done, &all);
    s->live_count = s->done_count = 0;
    s->completed = s->cancelled = s->failed = 0;
    memset(s->by_reason, 0, sizeof s->by_reason);
    s->completed_s = 0;
  }
  while (history.count > 0)
    cx__list_append(&all, &cx__history_pop_oldest(&history).op->reg_node);
  take_back_all_locked(&all);
  cx__list_for_each(node, &all) op_of(node)->reg_where = REG_NONE;
  pthread_mutex_unlock(&hist_mu);
  unlock_shards();
  release_all(&all);
}

/* ---- fork (see fork_gate) */

static void fork_prepare(void) {
  pthread_mutex_lock(&fork_gate);
  atomic_store(&hot.forking, true);
  for (int i = 0; i < SHARDS; i++) {
    cx__lock_acquire(&shards[i].lock);
    cx__lock_release(&shards[i].lock);
  }
  pthread_mutex_lock(&hist_mu);
  pthread_mutex_unlock(&hist_mu);
}

static void fork_parent(void) {
  atomic_store(&hot.forking, false);
  pthread_mutex_unlock(&fork_gate);
}

/* A thread that held a lock an instant to check the gate is gone: every
 * lock starts again unlocked. */
static void fork_child(void) {
  for (int i = 0; i < SHARDS; i++) atomic_store(&shards[i].lock, CX__LOCK_INIT);
  pthread_mutex_init(&hist_mu, NULL);
  for (int i = 0; i < STRIPES; i++) pthread_mutex_init(&stripes[i].mu, NULL);
  /* A build cut by the fork left index_ready unset: the next lookup
   * builds again. */
  pthread_mutex_init(&index_build_mu, NULL);
  atomic_store(&hot.forking, false);
  pthread_mutex_init(&fork_gate, NULL);
}

static const cx__fork_hooks fork_hooks = {fork_prepare, fork_parent,
                                          fork_child};

/* Registered when the library is loaded, before any op can hold a lock. */
__attribute__((constructor)) static void register_fork_hooks(void) {
  cx__fork_register(&fork_hooks);
}
