/* tests/unit/test_wait.c - cancellation points: cx_check, cx_sleep,
 * cx_poll, cx_wait_fd, cx_cond_wait and cx_token_wait each have a waiter
 * blocked in them woken by a cancel from another thread (-ECANCELED); their
 * own timeout gives -ETIMEDOUT; success wins when the fd is ready and the op
 * cancelled; a NULL op means the current op (and none: a plain wait); the
 * op's timeout source interrupts a wait; no cancel is lost between check and
 * wait; bad arguments.  Real time, generous bounds only.  Issue #2.
 */
#include "cx_test.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cancelable.h>

/* Bound for "promptly": far above any scheduler hiccup, far below the
 * waits' own 60 s timeouts. */
#define PROMPT 15.0
#define LONG_WAIT 60.0

/* ---------------------------------------------------------------------- */
/* helpers */

static cx_op *entered_op(const char *name) {
  return cx_test_entered_op(name, NULL, 0);
}

static void finish(cx_op *op, int result) {
  CX_ASSERT_OK(cx_op_exit(op, result));
  cx_op_unref(op);
}

/* Which cancellation point a waiter thread sits in. */
typedef enum point {
  P_CHECK,
  P_SLEEP,
  P_POLL,
  P_POLL_NOFDS,
  P_WAIT_FD,
  P_COND,
  P_TOKEN_WAIT
} point;

typedef struct waiter {
  point where;
  cx_op *op;        /* explicit op, or NULL: use the thread's own */
  bool own_op;      /* create and enter an op on the waiter thread */
  cx_op *created;   /* the waiter's own op (published) */
  atomic_int ready; /* about to block */
  int result;
  double elapsed;
  int pipe_rd;
  pthread_mutex_t mu;
  pthread_cond_t cond;
  bool predicate;
  bool mutex_held_after; /* cx_cond_wait returned with the mutex locked */
} waiter;

static void waiter_init(waiter *w, point where, cx_op *op) {
  memset(w, 0, sizeof *w);
  w->where = where;
  w->op = op;
  w->result = 1000;
  w->pipe_rd = -1;
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cond, NULL);
}

static void waiter_destroy(waiter *w) {
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cond);
}

static void *waiter_main(void *p) {
  waiter *w = p;
  cx_op *op = w->op;
  if (w->own_op) {
    cx_op *mine = NULL;
    if (cx_op_create(&mine, NULL) != 0 || cx_op_enter(mine) != 0) {
      w->result = -9999;
      atomic_store(&w->ready, 1);
      return NULL;
    }
    w->created = mine;
    op = NULL; /* NULL: the current op */
  }
  double t0 = cx_test_now();
  switch (w->where) {
    case P_CHECK: {
      atomic_store(&w->ready, 1);
      int r;
      while ((r = cx_check(op)) == 0 && cx_test_now() - t0 < LONG_WAIT)
        cx_test_sleep(0.0005);
      w->result = r == 0 ? -ETIMEDOUT : r;
      break;
    }
    case P_SLEEP:
      atomic_store(&w->ready, 1);
      w->result = cx_sleep(op, LONG_WAIT);
      break;
    case P_POLL: {
      struct pollfd pfd = {.fd = w->pipe_rd, .events = POLLIN};
      atomic_store(&w->ready, 1);
      w->result = cx_poll(op, &pfd, 1, LONG_WAIT);
      break;
    }
    case P_POLL_NOFDS:
      atomic_store(&w->ready, 1);
      w->result = cx_poll(op, NULL, 0, LONG_WAIT);
      break;
    case P_WAIT_FD:
      atomic_store(&w->ready, 1);
      w->result = cx_wait_fd(op, w->pipe_rd, POLLIN, LONG_WAIT);
      break;
    case P_COND: {
      pthread_mutex_lock(&w->mu);
      atomic_store(&w->ready, 1);
      int r = 0;
      while (!w->predicate && r == 0) {
        r = cx_cond_wait(op, &w->cond, &w->mu, LONG_WAIT);
        if (cx_test_now() - t0 > LONG_WAIT) break;
      }
      w->result = r;
      w->mutex_held_after = pthread_mutex_trylock(&w->mu) == EBUSY;
      pthread_mutex_unlock(&w->mu);
      break;
    }
    case P_TOKEN_WAIT: {
      cx_op *o = op ? op : cx_current();
      atomic_store(&w->ready, 1);
      w->result = cx_token_wait(cx_op_token(o), LONG_WAIT);
      break;
    }
  }
  w->elapsed = cx_test_now() - t0;
  if (w->own_op) {
    cx_op_exit(w->created, w->result < 0 ? w->result : 0);
  }
  return NULL;
}

