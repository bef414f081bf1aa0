/* examples/sources/file_source.h - a custom cancellation source written with
 * the public source API (cancelable/source.h): it triggers, with reason
 * CONDITION and the message "file PATH appeared", when a file appears at a
 * path.  start() launches a small thread that polls stat(2); stop() tells it
 * to finish and joins it, so once cx_op_exit() returns the source's thread
 * no longer touches its state.  Used by the custom_source example and by
 * tests/unit/test_sources.c (issue #3).
 */
#ifndef CX_EXAMPLE_FILE_SOURCE_H
#define CX_EXAMPLE_FILE_SOURCE_H

#include <cancelable.h>

/* file_source_new: a source that triggers when @path exists.
 * @path: (not nullable) copied.  @poll_interval: seconds between checks,
 *   > 0.  @out: receives the source (transfer full).
 * Returns: 0, or -EINVAL / -ENOMEM (as cx_source_new()). */
int file_source_new(const char *path, double poll_interval, cx_source **out);

/* Counters for tests: how many watcher threads are running right now, and
 * how many stat() checks were made by every file source so far. */
int file_source_threads_running(void);
long file_source_checks(void);

#endif /* CX_EXAMPLE_FILE_SOURCE_H */
