/* cancelable/token.h - cancellation tokens.
 *
 * A token is a thread-safe, one-shot cancellation flag.  The first cancel
 * wins and fixes the reason, the message and the time; later cancels change
 * nothing.  Tokens are reference counted heap objects; every function here
 * may be called from any thread unless its comment says otherwise.  Modelled
 * on C++ std::stop_source/std::stop_token and GLib's GCancellable, with the
 * C++ rules for callbacks (std::stop_callback).
 *
 * Since: 0.1
 */
#ifndef CANCELABLE_TOKEN_H
#define CANCELABLE_TOKEN_H

#include <cancelable/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Length of a token or operation id in characters, without the NUL: ids are
 * UUID version 4 text, "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx". */
#define CX_ID_LEN 36

/* cx_token_new: create a live (not cancelled) token with one reference.
 * Creating a token makes no system call: its id is made on the first
 * cx_token_id(), from a per-thread generator seeded once from
 * getrandom(2).
 * Returns: (transfer full) the token, or NULL when memory is exhausted.
 *   Release it with cx_token_unref().
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT cx_token *cx_token_new(void);

/* cx_token_with_timeout: create a live token that cancels itself @seconds
 * from now, with reason CX_REASON_TIMEOUT and the message "timed out after
 * N s" (N in seconds with at most 3 decimals, "60" or "0.25"; %g below a
 * millisecond, of the delay rounded to whole nanoseconds; kept as a float,
 * so exact to 7 significant digits): the lightweight timeout scope, as
 * Go's context.WithTimeout or .NET's CancellationTokenSource(TimeSpan).  The
 * token and its timer are one allocation; what only some tokens use
 * (callback and link lists, message, id, fd) is allocated when first
 * needed, as Go's context makes its channel and children map lazily, so
 * linking, listening, polling, asking the id or a cancel by another caller
 * may report -ENOMEM or lose the message where a token from cx_token_new()
 * would not.  The timer runs on the library's timer thread
 * (started on first use), which is also where the cancel, its cascade and its
 * callbacks run: a slow callback there delays every other timeout of the
 * process. The delay counts on cx_now()'s clock (monotonic, or the virtual
 * clock of clock.h).  The timer never fires early.  Releasing the last
 * reference before the delay disarms the timer (see cx_token_unref()); a cancel
 * by anyone else first makes the timer's cancel do nothing (the timer stays
 * armed until its deadline or the last unref).  The token is otherwise an
 * ordinary token (links, callbacks, waits).  For an operation with a
 * timeout and a full context, see cx_op_with_timeout().
 * @out: (not nullable) receives the token (transfer full): release it with
 *   cx_token_unref().
 * @seconds: the delay, > 0, finite and at most 9.2e9 (about 292 years);
 *   rounded to whole nanoseconds (under 1 ns counts as 1 ns).
 * Returns: 0.  Errors: -EINVAL NULL @out or @seconds out of that range;
 *   -ENOMEM; the negative error of pthread_create() (-EAGAIN, ...) when the
 *   timer thread could not be started.  On error *@out is NULL.
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_token_with_timeout(cx_token **out, double seconds);

/* cx_token_with_timeout_cause: cx_token_with_timeout() whose timeout
 * records @message instead of "timed out after N s", as Go's
 * context.WithTimeoutCause() (there the cause is an error value; here it
 * is the cancel's message, read back with cx_token_cancel_message(), and the
 * reason stays CX_REASON_TIMEOUT, so code that asks "was it a timeout?"
 * needs no change).  No separate error code is recorded: a token carries
 * a reason and a message only; put a code in the message if callers need
 * one.  Tokens linked to it get "parent cancelled (timeout): MESSAGE".
 * The message costs one more allocation (the copy) and 8 bytes; otherwise
 * as cx_token_with_timeout().
 * @out: (not nullable) receives the token (transfer full).
 * @seconds: as for cx_token_with_timeout().
 * @message: (not nullable) copied; "" is allowed (an empty message).
 * Returns: 0.  Errors: -EINVAL NULL @out or @message, or @seconds out of
 *   range; -ENOMEM; the negative error of pthread_create() when the timer
 *   thread could not be started.  On error *@out is NULL (when @out is not
 *   NULL) and nothing is armed.
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_token_with_timeout_cause(cx_token **out, double seconds,
                                          const char *message);

/* cx_token_ref: take one more reference.
 * @token: (nullable) the token; NULL is returned unchanged.
 * Returns: (transfer full) @token.
 * Thread-safety: any thread.  Async-signal-safe: yes.
 * Since: 0.1 */
