/* cancelable/source.h - cancellation sources.
 *
 * A source is something that cancels an operation when it triggers: a
 * timeout, OS signals, a polled condition, resource thresholds, a
 * combination of sources (any-of, all-of), or your own.  Sources are added
 * to an op before it is entered (cx_op_add_source() takes ownership), start
 * when it is entered and stop when it exits: after cx_op_exit() returns no
 * source callback runs and no user data given to a source is touched again
 * (until the op is freed, when the destroy notify runs).  A top-level source
 * that triggers cancels the op with its reason and message; a source inside
 * a composite reports to the composite instead.
 *
 * Since: 0.1
 */
#ifndef CANCELABLE_SOURCE_H
#define CANCELABLE_SOURCE_H

#include <cancelable/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A cancellation source (opaque). */
typedef struct cx_source cx_source;

/* The behaviour of a custom source.  Initialise unused members to NULL and
 * @size to sizeof(cx_source_ops). */
typedef struct cx_source_ops {
  size_t size; /* sizeof(cx_source_ops) */
  /* Starts watching; runs on the thread entering the op.  Return 0, or a
   * negative errno to make cx_op_enter() fail (the source is then not
   * stopped).  From now until stop() returns, call cx_source_trigger() from
   * any thread when the source fires. */
  int (*start)(cx_source *source, void *user_data);
  /* Stops watching; runs on the thread exiting the op.  When it returns,
   * the source's own threads or callbacks must no longer touch @user_data
   * (a trigger racing with stop is ignored by the library). */
  void (*stop)(cx_source *source, void *user_data);
  /* (nullable) Frees @user_data when the source is freed. */
  void (*destroy)(void *user_data);
} cx_source_ops;

/* cx_source_new: create a custom source.
 * @ops: (not nullable) the behaviour; copied.  @ops->start and @ops->stop
 *   must be set.
 * @user_data: (nullable) passed to every member of @ops.
 * @reason: the reason it cancels with (not NONE).
 * @name: (nullable) a name for messages and introspection, copied;
 *   default "custom".
 * @out: (not nullable) receives the source (transfer full: give it to
 *   cx_op_add_source() or a composite, or free it with cx_source_free()).
 * Returns: 0.
 * Errors: -EINVAL NULL @ops / @out / start / stop, @ops->size too small,
 *   bad @reason; -ENOMEM.  On error @ops->destroy is not called.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT int cx_source_new(cx_source **out, const cx_source_ops *ops,
                            void *user_data, cx_reason reason,
                            const char *name);

/* cx_source_trigger: report that the source fired.  Top-level, it cancels
 * its op with the source's reason and @message; inside a composite, it
 * reports to the composite.  Ignored unless the source is started (between
 * start and stop).  A source may trigger more than once; only the first
 * trigger of the op's cancel counts.
 * @source: (not nullable).  @message: (nullable) copied.
 * Returns: true if the trigger was delivered (the source was started).
 * Thread-safety: any thread; may be called from inside start().
 * Async-signal-safe: no.  Since: 0.1 */
CX_EXPORT bool cx_source_trigger(cx_source *source, const char *message);

/* cx_source_free: free a source that was never given to an op or composite
 * (its destroy notify runs).  Sources given away are freed by their owner.
 * @source: (nullable) NULL is a no-op.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT void cx_source_free(cx_source *source);

/* cx_source_name: the source's name ("timeout", "signal", "condition NAME",
 * "any_of", "all_of", or the custom name).
 * Returns: (transfer none) valid while the source lives; NULL for NULL.
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT const char *cx_source_name(const cx_source *source);

/* cx_source_set_name: name the source (the default is its kind's, as
 * cx_source_name() lists).  The name identifies the source that cancelled
 * an op (cx_op_cancel_source()) and a member in composites' messages.
 * @source: (not nullable) a source not yet given to an op or composite.
 * @name: (not nullable) non-empty, copied.
 * Returns: 0.
 * Errors: -EINVAL NULL argument or empty @name; -EBUSY the source was
 *   already given away (its name is read by others); -ENOMEM.  On error
 *   the name is unchanged.
 * Thread-safety: the owner of @source (not concurrently with readers).
 * Async-signal-safe: no.  Since: 0.1 */
