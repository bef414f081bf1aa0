/* bench/ours_scale.c - how our costs grow with threads and with size
 * (issue 19, items 2 and 3), peer `ours` only, same line format.
 *
 *   X7  contention, two threads against one thread (this machine has two
 *       cores), each figure the median of 5 timed runs of 200 ms:
 *       X7.child_ops_1t ns/op   one thread: create a registered child op
 *                               of one shared running parent, enter it,
 *                               cancel it, exit, unref
 *       X7.child_ops_2t ns/op   the same on two threads at once: wall time
 *                               over the ops of both (throughput)
 *       X7.speedup x            child_ops_1t / child_ops_2t (target >= 1.6)
 *       X7.poll_1t ns/op        cx_token_is_cancelled() of one live token
 *       X7.poll_2t ns/op        the same on two threads at once, per thread
 *                               (target: what one thread costs)
 *   X8  growth, with 10^6 live ops:
 *       X8.bytes_per_op B       resident memory per live registered op with
 *                               a 60 s timeout (entered on worker threads
 *                               that stay in them), 10^6 of them (target
 *                               <= 256)
 *       X8.registered_op ns/op  X3's body (create, enter, exit, unref a
 *                               registered op) with those 10^6 live
 *                               (target <= 150)
 *       X8.query ms             cx_registry_list() by name pattern over
 *                               the 10^6 (1 in 1000 matches; target
 *                               <= 200)
 *       X8.cancel_per_child ns  cancelling a parent of 10^6 child ops,
 *                               until the last child reads cancelled, per
 *                               child (target <= 50)
 *       X8.progress_depth1 ns/op, X8.progress_depth10000 ns/op, and
 *       X8.progress_depth_ratio x: a report from an op whose root, 1 or
 *                               10 000 levels up, has the only progress
 *                               callback: the levels between have none
 *                               (target: ratio <= 1.2)
 */
#define _GNU_SOURCE
#include "ours_scale.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cancelable.h>

#include "harness.h"

