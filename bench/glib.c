/* bench/glib.c - the benchmark scenarios of SCENARIOS.md for GLib's
 * GCancellable (peer `glib`).  Usage: bench_glib SCENARIO (S1..S10,
 * S9_1cpu, S5probe DEPTH).  BENCH_SCALE=N sets the size of S4, S5, S7
 * and S8 (bench/plots.sh's sweep).
 *
 * Mapping (SCENARIOS.md §3):
 *   token / destroy        g_cancellable_new() / g_object_unref()
 *   is cancelled?          g_cancellable_is_cancelled(c)
 *   cancel                 g_cancellable_cancel(c)
 *   child of P             c = g_cancellable_new();
 *                          id = g_cancellable_connect(P, forward, c, NULL)
 *                          (forward calls g_cancellable_cancel(c))
 *   destroy child          g_cancellable_disconnect(P, id); g_object_unref(c)
 *   register / unregister  g_cancellable_connect / g_cancellable_disconnect
 *   timeout scope          g_cancellable_new() + g_timeout_source_new(ms)
 *                          whose callback cancels it, attached to a
 *                          GMainContext run by a dedicated timer thread
 *                          (GMainLoop); destroy = g_source_destroy +
 *                          g_source_unref + g_object_unref
 *   blocking wait          poll() on g_cancellable_get_fd(c)
 */
#define _GNU_SOURCE
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gio/gio.h>

#include "harness.h"

