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
 *   nats_fanout events URL K        subscribes to every node's events
 *       (cancelable.evt.>, no pending limit: none dropped here), prints
 *       "ready", then counts them until K cancelled-or-exited events came
 *       (or 5 s without any) and prints "entered N FIRST LAST" and
 *       "after N FIRST LAST": the count of entered events and of cancelled
 *       and exited ones, with the wall-clock times of the first and last
 *       received (the publishing rate the nodes sustained), and "lost N":
 *       the events the nodes' gap events say they dropped.
 *
 * The processes share one machine, so their wall clocks are one clock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

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
  /* Detaching drops the events not yet published: give them time. */
  nanosleep(&(struct timespec){1, 0}, NULL);
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

/* Counts of one kind of event, with the times of the first and last. */
typedef struct tally {
  long n;
  double first, last;
} tally;

static void count(tally *t, double now) {
  if (t->n++ == 0) t->first = now;
  t->last = now;
}

static int events(const char *url, long k) {
  natsConnection *nc = NULL;
  natsSubscription *sub = NULL;
  tally entered = {0, 0, 0}, after = {0, 0, 0};
  long lost = 0; /* the sum of the gap events' "lost" */
  if (natsConnection_ConnectTo(&nc, url) != NATS_OK ||
      natsConnection_SubscribeSync(&sub, nc, "cancelable.evt.>") != NATS_OK ||
      natsSubscription_SetPendingLimits(sub, -1, -1) != NATS_OK ||
      natsConnection_Flush(nc) != NATS_OK) {
    fprintf(stderr, "events: no subscription at %s\n", url);
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  while (after.n < k) {
    natsMsg *m = NULL;
    if (natsSubscription_NextMsg(&m, sub, 5000) != NATS_OK) break;
    const char *d = natsMsg_GetData(m);
    double now = wall();
    if (d != NULL && strncmp(d, "kind=entered\n", 13) == 0)
      count(&entered, now);
    else if (d != NULL && (strncmp(d, "kind=cancelled\n", 15) == 0 ||
                           strncmp(d, "kind=exited\n", 12) == 0))
      count(&after, now);
    else if (d != NULL && strncmp(d, "kind=gap\n", 9) == 0 &&
             strstr(d, "\nlost=") != NULL)
      lost += atol(strstr(d, "\nlost=") + 6);
    natsMsg_Destroy(m);
  }
  printf("entered %ld %.6f %.6f\nafter %ld %.6f %.6f\nlost %ld\n", entered.n,
         entered.first, entered.last, after.n, after.first, after.last, lost);
  natsSubscription_Destroy(sub);
  natsConnection_Destroy(nc);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "worker") == 0)
    return worker(argv[2], argv[3], atol(argv[4]));
  if (argc == 4 && strcmp(argv[1], "events") == 0)
    return events(argv[2], atol(argv[3]));
  if (argc == 4 && strcmp(argv[1], "cancel") == 0)
    return cancel(argv[2], atof(argv[3]));
  fprintf(stderr, "usage: see bench/nats_fanout.c\n");
  return 64;
}
