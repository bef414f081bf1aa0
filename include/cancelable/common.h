/* cancelable/common.h - types, enums and error helpers shared by every
 * libcancelable header.
 *
 * Errors are negative errno values (libuv's convention): functions return
 * 0 or a non-negative count on success and -EINVAL, -ENOMEM, -ECANCELED,
 * -ETIMEDOUT, ... on failure.  Global `errno` is never used to report.
 * -ECANCELED means "the operation was cancelled" (by a timeout, a signal, a
 * parent, by hand, ...); -ETIMEDOUT means "this call's own timeout passed"
 * (libdill's split).  If a call that takes a callback fails, the callback is
 * never called and its destroy notify is not called either: ownership of the
 * user data stays with the caller (libuv's rule).
 *
 * Conventions every header follows (0.2):
 * - Names: cx_<object>_<verb> for actions (cx_op_enter, cx_token_cancel),
 *   cx_<object>_<attribute> for getters (cx_op_name, cx_token_id); what a
 *   cancel recorded is cx_<object>_cancel_reason / _cancel_message /
 *   _cancel_time on tokens and ops alike.  No aliases: one name per call.
 * - Getters take a const pointer, return the attribute (or a neutral value:
 *   NULL, 0, false, CX_REASON_NONE, +INFINITY for "no deadline") and accept
 *   NULL, returning that neutral value.  Text they return is (transfer
 *   none) and lives as long as the object.
 * - NULL for an op: calls made from inside an operation's work take NULL
 *   as "the calling thread's current op" (cx_current(); inside a shield,
 *   the enclosing op, except where a call says the shield's own scope):
 *   the cancellation points of wait.h (cx_check, cx_sleep, cx_poll, ...),
 *   cx_op_is_cancelled, cx_op_remaining, cx_report_progress,
 *   cx_op_update_metadata, cx_op_set_partial_result, cx_stream_new,
 *   cx_retry, cx_run_until_cancelled, cx_shield_begin.  Calls that manage
 *   an op's life from outside (create, enter, exit, cancel, timeouts and
 *   deadlines, callbacks) reject a NULL op with -EINVAL.
 * - Out-parameters: a call whose job is to make an object gives it back
 *   through its first parameter (`cx_op **out`, `cx_source **out`,
 *   `cx_stream **out`, as pthread_create), and sets it to NULL on error.
 *   Values read into caller storage (cx_meta_get_int(meta, key, &v),
 *   cx_op_to_json(op, &text), cx_registry_list(filter, &list)) and
 *   optional handles a call may give back besides its job (@out of
 *   cx_token_on_cancel(), @out_op of cx_run()) come last.
 * - Seconds are `double`: durations relative to now, deadlines as
 *   cx_now() readings; NaN is rejected with -EINVAL.
 * - Parents: a `parent` argument or option (cx_op_options.parent,
 *   cx_run_options.parent, the factories cx_op_with_timeout(&out, parent,
 *   seconds, name) and the other cx_op_with_*() and cx_op_combine(), which
 *   take it right after @out) that is NULL means "no parent", never "the
 *   current op": pass cx_current() for that, as Go passes its parent
 *   context explicitly.
 *
 * Since: 0.1
 */
#ifndef CANCELABLE_COMMON_H
#define CANCELABLE_COMMON_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cancelable/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A thread-safe one-shot cancellation flag (see cancelable/token.h). */
typedef struct cx_token cx_token;
/* A scope of work with context, sources and children (cancelable/op.h). */
typedef struct cx_op cx_op;
/* A registration handle for a cancel callback (cancelable/token.h). */
typedef struct cx_callback cx_callback;
/* A typed key/value dictionary (cancelable/meta.h). */
typedef struct cx_meta cx_meta;

/* CX_FOREVER: pass as a `timeout` to wait without a time limit.  Every
 * blocking call takes its timeout as `double` seconds, last, with poll(2)'s
 * convention: a negative value (such as CX_FOREVER) or +infinity waits
 * forever, 0 does not block, NaN is rejected with -EINVAL. */