CX_EXPORT cx_token *cx_token_ref(cx_token *token);

/* cx_token_unref: drop one reference; the last one frees the token, its
 * pollable fd, its links to other tokens and the callbacks that were
 * registered without a handle (their destroy notify runs).  Callbacks
 * registered with a handle hold a reference each, so a token is never freed
 * under a live handle.  The last unref of a token made by
 * cx_token_with_timeout() disarms its timer: it takes the timer service's
 * lock and, if the timer is firing on the timer thread at that moment,
 * waits for that to return.
 * @token: (nullable) the token; NULL is a no-op.
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT void cx_token_unref(cx_token *token);

/* cx_token_cancel: cancel the token.  The first call wins: it fixes reason,
 * message and wall-clock time, wakes every waiter, makes the pollable fd
 * readable, cancels linked tokens and runs the callbacks in registration
 * order on the calling thread, with no library lock held.  Every
 * descendant (every token linked to this one, directly or not) is
 * cancelled before the first callback runs, so a slow callback delays no
 * descendant.  When this call returns, on any thread and whether it won or
 * not, every descendant is cancelled: a call that lost to a cancel still in
 * progress on another thread waits for that cancel's cascade (or finishes
 * it), not for its callbacks.  (cx_token_cancel_signal_safe() is the
 * exception: its cascade runs later, on the completion thread.)  Waiters
 * (cx_token_wait(), the fd, cancellation points) are woken before the callbacks
 * run, so a woken waiter may see callbacks still running.  A callback that
 * cancels other tokens does not recurse: that cancel cascades at once (its
 * descendants are cancelled when it returns) and its callbacks run later on the
 * same thread, before the outermost cancel returns, so chains of any depth use
 * constant stack.  Cascades of the whole process run one at a time, under
 * one lock; a cancel of a token that no token ever followed does not take
 * it.  No user code runs under that lock (destroy notifiers of tokens freed
 * by a cascade run after it).  A callback must not end its thread
 * (pthread_exit(), pthread_cancel()): the cancel it is part of would stay
 * unfinished.
 * @token: (not nullable) the token.
 * @reason: why (CX_REASON_TIMEOUT ... CX_REASON_ERROR; not CX_REASON_NONE).
 * @message: (nullable) human-readable detail, copied.  Out of memory the
 *   token is still cancelled, with the message "(message lost: out of
 *   memory)" in place of a given one.
 * Returns: true if this call cancelled the token; false if it was already
 *   cancelled, or on bad input (NULL token, reason NONE or out of range),
 *   in which case nothing changes.
 * Thread-safety: any thread.  Async-signal-safe: no (see
 *   cx_token_cancel_signal_safe()).
 * May be called from inside a callback: yes.
 * Since: 0.1 */
CX_EXPORT bool cx_token_cancel(cx_token *token, cx_reason reason,
                               const char *message);

/* cx_token_is_cancelled: whether the token is cancelled.  One atomic
 * acquire load, no lock; once it returns true, the reason and message are
 * readable, and the time too (except in the corner cases of
 * cx_token_cancel_time()).  With GCC and Clang the call is inlined (see below);
 * the exported function remains for other compilers, FFI and function pointers.
 * @token: (nullable) NULL is never cancelled.
 * Thread-safety: any thread.  Async-signal-safe: yes.
 * Since: 0.1 */
