/* tests/unit/test_signal_safe.c - cancelling a token from a real signal
 * handler with cx_token_cancel_signal_safe(): -ESRCH before
 * cx_signal_safe_prepare(), the token cancelled before the handler returns,
 * a waiter in cx_token_wait (also one interrupted by the signal itself) and
 * in cx_sleep woken, callbacks and linked tokens run by the helper thread,
 * the pollable fd, many signals in a row, bad input.  Issue #2.
 *
 * The -ESRCH test must run first when the whole executable runs in one
 * process: preparation cannot be undone.  "Nothing more happened" is
 * checked once the helper thread is done (cx_test_quiesce(): linked with
 * the static library).
 */
#include "cx_test.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <cancelable.h>

#define PROMPT 15.0

/* ---------------------------------------------------------------------- */
/* the handler */

static cx_token *volatile g_target;
static volatile sig_atomic_t g_result = -1000;
static volatile sig_atomic_t g_handled;
static cx_reason g_reason = CX_REASON_SIGNAL;

static void on_sigusr1(int sig) {
  (void)sig;
  int saved = errno;
  g_result = cx_token_cancel_signal_safe(g_target, g_reason);
  g_handled = g_handled + 1;
  errno = saved;
}

static void install_handler(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigusr1;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; /* no SA_RESTART: waits see EINTR and must cope */
  assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
}

static void restore_handler(void) { signal(SIGUSR1, SIG_DFL); }

static bool wait_count(atomic_int *n, int at_least, double seconds) {
  double end = cx_test_now() + seconds;
  while (atomic_load(n) < at_least) {
    if (cx_test_now() > end) return false;
    cx_test_sleep(0.001);
  }
  return true;
}

typedef struct cb_rec {
  atomic_int calls;
  pthread_t thread;
} cb_rec;

static int rec_cb(cx_token *token, void *user_data) {
  (void)token;
  cb_rec *r = user_data;
  r->thread = pthread_self();
  atomic_fetch_add(&r->calls, 1);
  return 0;
}

/* ---------------------------------------------------------------------- */

static void test_signal_safe_not_prepared(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  CX_ASSERT_ERR(-ESRCH, cx_token_cancel_signal_safe(t, CX_REASON_SIGNAL));
  /* nothing changed */
  assert_false(cx_token_is_cancelled(t));
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_NONE);
  cx_token_unref(t);
}

static void test_signal_safe_prepare_twice(void **state) {
  (void)state;
  CX_ASSERT_OK(cx_signal_safe_prepare());
  CX_ASSERT_OK(cx_signal_safe_prepare());
}

static void test_signal_safe_bad_input(void **state) {
  (void)state;
  CX_ASSERT_OK(cx_signal_safe_prepare());
  CX_ASSERT_ERR(-EINVAL, cx_token_cancel_signal_safe(NULL, CX_REASON_SIGNAL));
  cx_token *t = cx_token_new();
  CX_ASSERT_ERR(-EINVAL, cx_token_cancel_signal_safe(t, CX_REASON_NONE));
  CX_ASSERT_ERR(-EINVAL, cx_token_cancel_signal_safe(t, (cx_reason)7));
  CX_ASSERT_ERR(-EINVAL, cx_token_cancel_signal_safe(t, (cx_reason)-3));
  assert_false(cx_token_is_cancelled(t));
  cx_token_unref(t);
}