#define CHECK(expr)                                                  \
  do {                                                               \
    if (!(expr)) bench_fail("%s:%d: %s", __FILE__, __LINE__, #expr); \
  } while (0)

enum { RUNS = 5, RUN_MS = 200 };

/* ---- timed runs on N threads */

/* One thread's work: @body(ctx) does a small batch and returns its ops. */
typedef uint64_t (*batch_fn)(void *ctx);

typedef struct team {
  batch_fn body;
  void *ctx;
  atomic_int ready; /* threads at the start line */
  atomic_bool go, stop;
  _Atomic uint64_t ops;
} team;

static void *team_main(void *arg) {
  team *t = arg;
  uint64_t ops = 0;
  atomic_fetch_add(&t->ready, 1);
  while (!atomic_load(&t->go)) {
  }
  while (!atomic_load_explicit(&t->stop, memory_order_relaxed))
    ops += t->body(t->ctx);
  atomic_fetch_add(&t->ops, ops);
  return NULL;
}

/* Runs @body on @n threads for RUN_MS; returns wall ns per op of all. */
static double team_run(int n, batch_fn body, void *ctx) {
  team t = {.body = body, .ctx = ctx};
  pthread_t th[2];
  int64_t t0, t1;
  struct timespec run = {0, RUN_MS * 1000000L};
  for (int i = 0; i < n; i++)
    CHECK(pthread_create(&th[i], NULL, team_main, &t) == 0);
  while (atomic_load(&t.ready) < n) {
  }
  t0 = bench_now_ns();
  atomic_store(&t.go, true);
  nanosleep(&run, NULL);
  atomic_store(&t.stop, true);
  for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
  t1 = bench_now_ns();
  CHECK(atomic_load(&t.ops) > 0);
  return (double)(t1 - t0) / (double)atomic_load(&t.ops);
}

/* The median over RUNS of team_run(). */
static double team_median(const char *key, int n, batch_fn body, void *ctx) {
  double v[RUNS];
  int runs = bench_reps() < RUNS ? bench_reps() : RUNS;
  for (int r = 0; r < runs; r++) {
    v[r] = team_run(n, body, ctx);
    if (bench_verbose())
      fprintf(stderr, "# ours %s run %d: %.2f ns/op\n", key, r, v[r]);
  }
  return bench_median(v, (size_t)runs);
}

/* ---- X7 contention */

static uint64_t child_ops_batch(void *ctx) {
  cx_op *parent = ctx;
  for (int i = 0; i < 64; i++) {
    cx_op_options o = CX_OP_OPTIONS_INIT;
    cx_op *op;
    o.parent = parent;
    o.register_op = true;
    CHECK(cx_op_create(&op, &o) == 0);
    CHECK(cx_op_enter(op) == 0);
    cx_op_cancel(op, CX_REASON_MANUAL, NULL);
    cx_op_exit(op, -ECANCELED);
    cx_op_unref(op);
  }
  return 64;
}

static uint64_t poll_batch(void *ctx) {
  cx_token *tok = ctx;
  uint64_t hits = 0;
  for (int i = 0; i < 1024; i++) {
    if (cx_token_is_cancelled(tok)) hits++;
    BENCH_BARRIER();
  }
  CHECK(hits == 0);
  return 1024;
}

void x7(void) {
  cx_op *parent;
  cx_token *tok = cx_token_new();
  double one, two;
  CHECK(tok != NULL);
  CHECK(cx_op_create(&parent, NULL) == 0);
  CHECK(cx_op_enter(parent) == 0);
  one = team_median("X7.child_ops_1t", 1, child_ops_batch, parent);
  two = team_median("X7.child_ops_2t", 2, child_ops_batch, parent);
  bench_print("X7.child_ops_1t", one, "ns/op");
  bench_print("X7.child_ops_2t", two, "ns/op");
  bench_print("X7.speedup", one / two, "x");
  one = team_median("X7.poll_1t", 1, poll_batch, tok);
  two = team_median("X7.poll_2t", 2, poll_batch, tok);
  bench_print("X7.poll_1t", one, "ns/op");
  /* per thread: two threads did twice the ops in the wall time */
  bench_print("X7.poll_2t", two * 2, "ns/op");
  CHECK(!cx_op_is_cancelled(parent));
  CHECK(cx_op_exit(parent, 0) == 0);
  cx_op_unref(parent);
  cx_token_unref(tok);
}

/* ---- X8 growth */

enum { X8_LIVE = 1000000, X8_DEPTH = 10000, X8_HOLDERS = 2 };

/* A thread that enters its share of the live ops and stays in them until
 * told to leave (an op is exited on the thread that entered it). */
typedef struct holder {
  cx_op **ops;
  int count;
  pthread_barrier_t *entered, *leave;
} holder;

static void *holder_main(void *arg) {
  holder *h = arg;
  char name[32];
  for (int i = 0; i < h->count; i++) {
    cx_op_options o = CX_OP_OPTIONS_INIT;
    snprintf(name, sizeof name, "worker-%d", i % 1000);
    o.name = name;
    o.timeout = 60.0;
    o.register_op = true;
    CHECK(cx_op_create(&h->ops[i], &o) == 0);
    CHECK(cx_op_enter(h->ops[i]) == 0);
  }
  pthread_barrier_wait(h->entered);
  pthread_barrier_wait(h->leave);
  for (int i = h->count - 1; i >= 0; i--) {
    cx_op_exit(h->ops[i], 0);
    cx_op_unref(h->ops[i]);
  }
  return NULL;
}

/* Median ms of a name-pattern query over the live registry. */
static double x8_query(void) {
  double v[RUNS];
  int runs = bench_reps() < RUNS ? bench_reps() : RUNS;
  for (int r = 0; r < runs; r++) {
    cx_op_filter f = CX_OP_FILTER_INIT;
    cx_op_list list;
    int64_t t0 = bench_now_ns();
    f.name_pattern = "worker-42";
    CHECK(cx_registry_list(&f, &list) == 0);
    v[r] = (double)(bench_now_ns() - t0) / 1e6;
    CHECK(list.count == X8_LIVE / 1000);
    cx_op_list_free(&list);
  }
  return bench_median(v, (size_t)runs);
}

/* Live registered ops with timeouts: memory, a registered op's cost among
 * them, and a query over them. */
static void x8_live(void) {
  holder h[X8_HOLDERS];
  pthread_t th[X8_HOLDERS];
  pthread_barrier_t entered, leave;
  cx_op **ops = malloc(X8_LIVE * sizeof *ops);
  long base;
  CHECK(ops != NULL);
  x3_batch(1000, NULL); /* registry and timer started */
  base = bench_status_kib("VmRSS");
  pthread_barrier_init(&entered, NULL, X8_HOLDERS + 1);
  pthread_barrier_init(&leave, NULL, X8_HOLDERS + 1);
  for (int i = 0; i < X8_HOLDERS; i++) {
    h[i] = (holder){ops + i * (X8_LIVE / X8_HOLDERS), X8_LIVE / X8_HOLDERS,
                    &entered, &leave};
    CHECK(pthread_create(&th[i], NULL, holder_main, &h[i]) == 0);
  }
  pthread_barrier_wait(&entered);
  bench_print("X8.bytes_per_op",
              (double)(bench_status_kib("VmRSS") - base) * 1024.0 / X8_LIVE,
              "B");
  bench_print("X8.registered_op",
              bench_micro("X8.registered_op", x3_batch, NULL), "ns/op");
  bench_print("X8.query", x8_query(), "ms");
  pthread_barrier_wait(&leave);
  for (int i = 0; i < X8_HOLDERS; i++) pthread_join(th[i], NULL);
  pthread_barrier_destroy(&entered);
  pthread_barrier_destroy(&leave);
  free(ops);
}

/* A parent of 10^6 child ops (created, not entered): cancel it and
 * confirm every child, per child; the median of RUNS rounds. */
static void x8_cascade(void) {
  cx_op **kids = malloc(X8_LIVE * sizeof *kids);
  double v[RUNS];
  int runs = bench_reps() < RUNS ? bench_reps() : RUNS;
  CHECK(kids != NULL);
  for (int r = 0; r < runs; r++) {
    cx_op *parent;
    int64_t t0;
    CHECK(cx_op_create(&parent, NULL) == 0);
    for (int i = 0; i < X8_LIVE; i++) {
      cx_op_options o = CX_OP_OPTIONS_INIT;
      o.parent = parent;
      CHECK(cx_op_create(&kids[i], &o) == 0);
    }
    t0 = bench_now_ns();
    cx_op_cancel(parent, CX_REASON_MANUAL, NULL);
    for (int i = 0; i < X8_LIVE; i++) CHECK(cx_op_is_cancelled(kids[i]));
    v[r] = (double)(bench_now_ns() - t0) / X8_LIVE;
    for (int i = 0; i < X8_LIVE; i++) cx_op_unref(kids[i]);
    cx_op_unref(parent);
  }
  bench_print("X8.cancel_per_child", bench_median(v, (size_t)runs), "ns");
  free(kids);
}

static int x8_progress_cb(const char *id, const char *message,
                          const cx_meta *meta, void *data) {
  (void)id;
  (void)message;
  (void)meta;
  (*(long *)data)++;
  return 0;
}

static void x8_report_batch(uint64_t n, void *ctx) {
  cx_op *op = ctx;
  for (uint64_t i = 0; i < n; i++) cx_report_progress(op, "step", NULL);
}

/* ns/op of a report from the leaf of a chain @depth levels under the one
 * op with a progress callback. */
static double x8_progress(int depth, const char *key) {
  cx_op **chain = malloc((size_t)(depth + 1) * sizeof *chain);
  long calls = 0;
  double ns;
  CHECK(chain != NULL);
  CHECK(cx_op_create(&chain[0], NULL) == 0);
  CHECK(cx_op_on_progress(chain[0], x8_progress_cb, &calls, NULL) == 0);
  CHECK(cx_op_enter(chain[0]) == 0);
  for (int i = 1; i <= depth; i++) {
    cx_op_options o = CX_OP_OPTIONS_INIT;
    o.parent = chain[i - 1];
    CHECK(cx_op_create(&chain[i], &o) == 0);
    CHECK(cx_op_enter(chain[i]) == 0);
  }
  ns = bench_micro(key, x8_report_batch, chain[depth]);
  CHECK(calls > 0);
  for (int i = depth; i >= 0; i--) {
    CHECK(cx_op_exit(chain[i], 0) == 0);
    cx_op_unref(chain[i]);
  }
  free(chain);
  return ns;
}

void x8(void) {
  double d1, dn;
  x8_live();
  x8_cascade();
  d1 = x8_progress(1, "X8.progress_depth1");
  dn = x8_progress(X8_DEPTH, "X8.progress_depth10000");
  bench_print("X8.progress_depth1", d1, "ns/op");
  bench_print("X8.progress_depth10000", dn, "ns/op");
  bench_print("X8.progress_depth_ratio", dn / d1, "x");
}
