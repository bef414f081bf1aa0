/* tools/cancelable/progress_channel.h - the progress channel: the command
 * writes lines to the descriptor named in $CANCELABLE_PROGRESS_FD, the tool
 * turns each line into cx_report_progress() and remembers the last report (for
 * the live status line).
 *
 * Line format (one report per line, at most PROGRESS_LINE_MAX bytes):
 *   [PERCENT%] [CURRENT[/TOTAL]] [MESSAGE]
 * for example "42%", "42.5% hashing /usr/lib", "120/1000 files",
 * "120 lines read", "phase two".  PERCENT is a number followed by '%';
 * CURRENT and TOTAL are whole numbers; the rest is the message.  With
 * CURRENT/TOTAL and no PERCENT, the library fills in the percent, the rate
 * and the time left.  Empty lines are ignored.
 */
#ifndef CANCELABLE_TOOL_PROGRESS_CHANNEL_H
#define CANCELABLE_TOOL_PROGRESS_CHANNEL_H

#include <cancelable.h>
#include <stdbool.h>
#include <stdint.h>

#include "triggers.h"

#define PROGRESS_ENV "CANCELABLE_PROGRESS_FD"
#define PROGRESS_LINE_MAX 4096

/* The last progress report received, for the live status line (the JSON
 * report reads the op's last report from the library). */
typedef struct progress_state {
  char message[256];
  double percent;      /* NaN when unknown */
  int64_t current;     /* -1 when unknown */
  int64_t total;       /* -1 when unknown */
  double eta;          /* seconds left by the reports' rate (the library's
                          "eta", with CURRENT/TOTAL); NaN when unknown */
  uint64_t reports;    /* reports received so far */
  source_set *sources; /* (nullable) fed every report */
} progress_state;

/* Reads the progress pipe and splits it into lines. */
typedef struct progress_reader {
  int fd; /* the pipe's read end (non-blocking), or -1 */
  cx_op *op;
  char line[PROGRESS_LINE_MAX + 1];
  size_t len;
  bool overlong; /* the current line is being skipped past the limit */
} progress_reader;

/* progress_parse_line: parse one line (without its newline) into @meta
 * (keys "progress", "current", "total") and the message.
 * @message_out: receives a pointer into @line where the message starts.
 * Returns: true when the line is a report (false for an empty line). */
bool progress_parse_line(const char *line, cx_meta *meta,
                         const char **message_out);

/* progress_state_init / progress_attach: reset @st and register the
 * callback that keeps it up to date (and feeds @st->sources) on @op. */
void progress_state_init(progress_state *st, source_set *sources);
int progress_attach(cx_op *op, progress_state *st);

/* progress_reader_init: read @fd (made non-blocking) and report on @op. */
void progress_reader_init(progress_reader *r, int fd, cx_op *op);

/* progress_reader_read: read what is available and report every complete
 * line.  Returns: 1 at end of file (every writer closed), 0 otherwise. */
int progress_reader_read(progress_reader *r);

/* progress_reader_finish: report a last line that had no newline. */
void progress_reader_finish(progress_reader *r);

#endif /* CANCELABLE_TOOL_PROGRESS_CHANNEL_H */
