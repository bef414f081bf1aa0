/* src/token/token.h - internal structure of tokens, their links and
 * callbacks, and the token layer's internal functions. */
#ifndef CX_TOKEN_INTERNAL_H
#define CX_TOKEN_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <cancelable/token.h>

#include "base/base.h"
#include "runtime/alloc.h"
#include "runtime/deferred.h"
#include "runtime/list.h"
#include "runtime/sync.h"
#include "runtime/wakeup.h"

/* Token states.  A cancel claims the token (LIVE -> CLAIMED, one winner),
 * writes reason/message/time, then publishes CANCELLED with release order;
 * "is cancelled" is one acquire load of `state`. */
enum {
  CX__LIVE = 0,
  CX__CLAIMED = 1,
  CX__CANCELLED = CX_TOKEN_STATE_CANCELLED_
};

typedef struct cx__link cx__link;

/* A token is two parts.  The hot part (struct cx_token, 32 bytes) is what
 * every token needs: state, count, `has` bits, reason, and the work-list
 * link.  The rest (struct cx__token_ext: the lists, the message, cause and
 * time, the id, the pollable fd) sits in the same block for tokens made by
 * cx_token_new(), and is made on first need for timed tokens and an op's
 * own (cx__token_new_lazy), so a timeout that nobody links to, listens to
 * or polls costs 56 bytes with its timer
 * (Go's context.cancelCtx likewise makes its channel and children map
 * lazily).  Whoever sets a `has` bit has made the ext first, so a finisher
 * that sees a bit finds it. */
typedef struct cx__token_ext {
  /* What a claim writes, first: right after the hot part, so that a
   * cascade's claim of a child token touches as few cache lines as it can
   * (X8.cancel_per_child). */
  cx_token *cause;            /* written once by the claimer (owned ref): the
                                 token whose cancel cascaded here */
  const char *message;        /* written once by the claimer; NULL: "", the
                                 cause's, or a CX__CLAIM_MSG_* text */
  _Atomic double cancel_time; /* (atomic) wall clock, written by the
                                 claimer; 0 until known (see
                                 CX__CLAIM_TIME_LATE) */
  /* What a link and a destroy touch first, together. */
  cx__lock lock;                   /* guards the callback and children lists and
                                      runner */
  uint16_t wake_generation;        /* guarded by stripe: fork generation of wake
                                      (a parent's is shared: reopen), modulo
                                      2^16 (a chain of 65 536 nested forks) */
  uint16_t fd_pollers : 15;        /* guarded by stripe: the library's own waits
                                      polling wake.read_fd (cx__token_fd_hold) */
  uint16_t fd_release_pending : 1; /* guarded by stripe: cx_token_fd_release()
                                      came while fd_pollers > 0: the last
                                      one closes it */
  cx__link *_Atomic links;      /* (atomic) links into this token, a push-only
                                   stack taken whole at unlink */
  cx__hlist children;           /* guarded by lock: links fed by this token
                                   (cx__link.sibling); a sentinel once its
                                   cascade took them (token_link.c) */
  cx__list callbacks;           /* guarded by lock: cx_callback.node, in
                                   registration order */
  _Atomic(char *) id_text;      /* (atomic) made on first request */
  _Atomic(char *) lazy_message; /* (atomic) formatted PARENT message */
  cx__wakeup wake;              /* guarded by stripe; read_fd -1 until asked */
  pthread_t runner; /* guarded by lock: the thread running the callbacks,
                       once they are detached */
} cx__token_ext;

struct cx_token {
  _Atomic int state;     /* (atomic) first member: read by the inline
                            cx_token_is_cancelled() of token.h */
  _Atomic uint32_t refs; /* (atomic) */
  _Atomic unsigned has;  /* (atomic) CX__HAS_* bits, never cleared; set
                            before a registrant checks the state, read by
                            the finisher after publishing it (both
                            seq_cst), so a finisher that sees 0 may skip
                            every lock */
  uint8_t reason;        /* written once by the claimer (cx_reason) */
  uint8_t claim;         /* written once by the claimer: CX__CLAIM_* */
  uint8_t kind;          /* immutable: CX__KIND_* */
  union {
    cx_token *pending_next;     /* owned by whoever claimed the token */
    cx__deferred_item deferred; /* while queued for the completion thread
                                   (a signal-safe cancel) */
  };
  cx__token_ext *_Atomic ext; /* (atomic) set once: inline, or made on
                                 first need (cx__token_ext_get) */
};

