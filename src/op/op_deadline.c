/* src/op/op_deadline.c - a deadline that moves while the op runs (Trio's
 * cancel_scope.deadline, .NET's CancelAfter on a live source): one timer
 * per op, made on first use, armed under the op's mover lock so that the
 * last setting is the one the timer follows. */
#include <math.h>
#include <string.h>

#include "op/op.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/compiler.h"
#include "runtime/timer.h"

static const char moved_message[] = "deadline reached";
static const char passed_message[] = "deadline set in the past";

/* Runs on the timer thread, until exit's disarm has returned (so the op
 * is alive: its entered reference is dropped after). */
static void fire(cx__timer *t) {
  cx__op_mover *m = cx__container_of(t, cx__op_mover, timer);
  bool due;
  pthread_mutex_lock(&m->mu);
  due = !m->closed && m->deadline != CX__NO_DEADLINE &&
        cx__now_ns() >= m->deadline;
  /* Armed for an earlier setting than the last (a move later): follow. */
  if (!due && !m->closed && m->deadline != CX__NO_DEADLINE)
    cx__timer_arm(&m->timer, m->deadline);
  pthread_mutex_unlock(&m->mu);
  if (due) cx_token_cancel(m->op->token, CX_REASON_TIMEOUT, moved_message);
}

/* The op's mover, made now if it has none; NULL when out of memory. */
static cx__op_mover *mover_get(cx_op *op) {
  cx__op_mover *m = atomic_load(&op->mover), *expected = NULL;
  if (m != NULL) return m;
  m = cx__malloc(sizeof *m);
  if (m == NULL) return NULL;
  memset(m, 0, sizeof *m);
  cx__timer_init(&m->timer, fire);
  m->op = op;
  pthread_mutex_init(&m->mu, NULL);
  pthread_cond_init(&m->cv, NULL);
  m->deadline = CX__NO_DEADLINE;
  if (!atomic_compare_exchange_strong(&op->mover, &expected, m)) {
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    cx__free(m);
    return expected;
  }
  return m;
}

void cx__op_mover_close(cx_op *op) {
  cx__op_mover *m;
  /* Either a setter installing the mover now sees this flag, or this
   * load sees its mover (both seq_cst). */
  atomic_store(&op->mover_closed, true);
  m = atomic_load(&op->mover);
  if (m == NULL) return;
  pthread_mutex_lock(&m->mu);
  m->closed = true;
  /* A cancel for a deadline in the past lands before exit goes on, as a
   * fire() does (unless it is this thread's own, from its callbacks). */
  while (m->cancelling && !pthread_equal(m->canceller, pthread_self()))
    pthread_cond_wait(&m->cv, &m->mu);
  pthread_mutex_unlock(&m->mu);
  cx__timer_disarm(&m->timer); /* waits for a fire() in progress */
}

void cx__op_mover_free(cx_op *op) {
  cx__op_mover *m = atomic_load(&op->mover);
  if (m == NULL) return;
  cx__timer_disarm(&m->timer); /* never armed after close; harmless */
  pthread_mutex_destroy(&m->mu);
  pthread_cond_destroy(&m->cv);
  cx__free(m);
}

/* Sets @op's moved deadline to @deadline (ns, CX__NO_DEADLINE: none). */
static int set_deadline_ns(cx_op *op, int64_t deadline) {
  cx__op_mover *m;
  int st, rc = 0;
  bool passed = false;
  st = atomic_load(&op->status);
  if (st != CX_STATUS_RUNNING && st != CX_STATUS_SHIELDED) return -EINVAL;
  /* Entering on another thread, not done yet: not running for a mover. */
  if (!atomic_load_explicit(&op->deadline_ready, memory_order_acquire))
    return -EINVAL;
  if (cx_token_is_cancelled(op->token)) return -ECANCELED;
  m = mover_get(op);
  if (m == NULL) return -ENOMEM;
  pthread_mutex_lock(&m->mu);
  if (m->closed || atomic_load(&op->mover_closed)) {
    m->closed = true;
    rc = -EINVAL;
  } else if (deadline != CX__NO_DEADLINE && deadline <= cx__now_ns()) {
    m->deadline = deadline;
    /* One caller cancels; the others' op is cancelled by it. */
    if (!m->cancelling) {
      passed = true;
      m->cancelling = true;
      m->canceller = pthread_self();
    }
  } else {
    if (deadline != CX__NO_DEADLINE) rc = cx__timer_arm(&m->timer, deadline);
    /* Without a deadline the timer may stay armed: fire() then finds
     * nothing due and does nothing. */
    if (rc == 0) m->deadline = deadline;
  }
  if (rc == 0) {
    int64_t own = op->sources_deadline;
    if (m->deadline < own) own = m->deadline;
    atomic_store(&op->deadline, own);
  }
  pthread_mutex_unlock(&m->mu);
  if (passed) {
    cx_token_cancel(op->token, CX_REASON_TIMEOUT, passed_message);
    pthread_mutex_lock(&m->mu);
    m->cancelling = false;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
  }
  return rc;
}

int cx_op_set_deadline(cx_op *op, double deadline) {
  int64_t ns;
  if (op == NULL || isnan(deadline)) return -EINVAL;
  if (deadline >= 9.2e9) /* +INFINITY included */
    ns = CX__NO_DEADLINE;
  else
    ns = deadline <= 0 ? 0 : (int64_t)(deadline * 1e9);
  return set_deadline_ns(op, ns);
}

int cx_op_cancel_after(cx_op *op, double seconds) {
  int64_t ns;
  if (op == NULL || isnan(seconds) || seconds < 0) return -EINVAL;
  if (seconds == INFINITY) return set_deadline_ns(op, CX__NO_DEADLINE);
  if (seconds == 0) return set_deadline_ns(op, cx__now_ns());
  if (cx__duration_to_ns(seconds, &ns) != 0) return -EINVAL;
  return set_deadline_ns(op, cx__add_saturated(cx__now_ns(), ns));
}
