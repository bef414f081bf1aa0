/* cancelable.h - libcancelable, cooperative cancellation for C11.
 *
 * Include this umbrella header; every sub-header in cancelable/ is also
 * self-contained and may be included alone (a test compiles each by itself).
 *
 * Thread safety (the library's first guarantee): every function may be called
 * from any thread unless its comment says otherwise.  Cancel is idempotent:
 * the first call wins, returns true and fixes reason, message and time; later
 * calls return false and change nothing.  No library lock is held while user
 * callbacks run.  Errors are negative errno values (cancelable/common.h).
 *
 * Map:
 *   cancelable/version.h  versions and ABI policy
 *   cancelable/common.h   status and reason enums, error names, CX_FOREVER
 *   cancelable/token.h    tokens, callbacks, links, pollable fd, signal-safe
 *                         cancel
 *   cancelable/op.h       operations: context, timeouts, current operation
 *                         hierarchy, shields
 *   cancelable/progress.h progress reports up the hierarchy, streams
 *   cancelable/registry.h operation registry: query, cancel, stats, JSON
 *   cancelable/events.h   the event stream: every op's lifecycle events
 *   cancelable/run.h      run helpers, scopes, wrapping, retries, threads
 *   cancelable/source.h   sources: timeout, signal, condition, resource,
 *                         any-of / all-of, custom; combined ops
 *   cancelable/wait.h     cancellation points: check, sleep, poll, fd, condvar
 *   cancelable/meta.h     typed key/value metadata
 *   cancelable/clock.h    the clock and the virtual clock for tests
 *   cancelable/log.h      log handler (silent by default)
 */
#ifndef CANCELABLE_H
#define CANCELABLE_H

#include <cancelable/clock.h>
#include <cancelable/common.h>
#include <cancelable/events.h>
#include <cancelable/export.h>
#include <cancelable/log.h>
#include <cancelable/meta.h>
#include <cancelable/notifier.h>
#include <cancelable/op.h>
#include <cancelable/progress.h>
#include <cancelable/registry.h>
#include <cancelable/run.h>
#include <cancelable/source.h>
#include <cancelable/token.h>
#include <cancelable/version.h>
#include <cancelable/wait.h>

#endif /* CANCELABLE_H */