/* raise(): the handler runs on this thread before raise returns. */
static void test_signal_safe_from_handler(void **state) {
  (void)state;
  CX_ASSERT_OK(cx_signal_safe_prepare());
  cx_token *t = cx_token_new();
  cb_rec rec = {0};
  CX_ASSERT_OK(cx_token_on_cancel(t, rec_cb, &rec, NULL, 0, NULL));
  g_target = t;
  g_reason = CX_REASON_SIGNAL;
  g_handled = 0;
  install_handler();
  assert_int_equal(raise(SIGUSR1), 0);
  assert_int_equal(g_handled, 1);
  assert_int_equal(g_result, 1);
  /* cancelled before the handler returned */
  assert_true(cx_token_is_cancelled(t));
  CX_ASSERT_ERR(-ECANCELED, cx_token_check(t));
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_SIGNAL);
  /* the helper thread runs the callbacks, soon */
  assert_true(wait_count(&rec.calls, 1, PROMPT));
  assert_false(pthread_equal(rec.thread, pthread_self()));
  assert_string_equal(cx_token_cancel_message(t),
                      "cancelled from a signal handler");
  assert_true(cx_token_cancel_time(t) > 0.0);
  /* the first cancel won */
  assert_false(cx_token_cancel(t, CX_REASON_MANUAL, "late"));
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_SIGNAL);

  /* a second signal: already cancelled, and once the completion thread
   * is done, still one call */
  assert_int_equal(raise(SIGUSR1), 0);
  assert_int_equal(g_result, 0);
  cx_test_quiesce();
  assert_int_equal(atomic_load(&rec.calls), 1);
  restore_handler();
  g_target = NULL;
  cx_token_unref(t);
}

/* An op's own token is made without its extension (message, time, lists:
 * made on first need, issue 19): a cancel from a handler before anything
 * made it still cancels the op, and the time is filled in by the helper
 * thread. */
static void test_signal_safe_op_token_without_ext(void **state) {
  cx_op *op;
  (void)state;
  CX_ASSERT_OK(cx_signal_safe_prepare());
  CX_ASSERT_OK(cx_op_create(&op, NULL));
  CX_ASSERT_OK(cx_op_enter(op));
  g_target = cx_op_token(op);
  g_reason = CX_REASON_SIGNAL;
  g_handled = 0;
  install_handler();
  assert_int_equal(raise(SIGUSR1), 0);
  assert_int_equal(g_result, 1);
  assert_true(cx_op_is_cancelled(op));
  cx_test_quiesce();
  assert_string_equal(cx_token_cancel_message(cx_op_token(op)),
                      "cancelled from a signal handler");
  assert_true(cx_token_cancel_time(cx_op_token(op)) > 0.0);
  assert_non_null(cx_op_id(op)); /* the id is made after the cancel too */
  assert_string_equal(cx_token_id(cx_op_token(op)), cx_op_id(op));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_SIGNAL);
  restore_handler();
  g_target = NULL;
  cx_op_unref(op);
}

static void test_signal_safe_on_cancelled_token(void **state) {
  (void)state;
  CX_ASSERT_OK(cx_signal_safe_prepare());
  cx_token *t = cx_token_new();
  cx_token_cancel(t, CX_REASON_TIMEOUT, "first");
  g_target = t;
  g_reason = CX_REASON_SIGNAL;
  install_handler();
  assert_int_equal(raise(SIGUSR1), 0);
  assert_int_equal(g_result, 0);
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_TIMEOUT);
  assert_string_equal(cx_token_cancel_message(t), "first");
  restore_handler();
  g_target = NULL;
  cx_token_unref(t);
}

/* Another reason than SIGNAL is kept. */
static void test_signal_safe_reason(void **state) {
  (void)state;
  CX_ASSERT_OK(cx_signal_safe_prepare());
  cx_token *t = cx_token_new();
  g_target = t;
  g_reason = CX_REASON_MANUAL;
  install_handler();
  assert_int_equal(raise(SIGUSR1), 0);
  assert_int_equal(g_result, 1);
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_MANUAL);
  CX_ASSERT_OK(cx_token_wait(t, PROMPT));
  restore_handler();
  g_reason = CX_REASON_SIGNAL;
  g_target = NULL;
  cx_token_unref(t);
}

/* A waiter blocked in cx_token_wait on another thread is woken. */
typedef struct waiter {
  cx_token *token;
  cx_op *op;
  atomic_int ready;
  int result;
} waiter;

static void *token_waiter(void *p) {
  waiter *w = p;
  atomic_store(&w->ready, 1);
  w->result = cx_token_wait(w->token, 60.0);
  return NULL;
}

static void *sleep_waiter(void *p) {
  waiter *w = p;
  atomic_store(&w->ready, 1);
  w->result = cx_sleep(w->op, 60.0);
  return NULL;
}

