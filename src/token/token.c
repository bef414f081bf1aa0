/* src/token/token.c - token life cycle, cancel, queries, waits and the
 * pollable fd.  Callbacks are in token_callbacks.c, links in token_link.c,
 * the signal-safe cancel in token_signal.c. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/fork.h"
#include "runtime/sync.h"
#include "runtime/wakeup.h"
#include "token/token.h"

/* Per-thread work lists that keep cascades and frees iterative: a cancel
 * (or free) reached from inside another one on the same thread is queued
 * and handled by the outermost call, so depth never grows the stack.
 * A cancel runs in two phases, so that no user callback delays a
 * descendant's cancel:
 *  1. cascade: each token this thread claimed (`work`) is woken and its
 *     children claimed, under the cascade lock while any has children;
 *  2. callbacks: the tokens that have some (`calls`), in claim order, once
 *     phase 1 is over.  A cancel made by a callback runs its own phase 1
 *     at once and leaves its callbacks to this loop. */
static _Thread_local cx_token *work_head, *work_tail;
static _Thread_local cx_token *calls_head, *calls_tail;
enum { PHASE_IDLE, PHASE_CASCADE, PHASE_CALLBACKS };
static _Thread_local int phase;
static _Thread_local cx_token *free_head;
static _Thread_local bool freeing;

const char cx__msg_signal[] = "cancelled from a signal handler";
const char cx__msg_lost[] = "(message lost: out of memory)";

cx_token *cx_token_new(void) { return cx__token_new_plain(); }

cx_token *cx__token_new_lazy(void) {
  cx_token *t = cx__block_alloc(sizeof *t);
  if (t != NULL) cx__token_init(t, CX__KIND_LAZY, NULL);
  return t;
}

cx__token_ext *cx__token_ext_make(cx_token *t) {
  cx__token_ext *ext = cx__block_alloc(sizeof *ext), *expected = NULL;
  if (ext == NULL) return NULL;
  cx__token_ext_init(ext);
  if (!atomic_compare_exchange_strong(&t->ext, &expected, ext)) {
    cx__block_free(ext, sizeof *ext); /* another thread made it first */
    return expected;
  }
  return ext;
}

cx_token *cx_token_ref(cx_token *t) {
  if (t != NULL) atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
  return t;
}

cx_token *cx__token_try_ref(cx_token *t) {
  uint32_t n = atomic_load_explicit(&t->refs, memory_order_relaxed);
  while (n != 0) {
    if (atomic_compare_exchange_weak(&t->refs, &n, n + 1)) return t;
  }
  return NULL;
}

/* Whether freeing @t may drop other tokens (the sources of its links, its
 * cause) or run user code (destroy notifiers of its callbacks). */
static bool destroy_reaches_out(const cx__token_ext *ext) {
  /* The links first: while @t is still in a source's list, that source's
   * cascade may be claiming it, writing ext->cause under the source's lock
   * and without a reference (cx__token_cascade), until the unlink takes
   * that lock; only a token with no link left has a cause no one writes. */
  return ext != NULL &&
         (atomic_load_explicit(&ext->links, memory_order_relaxed) != NULL ||
          ext->cause != NULL || !cx__list_empty(&ext->callbacks));
}

/* Frees what the ext holds (not the ext itself). */
static void ext_destroy(cx_token *t, cx__token_ext *ext) {
  char *lazy = atomic_load_explicit(&ext->lazy_message, memory_order_relaxed);
  char *id = atomic_load_explicit(&ext->id_text, memory_order_relaxed);
  if (atomic_load_explicit(&ext->links, memory_order_relaxed) != NULL)
    cx__token_unlink_dead(ext);
  if (!cx__list_empty(&ext->callbacks)) cx__token_free_callbacks(ext);
  if (ext->cause != NULL) cx_token_unref(ext->cause);
  if (ext->wake.read_fd >= 0) cx__wakeup_close(&ext->wake);
  if (t->claim & CX__CLAIM_MSG_OWNED) cx__free((char *)ext->message);
  if (lazy != NULL) cx__free(lazy);
  if (id != NULL) cx__free(id);
}

