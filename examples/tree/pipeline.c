/* examples/tree/pipeline.c - pattern: "Progress in Hierarchies" (issue #4).
 *
 *   async with Cancelable(name="pipeline") as pipeline:
 *       pipeline.on_progress(lambda oid, msg, meta: print(f"Pipeline: {msg}"))
 *       async with Cancelable(name="step1", parent=pipeline) as step1:
 *           step1.on_progress(lambda oid, m, meta: print(f"  Step1: {m}"))
 *           await step1.report_progress("Starting step 1")
 *           await work()
 *       async with Cancelable(name="step2", parent=pipeline) as step2:
 *           step2.on_progress(lambda oid, m, meta: print(f"  Step2: {m}"))
 *           await step2.report_progress("Starting step 2")
 *           await work()
 *
 * A step's report reaches its own callback first, then bubbles up to the
 * pipeline's, with the step's id.
 */
#include <cancelable.h>
#include <stdio.h>
#include <string.h>

typedef struct printer {
  const char *prefix;
  const char *expect_id; /* the reporting step's id */
  int calls;
  int wrong_id;
} printer;

static int print_progress(const char *op_id, const char *message,
                          const cx_meta *metadata, void *user_data) {
  printer *p = user_data;
  (void)metadata;
  printf("%s%s\n", p->prefix, message);
  p->calls++;
  if (p->expect_id != NULL && strcmp(op_id, p->expect_id) != 0) p->wrong_id++;
  return 0;
}

static int work(void) { return cx_sleep(NULL, 0.02); }

static int run_step(cx_op *pipeline, printer *pp, const char *name,
                    const char *label, const char *message) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_op *step = NULL;
  printer sp = {label, NULL, 0, 0};
  o.name = name;
  o.parent = pipeline;
  if (cx_op_create(&step, &o) != 0) return 0;
  sp.expect_id = pp->expect_id = cx_op_id(step);
  cx_op_on_progress(step, print_progress, &sp, NULL);
  cx_op_enter(step);
  cx_report_progress(step, message, NULL);
  cx_op_exit(step, work());
  int ok = sp.calls == 1 && sp.wrong_id == 0 &&
           cx_op_status(step) == CX_STATUS_COMPLETED;
  cx_op_unref(step);
  return ok;
}

int main(void) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_op *pipeline = NULL;
  printer pp = {"Pipeline: ", NULL, 0, 0};
  o.name = "pipeline";
  if (cx_op_create(&pipeline, &o) != 0) return 1;
  cx_op_on_progress(pipeline, print_progress, &pp, NULL);
  cx_op_enter(pipeline);
  int ok = run_step(pipeline, &pp, "step1", "  Step1: ", "Starting step 1");
  ok &= run_step(pipeline, &pp, "step2", "  Step2: ", "Starting step 2");
  cx_op_exit(pipeline, 0);
  ok &= pp.calls == 2 && pp.wrong_id == 0 &&
        cx_op_status(pipeline) == CX_STATUS_COMPLETED;
  cx_op_unref(pipeline);
  printf("example: %s\n", ok ? "ok" : "FAIL");
  return ok ? 0 : 1;
}
