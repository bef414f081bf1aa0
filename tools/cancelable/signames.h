/* tools/cancelable/signames.h - signal names and numbers ("TERM", "SIGINT",
 * "9", "RTMIN+1"). */
#ifndef CANCELABLE_TOOL_SIGNAMES_H
#define CANCELABLE_TOOL_SIGNAMES_H

#include <stddef.h>

/* signame_parse: a signal given as a name with or without "SIG" (any
 * case), a number, "RTMIN+N" or "RTMAX-N"; "0" and "EXIT" mean signal 0
 * ("send nothing", as GNU timeout accepts).
 * Returns: the signal number (>= 0), or -EINVAL. */
int signame_parse(const char *text);

/* signame_name: the name of @signo without "SIG" ("TERM", "RTMIN+2"), the
 * one GNU's sig2str() gives (ABRT, CHLD, POLL for the signals with two;
 * RTMIN and RTMAX without "+0"), or its number ("0" for signal 0), written
 * into @buf (at least 16 bytes) when it is not a standard name.
 * Returns: (transfer none) a static string or @buf. */
const char *signame_name(int signo, char *buf, size_t size);

#endif /* CANCELABLE_TOOL_SIGNAMES_H */
