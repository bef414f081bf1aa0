/* cancelable/events.h - a process-wide stream of operations' lifecycle
 * events, for watching work from outside it (a dashboard, an audit log, a
 * bridge to another process), as Go's runtime/trace regions or the event
 * streams of job systems (Celery events, Temporal's history).
 *
 * A subscriber gets the events of every operation entered from the moment
 * it subscribes: entered, progress, cancelled (once, before exited) and
 * exited, each with the op's id, name and parent id and a process-wide
 * sequence number that grows with every event.  Events reach each
 * subscriber in sequence order on a delivery thread of its own (a small
 * stack, every signal blocked), through a bounded queue: the thread that
 * enters, reports, cancels or exits never waits for a subscriber.  When a
 * subscriber falls behind, progress events of one op are coalesced to the
 * latest (the older one leaves the queue, so its seq is skipped); when its
 * queue is full anyway, new events are dropped and counted, and a
 * CX_EVENT_GAP that says how many were lost is delivered where they were
 * lost, after the events queued before them: no event is lost silently
 * (the registry, cancelable/registry.h, tells the current state after a
 * gap).  An op entered before the subscription has its cancel told only
 * by its EXITED event.  A fork child has no subscription (a parent's
 * handle may be unsubscribed there, which runs its destroy notify).
 *
 * With no subscriber an op pays nothing for this beyond one relaxed load
 * per enter, exit and progress report. */
#ifndef CANCELABLE_EVENTS_H
#define CANCELABLE_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include <cancelable/common.h>
#include <cancelable/export.h>
#include <cancelable/meta.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What happened. */
typedef enum cx_event_kind {
  CX_EVENT_ENTERED = 1, /* the op was entered (status RUNNING or SHIELDED) */
  CX_EVENT_PROGRESS,    /* a progress report of the op was delivered */
  CX_EVENT_CANCELLED,   /* the op's token was cancelled while it ran */
  CX_EVENT_EXITED,      /* the op exited: final status, reason, error */
  CX_EVENT_GAP          /* @lost events were dropped before this one */
} cx_event_kind;

/* One event.  Valid only during the callback: copy what you keep.  Fields
 * that do not apply to a kind are 0 or NULL. */
typedef struct cx_event {
  cx_event_kind kind;
  uint64_t seq;            /* process-wide, +1 per event, from 1 */
  double time;             /* wall clock (seconds since the epoch) */
  const char *op_id;       /* the op's id (NULL only for GAP) */
  const char *name;        /* the op's name (NULL only for GAP) */
  const char *parent_id;   /* (nullable) the parent op's id */
  cx_status status;        /* EXITED: the final status; others: the status
                              when the event was made */
  cx_reason reason;        /* CANCELLED, EXITED: why it was cancelled */
  int error;               /* EXITED: the negative errno of a FAILED op */
  const char *message;     /* CANCELLED: the cancel message; PROGRESS: the
                              report's message; EXITED: the cancel message */
  const cx_meta *metadata; /* PROGRESS: the report's metadata (percent,
                              rate, ... filled in as callbacks see it) */
  uint64_t lost;           /* GAP: how many events were dropped */
} cx_event;

/* A subscriber: runs on the subscription's delivery thread, one event at
 * a time.  It may call any library function, including
 * cx_events_unsubscribe() on its own subscription (not on another one
 * whose subscriber may be doing the same to it: each would wait for the
 * other). */
typedef void (*cx_event_fn)(const cx_event *event, void *user_data);

typedef struct cx_subscription cx_subscription;

/* cx_events_subscribe: start receiving every op's events.
 * @fn: (not nullable) the subscriber.
 * @user_data: (nullable) passed to @fn and @destroy.
 * @destroy: (nullable) called once with @user_data after the last call of
 *   @fn (from cx_events_unsubscribe(), or from the delivery thread when
 *   unsubscribed from inside @fn).
 * @capacity: events the queue holds before it drops (0: 1024).
 * @out: (not nullable) receives the handle (transfer full), to pass to
 *   cx_events_unsubscribe() exactly once.
 * Returns: 0.  Errors: -EINVAL NULL @fn or @out, or @capacity above
 *   1 << 20; -ENOMEM; -EAGAIN the delivery thread could not be started.
 *   On error nothing is subscribed and @destroy is not called.
 * Thread-safety: any thread.  Async-signal-safe: no.  Since: 0.1 */
CX_EXPORT int cx_events_subscribe(cx_subscription **out, cx_event_fn fn,
                                  void *user_data, void (*destroy)(void *),
                                  size_t capacity);

/* cx_events_unsubscribe: stop a subscription.  No event is delivered after
 * it returns; events still queued are discarded.  Waits for a delivery in
 * progress on the subscription's thread (not when called from inside
 * @fn: then the thread ends once @fn returns), then runs @destroy.
 * @sub: (nullable) the handle; invalid afterwards.
 * Returns: 0.  Errors: -EINVAL NULL @sub.
 * Thread-safety: any thread.  Async-signal-safe: no.  Since: 0.1 */
CX_EXPORT int cx_events_unsubscribe(cx_subscription *sub);

/* cx_event_kind_name: "entered", "progress", "cancelled", "exited", "gap".
 * Returns: (transfer none) a static string; "unknown" otherwise.
 * Thread-safety: any thread.  Async-signal-safe: yes.  Since: 0.1 */
CX_EXPORT const char *cx_event_kind_name(cx_event_kind kind);

#ifdef __cplusplus
}
#endif

#endif /* CANCELABLE_EVENTS_H */
