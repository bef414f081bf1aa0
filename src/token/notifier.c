/* src/token/notifier.c - one descriptor and a queue of fired watches for
 * many tokens (cancelable/notifier.h).
 *
 * A watch is shared by up to three holders, counted in `refs` under the
 * notifier's lock: the user's handle (until cx_watch_stop()), the token's
 * cancel callback (until its destroy notify), and the queue (while it is
 * linked, or being delivered by a drain).  Whoever drops the last frees it,
 * so stopping never waits for a cancel running on another thread: that
 * callback touches only the notifier, sees `stopped`, and queues nothing.
 * The drain clears the descriptor before it takes the queue, so a cancel
 * that comes after the clear signals it again and nothing is missed. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include <cancelable/notifier.h>
#include <cancelable/token.h>

#include "runtime/alloc.h"
#include "runtime/list.h"
#include "runtime/wakeup.h"

struct cx_notifier {
  pthread_mutex_t mu;
  _Atomic unsigned refs; /* (atomic) the user's, one per watch, drains */
  cx__wakeup wake;       /* (owned) immutable once made */
  cx__list queue;        /* guarded by mu: fired watches (cx_watch.node) */
  bool closed;           /* guarded by mu: the user's reference is gone */
};

struct cx_watch {
  cx_notifier *n;     /* (owned ref) immutable */
  cx_token *token;    /* (owned ref) immutable */
  void *user_data;    /* immutable; never touched */
  cx_callback *cb;    /* the loop thread's: the registration, or NULL */
  cx__list node;      /* guarded by n->mu: in a queue while linked */
  unsigned refs;      /* guarded by n->mu */
  bool stopped;       /* guarded by n->mu */
  _Atomic bool fired; /* (atomic) set once, when first queued */
};

static void notifier_release(cx_notifier *n) {
  if (atomic_fetch_sub(&n->refs, 1) != 1) return;
  cx__wakeup_close(&n->wake);
  pthread_mutex_destroy(&n->mu);
  cx__free(n);
}

/* Drops @count references of @w; frees it when they were the last. */
static void watch_release(cx_watch *w, unsigned count) {
  cx_notifier *n = w->n;
  bool last;
  pthread_mutex_lock(&n->mu);
  w->refs -= count;
  last = w->refs == 0;
  pthread_mutex_unlock(&n->mu);
  if (!last) return;
  cx_token_unref(w->token);
  cx__free(w);
  notifier_release(n);
}

int cx_notifier_new(cx_notifier **out) {
  cx_notifier *n;
  int rc;
  if (out == NULL) return -EINVAL;
  *out = NULL;
  if ((n = cx__calloc(1, sizeof *n)) == NULL) return -ENOMEM;
  if ((rc = cx__wakeup_open(&n->wake)) != 0) {
    cx__free(n);
    return rc;
  }
  pthread_mutex_init(&n->mu, NULL);
  atomic_init(&n->refs, 1);
  cx__list_init(&n->queue);
  *out = n;
  return 0;
}

/* Releases the queue's references of every watch in @list (taken out of
 * the notifier's lists). */
static void release_list(cx__list *list) {
  cx__list *node;
  while ((node = cx__list_first(list)) != NULL) {
    cx__list_remove(node);
    watch_release(cx__container_of(node, cx_watch, node), 1);
  }
}

void cx_notifier_unref(cx_notifier *n) {
  cx__list queued;
  if (n == NULL) return;
  cx__list_init(&queued);
  pthread_mutex_lock(&n->mu);
  n->closed = true;
  cx__list_move_all(&n->queue, &queued);
  pthread_mutex_unlock(&n->mu);
  /* Unlinked under the lock above; released outside it (a release takes
   * it again).  A stop of one of them meanwhile finds it unlinked. */
  release_list(&queued);
  notifier_release(n);
}

int cx_notifier_fd(const cx_notifier *n) {
  return n == NULL ? -EINVAL : n->wake.read_fd;
}

/* The token's cancel callback: queue the watch unless stopped. */
static int on_cancel(cx_token *token, void *data) {
  cx_watch *w = data;
  cx_notifier *n = w->n;
  bool signal = false;
  (void)token;
  pthread_mutex_lock(&n->mu);
  if (!w->stopped && !n->closed && !atomic_load(&w->fired)) {
    atomic_store(&w->fired, true);
    signal = cx__list_empty(&n->queue);
    cx__list_append(&n->queue, &w->node);
    w->refs++;
    /* Written under the lock, so that a stop that follows (which takes
     * it) never runs before this write: the watch stays alive. */
    if (signal) cx__wakeup_signal(&n->wake);
  }
  pthread_mutex_unlock(&n->mu);
  return 0;
}

static void on_destroy(void *data) { watch_release(data, 1); }

int cx_notifier_watch(cx_watch **out, cx_notifier *n, cx_token *token,
                      void *user_data) {
  cx_watch *w;
  int rc;
  if (out != NULL) *out = NULL;
  if (n == NULL || token == NULL || out == NULL) return -EINVAL;
  if ((w = cx__calloc(1, sizeof *w)) == NULL) return -ENOMEM;
  w->n = n;
  w->token = cx_token_ref(token);
  w->user_data = user_data;
  w->refs = 2; /* the user's and the registration's */
  cx__list_init(&w->node);
  atomic_init(&w->fired, false);
  atomic_fetch_add(&n->refs, 1);
  rc = cx_token_on_cancel(token, on_cancel, w, on_destroy, 0, &w->cb);
  if (rc < 0) {
    cx_token_unref(token);
    cx__free(w);
    notifier_release(n);
    return rc;
  }
  *out = w; /* rc 1: already cancelled, queued (and destroyed) at once */
  return 0;
}

int cx_notifier_drain(cx_notifier *n, cx_notifier_fn fn, void *drain_data) {
  cx__list batch, *node;
  cx_watch *w;
  int count = 0;
  if (n == NULL || fn == NULL) return -EINVAL;
  atomic_fetch_add(&n->refs, 1); /* @fn may drop the user's */
  cx__list_init(&batch);
  cx__wakeup_clear(&n->wake); /* before the take: later cancels signal */
  pthread_mutex_lock(&n->mu);
  cx__list_move_all(&n->queue, &batch);
  while ((node = cx__list_first(&batch)) != NULL && !n->closed) {
    cx__list_remove(node); /* the queue's reference is now ours */
    w = cx__container_of(node, cx_watch, node);
    pthread_mutex_unlock(&n->mu);
    fn(w, w->token, w->user_data, drain_data);
    count++;
    watch_release(w, 1);
    pthread_mutex_lock(&n->mu);
  }
  pthread_mutex_unlock(&n->mu);
  release_list(&batch); /* left by a cx_notifier_unref() from @fn */
  notifier_release(n);
  return count;
}

void cx_watch_stop(cx_watch *w) {
  unsigned drop = 1; /* the user's */
  if (w == NULL) return;
  pthread_mutex_lock(&w->n->mu);
  w->stopped = true;
  if (cx__list_linked(&w->node)) {
    cx__list_remove(&w->node); /* queued, not delivered: never will be */
    drop++;
  }
  pthread_mutex_unlock(&w->n->mu);
  /* Never waits: a callback running on another thread releases the
   * registration's reference itself (destroy notify) when it returns. */
  if (w->cb != NULL) cx_callback_unregister_nowait(w->cb);
  watch_release(w, drop);
}

bool cx_watch_fired(const cx_watch *w) {
  return w != NULL && atomic_load(&((cx_watch *)w)->fired);
}
