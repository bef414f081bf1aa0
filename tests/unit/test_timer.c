/* tests/unit/test_timer.c - the timer service as seen through the public
 * API (linked against the static library): started lazily, one thread for
 * every timeout, no thread and no descriptor per armed timeout, deadlines
 * fire in order, a deadline armed on the virtual clock keeps its meaning on
 * the real one, cx_now() is monotonic across threads.  Issue #2.
 *
 * /timer/lazy-start must run first when the whole executable runs in one
 * process.
 */
#include "cx_test.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cancelable.h>

/* ---------------------------------------------------------------------- */
/* helpers */

static int count_dir(const char *path) {
  DIR *d = opendir(path);
  if (d == NULL) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - (strcmp(path, "/proc/self/fd") == 0 ? 1 : 0); /* opendir's */
}

static int count_threads(void) { return count_dir("/proc/self/task"); }
static int count_fds(void) { return count_dir("/proc/self/fd"); }

typedef struct order_log {
  pthread_mutex_t mu;
  int seq[64];
  pthread_t thread[64];
  int n;
} order_log;

typedef struct order_item {
  order_log *log;
  int id;
} order_item;

static int order_cb(cx_token *token, void *user_data) {
  (void)token;
  order_item *it = user_data;
  pthread_mutex_lock(&it->log->mu);
  if (it->log->n < 64) {
    it->log->thread[it->log->n] = pthread_self();
    it->log->seq[it->log->n++] = it->id;
  }
  pthread_mutex_unlock(&it->log->mu);
  return 0;
}

/* Wait until @n callbacks have logged, at most @seconds. */
static void wait_log(order_log *log, int n, double seconds) {
  double end = cx_test_now() + seconds;
  for (;;) {
    pthread_mutex_lock(&log->mu);
    int have = log->n;
    pthread_mutex_unlock(&log->mu);
    if (have >= n || cx_test_now() > end) return;
    cx_test_sleep(0.001);
  }
}

/* ---------------------------------------------------------------------- */

static void *nothing(void *p) { return p; }

static void test_timer_lazy_start(void **state) {
  (void)state;
  /* let a sanitizer runtime start its own helper thread first */
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, nothing, NULL), 0);
  pthread_join(th, NULL);
  cx_test_sleep(0.05);
  int base = count_threads();
  assert_true(base >= 1);
  /* tokens, ops without timeouts, waits: no timer thread */
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_create(&op, NULL));
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_sleep(op, 0.01));
  cx_token *t = cx_token_new();
  cx_token_cancel(t, CX_REASON_MANUAL, NULL);
  cx_token_unref(t);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
  assert_int_equal(count_threads(), base);
  /* the first armed timeout starts exactly one */
  CX_ASSERT_OK(cx_op_with_timeout(&op, NULL, 0.05, "first"));
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_token_wait(cx_op_token(op), 10.0));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  assert_int_equal(count_threads(), base + 1);
}

static void test_timer_no_thread_no_fd_per_timeout(void **state) {
  (void)state;
  /* warm up: the service is running */
  cx_op *w = NULL;
  CX_ASSERT_OK(cx_op_with_timeout(&w, NULL, 0.01, "warm"));
  CX_ASSERT_OK(cx_op_enter(w));
  CX_ASSERT_OK(cx_token_wait(cx_op_token(w), 10.0));
  CX_ASSERT_OK(cx_op_exit(w, -ECANCELED));
  cx_op_unref(w);

  int threads = count_threads(), fds = count_fds();
  enum { N = 1000 };
  cx_op **ops = calloc(N, sizeof *ops);
  for (int i = 0; i < N; i++) {
    CX_ASSERT_OK(cx_op_with_timeout(&ops[i], NULL, 3600.0 + i, NULL));
    CX_ASSERT_OK(cx_op_enter(ops[i]));
  }
  assert_int_equal(count_threads(), threads);
  assert_int_equal(count_fds(), fds);
  for (int i = N - 1; i >= 0; i--) {
    CX_ASSERT_OK(cx_op_exit(ops[i], 0));
    cx_op_unref(ops[i]);
  }
  assert_int_equal(count_threads(), threads);
  assert_int_equal(count_fds(), fds);
  free(ops);
}

static void test_timer_deadline_order(void **state) {
  (void)state;
  order_log log = {.mu = PTHREAD_MUTEX_INITIALIZER};
  const double secs[3] = {0.6, 0.2, 0.4};
  order_item items[3];
  cx_op *ops[3];
  for (int i = 0; i < 3; i++) {
    items[i] = (order_item){&log, i};
    CX_ASSERT_OK(cx_op_with_timeout(&ops[i], NULL, secs[i], NULL));
    CX_ASSERT_OK(cx_token_on_cancel(cx_op_token(ops[i]), order_cb, &items[i],
                                    NULL, 0, NULL));
    CX_ASSERT_OK(cx_op_enter(ops[i]));
  }
  for (int i = 0; i < 3; i++)
    CX_ASSERT_OK(cx_token_wait(cx_op_token(ops[i]), 20.0));
  /* waiters wake before the callbacks run: wait for the callbacks too */
  wait_log(&log, 3, 20.0);
  pthread_mutex_lock(&log.mu);
  int n = log.n;
  int seq[3] = {log.seq[0], log.seq[1], log.seq[2]};
  pthread_mutex_unlock(&log.mu);
  assert_int_equal(n, 3);
  assert_int_equal(seq[0], 1);
  assert_int_equal(seq[1], 2);
  assert_int_equal(seq[2], 0);
  for (int i = 2; i >= 0; i--) {
    CX_ASSERT_OK(cx_op_exit(ops[i], -ECANCELED));
    cx_op_unref(ops[i]);
  }
}

