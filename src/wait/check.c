/* src/wait/check.c - the non-blocking cancellation point. */
#include "op/op.h"
#include "wait/wait_internal.h"

int cx_check(const cx_op *op) {
  op = cx__wait_op(op);
  return op != NULL && cx_token_is_cancelled(op->token) ? -ECANCELED : 0;
}
