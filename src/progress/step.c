/* src/progress/step.c - the standard progress report in one call
 * (cx_op_progress, cx_op_progress_phase): the metadata is built here and
 * handed to cx_report_progress(), which fills in rate, percent and eta. */
#include <math.h>

#include <cancelable/meta.h>
#include <cancelable/progress.h>

#include "op/events.h"

/* Whole numbers a double holds exactly go in as integers, so readers of
 * the integer keys (cx_meta_get_int) keep working; others as doubles. */
static int set_number(cx_meta *m, const char *key, double value) {
  if (value == floor(value) && fabs(value) < 9007199254740992.0)
    return cx_meta_set_int(m, key, (int64_t)value);
  return cx_meta_set_double(m, key, value);
}

static bool valid_amounts(double current, double total) {
  return isfinite(current) && current >= 0 && isfinite(total) && total >= 0;
}

static int report_step(cx_op *op, const char *message, double current,
                       double total, const char *phase) {
  cx_meta *m;
  int rc;
  if (!valid_amounts(current, total)) return -EINVAL;
  /* Nobody listens: as cx_report_progress(), one atomic load. */
  if (!cx__op_progress_watched()) return 0;
  m = cx_meta_new();
  if (m == NULL) return -ENOMEM;
  rc = set_number(m, CX_PROGRESS_CURRENT, current);
  if (rc == 0 && total > 0) rc = set_number(m, CX_PROGRESS_TOTAL, total);
  if (rc == 0 && phase != NULL)
    rc = cx_meta_set_string(m, CX_PROGRESS_PHASE, phase);
  if (rc == 0) rc = cx_report_progress(op, message, m);
  cx_meta_free(m);
  return rc;
}

int cx_op_progress(cx_op *op, const char *message, double current,
                   double total) {
  return report_step(op, message, current, total, NULL);
}

int cx_op_progress_phase(cx_op *op, const char *message, double current,
                         double total, const char *phase) {
  return report_step(op, message, current, total, phase);
}