static void wait_ready(waiter *w) {
  double end = cx_test_now() + PROMPT;
  while (!atomic_load(&w->ready) && cx_test_now() < end) cx_test_sleep(0.001);
  assert_true(atomic_load(&w->ready));
  /* give it time to actually block */
  cx_test_sleep(0.1);
}

/* Run one waiter at @where on @op (or its own op), cancel from here, and
 * check it returns @expected promptly. */
static void woken_by_cancel(point where, bool own_op, int expected) {
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  cx_op *op = own_op ? NULL : entered_op("waited-on");
  waiter w;
  waiter_init(&w, where, op);
  w.own_op = own_op;
  w.pipe_rd = fds[0];
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, waiter_main, &w), 0);
  wait_ready(&w);
  cx_op *target = own_op ? w.created : op;
  assert_non_null(target);
  cx_op_ref(target);
  assert_true(cx_op_cancel(target, CX_REASON_MANUAL, "wake up"));
  assert_true(cx_test_join_within(th, PROMPT, NULL));
  CX_ASSERT_ERR(expected, w.result);
  assert_true(w.elapsed < PROMPT);
  if (where == P_COND) assert_true(w.mutex_held_after);
  if (own_op) {
    assert_int_equal(cx_op_status(target), CX_STATUS_CANCELLED);
    cx_op_unref(target); /* the waiter's creation reference */
  } else {
    finish(op, -ECANCELED);
  }
  cx_op_unref(target);
  waiter_destroy(&w);
  close(fds[0]);
  close(fds[1]);
}

/* ---------------------------------------------------------------------- */
/* woken by a cancel from another thread */

static void test_wake_check(void **state) {
  (void)state;
  woken_by_cancel(P_CHECK, false, -ECANCELED);
}
static void test_wake_sleep(void **state) {
  (void)state;
  woken_by_cancel(P_SLEEP, false, -ECANCELED);
}
static void test_wake_poll(void **state) {
  (void)state;
  woken_by_cancel(P_POLL, false, -ECANCELED);
}
static void test_wake_poll_nofds(void **state) {
  (void)state;
  woken_by_cancel(P_POLL_NOFDS, false, -ECANCELED);
}
static void test_wake_wait_fd(void **state) {
  (void)state;
  woken_by_cancel(P_WAIT_FD, false, -ECANCELED);
}
static void test_wake_cond(void **state) {
  (void)state;
  woken_by_cancel(P_COND, false, -ECANCELED);
}
static void test_wake_token_wait(void **state) {
  (void)state;
  woken_by_cancel(P_TOKEN_WAIT, false, 0);
}

/* NULL op = the waiter thread's current op */
static void test_current_check(void **state) {
  (void)state;
  woken_by_cancel(P_CHECK, true, -ECANCELED);
}
static void test_current_sleep(void **state) {
  (void)state;
  woken_by_cancel(P_SLEEP, true, -ECANCELED);
}
static void test_current_poll(void **state) {
  (void)state;
  woken_by_cancel(P_POLL, true, -ECANCELED);
}
static void test_current_wait_fd(void **state) {
  (void)state;
  woken_by_cancel(P_WAIT_FD, true, -ECANCELED);
}
static void test_current_cond(void **state) {
  (void)state;
  woken_by_cancel(P_COND, true, -ECANCELED);
}