static void wait_ready(waiter *w) {
  atomic_int *r = &w->ready;
  assert_true(wait_count(r, 1, PROMPT));
  cx_test_sleep(0.1); /* let it block */
}

static void test_signal_safe_wakes_token_wait(void **state) {
  (void)state;
  CX_ASSERT_OK(cx_signal_safe_prepare());
  cx_token *t = cx_token_new();
  waiter w = {t, NULL, 0, 1000};
  pthread_t th;
  /* the waiter thread blocks SIGUSR1: the handler runs here */
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  assert_int_equal(pthread_create(&th, NULL, token_waiter, &w), 0);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  wait_ready(&w);
  g_target = t;
  install_handler();
  assert_int_equal(pthread_kill(pthread_self(), SIGUSR1), 0);
  assert_int_equal(g_result, 1);
  assert_true(cx_test_join_within(th, PROMPT, NULL));
  CX_ASSERT_OK(w.result);
  restore_handler();
  g_target = NULL;
  cx_token_unref(t);
}

/* The signal lands on the waiting thread itself: its wait is interrupted
 * by the handler (EINTR inside), and it still returns 0. */
static void test_signal_safe_on_waiting_thread(void **state) {
  (void)state;
  CX_ASSERT_OK(cx_signal_safe_prepare());
  cx_token *t = cx_token_new();
  waiter w = {t, NULL, 0, 1000};
  g_target = t;
  install_handler();
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, token_waiter, &w), 0);
  wait_ready(&w);
  assert_int_equal(pthread_kill(th, SIGUSR1), 0);
  assert_true(cx_test_join_within(th, PROMPT, NULL));
  CX_ASSERT_OK(w.result);
  assert_int_equal(g_result, 1);
  assert_true(cx_token_is_cancelled(t));
  restore_handler();
  g_target = NULL;
  cx_token_unref(t);
}

/* kill() to the whole process, waiter in cx_sleep on an op whose token is
 * the target. */
static void test_signal_safe_wakes_sleep(void **state) {
  (void)state;
  CX_ASSERT_OK(cx_signal_safe_prepare());
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_create(&op, NULL));
  CX_ASSERT_OK(cx_op_enter(op));
  waiter w = {NULL, op, 0, 1000};
  g_target = cx_op_token(op);
  install_handler();
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, sleep_waiter, &w), 0);
  wait_ready(&w);
  assert_int_equal(kill(getpid(), SIGUSR1), 0);
  assert_true(cx_test_join_within(th, PROMPT, NULL));
  CX_ASSERT_ERR(-ECANCELED, w.result);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_SIGNAL);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_SIGNAL);
  restore_handler();
  g_target = NULL;
  cx_op_unref(op);
}

static void test_signal_safe_links_and_fd(void **state) {
  (void)state;
  CX_ASSERT_OK(cx_signal_safe_prepare());
  cx_token *t = cx_token_new(), *linked = cx_token_new();
  CX_ASSERT_OK(cx_token_link(linked, t, 0));
  int fd = cx_token_fd(t);
  int lfd = cx_token_fd(linked);
  assert_true(fd >= 0 && lfd >= 0);
  g_target = t;
  install_handler();
  assert_int_equal(raise(SIGUSR1), 0);
  assert_int_equal(g_result, 1);
  /* the helper finishes the cancel: linked token and fds */
  CX_ASSERT_OK(cx_token_wait(linked, PROMPT));
  assert_int_equal(cx_token_cancel_reason(linked), CX_REASON_PARENT);
  /* Each fd turns readable when its token's cancel is finished, which for
   * the linked one can come just after its state reads as cancelled. */
  struct pollfd p = {.fd = fd, .events = POLLIN};
  assert_int_equal(poll(&p, 1, (int)(PROMPT * 1000)), 1);
  p.fd = lfd;
  p.revents = 0;
  assert_int_equal(poll(&p, 1, (int)(PROMPT * 1000)), 1);
  restore_handler();
  g_target = NULL;
  cx_token_unref(linked);
  cx_token_unref(t);
}

/* Many tokens cancelled from the handler in a row: every one of them is
 * finished by the helper (callbacks run), none lost. */