/* Frees @t, whose ext is @ext (found once by the caller). */
static void token_destroy(cx_token *t, cx__token_ext *ext) {
  if (ext != NULL) ext_destroy(t, ext);
  /* One constant size per call: the cache's class is then folded. */
  switch (t->kind) {
    case CX__KIND_CHILD:
      cx__block_free(t, sizeof(cx__child_token));
      break;
    case CX__KIND_PLAIN:
      cx__block_free(t, sizeof(cx__plain_token));
      break;
    case CX__KIND_LAZY:
      if (ext != NULL) cx__block_free(ext, sizeof *ext);
      cx__block_free(t, sizeof *t);
      break;
    default:
      if (ext != NULL) cx__block_free(ext, sizeof *ext);
      cx__token_free_timed(t);
  }
}

void cx_token_unref(cx_token *t) {
  if (t != NULL) cx__token_unref(t);
}

/* Frees what frees queued on this thread (freeing is set). */
static void free_queued(void) {
  cx_token *t;
  while ((t = free_head) != NULL) {
    free_head = t->pending_next;
    token_destroy(t, cx__token_ext_of(t));
  }
}

void cx__token_destroy_dead(cx_token *t) {
  cx__token_ext *ext;
  if (freeing) {
    /* Reached from another free on this thread (or deferred while the
     * cascade lock is held): the outermost call frees it, so a chain of
     * tokens is freed without recursion. */
    t->pending_next = free_head;
    free_head = t;
    return;
  }
  ext = cx__token_ext_of(t);
  if (!destroy_reaches_out(ext)) {
    token_destroy(t, ext); /* frees nothing else: no work list needed */
    return;
  }
  freeing = true;
  token_destroy(t, ext);
  free_queued();
  freeing = false;
}

bool cx__token_defer_frees_begin(void) {
  bool outer = freeing;
  freeing = true;
  return outer;
}

void cx__token_defer_frees_end(bool outer) {
  if (outer) return; /* the outer free loop (or deferral) takes them */
  free_queued();
  freeing = false;
}

/* A cancel that lost waits for the winner to publish, so that "returned
 * false" implies "reads as cancelled".  The window is a few stores long. */
void cx__token_wait_published(const cx_token *t) {
  while (atomic_load_explicit(&t->state, memory_order_acquire) != CX__CANCELLED)
    sched_yield();
}

/* cx__token_claim(); @named: @message (owned) is followed by a source's
 * name (CX__CLAIM_SOURCE). */
static bool claim_named(cx_token *t, cx_reason reason, const char *message,
                        bool owned, cx_token *cause, bool preserve,
                        bool named) {
  int expected = CX__LIVE;
  cx__token_ext *ext;
  uint8_t claim = (owned ? CX__CLAIM_MSG_OWNED : 0) |
                  (preserve ? CX__CLAIM_PRESERVE : 0) |
                  (named ? CX__CLAIM_SOURCE : 0);
  if (!atomic_compare_exchange_strong_explicit(
          &t->state, &expected, CX__CLAIMED, memory_order_acq_rel,
          memory_order_acquire))
    return false;
  t->reason = (uint8_t)reason;
  ext = cx__token_ext_of(t);
  if (ext != NULL) {
    ext->message = message;
    ext->cause = cx_token_ref(cause);
    /* A cascade keeps the time its origin was cancelled (and saves a clock
     * read per descendant). */
    atomic_store_explicit(
        &ext->cancel_time,
        cause != NULL ? cx_token_cancel_time(cause) : cx__wall_now(),
        memory_order_relaxed);
  } else {
    claim |= CX__CLAIM_TIME_LATE;
    if (message == cx__msg_signal) claim |= CX__CLAIM_MSG_SIGNAL;
    if (message == cx__msg_lost) claim |= CX__CLAIM_MSG_LOST;
  }
  t->claim = claim;
  /* seq_cst: pairs with the registrants' `has` bits (see token.h). */
  atomic_store(&t->state, CX__CANCELLED);
  return true;
}

