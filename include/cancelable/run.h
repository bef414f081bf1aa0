/* cancelable/run.h - run helpers (the C counterpart of the reference
 * library's decorators), wrapping, retries, and carrying the current
 * operation across threads.
 *
 * Since: 0.1
 */
#ifndef CANCELABLE_RUN_H
#define CANCELABLE_RUN_H

#include <pthread.h>

#include <cancelable/common.h>
#include <cancelable/op.h>
#include <cancelable/source.h>
#include <cancelable/wait.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The work a helper runs: it receives the op (the counterpart of the
 * reference's parameter injection; the op is also cx_current()) and
 * returns 0 or a negative errno, which becomes the op's exit code. */
typedef int (*cx_run_fn)(cx_op *op, void *user_data);

/* Options for cx_run(): which sources the fresh op gets.  All configured
 * sources are combined with OR.  Initialise with CX_RUN_OPTIONS_INIT. */
typedef struct cx_run_options {
  size_t size;        /* sizeof(cx_run_options) */
  const char *name;   /* (nullable) op name; default "run" */
  double timeout;     /* seconds, 0 = none (the reference's
                         @cancelable(timeout=...)) */
  cx_token *token;    /* (nullable) cancel with this token
                         (@cancelable_with_token): the run's op has a
                         token of its own linked to it (reason
                         preserved), so the run's timeout, signals and
                         condition cancel the run, never this token */
  bool watch_signals; /* watch signals (@cancelable_with_signal) */
  const int *signals; /* with watch_signals: the signals; NULL/0
                         means SIGINT and SIGTERM */
  size_t signal_count;
  cx_predicate_fn condition; /* (nullable) (@cancelable_with_condition) */
  void *condition_data;      /* passed to condition */
  double condition_interval; /* seconds between checks (the first at
                                enter); 0 means
                                CX_CONDITION_INTERVAL_DEFAULT (0.1 s) */
  cx_op *parent;             /* (nullable) parent op; NULL: none */
  bool register_op;          /* put the op in the registry (also when the
                                registry's default says so) */
} cx_run_options;

/* Initialiser for cx_run_options: no source, not registered. */
#define CX_RUN_OPTIONS_INIT                                                   \
  {                                                                           \
    sizeof(cx_run_options), NULL, 0.0, NULL, false, NULL, 0, NULL, NULL, 0.0, \
        NULL, false                                                           \
  }

/* cx_run: run @fn inside a fresh op configured by @opts, one op per call
 * (the reference's @cancelable decorator: each call gets its own timeout).
 * The op is entered before @fn and exited with its result afterwards.
 * @opts: (nullable) NULL means CX_RUN_OPTIONS_INIT.
 * @fn: (not nullable).  @user_data: (nullable) passed to @fn.
 * @out_op: (nullable) receives the finished op (transfer full) to read its
 *   context (status, reason, elapsed...); NULL drops it.
 * Returns: @fn's result; -ECANCELED also when the op was cancelled before
 *   @fn could start (then @fn is not called).
 * Errors: -EINVAL bad options (negative or NaN timeout, bad signals, bad
 *   interval, size too small) or NULL @fn: nothing runs; -ENOMEM.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT int cx_run(const cx_run_options *opts, cx_run_fn fn, void *user_data,
                     cx_op **out_op);

/* CX_METHOD_NAME(Type, method): the string "Type.method", for naming ops
 * after methods as the reference's @cancelable_method does:
 *   opts.name = CX_METHOD_NAME(DataProcessor, process); */
#define CX_METHOD_NAME(type, method) #type "." #method

/* cx_run_method: cx_run() with the op named "@type_name.@method_name".
 * Arguments and errors as cx_run() (plus -EINVAL for NULL names; the name
 * in @opts is ignored).  Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_run_method(const char *type_name, const char *method_name,
                            const cx_run_options *opts, cx_run_fn fn,
                            void *user_data, cx_op **out_op);

/* cx_run_in: run @fn inside an existing, shared op (the reference's
 * @with_cancelable): every call shares the op's one budget; the caller
 * enters the op once.  If the op is cancelled, @fn is not called.  If @op
 * is not the current op of this thread, it is made current for the call.
 * @op, @fn: (not nullable).
 * Returns: @fn's result, or -ECANCELED without calling it.
 * Errors: -EINVAL NULL argument or an op that is not running.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT int cx_run_in(cx_op *op, cx_run_fn fn, void *user_data);

/* cx_with_current: call @fn with the current op (possibly NULL) without
 * creating one (the reference's @with_current_operation).
 * Returns: @fn's result.  Errors: -EINVAL NULL @fn.
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_with_current(cx_run_fn fn, void *user_data);

/* ---- Scopes: CX_SCOPE(op, &rc) { ... } enters @op for the block and exits
 * it with the value of rc when the block is left in any way, `break` and
 * `return` included (GCC/Clang cleanup attribute).  If enter fails, the
 * block is skipped and rc holds the error. */

