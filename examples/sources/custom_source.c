/* examples/sources/custom_source.c - a custom cancellation source written
 * with the public source API: it triggers when a file appears (see
 * file_source.c: start() launches a polling thread, stop() joins it).
 *   1. A "waiting" op is cancelled when another thread creates the file:
 *      reason condition, message "file PATH appeared".
 *   2. The work finishes before the file appears: the op completes and the
 *      source's thread is stopped and joined by cx_op_exit().
 * Usage: custom_source [DIR]  (a scratch folder; created and removed).
 * Issue #3.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cancelable.h>

#include "file_source.h"

static char ready_path[4096];

static void check(bool ok, const char *what) {
  if (!ok) {
    printf("check failed: %s\nexample: FAIL\n", what);
    exit(1);
  }
}

static void *create_file_later(void *arg) {
  struct timespec ts = {0, 200 * 1000 * 1000};
  FILE *f;
  (void)arg;
  nanosleep(&ts, NULL);
  f = fopen(ready_path, "w");
  if (f != NULL) fclose(f);
  return NULL;
}

static cx_op *watching_op(const char *name) {
  cx_source *src;
  cx_op *op;
  check(file_source_new(ready_path, 0.01, &src) == 0, "file source");
  check(strcmp(cx_source_name(src), "file") == 0, "source name");
  check(cx_op_with_timeout(&op, NULL, 10.0, name) == 0, "op"); /* safety net */
  check(cx_op_add_source(op, src) == 0, "add");
  return op;
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "custom_source.tmp";
  pthread_t creator;
  cx_op *op;
  int rc;

  mkdir(dir, 0700);
  snprintf(ready_path, sizeof ready_path, "%s/ready", dir);
  unlink(ready_path);

  /* 1. Wait for the file. */
  op = watching_op("wait_for_file");
  check(cx_op_enter(op) == 0, "enter 1");
  check(file_source_threads_running() == 1, "watcher thread started");
  check(pthread_create(&creator, NULL, create_file_later, NULL) == 0, "thread");
  rc = cx_sleep(op, 30.0);
  cx_op_exit(op, rc);
  pthread_join(creator, NULL);
  printf("wait for file: %s, reason %s: %s\n", cx_status_name(cx_op_status(op)),
         cx_reason_name(cx_op_cancel_reason(op)), cx_op_cancel_message(op));
  check(rc == -ECANCELED, "1: cancelled by the file");
  check(cx_op_cancel_reason(op) == CX_REASON_CONDITION, "1: reason");
  check(strstr(cx_op_cancel_message(op), "appeared") != NULL, "1: message");
  check(file_source_threads_running() == 0, "1: watcher joined by exit");
  cx_op_unref(op);
  unlink(ready_path);

  /* 2. The work finishes first. */
  op = watching_op("quick_work");
  check(cx_op_enter(op) == 0, "enter 2");
  rc = cx_sleep(op, 0.05); /* the work */
  cx_op_exit(op, rc);
  long checks_at_exit = file_source_checks();
  printf("work finished first: %s\n", cx_status_name(cx_op_status(op)));
  check(cx_op_status(op) == CX_STATUS_COMPLETED, "2: completed");
  check(file_source_threads_running() == 0, "2: watcher joined by exit");
  struct timespec ts = {0, 50 * 1000 * 1000};
  nanosleep(&ts, NULL);
  check(file_source_checks() == checks_at_exit, "2: no check after exit");
  cx_op_unref(op);
  rmdir(dir);
  printf("example: ok\n");
  return 0;
}
