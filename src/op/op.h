/* src/op/op.h - internal structure of operations and the op layer's
 * internal functions. */
#ifndef CX_OP_INTERNAL_H
#define CX_OP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <cancelable/op.h>
#include <cancelable/source.h>

#include "runtime/alloc.h"
#include "runtime/list.h"
#include "runtime/timer.h"
#include "sources/sources.h"
#include "token/token.h"

/* ---- operations (op.c, op_context.c, current.c) */

typedef struct cx__status_cb {
  cx__list node; /* in the op's callbacks, in registration order */
  cx_op_event event;
  cx_op_fn fn;
  void *user_data;
  void (*destroy)(void *);
} cx__status_cb;

/* The key of an entry of a thread's stack of current operations
 * (current.c).  An op's own enter uses the frame inside the op; adopting
 * an op on another thread (thread pools, cx_thread_create) uses a frame
 * owned by the caller, so one op may be current on several threads at
 * once.  Only its address matters. */
typedef struct cx__frame {
  char key;
} cx__frame;

/* The movable deadline of a running op (op_deadline.c), made by the first
 * cx_op_set_deadline() and freed with the op. */
typedef struct cx__op_mover {
  cx__timer timer;     /* armed under mu, disarmed by exit (no lock) */
  struct cx_op *op;    /* immutable, not owned: the op outlives it */
  pthread_mutex_t mu;  /* guards deadline and closed; a leaf but for the
                          timer's lock, taken by an arm under it */
  int64_t deadline;    /* guarded by mu: cx__now_ns() clock, or
                          CX__NO_DEADLINE */
  bool closed;         /* guarded by mu: the op is exiting */
  bool cancelling;     /* guarded by mu: a caller is cancelling the op for
                          a deadline set in the past (outside mu); exit
                          waits for it on cv */
  pthread_t canceller; /* guarded by mu: that caller */
  pthread_cond_t cv;   /* with mu: signalled when cancelling ends */
} cx__op_mover;

/* An op's own timeout (op_timeout.c): after the op in its block when it
 * has one (cx_op.has_own_timeout). */
typedef struct cx__op_timeout {
  cx__timer timer;  /* armed while the op's sources run */
  int64_t duration; /* immutable: ns */
} cx__op_timeout;

/* A share of an op's children (op_tree.c): those made on the threads of
 * one slot (cx__thread_slot() modulo CX__OP_HUBS), with a lock, a token (a
 * child of the parent's, the parent of theirs) and a count.  Children made
 * on two threads then write no cache line in common: neither a lock, nor
 * the parent token's list of children, nor a count of references.
 *
 * Who keeps the parent alive for its children (they read its name, its
 * token and its ancestors until they are freed) is counted as Linux's
 * percpu_ref counts: while the parent runs, its hubs' table holds one
 * reference (the pin), and each hub counts the children made on its
 * threads and those freed on them (a child is often freed on another
 * thread than its maker's, so a hub may free more than it made; the sums
 * over the hubs may not).  The parent's exit sums made - freed into the
 * table's `central` count, under a bias so that it cannot reach 0 before
 * every hub is summed, and from then on children count there directly;
 * the pin's reference is dropped by whoever takes `central` to 0.  A table
 * made while the parent does not run counts centrally from the start,
 * with no pin: `central` > 0 holds one reference. */
#define CX__OP_HUBS 8
typedef struct cx__op_hub {
  cx__lock lock;     /* a word lock (runtime/sync.h): a stripe could be
                        another hub's, or another thread's op's */
  bool central;      /* guarded by lock: count in the table's `central` */
  cx_token *token;   /* immutable (owned ref): a child of the parent's */
  cx__list children; /* guarded by lock: their `sibling`s, oldest first */
  uint64_t live;     /* guarded by lock: children listed */
  uint64_t made;     /* guarded by lock: children made here and freed */
  uint64_t freed;    /* here while not central; they only grow */
  /* Padding: the fields above of two hubs allocated side by side never
   * share a cache line (each block is at least 64 bytes past them). */
  char pad[128 - 8 - sizeof(cx_token *) - sizeof(cx__list) -
           3 * sizeof(uint64_t)];
} cx__op_hub;

_Static_assert(sizeof(cx__op_hub) == 128, "a hub is two cache lines");