static void test_timer_one_thread(void **state) {
  (void)state;
  order_log log = {.mu = PTHREAD_MUTEX_INITIALIZER};
  enum { N = 40 };
  order_item items[N];
  cx_op *ops[N];
  for (int i = 0; i < N; i++) {
    items[i] = (order_item){&log, i};
    CX_ASSERT_OK(cx_op_with_timeout(&ops[i], NULL, 0.01 + 0.002 * i, NULL));
    CX_ASSERT_OK(cx_token_on_cancel(cx_op_token(ops[i]), order_cb, &items[i],
                                    NULL, 0, NULL));
    CX_ASSERT_OK(cx_op_enter(ops[i]));
  }
  for (int i = 0; i < N; i++)
    CX_ASSERT_OK(cx_token_wait(cx_op_token(ops[i]), 20.0));
  wait_log(&log, N, 20.0);
  pthread_mutex_lock(&log.mu);
  assert_int_equal(log.n, N);
  for (int i = 0; i < N; i++) {
    assert_false(pthread_equal(log.thread[i], pthread_self()));
    assert_true(pthread_equal(log.thread[i], log.thread[0]));
  }
  pthread_mutex_unlock(&log.mu);
  for (int i = N - 1; i >= 0; i--) {
    CX_ASSERT_OK(cx_op_exit(ops[i], -ECANCELED));
    cx_op_unref(ops[i]);
  }
}

/* A deadline armed on the virtual clock fires on the real one after the
 * switch back (the virtual clock starts at the real monotonic time). */
static void test_timer_virtual_to_real(void **state) {
  (void)state;
  CX_ASSERT_OK(cx_clock_use_virtual());
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_with_timeout(&op, NULL, 0.2, "switch"));
  CX_ASSERT_OK(cx_op_enter(op));
  cx_op *far = NULL;
  CX_ASSERT_OK(cx_op_with_timeout(&far, NULL, 3600.0, "far"));
  CX_ASSERT_OK(cx_op_enter(far));
  CX_ASSERT_OK(cx_clock_use_real());
  CX_ASSERT_OK(cx_token_wait(cx_op_token(op), 20.0));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  assert_false(cx_op_is_cancelled(far));
  CX_ASSERT_OK(cx_op_exit(far, 0));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(far);
  cx_op_unref(op);
}

/* Advancing the virtual clock far past a real-time wait's limit does not
 * cut the wait: per-call timeouts run on the real clock. */
static void *advance_later(void *p) {
  (void)p;
  cx_test_sleep(0.05);
  cx_clock_advance(1000.0);
  return NULL;
}

static void test_timer_waits_use_real_clock(void **state) {
  (void)state;
  CX_ASSERT_OK(cx_clock_use_virtual());
  cx_token *t = cx_token_new();
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, advance_later, NULL), 0);
  double t0 = cx_test_now();
  CX_ASSERT_ERR(-ETIMEDOUT, cx_token_wait(t, 0.5));
  double dt = cx_test_now() - t0;
  pthread_join(th, NULL);
  assert_true(dt >= 0.4);
  CX_ASSERT_OK(cx_clock_use_real());
  cx_token_unref(t);
}

typedef struct mono_arg {
  atomic_int *bad;
} mono_arg;

static void *monotonic_reader(void *p) {
  mono_arg *a = p;
  double prev = cx_now();
  for (int i = 0; i < 100000; i++) {
    double now = cx_now();
    if (!(now >= prev) || !isfinite(now)) atomic_fetch_add(a->bad, 1);
    prev = now;
  }
  return NULL;
}

static void test_timer_now_monotonic(void **state) {
  (void)state;
  atomic_int bad = 0;
  mono_arg a = {&bad};
  pthread_t th[3];
  for (int i = 0; i < 3; i++)
    assert_int_equal(pthread_create(&th[i], NULL, monotonic_reader, &a), 0);
  monotonic_reader(&a);
  for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
  assert_int_equal(atomic_load(&bad), 0);
  double a1 = cx_now();
  cx_test_sleep(0.05);
  double a2 = cx_now();
  assert_true(a2 - a1 >= 0.04 && a2 - a1 < 10.0);
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/timer/lazy-start", test_timer_lazy_start),
    CX_TEST("/timer/no-thread-no-fd-per-timeout",
            test_timer_no_thread_no_fd_per_timeout),
    CX_TEST("/timer/deadline-order", test_timer_deadline_order),
    CX_TEST("/timer/one-thread", test_timer_one_thread),
    CX_TEST("/timer/virtual-to-real", test_timer_virtual_to_real),
    CX_TEST("/timer/waits-use-real-clock", test_timer_waits_use_real_clock),
    CX_TEST("/timer/now-monotonic", test_timer_now_monotonic),
};

CX_TEST_MAIN("timer", tests)
