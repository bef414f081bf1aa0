/* cancelable/op.h - operations: scopes of cancellable work.
 *
 * An operation ("op") is a scope of work with a context (id, name, status,
 * times, cancel reason and message, error, partial result, metadata, parent),
 * a token that cancels it, its sources (timeouts, ...) and status callbacks.
 * Life cycle: create -> cx_op_enter() -> work -> cx_op_exit(op, result) ->
 * query the final context -> cx_op_unref().  Entering pushes the op on the
 * calling thread's stack of current operations (cx_current()); exiting pops
 * it.  A timeout counts from enter.  All functions may be called from any
 * thread unless their comment says otherwise.  This is the C form of the
 * reference library's `async with Cancelable(...)` block.
 *
 * Since: 0.1
 */
#ifndef CANCELABLE_OP_H
#define CANCELABLE_OP_H

#include <cancelable/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Options for cx_op_create().  Initialise with CX_OP_OPTIONS_INIT, which sets
 * @size, so that callers built against older headers keep working. */
typedef struct cx_op_options {
  size_t size;             /* sizeof(cx_op_options), set by the initialiser */
  const char *name;        /* (nullable) name, copied; default "operation" */
  const char *id;          /* (nullable) explicit id, copied (1..127 bytes);
                              default a fresh UUID v4 */
  cx_op *parent;           /* (nullable) parent op: its cancellation cascades
                              to this one (reason PARENT) and its deadline
                              bounds this one's; it is kept alive until
                              this one is freed */
  cx_token *token;         /* (nullable) a token that cancels the op: the
                              op's own token follows it (a link that
                              preserves its reason and holds a reference
                              on it until the op is freed); the op's
                              sources and cx_op_cancel() never cancel it,
                              so it stays good for later ops */
  double timeout;          /* seconds from enter; 0 means none; otherwise
                              > 0 and at most 9.2e9 (about 292 years); a
                              value under 1 ns counts as 1 ns */
  const cx_meta *metadata; /* (nullable) initial metadata, copied */
  bool register_op;        /* put the op in the registry while it runs
                              (cancelable/registry.h) */
  bool detached;           /* with @parent: keep the parent's context but
                              not its cancellation nor its deadline (Go's
                              context.WithoutCancel; see
                              cx_op_without_cancel()); ignored without
                              @parent; not read when @size ends before
                              it.  Part of the first release's struct
                              (it fits the padding after @register_op,
                              so sizeof did not grow: members added
                              later go beyond it, where @size tells
                              which a caller knows) */
} cx_op_options;

/* Initialiser for cx_op_options: everything unset. */
#define CX_OP_OPTIONS_INIT \
  { sizeof(cx_op_options), NULL, NULL, NULL, NULL, 0.0, NULL, false, false }

