/* bench/ours.c - the benchmark scenarios of SCENARIOS.md for libcancelable
 * (peer name `ours`).  Usage: bench_ours SCENARIO (S1..S10, S9_1cpu,
 * S5probe DEPTH, X1..X8; X7 and X8 are in ours_scale.c).  BENCH_SCALE=N
 * sets the size of S4, S5, S7, S8 and X3 (bench/plots.sh's sweep).
 *
 * Mapping (SCENARIOS.md §3):
 *   token / destroy        cx_token_new() / cx_token_unref()
 *   is cancelled?          cx_token_is_cancelled()
 *   cancel                 cx_token_cancel(t, CX_REASON_MANUAL, NULL)
 *   child of P             cx_token_new_child(&child, P, 0) (Go's
 *                          WithCancel(P); the same as cx_token_new() +
 *                          cx_token_link(child, P, 0), one atomic
 *                          operation fewer: the new token is not shared
 *                          yet.  The tree before 2026-11-30 used the
 *                          two calls)
 *   destroy child          cx_token_unref(child) (frees the link)
 *   register / unregister  cx_token_on_cancel(.., &handle) /
 *                          cx_callback_unregister(handle)
 *   timeout scope          cx_token_with_timeout(&t, 60.0) (a token and its
 *                          timer in one block, on the library's timer
 *                          thread); destroy = cx_token_unref(t)
 *   blocking wait          cx_token_wait(t, CX_FOREVER)
 *
 * Our own scenarios (same line format):
 *   X1  X1.progress_nocb ns/op: cx_report_progress(op, "step", NULL) with no
 *       progress callback registered anywhere in the process.
 *   X2  X2.progress_cb3 ns/op: the same report from an op whose
 *       great-grandparent (three ancestors up) has one progress callback.
 *   X3  X3.registry ns/op: an op that registers (cx_op_options.register_op):
 *       create + enter (registers) + exit (unregisters, enters the history)
 *       + unref, with 100 000 registered live ops.  Supplementary
 *       X3.registry_delta ns/op: X3 minus the same op without registration
 *       (X4's body), measured in the same process before the 100 000 live
 *       ops exist: the registry's own share.
 *   X4  X4.op_enter_exit ns/op: create an op with no source, enter, exit,
 *       unref (an op can be entered only once, so creation is included).
 *   X5  X5.op_timeout_enter_exit ns/op: the same with a 60 s timeout (the
 *       operation form of S8.op, without the background scopes).
 *   X6  X6.progress_async ns/op: cx_report_progress(op, "step", m), m
 *       holding "current" (set before each report) and "total", from an op
 *       with one async progress callback that sleeps 50 ms per call (it
 *       stays behind: the reports coalesce).  Supplementary
 *       X6.progress_sync_nop ns/op: the same report to a synchronous
 *       callback that returns at once (the copy's share is the gap).
 *   S8.op_scope ns/op (supplementary, in the S8 process): the operation
 *       form, cx_op_with_timeout + cx_op_enter + cx_op_exit + cx_op_unref,
 *       measured after S8.op with the 100 000 timed tokens still armed.
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cancelable.h>

#include "harness.h"
#include "ours_scale.h"

#define CHECK(expr)                                                  \
  do {                                                               \
    if (!(expr)) bench_fail("%s:%d: %s", __FILE__, __LINE__, #expr); \
  } while (0)

static void cancel(cx_token *t) {
  CHECK(cx_token_cancel(t, CX_REASON_MANUAL, NULL));
}

/* ---- S1 check_not_cancelled */

static void s1_batch(uint64_t n, void *ctx) {
  cx_token *tok = ctx;
  uint64_t hits = 0;
  for (uint64_t i = 0; i < n; i++) {
    if (cx_token_is_cancelled(tok)) hits++;
    BENCH_BARRIER();
  }
  if (hits != 0) bench_fail("S1: hits == %llu", (unsigned long long)hits);
}

static void s1(void) {
  cx_token *tok = cx_token_new();
  CHECK(tok != NULL);
  bench_print("S1", bench_micro("S1", s1_batch, tok), "ns/op");
  cx_token_unref(tok);
}

