/* src/op/op.c - operation life cycle: create, enter, exit, cancel.  The
 * layers above (registry, progress) follow it through the lifecycle events
 * (events.h). */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "op/events.h"
#include "op/op.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/compiler.h"
#include "runtime/fork.h"
#include "runtime/sync.h"
#include "sources/sources.h"
#include "token/token.h"

#define MAX_ID_LEN 127

static _Thread_local cx_op *op_free_head;
static _Thread_local bool op_freeing;

/* Whether @o asks for a detached child (read only when its size covers
 * the member: older callers' options end before it). */
static bool wants_detached(const cx_op_options *o) {
  return o->parent != NULL &&
         o->size >= offsetof(cx_op_options, detached) + sizeof(bool) &&
         o->detached;
}

/* Makes the token of a new op from its options: always one of its own, a
 * child of the parent's (none for a detached child), linked to the
 * caller's token when one is given (issue 17 item 2: the caller's token
 * cancels the op, the op's sources and cx_op_cancel() never cancel it). */
static int make_token(cx_op *op, const cx_op_options *o) {
  bool follow_parent = o->parent != NULL && !op->detached;
  int rc;
  /* A child of its hub's token in one block (cx_token_new_child); any
   * other token with its ext made when first needed (most ops are never
   * linked to, listened to or asked for an id: the 96-byte ext, made on
   * its own later, is a 104-byte block). */
  if (follow_parent)
    rc = cx_token_new_child(&op->token, cx__op_tree_parent_token(op), 0);
  else
    rc = (op->token = cx__token_new_lazy()) != NULL ? 0 : -ENOMEM;
  if (rc != 0) return rc;
  /* One id for the op and its own token: logs about the token (a failing
   * callback) then name the op.  Without an explicit id the token's own
   * (made on request) is the op's. */
  if (atomic_load(&op->id) != NULL) {
    rc = cx__token_set_id(op->token, atomic_load(&op->id));
    if (rc != 0) return rc;
  }
  if (o->token != NULL)
    return cx_token_link(op->token, o->token, CX_LINK_PRESERVE_REASON);
  return 0;
}

/* An explicit id is copied now (and given to an own token); otherwise the
 * id is made when first asked for (cx__op_id). */
static int set_explicit_id(cx_op *op, const char *id) {
  char *copy;
  if (id == NULL) return 0;
  copy = cx__strdup(id);
  if (copy == NULL) return -ENOMEM;
  atomic_store(&op->id, copy);
  return 0;
}

/* The id of the op whose sources @host serves (for their logs). */
static const char *host_id(const cx__source_host *host) {
  return cx__op_id(cx__container_of(host, cx_op, host));
}

static int validate(const cx_op_options *o) {
  /* Options from headers before `detached` end at register_op. */
  if (o->size < offsetof(cx_op_options, register_op) + sizeof(bool))
    return -EINVAL;
  if (o->timeout != 0 && !(isfinite(o->timeout) && o->timeout > 0))
    return -EINVAL;
  if (o->id != NULL && (o->id[0] == '\0' || strlen(o->id) > MAX_ID_LEN))
    return -EINVAL;
  return 0;
}

static void op_destroy(cx_op *op) {
  cx__list *node;
  cx__op_tree_detach(op);
  cx__sources_free(&op->sources);
  cx__op_free_inputs(op);
  cx__op_mover_free(op);
  cx__op_emit_destroyed(op);
  while ((node = cx__list_first(&op->callbacks)) != NULL) {
    cx__status_cb *cb = cx__container_of(node, cx__status_cb, node);
    cx__list_remove(node);
    if (cb->destroy != NULL) cb->destroy(cb->user_data);
    cx__free(cb);
  }
  if (op->partial_destroy != NULL) op->partial_destroy(op->partial);
  cx_meta_free(op->meta);
  cx__free(atomic_load(&op->lazy_message));
  if (op->name_owned) cx__free((char *)op->name);
  cx__free(atomic_load(&op->id));
  cx__op_tree_free_hubs(op);
  cx_token_unref(op->token);
  cx__op_tree_leave(op);
  cx__block_free(op, cx__op_block_size(op));
}

