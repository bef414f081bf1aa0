/* bench/nats_fanout.c - cancel fan-out over NATS (issue 16 §4), driven by
 * bench/nats.sh:
 *
 *   nats_fanout worker URL NODE K   attaches as NODE, enters K registered
 *       ops "fan-NODE-I", prints "ready", waits until every one is
 *       cancelled (at most 120 s) and prints "c TIME" per op (the wall-clock
 *       cancel time, cx_token_cancel_time()).
 *   nats_fanout cancel URL WAIT     attaches, prints "t0 TIME" (wall clock)
 *       just before cx_nats_cancel() of the pattern "fan-*", then
 *       "total N nodes M" once the answers of WAIT seconds are in.
 *
 * The processes share one machine, so their wall clocks are one clock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cancelable.h>
#include <cancelable/nats.h>

static double wall(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static cx_nats *attach(const char *url, const char *node) {
  cx_nats_options o = CX_NATS_OPTIONS_INIT;
  cx_nats *n = NULL;
  o.servers = url;
  o.node = node;
  o.reconnect_wait = 0.1;
  if (cx_nats_attach(&o, &n) != 0 || cx_nats_wait_ready(n, 30) != 0) {
    fprintf(stderr, "%s: no connection to %s\n", node ? node : "?", url);
    exit(1);
  }
  return n;
}

static int worker(const char *url, const char *node, long k) {
  cx_nats *n = attach(url, node);
  cx_op **ops = calloc((size_t)k, sizeof(*ops));
  char name[160];
  for (long i = 0; i < k; i++) {
    cx_op_options o = CX_OP_OPTIONS_INIT;
    snprintf(name, sizeof(name), "fan-%s-%ld", node, i);
    o.name = name;
    o.register_op = true;
    if (cx_op_create(&ops[i], &o) != 0 || cx_op_enter(ops[i]) != 0) {
      fprintf(stderr, "%s: cannot enter op %ld\n", node, i);
      return 1;
    }
  }
  printf("ready\n");
  fflush(stdout);
  for (long i = 0; i < k; i++) (void)cx_token_wait(cx_op_token(ops[i]), 120);
  for (long i = 0; i < k; i++)
    printf("c %.6f\n", cx_token_cancel_time(cx_op_token(ops[i])));
  fflush(stdout);
  for (long i = k - 1; i >= 0; i--) {
    cx_op_exit(ops[i], -ECANCELED);
    cx_op_unref(ops[i]);
  }
  free(ops);
  cx_nats_detach(n);
  return 0;
}

static int cancel(const char *url, double wait) {
  cx_nats *n = attach(url, "bench-ctl");
  cx_op_filter f = CX_OP_FILTER_INIT;
  cx_nats_answer a;
  f.name_pattern = "fan-*";
  printf("t0 %.6f\n", wall());
  long total = cx_nats_cancel(n, NULL, &f, "bench", wait, &a);
  printf("total %ld nodes %zu\n", total, total >= 0 ? a.count : 0);
  if (total >= 0) cx_nats_answer_free(&a);
  cx_nats_detach(n);
  return total >= 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "worker") == 0)
    return worker(argv[2], argv[3], atol(argv[4]));
  if (argc == 4 && strcmp(argv[1], "cancel") == 0)
    return cancel(argv[2], atof(argv[3]));
  fprintf(stderr, "usage: see bench/nats_fanout.c\n");
  return 64;
}
