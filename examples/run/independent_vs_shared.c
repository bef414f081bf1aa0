/* examples/run/independent_vs_shared.c - pattern: "@cancelable vs
 * @with_cancelable" (seed: Decorators), issue #5.
 *
 * 1. cx_run(): each call gets a fresh op with its own 0.5 s timeout, so
 *    three 0.2 s calls all finish although together they take 0.6 s:
 *
 *      @cancelable(timeout=5.0, name="process_item")
 *      async def process_item(item, cancelable): ...
 *      await process_item("A"); await process_item("B"); ...
 *
 * 2. cx_run_in(): every call runs inside ONE shared op with a 0.5 s budget,
 *    entered once by the caller; A and B fit, C runs out the budget:
 *
 *      batch_cancel = Cancelable.with_timeout(5.0, name="batch")
 *      @with_cancelable(batch_cancel)
 *      async def process_item(item): ctx = current_operation() ...
 *      async with batch_cancel: await process_item("A") ...
 */
#include <cancelable.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The work: report progress, then 0.2 s of "work" (a cancellation point).
 * It receives its op; cx_current() would give the same one. */
static int process_item(cx_op *op, void *user_data) {
  const char *item = user_data;
  char msg[64];
  snprintf(msg, sizeof msg, "Processing %s", item);
  cx_report_progress(op, msg, NULL);
  int rc = cx_sleep(op, 0.2);
  if (rc == 0) printf("  Done: %s (op '%s')\n", item, cx_op_name(op));
  return rc;
}

int main(void) {
  const char *items[] = {"A", "B", "C"};
  int ok = 1;

  /* 1. Independent: a fresh op and a fresh 0.5 s timeout per call. */
  printf("independent (cx_run, 0.5 s per call):\n");
  cx_run_options opts = CX_RUN_OPTIONS_INIT;
  opts.name = "process_item";
  opts.timeout = 0.5;
  double t0 = now();
  int done = 0;
  char id_a[CX_ID_LEN + 1] = "";
  for (int i = 0; i < 3; i++) {
    cx_op *op = NULL;
    int rc = cx_run(&opts, process_item, (void *)items[i], &op);
    if (rc == 0) done++;
    if (i == 0) snprintf(id_a, sizeof id_a, "%s", cx_op_id(op));
    if (i > 0 && strcmp(id_a, cx_op_id(op)) == 0) ok = 0; /* a fresh op */
    cx_op_unref(op);
  }
  double took = now() - t0;
  printf(
      "independent: %d of 3 done in %.1f s (more than one 0.5 s "
      "budget)\n",
      done, took);
  if (done != 3 || took < 0.55) ok = 0;

  /* 2. Shared: one op, one 0.5 s budget for all the calls. */
  printf("shared (cx_run_in, one 0.5 s budget):\n");
  cx_op *batch = NULL;
  if (cx_op_with_timeout(&batch, NULL, 0.5, "batch") != 0 ||
      cx_op_enter(batch) != 0)
    return 1;
  int results[3];
  for (int i = 0; i < 3; i++) {
    results[i] = cx_run_in(batch, process_item, (void *)items[i]);
    if (results[i] != 0)
      printf("  %s: %s\n", items[i], cx_err_name(results[i]));
  }
  cx_op_exit(batch, results[2]);
  printf("shared: batch %s (%s) after %.1f s\n",
         cx_status_name(cx_op_status(batch)),
         cx_reason_name(cx_op_cancel_reason(batch)), cx_op_elapsed(batch));
  if (results[0] != 0 || results[1] != 0 || results[2] != -ECANCELED ||
      cx_op_status(batch) != CX_STATUS_CANCELLED ||
      cx_op_cancel_reason(batch) != CX_REASON_TIMEOUT)
    ok = 0;
  cx_op_unref(batch);

  printf("example: %s\n", ok ? "ok" : "FAIL");
  return ok ? 0 : 1;
}
