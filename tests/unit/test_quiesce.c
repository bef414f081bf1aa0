/* tests/unit/test_quiesce.c - cx_test_quiesce() (the internal cx__quiesce(),
 * src/runtime/quiesce.h), on which the tests that assert that something
 * did not happen rely.  It returns only once: a check queued on a worker
 * has run; what the check caused on another service thread (a signal-safe
 * cancel's completion) is over; work handed back to a service already
 * looked at (a completion advancing the clock: a timer, then a check) is
 * over; a signal that reached the handler has been dispatched; on the real
 * clock, what was due at the call is over.  It gives up with -ETIMEDOUT
 * when a service thread stays busy, and refuses with -EDEADLK on a service
 * thread, which would wait for itself.  Linked with the static library.
 */
#include "cx_test.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include <cancelable.h>

#include "runtime/clock.h"
#include "runtime/quiesce.h"

/* Long enough that a quiesce that does not wait is caught, whatever the
 * machine's speed: the slow work sets its flag only after this. */
#define SLOW 0.1

static int64_t within(double seconds) {
  return cx__mono_ns() + (int64_t)(seconds * 1e9);
}

/* A predicate: sleeps SLOW seconds (real time), counts in `done` and
 * returns `met`; with `and_then`, calls it first. */
typedef struct slow_pred {
  atomic_int calls;
  atomic_int done;
  atomic_bool block; /* wait while set (bounded) */
  int met;
  int (*and_then)(struct slow_pred *p);
  int and_then_rc;
  cx_token *token; /* for and_then */
} slow_pred;

static int slow_predicate(void *user_data) {
  slow_pred *p = user_data;
  atomic_fetch_add(&p->calls, 1);
  double t0 = cx_test_now();
  while (atomic_load(&p->block) && cx_test_now() - t0 < 20)
    cx_test_sleep(0.001);
  if (p->and_then != NULL) p->and_then_rc = p->and_then(p);
  cx_test_sleep(SLOW);
  atomic_fetch_add(&p->done, 1);
  return p->met;
}

static cx_op *slow_cond_op(slow_pred *p, double interval) {
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_with_condition(&op, NULL, slow_predicate, p, NULL,
                                    interval, "slow"));
  CX_ASSERT_OK(cx_op_enter(op));
  return op;
}

/* A cancel callback: sleeps SLOW seconds, then counts. */
static int slow_cb(cx_token *token, void *user_data) {
  (void)token;
  cx_test_sleep(SLOW);
  atomic_fetch_add((atomic_int *)user_data, 1);
  return 0;
}

static void test_nothing_to_do(void **state) {
  (void)state;
  CX_ASSERT_OK(cx__quiesce(within(60)));
  cx_test_quiesce();
}

/* The first check is due at enter: its timer fires, which only queues the
 * check, and the quiesce waits for the check itself. */
static void test_waits_for_a_check(void **state) {
  (void)state;
  slow_pred p;
  memset(&p, 0, sizeof p);
  cx_op *op = slow_cond_op(&p, 1.0);
  cx_test_quiesce();
  assert_int_equal(atomic_load(&p.calls), 1);
  assert_int_equal(atomic_load(&p.done), 1);
  cx_test_advance(1.0);
  assert_int_equal(atomic_load(&p.done), 2);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
}

/* timer -> worker -> completion thread: the check cancels a token from
 * "a signal handler", whose callback runs on the completion thread. */
static int cancel_signal_safe(slow_pred *p) {
  return cx_token_cancel_signal_safe(p->token, CX_REASON_SIGNAL);
}

static void test_waits_for_what_a_check_causes(void **state) {
  (void)state;
  atomic_int cb_done = 0;
  slow_pred p;
  memset(&p, 0, sizeof p);
  CX_ASSERT_OK(cx_signal_safe_prepare());
  p.token = cx_token_new();
  p.and_then = cancel_signal_safe;
  CX_ASSERT_OK(cx_token_on_cancel(p.token, slow_cb, &cb_done, NULL, 0, NULL));
  cx_op *op = slow_cond_op(&p, 1.0);
  cx_test_quiesce(); /* the check at enter */
  assert_int_equal(p.and_then_rc, 1);
  assert_int_equal(atomic_load(&p.done), 1);
  assert_int_equal(atomic_load(&cb_done), 1);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
  cx_token_unref(p.token);
}

/* completion thread -> timer -> worker: the callback of a signal-safe
 * cancel advances the clock, whose timer queues a check, after the
 * workers were looked at: the next round of the services waits for it. */
static int advance_later(cx_token *token, void *user_data) {
  (void)token;
  (void)user_data;
  cx_test_sleep(SLOW);
  return cx_clock_advance(1.0);
}

static void test_waits_for_work_handed_back(void **state) {
  (void)state;
  slow_pred p;
  memset(&p, 0, sizeof p);
  CX_ASSERT_OK(cx_signal_safe_prepare());
  cx_token *t = cx_token_new();
  CX_ASSERT_OK(cx_token_on_cancel(t, advance_later, NULL, NULL, 0, NULL));
  cx_op *op = slow_cond_op(&p, 1.0);
  cx_test_quiesce(); /* the check at enter */
  assert_int_equal(atomic_load(&p.done), 1);
  assert_int_equal(cx_token_cancel_signal_safe(t, CX_REASON_SIGNAL), 1);
  cx_test_quiesce();
  assert_int_equal(atomic_load(&p.done), 2);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
  cx_token_unref(t);
}