CX_EXPORT bool cx_token_is_cancelled(const cx_token *token);

/* The inline fast path of the check users put in inner loops.  The types
 * stay opaque: the only layout the header relies on is that a token begins
 * with an int state that equals CX_TOKEN_STATE_CANCELLED_ once cancelled.
 * That much is part of the ABI of major version 0.  Define CX_NO_INLINE
 * before including the header to always call the library. */
#define CX_TOKEN_STATE_CANCELLED_ 2
#if (defined(__GNUC__) || defined(__clang__)) && !defined(CX_NO_INLINE) && \
    !defined(CX_BUILDING)
static inline bool cx_token_is_cancelled_inline_(const cx_token *token) {
  return token != NULL &&
         __atomic_load_n((const int *)(const void *)token, __ATOMIC_ACQUIRE) ==
             CX_TOKEN_STATE_CANCELLED_;
}
#define cx_token_is_cancelled(token) cx_token_is_cancelled_inline_(token)
#endif

/* cx_token_check: the C form of the reference library's token.check().
 * The reference has two checks: check() raises the library's own
 * cancellation error (carrying reason and message) and check_async() raises
 * the async runtime's cancellation.  In C both become the return code
 * -ECANCELED, which the caller propagates up to cx_op_exit() (making the op
 * CANCELLED); the detail the Python exception carried stays on the object:
 * cx_token_cancel_reason(), cx_token_cancel_message(), cx_token_cancel_time().
 * Use this function for a bare token and cx_check() (cancelable/wait.h) inside
 * an operation.
 * @token: (not nullable) the token.
 * Returns: 0 when live, -ECANCELED when cancelled.
 * Errors: -EINVAL when @token is NULL.
 * Thread-safety: any thread.  Async-signal-safe: yes.
 * Since: 0.1 */
CX_EXPORT int cx_token_check(const cx_token *token);

/* cx_token_cancel_reason: why the token was cancelled.
 * Returns: the reason, or CX_REASON_NONE while live (or for NULL).
 * Thread-safety: any thread.  Async-signal-safe: yes.
 * Since: 0.1 */
CX_EXPORT cx_reason cx_token_cancel_reason(const cx_token *token);

/* cx_token_cancel_message: the message given by the cancel that won.  For a
 * token cancelled through a link (reason PARENT) it is "parent cancelled
 * (REASON): MESSAGE", naming the reason and message of the token where the
 * cancellation started. Returns: (transfer none) the message, valid while the
 * caller holds a reference; "" when the cancel gave none; NULL while live or
 * for NULL. Thread-safety: any thread.  Async-signal-safe: no. Since: 0.1 */
CX_EXPORT const char *cx_token_cancel_message(const cx_token *token);

/* cx_token_cancel_time: when the token was cancelled.  A token cancelled
 * through a link reports the time of the cancel that started the chain
 * (earlier than the token itself for a child made under a cancelled
 * parent).
 * Returns: wall-clock seconds since the Unix epoch (CLOCK_REALTIME), or 0.0
 *   while live (or for NULL).  Also 0.0 for a while, or for good, in two
 *   corner cases of tokens made by cx_token_with_timeout(), and of an
 *   op's own token (cx_op_token() of an op without a parent, or detached
 *   from it), that had never been linked, listened to, polled or asked
 *   for their id: after
 *   cx_token_cancel_signal_safe() it reads 0.0 until the helper thread has
 *   taken over (the time then recorded is that moment, microseconds late;
 *   tokens it cascaded to report that time too), or for good if memory
 *   ran out there; after a cancel that ran out of memory it stays 0.0.
 * Thread-safety: any thread.  Async-signal-safe: yes.
 * Since: 0.1 */