/* ---- S2 token_create_destroy */

static void s2_batch(uint64_t n, void *ctx) {
  (void)ctx;
  for (uint64_t i = 0; i < n; i++) {
    cx_token *p = cx_token_new();
    BENCH_ESCAPE(p);
    cx_token_unref(p);
  }
}

static void s2(void) {
  bench_print("S2", bench_micro("S2", s2_batch, NULL), "ns/op");
}

/* ---- S3 child_create_destroy */

static void s3_batch(uint64_t n, void *ctx) {
  cx_token *parent = ctx;
  for (uint64_t i = 0; i < n; i++) {
    cx_token *c;
    cx_token_new_child(&c, parent, 0);
    cx_token_unref(c);
  }
}

static void s3(void) {
  cx_token *parent = cx_token_new();
  bench_print("S3", bench_micro("S3", s3_batch, parent), "ns/op");
  CHECK(!cx_token_is_cancelled(parent));
  cx_token_unref(parent);
}

/* ---- S4 cascade_cancel_wide */

enum { S4_N = 100000 };

typedef struct s4_ctx {
  int n; /* S4_N unless BENCH_SCALE */
  cx_token *parent;
  cx_token **kids;
} s4_ctx;

static void s4_setup(void *p) {
  s4_ctx *c = p;
  c->parent = cx_token_new();
  CHECK(c->parent != NULL);
  for (int i = 0; i < c->n; i++) {
    CHECK(cx_token_new_child(&c->kids[i], c->parent, 0) == 0);
  }
}

static void s4_timed(void *p) {
  s4_ctx *c = p;
  cancel(c->parent);
  for (int i = 0; i < c->n; i++)
    if (!cx_token_is_cancelled(c->kids[i])) bench_fail("S4: child %d live", i);
}

static void s4_teardown(void *p) {
  s4_ctx *c = p;
  for (int i = 0; i < c->n; i++) cx_token_unref(c->kids[i]);
  cx_token_unref(c->parent);
}

static void s4(void) {
  int n = bench_scale(S4_N);
  s4_ctx c = {n, NULL, calloc((size_t)n, sizeof(cx_token *))};
  double ns;
  CHECK(c.kids != NULL);
  ns = bench_rounds("S4", s4_setup, s4_timed, s4_teardown, &c);
  bench_print("S4.total", ns / 1e6, "ms");
  bench_print("S4.per_child", ns / n, "ns/child");
  free(c.kids);
}

/* ---- S5 cascade_cancel_deep */

enum { S5_D = 10000 };

typedef struct s5_ctx {
  int depth;
  cx_token **chain; /* chain[0] is the root, chain[depth] the leaf */
} s5_ctx;

static void s5_setup(void *p) {
  s5_ctx *c = p;
  c->chain[0] = cx_token_new();
  CHECK(c->chain[0] != NULL);
  for (int i = 1; i <= c->depth; i++) {
    CHECK(cx_token_new_child(&c->chain[i], c->chain[i - 1], 0) == 0);
  }
}

static void s5_timed(void *p) {
  s5_ctx *c = p;
  cancel(c->chain[0]);
  if (!cx_token_is_cancelled(c->chain[c->depth])) bench_fail("S5: leaf live");
}

static void s5_teardown(void *p) {
  s5_ctx *c = p;
  for (int i = c->depth; i >= 0; i--) cx_token_unref(c->chain[i]);
}

static uintptr_t leaf_local;

static int s5_leaf_cb(cx_token *t, void *data) {
  volatile char local = 0;
  (void)t;
  (void)data;
  leaf_local = (uintptr_t)&local;
  return 0;
}

/* Stack consumed per level: (local of the canceller - local of a callback
 * on the leaf) / D, in an extra untimed round. */