CX_EXPORT int cx_source_set_name(cx_source *source, const char *name);

/* cx_source_reason: the reason the source cancels with (for composites,
 * CX_REASON_NONE: they take the reason of the sub-source that fired).
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT cx_reason cx_source_reason(const cx_source *source);

/* cx_source_triggered: whether the source has triggered since it started.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT bool cx_source_triggered(const cx_source *source);

/* cx_op_add_source: attach a source to a PENDING op (any number of sources
 * may be attached: the first to trigger cancels the op).
 * @op: (not nullable).  @source: (not nullable) (transfer full on success);
 *   not already given away.
 * Returns: 0.
 * Errors: -EINVAL NULL argument or a source already attached; -EBUSY the op
 *   was already entered, or is lent to a running combined op
 *   (cx_op_combine()).  On error the caller keeps @source.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT int cx_op_add_source(cx_op *op, cx_source *source);

/* cx_source_timeout: a source that triggers @seconds after start with
 * reason TIMEOUT and the message "timed out after N s".
 * @seconds: > 0 and at most 9.2e9 (about 292 years); under 1 ns counts as
 *   1 ns.
 * @out: (not nullable) receives the source (transfer full).
 * Returns: 0.  Errors: -EINVAL bad @seconds or NULL @out; -ENOMEM.
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_source_timeout(cx_source **out, double seconds);

/* cx_source_timeout_cause: cx_source_timeout() that triggers with
 * @message instead of "timed out after N s" (reason still TIMEOUT), as
 * Go's context.WithTimeoutCause(); inside a composite, the composite
 * reports that message.  No error code is recorded (see
 * cx_op_add_timeout_cause()).
 * @seconds: as for cx_source_timeout().
 * @message: (not nullable) copied; "" is allowed.
 * @out: (not nullable) receives the source (transfer full).
 * Returns: 0.  Errors: -EINVAL bad @seconds, NULL @message or @out (then
 *   *@out, if @out is not NULL, is NULL); -ENOMEM.
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_source_timeout_cause(cx_source **out, double seconds,
                                      const char *message);

/* cx_source_signal: a source that triggers, with reason SIGNAL and the
 * message "received signal SIGTERM (15)", when the process receives one of
 * @signals.  A process-wide dispatcher installs sigaction() handlers that
 * only write the signal number to a pipe; its thread triggers every started
 * source watching that signal.  Works from any thread.  When the last
 * watcher of a signal stops, the previous disposition is restored exactly.
 * @signals: (nullable when @count is 0) signal numbers; @count 0 means
 *   SIGINT and SIGTERM.
 * Returns: 0.
 * Errors: -EINVAL NULL @out, a number <= 0 or above the maximum, SIGKILL or
 *   SIGSTOP (they cannot be caught), a fault signal (SIGSEGV, SIGBUS,
 *   SIGFPE, SIGILL, SIGTRAP, SIGSYS: returning from their handler re-runs
 *   the fault), or more than 64 signals; -ENOMEM.  start() may fail with
 *   -EMFILE/-EAGAIN when the dispatcher cannot start.
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_source_signal(cx_source **out, const int *signals,
                               size_t count);

/* The default check interval of condition sources, in seconds: what an
 * interval of 0 means wherever one is taken (cx_source_condition(),
 * cx_op_with_condition(), cx_resource_limits.interval,
 * cx_run_options.condition_interval, and the tool's --interval).  0.1 s,
 * the reference's ConditionSource default (it advises against shorter
 * intervals).  Since: 0.1 */
#define CX_CONDITION_INTERVAL_DEFAULT 0.1