bool cx__token_claim(cx_token *t, cx_reason reason, const char *message,
                     bool owned, cx_token *cause, bool preserve) {
  return claim_named(t, reason, message, owned, cause, preserve, false);
}

static void list_push(cx_token **head, cx_token **tail, cx_token *t) {
  t->pending_next = NULL;
  if (*tail != NULL)
    (*tail)->pending_next = t;
  else
    *head = t;
  *tail = t;
}

static cx_token *list_pop(cx_token **head, cx_token **tail) {
  cx_token *t = *head;
  if (t == NULL) return NULL;
  *head = t->pending_next;
  if (*head == NULL) *tail = NULL;
  t->pending_next = NULL;
  return t;
}

void cx__token_queue(cx_token *t) { list_push(&work_head, &work_tail, t); }

/* Makes the fd of a claimed token readable. */
static void wake_fd(cx_token *t) {
  cx__token_ext *ext = cx__token_ext_of(t); /* made before HAS_FD was set */
  cx__stripe *s = cx__stripe_for(t);
  pthread_mutex_lock(&s->mu);
  if (ext->wake.read_fd >= 0) {
    if (ext->wake_generation == cx__fork_generation())
      cx__wakeup_signal(&ext->wake);
    else
      cx__wakeup_close(&ext->wake); /* the parent's: not ours to signal;
                                       the next cx_token_fd() makes our
                                       own */
  }
  pthread_mutex_unlock(&s->mu);
}

/* Wakes whoever waits on a claimed token (blocked waits, the fd).  Never
 * recurses, so it runs at once even inside another cancel; repeating it is
 * harmless. */
static void wake_waiters(cx_token *t, unsigned has) {
  if (has & CX__HAS_WAITERS) cx__unpark_all(&t->state, t);
  if (has & CX__HAS_FD) wake_fd(t);
}

/* Phase 1 of a claimed cancel for @t: wakes its waiters and claims its
 * children, then hands it to phase 2 if it has callbacks. */
static void cascade_one(cx_token *t, bool *locked) {
  unsigned has = atomic_load(&t->has); /* after the seq_cst publish */
  wake_waiters(t, has);
  if (has & CX__HAS_CHILDREN) {
    if (!*locked) cx__cascade_lock();
    *locked = true;
    cx__token_cascade(t);
  }
  if (has & CX__HAS_CALLBACKS)
    list_push(&calls_head, &calls_tail, t); /* our reference goes along */
  else
    cx_token_unref(t);
}

/* Phase 1: until no claimed token of this thread and no token it must help
 * is left.  When it returns, every descendant of every token it took is
 * claimed. */
static void cascade_phase(void) {
  int outer = phase;
  bool locked = false;
  /* Tokens freed meanwhile are freed after the lock is released: their
   * destroy notifiers are user code. */
  bool deferring = cx__token_defer_frees_begin();
  cx_token *t;
  phase = PHASE_CASCADE;
  for (;;) {
    if ((t = list_pop(&work_head, &work_tail)) != NULL) {
      cascade_one(t, &locked);
    } else if ((t = cx__token_help_pop()) != NULL) {
      if (!locked) cx__cascade_lock();
      locked = true;
      cx__token_wait_published(t); /* its reason, before its children */
      if (atomic_load(&t->has) & CX__HAS_CHILDREN) cx__token_cascade(t);
      cx_token_unref(t);
    } else {
      break;
    }
  }
  if (locked) cx__cascade_unlock();
  phase = outer;
  cx__token_defer_frees_end(deferring);
}

/* Runs both phases for what this thread queued, unless an outer call on
 * this thread is already doing so. */
static void drain(void) {
  cx_token *t;
  if (phase == PHASE_CASCADE) return; /* the outer phase 1 takes it */
  cascade_phase();
  if (phase == PHASE_CALLBACKS) return; /* the outer loop runs them */
  phase = PHASE_CALLBACKS;
  while ((t = list_pop(&calls_head, &calls_tail)) != NULL) {
    cx__token_run_callbacks(t);
    cx_token_unref(t);
  }
  phase = PHASE_IDLE;
}

