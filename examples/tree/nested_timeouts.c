/* examples/tree/nested_timeouts.c - pattern: "Nested Timeouts" (issue #4).
 *
 *   async with Cancelable.with_timeout(60.0, name="outer") as outer:
 *       async with Cancelable.with_timeout(10.0, name="step1", parent=outer):
 *           await quick_operation()
 *       async with Cancelable.with_timeout(45.0, name="step2", parent=outer):
 *           await long_operation()
 *       # If outer times out, both steps cancel
 *       # If step times out, only that step cancels
 *
 * Two runs with short real durations:
 *   run 1: step1 (0.2 s budget) takes too long and times out; only step1
 *          is cancelled, the outer goes on, step2 and the outer complete.
 *   run 2: the outer (0.6 s budget) runs out during step2 (2 s budget):
 *          step2 is cancelled with reason "parent", the outer with
 *          "timeout".
 */
#include <cancelable.h>
#include <stdio.h>

/* Runs a step whose work is a @seconds sleep (a cancellation point). */
static cx_op *run_step(cx_op *outer, double timeout, const char *name,
                       double seconds) {
  cx_op *op = NULL;
  /* Go: context.WithTimeout(outer, timeout) */
  if (cx_op_with_timeout(&op, outer, timeout, name) != 0) return NULL;
  cx_op_enter(op);
  cx_op_exit(op, cx_sleep(NULL, seconds));
  printf("  %s: %s (reason %s)\n", name, cx_status_name(cx_op_status(op)),
         cx_reason_name(cx_op_cancel_reason(op)));
  return op;
}

static int run(int n, double outer_timeout, double step1_timeout,
               double step1_work, double step2_timeout, double step2_work,
               cx_status want1, cx_status want2, cx_status want_outer,
               cx_reason want_outer_reason) {
  cx_op *outer = NULL;
  printf("run %d:\n", n);
  if (cx_op_with_timeout(&outer, NULL, outer_timeout, "outer") != 0) return 0;
  cx_op_enter(outer);
  cx_op *s1 = run_step(outer, step1_timeout, "step1", step1_work);
  cx_op *s2 = run_step(outer, step2_timeout, "step2", step2_work);
  cx_op_exit(outer, cx_check(NULL));
  printf("  outer: %s (reason %s)\n", cx_status_name(cx_op_status(outer)),
         cx_reason_name(cx_op_cancel_reason(outer)));
  int ok = s1 && s2 && cx_op_status(s1) == want1 && cx_op_status(s2) == want2 &&
           cx_op_status(outer) == want_outer &&
           cx_op_cancel_reason(outer) == want_outer_reason;
  if (ok && want1 == CX_STATUS_CANCELLED)
    ok = cx_op_cancel_reason(s1) == CX_REASON_TIMEOUT;
  if (ok && want2 == CX_STATUS_CANCELLED)
    ok = cx_op_cancel_reason(s2) == CX_REASON_PARENT;
  cx_op_unref(s1);
  cx_op_unref(s2);
  cx_op_unref(outer);
  return ok;
}

int main(void) {
  int ok = run(1, 5.0, 0.2, 3.0, 5.0, 0.05, CX_STATUS_CANCELLED,
               CX_STATUS_COMPLETED, CX_STATUS_COMPLETED, CX_REASON_NONE);
  ok &= run(2, 0.6, 1.0, 0.05, 2.0, 3.0, CX_STATUS_COMPLETED,
            CX_STATUS_CANCELLED, CX_STATUS_CANCELLED, CX_REASON_TIMEOUT);
  printf("example: %s\n", ok ? "ok" : "FAIL");
  return ok ? 0 : 1;
}