/* cx_op_create: create a PENDING operation.
 * @out: (not nullable) receives the op (transfer full; cx_op_unref()).
 *   Set to NULL on error.
 * @opts: (nullable) options; NULL means CX_OP_OPTIONS_INIT.
 * Returns: 0.
 * Errors: -EINVAL NULL @out, @opts->size too small, bad timeout (negative,
 *   NaN, infinite), empty or over-long id; -ENOMEM.  On error nothing is
 *   created and no reference is taken.
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_op_create(cx_op **out, const cx_op_options *opts);

/* cx_op_with_timeout: the reference's Cancelable.with_timeout(): an op that
 * is cancelled (reason TIMEOUT) @seconds after it is entered; with a
 * parent, Go's context.WithTimeout(parent, d):
 *   cx_op_with_timeout(&step, outer, 10.0, "step1");
 * @out: as for cx_op_create().
 * @parent: (nullable) the parent, as cx_op_options.parent: its
 *   cancellation cascades to the op (reason PARENT) and its deadline bounds
 *   the op's; it is kept alive until the op is freed.  NULL: no parent
 *   (not the current op:
 *   pass cx_current() for that).
 * @seconds: > 0 and at most 9.2e9 (about
 *   292 years); under 1 ns counts as 1 ns.
 * @name: (nullable) the name.
 * Returns: 0.  Errors: -EINVAL bad @seconds or NULL @out; -ENOMEM.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT int cx_op_with_timeout(cx_op **out, cx_op *parent, double seconds,
                                 const char *name);

/* cx_op_without_cancel: a detached child of @parent, as Go's
 * context.WithoutCancel(parent): for cleanup or audit work that must
 * finish after @parent is cancelled.  It keeps the parent's context: its
 * parent id (cx_op_parent_id(), the registry and the JSON export),
 * cx_op_parent(), its place among @parent's children
 * (cx_op_child_count(), cx_op_visit_children()) and progress bubbling
 * (its reports reach @parent's progress callbacks).  It does not keep the
 * parent's cancellation (a cancel of @parent or of its ancestors does not
 * reach it, nor does an earlier one: it starts live under a cancelled
 * parent) nor its deadline (cx_op_deadline() ignores the parent's).  It
 * is an op of its own otherwise: it is cancelled by its own sources,
 * timeouts and cx_op_cancel(), and its own children follow it.  Unlike a
 * shield (cx_shield_begin()), which suspends the delivery of the
 * enclosing cancellation for a section and reports it at its end, a
 * detached op never sees it.  Metadata is not copied (as for any child;
 * pass cx_op_metadata(parent) in cx_op_options.metadata to carry it).
 * The same as cx_op_create() with @parent and cx_op_options.detached.
 * @out: as for cx_op_create().
 * @parent: (not nullable) kept alive until the op is freed, so the
 *   parent's context stays readable after it was freed by its owner.
 * @name: (nullable) the name.
 * Returns: 0.  Errors: -EINVAL NULL @out or @parent; -ENOMEM.  On error
 *   nothing is created and no reference is taken.
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_op_without_cancel(cx_op **out, cx_op *parent,
                                   const char *name);

/* cx_op_with_token: the reference's Cancelable.with_token(): an op that
 * @token cancels (reason and message preserved), as the token option of
 * cx_op_create().  Cancelling @token cancels the op (at once when it is
 * cancelled already); cancelling the op (its sources, cx_op_cancel())
 * never cancels @token, which stays good for later ops (Go's
 * context.WithCancel() follows its parent the same one way).
 * @out: as for cx_op_create().
 * @parent: (nullable) the parent, as cx_op_options.parent: its
 *   cancellation cascades to the op (reason PARENT) and its deadline bounds
 *   the op's; it is kept alive until the op is freed.  NULL: no parent
 *   (not the current op:
 *   pass cx_current() for that).
 * @token: (not nullable) a reference is taken, held until the op is
 *   freed.
 * @name: (nullable) the name.
 * Returns: 0.  Errors: -EINVAL NULL argument; -ENOMEM.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT int cx_op_with_token(cx_op **out, cx_op *parent, cx_token *token,
                               const char *name);

/* cx_op_ref: take a reference.
 * @op: (nullable) returned unchanged.
 * Returns: (transfer full) @op.
 * Thread-safety: any thread.  Async-signal-safe: yes.  Since: 0.1 */
CX_EXPORT cx_op *cx_op_ref(cx_op *op);