/* A condition predicate: return 1 when the condition is met (the source
 * triggers), 0 when not, a negative errno on error (counted, logged, and
 * polling goes on).  Runs on a condition worker thread, never on the timer
 * thread, so it may block; one source's predicate never runs twice at
 * once.  Stopping the source (cx_op_exit()) waits for a check that is
 * running, so a predicate that blocks for long delays the exit: make it
 * return promptly, or make it interruptible by your own means. */
typedef int (*cx_predicate_fn)(void *user_data);

/* cx_source_condition: a source that calls @predicate at start (the op's
 * enter: a condition already true cancels at once) and then every
 * @interval seconds after the previous check returned, and triggers with
 * reason CONDITION and the message "condition NAME met after N checks".
 * The checks run on a condition worker, so the first one comes just
 * after cx_op_enter() returns, not inside it.
 * @predicate: (not nullable).  @user_data: (nullable).
 * @destroy: (nullable) frees @user_data with the source.
 * @interval: seconds, 0 (CX_CONDITION_INTERVAL_DEFAULT, 0.1 s) or > 0 and
 *   at most 9.2e9 (about 292 years); under 1 ns counts as 1 ns.
 * @name: (nullable) copied; default "condition".
 * @out: (not nullable) receives the source (transfer full).
 * Returns: 0.
 * Errors: -EINVAL NULL @predicate or @out, a negative, NaN, infinite or
 *   too long @interval (then @destroy is not called); -ENOMEM.
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_source_condition(cx_source **out, cx_predicate_fn predicate,
                                  void *user_data, void (*destroy)(void *),
                                  double interval, const char *name);

/* Thresholds for cx_source_resource().  Initialise with
 * CX_RESOURCE_LIMITS_INIT; a limit of 0 is not watched. */
typedef struct cx_resource_limits {
  size_t size;           /* sizeof(cx_resource_limits) */
  double memory_percent; /* system memory in use, % (from /proc/meminfo:
                            100 * (1 - MemAvailable / MemTotal)) */
  double cpu_percent;    /* system CPU busy since the previous check, %
                            (from /proc/stat; its ticks are 10 ms, so
                            short intervals read coarsely) */
  double disk_percent;   /* space used on disk_path's file system, %
                            (statvfs: 100 * (1 - f_bavail / f_blocks)) */
  const char *disk_path; /* (nullable) default "/" */
  double interval;       /* seconds between checks; 0 means
                            CX_CONDITION_INTERVAL_DEFAULT (0.1 s) */
  double sustain;        /* seconds a resource must stay at or above its
                            threshold, check after check, before the
                            source fires (a check below restarts the
                            count; measured between checks, so it fires
                            at the first check at least @sustain after
                            the first check over); 0: at the first check
                            over.  As Kubernetes' eviction grace periods
                            and Prometheus' alert "for:" */
} cx_resource_limits;

/* Initialiser for cx_resource_limits: nothing watched, the default
 * interval, no sustain time. */
#define CX_RESOURCE_LIMITS_INIT \
  { sizeof(cx_resource_limits), 0.0, 0.0, 0.0, NULL, 0.0, 0.0 }