void cx__token_finish_claimed(cx_token *t) {
  cx__token_queue(t);
  drain();
}

void cx__token_log_unhelped(void) {
  cx__log(CX_LOG_WARNING, NULL,
          "cancel: out of memory; a descendant that another thread is "
          "cancelling may be cancelled just after this cancel returns");
}

void cx__token_settle(cx_token *t) {
  /* Only a token with children can have descendants left to claim. */
  if (!(atomic_load(&t->has) & CX__HAS_CHILDREN)) return;
  if (!cx__token_help_push(cx_token_ref(t))) {
    cx_token_unref(t);
    cx__token_log_unhelped();
    return;
  }
  drain();
}

/* "MESSAGE\0SOURCE" in one block (NULL when out of memory). */
static char *copy_with_source(const char *message, const char *source) {
  size_t m = strlen(message) + 1, n = strlen(source) + 1;
  char *copy = cx__malloc(m + n);
  if (copy != NULL) {
    memcpy(copy, message, m);
    memcpy(copy + m, source, n);
  }
  return copy;
}

/* cx_token_cancel(), naming the source (nullable; see
 * cx__token_cancel_from). */
static bool cancel(cx_token *t, cx_reason reason, const char *message,
                   const char *source) {
  char *copy = NULL;
  const char *msg = NULL;
  if (t == NULL || !cx__reason_valid(reason)) {
    cx__log(CX_LOG_WARNING, NULL, "cx_token_cancel: %s",
            t == NULL ? "NULL token" : "invalid reason");
    return false;
  }
  if (atomic_load_explicit(&t->state, memory_order_acquire) != CX__LIVE) {
    cx__token_wait_published(t);
    cx__token_settle(t);
    return false;
  }
  /* Out of memory loses the text (and without an ext the time), never the
   * cancel. */
  if (cx__token_ext_get(t) == NULL) {
    msg = message != NULL ? cx__msg_lost : NULL;
  } else if (source != NULL) {
    copy = copy_with_source(message != NULL ? message : "", source);
    msg = copy != NULL ? copy : cx__msg_lost;
  } else if (message != NULL) {
    copy = cx__strdup(message);
    msg = copy != NULL ? copy : cx__msg_lost;
  }
  if (!claim_named(t, reason, msg, copy != NULL, NULL, false,
                   copy != NULL && source != NULL)) {
    cx__free(copy);
    cx__token_wait_published(t);
    cx__token_settle(t);
    return false;
  }
  cx__token_finish_claimed(cx_token_ref(t));
  return true;
}

bool cx_token_cancel(cx_token *t, cx_reason reason, const char *message) {
  return cancel(t, reason, message, NULL);
}

bool cx__token_cancel_from(cx_token *t, cx_reason reason, const char *message,
                           const char *source) {
  return cancel(t, reason, message, source);
}

const char *cx__token_source(const cx_token *t) {
  const char *m;
  if (atomic_load_explicit(&t->state, memory_order_acquire) != CX__CANCELLED ||
      !(t->claim & CX__CLAIM_SOURCE))
    return NULL;
  m = cx__token_ext_of(t)->message; /* the flag is set only with an ext */
  return m + strlen(m) + 1;
}

bool cx_token_is_cancelled(const cx_token *t) {
  return t != NULL &&
         atomic_load_explicit(&t->state, memory_order_acquire) == CX__CANCELLED;
}

int cx_token_check(const cx_token *t) {
  if (t == NULL) return -EINVAL;
  return cx_token_is_cancelled(t) ? -ECANCELED : 0;
}

cx_reason cx_token_cancel_reason(const cx_token *t) {
  return cx_token_is_cancelled(t) ? (cx_reason)t->reason : CX_REASON_NONE;
}

