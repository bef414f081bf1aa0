/* bench/harness.c - see harness.h.  Mirrored in cxx.cpp (namespace
 * harness): keep the two in step. */
#define _GNU_SOURCE
#include "harness.h"

#include <math.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *peer_name = "?";
static int reps = 5;
static int64_t rep_ns = 200 * INT64_C(1000000);
static int verbose;

static void *idle_main(void *arg) {
  (void)arg;
  for (;;) pause();
  return NULL;
}

int bench_main(const char *peer, int argc, char **argv,
               const bench_scenario *table, int (*probe)(int depth)) {
  const char *s = argc > 1 ? argv[1] : "";
  bench_init(peer);
  if (!strcmp(s, "S5probe") && argc > 2) return probe(atoi(argv[2]));
  for (const bench_scenario *sc = table; sc->name != NULL; sc++) {
    if (!strcmp(s, sc->name)) {
      sc->run();
      return 0;
    }
  }
  fprintf(stderr, "usage: %s SCENARIO, one of:", argv[0]);
  for (const bench_scenario *sc = table; sc->name != NULL; sc++)
    fprintf(stderr, " %s", sc->name);
  fprintf(stderr, "; or S5probe DEPTH\n");
  return 64;
}

void bench_init(const char *peer) {
  pthread_t t;
  const char *e;
  peer_name = peer;
  /* §2.3: a second thread, so that glibc (and libstdc++) leave their
   * single-threaded shortcuts, as in any program that cancels. */
  if (pthread_create(&t, NULL, idle_main, NULL) != 0) {
    fprintf(stderr, "# cannot start the idle helper thread\n");
    exit(1);
  }
  pthread_detach(t);
  if ((e = getenv("PEERS_REPS")) != NULL && atoi(e) > 0) reps = atoi(e);
  if ((e = getenv("PEERS_REP_MS")) != NULL && atoi(e) > 0)
    rep_ns = (int64_t)atoi(e) * 1000000;
  if ((e = getenv("PEERS_VERBOSE")) != NULL && strcmp(e, "1") == 0) verbose = 1;
}

int bench_scale(int dflt) {
  const char *e = getenv("BENCH_SCALE");
  long v;
  char *end;
  if (e == NULL || *e == '\0') return dflt;
  v = strtol(e, &end, 10);
  if (*end != '\0' || v <= 0 || v > 100000000) {
    fprintf(stderr, "# %s: bad BENCH_SCALE '%s'\n", peer_name, e);
    exit(64);
  }
  if (v != dflt)
    fprintf(stderr, "# %s: BENCH_SCALE %ld (default %d)\n", peer_name, v, dflt);
  return (int)v;
}

int bench_reps(void) { return reps; }
int bench_verbose(void) { return verbose; }

int64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

void bench_sort(double *v, size_t n) { qsort(v, n, sizeof *v, cmp_double); }

