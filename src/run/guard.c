/* src/run/guard.c - cancel on scope exit (tokio's
 * CancellationToken::drop_guard): a guard that cancels its token or op
 * when it ends, unless disarmed first. */
#include <cancelable/op.h>
#include <cancelable/run.h>
#include <cancelable/token.h>

/* The message of a guard's cancel (reason CX_REASON_MANUAL). */
static const char guard_message[] = "scope exited";

static void clear(cx_cancel_guard *guard) {
  guard->token = NULL;
  guard->op = NULL;
}

int cx_guard_init(cx_cancel_guard *guard, cx_token *token) {
  if (guard == NULL) return -EINVAL;
  clear(guard);
  if (token == NULL) return -EINVAL;
  guard->token = cx_token_ref(token);
  return 0;
}

int cx_guard_init_op(cx_cancel_guard *guard, cx_op *op) {
  if (guard == NULL) return -EINVAL;
  clear(guard);
  if (op == NULL) return -EINVAL;
  guard->op = cx_op_ref(op);
  return 0;
}

int cx_guard_disarm(cx_cancel_guard *guard) {
  if (guard == NULL) return -EINVAL;
  cx_token_unref(guard->token);
  cx_op_unref(guard->op);
  clear(guard);
  return 0;
}

int cx_guard_end(cx_cancel_guard *guard) {
  bool cancelled = false;
  if (guard == NULL) return -EINVAL;
  if (guard->token != NULL)
    cancelled = cx_token_cancel(guard->token, CX_REASON_MANUAL, guard_message);
  else if (guard->op != NULL)
    cancelled = cx_op_cancel(guard->op, CX_REASON_MANUAL, guard_message);
  cx_guard_disarm(guard);
  return cancelled ? 1 : 0;
}