int cx_op_create(cx_op **out, const cx_op_options *opts) {
  cx_op_options defaults = CX_OP_OPTIONS_INIT;
  cx_op *op;
  int64_t timeout = 0;
  bool own_timeout;
  int rc;
  if (out == NULL) return -EINVAL;
  *out = NULL;
  if (opts == NULL) opts = &defaults;
  rc = validate(opts);
  own_timeout = opts->timeout > 0;
  if (rc == 0 && own_timeout) rc = cx__duration_to_ns(opts->timeout, &timeout);
  if (rc != 0) return rc;
  /* The own timeout after the op, in its block. */
  op = cx__block_alloc(sizeof *op + (own_timeout ? sizeof(cx__op_timeout) : 0));
  if (op == NULL) return -ENOMEM;
  memset(op, 0, sizeof *op);
  if (own_timeout) cx__op_timeout_init(op, timeout);
  cx__list_init(&op->sibling);
  cx__list_init(&op->callbacks);
  cx__list_init(&op->sources);
  atomic_init(&op->refs, 1);
  atomic_init(&op->status, CX_STATUS_PENDING);
  atomic_init(&op->deadline, CX__NO_DEADLINE);
  atomic_init(&op->mover, NULL);
  atomic_init(&op->mover_closed, false);
  atomic_init(&op->deadline_ready, false);
  atomic_init(&op->has_callbacks, false);
  atomic_init(&op->lazy_message, NULL);
  op->register_asked = opts->register_op;
  op->detached = wants_detached(opts);
  atomic_init(&op->id, NULL);
  op->name_owned = opts->name != NULL;
  op->name = opts->name != NULL ? cx__strdup(opts->name) : "operation";
  rc = op->name == NULL ? -ENOMEM : 0;
  if (rc == 0) rc = cx__op_tree_join(op, opts->parent);
  if (rc == 0 && opts->metadata != NULL) {
    op->meta = cx_meta_copy(opts->metadata);
    if (op->meta == NULL) rc = -ENOMEM;
  }
  if (rc == 0) rc = set_explicit_id(op, opts->id);
  if (rc == 0) rc = make_token(op, opts);
  op->host.token = op->token;
  op->host.id = host_id;
  if (rc != 0) {
    op_destroy(op);
    return rc;
  }
  if (op->parent != NULL) cx__op_tree_attach(op);
  *out = op;
  return 0;
}

int cx_op_with_timeout(cx_op **out, cx_op *parent, double seconds,
                       const char *name) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  if (out != NULL) *out = NULL;
  if (!(isfinite(seconds) && seconds > 0)) return -EINVAL;
  o.parent = parent;
  o.timeout = seconds;
  o.name = name;
  return cx_op_create(out, &o);
}

int cx_op_with_token(cx_op **out, cx_op *parent, cx_token *token,
                     const char *name) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  if (out != NULL) *out = NULL;
  if (token == NULL) return -EINVAL;
  o.parent = parent;
  o.token = token;
  o.name = name;
  return cx_op_create(out, &o);
}

int cx_op_without_cancel(cx_op **out, cx_op *parent, const char *name) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  if (out != NULL) *out = NULL;
  if (parent == NULL) return -EINVAL;
  o.parent = parent;
  o.detached = true;
  o.name = name;
  return cx_op_create(out, &o);
}

cx_op *cx_op_ref(cx_op *op) {
  if (op != NULL) atomic_fetch_add_explicit(&op->refs, 1, memory_order_relaxed);
  return op;
}

static bool forgotten(cx_op *op);
static void end_forgotten_on_top(void);

void cx_op_unref(cx_op *op) {
  uint32_t old;
  if (op == NULL) return;
  old = atomic_fetch_sub_explicit(&op->refs, 1, memory_order_acq_rel);
  if (old == 2 || old == 3) { /* the enter's (and a pin) may be left */
    /* This call holds no reference any more: another thread may free @op
     * now, unless it is this thread's innermost op by its own enter, whose
     * reference only this thread drops.  forgotten() checks that first,
     * from the address alone. */
    if (forgotten(op)) end_forgotten_on_top();
    return;
  }
  if (old != 1) return;
  /* Iterative: freeing a child drops its parent, which may free it... */
  op->free_next = op_free_head;
  op_free_head = op;
  if (op_freeing) return;
  op_freeing = true;
  while ((op = op_free_head) != NULL) {
    op_free_head = op->free_next;
    op_destroy(op);
  }
  op_freeing = false;
}

