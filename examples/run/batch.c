/* examples/run/batch.c - pattern: "Example: Batch Processing" (seed:
 * Wrapping Operations), issue #5.
 *
 *   async with Cancelable.with_timeout(60.0, name="batch") as cancel:
 *       wrapped_process = cancel.wrap(process_item)
 *       for item in large_dataset:
 *           result = await wrapped_process(item)
 *           results.append(result)
 *
 * 1000 items of 0.02 s each under a 0.5 s timeout: the loop stops early,
 * at the first call after the timeout (or inside the item it interrupts),
 * and keeps what it has done as the op's partial result.
 */
#include <cancelable.h>
#include <stdio.h>
#include <stdlib.h>

#define ITEMS 1000

typedef struct results {
  int values[ITEMS];
  int count;
} results;

typedef struct item_call {
  int item;
  results *out;
} item_call;

static int process_item(cx_op *op, void *user_data) {
  item_call *c = user_data;
  int rc = cx_sleep(op, 0.02);
  if (rc != 0) return rc;
  c->out->values[c->out->count++] = c->item * c->item;
  return 0;
}

int main(void) {
  results *res = calloc(1, sizeof *res);
  cx_op *op = NULL;
  int rc = 0, ok = 1;
  if (res == NULL) return 1;
  if (cx_op_with_timeout(&op, NULL, 0.5, "batch") != 0 || cx_op_enter(op) != 0)
    return 1;

  cx_wrapped wrapped_process = cx_wrap(op, process_item); /* once */
  for (int item = 0; item < ITEMS; item++) {
    item_call c = {item, res};
    rc = cx_wrapped_call(&wrapped_process, &c);
    if (rc != 0) break; /* clean early exit on timeout */
  }
  cx_op_set_partial_result(op, res, free); /* what was done */
  cx_op_exit(op, rc);

  const results *partial = cx_op_partial_result(op);
  printf("batch: %s (%s) after %.2f s\n", cx_status_name(cx_op_status(op)),
         cx_reason_name(cx_op_cancel_reason(op)), cx_op_elapsed(op));
  printf("processed %d of %d items before the timeout; last result %d\n",
         partial->count, ITEMS,
         partial->count > 0 ? partial->values[partial->count - 1] : -1);
  ok &= rc == -ECANCELED && cx_op_status(op) == CX_STATUS_CANCELLED &&
        cx_op_cancel_reason(op) == CX_REASON_TIMEOUT;
  ok &= partial->count > 0 && partial->count < ITEMS;
  cx_op_unref(op); /* frees the partial result */

  printf("example: %s\n", ok ? "ok" : "FAIL");
  return ok ? 0 : 1;
}