/* cx_op_unref: drop a reference; the last one frees the op, its context,
 * partial result (its destructor runs) and sources.  A RUNNING op is never
 * freed under its thread: cx_op_enter() takes a reference of its own that
 * cx_op_exit() releases.
 * Forgotten exit: keep a reference until cx_op_exit().  When the last one
 * but the enter's is dropped while the op is RUNNING and is the innermost
 * op of the thread that entered it (the drop made on that thread, or an
 * exit there uncovering it later), nothing can exit it any more: it would
 * stay current, and once cancelled make every later cancellation point of
 * that thread given NULL return -ECANCELED.  The library then logs a
 * warning naming the op (id and name; cancelable/log.h) and ends it as by
 * cx_op_exit(op, -EOWNERDEAD), on the calling thread: FAILED with error
 * -EOWNERDEAD (CANCELLED if it was cancelled), its sources stopped, popped,
 * out of the registry's live table, its status callbacks run, then freed.
 * Not detected while anything else holds a reference (a child op not yet
 * freed, a stream, an event-stream subscription, a list, including the
 * brief one a registry query, the HTTP adapter or the NATS adapter takes
 * while reading live ops): best effort, so exit what you enter; the
 * thread's exit ends it then (cx_op_enter()).
 * @op: (nullable) NULL is a no-op.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT void cx_op_unref(cx_op *op);

/* cx_op_add_timeout: add a timeout source: the op is cancelled with reason
 * TIMEOUT and the message "timed out after N s" @seconds after enter.
 * Several timeouts may be added; the earliest wins.
 * @op: (not nullable) a PENDING op.  @seconds: > 0 and at most 9.2e9
 *   (about 292 years); under 1 ns counts as 1 ns.
 * Returns: 0.
 * Errors: -EINVAL NULL @op or bad @seconds; -EBUSY the op was already
 *   entered; -ENOMEM.  On error nothing changes.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT int cx_op_add_timeout(cx_op *op, double seconds);

/* cx_op_add_timeout_cause: cx_op_add_timeout() whose timeout cancels
 * with @message instead of "timed out after N s", as Go's
 * context.WithTimeoutCause() / WithDeadlineCause(): the op's
 * cx_op_cancel_message() is @message, its reason still TIMEOUT, and its
 * children's PARENT messages carry @message.  No separate error code is
 * recorded (an op's error is the work's result when it FAILED); put one
 * in the message or the metadata if callers need it.  A deadline-style
 * caller converts: seconds = deadline - cx_now().
 * @op: (not nullable) a PENDING op.  @seconds: as for cx_op_add_timeout().
 * @message: (not nullable) copied; "" is allowed.
 * Returns: 0.
 * Errors: -EINVAL NULL @op or @message, or bad @seconds; -EBUSY the op
 *   was already entered; -ENOMEM.  On error nothing changes.
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_op_add_timeout_cause(cx_op *op, double seconds,
                                      const char *message);

/* cx_op_enter: start the op: status RUNNING, start time set, sources started
 * (timeouts armed, counting from now), on_start callbacks run, and the op
 * pushed on this thread's stack of current operations.  If its parent is
 * already cancelled (or its token), the op starts out cancelled: the work's
 * first cancellation point reports it.
 * @op: (not nullable) a PENDING op.
 * Returns: 0.
 * Errors: -EINVAL NULL @op or the op was already entered (nothing changes);
 *   -EBUSY the op is the input of a running combined op, which runs its
 *   sources (cx_op_combine()); -ENOMEM; a source's start error.
 * Thread exit: a thread that ends (returns from its start routine or calls
 *   pthread_exit()) with ops still entered does not leave them RUNNING: at
 *   its exit each is ended, innermost first, as by cx_op_exit() with
 *   -EOWNERDEAD: FAILED with error -EOWNERDEAD, or CANCELLED if it was
 *   cancelled; its sources stop, it leaves the registry, its status
 *   callbacks run (on the exiting thread) and a warning is logged
 *   (cancelable/log.h).  The caller's own reference stays the caller's to
 *   release.  A shield left open is ended the same way and its handle's
 *   reference released (the handle must not be used afterwards).  The
 *   process's exit() ends no thread this way: that is the main thread's
 *   return from main(), not a thread exit.
 * Thread-safety: any thread; the op becomes current on the calling thread.
 * Since: 0.1 */
CX_EXPORT int cx_op_enter(cx_op *op);

/* cx_op_exit: end the op with the work's result code.  Final status:
 * @result == 0 -> COMPLETED (even if a cancel arrived after the work was
 * done: no result is lost); @result != 0 and the op was cancelled, or
 * @result == -ECANCELED -> CANCELLED with the reason of the first trigger
 * (MANUAL "the work returned -ECANCELED" if nothing had triggered);
 * otherwise FAILED with @result recorded as the error.  Sources stop before
 * this returns (no source callback runs afterwards), the end time is set,
 * the op is popped from this thread's stack and the status callbacks run.
 * @op: (not nullable) the innermost op entered on this thread.
 * @result: 0 or a negative errno value from the work.
 * Returns: 0.
 * Errors: -EINVAL NULL @op or the op is not RUNNING; -EPERM the op is not
 *   the innermost current operation of the calling thread (exit the inner
 *   ones first).  On error nothing changes.
 * Thread-safety: the thread that entered the op.  Since: 0.1 */
CX_EXPORT int cx_op_exit(cx_op *op, int result);