/* cx_source_resource: a condition source that triggers (reason CONDITION,
 * a message naming the resource, its value, the threshold and the sustain
 * time if any) when a watched resource has reached its threshold (and
 * stayed there for @limits->sustain seconds).  Each resource is sampled at
 * start and then every interval, as cx_source_condition() checks.
 * @limits: (not nullable) copied.
 * @out: (not nullable) receives the source (transfer full).
 * Returns: 0.
 * Errors: -EINVAL NULL argument, size too small, no limit set, a limit
 *   outside (0, 100], a bad interval (as cx_source_condition()), a
 *   negative, NaN or infinite sustain time; -ENOENT, -EACCES, ... (from
 *   statvfs(3)) a disk limit whose path cannot be examined; -ENOMEM.
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_source_resource(cx_source **out,
                                 const cx_resource_limits *limits);

/* cx_source_any_of: a composite that triggers on the first of @sources to
 * trigger, with that source's reason and message (OR logic; the reference's
 * AnyOfSource, also known as CompositeSource).  Composites nest.
 * @sources: (not nullable) @count sources (transfer full on success: the
 *   composite owns and frees them).
 * @count: at least 1, at most 64.
 * @out: (not nullable) receives the composite (transfer full).
 * Returns: 0.
 * Errors: -EINVAL NULL argument, @count 0 or > 64, a NULL or already-owned
 *   sub-source; -ENOMEM.  On error the caller keeps the sources.
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_source_any_of(cx_source **out, cx_source *const *sources,
                               size_t count);

/* cx_source_all_of: a composite that triggers once every one of @sources
 * has triggered at least once since start, timeouts and signals included
 * (AND logic; the reference's AllOfSource).  Its reason is that of the
 * source that completed the set; its message says "all N sources
 * triggered (the last: NAME)".  Arguments and errors as cx_source_any_of().
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_source_all_of(cx_source **out, cx_source *const *sources,
                               size_t count);

/* cx_op_with_signal: the reference's Cancelable.with_signal(): an op
 * cancelled (reason SIGNAL) when one of @signals arrives while it runs.
 * @out: as for cx_op_create().
 * @parent: (nullable) as for cx_op_with_timeout() (NULL: no parent).
 * @signals, @count: as cx_source_signal().
 * @name: (nullable).
 * Returns: 0.  Errors: as cx_source_signal() and cx_op_create().
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_op_with_signal(cx_op **out, cx_op *parent, const int *signals,
                                size_t count, const char *name);

/* cx_op_with_condition: the reference's Cancelable.with_condition(): an op
 * cancelled (reason CONDITION) when @predicate returns 1; see
 * cx_source_condition() for the arguments.
 * @parent: (nullable) as for cx_op_with_timeout() (NULL: no parent).
 * Returns: 0.  Errors: as cx_source_condition() and cx_op_create() (on
 *   error @destroy is not called).
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_op_with_condition(cx_op **out, cx_op *parent,
                                   cx_predicate_fn predicate, void *user_data,
                                   void (*destroy)(void *), double interval,
                                   const char *name);

/* cx_op_combine: the reference's Cancelable.combine(): a new PENDING op
 * cancelled when any of @ops is cancelled, keeping the first trigger's
 * reason and message (its token is linked to each op's token with
 * CX_LINK_PRESERVE_REASON).
 * The combined op runs its inputs' sources (timeouts, signals,
 * conditions, ... and, for an input made by cx_op_combine(), its own
 * inputs') from its enter to its exit, as the reference does: a trigger
 * cancels the combined op (not the input), a timeout counts from the
 * combined op's enter, and cx_op_deadline() includes it.  So combined
 * timeouts of 0.1 s and 0.2 s cancel it 0.1 s after its enter.  This
 * applies to the inputs still PENDING when the combined op is entered;
 * meanwhile they are lent: cx_op_enter() and cx_op_add_source() on them
 * return -EBUSY, and they are given back, unchanged, at its exit.  An
 * input already running (or lent to another combined op) keeps its
 * sources, which cancel the combined op through the link.
 * @out: as for cx_op_create().
 * @parent: (nullable) as for cx_op_with_timeout() (NULL: no parent): the
 *   combined op is its child.
 * @ops: (not nullable) @count ops, each
 *   referenced by the combined op.  @count: at least 1.  @name: (nullable)
 *   default "combined".
 * Returns: 0.  Errors: -EINVAL NULL argument or @count 0; -ENOMEM.
 *   cx_op_enter() of the combined op fails with an input source's start
 *   error (then nothing is lent).
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT int cx_op_combine(cx_op **out, cx_op *parent, cx_op *const *ops,
                            size_t count, const char *name);

#ifdef __cplusplus
}
#endif

#endif /* CANCELABLE_SOURCE_H */
