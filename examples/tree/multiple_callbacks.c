/* examples/tree/multiple_callbacks.c - pattern: "Multiple Callbacks"
 * (issue #4).
 *
 *   async with Cancelable(name="processor") as cancel:
 *       def update_ui(op_id, msg, meta):      # progress bar + status label
 *       def log_progress(op_id, msg, meta):   # logger.info(...)
 *       def update_metrics(op_id, msg, meta): # metrics.gauge(...)
 *       cancel.on_progress(update_ui)
 *       cancel.on_progress(log_progress)
 *       cancel.on_progress(update_metrics)
 *       await process_data()
 *
 * Each callback has its own user data (a progress bar, a log stream, a
 * metrics registry); they run in registration order for every report.
 */
#include <cancelable.h>
#include <stdio.h>
#include <string.h>

typedef struct ui {
  char bar[11];
  char label[64];
  int updates;
} ui;

typedef struct metrics {
  double gauge; /* operation.progress */
  int samples;
} metrics;

static int order_ok = 1;
static int last = 0; /* 1 ui, 2 log, 3 metrics */

static double percent_of(const cx_meta *meta) {
  double p = 0;
  cx_meta_get_double(meta, CX_PROGRESS_PERCENT, &p);
  return p;
}

static int update_ui(const char *op_id, const char *msg, const cx_meta *meta,
                     void *user_data) {
  ui *u = user_data;
  int filled = (int)(percent_of(meta) / 10);
  (void)op_id;
  for (int i = 0; i < 10; i++) u->bar[i] = i < filled ? '#' : ' ';
  u->bar[10] = '\0';
  snprintf(u->label, sizeof u->label, "%s", msg);
  u->updates++;
  printf("UI: [%s] %3.0f%% %s\n", u->bar, percent_of(meta), u->label);
  order_ok &= last == 0 || last == 3;
  last = 1;
  return 0;
}

static int log_progress(const char *op_id, const char *msg, const cx_meta *meta,
                        void *user_data) {
  FILE *log = user_data;
  fprintf(log, "LOG: INFO Operation %s: %s {", op_id, msg);
  for (size_t i = 0; i < cx_meta_count(meta); i++) {
    const char *key = cx_meta_key_at(meta, i);
    double d = 0;
    cx_meta_get_double(meta, key, &d);
    fprintf(log, "%s%s=%g", i ? ", " : "", key, d);
  }
  fprintf(log, "}\n");
  order_ok &= last == 1;
  last = 2;
  return 0;
}

static int update_metrics(const char *op_id, const char *msg,
                          const cx_meta *meta, void *user_data) {
  metrics *m = user_data;
  (void)op_id;
  (void)msg;
  m->gauge = percent_of(meta);
  m->samples++;
  printf("METRICS: operation.progress=%g\n", m->gauge);
  order_ok &= last == 2;
  last = 3;
  return 0;
}

static int process_data(void) {
  for (int chunk = 1; chunk <= 4; chunk++) {
    char message[64];
    cx_meta *m = cx_meta_new();
    int rc = cx_sleep(NULL, 0.01);
    if (rc != 0) {
      cx_meta_free(m);
      return rc;
    }
    snprintf(message, sizeof message, "Processing chunk %d/4", chunk);
    cx_meta_set_double(m, CX_PROGRESS_PERCENT, chunk * 25.0);
    cx_report_progress(NULL, message, m);
    cx_meta_free(m);
  }
  return 0;
}

int main(void) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_op *op = NULL;
  ui bar = {"", "", 0};
  metrics gauges = {0, 0};
  o.name = "processor";
  if (cx_op_create(&op, &o) != 0) return 1;
  cx_op_on_progress(op, update_ui, &bar, NULL);
  cx_op_on_progress(op, log_progress, stdout, NULL);
  cx_op_on_progress(op, update_metrics, &gauges, NULL);
  cx_op_enter(op);
  cx_op_exit(op, process_data());
  int ok = cx_op_status(op) == CX_STATUS_COMPLETED && order_ok &&
           bar.updates == 4 && gauges.samples == 4 && gauges.gauge == 100.0 &&
           strcmp(bar.bar, "##########") == 0;
  cx_op_unref(op);
  printf("example: %s\n", ok ? "ok" : "FAIL");
  return ok ? 0 : 1;
}