/* cx_op_cancel: cancel the op by hand (its token, so every op sharing the
 * token, and every descendant with reason PARENT).  As cx_token_cancel():
 * the first cancel wins.  Works before enter (the op then starts cancelled)
 * and is a no-op after exit.
 * @op: (not nullable).  @reason: not NONE.  @message: (nullable) copied.
 * Returns: true if this call cancelled the op; false if it already was, it
 *   has exited, or on bad input (nothing changes).
 * Thread-safety: any thread.  May be called from inside a callback: yes.
 * Since: 0.1 */
CX_EXPORT bool cx_op_cancel(cx_op *op, cx_reason reason, const char *message);

/* cx_op_is_cancelled: whether the op's token is cancelled (lock-free).
 * @op: (nullable) NULL means the current op (inside a shield, the
 *   shield's handle: false while only the enclosing op is cancelled); no
 *   current op: false.
 * Thread-safety: any thread.  Async-signal-safe: yes.  Since: 0.1 */
CX_EXPORT bool cx_op_is_cancelled(const cx_op *op);

/* cx_op_token: the op's token, to pass to code that takes tokens or to link.
 * Returns: (transfer none) the token, valid while the op lives (take a
 *   reference with cx_token_ref() to keep it longer); NULL for NULL.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT cx_token *cx_op_token(const cx_op *op);

/* cx_current: the innermost operation entered on the calling thread; the
 * reference's current_operation().  Inside a shield it is the op the
 * shield encloses (past nested shields), never the shield's handle: the
 * partial results, metadata, progress and status callbacks set through it
 * land on that op; the shield only holds back the cancellation, which the
 * calls given NULL for "the current op" to check or wait (cx_check(),
 * cx_sleep(), cx_op_is_cancelled(), cx_op_remaining(), streams, retries,
 * cx_thread_create()...) still see through the shield's handle.
 * Returns: (transfer none) the op, or NULL outside any op (also in a
 *   shield that encloses none).
 * Thread-safety: per thread.  Async-signal-safe: yes.  Since: 0.1 */
CX_EXPORT cx_op *cx_current(void);

/* Context accessors.  Strings are (transfer none): owned by the op, valid
 * while the caller holds a reference.  All take (nullable) ops and return
 * the zero value (NULL, 0, 0.0) for NULL.  Thread-safety: any thread. */

/* cx_op_id: the id (UUID v4 text, or the explicit id).  The op's token
 * (cx_op_token(), its own) has the same id, so log lines about the token
 * name the op.  A UUID is made on the first
 * call: NULL when memory is exhausted then (a later call tries again), as
 * cx_token_id(). Since: 0.1 */
CX_EXPORT const char *cx_op_id(const cx_op *op);
/* cx_op_name: the name. Since: 0.1 */
CX_EXPORT const char *cx_op_name(const cx_op *op);
/* cx_op_status: the status. Since: 0.1 */
CX_EXPORT cx_status cx_op_status(const cx_op *op);
/* cx_op_parent_id: the parent's id, or NULL without a parent (or when
 * memory is exhausted, as cx_op_id()). Since: 0.1 */
CX_EXPORT const char *cx_op_parent_id(const cx_op *op);
/* cx_op_start_time: wall-clock seconds since the epoch at enter, 0.0
 * before.  Enter reads only the cx_now() clock (it is on every op's hot
 * path): the first request reads the wall clock and takes off the cx_now()
 * time elapsed since enter, and the result is kept, so later requests
 * return the same value.  So the value is off by any step of the system
 * clock, or any system suspend (CLOCK_MONOTONIC stops), between enter and
 * the first request; under the virtual clock the elapsed time is virtual,
 * and a switch between the virtual and the real clock in between makes the
 * value meaningless.  The registry's history and JSON export use it.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT double cx_op_start_time(const cx_op *op);
/* cx_op_end_time: wall-clock seconds since the epoch at exit, 0.0 before;
 * made like cx_op_start_time(), from exit's reading of the cx_now() clock.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT double cx_op_end_time(const cx_op *op);
/* cx_op_elapsed: seconds from enter to exit, or to now while running
 * (monotonic clock, cx_now()); 0.0 before enter. Since: 0.1 */
CX_EXPORT double cx_op_elapsed(const cx_op *op);
/* cx_op_cancel_reason: the reason of the first trigger, or NONE.
 * Since: 0.1 */
