/* tools/cancelable/report.h - the JSON report of `--report json`: the
 * operation's final context and how the command ended. */
#ifndef CANCELABLE_TOOL_REPORT_H
#define CANCELABLE_TOOL_REPORT_H

#include <cancelable.h>
#include <stdio.h>

#include "supervise.h"

/* What the report describes. */
typedef struct report_input {
  cx_op *op;   /* exited */
  char **argv; /* the command */
  const supervise_result *result;
  const char *cancel_kind; /* (nullable) "timeout", "signal", "condition",
                              "resource", "other": what cancelled it */
  int exit_status;         /* the tool's exit status */
} report_input;

/* report_json: the report as a JSON object (one line, no newline).
 * Returns: (transfer full) a malloc'ed string, or NULL (out of memory). */
char *report_json(const report_input *in);

/* report_write: write the report and a newline to @f (stderr or
 * --report-file) and flush it.
 * Returns: 0 or a negative errno (-ENOSPC for a full disk...). */
int report_write(FILE *f, const report_input *in);

#endif /* CANCELABLE_TOOL_REPORT_H */