double cx_token_cancel_time(const cx_token *t) {
  if (!cx_token_is_cancelled(t)) return 0.0;
  for (;;) {
    cx__token_ext *ext = cx__token_ext_of(t);
    double time;
    if (ext == NULL) return 0.0;
    time = atomic_load_explicit(&ext->cancel_time, memory_order_relaxed);
    /* A cascade copies its origin's time; an origin whose time is recorded
     * late (CX__CLAIM_TIME_LATE) may have had none yet: ask it. */
    if (time != 0.0 || ext->cause == NULL) return time;
    t = ext->cause;
  }
}

void cx__token_record_late_time(cx_token *t) {
  cx__token_ext *ext;
  double unknown = 0.0;
  if (!(t->claim & CX__CLAIM_TIME_LATE) || (ext = cx__token_ext_get(t)) == NULL)
    return;
  atomic_compare_exchange_strong(&ext->cancel_time, &unknown, cx__wall_now());
}

const char *cx__token_own_message(const cx_token *t) {
  cx__token_ext *ext = cx__token_ext_of(t);
  if (ext != NULL && ext->message != NULL) return ext->message;
  if (t->claim & CX__CLAIM_MSG_SIGNAL) return cx__msg_signal;
  if (t->claim & CX__CLAIM_MSG_LOST) return cx__msg_lost;
  return NULL;
}

const cx_token *cx__token_origin(const cx_token *t) {
  const cx_token *cause;
  while ((cause = cx__token_cause(t)) != NULL) t = cause;
  return t;
}

/* Formats the PARENT message of @t (cancelled by a cascade, so it has an
 * ext) once; returns the installed text. */
static const char *parent_message(const cx_token *t, cx__token_ext *ext) {
  const cx_token *origin = cx__token_origin(t);
  const char *text = cx__token_own_message(origin);
  size_t len;
  char *expected = NULL, *m;
  if (text == NULL) text = "";
  len = strlen(text) + 64;
  if ((m = cx__malloc(len)) == NULL) return "parent cancelled";
  snprintf(m, len, "parent cancelled (%s): %s",
           cx_reason_name((cx_reason)origin->reason), text);
  if (!atomic_compare_exchange_strong(&ext->lazy_message, &expected, m)) {
    cx__free(m);
    return expected;
  }
  return m;
}

const char *cx_token_cancel_message(const cx_token *t) {
  const char *own, *lazy;
  cx__token_ext *ext;
  if (!cx_token_is_cancelled(t)) return NULL;
  while ((t->claim & CX__CLAIM_PRESERVE) && cx__token_cause(t) != NULL)
    t = cx__token_cause(t);
  if ((own = cx__token_own_message(t)) != NULL) return own;
  if (cx__token_cause(t) == NULL) return "";
  ext = cx__token_ext_of(t);
  lazy = atomic_load_explicit(&ext->lazy_message, memory_order_acquire);
  return lazy != NULL ? lazy : parent_message(t, ext);
}

int cx__token_set_id(cx_token *t, const char *id) {
  cx__token_ext *ext = cx__token_ext_get(t);
  char *copy, *old;
  if (ext == NULL || (copy = cx__strdup(id)) == NULL) return -ENOMEM;
  old = atomic_exchange(&ext->id_text, copy);
  cx__free(old);
  return 0;
}

const char *cx_token_id(const cx_token *t) {
  cx__token_ext *ext;
  /* Logically const: the extension and the id are caches made on the
   * first request (most tokens are never asked for an id). */
  if (t == NULL || (ext = cx__token_ext_get((cx_token *)t)) == NULL)
    return NULL;
  return cx__id_lazy(&ext->id_text);
}

