/* adapters/glib/tests/test_glib.c - libcancelable-glib on a real
 * GMainContext: a cancel from another thread dispatches the token source
 * quickly (best of several runs under 50 ms), once; a cancelled token's
 * source dispatches on the first iteration; destroy racing cancel 10 000
 * times (TSan, ASan); no spin and no descriptor after the cancel; 10 000
 * op sources with no descriptor; the GCancellable bridge both ways, once,
 * without loops, and untied by its free.  Issue #20 (item 2). */
#include "cx_test.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <cancelable/glib.h>

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  int count = -3; /* ".", ".." and the listing itself */
  assert_non_null(d);
  while (readdir(d) != NULL) count++;
  closedir(d);
  return count;
}

typedef struct fired {
  int count;
  gint64 at; /* g_get_monotonic_time() of the dispatch */
} fired;

static void on_fired(cx_token *token, gpointer data) {
  fired *f = data;
  assert_true(cx_token_is_cancelled(token));
  f->count++;
  f->at = g_get_monotonic_time();
}

/* A token source for @token on @ctx, calling on_fired(@f). */
static GSource *attach(GMainContext *ctx, cx_token *token, fired *f) {
  GSource *s = cx_glib_token_source_new(token);
  assert_non_null(s);
  g_source_set_callback(s, (GSourceFunc)(void (*)(void))on_fired, f, NULL);
  g_source_attach(s, ctx);
  return s;
}

typedef struct late_cancel {
  cx_token *token;
  gint64 at;
} late_cancel;

static void *cancel_later(void *arg) {
  late_cancel *c = arg;
  cx_test_sleep(0.02);
  c->at = g_get_monotonic_time();
  cx_token_cancel(c->token, CX_REASON_MANUAL, "from a thread");
  return NULL;
}

static void test_cancel_from_thread(void **state) {
  GMainContext *ctx = g_main_context_new();
  gint64 best = G_MAXINT64;
  (void)state;
  for (int run = 0; run < 5; run++) {
    late_cancel c = {.token = cx_token_new()};
    fired f = {0};
    GSource *s = attach(ctx, c.token, &f);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, cancel_later, &c), 0);
    while (f.count == 0) g_main_context_iteration(ctx, TRUE);
    assert_true(cx_test_join_within(th, cx_test_patience(10), NULL));
    assert_true(g_source_is_destroyed(s)); /* dispatched once, removed */
    if (f.at - c.at < best) best = f.at - c.at;
    g_source_unref(s);
    cx_token_unref(c.token);
  }
  print_message("best cancel-to-dispatch latency: %.3f ms\n",
                (double)best / 1e3);
  assert_true(best < 50000);
  g_main_context_unref(ctx);
}

static void test_cancelled_before(void **state) {
  GMainContext *ctx = g_main_context_new();
  cx_token *t = cx_token_new();
  fired f = {0};
  GSource *s;
  (void)state;
  cx_token_cancel(t, CX_REASON_MANUAL, NULL);
  s = attach(ctx, t, &f);
  g_main_context_iteration(ctx, FALSE);
  assert_int_equal(f.count, 1);
  g_main_context_iteration(ctx, FALSE);
  assert_int_equal(f.count, 1);
  g_source_unref(s);
  cx_token_unref(t);
  g_main_context_unref(ctx);
}

/* ---- Destroy racing cancel. */
enum { RACES = 10000 };

typedef struct racer {
  cx_token *tokens[RACES];
  _Atomic int ready;
} racer;

static void *race_cancels(void *arg) {
  racer *r = arg;
  for (int i = 0; i < RACES; i++) {
    while (atomic_load(&r->ready) <= i) sched_yield();
    cx_token_cancel(r->tokens[i], CX_REASON_MANUAL, NULL);
  }
  return NULL;
}

static void test_destroy_races_cancel(void **state) {
  GMainContext *ctx = g_main_context_new();
  racer *r = calloc(1, sizeof *r);
  fired f = {0};
  pthread_t th;
  (void)state;
  for (int i = 0; i < RACES; i++) r->tokens[i] = cx_token_new();
  assert_int_equal(pthread_create(&th, NULL, race_cancels, r), 0);
  for (int i = 0; i < RACES; i++) {
    GSource *s = attach(ctx, r->tokens[i], &f);
    atomic_store(&r->ready, i + 1);
    if (i % 3 == 0) sched_yield();
    if (i % 2 == 0) g_main_context_iteration(ctx, FALSE);
    g_source_destroy(s);
    g_source_unref(s);
  }
  assert_true(cx_test_join_within(th, cx_test_patience(60), NULL));
  while (g_main_context_iteration(ctx, FALSE)) continue;
  print_message("dispatched before the destroy: %d of %d\n", f.count, RACES);
  assert_true(f.count <= RACES / 2);
  for (int i = 0; i < RACES; i++) cx_token_unref(r->tokens[i]);
  free(r);
  g_main_context_unref(ctx);
}

