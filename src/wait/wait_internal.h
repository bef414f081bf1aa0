/* src/wait/wait_internal.h - shared by the cancellation points. */
#ifndef CX_WAIT_INTERNAL_H
#define CX_WAIT_INTERNAL_H

#include <cancelable/wait.h>

#include "op/op.h"

/* The op a cancellation point acts on: @op, or the innermost current one,
 * a shield included (NULL when there is none). */
static inline const cx_op *cx__wait_op(const cx_op *op) {
  return op != NULL ? op : cx__current_scope();
}

#endif /* CX_WAIT_INTERNAL_H */