static __attribute__((noinline)) void s5_stack_probe(s5_ctx *c) {
  volatile char local = 0;
  s5_setup(c);
  CHECK(cx_token_on_cancel(c->chain[c->depth], s5_leaf_cb, NULL, NULL, 0,
                           NULL) == 0);
  cancel(c->chain[0]);
  s5_teardown(c);
  {
    double per =
        ((double)(intptr_t)((uintptr_t)&local - leaf_local)) / c->depth;
    if (per < 1.0)
      bench_print_na("S5.stack_per_level", "bytes",
                     "propagation is not recursive on the caller's stack");
    else
      bench_print("S5.stack_per_level", per, "bytes");
    bench_remark(
        "S5 stack: canceller local - leaf callback local = %ld "
        "bytes over %d levels",
        (long)((uintptr_t)&local - leaf_local), c->depth);
  }
}

static void s5(void) {
  int d = bench_scale(S5_D);
  s5_ctx c = {d, calloc((size_t)d + 1, sizeof(cx_token *))};
  double ns;
  CHECK(c.chain != NULL);
  ns = bench_rounds("S5", s5_setup, s5_timed, s5_teardown, &c);
  bench_print("S5.total", ns / 1e6, "ms");
  bench_print("S5.per_level", ns / d, "ns/level");
  s5_stack_probe(&c);
  free(c.chain);
}

static int s5probe(int depth) {
  s5_ctx c = {depth, calloc((size_t)depth + 1, sizeof(cx_token *))};
  s5_setup(&c);
  s5_timed(&c);
  s5_teardown(&c);
  free(c.chain);
  bench_remark("S5probe %d ok", depth);
  return 0;
}

/* ---- S6 callback_register_unregister */

static int incr(cx_token *t, void *data) {
  (void)t;
  (*(long *)data)++;
  return 0;
}

typedef struct s6_ctx {
  cx_token *tok;
  long counter;
} s6_ctx;

static void s6_batch(uint64_t n, void *ctx) {
  s6_ctx *c = ctx;
  for (uint64_t i = 0; i < n; i++) {
    cx_callback *cb;
    cx_token_on_cancel(c->tok, incr, &c->counter, NULL, 0, &cb);
    cx_callback_unregister(cb);
  }
}

static void s6(void) {
  s6_ctx c = {cx_token_new(), 0};
  bench_print("S6", bench_micro("S6", s6_batch, &c), "ns/op");
  if (c.counter != 0) bench_fail("S6: counter == %ld", c.counter);
  cx_token_unref(c.tok);
}

/* ---- S7 cancel_with_callbacks */

enum { S7_CALLBACKS = 1000 };

typedef struct s7_ctx {
  int n; /* S7_CALLBACKS unless BENCH_SCALE */
  cx_token *tok;
  cx_callback **cbs;
  long counter;
} s7_ctx;

static void s7_setup(void *p) {
  s7_ctx *c = p;
  c->tok = cx_token_new();
  c->counter = 0;
  /* With handles, as C++ stop_callback objects and GLib handler ids: the
   * caller owns each registration and removes it in the teardown. */
  for (int i = 0; i < c->n; i++)
    CHECK(cx_token_on_cancel(c->tok, incr, &c->counter, NULL, 0, &c->cbs[i]) ==
          0);
}

static void s7_timed(void *p) {
  s7_ctx *c = p;
  cancel(c->tok);
}

static void s7_teardown(void *p) {
  s7_ctx *c = p;
  if (c->counter != c->n) bench_fail("S7: counter == %ld", c->counter);
  for (int i = 0; i < c->n; i++) cx_callback_unregister(c->cbs[i]);
  cx_token_unref(c->tok);
}

static void s7(void) {
  s7_ctx c = {bench_scale(S7_CALLBACKS), NULL, NULL, 0};
  double ns;
  c.cbs = calloc((size_t)c.n, sizeof *c.cbs);
  CHECK(c.cbs != NULL);
  ns = bench_rounds("S7", s7_setup, s7_timed, s7_teardown, &c);
  bench_print("S7.total", ns / 1e3, "us");
  bench_print("S7.per_callback", ns / c.n, "ns/callback");
  free(c.cbs);
}

/* ---- S8 timeout_scope_not_fired */

enum { S8_BACKGROUND = 100000 };

