/* cancelable/log.h - the library's log output.
 *
 * The library is silent by default: nothing reaches stderr unless a handler
 * installed here writes it.  Messages carry the id of the operation they
 * concern (for log correlation) when there is one.
 *
 * Since: 0.1
 */
#ifndef CANCELABLE_LOG_H
#define CANCELABLE_LOG_H

#include <cancelable/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Log levels, most verbose first. */
typedef enum cx_log_level {
  CX_LOG_DEBUG = 0,
  CX_LOG_INFO = 1,
  CX_LOG_WARNING = 2,
  CX_LOG_ERROR = 3
} cx_log_level;

/* A log handler.  @op_id is the operation's id or NULL; @message is the text
 * without a trailing newline.  Both are valid only during the call.  Runs on
 * whichever thread logs, possibly several at once, possibly with no library
 * lock but inside a cancel; it must not block for long.  It may call the
 * library, but a call it makes may log again and so call it again (a
 * cx_registry_find() while memory stays short logs each time): a handler
 * that calls the library guards against that re-entry itself. */
typedef void (*cx_log_fn)(cx_log_level level, const char *op_id,
                          const char *message, void *user_data);

/* cx_log_set_handler: install (or with NULL remove) the log handler.
 * Messages below @min_level are not formatted at all.
 * @fn: (nullable) the handler; NULL restores silence.
 * @min_level: the least severe level delivered.
 * @user_data: (nullable) passed to @fn; owned by the caller, who keeps it
 *   alive until the handler is replaced.
 * Thread-safety: any thread; a message being delivered concurrently may
 *   still reach the previous handler.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT void cx_log_set_handler(cx_log_fn fn, cx_log_level min_level,
                                  void *user_data);

/* cx_log_stderr: a ready-made handler that writes
 * "cancelable: LEVEL [op-id] message" lines to stderr.  Pass it to
 * cx_log_set_handler().
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT void cx_log_stderr(cx_log_level level, const char *op_id,
                             const char *message, void *user_data);

#ifdef __cplusplus
}
#endif

#endif /* CANCELABLE_LOG_H */