/* Several threads waiting on one op: one cancel wakes them all. */
static void test_wake_many_waiters(void **state) {
  (void)state;
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  cx_op *op = entered_op("shared");
  const point pts[] = {P_SLEEP, P_POLL, P_WAIT_FD, P_COND, P_SLEEP, P_POLL};
  enum { W = 6 };
  waiter w[W];
  pthread_t th[W];
  for (int i = 0; i < W; i++) {
    waiter_init(&w[i], pts[i], op);
    w[i].pipe_rd = fds[0];
    assert_int_equal(pthread_create(&th[i], NULL, waiter_main, &w[i]), 0);
  }
  for (int i = 0; i < W; i++) wait_ready(&w[i]);
  cx_op_cancel(op, CX_REASON_MANUAL, NULL);
  for (int i = 0; i < W; i++) {
    assert_true(cx_test_join_within(th[i], PROMPT, NULL));
    CX_ASSERT_ERR(-ECANCELED, w[i].result);
    waiter_destroy(&w[i]);
  }
  finish(op, -ECANCELED);
  close(fds[0]);
  close(fds[1]);
}

/* The op's own timeout source interrupts a wait: -ECANCELED, reason
 * TIMEOUT (not -ETIMEDOUT, which is the call's own timeout). */
static void test_op_timeout_interrupts_sleep(void **state) {
  (void)state;
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_with_timeout(&op, NULL, 0.2, "bounded"));
  double t0 = cx_test_now(); /* before enter, which starts the timer: a
                                preemption between the two cannot make
                                the measured wait shorter */
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_ERR(-ECANCELED, cx_sleep(NULL, LONG_WAIT));
  double dt = cx_test_now() - t0;
  assert_true(dt >= 0.19 && dt < PROMPT);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  finish(op, -ECANCELED);
}

static void test_parent_cancel_interrupts_child_wait(void **state) {
  (void)state;
  cx_op *p = entered_op("outer");
  cx_op_options o = CX_OP_OPTIONS_INIT;
  o.parent = p;
  cx_op *c = NULL;
  CX_ASSERT_OK(cx_op_create(&c, &o));
  waiter w;
  waiter_init(&w, P_SLEEP, c);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, waiter_main, &w), 0);
  wait_ready(&w);
  cx_op_cancel(p, CX_REASON_MANUAL, "outer stop");
  assert_true(cx_test_join_within(th, PROMPT, NULL));
  CX_ASSERT_ERR(-ECANCELED, w.result);
  assert_int_equal(cx_op_cancel_reason(c), CX_REASON_PARENT);
  waiter_destroy(&w);
  cx_op_unref(c);
  finish(p, -ECANCELED);
}

/* ---------------------------------------------------------------------- */
/* own timeouts */

static void test_own_timeout(void **state) {
  (void)state;
  cx_op *op = entered_op("live");
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
  struct pollfd pfd = {.fd = fds[0], .events = POLLIN};

  double t0 = cx_test_now();
  CX_ASSERT_ERR(-ETIMEDOUT, cx_poll(op, &pfd, 1, 0.2));
  double dt = cx_test_now() - t0;
  assert_true(dt >= 0.15 && dt < PROMPT);

  t0 = cx_test_now();
  CX_ASSERT_ERR(-ETIMEDOUT, cx_poll(op, NULL, 0, 0.2));
  dt = cx_test_now() - t0;
  assert_true(dt >= 0.15 && dt < PROMPT);

  t0 = cx_test_now();
  CX_ASSERT_ERR(-ETIMEDOUT, cx_wait_fd(op, fds[0], POLLIN, 0.2));
  dt = cx_test_now() - t0;
  assert_true(dt >= 0.15 && dt < PROMPT);

  pthread_mutex_lock(&mu);
  t0 = cx_test_now();
  int r;
  /* spurious wakeups allowed: loop until the timeout shows */
  while ((r = cx_cond_wait(op, &cond, &mu, 0.2)) == 0 &&
         cx_test_now() - t0 < PROMPT) {
  }
  dt = cx_test_now() - t0;
  CX_ASSERT_ERR(-ETIMEDOUT, r);
  assert_true(dt >= 0.15 && dt < PROMPT);
  assert_int_equal(pthread_mutex_trylock(&mu), EBUSY); /* still locked */
  pthread_mutex_unlock(&mu);

  CX_ASSERT_ERR(-ETIMEDOUT, cx_token_wait(cx_op_token(op), 0.2));

  /* 0 does not block */
  t0 = cx_test_now();
  CX_ASSERT_ERR(-ETIMEDOUT, cx_poll(op, &pfd, 1, 0.0));
  CX_ASSERT_ERR(-ETIMEDOUT, cx_wait_fd(op, fds[0], POLLIN, 0.0));
  assert_true(cx_test_now() - t0 < 5.0);

  /* the op is untouched by its calls' timeouts */
  assert_false(cx_op_is_cancelled(op));
  finish(op, 0);
  close(fds[0]);
  close(fds[1]);
}

