/* tests/unit/test_notifier.c - the shared notifier (cancelable/notifier.h)
 * and cx_token_fd_release(): a watch is delivered once, whether the cancel
 * came before or after the watch; a stopped watch never is; draining makes
 * the descriptor unreadable (a level-triggered loop does not spin); 10 000
 * watches share one descriptor; many threads cancelling while one drains
 * and stops lose nothing and free everything (run under TSan and ASan).
 * Issue #20 (item 3). */
#include "cx_test.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include <cancelable.h>

static bool readable(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static bool readable_within(int fd, double seconds) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  return poll(&p, 1, (int)(seconds * 1000)) == 1 && (p.revents & POLLIN);
}

/* Counts deliveries in the int the watch's user data points to. */
static void count_fn(cx_watch *w, cx_token *t, void *user_data, void *d) {
  (void)w;
  (void)d;
  assert_true(cx_token_is_cancelled(t));
  (*(int *)user_data)++;
}

static void test_fires_once(void **state) {
  cx_notifier *n = NULL;
  cx_watch *w = NULL;
  cx_token *t = cx_token_new();
  int hits = 0, fd;
  (void)state;
  CX_ASSERT_OK(cx_notifier_new(&n));
  fd = cx_notifier_fd(n);
  assert_true(fd >= 0);
  CX_ASSERT_OK(cx_notifier_watch(&w, n, t, &hits));
  assert_false(readable(fd));
  assert_false(cx_watch_fired(w));
  assert_int_equal(cx_notifier_drain(n, count_fn, NULL), 0);
  cx_token_cancel(t, CX_REASON_MANUAL, NULL);
  assert_true(readable(fd));
  assert_true(cx_watch_fired(w));
  assert_int_equal(cx_notifier_drain(n, count_fn, NULL), 1);
  assert_int_equal(hits, 1);
  assert_false(readable(fd)); /* drained: no spin */
  cx_token_cancel(t, CX_REASON_MANUAL, NULL);
  assert_int_equal(cx_notifier_drain(n, count_fn, NULL), 0);
  assert_int_equal(hits, 1);
  cx_watch_stop(w);
  cx_token_unref(t);
  cx_notifier_unref(n);
}

static void test_cancelled_before_watch(void **state) {
  cx_notifier *n = NULL;
  cx_watch *w = NULL;
  cx_token *t = cx_token_new();
  int hits = 0;
  (void)state;
  cx_token_cancel(t, CX_REASON_MANUAL, NULL);
  CX_ASSERT_OK(cx_notifier_new(&n));
  CX_ASSERT_OK(cx_notifier_watch(&w, n, t, &hits));
  assert_true(readable(cx_notifier_fd(n)));
  assert_int_equal(cx_notifier_drain(n, count_fn, NULL), 1);
  assert_int_equal(hits, 1);
  cx_watch_stop(w);
  cx_token_unref(t);
  cx_notifier_unref(n);
}

static void test_stopped_never_delivered(void **state) {
  cx_notifier *n = NULL;
  cx_watch *w = NULL;
  cx_token *t = cx_token_new();
  int hits = 0;
  (void)state;
  CX_ASSERT_OK(cx_notifier_new(&n));
  CX_ASSERT_OK(cx_notifier_watch(&w, n, t, &hits));
  cx_token_cancel(t, CX_REASON_MANUAL, NULL); /* queued */
  cx_watch_stop(w);                           /* and taken out again */
  assert_int_equal(cx_notifier_drain(n, count_fn, NULL), 0);
  assert_int_equal(hits, 0);
  /* A watch left queued at the notifier's unref is released with it. */
  CX_ASSERT_OK(cx_notifier_watch(&w, n, t, &hits));
  cx_notifier_unref(n);
  cx_watch_stop(w);
  assert_int_equal(hits, 0);
  cx_token_unref(t);
}

static void stop_other(cx_watch *w, cx_token *t, void *user_data, void *d) {
  (void)t;
  (void)user_data;
  cx_watch_stop(w);
  cx_watch_stop(*(cx_watch **)d); /* the next one, still queued */
  *(cx_watch **)d = NULL;
}

