/* src/op/events.c - the observers of ops' lifecycle events: an append-only
 * array, read without a lock (the count is published after its slot). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "op/events.h"

#define MAX_OBSERVERS 8

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static const cx__op_observer *observers[MAX_OBSERVERS]; /* written once
                                                            under mu */
static _Atomic int count;              /* (atomic) slots published */
_Atomic long cx__op_progress_watchers; /* (atomic) */

int cx__op_observe(const cx__op_observer *observer) {
  int rc = 0, n, i;
  if (observer == NULL) return -EINVAL;
  pthread_mutex_lock(&mu);
  n = atomic_load_explicit(&count, memory_order_relaxed);
  for (i = 0; i < n && observers[i] != observer; i++) continue;
  if (i == n) {
    if (n < MAX_OBSERVERS) {
      observers[n] = observer;
      atomic_store_explicit(&count, n + 1, memory_order_release);
    } else {
      rc = -ENOSPC;
    }
  }
  pthread_mutex_unlock(&mu);
  return rc;
}

/* Calls @hook of every observer that has one. */
#define EMIT(hook, op)                                           \
  do {                                                           \
    int n_ = atomic_load_explicit(&count, memory_order_acquire); \
    for (int i_ = 0; i_ < n_; i_++)                              \
      if (observers[i_]->hook != NULL) observers[i_]->hook(op);  \
  } while (0)

void cx__op_emit_entered(cx_op *op) { EMIT(entered, op); }
void cx__op_emit_exiting(cx_op *op) { EMIT(exiting, op); }
void cx__op_emit_exited(cx_op *op) { EMIT(exited, op); }
void cx__op_emit_destroyed(cx_op *op) { EMIT(destroyed, op); }

void cx__op_emit_progressed(cx_op *op, const char *message,
                            const cx_meta *meta) {
  int n = atomic_load_explicit(&count, memory_order_acquire);
  for (int i = 0; i < n; i++)
    if (observers[i]->progressed != NULL)
      observers[i]->progressed(op, message, meta);
}

void cx__op_watch_progress(long delta) {
  atomic_fetch_add_explicit(&cx__op_progress_watchers, delta,
                            memory_order_relaxed);
}