static void test_sleep_full(void **state) {
  (void)state;
  cx_op *op = entered_op("sleeper");
  double t0 = cx_test_now();
  CX_ASSERT_OK(cx_sleep(op, 0.2));
  double dt = cx_test_now() - t0;
  assert_true(dt >= 0.15 && dt < PROMPT);
  CX_ASSERT_OK(cx_sleep(op, 0.0));
  CX_ASSERT_OK(cx_sleep(NULL, 0.05)); /* current op */
  finish(op, 0);
  /* no current op: a plain sleep */
  assert_null(cx_current());
  t0 = cx_test_now();
  CX_ASSERT_OK(cx_sleep(NULL, 0.1));
  assert_true(cx_test_now() - t0 >= 0.05);
  CX_ASSERT_OK(cx_check(NULL));
}

/* ---------------------------------------------------------------------- */
/* already cancelled: every point reports at once */

static void test_already_cancelled(void **state) {
  (void)state;
  cx_op *op = entered_op("gone");
  cx_op_cancel(op, CX_REASON_MANUAL, NULL);
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
  double t0 = cx_test_now();
  CX_ASSERT_ERR(-ECANCELED, cx_check(op));
  CX_ASSERT_ERR(-ECANCELED, cx_check(NULL));
  CX_ASSERT_ERR(-ECANCELED, cx_sleep(op, LONG_WAIT));
  CX_ASSERT_ERR(-ECANCELED, cx_sleep(NULL, LONG_WAIT));
  CX_ASSERT_ERR(-ECANCELED, cx_poll(op, &pfd, 1, LONG_WAIT));
  CX_ASSERT_ERR(-ECANCELED, cx_poll(NULL, NULL, 0, CX_FOREVER));
  CX_ASSERT_ERR(-ECANCELED, cx_wait_fd(op, fds[0], POLLIN, CX_FOREVER));
  pthread_mutex_lock(&mu);
  CX_ASSERT_ERR(-ECANCELED, cx_cond_wait(op, &cond, &mu, CX_FOREVER));
  assert_int_equal(pthread_mutex_trylock(&mu), EBUSY);
  pthread_mutex_unlock(&mu);
  CX_ASSERT_OK(cx_token_wait(cx_op_token(op), CX_FOREVER));
  assert_true(cx_test_now() - t0 < PROMPT);
  finish(op, -ECANCELED);
  close(fds[0]);
  close(fds[1]);
}

/* ---------------------------------------------------------------------- */
/* success wins */

static void test_fd_ready_success_wins(void **state) {
  (void)state;
  cx_op *op = entered_op("ready");
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  assert_int_equal(write(fds[1], "x", 1), 1);

  /* ready and live */
  struct pollfd pfd[2] = {{.fd = fds[0], .events = POLLIN},
                          {.fd = fds[1], .events = POLLOUT}};
  assert_int_equal(cx_poll(op, pfd, 2, LONG_WAIT), 2);
  assert_true(pfd[0].revents & POLLIN);
  assert_true(pfd[1].revents & POLLOUT);
  int r = cx_wait_fd(op, fds[0], POLLIN, LONG_WAIT);
  assert_true(r > 0 && (r & POLLIN));

  /* ready and cancelled: the success is returned */
  cx_op_cancel(op, CX_REASON_MANUAL, NULL);
  pfd[0].revents = pfd[1].revents = 0;
  assert_int_equal(cx_poll(op, pfd, 1, LONG_WAIT), 1);
  assert_true(pfd[0].revents & POLLIN);
  r = cx_wait_fd(op, fds[0], POLLIN, LONG_WAIT);
  assert_true(r > 0 && (r & POLLIN));
  /* the cancel shows at the next point */
  CX_ASSERT_ERR(-ECANCELED, cx_check(op));
  finish(op, -ECANCELED);
  close(fds[0]);
  close(fds[1]);
}

