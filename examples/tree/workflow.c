/* examples/tree/workflow.c - pattern: "Combining Hierarchies and Progress"
 * (issue #4).
 *
 *   async with Cancelable(name="workflow") as workflow:
 *       workflow.on_progress(lambda oid, m, meta: logger.info(f"Workflow:
 * {m}")) async with Cancelable(name="stage1", parent=workflow) as stage1:
 *           stage1.on_progress(lambda oid, m, meta: print(f"  Stage 1: {m}"))
 *           for i in range(100):
 *               await work()
 *               if i % 10 == 0:
 *                   await stage1.report_progress(f"Stage 1: {i}/100",
 *                       {"progress": i, "stage": "fetch"})
 *       async with Cancelable(name="stage2", parent=workflow) as stage2:
 *           ... range(200), every 20, {"progress": i, "stage": "process"}
 *
 * The workflow's "logger" writes "INFO workflow: ..." lines (with the
 * stage from the metadata); each stage prints its own reports.
 */
#include <cancelable.h>
#include <stdio.h>
#include <string.h>

typedef struct counts {
  int fetch;
  int process;
  int total;
} counts;

static int workflow_log(const char *op_id, const char *message,
                        const cx_meta *metadata, void *user_data) {
  counts *c = user_data;
  const char *stage = "?";
  (void)op_id;
  cx_meta_get_string(metadata, "stage", &stage);
  printf("INFO workflow: Workflow: %s [stage=%s]\n", message, stage);
  if (strcmp(stage, "fetch") == 0) c->fetch++;
  if (strcmp(stage, "process") == 0) c->process++;
  c->total++;
  return 0;
}

static int stage_print(const char *op_id, const char *message,
                       const cx_meta *metadata, void *user_data) {
  int *calls = user_data;
  (void)op_id;
  (void)metadata;
  /* The label is the op's name: "  Stage N: ". */
  printf("  Stage %d: %s\n", calls[1], message);
  calls[0]++;
  return 0;
}

static int work(void) { return cx_check(NULL); }

static int run_stage(cx_op *workflow, int number, int items, int every,
                     const char *stage_key) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_op *stage = NULL;
  char name[16];
  int calls[2] = {0, number};
  int rc = 0;
  snprintf(name, sizeof name, "stage%d", number);
  o.name = name;
  o.parent = workflow;
  if (cx_op_create(&stage, &o) != 0) return 0;
  cx_op_on_progress(stage, stage_print, calls, NULL);
  cx_op_enter(stage);
  for (int i = 0; i < items && rc == 0; i++) {
    rc = work();
    if (i % every == 0) {
      char message[64];
      cx_meta *m = cx_meta_new();
      snprintf(message, sizeof message, "Stage %d: %d/%d", number, i, items);
      cx_meta_set_int(m, CX_PROGRESS_PERCENT, i);
      cx_meta_set_string(m, "stage", stage_key);
      cx_report_progress(stage, message, m);
      cx_meta_free(m);
    }
  }
  cx_op_exit(stage, rc);
  int ok = cx_op_status(stage) == CX_STATUS_COMPLETED && calls[0] == 10;
  cx_op_unref(stage);
  return ok;
}

int main(void) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_op *workflow = NULL;
  counts c = {0, 0, 0};
  o.name = "workflow";
  if (cx_op_create(&workflow, &o) != 0) return 1;
  cx_op_on_progress(workflow, workflow_log, &c, NULL);
  cx_op_enter(workflow);
  int ok = run_stage(workflow, 1, 100, 10, "fetch");
  ok &= run_stage(workflow, 2, 200, 20, "process");
  cx_op_exit(workflow, 0);
  printf("workflow saw %d reports (%d fetch, %d process)\n", c.total, c.fetch,
         c.process);
  ok &= c.total == 20 && c.fetch == 10 && c.process == 10 &&
        cx_op_status(workflow) == CX_STATUS_COMPLETED;
  cx_op_unref(workflow);
  printf("example: %s\n", ok ? "ok" : "FAIL");
  return ok ? 0 : 1;
}
