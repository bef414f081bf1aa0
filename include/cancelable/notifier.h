/* cancelable/notifier.h - one descriptor for the cancels of many tokens.
 *
 * An event loop that watches 10 000 operations should not need 10 000
 * descriptors (one cx_token_fd() each).  A notifier owns one wake-up
 * descriptor and a queue: a watched token that is cancelled, on any thread,
 * puts its watch in the queue and makes the descriptor readable; the loop
 * polls the descriptor and drains the queue on its own thread, where it
 * gets each fired watch once.  Draining also makes the descriptor
 * unreadable again, so a loop that watches it level-triggered (epoll,
 * uv_poll, GLib's g_unix_fd_add) does not spin after a cancel.  Modelled on
 * the self-pipe of libuv's uv_async and GLib's GWakeup, with the queue that
 * curl's multi interface keeps of finished transfers (curl_multi_info_read).
 *
 * The adapters of adapters/uv and adapters/glib use it; a hand-written loop
 * may use it too.
 *
 * Since: 0.1
 */
#ifndef CANCELABLE_NOTIFIER_H
#define CANCELABLE_NOTIFIER_H

#include <cancelable/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cx_notifier cx_notifier;
typedef struct cx_watch cx_watch;

/* cx_notifier_new: create a notifier with one reference, its descriptor
 * (an eventfd, or a pipe where eventfd is missing; close-on-exec and
 * non-blocking) and an empty queue.
 * @out: (not nullable) receives the notifier (transfer full): release it
 *   with cx_notifier_unref().
 * Returns: 0.  Errors: -EINVAL NULL @out; -ENOMEM; -EMFILE / -ENFILE out
 *   of descriptors.  On error *@out is NULL (when @out is not NULL).
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_notifier_new(cx_notifier **out);

/* cx_notifier_unref: drop the caller's reference.  The notifier is freed,
 * and its descriptor closed, once the caller's reference and every watch
 * are gone (each watch holds one until cx_watch_stop()).  Fired watches
 * still queued are never delivered after this call.  Watches not stopped
 * yet stay valid and must still be stopped.
 * @n: (nullable) the notifier; NULL is a no-op.
 * Thread-safety: the loop's thread (the thread that drains), not during a
 *   cx_notifier_drain() of another thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT void cx_notifier_unref(cx_notifier *n);

/* cx_notifier_fd: the notifier's descriptor: readable while fired watches
 * may wait in the queue, and no longer readable once
 * cx_notifier_drain() has emptied it (a cancel that comes meanwhile makes
 * it readable again).  Owned by the notifier: never read from it nor close
 * it.  Not to be used in the child of a fork() (the parent shares it).
 * @n: (not nullable) the notifier.
 * Returns: the descriptor (>= 0).  Errors: -EINVAL NULL @n.
 * Thread-safety: any thread.  Async-signal-safe: yes.
 * Since: 0.1 */
CX_EXPORT int cx_notifier_fd(const cx_notifier *n);

/* cx_notifier_watch: watch @token: when it is cancelled (by any thread,
 * before or after this call) the watch goes into the notifier's queue, once,
 * and the descriptor becomes readable.  The token side is a cancel callback
 * (cx_token_on_cancel()) that only takes the notifier's lock and writes to
 * its descriptor: no user code runs on the cancelling thread.
 * @n: (not nullable) the notifier; the watch holds a reference on it.
 * @token: (not nullable) the token; the watch holds a reference on it
 *   until cx_watch_stop().  For an operation pass cx_op_token(op).
 * @user_data: (nullable) handed back by cx_notifier_drain(); the library
 *   never touches it.
 * @out: (not nullable) receives the watch (transfer full): pass it to
 *   cx_watch_stop() exactly once, fired or not.
 * Returns: 0 (an already cancelled @token is queued at once).
 * Errors: -EINVAL NULL argument; -ENOMEM.  On error nothing is watched and
 *   *@out is NULL (when @out is not NULL).
 * Thread-safety: any thread.  Async-signal-safe: no.
 * May be called from inside a callback: yes.
 * Since: 0.1 */
CX_EXPORT int cx_notifier_watch(cx_watch **out, cx_notifier *n, cx_token *token,
                                void *user_data);

/* The function cx_notifier_drain() calls for each fired watch. */
typedef void (*cx_notifier_fn)(cx_watch *watch, cx_token *token,
                               void *user_data, void *drain_data);

/* cx_notifier_drain: empty the queue: make the descriptor unreadable, then
 * call @fn for each fired watch, in the order of their cancels, on the
 * calling thread, with no library lock held.  Each watch is delivered at
 * most once in its life, and never after cx_watch_stop(); @fn may stop its
 * own watch or any other (a stopped watch still queued is skipped), watch
 * more tokens and cancel tokens (those are delivered by a later drain: the
 * descriptor is readable again).
 * @n: (not nullable) the notifier.
 * @fn: (not nullable) called with the watch, its token (transfer none:
 *   valid until the watch is stopped), the watch's user data and
 *   @drain_data.
 * @drain_data: (nullable) passed to @fn.
 * Returns: the number of watches delivered (>= 0).
 * Errors: -EINVAL NULL @n or @fn.
 * Thread-safety: one thread at a time per notifier (the loop's thread):
 *   the loop that polls the descriptor drains it.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_notifier_drain(cx_notifier *n, cx_notifier_fn fn,
                                void *drain_data);

/* cx_watch_stop: stop a watch and release it.  Never waits: when the
 * token's cancel is running on another thread at that moment, its
 * callback (which touches only the notifier) finishes on its own and
 * queues nothing, and the watch's memory is freed by whichever side is
 * last.  After the call the watch is never delivered, and its token and
 * notifier references are released.
 * @w: (nullable) the watch from cx_notifier_watch(); invalid afterwards.
 *   NULL is a no-op.
 * Thread-safety: the notifier's draining thread (so that a drain never
 *   hands out a watch that is being stopped).  Async-signal-safe: no.
 * May be called from inside a callback: yes, from @fn of
 *   cx_notifier_drain() (for any watch) and from a token's callback on the
 *   draining thread.
 * Since: 0.1 */
CX_EXPORT void cx_watch_stop(cx_watch *w);

/* cx_watch_fired: whether the watch has been put in the queue (its token
 * is cancelled and the notifier has seen it).
 * @w: (nullable) the watch; NULL answers false.
 * Thread-safety: any thread.  Async-signal-safe: yes.
 * Since: 0.1 */
CX_EXPORT bool cx_watch_fired(const cx_watch *w);

#ifdef __cplusplus
}
#endif

#endif /* CANCELABLE_NOTIFIER_H */