static void test_fd_hangup(void **state) {
  (void)state;
  cx_op *op = entered_op("hup");
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  close(fds[1]);
  int r = cx_wait_fd(op, fds[0], POLLIN, LONG_WAIT);
  assert_true(r > 0 && (r & POLLHUP));
  close(fds[0]);
  /* a closed descriptor: POLLNVAL, not a hang */
  r = cx_wait_fd(op, fds[0], POLLIN, 1.0);
  assert_true(r > 0 && (r & POLLNVAL));
  finish(op, 0);
}

/* Data arrives from another thread while waiting. */
typedef struct writer {
  int fd;
  double delay;
} writer;

static void *write_later(void *p) {
  writer *w = p;
  cx_test_sleep(w->delay);
  ssize_t n = write(w->fd, "y", 1);
  (void)n;
  return NULL;
}

static void test_fd_becomes_ready(void **state) {
  (void)state;
  cx_op *op = entered_op("reader");
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  writer wr = {fds[1], 0.1};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, write_later, &wr), 0);
  struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
  assert_int_equal(cx_poll(op, &pfd, 1, LONG_WAIT), 1);
  assert_true(pfd.revents & POLLIN);
  pthread_join(th, NULL);
  char c;
  assert_int_equal(read(fds[0], &c, 1), 1);
  assert_int_equal(pthread_create(&th, NULL, write_later, &wr), 0);
  int r = cx_wait_fd(op, fds[0], POLLIN, LONG_WAIT);
  assert_true(r & POLLIN);
  pthread_join(th, NULL);
  finish(op, 0);
  close(fds[0]);
  close(fds[1]);
}

/* cx_cond_wait returns 0 when signalled, with the predicate true. */
typedef struct signaller {
  pthread_mutex_t *mu;
  pthread_cond_t *cond;
  bool *pred;
} signaller;

static void *signal_later(void *p) {
  signaller *s = p;
  cx_test_sleep(0.1);
  pthread_mutex_lock(s->mu);
  *s->pred = true;
  pthread_cond_signal(s->cond);
  pthread_mutex_unlock(s->mu);
  return NULL;
}

static void test_cond_signalled(void **state) {
  (void)state;
  cx_op *op = entered_op("cond");
  pthread_mutex_t mu;
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutex_init(&mu, &ma);
  pthread_mutexattr_destroy(&ma);
  /* a condvar on CLOCK_MONOTONIC: any clock is allowed */
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_t cond;
  pthread_cond_init(&cond, &ca);
  pthread_condattr_destroy(&ca);
  bool pred = false;
  signaller s = {&mu, &cond, &pred};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, signal_later, &s), 0);
  pthread_mutex_lock(&mu);
  int r = 0;
  double t0 = cx_test_now();
  while (!pred && r == 0 && cx_test_now() - t0 < PROMPT)
    r = cx_cond_wait(op, &cond, &mu, LONG_WAIT);
  CX_ASSERT_OK(r);
  assert_true(pred);
  /* locked by us (error-checking mutex: unlock fails otherwise) */
  assert_int_equal(pthread_mutex_unlock(&mu), 0);
  pthread_join(th, NULL);
  pthread_mutex_destroy(&mu);
  pthread_cond_destroy(&cond);
  finish(op, 0);
}

/* A condvar wake carries no result, so the cancel is reported as soon as
 * cx_cond_wait sees it: signalled and cancelled before the waiter gets the
 * mutex back gives -ECANCELED, with the predicate true for the caller to
 * check first (wait.h). */
typedef struct cond_waiter {
  cx_op *op;
  pthread_mutex_t mu;
  pthread_cond_t cond;
  bool waiting, pred;
  int result;
} cond_waiter;