static void test_signal_safe_many(void **state) {
  (void)state;
  CX_ASSERT_OK(cx_signal_safe_prepare());
  enum { N = 20000 };
  cx_token **ts = calloc(N, sizeof *ts);
  assert_non_null(ts);
  cb_rec rec = {0};
  for (int i = 0; i < N; i++) {
    ts[i] = cx_token_new();
    assert_non_null(ts[i]);
    CX_ASSERT_OK(cx_token_on_cancel(ts[i], rec_cb, &rec, NULL, 0, NULL));
  }
  install_handler();
  int wins = 0;
  for (int i = 0; i < N; i++) {
    g_target = ts[i];
    raise(SIGUSR1);
    if (g_result == 1) wins++;
  }
  restore_handler();
  g_target = NULL;
  assert_int_equal(wins, N);
  assert_true(wait_count(&rec.calls, N, 60.0));
  for (int i = 0; i < N; i++) {
    CX_ASSERT_OK(cx_token_wait(ts[i], PROMPT));
    cx_token_unref(ts[i]);
  }
  assert_int_equal(atomic_load(&rec.calls), N);
  free(ts);
}

/* The caller drops its only reference right after the handler returned:
 * the library keeps the token alive until the helper has finished with it
 * (no use after free under ASan), and the callback still runs, once, before
 * its destroy notify. */
typedef struct late_rec {
  atomic_int calls;
  atomic_int destroys;
  atomic_int calls_at_destroy;
} late_rec;

static int late_cb(cx_token *token, void *user_data) {
  (void)token;
  atomic_fetch_add(&((late_rec *)user_data)->calls, 1);
  return 0;
}

static void late_destroy(void *user_data) {
  late_rec *r = user_data;
  atomic_store(&r->calls_at_destroy, atomic_load(&r->calls));
  atomic_fetch_add(&r->destroys, 1);
}

static void test_signal_safe_unref_after(void **state) {
  (void)state;
  CX_ASSERT_OK(cx_signal_safe_prepare());
  install_handler();
  enum { N = 200 };
  late_rec *recs = calloc(N, sizeof *recs);
  assert_non_null(recs);
  for (int i = 0; i < N; i++) {
    cx_token *t = cx_token_new();
    CX_ASSERT_OK(
        cx_token_on_cancel(t, late_cb, &recs[i], late_destroy, 0, NULL));
    g_target = t;
    raise(SIGUSR1);
    g_target = NULL;
    cx_token_unref(t);
  }
  restore_handler();
  for (int i = 0; i < N; i++) {
    assert_true(wait_count(&recs[i].destroys, 1, PROMPT));
    cx_test_sleep(0.0);
    assert_int_equal(atomic_load(&recs[i].destroys), 1);
    assert_int_equal(atomic_load(&recs[i].calls), 1);
    assert_int_equal(atomic_load(&recs[i].calls_at_destroy), 1);
  }
  free(recs);
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/signal-safe/not-prepared", test_signal_safe_not_prepared),
    CX_TEST("/signal-safe/prepare-twice", test_signal_safe_prepare_twice),
    CX_TEST("/signal-safe/bad-input", test_signal_safe_bad_input),
    CX_TEST("/signal-safe/from-handler", test_signal_safe_from_handler),
    CX_TEST("/signal-safe/already-cancelled",
            test_signal_safe_on_cancelled_token),
    CX_TEST("/signal-safe/reason", test_signal_safe_reason),
    CX_TEST("/signal-safe/op-token-without-ext",
            test_signal_safe_op_token_without_ext),
    CX_TEST("/signal-safe/wakes-token-wait", test_signal_safe_wakes_token_wait),
    CX_TEST("/signal-safe/on-waiting-thread",
            test_signal_safe_on_waiting_thread),
    CX_TEST("/signal-safe/wakes-sleep", test_signal_safe_wakes_sleep),
    CX_TEST("/signal-safe/links-and-fd", test_signal_safe_links_and_fd),
    CX_TEST("/signal-safe/many", test_signal_safe_many),
    CX_TEST("/signal-safe/unref-after", test_signal_safe_unref_after),
};

CX_TEST_MAIN("signal-safe", tests)