/* An op's hubs, made with its first child (owned by the op). */
typedef struct cx__op_hubs {
  cx__op_hub *_Atomic slot[CX__OP_HUBS]; /* (atomic) set once under the
                                            op's stripe (owned) */
  _Atomic int64_t central;   /* (atomic) children alive, once central */
  _Atomic bool central_mode; /* (atomic) written under the op's stripe:
                                new hubs count centrally (set at the
                                exit, or from the start when made while
                                the op did not run); false: pinned */
} cx__op_hubs;

/* The inputs of a combined op (op_sources.c), in one block. */
typedef struct cx__op_inputs {
  size_t count;
  cx_op *ops[]; /* owned refs */
} cx__op_inputs;

/* An operation.  The members are grouped by size (pointers and 64-bit
 * values, lists, then 32-bit and 8-bit ones) so that the whole, with its
 * own timeout when it has one, fits a cached block class (alloc.h: at most
 * 376 bytes, asserted below): an op made and freed on one thread then
 * costs no malloc() or free(). */
struct cx_op {
  cx_token *token;                 /* immutable (owned ref) */
  cx_op *parent;                   /* immutable: kept alive by its hubs
                                      (in_hub) or referenced by the op
                                      itself (a shield's) */
  const char *name;                /* immutable (owned when name_owned) */
  _Atomic(char *) id;              /* (atomic) explicit id, or made on first
                                      request; NULL while an own token's id
                                      stands for it (see cx_op_id) */
  double start_wall;               /* guarded by stripe: made from start_mono on
                                      first request (0: not yet) */
  double end_wall;                 /* guarded by stripe: as start_wall */
  int64_t start_mono;              /* guarded by stripe */
  int64_t end_mono;                /* guarded by stripe */
  _Atomic int64_t deadline;        /* (atomic) the op's own, while running: the
                                      earliest of its timeouts' and its moved
                                      deadline (ancestors' are added by
                                      cx_op_deadline()) */
  int64_t sources_deadline;        /* written by enter: its timeouts' */
  cx__op_mover *_Atomic mover;     /* (atomic) set once, freed with the op */
  cx_meta *meta;                   /* guarded by stripe (owned; NULL until
                                      metadata is set) */
  void *partial;                   /* guarded by stripe */
  void (*partial_destroy)(void *); /* guarded by stripe */
  union {
    cx_op *free_next; /* owned by the thread freeing it */
    /* The registry's (src/registry, through the lifecycle events; the op
     * layer never reads it): the op's place in a live list, a list of
     * finished ops or the history, guarded by that list's lock; unused
     * once the op has left the registry, which it does before its last
     * reference goes (the history holds one), so never at the same time
     * as free_next. */
    cx__list reg_node;
  };
  _Atomic(char *) lazy_message; /* (atomic) formatted PARENT message */
  cx_callback *events_cb;       /* the event stream's (src/events): its cancel
                                   callback while the op runs */
  /* Combined ops (op_sources.c): the inputs of cx_op_combine(), whose
   * sources a combined op runs from its enter to its exit. */
  cx__op_inputs *inputs;     /* written by cx_op_combine() before it returns
                                the op, immutable after (owned); NULL for
                                other ops */
  const cx_op *lent_to;      /* guarded by stripe: the combined op running this
                                PENDING op's sources, NULL when none (the own
                                timeout's fire reads it without the lock:
                                op_timeout.c says why) */
  cx__op_hubs *_Atomic hubs; /* (atomic) set once under the stripe by
                                the first child (owned) */
  /* Progress (src/progress, through the lifecycle events and its own
   * functions; the op layer never reads them). */
  struct cx__progress_cb *_Atomic progress_head; /* (atomic) append-only */
  struct cx__progress_cb *progress_tail;         /* guarded by stripe */
  /* The nearest strict ancestor with progress callbacks, as it was at
   * progress epoch @progress_up_epoch (0: not known), so that a report
   * skips the ancestors without any (progress.c).  Written under the
   * stripe inside the seqlock @progress_up_seq (odd while writing), read
   * without a lock. */
  cx_op *_Atomic progress_up;         /* (atomic) not owned: an ancestor */
  _Atomic uint64_t progress_up_epoch; /* (atomic) */
  /* (atomic) set once under the stripe by the first
   * cx_op_set_progress_interval() (owned): the throttle's state, which
   * few ops need (progress.c) */
  _Atomic(struct cx__progress_throttle *) throttle;
  /* (atomic) set once under the stripe, its fields guarded by the stripe
   * (owned): the last report, for readers (src/progress/last.c) */
  _Atomic(struct cx__progress_last *) last_report;