static void *wait_cond_once(void *p) {
  cond_waiter *w = p;
  pthread_mutex_lock(&w->mu);
  w->waiting = true; /* still under the mutex until the wait releases it */
  w->result = cx_cond_wait(w->op, &w->cond, &w->mu, LONG_WAIT);
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

static void test_cond_signalled_and_cancelled(void **state) {
  (void)state;
  cond_waiter w = {.op = entered_op("cond")};
  pthread_t th;
  pthread_mutex_init(&w.mu, NULL);
  pthread_cond_init(&w.cond, NULL);
  assert_int_equal(pthread_create(&th, NULL, wait_cond_once, &w), 0);
  for (;;) { /* the waiter is inside pthread_cond_wait once we see this */
    pthread_mutex_lock(&w.mu);
    if (w.waiting) break;
    pthread_mutex_unlock(&w.mu);
    sched_yield();
  }
  w.pred = true;
  pthread_cond_signal(&w.cond);
  assert_true(cx_op_cancel(w.op, CX_REASON_MANUAL, "both"));
  pthread_mutex_unlock(&w.mu);
  assert_true(cx_test_join_within(th, PROMPT, NULL));
  CX_ASSERT_ERR(-ECANCELED, w.result);
  assert_true(w.pred);
  pthread_cond_destroy(&w.cond);
  pthread_mutex_destroy(&w.mu);
  finish(w.op, -ECANCELED);
}

/* ---------------------------------------------------------------------- */
/* no lost wakeups: cancels racing the start of each wait */

typedef struct racer {
  cx_op *op;
  atomic_int go;
} racer;

static void *cancel_on_go(void *p) {
  racer *r = p;
  while (!atomic_load(&r->go)) {
  }
  cx_op_cancel(r->op, CX_REASON_MANUAL, "race");
  return NULL;
}

static void race_point(point where, int rounds) {
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
  for (int i = 0; i < rounds; i++) {
    racer rc = {entered_op("race"), 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, cancel_on_go, &rc), 0);
    atomic_store(&rc.go, 1);
    double t0 = cx_test_now();
    int r = 0;
    struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
    switch (where) {
      case P_SLEEP:
        r = cx_sleep(rc.op, LONG_WAIT);
        break;
      case P_POLL:
        r = cx_poll(rc.op, &pfd, 1, LONG_WAIT);
        break;
      case P_WAIT_FD:
        r = cx_wait_fd(rc.op, fds[0], POLLIN, LONG_WAIT);
        break;
      case P_COND:
        pthread_mutex_lock(&mu);
        while ((r = cx_cond_wait(rc.op, &cond, &mu, LONG_WAIT)) == 0 &&
               cx_test_now() - t0 < LONG_WAIT) {
        }
        pthread_mutex_unlock(&mu);
        break;
      case P_TOKEN_WAIT:
        r = cx_token_wait(cx_op_token(rc.op), LONG_WAIT) == 0 ? -ECANCELED
                                                              : -ETIMEDOUT;
        break;
      default:
        break;
    }
    double dt = cx_test_now() - t0;
    pthread_join(th, NULL);
    if (r != -ECANCELED || dt >= PROMPT)
      fail_msg("round %d: got %d (%s) after %.3f s", i, r, cx_err_name(r), dt);
    finish(rc.op, -ECANCELED);
  }
  close(fds[0]);
  close(fds[1]);
}

static void test_race_sleep(void **state) {
  (void)state;
  race_point(P_SLEEP, 300);
}
static void test_race_poll(void **state) {
  (void)state;
  race_point(P_POLL, 300);
}
static void test_race_wait_fd(void **state) {
  (void)state;
  race_point(P_WAIT_FD, 300);
}
static void test_race_cond(void **state) {
  (void)state;
  race_point(P_COND, 300);
}
static void test_race_token_wait(void **state) {
  (void)state;
  race_point(P_TOKEN_WAIT, 300);
}

/* ---------------------------------------------------------------------- */
/* bad arguments */