static void test_stop_from_drain(void **state) {
  cx_notifier *n = NULL;
  cx_watch *a = NULL, *b = NULL;
  cx_token *t = cx_token_new(), *u = cx_token_new();
  (void)state;
  CX_ASSERT_OK(cx_notifier_new(&n));
  CX_ASSERT_OK(cx_notifier_watch(&a, n, t, NULL));
  CX_ASSERT_OK(cx_notifier_watch(&b, n, u, NULL));
  cx_token_cancel(t, CX_REASON_MANUAL, NULL);
  cx_token_cancel(u, CX_REASON_MANUAL, NULL);
  assert_int_equal(cx_notifier_drain(n, stop_other, &b), 1);
  assert_null(b);
  cx_token_unref(t);
  cx_token_unref(u);
  cx_notifier_unref(n);
}

static void test_bad_input(void **state) {
  cx_notifier *n = NULL;
  cx_watch *w = (cx_watch *)&n;
  cx_token *t = cx_token_new();
  (void)state;
  CX_ASSERT_ERR(-EINVAL, cx_notifier_new(NULL));
  CX_ASSERT_OK(cx_notifier_new(&n));
  CX_ASSERT_ERR(-EINVAL, cx_notifier_watch(&w, NULL, t, NULL));
  assert_null(w);
  CX_ASSERT_ERR(-EINVAL, cx_notifier_watch(&w, n, NULL, NULL));
  CX_ASSERT_ERR(-EINVAL, cx_notifier_watch(NULL, n, t, NULL));
  CX_ASSERT_ERR(-EINVAL, cx_notifier_drain(NULL, count_fn, NULL));
  CX_ASSERT_ERR(-EINVAL, cx_notifier_drain(n, NULL, NULL));
  CX_ASSERT_ERR(-EINVAL, cx_notifier_fd(NULL));
  CX_ASSERT_ERR(-EINVAL, cx_token_fd_release(NULL));
  assert_false(cx_watch_fired(NULL));
  cx_watch_stop(NULL);
  cx_notifier_unref(NULL);
  cx_notifier_unref(n);
  cx_token_unref(t);
}

/* Counts the process's open descriptors (/proc/self/fd, less the one
 * reading it). */
static int open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  int count = -1;
  assert_non_null(d);
  while (readdir(d) != NULL) count++;
  closedir(d);
  return count - 2; /* "." and ".." */
}

static void test_ten_thousand_one_fd(void **state) {
  enum { N = 10000 };
  cx_notifier *n = NULL;
  cx_watch **w = calloc(N, sizeof *w);
  cx_token **t = calloc(N, sizeof *t);
  int hits = 0, before, during;
  (void)state;
  before = open_fds();
  CX_ASSERT_OK(cx_notifier_new(&n));
  for (int i = 0; i < N; i++) {
    t[i] = cx_token_new();
    CX_ASSERT_OK(cx_notifier_watch(&w[i], n, t[i], &hits));
  }
  during = open_fds();
  assert_true(during - before <= 2); /* one eventfd (two for a pipe) */
  for (int i = 0; i < N; i += 2) cx_token_cancel(t[i], CX_REASON_MANUAL, NULL);
  assert_int_equal(cx_notifier_drain(n, count_fn, NULL), N / 2);
  assert_int_equal(hits, N / 2);
  for (int i = 0; i < N; i++) {
    cx_watch_stop(w[i]);
    cx_token_unref(t[i]);
  }
  cx_notifier_unref(n);
  assert_int_equal(open_fds(), before);
  free(w);
  free(t);
}

