/* src/token/token_callbacks.c - cancel callbacks with the rules of C++
 * std::stop_callback: registering on a cancelled token runs the callback at
 * once; unregistering waits for a callback that runs (or is about to run) on
 * another thread, but not on the calling thread; no lock is held while a
 * callback runs.
 *
 * The runner (the thread finishing the cancel) detaches the whole list under
 * the token's lock once, then runs the nodes without it; each node's state
 * word (token.h, CX__CB_*) tells the runner and unregister who frees it, so a
 * callback costs no lock of its own.  An unregister that must wait for a
 * running callback sleeps on the token's stripe condvar. */
#include "base/base.h"
#include "runtime/alloc.h"
#include "runtime/sync.h"
#include "token/token.h"

static void log_failure(cx_token *t, int rc) {
  if (rc != 0 && cx__log_enabled(CX_LOG_WARNING))
    cx__log(CX_LOG_WARNING, cx_token_id(t),
            "cancel callback failed (%d); the others still run", rc);
}

static void node_free(cx_callback *cb) {
  if (cb->destroy != NULL) cb->destroy(cb->user_data);
  cx__block_free(cb, sizeof *cb);
}

/* Runs a callback in the caller: the token was already cancelled. */
static int run_now(cx_token *t, cx_cancel_fn fn, void *user_data,
                   void (*destroy)(void *), unsigned flags) {
  if (flags & CX_CALLBACK_NO_RUN_IF_CANCELLED) return -ECANCELED;
  log_failure(t, fn(t, user_data));
  if (destroy != NULL) destroy(user_data);
  return 1;
}

int cx_token_on_cancel(cx_token *t, cx_cancel_fn fn, void *user_data,
                       void (*destroy)(void *), unsigned flags,
                       cx_callback **out) {
  cx__token_ext *ext;
  cx_callback *cb;
  if (out != NULL) *out = NULL;
  if (t == NULL || fn == NULL || (flags & ~CX_CALLBACK_NO_RUN_IF_CANCELLED))
    return -EINVAL;
  if (cx_token_is_cancelled(t))
    return run_now(t, fn, user_data, destroy, flags);
  if ((ext = cx__token_ext_get(t)) == NULL ||
      (cb = cx__block_alloc(sizeof *cb)) == NULL)
    return -ENOMEM;
  cb->token = t;
  cb->fn = fn;
  cb->user_data = user_data;
  cb->destroy = destroy;
  cb->has_handle = out != NULL;
  atomic_init(&cb->state, CX__CB_LISTED);
  cx__lock_acquire(&ext->lock);
  cx__token_mark(t, CX__HAS_CALLBACKS); /* before the state check */
  if (atomic_load(&t->state) == CX__CANCELLED) {
    /* Cancelled meanwhile: the runner may be past the list already. */
    cx__lock_release(&ext->lock);
    cx__block_free(cb, sizeof *cb);
    return run_now(t, fn, user_data, destroy, flags);
  }
  cx__list_append(&ext->callbacks, &cb->node);
  if (out != NULL) {
    cx__token_ref(t);
    *out = cb;
  }
  cx__lock_release(&ext->lock);
  return 0;
}

/* Moves @cb to @to (RUNNING or DONE) keeping its flags; returns the old
 * state word. */
static int advance(cx_callback *cb, int to) {
  int old = atomic_load(&cb->state);
  while (!atomic_compare_exchange_weak(&cb->state, &old,
                                       (old & ~CX__CB_MASK) | to)) {
  }
  return old;
}

/* Runs one detached node and frees it when nobody else will. */
static void run_one(cx_token *t, cx_callback *cb) {
  bool has_handle = cb->has_handle;
  int old;
  if ((atomic_load(&cb->state) & CX__CB_MASK) == CX__CB_SKIP) {
    node_free(cb); /* unregistered by this thread before its turn */
    return;
  }
  advance(cb, CX__CB_RUNNING);
  log_failure(t, cb->fn(t, cb->user_data));
  /* Once DONE, a handle's owner may free the node at any moment: touch it
   * again only if it is ours (no handle, or the handle was released). */
  old = advance(cb, CX__CB_DONE);
  if (old & CX__CB_WAITED) {
    cx__stripe *s = cx__stripe_for(t);
    pthread_mutex_lock(&s->mu);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
  }
  if (!has_handle) {
    node_free(cb);
  } else if (old & CX__CB_RELEASED) {
    cx__token_unref(t); /* the released handle's reference */
    node_free(cb);
  }
}

