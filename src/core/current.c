/* src/core/current.c - the per-thread stack of current operations, linked
 * through frames (cx__frame) owned by whoever pushed them. */
#include "core/core.h"

static _Thread_local cx__frame *top;

void cx__current_push(cx__frame *frame, cx_op *op) {
  frame->op = op;
  frame->prev = top;
  top = frame;
}

bool cx__current_pop(cx__frame *frame) {
  if (top != frame) return false;
  top = frame->prev;
  frame->prev = NULL;
  return true;
}

cx_op *cx_current(void) { return top != NULL ? top->op : NULL; }

bool cx__current_is_top(const cx__frame *frame) { return top == frame; }