/* cx_token.claim bits. */
enum {
  CX__CLAIM_MSG_OWNED = 1u << 0, /* ext->message is ours to free */
  CX__CLAIM_PRESERVE = 1u << 1,  /* message and reason from the cause */
  /* Claimed with no ext (a signal-safe cancel of a token that had none,
   * or memory ran out): the message is one of two fixed texts, and the
   * time is recorded late (by the completion thread) or never. */
  CX__CLAIM_MSG_SIGNAL = 1u << 2,
  CX__CLAIM_MSG_LOST = 1u << 3,
  CX__CLAIM_TIME_LATE = 1u << 4,
  /* The owned message is followed (after its NUL) by the name of the
   * source that cancelled (cx__token_cancel_from). */
  CX__CLAIM_SOURCE = 1u << 5
};

/* cx_token.kind values.  The even kinds carry their ext inline, right
 * after the token; the odd ones make it on first need
 * (cx__token_ext_of() tests the low bit). */
enum {
  CX__KIND_PLAIN = 0, /* cx_token_new(): the ext follows the token */
  CX__KIND_TIMED = 1, /* cx_token_with_timeout(): a timer follows it */
  CX__KIND_CHILD = 2, /* cx_token_new_child(): the ext, then the link to
                         its parent (cx__child_token) */
  CX__KIND_LAZY = 3   /* cx__token_new_lazy(): the hot part alone */
};

/* The fixed messages of a claim without ext (token.c). */
extern const char cx__msg_signal[];
extern const char cx__msg_lost[];

enum {
  CX__HAS_WAITERS = 1u << 0,
  CX__HAS_FD = 1u << 1,
  CX__HAS_CHILDREN = 1u << 2,
  CX__HAS_CALLBACKS = 1u << 3
};

/* Callback states (low bits of cx_callback.state) and flags. */
enum {
  CX__CB_LISTED = 0, /* in the token's list (guarded by its lock) */
  CX__CB_QUEUED = 1, /* detached by the runner, not yet run */
  CX__CB_RUNNING = 2,
  CX__CB_DONE = 3,
  CX__CB_SKIP = 4, /* unregistered by the runner's thread before its
                      turn: the runner frees it without running it */
  CX__CB_MASK = 7,
  CX__CB_RELEASED = 1 << 3, /* handle released while queued/running: the
                               runner frees the node */
  CX__CB_WAITED = 1 << 4    /* an unregister waits for DONE */
};

struct cx_callback {
  cx__list node;   /* guarded by the token's lock while listed;
                      the runner's own once detached */
  cx_token *token; /* immutable; owned ref when has_handle */
  cx_cancel_fn fn;
  void *user_data;
  void (*destroy)(void *);
  _Atomic int state; /* (atomic) CX__CB_* */
  bool has_handle;   /* immutable */
};

/* A link: @target is cancelled when @source is. */
struct cx__link {
  /* What a cascade reads, together (one cache line). */
  cx__hlist_node sibling;    /* in source's children, guarded by source's
                                lock; stale once its cascade took them */
  cx_token *target;          /* not owned: the link belongs to the target */
  unsigned flags;            /* immutable */
  bool embedded;             /* immutable: inside its target's block (a
                                cx__child_token), not freed on its own */
  cx__link *next_of_target;  /* in target->links (written before the push) */
  cx_token *source;          /* owned ref */
  cx__token_ext *source_ext; /* immutable: source's ext (saves finding it
                                at unlink) */
};

_Static_assert(sizeof(struct cx_token) <= 32,
               "a token's hot part fits in 32 bytes");
_Static_assert(sizeof(struct cx_token) + sizeof(cx__token_ext) <= 128,
               "a plain token fits in 128 bytes");
_Static_assert(offsetof(struct cx_token, state) == 0,
               "token.h's inline check reads the state at offset 0");
_Static_assert(sizeof(_Atomic int) == sizeof(int),
               "token.h's inline check reads the state as an int");

/* ---- token internals (token.c) */

