/* cancelable/uv.h - libcancelable-uv: tokens and operations on a libuv loop
 * (an optional adapter; link with `pkg-config --libs cancelable-uv`, or the
 * CMake target cancelable::uv).
 *
 * A hub joins one loop to the library: one shared notifier
 * (cancelable/notifier.h) behind one uv_poll handle, so a loop that watches
 * 10 000 tokens uses one descriptor.  A watch's callback runs on the loop's
 * thread, once, when its token is cancelled, by any thread, before or after
 * the watch began.  The hub drains the notifier in its poll callback, which
 * makes the descriptor unreadable again: the loop does not spin after a
 * cancel.  The poll handle keeps the loop alive only while a watch waits
 * for its cancel (as an active uv_async would; uv_ref()/uv_unref()).
 *
 * Every function here is for the loop's thread, as libuv's own (the token
 * may be cancelled from anywhere).  Errors are negative errno values, as
 * libuv's; if a call that takes a callback fails, the callback never runs.
 *
 * Since: 0.1
 */
#ifndef CANCELABLE_UV_H
#define CANCELABLE_UV_H

#include <cancelable.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CX_UV_EXPORT marks this adapter's public functions (exported when the
 * adapter itself is built). */
#if defined(CX_BUILDING_ADAPTER) && defined(__GNUC__)
#define CX_UV_EXPORT __attribute__((visibility("default")))
#else
#define CX_UV_EXPORT
#endif

typedef struct cx_uv_hub cx_uv_hub;
typedef struct cx_uv_watch cx_uv_watch;

/* The callback of a watch: runs once on the loop's thread when the token
 * is cancelled.  @token is the watched token (transfer none, valid until
 * the watch is stopped).  It may call cx_uv_watch_stop() on its own watch
 * (the usual thing to do) or any other, and every libuv function. */
typedef void (*cx_uv_cancel_cb)(cx_uv_watch *watch, cx_token *token,
                                void *user_data);

/* cx_uv_hub_new: join @loop: make a notifier and start a uv_poll handle on
 * its descriptor (unreferenced until a watch waits).
 * @loop: (not nullable) the loop; it must outlive the hub.
 * @out: (not nullable) receives the hub (transfer full): close it with
 *   cx_uv_hub_close().
 * Returns: 0.  Errors: -EINVAL NULL argument; -ENOMEM; -EMFILE / -ENFILE;
 *   a libuv error of uv_poll_init() or uv_poll_start().  On error *@out is
 *   NULL (when @out is not NULL).
 * Thread-safety: the loop's thread.  Async-signal-safe: no.
 * Tested by: adapters/uv/tests/test_uv.c.
 * Since: 0.1 */
CX_UV_EXPORT int cx_uv_hub_new(uv_loop_t *loop, cx_uv_hub **out);

/* cx_uv_hub_close: stop the hub's poll handle and close it (uv_close());
 * the hub is freed in the close callback, during a later loop iteration,
 * so run the loop once more before closing the loop.
 * @hub: (not nullable) the hub; invalid after a successful call.
 * Returns: 0.  Errors: -EINVAL NULL @hub; -EBUSY a watch of this hub is
 *   not stopped yet (nothing changes: stop them first).
 * Thread-safety: the loop's thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_UV_EXPORT int cx_uv_hub_close(cx_uv_hub *hub);

/* cx_uv_watch_token: call @cb on the loop's thread once @token is
 * cancelled.  A token already cancelled fires on the next loop iteration
 * (never inside this call).  The cancel itself only queues the watch and
 * writes to the hub's descriptor; no user code runs on the cancelling
 * thread.
 * @hub: (not nullable) the hub of the loop.
 * @token: (not nullable) the token; the watch holds a reference.
 * @cb: (not nullable) the callback.
 * @user_data: (nullable) passed to @cb; never touched by the library.
 * @out: (not nullable) receives the watch (transfer full): stop it with
 *   cx_uv_watch_stop() exactly once, fired or not.
 * Returns: 0.  Errors: -EINVAL NULL argument; -ENOMEM.  On error *@out is
 *   NULL (when @out is not NULL) and @cb never runs.
 * Thread-safety: the loop's thread.  Async-signal-safe: no.
 * Callback runs on: the loop's thread, from the hub's poll callback.
 * Since: 0.1 */