/* State of a CX_SCOPE block (used by the macro). */
typedef struct cx_scope_state {
  cx_op *op;
  int *result;
  int entered;
  int once;
} cx_scope_state;

/* cx_scope_begin: enters @op for CX_SCOPE; stores an enter error in
 * *@result.  Thread-safety: the thread that runs the block.
 * Since: 0.1 */
CX_EXPORT cx_scope_state cx_scope_begin(cx_op *op, int *result);

/* cx_scope_end: exits the op of a CX_SCOPE block with *result (0 when
 * @state's result pointer is NULL).  Does nothing for a NULL @state or a
 * state whose enter failed or that was already ended.
 * Thread-safety: the thread that runs the block.
 * Since: 0.1 */
CX_EXPORT void cx_scope_end(cx_scope_state *state);

#if defined(__GNUC__) || defined(__clang__)
#define CX__CAT2(a, b) a##b
#define CX__CAT(a, b) CX__CAT2(a, b)
#define CX_SCOPE(op, result_ptr)                    \
  for (cx_scope_state CX__CAT(cx_scope_, __LINE__)  \
           __attribute__((cleanup(cx_scope_end))) = \
               cx_scope_begin((op), (result_ptr));  \
       CX__CAT(cx_scope_, __LINE__).once;           \
       CX__CAT(cx_scope_, __LINE__).once = 0)
#endif

/* ---- Expression forms (GCC and Clang only; the portable function form
 * beside each is cx_run() with cx_run_options, or the explicit
 * create/enter/exit/unref calls).  The reference decorates a function
 * (@cancelable(timeout=30.0)); C has no decorators, so these put the op
 * around a block or an expression instead, with no argument struct and no
 * wrapper function:
 *
 *   int rc = 0;                        // a block, its op named "step"
 *   CX_WITH_TIMEOUT(step, outer, 10.0, &rc) {
 *     rc = quick_operation(step);      // step is a cx_op *, current too
 *   }
 *
 *   rc = CX_RUN_TIMEOUT(NULL, 30.0, fetch(url));    // an expression
 *   rc = CX_RUN(op, fetch(url));       // an op of yours, entered around it
 *
 * The portable form of the same:
 *
 *   cx_run_options o = CX_RUN_OPTIONS_INIT;
 *   o.timeout = 30.0;
 *   rc = cx_run(&o, fetch_fn, url, NULL);   // int fetch_fn(cx_op *, void *)
 */

/* CX_WITH_TIMEOUT(op, parent, seconds, result_ptr) { ... }: declares
 * `cx_op *op` for the block: a fresh op named "op" (the variable's name),
 * child of @parent (nullable: NULL is no parent), cancelled @seconds
 * after it is entered (cx_op_with_timeout()); enters it before the block
 * and, however the block is left (its end, `break`, `return`, `goto`
 * out: a cleanup attribute), exits it with *@result_ptr (0 when
 * @result_ptr is NULL) and releases it.  To read its context afterwards,
 * take a reference inside the block (cx_op_ref()).  If the op cannot be
 * made or entered, the block is skipped and *@result_ptr holds the error
 * (-EINVAL bad @seconds, -ENOMEM, ...).  `continue` in the block ends it,
 * as `break` does.  The block runs on the thread that enters it, the op
 * is current there (cx_current(), NULL for cancellation points).
 * @op: the name of the variable to declare.  @seconds: double, as for
 *   cx_op_with_timeout().  @result_ptr: (nullable) an int *, evaluated
 *   twice.  Ownership: the block owns the op (released at its end).
 * Thread-safety: enter and exit happen on the calling thread; the op may
 *   be cancelled from any thread.  Async-signal-safe: no.
 * Since: 0.2 */
#if defined(__GNUC__) || defined(__clang__)
/* (used by the macros) Makes the op of CX_WITH_TIMEOUT or CX_RUN_TIMEOUT;
 * stores the error in *@result. */