  cx__list sources;     /* guarded by stripe while PENDING; immutable
                           after enter */
  cx__list callbacks;   /* guarded by stripe: cx__status_cb.node;
                           appended while PENDING or running, never
                           removed before op_destroy */
  cx__list sibling;     /* guarded by the lock of the parent's hub
                           hub_slot: in its children */
  cx__source_host host; /* what the sources cancel: set at enter */

  _Atomic uint32_t refs;            /* (atomic) */
  _Atomic int status;               /* (atomic) cx_status: written under
                                       stripe (op.c: set_status) */
  int error;                        /* written at exit, before status */
  cx_reason exit_reason;            /* written at exit, before status: set
                                       when the work returned -ECANCELED
                                       uncancelled */
  _Atomic int events_state;         /* (atomic) the event stream's: whether
                                       the op's cancel was told (events.c) */
  _Atomic unsigned progress_up_seq; /* (atomic) see progress_up */

  bool name_owned;             /* immutable */
  _Atomic bool deadline_ready; /* (atomic) enter has set deadline and
                                  sources_deadline: a setter may move them
                                  (release/acquire) */
  _Atomic bool mover_closed;   /* (atomic) set by exit before it reads
                                  mover; a setter that made the mover
                                  checks it under the mover's lock */
  cx__frame frame;             /* owned by the thread that entered it: its
                                  entry in that thread's current-op stack */
  bool register_asked;         /* immutable: cx_op_options.register_op */
  bool detached;               /* immutable: cx_op_options.detached with
                                  a parent: neither the parent's cancel
                                  nor its deadline reach it */
  bool registered;             /* the registry's: owned by the entering
                                  thread */
  bool is_shield;              /* immutable */
  bool exiting; /* owned by the entering thread: op_exit_one() has begun
                   (forgotten() must not start a second exit while the
                   first one's callbacks drop references) */
  _Atomic bool in_parent;     /* (atomic) written under its hub's lock:
                                 in its children; false is final, so a reader
                                 that sees it needs no lock */
  bool in_hub;                /* immutable after create: made in the
                                 parent's hub hub_slot and counted by the
                                 hubs, which keep the parent alive (see
                                 cx__op_hub) */
  uint8_t hub_slot;           /* immutable after create */
  _Atomic bool has_callbacks; /* (atomic) set under the stripe by every
                                 cx_op_on() that appends; never cleared */
  /* The registry's (in what was padding): */
  uint8_t reg_shard;    /* written by the entering thread at registration: the
                           shard whose lists hold reg_node */
  uint8_t reg_where;    /* guarded by the lock of the list holding reg_node:
                           which list that is (registry.c) */
  bool reg_indexed;     /* guarded as reg_where: in the index by id */
  bool has_own_timeout; /* immutable: own_timeout[0] follows */
  /* The own timeout (cx_op_options.timeout), in the op's block only when
   * it has one (op_timeout.c). */
  cx__op_timeout own_timeout[];
};

_Static_assert(sizeof(struct cx_op) + sizeof(cx__op_timeout) <=
                   CX__BLOCK_CACHED_MAX,
               "an op with its own timeout fits a cached block class "
               "(alloc.h)");

/* The size of @op's block. */
static inline size_t cx__op_block_size(const struct cx_op *op) {
  return sizeof *op + (op->has_own_timeout ? sizeof(cx__op_timeout) : 0);
}

/* The own timeout and the sources (op_timeout.c). */
/* Gives @op, new, its own timeout of @duration ns (its block has room). */
void cx__op_timeout_init(cx_op *op, int64_t duration);
/* Starts @op's own timeout and its sources for @runner (@op itself, or the
 * combined op it is lent to), counting from @runner's start; on an error
 * nothing is left started.  0 or the start error. */
int cx__op_sources_start(cx_op *op, cx_op *runner);
/* Stops what cx__op_sources_start() started: no trigger after it returns. */
void cx__op_sources_stop(cx_op *op);
/* The earliest deadline of @op's own timeout and sources run by @runner
 * (CX__NO_DEADLINE: none). */
int64_t cx__op_sources_deadline(const cx_op *op, const cx_op *runner);

/* Hierarchy (op_tree.c). */
/* Makes @child, new, a child of @parent (nullable): counted in the hub of
 * the calling thread's slot (made if need be), which then keeps @parent
 * alive.  0 or -ENOMEM (then @child has no parent). */
