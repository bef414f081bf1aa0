/* examples/sources/or_of_and.c - the seed's "Combining OR and AND Logic":
 *   (hard timeout OR SIGTERM) OR (minimum time AND target count)
 * built as any_of(any_of(timeout, signal), all_of(timeout, condition)).
 * Three runs show each way out:
 *   1. the AND branch completes (minimum time passed and target reached);
 *   2. SIGTERM arrives (sent to the process by another thread) before the
 *      target is reached;
 *   3. the hard timeout fires first.
 * Durations are short so that the example runs in about a second.
 * Issue #3.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cancelable.h>

#define TARGET 1000

static atomic_long items;

static void check(bool ok, const char *what) {
  if (!ok) {
    printf("check failed: %s\nexample: FAIL\n", what);
    exit(1);
  }
}

static int target_reached(void *user_data) {
  (void)user_data;
  return atomic_load(&items) >= TARGET;
}

/* Builds the op: hard timeout, SIGTERM, and (min_time AND target). */
static cx_op *make_job(double hard_timeout, double min_time) {
  cx_source *hard, *sig, *safety, *min_src, *target, *requirements, *final;
  cx_op *op;
  int sigterm = SIGTERM;
  check(cx_source_timeout(&hard, hard_timeout) == 0, "hard timeout");
  check(cx_source_signal(&sig, &sigterm, 1) == 0, "signal");
  cx_source *net[] = {hard, sig};
  check(cx_source_any_of(&safety, net, 2) == 0, "safety net");
  check(cx_source_timeout(&min_src, min_time) == 0, "minimum time");
  check(cx_source_condition(&target, target_reached, NULL, NULL, 0.02,
                            "target") == 0,
        "target");
  cx_source *req[] = {min_src, target};
  check(cx_source_all_of(&requirements, req, 2) == 0, "requirements");
  cx_source *both[] = {safety, requirements};
  check(cx_source_any_of(&final, both, 2) == 0, "final");
  check(cx_op_with_timeout(&op, NULL, 30.0, "job") == 0, "op"); /* test net */
  check(cx_op_add_source(op, final) == 0, "add");
  return op;
}

/* Runs the job: processes items every @item_seconds until cancelled. */
static int run_job(cx_op *op, double item_seconds, long max_items) {
  int rc;
  while ((rc = cx_sleep(op, item_seconds)) == 0)
    if (atomic_load(&items) < max_items) atomic_fetch_add(&items, 1);
  return rc;
}

static void report(const char *branch, cx_op *op) {
  printf("%s: %s after %.2f s with %ld items, reason %s: %s\n", branch,
         cx_status_name(cx_op_status(op)), cx_op_elapsed(op),
         atomic_load(&items), cx_reason_name(cx_op_cancel_reason(op)),
         cx_op_cancel_message(op));
  fflush(stdout);
}

static atomic_bool job_entered;

static void *send_sigterm(void *arg) {
  struct timespec ts = {0, 100 * 1000 * 1000};
  (void)arg;
  while (!atomic_load(&job_entered)) nanosleep(&ts, NULL);
  nanosleep(&ts, NULL);
  kill(getpid(), SIGTERM); /* to the process, from another thread */
  return NULL;
}

int main(void) {
  cx_op *op;
  int rc;

  /* 1. The AND branch: 0.3 s minimum AND 1000 items (items are fast). */
  atomic_store(&items, 0);
  op = make_job(5.0, 0.3);
  check(cx_op_enter(op) == 0, "enter 1");
  rc = run_job(op, 0.0001, TARGET * 100);
  cx_op_exit(op, rc);
  report("AND branch", op);
  check(cx_op_status(op) == CX_STATUS_CANCELLED, "1: cancelled");
  check(strncmp(cx_op_cancel_message(op),
                "all 2 sources triggered (the last: ", 35) == 0,
        "1: all-of message");
  /* the AND branch fired (its last member: the time or the count) */
  check(strncmp(cx_op_cancel_source(op), "any_of/all_of/", 14) == 0,
        "1: the AND branch is the source");
  check(cx_op_elapsed(op) >= 0.3 - 1e-3 && atomic_load(&items) >= TARGET,
        "1: both requirements met");
  cx_op_unref(op);

  /* 2. The signal branch: items are slow and stop short of the target, so
   * the AND branch cannot complete; SIGTERM stops the job. */
  atomic_store(&items, 0);
  op = make_job(5.0, 0.05);
  pthread_t sender;
  check(cx_op_enter(op) == 0, "enter 2");
  atomic_store(&job_entered, true);
  check(pthread_create(&sender, NULL, send_sigterm, NULL) == 0, "sender");
  rc = run_job(op, 0.001, 10);
  cx_op_exit(op, rc);
  pthread_join(sender, NULL);
  report("signal branch", op);
  check(cx_op_cancel_reason(op) == CX_REASON_SIGNAL, "2: reason signal");
  check(strstr(cx_op_cancel_message(op), "SIGTERM") != NULL, "2: message");
  check(atomic_load(&items) < TARGET, "2: target not reached");
  cx_op_unref(op);

  /* 3. The hard timeout: 0.2 s, while the minimum time is 5 s. */
  atomic_store(&items, 0);
  op = make_job(0.2, 5.0);
  check(cx_op_enter(op) == 0, "enter 3");
  rc = run_job(op, 0.0001, TARGET * 100);
  cx_op_exit(op, rc);
  report("hard timeout branch", op);
  check(cx_op_cancel_reason(op) == CX_REASON_TIMEOUT, "3: reason timeout");
  check(strncmp(cx_op_cancel_message(op), "timed out after 0.2 s", 21) == 0,
        "3: the hard timeout's own message");
  /* Both branches 1 and 3 end with reason timeout: the source tells them
   * apart (issue 17). */
  check(strcmp(cx_op_cancel_source(op), "any_of/any_of/timeout") == 0,
        "3: the hard timeout is the source");
  cx_op_unref(op);
  printf("example: ok\n");
  return 0;
}
