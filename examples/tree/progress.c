/* examples/tree/progress.c - pattern: "Progress Reporting" (issue #4).
 *
 *   async with Cancelable(name="processor") as cancel:
 *       def on_progress(operation_id, message, metadata):
 *           print(f"[{operation_id}] {message}")
 *           print(f"Progress: {metadata.get('progress', 0)}%")
 *       cancel.on_progress(on_progress)
 *       for i, item in enumerate(items):
 *           await process_item(item)
 *           if i % 100 == 0:
 *               await cancel.report_progress(f"Processed {i}/{total} items",
 *                   {"progress": (i / total) * 100, "current": i,
 *                    "total": total})
 *
 * 1000 items, a report every 100: ten reports, 0% to 90%.  The library
 * also fills in "rate" and "eta" from current/total.
 */
#include <cancelable.h>
#include <stdio.h>

typedef struct seen {
  int reports;
  double last_percent;
} seen;

static int on_progress(const char *op_id, const char *message,
                       const cx_meta *metadata, void *user_data) {
  seen *s = user_data;
  double percent = 0;
  cx_meta_get_double(metadata, CX_PROGRESS_PERCENT, &percent);
  printf("[%s] %s\n", op_id, message);
  printf("Progress: %.1f%%\n", percent);
  s->reports++;
  s->last_percent = percent;
  return 0;
}

static int process_item(int item) {
  (void)item;
  return cx_check(NULL); /* a cancellation point per item */
}

int main(void) {
  enum { TOTAL = 1000 };
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_op *op = NULL;
  seen s = {0, -1};
  int rc = 0;
  o.name = "processor";
  if (cx_op_create(&op, &o) != 0) return 1;
  cx_op_on_progress(op, on_progress, &s, NULL);
  cx_op_enter(op);
  for (int i = 0; i < TOTAL && rc == 0; i++) {
    rc = process_item(i);
    if (i % 100 == 0) {
      char message[64];
      cx_meta *m = cx_meta_new();
      snprintf(message, sizeof message, "Processed %d/%d items", i, TOTAL);
      cx_meta_set_double(m, CX_PROGRESS_PERCENT, (double)i / TOTAL * 100);
      cx_meta_set_int(m, CX_PROGRESS_CURRENT, i);
      cx_meta_set_int(m, CX_PROGRESS_TOTAL, TOTAL);
      cx_report_progress(op, message, m);
      cx_meta_free(m);
    }
  }
  cx_op_exit(op, rc);
  int ok = rc == 0 && cx_op_status(op) == CX_STATUS_COMPLETED &&
           s.reports == 10 && s.last_percent == 90.0;
  printf("%d reports\n", s.reports);
  cx_op_unref(op);
  printf("example: %s\n", ok ? "ok" : "FAIL");
  return ok ? 0 : 1;
}
