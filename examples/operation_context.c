/* examples/operation_context.c - pattern: "Operation Context".
 *
 * An operation with a name and a timeout; while it runs, read its context
 * (id, name, status, start time); do some work made of cancellation points;
 * after exit, read why it ended (status, reason, message) and how long it
 * took.  The C form of:
 *
 *   async with Cancelable.with_timeout(30.0, name="task") as cancel:
 *       print(cancel.context.id, cancel.context.status, ...)
 *       await operation()
 *   print(cancel.context.cancel_reason, cancel.context.elapsed_time)
 *
 * Here the timeout (0.2 s) is shorter than the work (a loop of 50 ms
 * sleeps), so the timeout cancels it: status "cancelled", reason "timeout".
 */
#define _POSIX_C_SOURCE 200809L

#include <cancelable.h>
#include <stdio.h>
#include <time.h>

/* Formats wall-clock seconds since the epoch as UTC ISO 8601. */
static const char *iso_time(double t, char *buf, size_t len) {
  time_t secs = (time_t)t;
  struct tm tm;
  if (t <= 0.0 || gmtime_r(&secs, &tm) == NULL) {
    snprintf(buf, len, "-");
    return buf;
  }
  size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, len - n, ".%03dZ", (int)((t - (double)secs) * 1000.0));
  return buf;
}

/* The work: up to 100 steps of 50 ms.  cx_sleep(NULL, ...) is a
 * cancellation point of the current operation: it returns -ECANCELED as
 * soon as the operation is cancelled, here by its timeout. */
static int operation(int *steps) {
  for (*steps = 0; *steps < 100; ++*steps) {
    int rc = cx_sleep(NULL, 0.05);
    if (rc != 0) return rc;
  }
  return 0;
}

int main(void) {
  char when[64];
  cx_op *op = NULL;

  int rc = cx_op_with_timeout(&op, NULL, 0.2, "task");
  if (rc != 0) {
    fprintf(stderr, "cx_op_with_timeout: %s\n", cx_strerror(rc));
    return 1;
  }
  rc = cx_op_enter(op);
  if (rc != 0) {
    fprintf(stderr, "cx_op_enter: %s\n", cx_strerror(rc));
    cx_op_unref(op);
    return 1;
  }

  /* Context properties while running. */
  printf("ID: %s\n", cx_op_id(op));
  printf("Name: %s\n", cx_op_name(op));
  printf("Status: %s\n", cx_status_name(cx_op_status(op)));
  printf("Started: %s\n", iso_time(cx_op_start_time(op), when, sizeof when));
  printf("Time left: %.3f s\n", cx_op_remaining(op));

  int steps = 0;
  int result = operation(&steps);
  printf("Work: %d steps, returned %s\n", steps, cx_err_name(result));
  cx_op_exit(op, result);

  /* After exit: the final context. */
  printf("Status: %s\n", cx_status_name(cx_op_status(op)));
  printf("Reason: %s\n", cx_reason_name(cx_op_cancel_reason(op)));
  const char *message = cx_op_cancel_message(op);
  printf("Message: %s\n", message != NULL ? message : "-");
  printf("Ended: %s\n", iso_time(cx_op_end_time(op), when, sizeof when));
  printf("Elapsed: %.3fs\n", cx_op_elapsed(op));

  int ok = cx_op_status(op) == CX_STATUS_CANCELLED &&
           cx_op_cancel_reason(op) == CX_REASON_TIMEOUT && result == -ECANCELED;
  cx_op_unref(op);
  printf("example: %s\n", ok ? "ok" : "FAIL (expected a timeout)");
  return ok ? 0 : 1;
}
