/* src/progress/progress.h - what the progress files share: the op's
 * internals and its lifecycle events. */
#ifndef CX_PROGRESS_INTERNAL_H
#define CX_PROGRESS_INTERNAL_H

#include <cancelable/progress.h>

#include "op/events.h"
#include "op/op.h"
#include "runtime/clock.h"

/* The op's last report (last.c). */
/* Keeps @message and @meta (copied; in place, without allocating, while
 * the keys and strings stay the same) as @op's last report.  0 or -ENOMEM
 * (then the previous report stays). */
int cx__progress_keep(cx_op *op, const char *message, const cx_meta *meta);
/* Frees the kept report (when the op is destroyed). */
void cx__progress_last_free(cx_op *op);
/* ---- progress callbacks that run off the reporting thread (async.c) */
typedef struct cx__progress_async cx__progress_async;
/* A delivery of reports to @fn (with @user_data; @destroy nullable) for an
 * op named @owner (copied, for logs); NULL when out of memory.  Starts no
 * thread. */
cx__progress_async *cx__progress_async_new(cx_progress_fn fn, void *user_data,
                                           void (*destroy)(void *),
                                           const char *owner);
/* Frees a delivery never handed to an op (@destroy is not called). */
void cx__progress_async_discard(cx__progress_async *a);
/* Queues a copy of a report of the op @op_id, replacing that op's report
 * still queued, and starts the delivery thread if none runs; never waits
 * for the callback.  Not after cx__progress_async_close().  0 or -ENOMEM
 * (the report is lost for this callback, and logged). */
int cx__progress_async_post(cx__progress_async *a, const char *op_id,
                            const char *message, const cx_meta *meta);
/* The owner op is gone: the reports queued are still delivered, then
 * destroy runs (on the delivery thread, or here when none is needed).
 * Never waits for the callback; @a is not used by the caller afterwards. */
void cx__progress_async_close(cx__progress_async *a);

#endif /* CX_PROGRESS_INTERNAL_H */