/* On the real clock: what is due at the call. */
static void test_real_clock(void **state) {
  (void)state;
  slow_pred p;
  memset(&p, 0, sizeof p);
  p.met = 1; /* one check only */
  cx_op *op = slow_cond_op(&p, 0.01);
  cx_test_sleep(0.02); /* the check is due */
  cx_test_quiesce();
  assert_int_equal(atomic_load(&p.done), 1);
  assert_true(cx_op_is_cancelled(op));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
}

/* A signal that reached the handler: the quiesce waits until the
 * dispatcher's cancel has run its callbacks. */
static void test_waits_for_a_signal(void **state) {
  (void)state;
  atomic_int cb_done = 0;
  int usr1 = SIGUSR1;
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_with_signal(&op, NULL, &usr1, 1, "signal"));
  CX_ASSERT_OK(
      cx_token_on_cancel(cx_op_token(op), slow_cb, &cb_done, NULL, 0, NULL));
  CX_ASSERT_OK(cx_op_enter(op));
  assert_int_equal(raise(SIGUSR1), 0); /* the handler runs here */
  cx_test_quiesce();
  assert_true(cx_op_is_cancelled(op));
  assert_int_equal(atomic_load(&cb_done), 1);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
}

/* A check that blocks: the quiesce gives up at its deadline. */
static void test_times_out(void **state) {
  (void)state;
  slow_pred p;
  memset(&p, 0, sizeof p);
  atomic_store(&p.block, true);
  cx_op *op = slow_cond_op(&p, 1.0); /* the check at enter blocks */
  double t0 = cx_test_now();
  CX_ASSERT_ERR(-ETIMEDOUT, cx__quiesce(within(0.2)));
  assert_true(cx_test_now() - t0 >= 0.15);
  assert_int_equal(atomic_load(&p.done), 0);
  atomic_store(&p.block, false);
  cx_test_quiesce();
  assert_int_equal(atomic_load(&p.done), 1);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
}

/* On a service thread it would wait for itself. */
static atomic_int g_refused;

static int quiesce_in_cb(cx_token *token, void *user_data) {
  (void)token;
  (void)user_data;
  if (cx__quiesce(within(60)) == -EDEADLK) atomic_fetch_add(&g_refused, 1);
  return 0;
}

static int quiesce_in_check(slow_pred *p) {
  (void)p;
  return cx__quiesce(within(60));
}

static void test_refused_on_service_threads(void **state) {
  (void)state;
  atomic_store(&g_refused, 0);
  /* the timer thread: a timeout's callback */
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_with_timeout(&op, NULL, 1.0, "timer"));
  CX_ASSERT_OK(
      cx_token_on_cancel(cx_op_token(op), quiesce_in_cb, NULL, NULL, 0, NULL));
  CX_ASSERT_OK(cx_op_enter(op));
  cx_test_advance(1.0);
  assert_int_equal(atomic_load(&g_refused), 1);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  /* a worker: a predicate */
  slow_pred p;
  memset(&p, 0, sizeof p);
  p.and_then = quiesce_in_check;
  op = slow_cond_op(&p, 1.0);
  cx_test_advance(1.0);
  CX_ASSERT_ERR(-EDEADLK, p.and_then_rc);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
  /* the signal dispatcher: a signal source's cancel */
  int usr2 = SIGUSR2;
  CX_ASSERT_OK(cx_op_with_signal(&op, NULL, &usr2, 1, "signal"));
  CX_ASSERT_OK(
      cx_token_on_cancel(cx_op_token(op), quiesce_in_cb, NULL, NULL, 0, NULL));
  CX_ASSERT_OK(cx_op_enter(op));
  assert_int_equal(raise(SIGUSR2), 0);
  cx_test_quiesce();
  assert_int_equal(atomic_load(&g_refused), 2);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  /* the completion thread: a signal-safe cancel's callbacks */
  CX_ASSERT_OK(cx_signal_safe_prepare());
  cx_token *t = cx_token_new();
  CX_ASSERT_OK(cx_token_on_cancel(t, quiesce_in_cb, NULL, NULL, 0, NULL));
  assert_int_equal(cx_token_cancel_signal_safe(t, CX_REASON_SIGNAL), 1);
  cx_test_quiesce();
  assert_int_equal(atomic_load(&g_refused), 3);
  cx_token_unref(t);
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/quiesce/nothing-to-do", test_nothing_to_do),
    CX_TEST_VCLOCK("/quiesce/waits-for-a-check", test_waits_for_a_check),
    CX_TEST_VCLOCK("/quiesce/waits-for-what-a-check-causes",
                   test_waits_for_what_a_check_causes),
    CX_TEST_VCLOCK("/quiesce/waits-for-work-handed-back",
                   test_waits_for_work_handed_back),
    CX_TEST("/quiesce/real-clock", test_real_clock),
    CX_TEST("/quiesce/waits-for-a-signal", test_waits_for_a_signal),
    CX_TEST_VCLOCK("/quiesce/times-out", test_times_out),
    CX_TEST_VCLOCK("/quiesce/refused-on-service-threads",
                   test_refused_on_service_threads),
};

CX_TEST_MAIN("quiesce", tests)