/* ---- No spin, no descriptor. */
static gboolean quit_loop(gpointer loop) {
  g_main_loop_quit(loop);
  return G_SOURCE_REMOVE;
}

static void test_no_spin(void **state) {
  GMainContext *ctx = g_main_context_new();
  GMainLoop *loop = g_main_loop_new(ctx, FALSE);
  cx_token *t = cx_token_new();
  fired f = {0};
  GSource *s, *timer;
  int fds = open_fds();
  double cpu;
  (void)state;
  s = attach(ctx, t, &f);
  assert_int_equal(open_fds(), fds); /* a source needs no descriptor */
  cx_token_cancel(t, CX_REASON_MANUAL, NULL);
  timer = g_timeout_source_new(500);
  g_source_set_callback(timer, quit_loop, loop, NULL);
  g_source_attach(timer, ctx);
  cpu = cpu_seconds();
  g_main_loop_run(loop);
  cpu = cpu_seconds() - cpu;
  assert_int_equal(f.count, 1);
  print_message("CPU over 0.5 s of loop after the cancel: %.1f ms\n",
                cpu * 1e3);
  assert_true(cpu < 0.1);
  assert_int_equal(open_fds(), fds);
  g_source_unref(timer);
  g_source_unref(s);
  cx_token_unref(t);
  g_main_loop_unref(loop);
  g_main_context_unref(ctx);
}

/* ---- 10 000 op sources. */
static void test_ten_thousand_ops(void **state) {
  enum { N = 10000 };
  GMainContext *ctx = g_main_context_new();
  cx_op *parent = cx_test_op("parent", NULL, 0);
  cx_op **ops = calloc(N, sizeof *ops);
  GSource **sources = calloc(N, sizeof *sources);
  fired f = {0};
  int fds = open_fds();
  (void)state;
  for (int i = 0; i < N; i++) {
    ops[i] = cx_test_op("conn", parent, 0);
    sources[i] = cx_glib_op_source_new(ops[i]);
    g_source_set_callback(sources[i], (GSourceFunc)(void (*)(void))on_fired, &f,
                          NULL);
    g_source_attach(sources[i], ctx);
  }
  assert_int_equal(open_fds(), fds);
  cx_op_cancel(parent, CX_REASON_MANUAL, "shutting down");
  while (f.count < N) g_main_context_iteration(ctx, TRUE);
  assert_int_equal(f.count, N);
  for (int i = 0; i < N; i++) {
    g_source_unref(sources[i]);
    cx_op_unref(ops[i]);
  }
  cx_op_unref(parent);
  free(ops);
  free(sources);
  g_main_context_unref(ctx);
}

static void test_source_bad_input(void **state) {
  (void)state;
  assert_null(cx_glib_token_source_new(NULL));
  assert_null(cx_glib_op_source_new(NULL));
}

/* ---- The bridge. */
static void count_gc(GCancellable *gc, gpointer data) {
  (void)gc;
  g_atomic_int_inc((gint *)data);
}

static int count_token(cx_token *t, void *data) {
  (void)t;
  g_atomic_int_inc((gint *)data);
  return 0;
}

static void test_bridge_token_to_gc(void **state) {
  cx_token *t = cx_token_new();
  GCancellable *gc = g_cancellable_new();
  cx_glib_bridge *b = NULL;
  gint gc_hits = 0, token_hits = 0;
  (void)state;
  g_cancellable_connect(gc, G_CALLBACK(count_gc), &gc_hits, NULL);
  CX_ASSERT_OK(cx_token_on_cancel(t, count_token, &token_hits, NULL, 0, NULL));
  CX_ASSERT_OK(cx_glib_bridge_new(t, gc, &b));
  assert_true(cx_token_cancel(t, CX_REASON_TIMEOUT, "late"));
  assert_true(g_cancellable_is_cancelled(gc));
  assert_int_equal(gc_hits, 1);
  assert_int_equal(token_hits, 1);
  assert_int_equal(cx_token_cancel_reason(t),
                   CX_REASON_TIMEOUT); /* unchanged */
  cx_glib_bridge_free(b);
  g_object_unref(gc);
  cx_token_unref(t);
}

static void test_bridge_gc_to_token(void **state) {
  cx_token *t = cx_token_new();
  GCancellable *gc = g_cancellable_new();
  cx_glib_bridge *b = NULL;
  gint gc_hits = 0, token_hits = 0;
  (void)state;
  g_cancellable_connect(gc, G_CALLBACK(count_gc), &gc_hits, NULL);
  CX_ASSERT_OK(cx_token_on_cancel(t, count_token, &token_hits, NULL, 0, NULL));
  CX_ASSERT_OK(cx_glib_bridge_new(t, gc, &b));
  g_cancellable_cancel(gc);
  assert_true(cx_token_is_cancelled(t));
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_MANUAL);
  assert_string_equal(cx_token_cancel_message(t), "GCancellable cancelled");
  assert_int_equal(gc_hits, 1);
  assert_int_equal(token_hits, 1);
  cx_glib_bridge_free(b);
  g_object_unref(gc);
  cx_token_unref(t);
}