static void test_bad_arguments(void **state) {
  (void)state;
  cx_op *op = entered_op("args");
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
  CX_ASSERT_ERR(-EINVAL, cx_sleep(op, -1.0));
  CX_ASSERT_ERR(-EINVAL, cx_sleep(op, NAN));
  CX_ASSERT_ERR(-EINVAL, cx_sleep(NULL, -0.5));
  CX_ASSERT_ERR(-EINVAL, cx_poll(op, NULL, 1, 0.0));
  struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
  CX_ASSERT_ERR(-EINVAL, cx_poll(op, &pfd, 1, NAN));
  CX_ASSERT_ERR(-EINVAL, cx_wait_fd(op, -1, POLLIN, 0.0));
  CX_ASSERT_ERR(-EINVAL, cx_wait_fd(op, fds[0], 0, 0.0));
  CX_ASSERT_ERR(-EINVAL, cx_wait_fd(op, fds[0], POLLIN, NAN));
  CX_ASSERT_ERR(-EINVAL, cx_cond_wait(op, NULL, &mu, 0.0));
  pthread_mutex_lock(&mu);
  CX_ASSERT_ERR(-EINVAL, cx_cond_wait(op, &cond, NULL, 0.0));
  CX_ASSERT_ERR(-EINVAL, cx_cond_wait(op, &cond, &mu, NAN));
  assert_int_equal(pthread_mutex_trylock(&mu), EBUSY);
  pthread_mutex_unlock(&mu);
  /* nothing changed */
  assert_false(cx_op_is_cancelled(op));
  finish(op, 0);
  close(fds[0]);
  close(fds[1]);
}

/* Negative timeouts and +inf all mean "forever": only a cancel ends them. */
static void test_forever_conventions(void **state) {
  (void)state;
  const double forever[] = {CX_FOREVER, -123.0, INFINITY};
  for (size_t i = 0; i < sizeof forever / sizeof forever[0]; i++) {
    cx_op *op = entered_op("forever");
    racer rc = {op, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, cancel_on_go, &rc), 0);
    cx_test_sleep(0.05);
    /* forever, waking only on the cancel below */
    atomic_store(&rc.go, 1);
    double t0 = cx_test_now();
    CX_ASSERT_ERR(-ECANCELED, cx_poll(op, NULL, 0, forever[i]));
    assert_true(cx_test_now() - t0 < PROMPT);
    pthread_join(th, NULL);
    finish(op, -ECANCELED);
  }
}

/* The cancel of a condvar waiter never blocks the cancelling thread on the
 * user's mutex: here the timer thread cancels while the main thread holds
 * the mutex and then exits the op (whose disarm waits for the timer's
 * callback).  This used to deadlock. */
static pthread_mutex_t g_busy_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_busy_cv = PTHREAD_COND_INITIALIZER;
static cx_op *g_busy_parent;

static void *busy_mutex_waiter(void *p) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_op *child = NULL;
  int rc;
  (void)p;
  o.parent = g_busy_parent;
  if (cx_op_create(&child, &o) != 0 || cx_op_enter(child) != 0)
    return (void *)(intptr_t)-1;
  pthread_mutex_lock(&g_busy_mu);
  rc = cx_cond_wait(child, &g_busy_cv, &g_busy_mu, 20.0);
  pthread_mutex_unlock(&g_busy_mu);
  cx_op_exit(child, rc);
  cx_op_unref(child);
  return (void *)(intptr_t)rc;
}

static void test_cond_cancel_while_mutex_held(void **state) {
  (void)state;
  pthread_t th;
  void *rv = NULL;
  CX_ASSERT_OK(cx_op_with_timeout(&g_busy_parent, NULL, 0.3, "parent"));
  CX_ASSERT_OK(cx_op_enter(g_busy_parent));
  assert_int_equal(pthread_create(&th, NULL, busy_mutex_waiter, NULL), 0);
  cx_test_sleep(0.1);
  pthread_mutex_lock(&g_busy_mu);
  CX_ASSERT_OK(cx_token_wait(cx_op_token(g_busy_parent), 10.0)); /* fired */
  CX_ASSERT_OK(cx_op_exit(g_busy_parent, -ECANCELED)); /* mutex held */
  pthread_mutex_unlock(&g_busy_mu);
  pthread_join(th, &rv);
  CX_ASSERT_ERR(-ECANCELED, (int)(intptr_t)rv);
  cx_op_unref(g_busy_parent);
}

/* The hand-off of a condvar wake never waits behind slow condition
 * predicates: four conditions block their workers for 3 s each while a
 * canceller holds the mutex; the waiter still wakes well before that. */
static int three_second_predicate(void *p) {
  (void)p;
  cx_test_sleep(3.0);
  return 0;
}

