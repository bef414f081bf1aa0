/* src/op/events.h - lifecycle events of operations: the seam through which
 * the layers above the op (the registry, progress delivery) follow every op
 * without op.c calling them.  An observer is a static set of hooks,
 * registered once (usually from a constructor of its layer); every hook
 * runs synchronously on the thread that changes the op, so it must be
 * short and must not block.  Observers run in the order they registered. */
#ifndef CX_OP_EVENTS_H
#define CX_OP_EVENTS_H

#include <stdatomic.h>
#include <stdbool.h>

#include <cancelable/meta.h>
#include <cancelable/op.h>

typedef struct cx__op_observer {
  /* The op entered (status RUNNING or SHIELDED, sources started, current
   * on this thread), before its CX_OP_ON_START callbacks. */
  void (*entered)(cx_op *op);
  /* The op is exiting: its sources are stopped, its final status is not
   * published yet. */
  void (*exiting)(cx_op *op);
  /* The final status is published and the op left its parent, before its
   * status callbacks run. */
  void (*exited)(cx_op *op);
  /* The last reference is gone; no other thread uses the op. */
  void (*destroyed)(cx_op *op);
  /* A progress report of @op is being delivered (once per report, after
   * throttling and with the filled-in metadata), on the reporting
   * thread. */
  void (*progressed)(cx_op *op, const char *message, const cx_meta *meta);
} cx__op_observer;

/* Adds @observer (static storage; each hook nullable; registering the same
 * set again does nothing).  At most 8.  Thread-safe; an op already
 * entered when an observer is added may give it an exit without an enter.
 * Returns 0 or -ENOSPC. */
int cx__op_observe(const cx__op_observer *observer);

/* Called by the op layer at each step (events.c). */
void cx__op_emit_entered(cx_op *op);
void cx__op_emit_exiting(cx_op *op);
void cx__op_emit_exited(cx_op *op);
void cx__op_emit_destroyed(cx_op *op);
void cx__op_emit_progressed(cx_op *op, const char *message,
                            const cx_meta *meta);

/* How many parties want progress reports (callbacks, event subscribers):
 * with none, a report returns at once.  @delta: +1 or -1. */
void cx__op_watch_progress(long delta);
/* Hidden, so that the inline check is one PC-relative load, not a GOT
 * lookup. */
extern __attribute__((
    visibility("hidden"))) _Atomic long cx__op_progress_watchers; /* (atomic) */
/* Inline: every progress report starts here. */
static inline bool cx__op_progress_watched(void) {
  return atomic_load_explicit(&cx__op_progress_watchers,
                              memory_order_relaxed) != 0;
}

#endif /* CX_OP_EVENTS_H */