double bench_median(double *v, size_t n) {
  if (n == 0) return NAN;
  bench_sort(v, n);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double bench_percentile(const double *sorted, size_t n, double p) {
  size_t rank = (size_t)ceil(p / 100.0 * (double)n);
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  return sorted[rank - 1];
}

double bench_micro(const char *key, bench_batch_fn fn, void *ctx) {
  uint64_t n = 1, batch;
  int64_t t;
  double *v = calloc((size_t)reps, sizeof *v), med;
  /* Calibration: x100 while a call takes < 10 us, then x10, until >= 1 ms. */
  for (;;) {
    int64_t t0 = bench_now_ns();
    fn(n, ctx);
    t = bench_now_ns() - t0;
    if (t >= 1000000) break;
    n *= t < 10000 ? 100 : 10;
  }
  batch = (uint64_t)((double)n * 10e6 / (double)t);
  if (batch < 1) batch = 1;
  fn(batch, ctx); /* warm-up */
  for (int r = 0; r < reps; r++) {
    int64_t sum = 0;
    uint64_t ops = 0;
    while (sum < rep_ns) {
      int64_t t0 = bench_now_ns();
      fn(batch, ctx);
      sum += bench_now_ns() - t0;
      ops += batch;
    }
    v[r] = (double)sum / (double)ops;
    if (verbose)
      fprintf(stderr, "# %s %s rep %d: %.3f ns/op (batch %llu, %llu ops)\n",
              peer_name, key, r, v[r], (unsigned long long)batch,
              (unsigned long long)ops);
  }
  med = bench_median(v, (size_t)reps);
  free(v);
  return med;
}

double bench_rounds(const char *key, bench_step_fn setup, bench_step_fn timed,
                    bench_step_fn teardown, void *ctx) {
  double *v = calloc((size_t)reps, sizeof *v), med;
  int64_t t0;
  /* Warm-up round. */
  setup(ctx);
  timed(ctx);
  teardown(ctx);
  for (int r = 0; r < reps; r++) {
    int64_t sum = 0;
    long rounds = 0;
    while (sum < rep_ns) {
      setup(ctx);
      t0 = bench_now_ns();
      timed(ctx);
      sum += bench_now_ns() - t0;
      teardown(ctx);
      rounds++;
    }
    v[r] = (double)sum / (double)rounds;
    if (verbose)
      fprintf(stderr, "# %s %s rep %d: %.1f ns/round (%ld rounds)\n", peer_name,
              key, r, v[r], rounds);
  }
  med = bench_median(v, (size_t)reps);
  free(v);
  return med;
}

static void format_value(char *buf, size_t len, double value) {
  double a = fabs(value);
  int decimals = a < 10 ? 3 : a < 100 ? 2 : a < 1000 ? 1 : 0;
  snprintf(buf, len, "%.*f", decimals, value);
}

void bench_print(const char *key, double value, const char *unit) {
  char buf[64];
  if (!isfinite(value)) {
    bench_print_na(key, unit, "not a finite number");
    return;
  }
  format_value(buf, sizeof buf, value);
  printf("%s %s %s %s\n", peer_name, key, buf, unit);
  fflush(stdout);
}

void bench_print_na(const char *key, const char *unit, const char *why) {
  printf("%s %s NA %s\n", peer_name, key, unit);
  fflush(stdout);
  fprintf(stderr, "# %s %s NA: %s\n", peer_name, key, why);
}

void bench_remark(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "# %s: ", peer_name);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

void bench_fail(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "# %s: ASSERTION FAILED: ", peer_name);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(2);
}

long bench_status_kib(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  size_t len = strlen(field);
  long kib = -1;
  if (f == NULL) return -1;
  while (fgets(line, sizeof line, f) != NULL) {
    if (strncmp(line, field, len) == 0 && line[len] == ':') {
      kib = strtol(line + len + 1, NULL, 10);
      break;
    }
  }
  fclose(f);
  return kib;
}

void bench_s10_permutation(int *perm, int n) {
  uint64_t x = UINT64_C(0x5eed5eed5eed5eed);
  for (int i = 0; i < n; i++) perm[i] = i;
  for (int i = n - 1; i >= 1; i--) {
    int j, tmp;
    x = x * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
    j = (int)((x >> 33) % (uint64_t)(i + 1));
    tmp = perm[i];
    perm[i] = perm[j];
    perm[j] = tmp;
  }
}

int bench_s10_timeout_ms(int i) { return 10 + i % 41; }

void bench_s10_round_stats(double *late_ns, size_t n, double out[4]) {
  bench_sort(late_ns, n);
  out[0] = bench_percentile(late_ns, n, 50);
  out[1] = bench_percentile(late_ns, n, 99);
  out[2] = late_ns[n - 1];
  out[3] = late_ns[0];
}