#define CX_FOREVER (-1.0)

/* Operation lifecycle.  Values are explicit and append-only. */
#define CX_STATUS_MAP(XX)       \
  XX(PENDING, 0, "pending")     \
  XX(RUNNING, 1, "running")     \
  XX(COMPLETED, 2, "completed") \
  XX(CANCELLED, 3, "cancelled") \
  XX(FAILED, 4, "failed")       \
  XX(SHIELDED, 5, "shielded")

/* Why a token or operation was cancelled.  NONE means "not cancelled".
 * Values are explicit and append-only. */
#define CX_REASON_MAP(XX)       \
  XX(NONE, 0, "none")           \
  XX(TIMEOUT, 1, "timeout")     \
  XX(MANUAL, 2, "manual")       \
  XX(SIGNAL, 3, "signal")       \
  XX(CONDITION, 4, "condition") \
  XX(PARENT, 5, "parent")       \
  XX(ERROR, 6, "error")

/* cx_status: where an operation is in its lifecycle,
 * PENDING -> RUNNING -> COMPLETED | CANCELLED | FAILED. */
typedef enum cx_status {
#define CX_XX_(name, value, text) CX_STATUS_##name = value,
  CX_STATUS_MAP(CX_XX_)
#undef CX_XX_
} cx_status;

/* cx_reason: why a token or operation was cancelled. */
typedef enum cx_reason {
#define CX_XX_(name, value, text) CX_REASON_##name = value,
  CX_REASON_MAP(CX_XX_)
#undef CX_XX_
} cx_reason;

/* cx_status_name: the lower-case word for a status ("running", ...).
 * Returns: (transfer none) a static string; "unknown" for a value outside
 * the enum.
 * Thread-safety: any thread.  Async-signal-safe: yes.
 * Since: 0.1 */
CX_EXPORT const char *cx_status_name(cx_status status);

/* Status predicates (the reference's OperationStatus checks).
 * cx_status_is_terminal: COMPLETED, CANCELLED or FAILED: the op has exited
 *   and its status no longer changes (PENDING, RUNNING and SHIELDED are
 *   not).
 * cx_status_is_success: COMPLETED.
 * cx_status_is_cancelled: CANCELLED.
 * A value outside the enum gives false.
 * Thread-safety: any thread.  Async-signal-safe: yes.
 * Since: 0.1 */
CX_EXPORT bool cx_status_is_terminal(cx_status status);
/* See cx_status_is_terminal().  Since: 0.1 */
CX_EXPORT bool cx_status_is_success(cx_status status);
/* See cx_status_is_terminal().  Since: 0.1 */
CX_EXPORT bool cx_status_is_cancelled(cx_status status);

/* cx_reason_name: the lower-case word for a reason ("timeout", ...).
 * Returns: (transfer none) a static string; "unknown" for a value outside
 * the enum.
 * Thread-safety: any thread.  Async-signal-safe: yes.
 * Since: 0.1 */
CX_EXPORT const char *cx_reason_name(cx_reason reason);

/* cx_strerror: a human description of a libcancelable return code.
 * @err: a negative errno value as returned by this library (a positive value
 *   is treated as its negation).
 * Returns: (transfer none) a static string, never NULL ("success" for 0;
 * other errno values get the C library's description; "unknown error" for a
 * value it does not know).
 * Thread-safety: any thread (does not use strerror's static buffer).
 * Async-signal-safe: yes.
 * Since: 0.1 */
CX_EXPORT const char *cx_strerror(int err);

/* cx_err_name: the symbolic name of a return code ("ECANCELED", ...).
 * @err: as for cx_strerror().
 * Returns: (transfer none) a static string, never NULL ("OK" for 0; the
 * errno name such as "EIO" for any errno the C library knows; "UNKNOWN"
 * otherwise).
 * Thread-safety: any thread.  Async-signal-safe: yes.
 * Since: 0.1 */
CX_EXPORT const char *cx_err_name(int err);

#ifdef __cplusplus
}
#endif

#endif /* CANCELABLE_COMMON_H */
