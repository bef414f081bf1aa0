/* src/progress/progress.h - what the progress files share: the op's
 * internals and its lifecycle events. */
#ifndef CX_PROGRESS_INTERNAL_H
#define CX_PROGRESS_INTERNAL_H

#include <cancelable/progress.h>

#include "op/events.h"
#include "op/op.h"
#include "runtime/clock.h"

/* The op's last report (last.c). */
/* Keeps @message and @meta as @op's last report.  @give: (nullable) when
 * *@give is not NULL it is @meta, handed over (then set to NULL) instead
 * of copied.  0 or -ENOMEM (then the previous report stays). */
int cx__progress_keep(cx_op *op, const char *message, const cx_meta *meta,
                      cx_meta **give);
/* Frees the kept report (when the op is destroyed). */
void cx__progress_last_free(cx_op *op);

#endif /* CX_PROGRESS_INTERNAL_H */
