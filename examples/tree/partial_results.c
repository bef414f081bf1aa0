/* examples/tree/partial_results.c - pattern: "Partial Results" (issue #4).
 *
 *   async with Cancelable.with_timeout(60.0) as cancel:
 *       results = []
 *       for i, item in enumerate(large_dataset):
 *           results.append(await process_item(item))
 *           if i % 100 == 0:
 *               cancel.context.partial_result = {"processed": i,
 *                   "results": results[:], "progress": i / len(large_dataset)}
 *   ...
 *   partial = cancel.context.partial_result
 *   print(f"Processed {partial['processed']} items before cancel")
 *
 * Here the budget is 0.3 s for 100 000 items of about 1 ms each: the
 * timeout cancels the work; the last snapshot is read after exit.
 */
#include <cancelable.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DATASET = 100000 };

typedef struct snapshot {
  int processed;
  int *results;
  int count;
  double progress;
} snapshot;

static void snapshot_free(void *p) {
  snapshot *s = p;
  free(s->results);
  free(s);
}

static int process_item(int item, int *result) {
  int rc = cx_sleep(NULL, 0.001);
  *result = item * item;
  return rc;
}

static int process_dataset(cx_op *op, int *results) {
  for (int i = 0; i < DATASET; i++) {
    int rc = process_item(i, &results[i]);
    if (rc != 0) return rc;
    if (i % 100 == 0) {
      snapshot *s = malloc(sizeof *s);
      if (s == NULL) return -ENOMEM;
      s->processed = i;
      s->count = i + 1;
      s->results = malloc(sizeof(int) * (size_t)s->count);
      if (s->results == NULL) {
        free(s);
        return -ENOMEM;
      }
      memcpy(s->results, results, sizeof(int) * (size_t)s->count);
      s->progress = (double)i / DATASET;
      cx_op_set_partial_result(op, s, snapshot_free);
    }
  }
  return 0;
}

int main(void) {
  cx_op *op = NULL;
  int *results = calloc(DATASET, sizeof *results);
  if (results == NULL || cx_op_with_timeout(&op, NULL, 0.3, "dataset") != 0)
    return 1;
  cx_op_enter(op);
  int rc = process_dataset(op, results);
  cx_op_exit(op, rc);
  printf("status: %s, reason: %s\n", cx_status_name(cx_op_status(op)),
         cx_reason_name(cx_op_cancel_reason(op)));

  int ok = cx_op_status(op) == CX_STATUS_CANCELLED &&
           cx_op_cancel_reason(op) == CX_REASON_TIMEOUT;
  const snapshot *partial = cx_op_partial_result(op);
  if (partial != NULL) {
    printf("Processed %d items before cancel\n", partial->processed);
    printf("kept %d results (%.2f%% of the dataset)\n", partial->count,
           partial->progress * 100);
    ok &= partial->processed % 100 == 0 &&
          partial->count == partial->processed + 1;
    for (int i = 0; ok && i < partial->count; i++)
      ok &= partial->results[i] == i * i;
  } else {
    ok = 0;
  }
  cx_op_unref(op); /* frees the snapshot */
  free(results);
  printf("example: %s\n", ok ? "ok" : "FAIL");
  return ok ? 0 : 1;
}