int cx_token_wait(cx_token *t, double timeout) {
  int64_t deadline;
  int state;
  if (t == NULL || cx__timeout_to_deadline(timeout, &deadline) != 0)
    return -EINVAL;
  if (cx_token_is_cancelled(t)) return 0;
  if (timeout == 0) return -ETIMEDOUT;
  cx__after_fork_resume();
  /* Yield once before sleeping, as spin-then-park locks do: where the CPU
   * is shared with the thread that will cancel, that thread runs first,
   * and a cancel made meanwhile costs no sleep and no wake-up (on one CPU
   * a futex wake that preempts the canceller is the slow path: S9_1cpu,
   * docs/benchmarks.md).  One system call on a wait that is about to
   * sleep anyway. */
  sched_yield();
  if (cx_token_is_cancelled(t)) return 0;
  cx__token_mark(t, CX__HAS_WAITERS); /* before the state check */
  /* Parks on the state word itself: the cancel that publishes CANCELLED
   * then wakes it (futex), or finds it inside its wait (fallback). */
  while ((state = atomic_load(&t->state)) != CX__CANCELLED) {
    if (cx__park(&t->state, state, deadline, t) == ETIMEDOUT &&
        !cx_token_is_cancelled(t))
      return -ETIMEDOUT;
  }
  return 0;
}

/* cx_token_fd() under the stripe's lock; @ext made. */
static int fd_locked(cx_token *t, cx__token_ext *ext) {
  int rc = 0;
  if (ext->wake.read_fd >= 0 &&
      ext->wake_generation != (uint16_t)cx__fork_generation()) {
    /* Inherited from the parent, whose cancels would make ours readable
     * (and ours its): a fork child gets a descriptor of its own.  The
     * parent's pollers are not in the child. */
    cx__wakeup_close(&ext->wake);
    ext->fd_pollers = 0;
    ext->fd_release_pending = false;
  }
  if (ext->wake.read_fd < 0) {
    ext->wake_generation = (uint16_t)cx__fork_generation();
    rc = cx__wakeup_open(&ext->wake);
    if (rc == 0) {
      cx__token_mark(t, CX__HAS_FD); /* before the state check */
      if (atomic_load(&t->state) == CX__CANCELLED)
        cx__wakeup_signal(&ext->wake);
    }
  }
  return rc == 0 ? ext->wake.read_fd : rc;
}

/* Takes the descriptor with the stripe locked; @hold counts a poller. */
static int fd_get(cx_token *t, bool hold) {
  cx__token_ext *ext;
  cx__stripe *s;
  int rc;
  if (t == NULL) return -EINVAL;
  if ((ext = cx__token_ext_get(t)) == NULL) return -ENOMEM;
  s = cx__stripe_for(t);
  pthread_mutex_lock(&s->mu);
  rc = fd_locked(t, ext);
  if (rc >= 0 && hold && ext->fd_pollers < 0x7fff) ext->fd_pollers++;
  if (rc >= 0 && !hold) ext->fd_release_pending = false; /* in use again */
  pthread_mutex_unlock(&s->mu);
  return rc;
}

int cx_token_fd(cx_token *t) { return fd_get(t, false); }

int cx__token_fd_hold(cx_token *t) { return fd_get(t, true); }

void cx__token_fd_unhold(cx_token *t) {
  cx__token_ext *ext = cx__token_ext_of(t);
  cx__stripe *s = cx__stripe_for(t);
  pthread_mutex_lock(&s->mu);
  if (ext->fd_pollers > 0 && --ext->fd_pollers == 0 &&
      ext->fd_release_pending) {
    cx__wakeup_close(&ext->wake);
    ext->fd_release_pending = false;
  }
  pthread_mutex_unlock(&s->mu);
}

int cx_token_fd_release(cx_token *t) {
  cx__token_ext *ext;
  cx__stripe *s;
  if (t == NULL) return -EINVAL;
  /* No ext: no descriptor was ever made (cx_token_fd() makes the ext). */
  if ((ext = cx__token_ext_of(t)) == NULL) return 0;
  s = cx__stripe_for(t);
  /* Under the stripe's lock, as the cancel's wake_fd(): a cancel running
   * now signals the descriptor before we close it, or finds none. */
  pthread_mutex_lock(&s->mu);
  if (ext->fd_pollers > 0)
    ext->fd_release_pending = true; /* a library wait polls it: it closes */
  else
    cx__wakeup_close(&ext->wake);
  pthread_mutex_unlock(&s->mu);
  return 0;
}