CX_EXPORT cx_reason cx_op_cancel_reason(const cx_op *op);
/* cx_op_cancel_message: the message of the first trigger, or NULL while not
 * cancelled.  For reason PARENT it names the op's direct parent and carries
 * the message of the op where the cancellation started (the root of the
 * cascade): "parent operation 'NAME' cancelled: MESSAGE". Since: 0.1 */
CX_EXPORT const char *cx_op_cancel_message(const cx_op *op);
/* cx_op_cancel_source: which source cancelled the op: the name of the
 * source whose trigger won (cx_source_name(), cx_source_set_name()), and
 * for a composite the members that fired it, as a path
 * "NAME/MEMBER/.../LEAF" (an any-of "guard" whose member "hard" fired:
 * "guard/hard"; its all-of "min-and-target" completed by "target":
 * "guard/min-and-target/target").  When the cancel came through a cascade
 * or a link (reason PARENT, a combined op, a caller's or linked token), it
 * is the source where the cancellation began.  NULL while not cancelled,
 * and when no source cancelled it (cx_op_cancel(), cx_token_cancel(),
 * the work returning -ECANCELED) or memory ran out then.  Exported as
 * "cancel_source" in cx_op_to_json() and the registry's JSON.
 * Returns: (transfer none) valid while the caller holds a reference.
 * Since: 0.1 */
CX_EXPORT const char *cx_op_cancel_source(const cx_op *op);
/* cx_op_error: the work's result code recorded when the op FAILED, else 0.
 * Since: 0.1 */
CX_EXPORT int cx_op_error(const cx_op *op);

/* cx_op_deadline: the effective deadline: the earliest of the op's own
 * timeouts (armed at enter), its movable deadline (cx_op_set_deadline())
 * and its running ancestors' deadlines as they are now (up to a shield or
 * a detached op, whose parents' deadlines do not count).
 * Returns: cx_now() seconds, or +INFINITY when there is none or the op is
 *   not running.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT double cx_op_deadline(const cx_op *op);

/* ---- A deadline that moves while the op runs (Trio's assignment to
 * cancel_scope.deadline, .NET's CancelAfter() on a live source).  A
 * running op has, besides its timeouts, one movable deadline, unset until
 * the first call below.  When it passes, the op is cancelled with reason
 * TIMEOUT and the message "deadline reached" (its children with PARENT,
 * as for any cancel).  Setting it again moves it, earlier or later;
 * +INFINITY removes it.  Timeouts added before enter (cx_op_add_timeout(),
 * the timeout option) keep applying - the earliest of everything wins -
 * so a budget that may be extended is set with these functions after
 * enter instead.  cx_op_deadline() and cx_op_remaining() of the op and of
 * its running descendants reflect each move at once; an ancestor's
 * earlier deadline still wins (a child's deadline never extends past its
 * parent's).  A deadline at or before now cancels the op in the call
 * (message "deadline set in the past").  A cancelled op stays cancelled:
 * the call returns -ECANCELED and changes nothing.
 * Race with the timer thread: moves are serialised per op; the timer
 * always ends following the last move that returned; a move that returns
 * before the timer fires for the old deadline prevents that cancel, a
 * move made while the timer is cancelling returns -ECANCELED (or 0 if it
 * saw the op live just before: the op is cancelled either way and stays
 * so).  The cancel runs on the timer thread, as timeouts do. */