static void scope_open(cx_op **op, double seconds) {
  CHECK(cx_op_with_timeout(op, NULL, seconds, NULL) == 0);
  CHECK(cx_op_enter(*op) == 0);
}

static void scope_close(cx_op *op, int result) {
  CHECK(cx_op_exit(op, result) == 0);
  cx_op_unref(op);
}

static void s8_batch(uint64_t n, void *ctx) {
  (void)ctx;
  for (uint64_t i = 0; i < n; i++) {
    cx_token *t;
    if (cx_token_with_timeout(&t, 60.0) != 0) bench_fail("S8: no scope");
    cx_token_unref(t);
  }
}

static void s8_op_batch(uint64_t n, void *ctx) {
  (void)ctx;
  for (uint64_t i = 0; i < n; i++) {
    cx_op *op;
    cx_op_with_timeout(&op, NULL, 60.0, NULL);
    cx_op_enter(op);
    cx_op_exit(op, 0);
    cx_op_unref(op);
  }
}

static void s8(void) {
  long base = bench_status_kib("VmRSS");
  int n = bench_scale(S8_BACKGROUND);
  cx_token **bg = malloc((size_t)n * sizeof *bg);
  cx_token *starter;
  long peak;
  CHECK(bg != NULL);
  /* Start the timer machinery (its thread starts at the first arm). */
  CHECK(cx_token_with_timeout(&starter, 60.0) == 0);
  cx_token_unref(starter);
  for (int i = 0; i < n; i++) CHECK(cx_token_with_timeout(&bg[i], 60.0) == 0);
  bench_print("S8.op", bench_micro("S8", s8_batch, NULL), "ns/op");
  peak = bench_status_kib("VmHWM");
  for (int i = 0; i < n; i++)
    if (cx_token_is_cancelled(bg[i])) bench_fail("S8: scope %d fired", i);
  bench_print("S8.peak_rss", peak / 1024.0, "MiB");
  bench_print("S8.base_rss", base / 1024.0, "MiB");
  bench_print("S8.bytes_per_timeout", (peak - base) * 1024.0 / n, "bytes");
  bench_print("S8.op_scope", bench_micro("S8.op_scope", s8_op_batch, NULL),
              "ns/op");
  for (int i = 0; i < n; i++) cx_token_unref(bg[i]);
  free(bg);
}

/* ---- S9 wake_latency */

static void *s9_create(void) { return cx_token_new(); }
static void s9_wait(void *t) { CHECK(cx_token_wait(t, CX_FOREVER) == 0); }
static void s9_cancel(void *t) { cancel(t); }
static void s9_destroy(void *t) { cx_token_unref(t); }

static void s9(int one_cpu) {
  static const bench_s9_ops ops = {s9_create, NULL, s9_wait, s9_cancel,
                                   s9_destroy};
  bench_s9_run(&ops, one_cpu);
}

/* ---- S10 timer_accuracy */

static int64_t s10_fired[BENCH_S10_SCOPES];
static _Atomic int s10_count;

static int s10_record(cx_token *t, void *data) {
  int i = (int)(intptr_t)data;
  (void)t;
  s10_fired[i] = bench_now_ns();
  atomic_fetch_add(&s10_count, 1);
  return 0;
}

