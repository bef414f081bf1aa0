/* bench/harness.h - the benchmark harness shared by every peer (ours.c,
 * glib.c, and cxx.cpp, which links the gcc-built harness.c), implementing
 * the rules of SCENARIOS.md §1-§2.
 *
 *   - output: `peer scenario value unit` on stdout, §1 number formatting;
 *     everything else on stderr ('#' remarks).
 *   - an idle helper thread blocked in pause(), started first (§2.3).
 *   - micro-benchmarks (§2.4): calibration n = 1, x100 while a call takes
 *     < 10 us, then x10 until a call takes >= 1 ms; batch = n * 10 ms / t;
 *     one warm-up batch; repetitions of whole batches until >= 200 ms;
 *     5 repetitions, median.
 *   - round-based benchmarks (§2.5): one warm-up round, repetitions of
 *     rounds until the timed sections add up to >= 200 ms, 5 repetitions,
 *     median of timed time per round.
 *   - PEERS_REPS / PEERS_REP_MS shrink the repetitions (smoke tests only),
 *     PEERS_VERBOSE=1 prints every repetition on stderr.
 */
#ifndef BENCH_HARNESS_H
#define BENCH_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A compiler barrier (§4 S1) and an escape for a pointer (§4 S2). */
#define BENCH_BARRIER() __asm__ volatile("" ::: "memory")
#define BENCH_ESCAPE(p) __asm__ volatile("" : : "g"(p) : "memory")

/* Starts the idle helper thread and reads the environment.  Call first
 * (bench_main() does). */
void bench_init(const char *peer);

/* A scenario a peer implements: its name on the command line ("S1",
 * "S9_1cpu", "X3") and the function that runs it and prints its keys. */
typedef struct bench_scenario {
  const char *name;
  void (*run)(void);
} bench_scenario;
/* The rows of the scenarios every peer implements (S1-S10), for a peer
 * whose functions are named s1 ... s10, s9_settled (S9) and s9_one_cpu
 * (S9_1cpu). */
#define BENCH_STANDARD_SCENARIOS                                          \
  {"S1", s1}, {"S2", s2}, {"S3", s3}, {"S4", s4}, {"S5", s5}, {"S6", s6}, \
      {"S7", s7}, {"S8", s8}, {"S9", s9_settled}, {"S10", s10}, {         \
    "S9_1cpu", s9_one_cpu                                                 \
  }
/* A peer's whole main(): bench_init(@peer), then runs the scenario named by
 * argv[1] from @table (ended by a NULL name), or `S5probe DEPTH` with
 * @probe.  Returns the exit status: the probe's, 0, or 64 with a usage line
 * for an unknown scenario. */
int bench_main(const char *peer, int argc, char **argv,
               const bench_scenario *table, int (*probe)(int depth));

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t bench_now_ns(void);

/* A micro-benchmark body: run the operation @n times in a plain loop. */
typedef void (*bench_batch_fn)(uint64_t n, void *ctx);
/* Runs the micro-benchmark rules; returns the median ns/op. */
double bench_micro(const char *key, bench_batch_fn fn, void *ctx);

/* A round-based benchmark: setup, timed section and teardown of a round. */
typedef void (*bench_step_fn)(void *ctx);
/* Runs the round rules; returns the median timed ns per round. */
double bench_rounds(const char *key, bench_step_fn setup, bench_step_fn timed,
                    bench_step_fn teardown, void *ctx);

/* The size of a scalable scenario (S4's children, S5's depth, S7's
 * callbacks, S8's armed timeouts, X3's live ops): @dflt, the size of
 * SCENARIOS.md, unless BENCH_SCALE=N (N > 0) is set, as the sweep of
 * bench/plots.sh sets it.  Remarks the size on stderr when it is not the
 * default. */
int bench_scale(int dflt);

/* Number of repetitions (5 unless PEERS_REPS) and whether PEERS_VERBOSE. */
int bench_reps(void);
int bench_verbose(void);

/* Prints `peer key value unit` with §1 formatting. */
void bench_print(const char *key, double value, const char *unit);
/* Prints `peer key NA unit` and the reason as a '#' remark on stderr. */
void bench_print_na(const char *key, const char *unit, const char *why);
/* A '#' remark on stderr (printf format). */
void bench_remark(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Reports a failed assertion of a scenario and exits with status 2. */
void bench_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* Median of @v (sorted in place). */
double bench_median(double *v, size_t n);
/* Nearest-rank percentile of sorted @v: the value at rank ceil(p/100*n). */
double bench_percentile(const double *sorted, size_t n, double p);
/* Sorts ascending. */
void bench_sort(double *v, size_t n);

/* A field of /proc/self/status in KiB ("VmRSS", "VmHWM"); -1 on error. */
long bench_status_kib(const char *field);

/* S10: the arming order, a Fisher-Yates permutation of 0..n-1 driven by the
 * LCG x = x*6364136223846793005 + 1442695040888963407, seed
 * 0x5eed5eed5eed5eed; for i from n-1 down to 1: advance x, then
 * j = (x >> 33) mod (i+1), swap perm[i] and perm[j]. */
void bench_s10_permutation(int *perm, int n);
/* S10 sizes. */
enum { BENCH_S10_SCOPES = 1000, BENCH_S10_ROUNDS = 5 };
/* S10: timeout of scope i in ms: 10 + (i mod 41). */
int bench_s10_timeout_ms(int i);
/* S10: computes p50/p99/max/min of @n latenesses (ns; sorted in place). */
void bench_s10_round_stats(double *late_ns, size_t n, double out[4]);
/* S10: prints the median across rounds of each statistic (ms), and the
 * earliest lateness seen as the supplementary S10.min. */
void bench_s10_report(double stats[][4], int rounds);

/* S9: iteration counts and settling. */
enum { BENCH_S9_WARMUP = 100, BENCH_S9_SAMPLES = 2000 };
/* Settles before a cancel: sleep 1 ms (S9) or busy-wait 100 us (S9_1cpu). */
void bench_s9_settle(int one_cpu);
/* Prints S9.p50/S9.p99 (or the _1cpu keys) from latencies in ns. */
void bench_s9_report(double *lat_ns, size_t n, int one_cpu);
/* S9: a peer's token operations. */
typedef struct bench_s9_ops {
  void *(*create)(void);        /* main thread: a fresh token */
  void (*prepare)(void *token); /* (nullable) waiter, before "about to
                                   block" */
  void (*wait)(void *token);    /* waiter: the peer's natural blocking wait */
  void (*cancel)(void *token);  /* main thread */
  void (*destroy)(void *token); /* main thread, after the report */
} bench_s9_ops;
/* S9: runs the protocol (persistent waiter thread, semaphores for the
 * hand-off, the report and "about to block"; 100 warm-up iterations, 2000
 * measured) and prints the percentiles. */
void bench_s9_run(const bench_s9_ops *ops, int one_cpu);

#ifdef __cplusplus
}
#endif

#endif /* BENCH_HARNESS_H */