#define CHECK(expr)                                                  \
  do {                                                               \
    if (!(expr)) bench_fail("%s:%d: %s", __FILE__, __LINE__, #expr); \
  } while (0)

/* A child's link: the parent's "cancelled" handler cancels the child. */
static void forward(GCancellable *parent, gpointer child) {
  (void)parent;
  g_cancellable_cancel(G_CANCELLABLE(child));
}

static void incr(GCancellable *c, gpointer counter) {
  (void)c;
  (*(long *)counter)++;
}

/* ---- S1 check_not_cancelled */

static void s1_batch(uint64_t n, void *ctx) {
  GCancellable *c = ctx;
  uint64_t hits = 0;
  for (uint64_t i = 0; i < n; i++) {
    if (g_cancellable_is_cancelled(c)) hits++;
    BENCH_BARRIER();
  }
  if (hits != 0) bench_fail("S1: hits == %llu", (unsigned long long)hits);
}

static void s1(void) {
  GCancellable *c = g_cancellable_new();
  bench_print("S1", bench_micro("S1", s1_batch, c), "ns/op");
  g_object_unref(c);
}

/* ---- S2 token_create_destroy */

static void s2_batch(uint64_t n, void *ctx) {
  (void)ctx;
  for (uint64_t i = 0; i < n; i++) {
    GCancellable *p = g_cancellable_new();
    BENCH_ESCAPE(p);
    g_object_unref(p);
  }
}

static void s2(void) {
  bench_print("S2", bench_micro("S2", s2_batch, NULL), "ns/op");
}

/* ---- S3 child_create_destroy */

static void s3_batch(uint64_t n, void *ctx) {
  GCancellable *parent = ctx;
  for (uint64_t i = 0; i < n; i++) {
    GCancellable *c = g_cancellable_new();
    gulong id = g_cancellable_connect(parent, G_CALLBACK(forward), c, NULL);
    g_cancellable_disconnect(parent, id);
    g_object_unref(c);
  }
}

static void s3(void) {
  GCancellable *parent = g_cancellable_new();
  bench_print("S3", bench_micro("S3", s3_batch, parent), "ns/op");
  CHECK(!g_cancellable_is_cancelled(parent));
  g_object_unref(parent);
}

/* ---- S4 cascade_cancel_wide */

enum { S4_N = 100000 };

typedef struct s4_ctx {
  int n; /* S4_N unless BENCH_SCALE */
  GCancellable *parent;
  GCancellable **kids;
  gulong *ids;
} s4_ctx;

static void s4_setup(void *p) {
  s4_ctx *c = p;
  c->parent = g_cancellable_new();
  for (int i = 0; i < c->n; i++) {
    c->kids[i] = g_cancellable_new();
    c->ids[i] =
        g_cancellable_connect(c->parent, G_CALLBACK(forward), c->kids[i], NULL);
    CHECK(c->ids[i] != 0);
  }
}

static void s4_timed(void *p) {
  s4_ctx *c = p;
  g_cancellable_cancel(c->parent);
  for (int i = 0; i < c->n; i++)
    if (!g_cancellable_is_cancelled(c->kids[i]))
      bench_fail("S4: child %d live", i);
}

static void s4_teardown(void *p) {
  s4_ctx *c = p;
  for (int i = 0; i < c->n; i++) {
    g_cancellable_disconnect(c->parent, c->ids[i]);
    g_object_unref(c->kids[i]);
  }
  g_object_unref(c->parent);
}

static void s4(void) {
  int n = bench_scale(S4_N);
  s4_ctx c = {n, NULL, calloc((size_t)n, sizeof(GCancellable *)),
              calloc((size_t)n, sizeof(gulong))};
  double ns;
  CHECK(c.kids != NULL && c.ids != NULL);
  ns = bench_rounds("S4", s4_setup, s4_timed, s4_teardown, &c);
  bench_print("S4.total", ns / 1e6, "ms");
  bench_print("S4.per_child", ns / n, "ns/child");
  free(c.kids);
  free(c.ids);
}

/* ---- S5 cascade_cancel_deep */

enum { S5_D = 10000 };

typedef struct s5_ctx {
  int depth;
  GCancellable **chain; /* chain[0] is the root, chain[depth] the leaf */
  gulong *ids;          /* ids[i]: the link of chain[i] on chain[i-1] */
} s5_ctx;

static void s5_setup(void *p) {
  s5_ctx *c = p;
  c->chain[0] = g_cancellable_new();
  for (int i = 1; i <= c->depth; i++) {
    c->chain[i] = g_cancellable_new();
    c->ids[i] = g_cancellable_connect(c->chain[i - 1], G_CALLBACK(forward),
                                      c->chain[i], NULL);
  }
}

static void s5_timed(void *p) {
  s5_ctx *c = p;
  g_cancellable_cancel(c->chain[0]);
  if (!g_cancellable_is_cancelled(c->chain[c->depth]))
    bench_fail("S5: leaf live");
}

static void s5_teardown(void *p) {
  s5_ctx *c = p;
  for (int i = c->depth; i >= 1; i--) {
    g_cancellable_disconnect(c->chain[i - 1], c->ids[i]);
    g_object_unref(c->chain[i]);
  }
  g_object_unref(c->chain[0]);
}

static uintptr_t leaf_local;

static void s5_leaf_cb(GCancellable *c, gpointer data) {
  volatile char local = 0;
  (void)c;
  (void)data;
  leaf_local = (uintptr_t)&local;
}

static __attribute__((noinline)) void s5_stack_probe(s5_ctx *c) {
  volatile char local = 0;
  long diff;
  double per;
  s5_setup(c);
  g_cancellable_connect(c->chain[c->depth], G_CALLBACK(s5_leaf_cb), NULL, NULL);
  g_cancellable_cancel(c->chain[0]);
  s5_teardown(c);
  diff = (long)((uintptr_t)&local - leaf_local);
  per = (double)diff / c->depth;
  if (per < 1.0)
    bench_print_na("S5.stack_per_level", "bytes",
                   "propagation is not recursive on the caller's stack");
  else
    bench_print("S5.stack_per_level", per, "bytes");
  bench_remark(
      "S5 stack: canceller local - leaf callback local = %ld bytes "
      "over %d levels",
      diff, c->depth);
}

static s5_ctx s5_new(int depth) {
  s5_ctx c = {depth, calloc((size_t)depth + 1, sizeof(GCancellable *)),
              calloc((size_t)depth + 1, sizeof(gulong))};
  return c;
}

static void s5(void) {
  s5_ctx c = s5_new(bench_scale(S5_D));
  double ns = bench_rounds("S5", s5_setup, s5_timed, s5_teardown, &c);
  bench_print("S5.total", ns / 1e6, "ms");
  bench_print("S5.per_level", ns / c.depth, "ns/level");
  s5_stack_probe(&c);
}

static int s5probe(int depth) {
  s5_ctx c = s5_new(depth);
  s5_setup(&c);
  s5_timed(&c);
  s5_teardown(&c);
  bench_remark("S5probe %d ok", depth);
  return 0;
}

/* ---- S6 callback_register_unregister */

typedef struct s6_ctx {
  GCancellable *c;
  long counter;
} s6_ctx;

static void s6_batch(uint64_t n, void *ctx) {
  s6_ctx *c = ctx;
  for (uint64_t i = 0; i < n; i++) {
    gulong id =
        g_cancellable_connect(c->c, G_CALLBACK(incr), &c->counter, NULL);
    g_cancellable_disconnect(c->c, id);
  }
}

static void s6(void) {
  s6_ctx c = {g_cancellable_new(), 0};
  bench_print("S6", bench_micro("S6", s6_batch, &c), "ns/op");
  if (c.counter != 0) bench_fail("S6: counter == %ld", c.counter);
  g_object_unref(c.c);
}

/* ---- S7 cancel_with_callbacks */

enum { S7_CALLBACKS = 1000 };

typedef struct s7_ctx {
  int n; /* S7_CALLBACKS unless BENCH_SCALE */
  GCancellable *c;
  gulong *ids;
  long counter;
} s7_ctx;

static void s7_setup(void *p) {
  s7_ctx *c = p;
  c->c = g_cancellable_new();
  c->counter = 0;
  for (int i = 0; i < c->n; i++)
    c->ids[i] =
        g_cancellable_connect(c->c, G_CALLBACK(incr), &c->counter, NULL);
}

static void s7_timed(void *p) { g_cancellable_cancel(((s7_ctx *)p)->c); }

static void s7_teardown(void *p) {
  s7_ctx *c = p;
  if (c->counter != c->n) bench_fail("S7: counter == %ld", c->counter);
  for (int i = 0; i < c->n; i++) g_cancellable_disconnect(c->c, c->ids[i]);
  g_object_unref(c->c);
}

static void s7(void) {
  s7_ctx c = {bench_scale(S7_CALLBACKS), NULL, NULL, 0};
  double ns;
  c.ids = calloc((size_t)c.n, sizeof *c.ids);
  CHECK(c.ids != NULL);
  ns = bench_rounds("S7", s7_setup, s7_timed, s7_teardown, &c);
  bench_print("S7.total", ns / 1e3, "us");
  bench_print("S7.per_callback", ns / c.n, "ns/callback");
  free(c.ids);
}

/* ---- the timer thread (S8, S10): a GMainLoop on its own GMainContext */

static GMainContext *timer_ctx;
static GMainLoop *timer_loop;
static GThread *timer_thread;

static gpointer timer_main(gpointer data) {
  (void)data;
  g_main_context_push_thread_default(timer_ctx);
  g_main_loop_run(timer_loop);
  g_main_context_pop_thread_default(timer_ctx);
  return NULL;
}

static void loop_create(void) {
  timer_ctx = g_main_context_new();
  timer_loop = g_main_loop_new(timer_ctx, FALSE);
}

static void loop_start(void) {
  timer_thread = g_thread_new("timer", timer_main, NULL);
  while (!g_main_loop_is_running(timer_loop)) g_usleep(100);
}

static gboolean quit_cb(gpointer data) {
  (void)data;
  g_main_loop_quit(timer_loop);
  return G_SOURCE_REMOVE;
}

static void loop_stop(void) {
  g_main_context_invoke(timer_ctx, quit_cb, NULL);
  g_thread_join(timer_thread);
}

typedef struct scope {
  GCancellable *c;
  GSource *src;
} scope;

static gboolean timeout_cancel(gpointer c) {
  g_cancellable_cancel(G_CANCELLABLE(c));
  return G_SOURCE_REMOVE;
}

static void scope_open(scope *s, guint ms) {
  s->c = g_cancellable_new();
  s->src = g_timeout_source_new(ms);
  g_source_set_callback(s->src, timeout_cancel, s->c, NULL);
  g_source_attach(s->src, timer_ctx);
}

static void scope_close(scope *s) {
  g_source_destroy(s->src);
  g_source_unref(s->src);
  g_object_unref(s->c);
}

/* ---- S8 timeout_scope_not_fired */

enum { S8_BACKGROUND = 100000 };

static void s8_batch(uint64_t n, void *ctx) {
  (void)ctx;
  for (uint64_t i = 0; i < n; i++) {
    scope s;
    scope_open(&s, 60000);
    scope_close(&s);
  }
}

/* S8.op_in_loop: the same micro-benchmark, run inside a callback that the
 * timer thread dispatches (it owns the context, so attach does not wake
 * the loop). */
static GMutex in_loop_mu;
static GCond in_loop_cond;
static double in_loop_result;
static gboolean in_loop_done;

static gboolean in_loop_cb(gpointer data) {
  double r;
  (void)data;
  r = bench_micro("S8.op_in_loop", s8_batch, NULL);
  g_mutex_lock(&in_loop_mu);
  in_loop_result = r;
  in_loop_done = TRUE;
  g_cond_signal(&in_loop_cond);
  g_mutex_unlock(&in_loop_mu);
  return G_SOURCE_REMOVE;
}

static void s8(void) {
  long base = bench_status_kib("VmRSS");
  int n = bench_scale(S8_BACKGROUND);
  scope *bg = malloc((size_t)n * sizeof *bg);
  long peak;
  CHECK(bg != NULL);
  loop_create();
  /* Attached before the timer thread runs its loop: attaching to a loop
   * that runs would wake it every time (quadratic arming). */
  for (int i = 0; i < n; i++) scope_open(&bg[i], 60000);
  loop_start();
  bench_print("S8.op", bench_micro("S8", s8_batch, NULL), "ns/op");
  peak = bench_status_kib("VmHWM");
  for (int i = 0; i < n; i++)
    if (g_cancellable_is_cancelled(bg[i].c))
      bench_fail("S8: scope %d fired", i);
  bench_print("S8.peak_rss", peak / 1024.0, "MiB");
  bench_print("S8.base_rss", base / 1024.0, "MiB");
  bench_print("S8.bytes_per_timeout", (peak - base) * 1024.0 / n, "bytes");
  g_main_context_invoke(timer_ctx, in_loop_cb, NULL);
  g_mutex_lock(&in_loop_mu);
  while (!in_loop_done) g_cond_wait(&in_loop_cond, &in_loop_mu);
  g_mutex_unlock(&in_loop_mu);
  bench_print("S8.op_in_loop", in_loop_result, "ns/op");
  /* Stop the loop before destroying the 100 000 sources: destroying them
   * under a running loop would wake it for each one. */
  loop_stop();
  for (int i = 0; i < n; i++) scope_close(&bg[i]);
  free(bg);
}

/* ---- S9 wake_latency */

static void *s9_create(void) { return g_cancellable_new(); }

static void s9_prepare(void *c) { CHECK(g_cancellable_get_fd(c) >= 0); }

static void s9_wait(void *c) {
  struct pollfd p = {g_cancellable_get_fd(c), POLLIN, 0};
  while (poll(&p, 1, -1) != 1) {
  }
}

static void s9_cancel(void *c) { g_cancellable_cancel(c); }
static void s9_destroy(void *c) { g_object_unref(c); }

static void s9(int one_cpu) {
  static const bench_s9_ops ops = {s9_create, s9_prepare, s9_wait, s9_cancel,
                                   s9_destroy};
  bench_s9_run(&ops, one_cpu);
}

/* ---- S10 timer_accuracy */

static int64_t s10_fired[BENCH_S10_SCOPES];
static _Atomic int s10_count;

static void s10_record(GCancellable *c, gpointer data) {
  int i = (int)(intptr_t)data;
  (void)c;
  s10_fired[i] = bench_now_ns();
  atomic_fetch_add(&s10_count, 1);
}

static void s10(void) {
  int perm[BENCH_S10_SCOPES];
  double stats[BENCH_S10_ROUNDS][4];
  int rounds =
      bench_reps() < BENCH_S10_ROUNDS ? bench_reps() : BENCH_S10_ROUNDS;
  bench_s10_permutation(perm, BENCH_S10_SCOPES);
  loop_create();
  loop_start();
  for (int r = 0; r < rounds; r++) {
    scope scopes[BENCH_S10_SCOPES];
    double deadline_ns[BENCH_S10_SCOPES], late[BENCH_S10_SCOPES];
    int64_t give_up = bench_now_ns() + 5 * INT64_C(1000000000);
    atomic_store(&s10_count, 0);
    for (int k = 0; k < BENCH_S10_SCOPES; k++) {
      int i = perm[k];
      scope *s = &scopes[i];
      s->c = g_cancellable_new();
      g_cancellable_connect(s->c, G_CALLBACK(s10_record), (gpointer)(intptr_t)i,
                            NULL);
      s->src = g_timeout_source_new((guint)bench_s10_timeout_ms(i));
      g_source_set_callback(s->src, timeout_cancel, s->c, NULL);
      /* g_get_monotonic_time() is CLOCK_MONOTONIC in microseconds. */
      deadline_ns[i] = (double)g_source_get_ready_time(s->src) * 1e3;
      g_source_attach(s->src, timer_ctx);
    }
    while (atomic_load(&s10_count) < BENCH_S10_SCOPES) {
      struct timespec ts = {0, 1000000};
      if (bench_now_ns() > give_up) bench_fail("S10: timers did not fire");
      nanosleep(&ts, NULL);
    }
    for (int i = 0; i < BENCH_S10_SCOPES; i++) {
      late[i] = (double)s10_fired[i] - deadline_ns[i];
      scope_close(&scopes[i]);
    }
    bench_s10_round_stats(late, BENCH_S10_SCOPES, stats[r]);
  }
  bench_s10_report(stats, rounds);
  loop_stop();
}

static void s9_settled(void) { s9(0); }
static void s9_one_cpu(void) { s9(1); }

static const bench_scenario scenarios[] = {BENCH_STANDARD_SCENARIOS,
                                           {NULL, NULL}};

int main(int argc, char **argv) {
  return bench_main("glib", argc, argv, scenarios, s5probe);
}