static inline cx_op *cx__timeout_op_new(cx_op *parent, double seconds,
                                        const char *name, int *result) {
  cx_op *op = NULL;
  int rc = cx_op_with_timeout(&op, parent, seconds, name);
  if (result != NULL) *result = rc;
  return op;
}
/* (used by the macros) Releases the op of a block. */
static inline void cx__op_release(cx_op **op) {
  cx_op_unref(*op);
  *op = NULL;
}
#define CX_WITH_TIMEOUT(op, parent, seconds, result_ptr)               \
  for (cx_op * op __attribute__((cleanup(cx__op_release))) =           \
           cx__timeout_op_new((parent), (seconds), #op, (result_ptr)), \
                  *CX__CAT(cx_with_once_, __LINE__) = op;              \
       CX__CAT(cx_with_once_, __LINE__) != NULL;                       \
       CX__CAT(cx_with_once_, __LINE__) = NULL)                        \
  CX_SCOPE(op, result_ptr)

/* CX_RUN(op, expr): enters @op (a PENDING op of the caller's, who keeps
 * it and releases it), evaluates @expr (an int: 0 or a negative errno)
 * inside it unless it is cancelled already, exits it with that value and
 * yields it: an expression, for `rc = CX_RUN(op, fetch(url));`.
 * Yields: @expr's value; -ECANCELED without evaluating @expr when the op
 *   was cancelled before it (a cancelled parent); cx_op_enter()'s error
 *   (-EINVAL NULL or already entered @op, ...) without evaluating it.
 * A GNU statement expression, marked __extension__ so that -Wpedantic
 * accepts it.  @expr must not leave the expression (no `return` from a
 * statement expression of its own that jumps out): the op would stay
 * entered.
 * Thread-safety: as cx_op_enter()/cx_op_exit(): on the thread that owns
 *   @op.  Async-signal-safe: no.
 * Since: 0.2 */
#define CX_RUN(op, expr) CX__RUN((op), expr, __COUNTER__)
/* (used by the macros) Names made unique with __COUNTER__, so that
 * nested forms do not shadow each other (-Wshadow). */
#define CX__RUN(op, expr, n)                                              \
  __extension__({                                                         \
    cx_op *CX__CAT(cx__run_op_, n) = (op);                                \
    int CX__CAT(cx__run_rc_, n) = cx_op_enter(CX__CAT(cx__run_op_, n));   \
    if (CX__CAT(cx__run_rc_, n) == 0) {                                   \
      CX__CAT(cx__run_rc_, n) = cx_check(CX__CAT(cx__run_op_, n));        \
      if (CX__CAT(cx__run_rc_, n) == 0) CX__CAT(cx__run_rc_, n) = (expr); \
      cx_op_exit(CX__CAT(cx__run_op_, n), CX__CAT(cx__run_rc_, n));       \
    }                                                                     \
    CX__CAT(cx__run_rc_, n);                                              \
  })

/* CX_RUN_TIMEOUT(parent, seconds, expr): CX_RUN() in a fresh op, child
 * of @parent (nullable: no parent), cancelled @seconds after its enter,
 * and released afterwards: the reference's @cancelable(timeout=...) for
 * one call, `rc = CX_RUN_TIMEOUT(NULL, 30.0, fetch(url));`.  The op is
 * named "run"; @expr reaches it as the current op (cx_current(), or NULL
 * for cancellation points such as cx_check(NULL), cx_sleep(NULL, ...)).
 * Yields: as CX_RUN(), and cx_op_with_timeout()'s error (-EINVAL bad
 *   @seconds, -ENOMEM) without evaluating @expr.
 * @seconds: double, as for cx_op_with_timeout().
 * Thread-safety: the op is made, entered and exited on the calling
 *   thread.  Async-signal-safe: no.
 * Since: 0.2 */
#define CX_RUN_TIMEOUT(parent, seconds, expr) \
  CX__RUN_TIMEOUT((parent), (seconds), expr, __COUNTER__)
#define CX__RUN_TIMEOUT(parent, seconds, expr, n)                            \
  __extension__({                                                            \
    int CX__CAT(cx__rt_rc_, n);                                              \
    cx_op *CX__CAT(cx__rt_op_, n) __attribute__((cleanup(cx__op_release))) = \
        cx__timeout_op_new(parent, seconds, "run", &CX__CAT(cx__rt_rc_, n)); \
    if (CX__CAT(cx__rt_op_, n) != NULL)                                      \
      CX__CAT(cx__rt_rc_, n) = CX_RUN(CX__CAT(cx__rt_op_, n), expr);         \
    CX__CAT(cx__rt_rc_, n);                                                  \
  })
#endif

/* ---- Cancel on scope exit (tokio's CancellationToken::drop_guard()):
 * a guard cancels its token or op when it ends, so background work tied
 * to it stops whichever way the scope is left (early return, error path),
 * unless it was disarmed first (tokio's DropGuard::disarm()).  The cancel
 * has reason CX_REASON_MANUAL and the message "scope exited"; as any
 * cancel, it does nothing to a token or op cancelled already (the first
 * cancel keeps its reason), and nothing to an op that has exited.
 *
 *   CX_CANCEL_ON_EXIT(op);               // GCC/Clang: ends with the block
 *
 *   cx_cancel_guard g;                   // anywhere: an explicit pair
 *   cx_guard_init(&g, token);
 *   ...
 *   cx_guard_end(&g);                    // or cx_guard_disarm(&g)
 *
 * A guard is a small struct owned by one thread (not safe to end from two
 * threads at once); what it cancels may be shared with any thread. */

/* A cancel guard: caller-owned storage.  Both members NULL: disarmed. */
typedef struct cx_cancel_guard {
  cx_token *token; /* owned reference, or NULL */
  cx_op *op;       /* owned reference, or NULL */
} cx_cancel_guard;

/* Initialiser for a disarmed guard. */
#define CX_CANCEL_GUARD_INIT \
  { NULL, NULL }

/* cx_guard_init: arm @guard to cancel @token when it ends.
 * @guard: (not nullable) caller-owned storage; overwritten (a guard armed
 *   before is not ended: end or disarm it first).
 * @token: (not nullable) a reference is taken, released by the end or
 *   the disarm.
 * Returns: 0.
 * Errors: -EINVAL NULL @guard or @token: @guard (when not NULL) is left
 *   disarmed, so ending it does nothing.
 * Thread-safety: any thread; the guard is the caller's.
 * Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_guard_init(cx_cancel_guard *guard, cx_token *token);

/* cx_guard_init_op: arm @guard to cancel @op when it ends, as
 * cx_op_cancel(): the op with reason MANUAL and message "scope exited",
 * its descendants by cascade with reason PARENT.
 * @guard: (not nullable) as for cx_guard_init().
 * @op: (not nullable) a reference is taken, released by the end or the
 *   disarm.
 * Returns: 0.  Errors: -EINVAL NULL @guard or @op (@guard left disarmed).
 * Thread-safety: any thread; the guard is the caller's.
 * Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_guard_init_op(cx_cancel_guard *guard, cx_op *op);

/* cx_guard_disarm: release @guard's reference without cancelling; as
 * tokio's DropGuard::disarm().  Ending it afterwards does nothing; so does
 * disarming it again.
 * @guard: (not nullable).
 * Returns: 0.  Errors: -EINVAL NULL @guard.
 * Thread-safety: the guard's owner.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_guard_disarm(cx_cancel_guard *guard);

/* cx_guard_end: end @guard: cancel its token or op (reason
 * CX_REASON_MANUAL, message "scope exited") unless it was disarmed, then
 * release its reference; the guard is disarmed afterwards, so a second end
 * does nothing.  The cancel's cascade and callbacks run in this call, on
 * this thread.  CX_CANCEL_ON_EXIT() calls it when its block is left.
 * @guard: (not nullable).
 * Returns: 1 this call cancelled the token or op; 0 it did not (disarmed,
 *   ended already, already cancelled, or an op that had exited).
 * Errors: -EINVAL NULL @guard.
 * Thread-safety: the guard's owner.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_guard_end(cx_cancel_guard *guard);

#if (defined(__GNUC__) || defined(__clang__)) && !defined(__cplusplus)
#ifndef CX__CAT
#define CX__CAT2(a, b) a##b
#define CX__CAT(a, b) CX__CAT2(a, b)
#endif
/* CX_CANCEL_GUARD(name, target): declare a guard @name that cancels
 * @target (a cx_token * or a cx_op *) when the enclosing block is left in
 * any way (GCC/Clang cleanup attribute); cx_guard_disarm(&name) keeps it
 * from cancelling.  A NULL @target gives a disarmed guard. */
#define CX_CANCEL_GUARD(name, target)                           \
  cx_cancel_guard name __attribute__((cleanup(cx_guard_end))) = \
      CX_CANCEL_GUARD_INIT;                                     \
  (void)_Generic((target), cx_op *                              \
                 : cx_guard_init_op, default                    \
                 : cx_guard_init)(&name, (target))
/* CX_CANCEL_ON_EXIT(target): an anonymous CX_CANCEL_GUARD. */
#define CX_CANCEL_ON_EXIT(target) \
  CX_CANCEL_GUARD(CX__CAT(cx_cancel_guard_, __LINE__), target)
#endif

/* ---- Run until cancelled (tokio's CancellationToken::run_until_cancelled()
 * and select! over a blocking future): give up waiting for a call that
 * cannot be interrupted (a library without timeouts, a DNS lookup) as soon
 * as the op or token is cancelled.  The call runs on a new detached thread
 * of its own, never on the library's service threads or workers, which it
 * could occupy for good; a cancelled call goes on to its end in the
 * background and its result is discarded.  One thread per call: meant for
 * calls that block, not for fine-grained work.  A call that never returns
 * keeps its thread and its argument for the life of the process. */

/* A blocking call: returns 0 or a negative errno (or any int the caller
 * understands).  It runs on its own thread with no current op; to make it
 * stop early too, pass it the token (cx_op_token()) through @arg. */
typedef int (*cx_blocking_fn)(void *arg);

/* cx_token_run_until_cancelled: run @fn(@arg) on a new detached thread
 * and wait until it returns or @token is cancelled, whichever is first.
 * @token: (not nullable) the token to watch (a child token follows it for
 *   the call's duration; it holds a reference on @token until the call
 *   has returned, also in the background).
 * @fn: (not nullable) the call.
 * @arg: (nullable) passed to @fn and @destroy.
 * @destroy: (nullable) frees @arg.  Ownership of @arg passes to this
 *   function on every return but -EINVAL: @destroy runs exactly once, on
 *   the call's thread right after @fn returns (before this function
 *   returns @fn's result; possibly after it returned -ECANCELED), or, when
 *   @fn never started (already cancelled, out of memory, no thread), in
 *   the caller before it returns.  So @arg must not be used by the caller
 *   after the call, and @fn may use it until it returns.
 * Returns: @fn's result when it returned first (also if a cancel arrived
 *   meanwhile: no result is lost); -ECANCELED as soon as @token is
 *   cancelled first (@fn goes on in the background, its result dropped),
 *   or at once, without starting @fn, when it is cancelled already.
 * Errors: -EINVAL NULL @token or @fn: nothing runs, @destroy is not
 *   called; -ENOMEM; -EAGAIN (or another negative errno of
 *   pthread_create()) when no thread could be started: @fn did not run.
 * Thread-safety: any thread; blocks the caller (it is not itself a
 *   cancellation point of the caller's current op, only of @token).
 * Async-signal-safe: no.  The call's thread starts with the caller's
 *   signal mask.
 * Since: 0.1 */
CX_EXPORT int cx_token_run_until_cancelled(cx_token *token, cx_blocking_fn fn,
                                           void *arg, void (*destroy)(void *));

/* cx_run_until_cancelled: cx_token_run_until_cancelled() on @op's token:
 * returns -ECANCELED as soon as @op (its timeout, a signal, its parent,
 * a cancel by hand) is cancelled.
 * @op: (nullable) NULL means the current op.
 * @fn, @arg, @destroy: as for cx_token_run_until_cancelled().
 * Returns: as cx_token_run_until_cancelled().
 * Errors: as cx_token_run_until_cancelled(), and -EINVAL when @op is NULL
 *   and there is no current op (@destroy is not called).
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_run_until_cancelled(cx_op *op, cx_blocking_fn fn, void *arg,
                                     void (*destroy)(void *));

/* ---- Wrapping (the reference's cancel.wrap()).  CX_CALL(op, expr)
 * evaluates any call expression only while @op (NULL: the current op) is
 * live, else yields -ECANCELED without evaluating it:
 *   rc = CX_CALL(op, fetch(url));            // in a retry or batch loop */
#define CX_CALL(op, expr) (cx_check(op) != 0 ? -ECANCELED : (expr))

/* A wrapped function: calls check the op first. */
typedef struct cx_wrapped {
  cx_op *op; /* (nullable) NULL: the current op at call time */
  cx_run_fn fn;
} cx_wrapped;

/* cx_wrap: wrap @fn so that each call first checks @op.  Nothing is
 * allocated; the op must outlive the wrapper.
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT cx_wrapped cx_wrap(cx_op *op, cx_run_fn fn);

/* cx_wrapped_call: call a wrapped function.
 * Returns: its result, or -ECANCELED without calling it when the op is
 *   cancelled.  Errors: -EINVAL NULL @w or function.
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_wrapped_call(const cx_wrapped *w, void *user_data);

/* ---- Retries (the reference's Tenacity example). */

/* Options for cx_retry(); initialise with CX_RETRY_OPTIONS_INIT. */
typedef struct cx_retry_options {
  size_t size;          /* sizeof(cx_retry_options) */
  unsigned attempts;    /* >= 1 */
  double initial_delay; /* seconds before the 2nd attempt, >= 0 */
  double multiplier;    /* delay growth per attempt: 1 fixed, 2
                           exponential; >= 1 */
  double max_delay;     /* seconds, cap on one delay; 0 = no cap */
  double jitter;        /* 0..1: each delay is scaled by a random factor
                           in [1 - jitter, 1 + jitter] */
  /* (nullable) whether @error is worth another attempt; NULL: every error
   * but -ECANCELED */
  bool (*retryable)(int error, void *user_data);
  void *retryable_data;
} cx_retry_options;

/* Initialiser: 3 attempts, 0.1 s then doubling, no cap, no jitter. */
#define CX_RETRY_OPTIONS_INIT \
  { sizeof(cx_retry_options), 3, 0.1, 2.0, 0.0, 0.0, NULL, NULL }

/* cx_retry: call @fn until it returns 0, it fails with an error that is not
 * retryable, or the attempts run out.  Cancellation is checked before every
 * attempt (-ECANCELED without calling), the waits between attempts are
 * cancellation points (cx_sleep) and never last past the op's deadline, so
 * the loop returns within one backoff step of a cancel (at once when the
 * sleep is interrupted).  A backoff that would reach the deadline waits
 * until it and returns -ECANCELED without another attempt.
 * @op: (nullable) NULL means the current op (none: plain retries).
 * @opts: (nullable) NULL means CX_RETRY_OPTIONS_INIT.
 * @fn: (not nullable).
 * Returns: 0 on success; the last error when the attempts ran out or the
 *   error is not retryable; -ECANCELED when cancelled.
 * Errors: -EINVAL bad options (0 attempts, negative or NaN delays,
 *   multiplier < 1, jitter outside [0, 1]) or NULL @fn: nothing is called.
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_retry(cx_op *op, const cx_retry_options *opts, cx_run_fn fn,
                       void *user_data);

/* ---- Threads (the reference's run_in_thread and contextvars copying). */

/* cx_thread_create: pthread_create() whose new thread starts with the
 * caller's current op as its current op (a reference is held until the
 * thread's start routine returns).  Cancelling that op from any thread is
 * seen by the new thread's cancellation points.
 * Returns: 0.  Errors: -EINVAL NULL @thread or @start; -ENOMEM; the
 *   negative errno of pthread_create().
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_thread_create(pthread_t *thread, const pthread_attr_t *attr,
                               void *(*start)(void *), void *arg);

/* Saved state of cx_current_adopt(): caller-owned storage, opaque. */
typedef struct cx_adoption {
  void *opaque_[4];
} cx_adoption;

/* cx_current_adopt: make @op the current op of the calling thread until
 * cx_current_restore(), e.g. in a thread pool's worker around a task
 * captured with cx_op_ref(cx_current()) when it was submitted.  Takes a
 * reference on @op for the duration.
 * @op: (nullable) NULL makes "no op" current (cx_current() returns NULL).
 * @saved: (not nullable) storage that lives until cx_current_restore().
 * Returns: 0.  Errors: -EINVAL NULL @saved; -ENOMEM (past 8 nested
 *   entries the thread's stack of current ops grows on the heap).
 * A thread that exits before cx_current_restore() drops the reference
 *   (docs/guide.md, "Thread exit").
 * Thread-safety: acts on the calling thread's stack.
 * Since: 0.1 */
CX_EXPORT int cx_current_adopt(cx_op *op, cx_adoption *saved);

/* cx_current_restore: undo cx_current_adopt(); adoptions nest and must be
 * restored innermost first.
 * Returns: 0.  Errors: -EINVAL NULL; -EPERM not the innermost.
 * Thread-safety: the thread that adopted.
 * Since: 0.1 */
CX_EXPORT int cx_current_restore(cx_adoption *saved);

#ifdef __cplusplus
}
#endif

#endif /* CANCELABLE_RUN_H */