static void s10(void) {
  int perm[BENCH_S10_SCOPES];
  double stats[BENCH_S10_ROUNDS][4];
  int rounds =
      bench_reps() < BENCH_S10_ROUNDS ? bench_reps() : BENCH_S10_ROUNDS;
  bench_s10_permutation(perm, BENCH_S10_SCOPES);
  for (int r = 0; r < rounds; r++) {
    cx_op *ops[BENCH_S10_SCOPES];
    double deadline_ns[BENCH_S10_SCOPES], late[BENCH_S10_SCOPES];
    int64_t give_up = bench_now_ns() + 5 * INT64_C(1000000000);
    atomic_store(&s10_count, 0);
    /* Armed in permutation order; the ops are entered on this thread, so
     * they are exited below in reverse entering order (LIFO). */
    for (int k = 0; k < BENCH_S10_SCOPES; k++) {
      int i = perm[k];
      CHECK(cx_op_with_timeout(&ops[k], NULL, bench_s10_timeout_ms(i) / 1e3,
                               NULL) == 0);
      CHECK(cx_token_on_cancel(cx_op_token(ops[k]), s10_record,
                               (void *)(intptr_t)i, NULL, 0, NULL) == 0);
      CHECK(cx_op_enter(ops[k]) == 0);
      /* cx_op_deadline(): seconds on cx_now()'s clock, CLOCK_MONOTONIC
       * (the virtual clock is never switched on here). */
      deadline_ns[i] = cx_op_deadline(ops[k]) * 1e9;
    }
    while (atomic_load(&s10_count) < BENCH_S10_SCOPES) {
      struct timespec ts = {0, 1000000};
      if (bench_now_ns() > give_up) bench_fail("S10: timers did not fire");
      nanosleep(&ts, NULL);
    }
    for (int i = 0; i < BENCH_S10_SCOPES; i++)
      late[i] = (double)s10_fired[i] - deadline_ns[i];
    for (int k = BENCH_S10_SCOPES - 1; k >= 0; k--)
      scope_close(ops[k], -ECANCELED);
    bench_s10_round_stats(late, BENCH_S10_SCOPES, stats[r]);
  }
  bench_s10_report(stats, rounds);
}

/* ---- X1, X2: progress */

typedef struct x_ctx {
  cx_op *op;
} x_ctx;

static void x_progress_batch(uint64_t n, void *ctx) {
  cx_op *op = ((x_ctx *)ctx)->op;
  for (uint64_t i = 0; i < n; i++) cx_report_progress(op, "step", NULL);
}

static long x2_calls;

static int x2_progress_cb(const char *id, const char *message,
                          const cx_meta *meta, void *data) {
  (void)id;
  (void)message;
  (void)meta;
  (*(long *)data)++;
  return 0;
}

static void x_progress(int levels_up) {
  cx_op *chain[4] = {NULL, NULL, NULL, NULL};
  x_ctx c;
  /* chain[0] is the reporter; chain[i] is its i-th ancestor. */
  CHECK(cx_op_create(&chain[levels_up], NULL) == 0);
  for (int i = levels_up - 1; i >= 0; i--) {
    cx_op_options o = CX_OP_OPTIONS_INIT;
    o.parent = chain[i + 1];
    CHECK(cx_op_create(&chain[i], &o) == 0);
  }
  for (int i = levels_up; i >= 0; i--) CHECK(cx_op_enter(chain[i]) == 0);
  if (levels_up > 0)
    CHECK(cx_op_on_progress(chain[levels_up], x2_progress_cb, &x2_calls,
                            NULL) == 0);
  c.op = chain[0];
  if (levels_up == 0)
    bench_print("X1.progress_nocb", bench_micro("X1", x_progress_batch, &c),
                "ns/op");
  else
    bench_print("X2.progress_cb3", bench_micro("X2", x_progress_batch, &c),
                "ns/op");
  if (levels_up > 0 && x2_calls == 0) bench_fail("X2: callback never ran");
  for (int i = 0; i <= levels_up; i++) scope_close(chain[i], 0);
}

/* ---- X6: async progress */

typedef struct x6_ctx {
  cx_op *op;
  cx_meta *meta;
} x6_ctx;

static void x6_batch(uint64_t n, void *ctx) {
  x6_ctx *c = ctx;
  for (uint64_t i = 0; i < n; i++) {
    cx_meta_set_int(c->meta, CX_PROGRESS_CURRENT, (int64_t)i + 1);
    cx_report_progress(c->op, "step", c->meta);
  }
}

static _Atomic long x6_calls;

static int x6_slow_cb(const char *id, const char *message, const cx_meta *meta,
                      void *data) {
  struct timespec ts = {0, 50 * 1000 * 1000};
  (void)id;
  (void)message;
  (void)meta;
  (void)data;
  nanosleep(&ts, NULL);
  atomic_fetch_add(&x6_calls, 1);
  return 0;
}

