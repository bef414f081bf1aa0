/* tools/cancelable/gnu_compat.h - what `cancelable timeout` needs to say
 * things as GNU coreutils' timeout(1) does: its quoting of file names and
 * its check of the standard streams at exit. */
#ifndef CANCELABLE_TOOL_GNU_COMPAT_H
#define CANCELABLE_TOOL_GNU_COMPAT_H

#include <stdbool.h>

/* gnu_quote: @arg quoted as coreutils' quote() does in the environment's
 * locale (LC_ALL, LC_CTYPE, LANG; English messages otherwise): between
 * U+2018 and U+2019 when its character set is UTF-8, between straight
 * single quotes otherwise.  Inside, a backslash and the closing quote get
 * a backslash, \a \b \f \n \r \t \v are written so, and every other byte
 * that is not part of a printable character of the locale is written as
 * \ and three octal digits ('caf\303\251' in the C locale, 'café' in a
 * UTF-8 one).
 * Returns: (transfer full) a malloc'ed string, or NULL when out of memory.
 * Thread-safety: the main thread (the locale is looked up once). */
char *gnu_quote(const char *arg);

/* gnu_close_std: at exit, as coreutils' close_stdout(): close standard
 * output; if that fails (an earlier write error, or a flush or close error
 * other than EBADF on a stream with nothing pending) print
 * "@prog: write error[: REASON]" on standard error and return false; then
 * close standard error, and return false (silently) if it had a write
 * error.  The caller exits with its failure status then (125, or 124 after
 * a timeout, as GNU timeout).
 * Returns: true when both streams were fine. */
bool gnu_close_std(const char *prog);

#endif /* CANCELABLE_TOOL_GNU_COMPAT_H */
