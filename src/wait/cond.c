/* src/wait/cond.c - pthread_cond_wait() that a cancel interrupts.  As C++
 * std::condition_variable_any::wait(lock, stop_token, pred): a cancel
 * callback locks the caller's mutex and broadcasts the condvar, so a cancel
 * between the check and the wait cannot be lost (the callback cannot get
 * the mutex until the waiter is inside pthread_cond_wait). */
#include <stddef.h>
#include <time.h>

#include "runtime/clock.h"
#include "runtime/compiler.h"
#include "runtime/fork.h"
#include "runtime/workers.h"
#include "wait/wait_internal.h"

typedef struct waker {
  pthread_cond_t *cond;
  pthread_mutex_t *mutex;
  cx__job job; /* the broadcast handed to a worker when the mutex is busy */
} waker;

static void broadcast_locked(waker *w) {
  pthread_mutex_lock(w->mutex);
  pthread_cond_broadcast(w->cond);
  pthread_mutex_unlock(w->mutex);
}

static void wake_later(cx__job *job) {
  broadcast_locked(cx__container_of(job, waker, job));
}

/* The cancel callback.  It runs on the cancelling thread, often the timer
 * thread: it must never block on the user's mutex, which the user may hold
 * while exiting an op (whose timeout disarm waits for this callback).  When
 * the mutex is busy the broadcast goes to a condition worker. */
static int wake(cx_token *token, void *user_data) {
  waker *w = user_data;
  (void)token;
  if (pthread_mutex_trylock(w->mutex) == 0) {
    pthread_cond_broadcast(w->cond);
    pthread_mutex_unlock(w->mutex);
  } else if (cx__job_submit(&w->job) != 0) {
    broadcast_locked(w); /* no thread can be started at all: block */
  }
  return 0;
}

/* The registration of a wait's cancel callback. */
typedef struct wait_reg {
  cx_callback *cb; /* NULL: none */
  waker *w;
} wait_reg;

/* Removes the registration, with @w's mutex held on entry and on return.
 * The callback may be waiting for the mutex: it is released while the
 * registration is removed (which waits for a running callback). */
static void unregister_locked(wait_reg *reg) {
  if (reg->cb == NULL) return;
  pthread_mutex_unlock(reg->w->mutex);
  cx_callback_unregister(reg->cb);
  cx__job_cancel(&reg->w->job); /* a handed-off broadcast is done or dropped */
  pthread_mutex_lock(reg->w->mutex);
  reg->cb = NULL;
}

/* pthread_cancel() inside the wait: the callback points into this frame,
 * so it goes before the frame does (the mutex is held again here). */
static void on_thread_cancel(void *reg) { unregister_locked(reg); }

/* cx__cond_timedwait_mono() with on_thread_cancel() as its cleanup handler (a
 * function of its own: the handler's setjmp must not see the caller's locals).
 */
static int wait_cleaning_up(pthread_cond_t *cond, pthread_mutex_t *mutex,
                            int64_t deadline, wait_reg *reg) {
  int rc;
  pthread_cleanup_push(on_thread_cancel, reg);
  rc = cx__cond_timedwait_mono(cond, mutex, deadline);
  pthread_cleanup_pop(0);
  return rc;
}

int cx_cond_wait(cx_op *op, pthread_cond_t *cond, pthread_mutex_t *mutex,
                 double timeout) {
  const cx_op *target = cx__wait_op(op);
  waker w;
  wait_reg reg = {NULL, &w};
  int64_t deadline;
  int rc;
  if (cond == NULL || mutex == NULL ||
      cx__timeout_to_deadline(timeout, &deadline) != 0)
    return -EINVAL;
  cx__after_fork_resume();
  if (target != NULL) {
    w.cond = cond;
    w.mutex = mutex;
    cx__job_init(&w.job, wake_later, true, false);
    rc = cx_token_on_cancel(target->token, wake, &w, NULL,
                            CX_CALLBACK_NO_RUN_IF_CANCELLED, &reg.cb);
    if (rc != 0) return rc; /* -ECANCELED or -ENOMEM */
  }
  rc = wait_cleaning_up(cond, mutex, deadline, &reg);
  unregister_locked(&reg);
  if (target != NULL && cx_token_is_cancelled(target->token)) return -ECANCELED;
  return rc == ETIMEDOUT ? -ETIMEDOUT : 0;
}