/* cx_op_add_timeout() and its variant with a cause (@cause nullable). */
static int add_timeout(cx_op *op, double seconds, const char *cause) {
  cx_source *src;
  int rc;
  if (op == NULL) return -EINVAL;
  if (atomic_load(&op->status) != CX_STATUS_PENDING) return -EBUSY;
  rc = cause != NULL ? cx_source_timeout_cause(&src, seconds, cause)
                     : cx_source_timeout(&src, seconds);
  if (rc != 0) return rc;
  rc = cx_op_add_source(op, src);
  if (rc != 0) cx_source_free(src);
  return rc;
}

int cx_op_add_timeout(cx_op *op, double seconds) {
  return add_timeout(op, seconds, NULL);
}

int cx_op_add_timeout_cause(cx_op *op, double seconds, const char *message) {
  if (message == NULL) return -EINVAL;
  return add_timeout(op, seconds, message);
}

/* Whether @event is still to come for an op in @status: START while
 * PENDING, the final events until the final status is published. */
static bool event_ahead(int status, cx_op_event event) {
  if (status == CX_STATUS_PENDING) return true;
  if (status == CX_STATUS_RUNNING || status == CX_STATUS_SHIELDED)
    return event != CX_OP_ON_START;
  return false;
}

/* Whether @event is the one that happened to an op whose @status is past
 * it (START for any entered op; the final event of the final status). */
static bool event_happened(int status, cx_op_event event) {
  switch (event) {
    case CX_OP_ON_START:
      return true;
    case CX_OP_ON_COMPLETE:
      return status == CX_STATUS_COMPLETED;
    case CX_OP_ON_CANCEL:
      return status == CX_STATUS_CANCELLED;
    default:
      return status == CX_STATUS_FAILED;
  }
}

int cx_op_on(cx_op *op, cx_op_event event, cx_op_fn fn, void *user_data,
             void (*destroy)(void *)) {
  cx__status_cb *cb;
  cx__stripe *s;
  int status;
  bool appended = false;
  if (op == NULL || fn == NULL || event < CX_OP_ON_START ||
      event > CX_OP_ON_ERROR)
    return -EINVAL;
  cb = cx__calloc(1, sizeof *cb);
  if (cb == NULL) return -ENOMEM;
  cb->event = event;
  cb->fn = fn;
  cb->user_data = user_data;
  cb->destroy = destroy;
  s = cx__stripe_for(op);
  /* Enter and exit publish their status under this lock, then fire: a
   * callback appended before that is found by fire(), and after it the
   * status says that the event is past. */
  pthread_mutex_lock(&s->mu);
  status = atomic_load(&op->status);
  if (event_ahead(status, event)) {
    cx__list_append(&op->callbacks, &cb->node);
    atomic_store(&op->has_callbacks, true);
    appended = true;
  }
  pthread_mutex_unlock(&s->mu);
  if (appended) return 0;
  /* Past: as a token callback on a cancelled token, it runs now if its
   * event happened, and is done with either way. */
  if (event_happened(status, event)) fn(op, user_data);
  if (destroy != NULL) destroy(user_data);
  cx__free(cb);
  return 0;
}

/* The next callback for @event after @node (the list head to begin), under
 * the op's lock (cx_op_on() may append meanwhile); NULL at the end. */
static cx__status_cb *next_for(cx_op *op, cx__list *node, cx_op_event event) {
  cx__stripe *s = cx__stripe_for(op);
  cx__status_cb *found = NULL;
  pthread_mutex_lock(&s->mu);
  for (node = node->next; node != &op->callbacks; node = node->next) {
    cx__status_cb *cb = cx__container_of(node, cx__status_cb, node);
    if (cb->event == event) {
      found = cb;
      break;
    }
  }
  pthread_mutex_unlock(&s->mu);
  return found;
}

/* Runs @op's callbacks for @event in registration order, no lock held
 * while they run.  Nodes stay until the op is freed, so the walk resumes
 * from the last one run. */
static void fire(cx_op *op, cx_op_event event) {
  cx__status_cb *cb;
  cx__list *at = &op->callbacks;
  if (!atomic_load(&op->has_callbacks)) return; /* the common case */
  while ((cb = next_for(op, at, event)) != NULL) {
    cb->fn(op, cb->user_data);
    at = &cb->node;
  }
}