static void test_fd_release(void **state) {
  cx_token *t = cx_token_new();
  int before = open_fds(), fd;
  (void)state;
  CX_ASSERT_OK(cx_token_fd_release(t)); /* none yet */
  fd = cx_token_fd(t);
  assert_true(fd >= 0);
  assert_true(open_fds() > before); /* an eventfd, or a pipe's two ends */
  CX_ASSERT_OK(cx_token_fd_release(t));
  assert_int_equal(open_fds(), before);
  CX_ASSERT_OK(cx_token_fd_release(t));       /* twice is harmless */
  cx_token_cancel(t, CX_REASON_MANUAL, NULL); /* no descriptor to signal */
  fd = cx_token_fd(t);                        /* a new one, readable */
  assert_true(fd >= 0);
  assert_true(readable(fd));
  CX_ASSERT_OK(cx_token_fd_release(t));
  assert_int_equal(open_fds(), before);
  cx_token_unref(t);
}

/* A release while one of the library's own waits polls the descriptor
 * (cx_wait_fd on another thread) is deferred until that wait ends: the
 * cancel that follows still wakes it at once. */
typedef struct fd_waiter {
  cx_op *op;
  int fd;
  atomic_int rc;
  atomic_bool waiting;
} fd_waiter;

static void *wait_on_pipe(void *arg) {
  fd_waiter *w = arg;
  atomic_store(&w->waiting, true);
  atomic_store(&w->rc, cx_wait_fd(w->op, w->fd, POLLIN, 20.0));
  return NULL;
}

static void test_fd_release_while_polled(void **state) {
  int p[2];
  pthread_t th;
  fd_waiter w = {.rc = 1};
  (void)state;
  assert_int_equal(pipe(p), 0);
  CX_ASSERT_OK(cx_op_create(&w.op, NULL));
  w.fd = p[0];
  assert_int_equal(pthread_create(&th, NULL, wait_on_pipe, &w), 0);
  while (!atomic_load(&w.waiting)) cx_test_sleep(0.001);
  cx_test_sleep(0.1); /* inside poll() */
  CX_ASSERT_OK(cx_token_fd_release(cx_op_token(w.op)));
  cx_op_cancel(w.op, CX_REASON_MANUAL, NULL);
  assert_true(cx_test_join_within(th, 10.0, NULL));
  assert_int_equal(atomic_load(&w.rc), -ECANCELED);
  cx_op_unref(w.op);
  close(p[0]);
  close(p[1]);
}

/* ---- Stress: threads cancel; the main thread watches, drains, stops. */
enum { STRESS_TOKENS = 2000, STRESS_THREADS = 4 };

typedef struct stress {
  cx_token *tokens[STRESS_TOKENS];
  cx_watch *watches[STRESS_TOKENS];
  int delivered[STRESS_TOKENS];
  _Atomic int next; /* the cancellers' shared cursor */
} stress;

static void *canceller(void *arg) {
  stress *s = arg;
  int i;
  while ((i = atomic_fetch_add(&s->next, 1)) < STRESS_TOKENS)
    cx_token_cancel(s->tokens[i], CX_REASON_MANUAL, NULL);
  return NULL;
}

static void stress_fn(cx_watch *w, cx_token *t, void *user_data, void *d) {
  stress *s = d;
  intptr_t i = (intptr_t)user_data;
  (void)t;
  assert_ptr_equal(s->watches[i], w);
  s->delivered[i]++;
}

/* Deliveries of the watches that were not stopped. */
static int live_delivered(const stress *s) {
  int count = 0;
  for (int i = 0; i < STRESS_TOKENS; i++)
    if (s->watches[i] != NULL) count += s->delivered[i];
  return count;
}