CX_EXPORT double cx_token_cancel_time(const cx_token *token);

/* cx_token_id: the token's unique id, UUID version 4 text (CX_ID_LEN
 * characters), made on the first call.
 * Returns: (transfer none) the id, valid while the caller holds a
 *   reference; NULL for NULL, or when memory is exhausted (a later call
 *   tries again).
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT const char *cx_token_id(const cx_token *token);

/* A cancel callback.  It runs once, on the thread that cancels the token (the
 * timer thread for timeouts), with no library lock held.  A non-zero return
 * is a failure: it is logged (cancelable/log.h) and the other callbacks still
 * run.  It may call any function of this library, including
 * cx_callback_unregister() on its own handle. */
typedef int (*cx_cancel_fn)(cx_token *token, void *user_data);

/* Flags for cx_token_on_cancel(). */
enum {
  /* On an already-cancelled token, run nothing and return -ECANCELED
   * (callers that hold a lock the callback takes need this). */
  CX_CALLBACK_NO_RUN_IF_CANCELLED = 1u << 0
};

/* cx_token_on_cancel: register a callback to run when the token is
 * cancelled; as C++ std::stop_callback's constructor and GLib's
 * g_cancellable_connect().
 * @token: (not nullable) the token.
 * @fn: (not nullable) the callback.
 * @user_data: (nullable) passed to @fn and @destroy.
 * @destroy: (nullable) called once with @user_data when the library no
 *   longer needs it: after the callback ran and its handle was released,
 *   or when it is unregistered before running, or when the token is freed.
 * @flags: 0 or CX_CALLBACK_NO_RUN_IF_CANCELLED.
 * @out: (nullable) receives the handle (transfer full) to pass to
 *   cx_callback_unregister() or cx_callback_unregister_nowait() exactly
 *   once; the handle holds a reference on the token.  With NULL the
 *   callback stays registered for the token's lifetime.  Set to NULL when
 *   the return value is not 0.
 * Returns: 0 registered; 1 the token was already cancelled and @fn ran at
 *   once in the caller (then @destroy ran too).
 * Errors: -ECANCELED already cancelled and CX_CALLBACK_NO_RUN_IF_CANCELLED
 *   given: nothing ran; -EINVAL NULL @token or @fn, or unknown flags;
 *   -ENOMEM.  On error nothing is registered and @destroy is not called.
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Callback runs on: the cancelling thread, or the caller when already
 *   cancelled.
 * May be called from inside a callback: yes.
 * Since: 0.1 */
CX_EXPORT int cx_token_on_cancel(cx_token *token, cx_cancel_fn fn,
                                 void *user_data, void (*destroy)(void *),
                                 unsigned flags, cx_callback **out);

/* Results of the unregister functions. */
enum {
  CX_CALLBACK_REMOVED = 0, /* removed before it ran: it never will */
  CX_CALLBACK_RAN = 1,     /* it ran and has returned */
  CX_CALLBACK_RUNNING = 2  /* it is running on another thread right now */
};

/* cx_callback_unregister: remove a callback and release its handle; as
 * C++ std::stop_callback's destructor.  If the callback is running (or
 * about to run, in the same cancel) on another thread, waits until it has
 * returned, so on return the callback no longer touches its user data, and
 * the destroy notify has run.  Called from inside the callback itself it
 * does not wait (no deadlock) and returns CX_CALLBACK_RAN; the destroy
 * notify then runs when the callback returns.  Called from another
 * callback of the same cancel for a callback whose turn has not come, it
 * returns CX_CALLBACK_REMOVED and that callback never runs.
 * @cb: (nullable) the handle from cx_token_on_cancel(); invalid afterwards.
 * Returns: CX_CALLBACK_REMOVED or CX_CALLBACK_RAN.
 * Errors: -EINVAL when @cb is NULL.
 * Thread-safety: any thread.  Async-signal-safe: no.
 * May be called from inside a callback: yes, but two callbacks that
 *   unregister each other from two threads wait on each other: use
 *   cx_callback_unregister_nowait() there.
 * Since: 0.1 */