/* Publishes @status of @op, under its stripe lock: every writer holds it,
 * so a check and a store need no atomic read-modify-write, and readers
 * without the lock pair with a release store (a plain store on x86, where
 * a seq_cst one costs an xchg).  No reader orders another store against
 * it (no Dekker pattern: cx_op_on() reads it under the lock). */
static void set_status(cx_op *op, cx_status status) {
  atomic_store_explicit(&op->status, (int)status, memory_order_release);
}

int cx_op_enter(cx_op *op) {
  int64_t now, deadline;
  cx__stripe *s;
  int rc;
  if (op == NULL) return -EINVAL;
  cx__after_fork_resume();
  if (cx__current_reserve() != 0) return -ENOMEM;
  s = cx__stripe_for(op);
  /* Taking the op's lock orders this with cx_op_on()/add_source(). */
  pthread_mutex_lock(&s->mu);
  if (op->lent_to != NULL) { /* a combined op runs its sources */
    pthread_mutex_unlock(&s->mu);
    return -EBUSY;
  }
  if (atomic_load_explicit(&op->status, memory_order_relaxed) !=
      CX_STATUS_PENDING) {
    pthread_mutex_unlock(&s->mu);
    return -EINVAL;
  }
  set_status(op, op->is_shield ? CX_STATUS_SHIELDED : CX_STATUS_RUNNING);
  now = cx__now_ns();
  op->start_mono = now;
  pthread_mutex_unlock(&s->mu);

  op->host.start_mono = now;
  rc = cx__op_sources_start(op, op);
  if (rc == 0 && op->inputs != NULL) {
    rc = cx__op_lend_inputs(op);
    if (rc != 0) cx__op_sources_stop(op);
  }
  if (rc != 0) {
    pthread_mutex_lock(&s->mu);
    op->start_mono = 0;
    op->start_wall = 0; /* a start time asked for meanwhile is void */
    set_status(op, CX_STATUS_PENDING);
    pthread_mutex_unlock(&s->mu);
    cx__op_tree_unpin(op); /* a hub made meanwhile, by another thread */
    return rc;
  }
  /* The op's own; cx_op_deadline() adds the ancestors' as they are at
   * the time it is asked (they may move). */
  deadline = cx__op_sources_deadline(op, op);
  if (op->inputs != NULL) {
    int64_t inputs = cx__op_inputs_deadline(op);
    if (inputs < deadline) deadline = inputs;
  }
  op->sources_deadline = deadline;
  /* A value for readers, in no handshake: release, as the status. */
  atomic_store_explicit(&op->deadline, deadline, memory_order_release);
  /* From here on cx_op_set_deadline() may move them (never before: enter
   * would overwrite the mover's setting, or fail after it armed). */
  atomic_store_explicit(&op->deadline_ready, true, memory_order_release);
  cx_op_ref(op); /* the entered op's own reference, dropped by exit */
  cx__current_push(&op->frame, op, false);
  cx__op_emit_entered(op);
  fire(op, CX_OP_ON_START);
  return 0;
}

/* Ends a RUNNING op or a SHIELDED shield (op_exit() without the check
 * for forgotten ops below it). */
static int op_exit_one(cx_op *op, int result) {
  cx__stripe *s;
  cx_status status;
  cx_op_event event;
  if (!cx__current_is_top(&op->frame)) return -EPERM;
  op->exiting = true;
  cx__op_mover_close(op);
  cx__op_sources_stop(op);
  cx__op_return_inputs(op);
  if (result == 0) {
    status = CX_STATUS_COMPLETED;
    event = CX_OP_ON_COMPLETE;
  } else if (cx_token_is_cancelled(op->token) || result == -ECANCELED) {
    status = CX_STATUS_CANCELLED;
    event = CX_OP_ON_CANCEL;
    if (!cx_token_is_cancelled(op->token)) op->exit_reason = CX_REASON_MANUAL;
  } else {
    status = CX_STATUS_FAILED;
    event = CX_OP_ON_ERROR;
    op->error = result;
  }
  cx__op_emit_exiting(op);
  s = cx__stripe_for(op);
  pthread_mutex_lock(&s->mu);
  op->end_mono = cx__now_ns();
  set_status(op, status);
  pthread_mutex_unlock(&s->mu);
  cx__op_tree_unpin(op);
  atomic_store_explicit(&op->deadline, CX__NO_DEADLINE, memory_order_release);
  cx__current_pop(&op->frame);
  /* A finished child holds nothing of its parent's: leave its list and
   * its token's place in the lists of the tokens it follows. */
  if (!op->is_shield) cx__op_tree_detach(op);
  /* Children of its own still running keep receiving the parent's cancel
   * through this token, so it stays linked until they are gone. */
  if (cx__token_has_links(op->token) && cx_op_child_count(op) == 0)
    cx__token_unlink_all(op->token);
  cx__op_emit_exited(op);
  fire(op, event);
  cx_op_unref(op);
  return 0;
}

