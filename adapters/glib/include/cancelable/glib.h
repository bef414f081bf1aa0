/* cancelable/glib.h - libcancelable-glib: tokens on the GLib main loop and
 * a bridge with GCancellable (an optional adapter; link with
 * `pkg-config --libs cancelable-glib`, or the CMake target
 * cancelable::glib).
 *
 * The source is made the way GLib's own g_cancellable_source_new() is: the
 * cancel (on any thread) sets the source's ready time, which wakes the
 * source's GMainContext through the context's own wake-up; no descriptor
 * per source, so 10 000 sources cost no descriptor at all, and nothing
 * stays readable after the dispatch (no spin).
 *
 * Since: 0.1
 */
#ifndef CANCELABLE_GLIB_H
#define CANCELABLE_GLIB_H

#include <cancelable.h>
#include <gio/gio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CX_GLIB_EXPORT marks this adapter's public functions (exported when the
 * adapter itself is built). */
#if defined(CX_BUILDING_ADAPTER) && defined(__GNUC__)
#define CX_GLIB_EXPORT __attribute__((visibility("default")))
#else
#define CX_GLIB_EXPORT
#endif

/* The callback of a token source (set it with g_source_set_callback(),
 * cast to GSourceFunc): called once, on the thread that runs the source's
 * context, after @token was cancelled.  Its return value is ignored: the
 * source is destroyed after the dispatch, as a one-shot source returning
 * G_SOURCE_REMOVE. */
typedef void (*cx_glib_token_func)(cx_token *token, gpointer user_data);

/* cx_glib_token_source_new: a GSource that dispatches once, when @token is
 * cancelled (at once, on the next iteration of its context, when it
 * already is), then destroys itself.  Attach it with g_source_attach();
 * set its callback with g_source_set_callback(source,
 * (GSourceFunc)(void (*)(void))fn, data, notify), fn a cx_glib_token_func.
 * The token's cancel (any thread) only calls g_source_set_ready_time() on
 * the source, which GLib makes thread-safe and a no-op on a destroyed
 * source.  Destroying the source (g_source_destroy(), or the last
 * g_source_unref()) never waits for a cancel running on another thread:
 * the two meet under a small lock of their own, held only around that one
 * call.
 * @token: (not nullable) the token; the source holds a reference until it
 *   is finalized.
 * Returns: (transfer full) the source, or NULL for a NULL @token or out of
 *   memory.
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Callback runs on: the thread that iterates the context.
 * Tested by: adapters/glib/tests/test_glib.c.
 * Since: 0.1 */
CX_GLIB_EXPORT GSource *cx_glib_token_source_new(cx_token *token);

/* cx_glib_op_source_new: cx_glib_token_source_new(cx_op_token(@op)).
 * Returns: (transfer full) the source, or NULL for a NULL @op or out of
 *   memory.
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_GLIB_EXPORT GSource *cx_glib_op_source_new(cx_op *op);

typedef struct cx_glib_bridge cx_glib_bridge;

/* cx_glib_bridge_new: tie @token and @cancellable together: cancelling
 * either cancels the other, once.  A cancel of the token calls
 * g_cancellable_cancel() on the cancelling thread (a token callback); a
 * cancel of the GCancellable calls cx_token_cancel(@token,
 * CX_REASON_MANUAL, "GCancellable cancelled") in its "cancelled" handler
 * (g_cancellable_connect()).  The cancel that comes back from the other
 * side finds its origin already cancelled and does nothing, so there is no
 * loop.  When one side is already cancelled, the other is cancelled in
 * this call.
 * @token: (not nullable) the token; the bridge holds a reference.
 * @cancellable: (not nullable) the GCancellable; the bridge holds a
 *   reference.
 * @out: (not nullable) receives the bridge (transfer full): release it
 *   with cx_glib_bridge_free().
 * Returns: 0.  Errors: -EINVAL NULL argument; -ENOMEM.  On error nothing
 *   is tied and *@out is NULL (when @out is not NULL).
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_GLIB_EXPORT int cx_glib_bridge_new(cx_token *token,
                                      GCancellable *cancellable,
                                      cx_glib_bridge **out);

/* cx_glib_bridge_free: untie the two; neither cancels the other after
 * this call.  The token side never waits (cx_callback_unregister_nowait());
 * the GCancellable side is g_cancellable_disconnect(), which, as GLib
 * documents, waits for its handler when that runs on another thread at
 * that moment (the handler only cancels the token, whose callbacks run
 * there): do not call it from a callback of the same token on another
 * thread's cancel.
 * @bridge: (nullable) the bridge; invalid afterwards.  NULL is a no-op.
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_GLIB_EXPORT void cx_glib_bridge_free(cx_glib_bridge *bridge);

#ifdef __cplusplus
}
#endif

#endif /* CANCELABLE_GLIB_H */
