/* examples/sources/min_time_and_target.c - the seed's AND example
 * ("Custom Combining Patterns"): a batch job that must run for a minimum
 * time AND process a target number of items before it stops.  An all-of
 * source of a timeout (the minimum time) and a condition (the target
 * count) cancels the job once both have triggered.  Durations are short
 * (0.3 s, 1000 items) so that the example runs quickly.  Issue #3.
 *
 * Python original:
 *   min_time_source = TimeoutSource(timeout=60.0)
 *   target_reached_source = ConditionSource(
 *       condition=lambda: items_processed >= 1000, check_interval=1.0)
 *   all_of = AllOfSource([min_time_source, target_reached_source])
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cancelable.h>

#define MIN_TIME 0.3
#define TARGET 1000

static atomic_long items_processed;

static int target_reached(void *user_data) {
  (void)user_data;
  return atomic_load(&items_processed) >= TARGET;
}

static void check(bool ok, const char *what) {
  if (!ok) {
    printf("check failed: %s\nexample: FAIL\n", what);
    exit(1);
  }
}

/* Processing one item: a little real work. */
static int process_item(cx_op *op) {
  int rc = cx_sleep(op, 0.0001);
  if (rc == 0) atomic_fetch_add(&items_processed, 1);
  return rc;
}

int main(void) {
  cx_source *min_time, *target, *all_of;
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_op *job;
  int rc;

  check(cx_source_timeout(&min_time, MIN_TIME) == 0, "timeout source");
  check(cx_source_condition(&target, target_reached, NULL, NULL, 0.02,
                            "target") == 0,
        "condition source");
  cx_source *both[] = {min_time, target};
  check(cx_source_all_of(&all_of, both, 2) == 0, "all_of");

  o.name = "batch_job";
  check(cx_op_create(&job, &o) == 0, "create");
  check(cx_op_add_source(job, all_of) == 0, "add source");

  check(cx_op_enter(job) == 0, "enter");
  /* Continues until BOTH the minimum time passed AND the target is met. */
  while ((rc = process_item(job)) == 0) {
  }
  double elapsed = cx_op_elapsed(job);
  cx_op_exit(job, rc);

  long items = atomic_load(&items_processed);
  printf("items processed: %ld in %.2f s\n", items, elapsed);
  printf("status: %s, reason: %s\n", cx_status_name(cx_op_status(job)),
         cx_reason_name(cx_op_cancel_reason(job)));
  printf("message: %s\n", cx_op_cancel_message(job));

  check(cx_op_status(job) == CX_STATUS_CANCELLED, "job cancelled");
  check(items >= TARGET, "target count reached before the stop");
  check(elapsed >= MIN_TIME - 1e-3, "minimum time passed before the stop");
  /* The reason is that of the source that completed the set. */
  check(cx_op_cancel_reason(job) == CX_REASON_TIMEOUT ||
            cx_op_cancel_reason(job) == CX_REASON_CONDITION,
        "reason of the completing source");
  check(strncmp(cx_op_cancel_message(job),
                "all 2 sources triggered (the last: ", 35) == 0,
        "all-of message");
  cx_op_unref(job);
  printf("example: ok\n");
  return 0;
}