void bench_s10_report(double stats[][4], int rounds) {
  static const char *keys[3] = {"S10.p50", "S10.p99", "S10.max"};
  double col[64], min = INFINITY;
  for (int k = 0; k < 3; k++) {
    for (int r = 0; r < rounds; r++) col[r] = stats[r][k] / 1e6;
    bench_print(keys[k], bench_median(col, (size_t)rounds), "ms");
  }
  for (int r = 0; r < rounds; r++)
    if (stats[r][3] < min) min = stats[r][3];
  /* Supplementary: the earliest fire relative to its deadline over all
   * rounds; negative would mean a timer fired early. */
  bench_print("S10.min", min / 1e6, "ms");
  if (verbose)
    for (int r = 0; r < rounds; r++)
      fprintf(stderr,
              "# %s S10 round %d: p50 %.4f p99 %.4f max %.4f min "
              "%.4f ms\n",
              peer_name, r, stats[r][0] / 1e6, stats[r][1] / 1e6,
              stats[r][2] / 1e6, stats[r][3] / 1e6);
}

void bench_s9_settle(int one_cpu) {
  if (one_cpu) {
    int64_t end = bench_now_ns() + 100000;
    while (bench_now_ns() < end) {
    }
  } else {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
}

void bench_s9_report(double *lat_ns, size_t n, int one_cpu) {
  bench_sort(lat_ns, n);
  bench_print(one_cpu ? "S9.p50_1cpu" : "S9.p50",
              bench_percentile(lat_ns, n, 50) / 1e3, "us");
  bench_print(one_cpu ? "S9.p99_1cpu" : "S9.p99",
              bench_percentile(lat_ns, n, 99) / 1e3, "us");
  if (verbose)
    fprintf(stderr, "# %s S9%s: min %.2f p90 %.2f max %.2f us\n", peer_name,
            one_cpu ? "_1cpu" : "", lat_ns[0] / 1e3,
            bench_percentile(lat_ns, n, 90) / 1e3, lat_ns[n - 1] / 1e3);
}

/* ---- S9 protocol */
static struct {
  const bench_s9_ops *ops;
  sem_t go, ready, done;
  void *token; /* handed over under `go` */
  int64_t t1;  /* reported under `done` */
} s9;

static void *s9_waiter(void *arg) {
  (void)arg;
  for (;;) {
    void *tok;
    sem_wait(&s9.go);
    tok = s9.token;
    if (tok == NULL) break;
    if (s9.ops->prepare != NULL) s9.ops->prepare(tok);
    sem_post(&s9.ready); /* "about to block" */
    s9.ops->wait(tok);
    s9.t1 = bench_now_ns();
    sem_post(&s9.done);
  }
  return NULL;
}

void bench_s9_run(const bench_s9_ops *ops, int one_cpu) {
  pthread_t waiter;
  double *lat = calloc(BENCH_S9_SAMPLES, sizeof *lat);
  s9.ops = ops;
  sem_init(&s9.go, 0, 0);
  sem_init(&s9.ready, 0, 0);
  sem_init(&s9.done, 0, 0);
  if (pthread_create(&waiter, NULL, s9_waiter, NULL) != 0)
    bench_fail("cannot start the waiter thread");
  for (int i = 0; i < BENCH_S9_WARMUP + BENCH_S9_SAMPLES; i++) {
    void *tok = ops->create();
    int64_t t0;
    s9.token = tok;
    sem_post(&s9.go);
    sem_wait(&s9.ready);
    bench_s9_settle(one_cpu);
    t0 = bench_now_ns();
    ops->cancel(tok);
    sem_wait(&s9.done);
    if (i >= BENCH_S9_WARMUP) lat[i - BENCH_S9_WARMUP] = (double)(s9.t1 - t0);
    ops->destroy(tok);
  }
  s9.token = NULL;
  sem_post(&s9.go);
  pthread_join(waiter, NULL);
  bench_s9_report(lat, BENCH_S9_SAMPLES, one_cpu);
  free(lat);
}