/* Sets a `has` bit before the caller checks the state (see struct
 * cx_token).  A bit already set is seen by a seq_cst load; it was set by a
 * seq_cst RMW earlier in the total order, which is all the finisher needs,
 * so the RMW is skipped (registering many callbacks on one token). */
static inline void cx__token_mark(cx_token *t, unsigned bit) {
  if ((atomic_load(&t->has) & bit) == 0) atomic_fetch_or(&t->has, bit);
}
/* Frees a token whose count has reached 0 (iteratively, per thread). */
void cx__token_destroy_dead(cx_token *t);
/* Initialises a fresh ext (no lists, no message, no fd). */
static inline void cx__token_ext_init(cx__token_ext *ext) {
  /* Field by field: cheaper than clearing the whole struct (rep stos), and
   * the fields left out (runner, wake_generation) are written before they
   * are read. */
  atomic_init(&ext->lock, CX__LOCK_INIT);
  cx__list_init(&ext->callbacks);
  ext->children.first = NULL;
  atomic_init(&ext->links, NULL);
  ext->message = NULL;
  ext->cause = NULL;
  atomic_init(&ext->cancel_time, 0.0);
  atomic_init(&ext->id_text, NULL);
  atomic_init(&ext->lazy_message, NULL);
  ext->wake.read_fd = ext->wake.write_fd = -1;
  ext->fd_pollers = 0;
  ext->fd_release_pending = 0;
}
/* Initialises a fresh token (one reference, live) of @kind with @ext
 * (NULL: made on first need). */
static inline void cx__token_init(cx_token *t, uint8_t kind,
                                  cx__token_ext *ext) {
  /* Field by field: cheaper than clearing the whole struct (rep stos). */
  atomic_init(&t->state, CX__LIVE);
  atomic_init(&t->refs, 1);
  atomic_init(&t->has, 0);
  t->reason = CX_REASON_NONE;
  t->claim = 0;
  t->kind = kind;
  t->pending_next = NULL;
  if (ext != NULL) cx__token_ext_init(ext);
  atomic_init(&t->ext, ext);
}
/* A plain token (cx_token_new()): the ext right after the hot part, one
 * block. */
typedef struct cx__plain_token {
  struct cx_token token;
  cx__token_ext ext;
} cx__plain_token;
_Static_assert(offsetof(cx__plain_token, ext) == sizeof(struct cx_token),
               "cx__token_ext_of() finds a plain token's ext right after it");
/* A token made by cx_token_new_child(): a plain token and its first link
 * in one block, so a child costs one allocation (as a C++ stop_callback
 * lives inside its owner). */
typedef struct cx__child_token {
  cx__plain_token plain;
  cx__link link;
} cx__child_token;
_Static_assert(offsetof(cx__child_token, plain) == 0,
               "a child token is a plain token first");
static inline cx_token *cx__token_new_plain(void) {
  cx__plain_token *p = cx__block_alloc(sizeof *p);
  if (p == NULL) return NULL;
  cx__token_init(&p->token, CX__KIND_PLAIN, &p->ext);
  return &p->token;
}
/* A token as cx_token_new() makes, but of the hot part alone (32 bytes):
 * its ext is made on first need, as a timed token's.  For tokens that
 * are mostly never linked, listened to, polled or asked for an id (an
 * op's own: issue 19, X4 and X8).  NULL when out of memory. */
cx_token *cx__token_new_lazy(void);
/* The token's ext, or NULL while it has none.  A token with a `has` bit
 * other than WAITERS, with links, or cancelled by a cascade has one. */
static inline cx__token_ext *cx__token_ext_of(const cx_token *t) {
  /* A plain token's is at a fixed place: found with no dependent load
   * (the branch predicts well; the child-token benchmark measures it). */
  if (CX__LIKELY((t->kind & 1) == 0))
    return (cx__token_ext *)(uintptr_t)(t + 1);
  return atomic_load_explicit(&((cx_token *)t)->ext, memory_order_acquire);
}
/* Makes and installs @t's ext (or returns the one another thread installed
 * first).  NULL when out of memory. */