CX_EXPORT int cx_callback_unregister(cx_callback *cb);

/* cx_callback_unregister_nowait: as cx_callback_unregister(), but never
 * waits.  When the callback is running on another thread it returns
 * CX_CALLBACK_RUNNING; the destroy notify then runs when the callback
 * returns, which is the moment the user data is free to release.
 * @cb: (nullable) the handle; invalid afterwards.
 * Returns: CX_CALLBACK_REMOVED, CX_CALLBACK_RAN (also from inside the
 *   callback itself) or CX_CALLBACK_RUNNING (running or about to run on
 *   another thread).
 * Errors: -EINVAL when @cb is NULL.
 * Thread-safety: any thread.  Async-signal-safe: no.
 * May be called from inside a callback: yes.
 * Since: 0.1 */
CX_EXPORT int cx_callback_unregister_nowait(cx_callback *cb);

/* cx_token_wait: block until the token is cancelled or @timeout passes.
 * Before it sleeps it yields the CPU once (sched_yield()), so that on a
 * busy CPU the thread that will cancel runs first; then it sleeps on the
 * token's state (a futex where there is one), and a cancel wakes it.
 * @token: (not nullable) the token.
 * @timeout: seconds; CX_FOREVER (or any negative value, or +inf) waits
 *   without limit, 0 only checks.  Measured on CLOCK_MONOTONIC.
 * Returns: 0 once the token is cancelled.
 * Errors: -ETIMEDOUT @timeout passed first; -EINVAL NULL @token or NaN
 *   @timeout.
 * Thread-safety: any thread.  Async-signal-safe: no.
 * May be called from inside a callback: yes (a callback of this token
 *   returns at once, the token being cancelled).
 * Since: 0.1 */
CX_EXPORT int cx_token_wait(cx_token *token, double timeout);

/* cx_token_fd: a file descriptor that becomes readable, for every poller
 * and for good (level-triggered), once the token is cancelled; as GLib's
 * g_cancellable_get_fd().  Created on the first call (an eventfd, or a pipe
 * where eventfd is missing), close-on-exec and non-blocking, owned by the
 * token and closed when it is freed.  Never read from it.
 * @token: (not nullable) the token.
 * Returns: the descriptor (>= 0).
 * Errors: -EMFILE / -ENFILE out of descriptors (the token keeps working
 *   without one, and a later call tries again); -ENOMEM; -EINVAL NULL.
 * Thread-safety: any thread; every call returns the same descriptor, except
 *   in the child of a fork(): there the first call returns a new one (the
 *   inherited one would be shared with the parent), so call it again after
 *   fork().
 * Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_token_fd(cx_token *token);

/* cx_token_fd_release: close the token's descriptor (cx_token_fd()) now,
 * instead of when the token is freed; as GLib's
 * g_cancellable_release_fd().  An event loop calls it once it has stopped
 * polling the descriptor (after the cancel was seen, or when it no longer
 * watches the token), so that long-lived tokens do not hold a descriptor
 * each.  The token keeps working; a later cx_token_fd() makes a new
 * descriptor (readable at once if the token is cancelled).  The caller must
 * make sure nobody polls the old number any more: the system may reuse it.
 * @token: (not nullable) the token.
 * Returns: 0, also when the token had no descriptor.
 * Errors: -EINVAL NULL @token.
 * Thread-safety: any thread; safe against a concurrent cancel (which then
 *   signals the descriptor before it is closed, or finds none).
 * Async-signal-safe: no.
 * Tested by: tests/unit/test_notifier.c.
 * Since: 0.1 */
CX_EXPORT int cx_token_fd_release(cx_token *token);