/* cx_op_set_deadline: set the op's movable deadline to @deadline.
 * @op: (not nullable) a RUNNING op (or a shield handle).
 * @deadline: a time on cx_now()'s clock, in seconds; +INFINITY (or any
 *   value from 9.2e9 on) removes the deadline; a value at or before
 *   cx_now(), -INFINITY included, cancels the op at once.
 * Returns: 0.
 * Errors: -EINVAL NULL @op, NaN @deadline, or an op that is not running
 *   (pending, still inside cx_op_enter() on another thread, or exited);
 *   -ECANCELED the op is already cancelled (nothing
 *   changes); -ENOMEM (the first call makes the timer); -EAGAIN /
 *   -ENOMEM when the timer cannot be armed (the deadline is unchanged).
 * Thread-safety: any thread, also from a cancel callback and concurrently
 *   with the op's exit (after exit: -EINVAL).  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_op_set_deadline(cx_op *op, double deadline);

/* cx_op_cancel_after: cx_op_set_deadline(op, cx_now() + @seconds); as
 * .NET's CancellationTokenSource.CancelAfter() and Trio's
 * scope.deadline = trio.current_time() + seconds.
 * @op: (not nullable) a RUNNING op.
 * @seconds: >= 0; 0 cancels at once; +INFINITY removes the deadline;
 *   otherwise at most 9.2e9, under 1 ns counts as 1 ns.
 * Returns and errors: as cx_op_set_deadline(), and -EINVAL for a negative
 *   or NaN @seconds, or one over 9.2e9 that is not +INFINITY.
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_op_cancel_after(cx_op *op, double seconds);

/* cx_op_remaining: seconds left until cx_op_deadline(), never negative;
 * +INFINITY without a deadline.  Pass it to your own blocking calls.
 * @op: (nullable) NULL means the current op (inside a shield, the
 *   shield's handle: its own timeout only); none: +INFINITY.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT double cx_op_remaining(const cx_op *op);

/* cx_op_metadata: a copy of the op's metadata.
 * Returns: (transfer full) a new cx_meta (cx_meta_free()), or NULL for a NULL
 *   op or when out of memory.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT cx_meta *cx_op_metadata(const cx_op *op);

/* cx_op_update_metadata: set every key of @values in the op's metadata
 * (replacing values of existing keys).
 * @op: (nullable) NULL means the current op (inside a shield, the
 *   enclosing op).  @values: (not nullable).
 * Returns: 0.  Errors: -EINVAL NULL @values, or NULL @op with no current
 *   op; -ENOMEM (nothing changes).
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT int cx_op_update_metadata(cx_op *op, const cx_meta *values);

/* cx_op_set_partial_result: store an intermediate result that stays
 * retrievable after a cancel and after exit.  A previous value is released
 * with its destructor.
 * @op: (nullable) NULL means the current op (inside a shield, the
 *   enclosing op).  @value: (nullable) (transfer full).
 * @destroy: (nullable) called with @value when it is replaced or the op is
 *   freed.
 * Returns: 0.  Errors: -EINVAL NULL @op with no current op (@value is not
 *   destroyed).
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT int cx_op_set_partial_result(cx_op *op, void *value,
                                       void (*destroy)(void *));

/* cx_op_partial_result: the stored partial result.
 * Returns: (transfer none) the value, valid until it is replaced or the op
 *   freed; NULL if none.
 * Thread-safety: any thread; do not race it with cx_op_set_partial_result()
 *   when the value is destroyed on replacement.  Since: 0.1 */
CX_EXPORT void *cx_op_partial_result(const cx_op *op);

/* ---- Hierarchy.  An op created with a parent is its child: cancelling the
 * parent cancels every descendant (reason PARENT, message naming the parent;
 * iterative, any depth or width), and the parent's deadline bounds the
 * child's.  Cancelling a child never touches its parent or siblings.  A
 * child that exits (or is freed before entering) unlinks itself from its
 * parent in O(1): parents never keep finished children.  (An op that exits
 * while children of its own still run keeps its token linked, so the
 * cascade still reaches them; its link goes when its token is freed.) */

/* cx_op_child_count: the number of children created with @op as parent that
 * have not exited (or been freed) yet.
 * Returns: the count; 0 for NULL.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT size_t cx_op_child_count(const cx_op *op);

/* A visitor for cx_op_visit_children(); return non-zero to stop. */
typedef int (*cx_op_visit_fn)(cx_op *child, void *user_data);

/* cx_op_visit_children: call @fn for each live child of @op: oldest first
 * among the children made on one thread; children made on different
 * threads come grouped by the thread slot that made them (each thread
 * slot keeps its children apart, so that threads making children of one
 * parent share no lock), in no order between the groups.  The children are
 * snapshotted (each referenced) one group at a time under that group's
 * lock, and visited without it, so @fn may call any function, including
 * exiting or freeing ops.
 * @op, @fn: (not nullable).  @user_data: (nullable).
 * Returns: 0 after visiting all, or the first non-zero value @fn returned.
 * Errors: -EINVAL NULL argument; -ENOMEM.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT int cx_op_visit_children(cx_op *op, cx_op_visit_fn fn,
                                   void *user_data);

/* cx_op_parent: the parent op.
 * Returns: (transfer none) valid while @op lives (a child keeps its parent
 *   alive); NULL without a parent or for NULL.
 * Since: 0.1 */