cx__token_ext *cx__token_ext_make(cx_token *t);
/* The token's ext, made now if it has none.  NULL when out of memory. */
static inline cx__token_ext *cx__token_ext_get(cx_token *t) {
  cx__token_ext *ext = cx__token_ext_of(t);
  return ext != NULL ? ext : cx__token_ext_make(t);
}
/* The claimer's message of a cancelled token (NULL: none given). */
const char *cx__token_own_message(const cx_token *t);
/* The token whose cancel cascaded into cancelled @t, or NULL. */
static inline cx_token *cx__token_cause(const cx_token *t) {
  cx__token_ext *ext = cx__token_ext_of(t);
  return ext != NULL ? ext->cause : NULL;
}
/* Whether links lead into @t (a relaxed read: the caller owns @t's links). */
static inline bool cx__token_has_links(const cx_token *t) {
  cx__token_ext *ext = cx__token_ext_of(t);
  return ext != NULL &&
         atomic_load_explicit(&ext->links, memory_order_relaxed) != NULL;
}
/* Records the cancel time of a token claimed without ext
 * (CX__CLAIM_TIME_LATE), making the ext; the completion thread calls it. */
void cx__token_record_late_time(cx_token *t);

/* cx_token_ref()/cx_token_unref() inline, for the library's hot paths. */
static inline void cx__token_ref(cx_token *t) {
  atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
}
static inline void cx__token_unref(cx_token *t) {
  if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
    cx__token_destroy_dead(t);
}
cx_token *cx__token_try_ref(cx_token *t); /* NULL if refs already 0 */
/* Disarms and frees a timed token's block (token_timeout.c). */
void cx__token_free_timed(cx_token *t);
/* Gives a fresh token the id of the op it belongs to (before sharing it). */
int cx__token_set_id(cx_token *t, const char *id);
/* Claims a live token: the caller won when true.  @message: (transfer full
 * when @owned).  @cause: (transfer full) or NULL.  Writes into the token's
 * ext, which the caller makes first (cx__token_ext_get) unless it runs in a
 * signal handler; without one, @message must be cx__msg_signal or
 * cx__msg_lost (or NULL), @owned false and @cause NULL. */
bool cx__token_claim(cx_token *t, cx_reason reason, const char *message,
                     bool owned, cx_token *cause, bool preserve);
/* Under ThreadSanitizer (which does not model atomic_thread_fence: GCC
 * warns) a cascade publishes each claim with a seq_cst store, as
 * cx__token_claim() does, instead of release stores and one fence.  So the
 * batched-fence path is checked by reasoning (C11 7.17.3: a registrant's
 * seq_cst `has` RMW that precedes the fence in S is seen by the load after
 * it) and by plain and ASan runs on x86, whose stores are not reordered
 * with later stores anyway: a weakly ordered machine (arm64) has not run
 * it. */
#if defined(__SANITIZE_THREAD__)
#define CX__CASCADE_FENCE_PER_CLAIM 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CX__CASCADE_FENCE_PER_CLAIM 1
#endif
#endif

/* cx__token_claim() of @t for the cascade of @cause (cx__token_cascade),
 * which holds @cause's lock and found @t through a link in @cause's
 * children: reason @reason, no message, the cancel time @time of @cause.
 * Cheaper than cx__token_claim() in two ways, both for the caller to make
 * good before it unlocks @cause:
 *  - it takes no reference on @cause for ext->cause: the caller adds one
 *    per claim in one go (nothing can drop them before: @t's free unlinks
 *    the link first, under @cause's lock, and only then reads its cause);
 *  - it publishes CANCELLED with release order only: the caller issues
 *    cx__cascade_publish_fence() before it reads @t's `has` (which pairs
 *    with the registrants' seq_cst `has` bits, see struct cx_token).
 * @t has an ext (a link target has one). */
static inline bool cx__token_claim_cascaded(cx_token *t, cx_reason reason,
                                            cx_token *cause, bool preserve,
                                            double time) {
  int expected = CX__LIVE;
  cx__token_ext *ext;
  if (!atomic_compare_exchange_strong_explicit(
          &t->state, &expected, CX__CLAIMED, memory_order_acq_rel,
          memory_order_acquire))
    return false;
  t->reason = (uint8_t)reason;
  ext = cx__token_ext_of(t);
  ext->cause = cause;
  ext->message = NULL;
  atomic_store_explicit(&ext->cancel_time, time, memory_order_relaxed);
  t->claim = preserve ? CX__CLAIM_PRESERVE : 0;
#if defined(CX__CASCADE_FENCE_PER_CLAIM)
  atomic_store(&t->state, CX__CANCELLED);
#else
  atomic_store_explicit(&t->state, CX__CANCELLED, memory_order_release);
#endif
  return true;
}