/* Whether @op, RUNNING, is the calling thread's innermost op by its own
 * enter with no reference left but that enter's (and the pin of its
 * children's hubs, op_tree.c, with no child alive): whoever entered it
 * released it without cx_op_exit(), and no one can exit it any more. */
static bool forgotten(cx_op *op) {
  bool pinned;
  if (!cx__current_is_top(&op->frame) || /* reads nothing of @op */
      op->exiting) /* this thread's own: an exit under way ends it */
    return false;
  /* The pin first: once seen it stays (only this thread's exit drops
   * it), and a pin made after the read is counted in refs, so that a
   * race can hide a forgotten op but never make one up.  The pin stands
   * for the live children, which each held a reference before hubs:
   * while one lives, the op is not forgotten.  (Best effort, as before:
   * another thread that takes a reference through a live child and then
   * frees that child between the reads of refs and of the children could
   * fool one check; end_forgotten_on_top() checks again.) */
  pinned = cx__op_tree_pinned(op);
  return atomic_load_explicit(&op->refs, memory_order_acquire) ==
             (pinned ? 2u : 1u) &&
         atomic_load(&op->status) == CX_STATUS_RUNNING &&
         !(pinned && cx__op_tree_has_children(op));
}

/* Ends each forgotten op on top of the calling thread's stack, as by
 * cx_op_exit(op, -EOWNERDEAD), and says so in the log: left entered, it
 * would stay current and its cancel would reach every later cancellation
 * point of the thread given NULL. */
static void end_forgotten_on_top(void) {
  cx_op *op;
  while ((op = cx__current_top_own()) != NULL && forgotten(op)) {
    if (cx__log_enabled(CX_LOG_WARNING))
      cx__log(CX_LOG_WARNING, cx__op_id(op),
              "operation '%s' released while running: cx_op_exit() was "
              "never called; ended as %s",
              op->name,
              cx_token_is_cancelled(op->token) ? "cancelled"
                                               : "failed (EOWNERDEAD)");
    op_exit_one(op, -EOWNERDEAD);
  }
}

void cx__op_check_forgotten(cx_op *op) {
  if (forgotten(op)) end_forgotten_on_top();
}

/* Ends @op and then what the exit uncovered: an op below it whose user
 * released it meanwhile (it could not be ended while not innermost). */
static int op_exit(cx_op *op, int result) {
  int rc = op_exit_one(op, result);
  if (rc == 0 && cx__current_depth() > 0) end_forgotten_on_top();
  return rc;
}

int cx_op_exit(cx_op *op, int result) {
  if (op == NULL || op->is_shield ||
      atomic_load(&op->status) != CX_STATUS_RUNNING)
    return -EINVAL;
  return op_exit(op, result);
}

int cx__shield_exit(cx_op *shield, int result) {
  return op_exit(shield, result);
}

void cx__op_end_abandoned(cx_op *op) {
  bool shield = op->is_shield;
  if (cx__log_enabled(CX_LOG_WARNING))
    cx__log(
        CX_LOG_WARNING, cx__op_id(op),
        "thread exited inside %s '%s': ended as %s",
        shield ? "shield" : "operation", op->name,
        cx_token_is_cancelled(op->token) ? "cancelled" : "failed (EOWNERDEAD)");
  op_exit(op, -EOWNERDEAD); /* the innermost: it pops */
  /* Nobody can end a shield of a thread that is gone, nor use its handle:
   * its reference goes too. */
  if (shield) cx_op_unref(op);
}

bool cx_op_cancel(cx_op *op, cx_reason reason, const char *message) {
  if (op == NULL) return false;
  if (cx__op_exited(op)) return false;
  return cx_token_cancel(op->token, reason, message);
}
