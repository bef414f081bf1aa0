/* src/core/current.c - the per-thread stack of current operations, linked
 * through the ops themselves (op->prev_current). */
#include "core/core.h"

static _Thread_local cx_op *top;

void cx__current_push(cx_op *op) {
  op->prev_current = top;
  top = op;
}

bool cx__current_pop(cx_op *op) {
  if (top != op) return false;
  top = op->prev_current;
  op->prev_current = NULL;
  return true;
}

cx_op *cx_current(void) { return top; }