static void x6(void) {
  x6_ctx c;
  cx_op *sync_op;
  c.meta = cx_meta_new();
  CHECK(c.meta != NULL);
  CHECK(cx_meta_set_int(c.meta, CX_PROGRESS_TOTAL, INT64_C(1) << 40) == 0);
  CHECK(cx_op_create(&sync_op, NULL) == 0 && cx_op_enter(sync_op) == 0);
  CHECK(cx_op_on_progress(sync_op, x2_progress_cb, &x2_calls, NULL) == 0);
  c.op = sync_op;
  bench_print("X6.progress_sync_nop", bench_micro("X6.sync", x6_batch, &c),
              "ns/op");
  scope_close(sync_op, 0);
  CHECK(cx_op_create(&c.op, NULL) == 0 && cx_op_enter(c.op) == 0);
  CHECK(cx_op_on_progress_async(c.op, x6_slow_cb, NULL, NULL) == 0);
  bench_print("X6.progress_async", bench_micro("X6", x6_batch, &c), "ns/op");
  scope_close(c.op, 0);
  if (x2_calls == 0) bench_fail("X6: the sync callback never ran");
  cx_meta_free(c.meta);
}

/* ---- X3: registry */

enum { X3_LIVE = 100000 };

/* X3's body, also X8.registered_op's (ours_scale.h). */
void x3_batch(uint64_t n, void *ctx) {
  (void)ctx;
  for (uint64_t i = 0; i < n; i++) {
    cx_op_options o = CX_OP_OPTIONS_INIT;
    cx_op *op;
    o.register_op = true;
    cx_op_create(&op, &o);
    cx_op_enter(op);
    cx_op_exit(op, 0);
    cx_op_unref(op);
  }
}

static void x4_batch(uint64_t n, void *ctx);

static void x3(void) {
  int n = bench_scale(X3_LIVE);
  cx_op **live = malloc((size_t)n * sizeof *live);
  double plain, reg;
  CHECK(live != NULL);
  plain = bench_micro("X3.plain", x4_batch, NULL);
  /* The live ops are entered on this thread and exited in reverse order
   * (LIFO), as in S8. */
  for (int i = 0; i < n; i++) {
    cx_op_options o = CX_OP_OPTIONS_INIT;
    o.register_op = true;
    CHECK(cx_op_create(&live[i], &o) == 0);
    CHECK(cx_op_enter(live[i]) == 0);
  }
  reg = bench_micro("X3", x3_batch, NULL);
  bench_print("X3.registry", reg, "ns/op");
  bench_print("X3.registry_delta", reg - plain, "ns/op");
  for (int i = n - 1; i >= 0; i--) scope_close(live[i], 0);
  free(live);
}

/* ---- X4, X5: op enter/exit */

static void x4_batch(uint64_t n, void *ctx) {
  (void)ctx;
  for (uint64_t i = 0; i < n; i++) {
    cx_op *op;
    cx_op_create(&op, NULL);
    cx_op_enter(op);
    cx_op_exit(op, 0);
    cx_op_unref(op);
  }
}

static void x5(void) {
  cx_op *starter;
  scope_open(&starter, 60.0); /* start the timer thread first */
  scope_close(starter, 0);
  bench_print("X5.op_timeout_enter_exit", bench_micro("X5", s8_op_batch, NULL),
              "ns/op");
}

static void s9_settled(void) { s9(0); }
static void s9_one_cpu(void) { s9(1); }
static void x1(void) { x_progress(0); }
static void x2(void) { x_progress(3); }
static void x4(void) {
  bench_print("X4.op_enter_exit", bench_micro("X4", x4_batch, NULL), "ns/op");
}

static const bench_scenario scenarios[] = {BENCH_STANDARD_SCENARIOS,
                                           {"X1", x1},
                                           {"X2", x2},
                                           {"X3", x3},
                                           {"X4", x4},
                                           {"X5", x5},
                                           {"X6", x6},
                                           {"X7", x7},
                                           {"X8", x8},
                                           {NULL, NULL}};

int main(int argc, char **argv) {
  return bench_main("ours", argc, argv, scenarios, s5probe);
}
