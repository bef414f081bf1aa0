/* examples/registry/monitor.c - a live table of operations, issue #6 (the
 * reference's monitoring example with the OperationRegistry).
 *
 * Four worker threads each run a registered op for about 3 s, reporting
 * their progress in the op's metadata ("progress", percent).  Once a
 * second the monitor lists the live ops and prints a table: id prefix,
 * name, status, elapsed time and progress.  At 2 s it cancels the
 * "send-*" ops by pattern (as an operator would), "sync-db" fails on its
 * own, and the other two complete.  At the end it prints the history and
 * the registry's statistics and checks them.
 */
#include <cancelable.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define WORKERS 4
#define STEPS 30 /* of 0.1 s: about 3 s */

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

typedef struct job {
  const char *name;
  int fail_at; /* step at which it fails with -EIO, or -1 */
  int rc;
} job;

static int job_main(cx_op *op, void *user_data) {
  job *j = user_data;
  cx_meta *m = cx_meta_new();
  if (m == NULL) return -ENOMEM;
  for (int step = 1; step <= STEPS; step++) {
    int rc = cx_sleep(op, 0.1);
    if (rc != 0) {
      cx_meta_free(m);
      return rc;
    }
    if (step == j->fail_at) {
      cx_meta_free(m);
      return -EIO;
    }
    cx_meta_set_double(m, CX_PROGRESS_PERCENT, 100.0 * step / STEPS);
    cx_meta_set_int(m, CX_PROGRESS_CURRENT, step);
    cx_op_update_metadata(op, m);
  }
  cx_meta_free(m);
  return 0;
}

static void *worker_main(void *p) {
  job *j = p;
  cx_run_options opts = CX_RUN_OPTIONS_INIT;
  opts.name = j->name;
  opts.register_op = true;
  opts.timeout = 10.0;
  j->rc = cx_run(&opts, job_main, j, NULL);
  return NULL;
}

static void print_row(cx_op *op) {
  char progress[16] = "-";
  double pct;
  cx_meta *m = cx_op_metadata(op);
  if (m != NULL && cx_meta_get_double(m, CX_PROGRESS_PERCENT, &pct) == 0)
    snprintf(progress, sizeof progress, "%.0f%%", pct);
  cx_meta_free(m);
  printf("%-8.8s  %-14s %-10s %6.1fs  %8s\n", cx_op_id(op), cx_op_name(op),
         cx_status_name(cx_op_status(op)), cx_op_elapsed(op), progress);
}

static void print_table(const char *title, const cx_op_list *l) {
  printf("--- %s: %zu operations\n", title, l->count);
  printf("%-8s  %-14s %-10s %7s  %8s\n", "ID", "NAME", "STATUS", "ELAPSED",
         "PROGRESS");
  for (size_t i = 0; i < l->count; i++) print_row(l->ops[i]);
}

int main(void) {
  job jobs[WORKERS] = {{"download-file", -1, 0},
                       {"resize-images", -1, 0},
                       {"sync-db", 15, 0},
                       {"send-emails", -1, 0}};
  pthread_t th[WORKERS];
  int ok = 1, tables = 0;

  cx_registry_clear();
  for (int i = 0; i < WORKERS; i++)
    if (pthread_create(&th[i], NULL, worker_main, &jobs[i]) != 0) return 1;

  /* The monitor: a table once a second while anything runs. */
  for (int tick = 1; tick <= 5; tick++) {
    char title[32];
    cx_op_list live = {0};
    sleep_s(1.0);
    if (cx_registry_list(NULL, &live) != 0) return 1;
    if (live.count == 0) {
      cx_op_list_free(&live);
      break;
    }
    snprintf(title, sizeof title, "t=%ds", tick);
    print_table(title, &live);
    tables++;
    cx_op_list_free(&live);
    if (tick == 2) {
      cx_op_filter f = CX_OP_FILTER_INIT;
      f.name_pattern = "send-*";
      long n = cx_registry_cancel_all(&f, CX_REASON_MANUAL,
                                      "cancelled by the operator");
      printf("monitor: cancelled %ld op(s) matching 'send-*'\n", n);
      ok &= n == 1;
    }
  }
  for (int i = 0; i < WORKERS; i++) pthread_join(th[i], NULL);

  cx_op_list hist = {0};
  if (cx_registry_history(NULL, 0, &hist) != 0) return 1;
  print_table("finished (newest first)", &hist);
  cx_op_list_free(&hist);

  cx_registry_stats st;
  if (cx_registry_get_stats(&st) != 0) return 1;
  printf(
      "stats: live=%zu completed=%llu cancelled=%llu failed=%llu "
      "average=%.1fs history=%zu\n",
      st.live, (unsigned long long)st.completed,
      (unsigned long long)st.cancelled, (unsigned long long)st.failed,
      st.average_duration, st.history);

  ok &= tables >= 2;
  ok &= jobs[0].rc == 0 && jobs[1].rc == 0;
  ok &= jobs[2].rc == -EIO && jobs[3].rc == -ECANCELED;
  ok &= st.live == 0 && st.completed == 2 && st.cancelled == 1 &&
        st.failed == 1 && st.history == 4;
  ok &= st.average_duration > 1.0 && st.average_duration < 5.0;
  printf("example: %s\n", ok ? "ok" : "FAIL");
  return ok ? 0 : 1;
}