void cx__token_run_callbacks(cx_token *t) {
  cx__token_ext *ext = cx__token_ext_of(t); /* made before HAS_CALLBACKS */
  cx__list batch, *node;
  cx__list_init(&batch);
  cx__lock_acquire(&ext->lock);
  cx__list_move_all(&ext->callbacks, &batch);
  ext->runner = pthread_self();
  cx__list_for_each(node, &batch) {
    cx_callback *cb = cx__container_of(node, cx_callback, node);
    atomic_store_explicit(&cb->state, CX__CB_QUEUED, memory_order_relaxed);
  }
  cx__lock_release(&ext->lock);
  /* Detached: only this thread touches the links now.  Each node leaves
   * the batch before it runs, so whoever frees it after finds it alone. */
  while ((node = cx__list_first(&batch)) != NULL) {
    cx__list_remove(node);
    run_one(t, cx__container_of(node, cx_callback, node));
  }
}

void cx__token_free_callbacks(cx__token_ext *ext) {
  cx__list *node;
  while ((node = cx__list_first(&ext->callbacks)) != NULL) {
    cx__list_remove(node);
    node_free(cx__container_of(node, cx_callback, node));
  }
}

/* Sets @flag on a node that is still queued or running; false when it is
 * done already. */
static bool flag_if_pending(cx_callback *cb, int flag) {
  int old = atomic_load(&cb->state);
  do {
    if ((old & CX__CB_MASK) == CX__CB_DONE) return false;
  } while (!atomic_compare_exchange_weak(&cb->state, &old, old | flag));
  return true;
}

/* Sleeps until the runner has finished @cb (it flagged WAITED). */
static void wait_done(cx_token *t, cx_callback *cb) {
  cx__stripe *s = cx__stripe_for(t);
  pthread_mutex_lock(&s->mu);
  while ((atomic_load(&cb->state) & CX__CB_MASK) != CX__CB_DONE)
    pthread_cond_wait(&s->cond, &s->mu);
  pthread_mutex_unlock(&s->mu);
}

static int unregister(cx_callback *cb, bool wait) {
  cx_token *t;
  cx__token_ext *ext;
  int state;
  if (cb == NULL) return -EINVAL;
  t = cb->token;
  ext = cx__token_ext_of(t); /* made before @cb was listed */
  cx__lock_acquire(&ext->lock);
  state = atomic_load(&cb->state) & CX__CB_MASK;
  if (state == CX__CB_LISTED) {
    cx__list_remove(&cb->node);
    cx__lock_release(&ext->lock);
    node_free(cb);
    cx__token_unref(t);
    return CX_CALLBACK_REMOVED;
  }
  if (state != CX__CB_DONE && pthread_equal(ext->runner, pthread_self())) {
    /* On the runner's own thread (from inside a callback): never wait. */
    cx__lock_release(&ext->lock);
    if (state == CX__CB_QUEUED) {
      atomic_store(&cb->state, CX__CB_SKIP);
      cx__token_unref(t);
      return CX_CALLBACK_REMOVED;
    }
    flag_if_pending(cb, CX__CB_RELEASED); /* running: freed on return */
    return CX_CALLBACK_RAN;
  }
  cx__lock_release(&ext->lock);
  /* Detached: the node's state word alone decides from here. */
  if (state != CX__CB_DONE) {
    if (!wait) {
      if (flag_if_pending(cb, CX__CB_RELEASED)) return CX_CALLBACK_RUNNING;
    } else if (flag_if_pending(cb, CX__CB_WAITED)) {
      wait_done(t, cb);
    }
  }
  node_free(cb);
  cx__token_unref(t);
  return CX_CALLBACK_RAN;
}

int cx_callback_unregister(cx_callback *cb) { return unregister(cb, true); }

int cx_callback_unregister_nowait(cx_callback *cb) {
  return unregister(cb, false);
}