CX_EXPORT cx_op *cx_op_parent(const cx_op *op);

/* ---- Shielding (as Trio's shielded cancel scopes).  A shield is a
 * handle with status SHIELDED, parent id set to the enclosing op, that the
 * enclosing ops' cancellation does not reach: checks and waits made with it
 * (or with NULL) keep working while the enclosing op is cancelled.  The
 * shield's own timeout still applies.  Shields nest.  cx_current() stays
 * the enclosing op (the reference's current_operation()): only
 * cancellation is held back.  So work inside a shield that makes child ops
 * gives them the shield handle as parent: a child of cx_current() (the
 * enclosing op, maybe cancelled already) is born cancelled. */

/* cx_shield_begin: open a shield inside @enclosing, on top of the calling
 * thread's stack of current ops (cancellation points given NULL use it;
 * cx_current() returns @enclosing).
 * @enclosing: (nullable) the op to shield from; NULL means the innermost
 *   current op, an open shield included (none: the shield has no
 *   parent).
 * @timeout: seconds for the shielded work's own timeout, or 0 for none.
 * @out: (not nullable) receives the shield (transfer full: end it with
 *   cx_shield_end(), then cx_op_unref()).
 * Returns: 0.
 * Errors: -EINVAL NULL @out or bad @timeout; -ENOMEM.
 * Thread-safety: any thread; the shield is current on the calling thread.
 * Since: 0.1 */
CX_EXPORT int cx_shield_begin(cx_op **out, cx_op *enclosing, double timeout);

/* cx_shield_end: close a shield (pop it from the current-op stack; its
 * status becomes COMPLETED, or CANCELLED if its own timeout fired).
 * @shield: (not nullable) the innermost current op of this thread.
 * Returns: 0 if the enclosing op is live.
 * Errors: -ECANCELED the enclosing op was cancelled meanwhile: stop now;
 *   -EINVAL not a shield, or already ended; -EPERM not the innermost
 *   current op.
 * Thread-safety: the thread that began it.  Since: 0.1 */
CX_EXPORT int cx_shield_end(cx_op *shield);

/* Status events for cx_op_on(). */
typedef enum cx_op_event {
  CX_OP_ON_START = 0,    /* after enter, on the entering thread */
  CX_OP_ON_COMPLETE = 1, /* exit with status COMPLETED */
  CX_OP_ON_CANCEL = 2,   /* exit with status CANCELLED */
  CX_OP_ON_ERROR = 3     /* exit with status FAILED */
} cx_op_event;

/* A status callback. */
typedef void (*cx_op_fn)(cx_op *op, void *user_data);

/* cx_op_on: register a status callback.  Each fires at most once, on the
 * thread that enters (start) or exits (the others) the op, after the status
 * has changed, with no library lock held.  Several callbacks per event run in
 * registration order.
 * Registering on an op that is running (a routine called inside the op
 * hooking its end) is allowed.  An event already past when the callback is
 * registered is settled at once, as a token callback on a cancelled token:
 * START on an entered op, and after exit the event that happened (the
 * final status is published before the exit's callbacks run), run @fn on
 * the calling thread before cx_op_on() returns; an event that can no
 * longer happen (CANCEL on a COMPLETED op...) never runs it.  Either way
 * @destroy is called before the return.  So a callback registered while
 * another thread exits the op runs exactly once, on one of the two
 * threads.
 * @op: (not nullable).  @fn: (not nullable).
 * @user_data: (nullable).  @destroy: (nullable) called with @user_data when
 *   the op is freed (or at once, as above).
 * Returns: 0.
 * Errors: -EINVAL NULL argument or unknown @event; -ENOMEM.  On error
 *   @destroy is not called.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT int cx_op_on(cx_op *op, cx_op_event event, cx_op_fn fn,
                       void *user_data, void (*destroy)(void *));

#ifdef __cplusplus
}
#endif

#endif /* CANCELABLE_OP_H */