static void test_stress_cancel_drain(void **state) {
  stress *s = calloc(1, sizeof *s);
  cx_notifier *n = NULL;
  pthread_t th[STRESS_THREADS];
  int total = 0, stopped = 0;
  (void)state;
  CX_ASSERT_OK(cx_notifier_new(&n));
  for (intptr_t i = 0; i < STRESS_TOKENS; i++) {
    s->tokens[i] = cx_token_new();
    CX_ASSERT_OK(cx_notifier_watch(&s->watches[i], n, s->tokens[i], (void *)i));
  }
  for (int i = 0; i < STRESS_THREADS; i++)
    assert_int_equal(pthread_create(&th[i], NULL, canceller, s), 0);
  /* Stop every tenth watch while the cancels run: it is delivered at most
   * once before the stop and never after. */
  for (int i = 0; i < STRESS_TOKENS; i += 10) {
    cx_watch_stop(s->watches[i]);
    s->watches[i] = NULL;
    stopped++;
    total += cx_notifier_drain(n, stress_fn, s);
  }
  /* The rest arrive through the descriptor: wait on it, then drain. */
  for (double end = cx_test_wall_now() + cx_test_patience(30);
       live_delivered(s) < STRESS_TOKENS - stopped &&
       cx_test_wall_now() < end;) {
    if (readable_within(cx_notifier_fd(n), 1.0))
      total += cx_notifier_drain(n, stress_fn, s);
  }
  assert_int_equal(live_delivered(s), STRESS_TOKENS - stopped);
  for (int i = 0; i < STRESS_THREADS; i++)
    assert_true(cx_test_join_within(th[i], cx_test_patience(30), NULL));
  total += cx_notifier_drain(n, stress_fn, s);
  for (int i = 0; i < STRESS_TOKENS; i++) total -= s->delivered[i];
  assert_int_equal(total, 0); /* the drains counted what they delivered */
  for (int i = 0; i < STRESS_TOKENS; i++) {
    assert_true(s->delivered[i] <= 1);
    if (s->watches[i] != NULL) assert_int_equal(s->delivered[i], 1);
    cx_watch_stop(s->watches[i]);
    cx_token_unref(s->tokens[i]);
  }
  assert_false(readable(cx_notifier_fd(n)));
  cx_notifier_unref(n);
  free(s);
}

/* Stop racing cancel, each on its own thread pair, many times. */
typedef struct race {
  cx_token *token;
  pthread_barrier_t go;
} race;

static void *race_cancel(void *arg) {
  race *r = arg;
  pthread_barrier_wait(&r->go);
  cx_token_cancel(r->token, CX_REASON_MANUAL, NULL);
  return NULL;
}

static void test_stop_races_cancel(void **state) {
  cx_notifier *n = NULL;
  int hits = 0;
  (void)state;
  CX_ASSERT_OK(cx_notifier_new(&n));
  for (int i = 0; i < 2000; i++) {
    race r = {.token = cx_token_new()};
    cx_watch *w = NULL;
    pthread_t th;
    pthread_barrier_init(&r.go, NULL, 2);
    CX_ASSERT_OK(cx_notifier_watch(&w, n, r.token, &hits));
    assert_int_equal(pthread_create(&th, NULL, race_cancel, &r), 0);
    pthread_barrier_wait(&r.go);
    if (i % 2) cx_notifier_drain(n, count_fn, NULL);
    cx_watch_stop(w);
    assert_true(cx_test_join_within(th, cx_test_patience(10), NULL));
    cx_token_unref(r.token);
    pthread_barrier_destroy(&r.go);
  }
  cx_notifier_drain(n, count_fn, NULL);
  assert_true(hits <= 2000);
  cx_notifier_unref(n);
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/notifier/fires-once", test_fires_once),
    CX_TEST("/notifier/cancelled-before-watch", test_cancelled_before_watch),
    CX_TEST("/notifier/stopped-never-delivered", test_stopped_never_delivered),
    CX_TEST("/notifier/stop-from-drain", test_stop_from_drain),
    CX_TEST("/notifier/bad-input", test_bad_input),
    CX_TEST("/notifier/ten-thousand-one-fd", test_ten_thousand_one_fd),
    CX_TEST("/notifier/fd-release", test_fd_release),
    CX_TEST("/notifier/fd-release-while-polled", test_fd_release_while_polled),
    CX_TEST("/notifier/stress-cancel-drain", test_stress_cancel_drain),
    CX_TEST("/notifier/stop-races-cancel", test_stop_races_cancel),
};

CX_TEST_MAIN("notifier", tests)