int cx__op_tree_join(cx_op *child, cx_op *parent);
/* The token a child's token follows: its hub's (@child joined a hub). */
cx_token *cx__op_tree_parent_token(const cx_op *child);
/* Lists a joined @child among its parent's children (end of create). */
void cx__op_tree_attach(cx_op *child);
/* Takes @child out of that list (at its exit, or when freed). */
void cx__op_tree_detach(cx_op *child);
/* Ends @child's count (freed), in the calling thread's hub when it has
 * one, else in @child's own: the last child of a parent counted centrally
 * drops the reference on it.  Drops a shield's own reference instead. */
void cx__op_tree_leave(cx_op *child);
/* At @op's exit, once its final status is published, or when its enter
 * failed (no lock held, and the caller holds a reference): its hubs' table
 * counts centrally from now on, and its pin goes with the last child. */
void cx__op_tree_unpin(cx_op *op);
/* Whether @op's hubs hold the pin, a reference on @op (set by another
 * thread's first child, cleared by @op's exit on its own thread). */
bool cx__op_tree_pinned(const cx_op *op);
/* Whether children of @op, pinned, are alive: never false while one
 * lives, possibly true when the last one is being freed meanwhile. */
bool cx__op_tree_has_children(cx_op *op);
/* Frees @op's hubs (op_destroy: no child is left). */
void cx__op_tree_free_hubs(cx_op *op);
/* The op's id, made on first request (NULL only when out of memory). */
const char *cx__op_id(const cx_op *op);
/* @op's start and end on the cx__now_ns() clock (0: not yet), read under
 * its lock (op_context.c). */
void cx__op_mono_times(const cx_op *op, int64_t *start, int64_t *end);
/* Whether @op has exited (COMPLETED, CANCELLED or FAILED). */
bool cx__op_exited(const cx_op *op);
/* The movable deadline (op_deadline.c): closes it at exit (no fire
 * afterwards), frees it with the op. */
void cx__op_mover_close(cx_op *op);
void cx__op_mover_free(cx_op *op);
/* The effective deadline of a running @op: its own and its ancestors',
 * up to a shield or a detached op (CX__NO_DEADLINE: none). */
int64_t cx__op_effective_deadline(const cx_op *op);
/* Combined ops (op_sources.c): starts the sources of @op's inputs that
 * are PENDING and not lent (and their inputs'), for @op's host; 0 or the
 * start error, with nothing left lent.  Their earliest deadline. */
int cx__op_lend_inputs(cx_op *op);
int64_t cx__op_inputs_deadline(const cx_op *op);
/* Stops what cx__op_lend_inputs() started and gives the inputs back. */
void cx__op_return_inputs(cx_op *op);
/* Drops the inputs' references (op_destroy). */
void cx__op_free_inputs(cx_op *op);
/* Ends @op as forgotten if it is: RUNNING, the calling thread's innermost
 * op by its own enter, with no reference left but the enter's and its
 * hubs' pin, and no child alive (op.c). */
void cx__op_check_forgotten(cx_op *op);
/* Ends a shield (op.c). */
int cx__shield_exit(cx_op *shield, int result);

/* Current-operation stack of the calling thread (current.c). */
/* Makes room for one push (and hooks the thread's exit): 0 or -ENOMEM. */
int cx__current_reserve(void);
/* Pushes @op under the key @frame, after a cx__current_reserve().  An
 * @adopted entry holds a reference on @op (its owner drops it); at thread
 * exit an adopted entry's reference is dropped, any other op is ended. */
void cx__current_push(const cx__frame *frame, cx_op *op, bool adopted);
/* Pops @frame if it is the innermost; false otherwise. */
bool cx__current_pop(const cx__frame *frame);
bool cx__current_is_top(const cx__frame *frame);
/* The innermost op of the calling thread's stack, a shield's handle
 * included: the op whose cancellation the cancellation points given NULL
 * follow (cx_current() goes past shields to the op they enclose).  NULL
 * outside any op.  Async-signal-safe. */
cx_op *cx__current_scope(void);
/* The innermost op of the calling thread's stack when its entry is the
 * op's own enter (not an adoption), else NULL. */
cx_op *cx__current_top_own(void);
/* How many entries the calling thread's stack holds. */
size_t cx__current_depth(void);
/* Ends @op, the innermost entry of an exiting thread (op.c): status FAILED
 * with -EOWNERDEAD (CANCELLED if it was cancelled), logged; a shield's
 * handle reference is released too. */
void cx__op_end_abandoned(cx_op *op);

#endif /* CX_OP_INTERNAL_H */