CX_UV_EXPORT int cx_uv_watch_token(cx_uv_hub *hub, cx_token *token,
                                   cx_uv_cancel_cb cb, void *user_data,
                                   cx_uv_watch **out);

/* cx_uv_watch_op: cx_uv_watch_token() on cx_op_token(@op): @cb runs when
 * the op is cancelled (by its timeouts, its parent, a signal source, ...).
 * @op: (not nullable) the op; the watch holds a reference on its token,
 *   not on the op.
 * Returns and errors: as cx_uv_watch_token() (-EINVAL for a NULL @op).
 * Thread-safety: the loop's thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_UV_EXPORT int cx_uv_watch_op(cx_uv_hub *hub, cx_op *op, cx_uv_cancel_cb cb,
                                void *user_data, cx_uv_watch **out);

/* cx_uv_watch_stop: stop and free a watch.  Its callback never runs after
 * this call.  Never waits: a cancel running at that moment on another
 * thread finishes on its own, touching only the hub's notifier (whose
 * memory lives until the last side is done).
 * @watch: (nullable) the watch; invalid afterwards.  NULL is a no-op.
 * Thread-safety: the loop's thread.  Async-signal-safe: no.
 * May be called from inside a callback: yes, from any watch's callback.
 * Since: 0.1 */
CX_UV_EXPORT void cx_uv_watch_stop(cx_uv_watch *watch);

/* cx_uv_watch_cancel_req: uv_cancel(@req) on the loop's thread when @token
 * is cancelled: a work, fs, getaddrinfo or getnameinfo request still queued
 * in the thread pool then completes with UV_ECANCELED (libuv cannot stop
 * one that already runs: it completes normally).  Stop the watch in the
 * request's completion callback.
 * @hub: (not nullable) the hub.
 * @token: (not nullable) the token (cx_op_token(op) for an op).
 * @req: (not nullable) the request, submitted to the hub's loop; it must
 *   stay valid until the watch is stopped.
 * @out: (not nullable) receives the watch (transfer full).
 * Returns and errors: as cx_uv_watch_token().
 * Thread-safety: the loop's thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_UV_EXPORT int cx_uv_watch_cancel_req(cx_uv_hub *hub, cx_token *token,
                                        uv_req_t *req, cx_uv_watch **out);

/* cx_uv_timer_start_deadline: start @timer (one shot) to fire at @op's
 * deadline (cx_op_deadline(): its timeouts, movable deadline and its
 * ancestors').  The deadline is read now, as seconds remaining
 * (cx_op_remaining()), rounded up to whole milliseconds, and counted on
 * the loop's clock (uv_now(), CLOCK_MONOTONIC; the loop's time is updated
 * first with uv_update_time()).  The library's timer cancels the op at
 * the same deadline on its own thread; this timer is for code that wants
 * the moment on the loop (a last write before close, say).  Under the
 * virtual clock (cancelable/clock.h) the remaining virtual seconds are
 * counted as real time by the loop: the two no longer agree.  A deadline
 * moved later (cx_op_set_deadline()) needs a new call.
 * @timer: (not nullable) an initialised timer of the loop.
 * @op: (not nullable) the op.
 * @cb: (not nullable) the timer's callback.
 * Returns: 0 started (a passed deadline starts it with 0 ms: it fires on
 *   the next iteration).
 * Errors: -EINVAL NULL argument; -ENOENT the op has no deadline (nothing
 *   started); a libuv error of uv_timer_start().
 * Thread-safety: the loop's thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_UV_EXPORT int cx_uv_timer_start_deadline(uv_timer_t *timer, const cx_op *op,
                                            uv_timer_cb cb);

#ifdef __cplusplus
}
#endif

#endif /* CANCELABLE_UV_H */
