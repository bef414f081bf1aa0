/* examples/run/run_variants.c - pattern: "All Decorator Variants" (seed:
 * Decorators), issue #5.  One cx_run() per variant, each configured by its
 * options:
 *
 *   @cancelable(timeout=...)             -> opts.timeout
 *   @cancelable_with_token(token)        -> opts.token
 *   @cancelable_with_signal(SIGTERM,...) -> opts.watch_signals, opts.signals
 *   @cancelable_with_condition(check)    -> opts.condition (+ interval)
 *   @cancelable_combine(...)             -> several of them at once (OR)
 *
 * The work is an endless service loop (1 s batches); each variant stops it
 * in its own way, and the op's reason says which.
 */
#include <cancelable.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* A service loop: processes 0.05 s batches until cancelled (or 10 s). */
static int long_running_service(cx_op *op, void *user_data) {
  int *batches = user_data;
  for (*batches = 0; *batches < 200; ++*batches) {
    int rc = cx_sleep(op, 0.05);
    if (rc != 0) return rc;
  }
  return 0;
}

/* Something that happens later on another thread. */
typedef struct later {
  double delay;
  cx_token *token; /* cancel it */
  int signo;       /* or send this signal to the process */
} later;

static void *later_main(void *p) {
  later *l = p;
  sleep_s(l->delay);
  if (l->token != NULL) cx_token_cancel(l->token, CX_REASON_MANUAL, "stop");
  if (l->signo != 0) kill(getpid(), l->signo);
  return NULL;
}

/* A condition: "the queue is too long", true after a few polls. */
static atomic_int queue_length;

static int queue_too_long(void *user_data) {
  (void)user_data;
  return atomic_fetch_add(&queue_length, 10) + 10 >= 50;
}

/* Runs one variant and prints how it ended. */
static int run_variant(const char *title, const cx_run_options *opts, later *l,
                       cx_reason expected) {
  pthread_t th;
  cx_op *op = NULL;
  int batches = 0;
  if (l != NULL && pthread_create(&th, NULL, later_main, l) != 0) return 0;
  int rc = cx_run(opts, long_running_service, &batches, &op);
  if (l != NULL) pthread_join(th, NULL);
  printf("%-9s '%s': %s after %d batches, reason %s: %s\n", title,
         cx_op_name(op), cx_status_name(cx_op_status(op)), batches,
         cx_reason_name(cx_op_cancel_reason(op)),
         cx_op_cancel_message(op) ? cx_op_cancel_message(op) : "-");
  int ok = rc == -ECANCELED && cx_op_status(op) == CX_STATUS_CANCELLED &&
           cx_op_cancel_reason(op) == expected;
  cx_op_unref(op);
  return ok;
}

int main(void) {
  int ok = 1;
  cx_run_options o;
  cx_run_options init = CX_RUN_OPTIONS_INIT;

  /* Timeout. */
  o = init;
  o.name = "fetch_data";
  o.timeout = 0.2;
  ok &= run_variant("timeout", &o, NULL, CX_REASON_TIMEOUT);

  /* Token: cancelled by hand from another thread. */
  cx_token *token = cx_token_new();
  if (token == NULL) return 1;
  later lt = {0.2, token, 0};
  o = init;
  o.name = "worker";
  o.token = token;
  ok &= run_variant("token", &o, &lt, CX_REASON_MANUAL);
  cx_token_unref(token);

  /* Signal: SIGTERM or SIGINT, graceful shutdown. */
  int sigs[] = {SIGTERM, SIGINT};
  later ls = {0.2, NULL, SIGTERM};
  o = init;
  o.name = "service";
  o.watch_signals = true;
  o.signals = sigs;
  o.signal_count = 2;
  ok &= run_variant("signal", &o, &ls, CX_REASON_SIGNAL);

  /* Condition, polled every 0.05 s. */
  atomic_store(&queue_length, 0);
  o = init;
  o.name = "memory_intensive_task";
  o.condition = queue_too_long;
  o.condition_interval = 0.05;
  ok &= run_variant("condition", &o, NULL, CX_REASON_CONDITION);

  /* Combined: timeout OR token OR signal; here the token fires first,
   * then again with the timeout winning. */
  token = cx_token_new();
  if (token == NULL) return 1;
  later lc = {0.15, token, 0};
  o = init;
  o.name = "robust_operation";
  o.timeout = 3.0;
  o.token = token;
  o.watch_signals = true;
  o.signals = sigs;
  o.signal_count = 2;
  ok &= run_variant("combined", &o, &lc, CX_REASON_MANUAL);
  cx_token_unref(token);
  token = cx_token_new();
  if (token == NULL) return 1;
  o.timeout = 0.15;
  o.token = token;
  ok &= run_variant("combined", &o, NULL, CX_REASON_TIMEOUT);
  cx_token_unref(token);

  printf("example: %s\n", ok ? "ok" : "FAIL");
  return ok ? 0 : 1;
}