static void *slow_pool_waiter(void *p) {
  cx_op *op = p;
  int rc;
  pthread_mutex_lock(&g_busy_mu);
  rc = cx_cond_wait(op, &g_busy_cv, &g_busy_mu, 20.0);
  pthread_mutex_unlock(&g_busy_mu);
  return (void *)(intptr_t)rc;
}

static void test_cond_wake_not_behind_predicates(void **state) {
  (void)state;
  cx_op *slow[4], *w;
  pthread_t th;
  void *rv = NULL;
  for (int i = 0; i < 4; i++) {
    CX_ASSERT_OK(cx_op_with_condition(&slow[i], NULL, three_second_predicate,
                                      NULL, NULL, 0.01, "slow"));
    CX_ASSERT_OK(cx_op_enter(slow[i]));
  }
  cx_test_sleep(0.2); /* the four predicates now occupy their workers */
  w = cx_test_op("waiter", NULL, 0);
  assert_int_equal(pthread_create(&th, NULL, slow_pool_waiter, w), 0);
  cx_test_sleep(0.1);
  pthread_mutex_lock(&g_busy_mu); /* the cancel must hand the wake off */
  double t0 = cx_test_now();
  cx_op_cancel(w, CX_REASON_MANUAL, "wake up");
  pthread_mutex_unlock(&g_busy_mu);
  pthread_join(th, &rv);
  assert_true(cx_test_now() - t0 < 2.0);
  CX_ASSERT_ERR(-ECANCELED, (int)(intptr_t)rv);
  cx_op_unref(w);
  for (int i = 3; i >= 0; i--) {
    CX_ASSERT_OK(cx_op_exit(slow[i], 0));
    cx_op_unref(slow[i]);
  }
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/wait/woken/check", test_wake_check),
    CX_TEST("/wait/woken/sleep", test_wake_sleep),
    CX_TEST("/wait/woken/poll", test_wake_poll),
    CX_TEST("/wait/woken/poll-no-fds", test_wake_poll_nofds),
    CX_TEST("/wait/woken/wait-fd", test_wake_wait_fd),
    CX_TEST("/wait/woken/cond-wait", test_wake_cond),
    CX_TEST("/wait/woken/token-wait", test_wake_token_wait),
    CX_TEST("/wait/current-op/check", test_current_check),
    CX_TEST("/wait/current-op/sleep", test_current_sleep),
    CX_TEST("/wait/current-op/poll", test_current_poll),
    CX_TEST("/wait/current-op/wait-fd", test_current_wait_fd),
    CX_TEST("/wait/current-op/cond-wait", test_current_cond),
    CX_TEST("/wait/woken/many-waiters", test_wake_many_waiters),
    CX_TEST("/wait/op-timeout-interrupts", test_op_timeout_interrupts_sleep),
    CX_TEST("/wait/parent-cancel-interrupts",
            test_parent_cancel_interrupts_child_wait),
    CX_TEST("/wait/own-timeout", test_own_timeout),
    CX_TEST("/wait/sleep/full", test_sleep_full),
    CX_TEST("/wait/already-cancelled", test_already_cancelled),
    CX_TEST("/wait/fd/success-wins", test_fd_ready_success_wins),
    CX_TEST("/wait/fd/hangup", test_fd_hangup),
    CX_TEST("/wait/fd/becomes-ready", test_fd_becomes_ready),
    CX_TEST("/wait/cond/signalled", test_cond_signalled),
    CX_TEST("/wait/cond/signalled-and-cancelled",
            test_cond_signalled_and_cancelled),
    CX_TEST("/wait/cond/cancel-while-mutex-held",
            test_cond_cancel_while_mutex_held),
    CX_TEST("/wait/cond/wake-not-behind-predicates",
            test_cond_wake_not_behind_predicates),
    CX_TEST("/wait/race/sleep", test_race_sleep),
    CX_TEST("/wait/race/poll", test_race_poll),
    CX_TEST("/wait/race/wait-fd", test_race_wait_fd),
    CX_TEST("/wait/race/cond-wait", test_race_cond),
    CX_TEST("/wait/race/token-wait", test_race_token_wait),
    CX_TEST("/wait/bad-arguments", test_bad_arguments),
    CX_TEST("/wait/forever-conventions", test_forever_conventions),
};

CX_TEST_MAIN("wait", tests)