static void test_bridge_already_cancelled(void **state) {
  cx_token *t = cx_token_new(), *u = cx_token_new();
  GCancellable *gc = g_cancellable_new(), *gd = g_cancellable_new();
  cx_glib_bridge *b = NULL, *c = NULL;
  (void)state;
  cx_token_cancel(t, CX_REASON_MANUAL, NULL);
  CX_ASSERT_OK(cx_glib_bridge_new(t, gc, &b));
  assert_true(g_cancellable_is_cancelled(gc));
  g_cancellable_cancel(gd);
  CX_ASSERT_OK(cx_glib_bridge_new(u, gd, &c));
  assert_true(cx_token_is_cancelled(u));
  cx_glib_bridge_free(b);
  cx_glib_bridge_free(c);
  g_object_unref(gc);
  g_object_unref(gd);
  cx_token_unref(t);
  cx_token_unref(u);
}

static void test_bridge_free_unties(void **state) {
  cx_token *t = cx_token_new();
  GCancellable *gc = g_cancellable_new();
  cx_glib_bridge *b = (cx_glib_bridge *)&t;
  (void)state;
  CX_ASSERT_ERR(-EINVAL, cx_glib_bridge_new(NULL, gc, &b));
  assert_null(b);
  CX_ASSERT_ERR(-EINVAL, cx_glib_bridge_new(t, NULL, &b));
  CX_ASSERT_ERR(-EINVAL, cx_glib_bridge_new(t, gc, NULL));
  cx_glib_bridge_free(NULL);
  CX_ASSERT_OK(cx_glib_bridge_new(t, gc, &b));
  cx_glib_bridge_free(b);
  g_cancellable_cancel(gc);
  assert_false(cx_token_is_cancelled(t));
  g_object_unref(gc);
  gc = g_cancellable_new();
  CX_ASSERT_OK(cx_glib_bridge_new(t, gc, &b));
  cx_glib_bridge_free(b);
  cx_token_cancel(t, CX_REASON_MANUAL, NULL);
  assert_false(g_cancellable_is_cancelled(gc));
  g_object_unref(gc);
  cx_token_unref(t);
}

/* Both sides cancelled at once from two threads: each fires once. */
typedef struct both {
  cx_token *t;
  GCancellable *gc;
  pthread_barrier_t go;
} both;

static void *cancel_gc(void *arg) {
  both *x = arg;
  pthread_barrier_wait(&x->go);
  g_cancellable_cancel(x->gc);
  return NULL;
}

static void test_bridge_race(void **state) {
  (void)state;
  for (int i = 0; i < 500; i++) {
    both x = {.t = cx_token_new(), .gc = g_cancellable_new()};
    cx_glib_bridge *b = NULL;
    gint gc_hits = 0, token_hits = 0;
    pthread_t th;
    pthread_barrier_init(&x.go, NULL, 2);
    g_cancellable_connect(x.gc, G_CALLBACK(count_gc), &gc_hits, NULL);
    CX_ASSERT_OK(
        cx_token_on_cancel(x.t, count_token, &token_hits, NULL, 0, NULL));
    CX_ASSERT_OK(cx_glib_bridge_new(x.t, x.gc, &b));
    assert_int_equal(pthread_create(&th, NULL, cancel_gc, &x), 0);
    pthread_barrier_wait(&x.go);
    cx_token_cancel(x.t, CX_REASON_MANUAL, NULL);
    assert_true(cx_test_join_within(th, cx_test_patience(10), NULL));
    assert_int_equal(g_atomic_int_get(&gc_hits), 1);
    assert_int_equal(g_atomic_int_get(&token_hits), 1);
    cx_glib_bridge_free(b);
    pthread_barrier_destroy(&x.go);
    g_object_unref(x.gc);
    cx_token_unref(x.t);
  }
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/glib/source/cancel-from-thread", test_cancel_from_thread),
    CX_TEST("/glib/source/cancelled-before", test_cancelled_before),
    CX_TEST("/glib/source/destroy-races-cancel", test_destroy_races_cancel),
    CX_TEST("/glib/source/no-spin", test_no_spin),
    CX_TEST("/glib/source/ten-thousand-ops", test_ten_thousand_ops),
    CX_TEST("/glib/source/bad-input", test_source_bad_input),
    CX_TEST("/glib/bridge/token-to-gcancellable", test_bridge_token_to_gc),
    CX_TEST("/glib/bridge/gcancellable-to-token", test_bridge_gc_to_token),
    CX_TEST("/glib/bridge/already-cancelled", test_bridge_already_cancelled),
    CX_TEST("/glib/bridge/free-unties", test_bridge_free_unties),
    CX_TEST("/glib/bridge/race", test_bridge_race),
};

CX_TEST_MAIN("glib", tests)
