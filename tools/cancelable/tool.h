/* tools/cancelable/tool.h - what the subcommands share: exit statuses and
 * entry points. */
#ifndef CANCELABLE_TOOL_H
#define CANCELABLE_TOOL_H

#include <stdbool.h>

/* Exit statuses (besides the command's own).  124-127 are GNU timeout's;
 * 120-123 are `cancelable run`'s cancellation reasons. */
enum {
  EXIT_CANCEL_OTHER = 120,     /* cancelled for another reason */
  EXIT_CANCEL_RESOURCE = 121,  /* a memory / CPU / disk threshold */
  EXIT_CANCEL_CONDITION = 122, /* a condition: file, command, count... */
  EXIT_CANCEL_SIGNAL = 123,    /* a signal received by the tool */
  EXIT_TIMEDOUT = 124,         /* a timeout */
  EXIT_TOOL_ERROR = 125,       /* the tool failed, or bad usage */
  EXIT_CANNOT_INVOKE = 126,    /* the command is not executable */
  EXIT_ENOENT = 127            /* the command was not found */
};

/* `cancelable run ...` (argv[0] is "run"). */
int run_main(int argc, char **argv);

/* `cancelable timeout ...` (argv[0] is "timeout"), or with @as_timeout
 * the tool run under the name `timeout` (argv[0] is the name as invoked,
 * which its messages use, as GNU timeout's). */
int timeout_main(int argc, char **argv, bool as_timeout);

#endif /* CANCELABLE_TOOL_H */