/* Orders the release publishes of cx__token_claim_cascaded() before the
 * loads of `has` that follow (the seq_cst store of cx__token_claim()). */
static inline void cx__cascade_publish_fence(void) {
#if !defined(CX__CASCADE_FENCE_PER_CLAIM)
  atomic_thread_fence(memory_order_seq_cst);
#endif
}

/* cx_token_cancel() for a source: @source (nullable, copied) names it,
 * kept after the message from the claim on (cx__token_source()). */
bool cx__token_cancel_from(cx_token *t, cx_reason reason, const char *message,
                           const char *source);
/* The name given by cx__token_cancel_from() to the cancel of @t (NULL:
 * none, or not cancelled).  (transfer none) valid while @t lives. */
const char *cx__token_source(const cx_token *t);
/* Completes a claimed cancel on this thread: wakes waiters, fd, cascades,
 * callbacks; iterative through a per-thread work list.  Consumes one
 * reference to @t. */
void cx__token_finish_claimed(cx_token *t);
/* The token where a cascade started (follows `cause`).  (transfer none) */
const cx_token *cx__token_origin(const cx_token *t);
/* Runs the callbacks of a claimed token (token_callbacks.c). */
void cx__token_run_callbacks(cx_token *t);
/* Frees callbacks left without a handle at destruction (@ext: the dead
 * token's). */
void cx__token_free_callbacks(cx__token_ext *ext);
/* Cascades a finished cancel to linked tokens (token_link.c): claims each
 * live target and queues with cx__token_queue() those that someone waits
 * on, watches, listens to or follows. */
void cx__token_cascade(cx_token *t);

/* The token's descriptor (cx_token_fd()) held for one of the library's own
 * waits (cx_poll()): until cx__token_fd_unhold(), cx_token_fd_release()
 * leaves it open (the last holder closes it), so a poll blocked on it is
 * never left on a closed or reused number.  Returns the descriptor, or
 * what cx_token_fd() returns on error (then nothing is held). */
int cx__token_fd_hold(cx_token *t);
void cx__token_fd_unhold(cx_token *t);
/* Removes the links into @t (when its op exits). */
void cx__token_unlink_all(cx_token *t);
/* The same at destruction (no reference left; @ext: the token's): no
 * atomic exchange. */
void cx__token_unlink_dead(cx__token_ext *ext);
/* Queues a claimed token (with a reference) on this thread's work list. */
void cx__token_queue(cx_token *t);
/* Waits until a claimed token reads as cancelled (its claimer has written
 * reason and message).  A few stores long. */
void cx__token_wait_published(const cx_token *t);
/* After losing the claim of @t (cancelled by another thread): returns once
 * every descendant of @t is claimed, claiming those left (under the
 * cascade lock, runtime/sync.h).  Callbacks of what it claims run before it
 * returns, as for any cancel of this thread. */
void cx__token_settle(cx_token *t);
/* The help stack of this thread's cascade phase (token_link.c): tokens
 * claimed elsewhere whose children it must claim.  Push takes over the
 * caller's reference; false when out of memory (the caller keeps it). */
bool cx__token_help_push(cx_token *t);
/* Pops one (the reference goes to the caller), or NULL when empty. */
cx_token *cx__token_help_pop(void);
/* Logs that a help push ran out of memory (no lock may be held). */
void cx__token_log_unhelped(void);
/* Defers the frees of tokens whose count reaches 0 on this thread (their
 * destroy notifiers are user code) until the matching end: around work
 * under the cascade lock.  Begin returns what end takes.  Nested pairs
 * leave the frees to the outermost. */
bool cx__token_defer_frees_begin(void);
void cx__token_defer_frees_end(bool outer);

/* ---- ids (id.c) */
void cx__id_random(uint64_t out[2]);
/* Formats 128 random bits as UUID v4 text into @out (CX_ID_LEN + 1). */
void cx__id_format(const uint64_t bits[2], char *out);
/* The id cached in @slot, made (UUID v4) and installed atomically on the
 * first call.  NULL only when out of memory. */
const char *cx__id_lazy(_Atomic(char *) *slot);

#endif /* CX_TOKEN_INTERNAL_H */
