/* src/core/token_callbacks.c - cancel callbacks with the rules of C++
 * std::stop_callback: registering on a cancelled token runs the callback at
 * once; unregistering waits for a callback running on another thread, but
 * not for one running on the calling thread; no lock is held while a
 * callback runs. */
#include "core/core.h"

static void log_failure(cx_token *t, int rc) {
  if (rc != 0 && cx__log_enabled(CX_LOG_WARNING))
    cx__log(CX_LOG_WARNING, cx_token_id(t),
            "cancel callback failed (%d); the others still run", rc);
}

static void node_free(cx_callback *cb) {
  if (cb->destroy != NULL) cb->destroy(cb->user_data);
  cx__free(cb);
}

int cx_token_on_cancel(cx_token *t, cx_cancel_fn fn, void *user_data,
                       void (*destroy)(void *), unsigned flags,
                       cx_callback **out) {
  cx_callback *cb;
  cx__stripe *s;
  if (out != NULL) *out = NULL;
  if (t == NULL || fn == NULL || (flags & ~CX_CALLBACK_NO_RUN_IF_CANCELLED))
    return -EINVAL;
  if (cx_token_is_cancelled(t)) {
    if (flags & CX_CALLBACK_NO_RUN_IF_CANCELLED) return -ECANCELED;
    log_failure(t, fn(t, user_data));
    if (destroy != NULL) destroy(user_data);
    return 1;
  }
  cb = cx__calloc(1, sizeof *cb);
  if (cb == NULL) return -ENOMEM;
  cb->token = t;
  cb->fn = fn;
  cb->user_data = user_data;
  cb->destroy = destroy;
  cb->has_handle = out != NULL;
  s = cx__stripe_for(t);
  pthread_mutex_lock(&s->mu);
  if (cx_token_is_cancelled(t)) {
    /* Cancelled meanwhile: the finisher may be past the list already. */
    pthread_mutex_unlock(&s->mu);
    cx__free(cb);
    if (flags & CX_CALLBACK_NO_RUN_IF_CANCELLED) return -ECANCELED;
    log_failure(t, fn(t, user_data));
    if (destroy != NULL) destroy(user_data);
    return 1;
  }
  cb->state = CX__CB_LISTED;
  cb->prev = t->cb_tail;
  if (t->cb_tail != NULL)
    t->cb_tail->next = cb;
  else
    t->cb_head = cb;
  t->cb_tail = cb;
  if (out != NULL) {
    cx_token_ref(t);
    *out = cb;
  }
  pthread_mutex_unlock(&s->mu);
  return 0;
}

static void unlink_locked(cx_token *t, cx_callback *cb) {
  if (cb->prev != NULL)
    cb->prev->next = cb->next;
  else
    t->cb_head = cb->next;
  if (cb->next != NULL)
    cb->next->prev = cb->prev;
  else
    t->cb_tail = cb->prev;
  cb->prev = cb->next = NULL;
}

void cx__token_run_callbacks(cx_token *t) {
  cx__stripe *s = cx__stripe_for(t);
  cx_callback *cb;
  pthread_mutex_lock(&s->mu);
  while ((cb = t->cb_head) != NULL) {
    bool release;
    unlink_locked(t, cb);
    cb->state = CX__CB_RUNNING;
    t->running = cb;
    t->running_thread = pthread_self();
    pthread_mutex_unlock(&s->mu);
    log_failure(t, cb->fn(t, cb->user_data));
    pthread_mutex_lock(&s->mu);
    t->running = NULL;
    cb->state = CX__CB_DONE;
    pthread_cond_broadcast(&s->cond); /* unregister may wait for DONE */
    release = !cb->has_handle || cb->handle_released;
    if (release) {
      pthread_mutex_unlock(&s->mu);
      if (cb->has_handle) cx_token_unref(t); /* the handle's reference */
      node_free(cb);
      pthread_mutex_lock(&s->mu);
    }
  }
  pthread_mutex_unlock(&s->mu);
}

void cx__token_free_callbacks(cx_token *t) {
  cx_callback *cb = t->cb_head;
  t->cb_head = t->cb_tail = NULL;
  while (cb != NULL) {
    cx_callback *next = cb->next;
    node_free(cb);
    cb = next;
  }
}

static int unregister(cx_callback *cb, bool wait) {
  cx_token *t;
  cx__stripe *s;
  if (cb == NULL) return -EINVAL;
  t = cb->token;
  s = cx__stripe_for(t);
  pthread_mutex_lock(&s->mu);
  if (cb->state == CX__CB_LISTED) {
    unlink_locked(t, cb);
    pthread_mutex_unlock(&s->mu);
    node_free(cb);
    cx_token_unref(t);
    return CX_CALLBACK_REMOVED;
  }
  if (cb->state == CX__CB_RUNNING) {
    bool self = pthread_equal(t->running_thread, pthread_self());
    if (self || !wait) {
      /* The running loop frees it when the callback returns. */
      cb->handle_released = true;
      pthread_mutex_unlock(&s->mu);
      return self ? CX_CALLBACK_RAN : CX_CALLBACK_RUNNING;
    }
    while (cb->state == CX__CB_RUNNING) pthread_cond_wait(&s->cond, &s->mu);
  }
  pthread_mutex_unlock(&s->mu);
  node_free(cb);
  cx_token_unref(t);
  return CX_CALLBACK_RAN;
}

int cx_callback_unregister(cx_callback *cb) { return unregister(cb, true); }

int cx_callback_unregister_nowait(cx_callback *cb) {
  return unregister(cb, false);
}
