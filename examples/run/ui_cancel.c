/* examples/run/ui_cancel.c - a worker thread cancelled by a "UI" thread,
 * issue #5 (the thread side of the seed's current_operation() and
 * run_in_thread).
 *
 * The main thread enters a "download" op and starts the worker with
 * cx_thread_create(), so the worker's current op is "download": it needs
 * no parameter and its cx_sleep(NULL, ...) calls are cancellation points
 * of that op.  A "UI" thread, standing for a Cancel button, cancels the op
 * after 0.3 s; the worker stops at once with the chunks it had done.
 */
#include <cancelable.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

typedef struct download {
  int chunks;
  int rc;
} download;

/* The worker: 100 chunks of 0.05 s, progress after each. */
static void *worker_main(void *p) {
  download *d = p;
  cx_op *op = cx_current(); /* inherited from the creating thread */
  printf("worker: downloading in op '%s'\n", cx_op_name(op));
  for (d->chunks = 0; d->chunks < 100; d->chunks++) {
    d->rc = cx_sleep(NULL, 0.05);
    if (d->rc != 0) break;
  }
  printf("worker: stopped after %d chunks: %s (%s)\n", d->chunks,
         cx_err_name(d->rc), cx_op_cancel_message(op));
  return NULL;
}

/* The UI: the user clicks Cancel. */
static void *ui_main(void *p) {
  cx_op *op = p;
  sleep_s(0.3);
  printf("ui: user clicked Cancel\n");
  cx_op_cancel(op, CX_REASON_MANUAL, "user clicked Cancel");
  return NULL;
}

int main(void) {
  cx_op_options opts = CX_OP_OPTIONS_INIT;
  cx_op *op = NULL;
  pthread_t worker, ui;
  download d = {0, 0};
  int ok = 1;

  opts.name = "download";
  if (cx_op_create(&op, &opts) != 0 || cx_op_enter(op) != 0) return 1;
  if (cx_thread_create(&worker, NULL, worker_main, &d) != 0) return 1;
  if (pthread_create(&ui, NULL, ui_main, op) != 0) return 1;
  pthread_join(worker, NULL);
  pthread_join(ui, NULL);
  cx_op_exit(op, d.rc);

  printf("download: %s, reason %s, after %.1f s\n",
         cx_status_name(cx_op_status(op)),
         cx_reason_name(cx_op_cancel_reason(op)), cx_op_elapsed(op));
  ok &= d.rc == -ECANCELED && d.chunks > 0 && d.chunks < 100;
  ok &= cx_op_status(op) == CX_STATUS_CANCELLED &&
        cx_op_cancel_reason(op) == CX_REASON_MANUAL && cx_op_elapsed(op) < 3.0;
  cx_op_unref(op);

  printf("example: %s\n", ok ? "ok" : "FAIL");
  return ok ? 0 : 1;
}