/* Flags for cx_token_link(). */
enum {
  /* The linked token takes the source's reason and message instead of
   * CX_REASON_PARENT. */
  CX_LINK_PRESERVE_REASON = 1u << 0
};

/* cx_token_link: make @token cancelled whenever @source is.  A token may be
 * linked to several sources (it is cancelled by the first) and a source may
 * feed many tokens; the cascade is iterative.  The link holds a reference on
 * @source and is removed when @token is freed.  If @source is already
 * cancelled, @token is cancelled at once.
 * @token: (not nullable) the token to cancel.
 * @source: (not nullable) the token to follow; not @token itself.
 * @flags: 0 (reason PARENT, message naming the origin) or
 *   CX_LINK_PRESERVE_REASON.
 * Returns: 0.
 * Errors: -EINVAL NULL argument, @token == @source, or unknown flags;
 *   -ELOOP @source already follows @token, directly or through other
 *   tokens (links, cancelled ones included, and the cascades that reached
 *   them): the link would close a cycle, in which the tokens would keep
 *   each other alive; -ENOMEM.  On error nothing changes.
 * An already cancelled @source: @token is cancelled at once, in the caller
 *   and after the lock below is released (its callbacks run in this call).
 * Cost: the cycle check walks up from @source through the tokens it
 *   follows, directly or not, and the tokens whose cancel reached it (a
 *   walk skipped when no token ever followed @token, as for a new one),
 *   under the process-wide cascade lock.
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_token_link(cx_token *token, cx_token *source, unsigned flags);

/* cx_token_new_child: create a token linked to @parent: cx_token_new() and
 * cx_token_link(child, parent, flags) in one call, as Go's
 * context.WithCancel(parent) or .NET's
 * CancellationTokenSource.CreateLinkedTokenSource().  The child is
 * cancelled whenever @parent is (at once if @parent is cancelled already);
 * cancelling the child never touches @parent.  The link holds a reference
 * on @parent until the child is freed.  Cheaper than the two calls: the
 * child and its link are one allocation (the link is unlinked from
 * @parent when the child is freed, as any link).
 * @out: (not nullable) receives the child (transfer full): release it with
 *   cx_token_unref().
 * @parent: (not nullable) the token to follow.
 * @flags: as for cx_token_link().
 * Returns: 0.  Errors: -EINVAL NULL @out or @parent, or unknown flags;
 *   -ENOMEM.  On error *@out is NULL and nothing changes.
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_token_new_child(cx_token **out, cx_token *parent,
                                 unsigned flags);

/* cx_signal_safe_prepare: start the helper thread that finishes
 * cancellations made from signal handlers.  Call it once (outside any
 * handler) before installing a handler that calls
 * cx_token_cancel_signal_safe(); calling it again is harmless.  After
 * fork() the child calls it again.
 * Returns: 0.
 * Errors: -EMFILE / -ENFILE / -EAGAIN / -ENOMEM when the pipe or thread
 *   cannot be created.
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_signal_safe_prepare(void);

/* cx_token_cancel_signal_safe: cancel a token from a signal handler.  Only
 * atomic operations and one write(2) to the helper thread's pipe: the token
 * is cancelled (is_cancelled() true, reason set, message "cancelled from a
 * signal handler") before it returns; the helper thread then wakes the
 * waiters and runs the callbacks.  The caller must hold a reference for the
 * duration of the call.
 * @token: (not nullable) the token.
 * @reason: as for cx_token_cancel().
 * Returns: 1 this call cancelled the token; 0 it already was.
 * Errors: -EINVAL NULL token or bad reason; -ESRCH cx_signal_safe_prepare()
 *   was not called: nothing changes.
 * Thread-safety: any thread.  Async-signal-safe: yes.
 * Since: 0.1 */
CX_EXPORT int cx_token_cancel_signal_safe(cx_token *token, cx_reason reason);

#ifdef __cplusplus
}
#endif

#endif /* CANCELABLE_TOKEN_H */
