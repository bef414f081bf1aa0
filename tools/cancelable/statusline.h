/* tools/cancelable/statusline.h - `--progress`: one live status line on a
 * terminal (elapsed, time left to the timeout, the ETA of the progress
 * reports when their total is known, the last progress as a bar and its
 * message), redrawn at most STATUSLINE_HZ times a second and cleared at the
 * end.  It lives on the terminal's last row, below a scroll region that
 * holds the command's output (scrollregion.h); where the terminal's size
 * is unknown (or under 3 rows) it is drawn at the cursor instead and
 * cleared before the tool's own messages.  Where the descriptor is not a
 * terminal (a log, a pipe, CI) the same text is written as plain lines,
 * "PROG: progress [...]", with no escape sequence: one when a report came
 * since the last, at most one every STATUSLINE_PLAIN_PERIOD seconds (as
 * docker's plain progress, or `dd status=progress` off a terminal). */
#ifndef CANCELABLE_TOOL_STATUSLINE_H
#define CANCELABLE_TOOL_STATUSLINE_H

#include <cancelable.h>
#include <stdbool.h>
#include <stdint.h>

#include "progress_channel.h"

#define STATUSLINE_HZ 5
#define STATUSLINE_PLAIN_PERIOD 1.0

typedef struct statusline {
  bool enabled;     /* asked for */
  bool plain;       /* enabled and the descriptor is not a terminal: lines */
  const char *prog; /* the plain lines' prefix (not owned) */
  uint64_t reports_shown; /* progress_state.reports at the last plain line */
  int fd;
  double last_draw; /* cx_now() of the last redraw */
  bool drawn;       /* something is on the line */
  bool region;      /* scrollregion_start() succeeded */
} statusline;

/* statusline_init: when @want, enable the line on @fd: on a terminal keep
 * its last row for it (scrollregion_start()), elsewhere write plain lines
 * prefixed with "@prog: progress " (@prog not copied: it must outlive
 * @s).  Main thread; call statusline_end() before the tool exits. */
void statusline_init(statusline *s, int fd, bool want, const char *prog);

/* statusline_format: the text of the line for @op and @st, at most @width
 * columns (exposed for tests). */
void statusline_format(char *buf, size_t size, int width, cx_op *op,
                       const progress_state *st);

/* statusline_tick: redraw if the last redraw is old enough (plain lines:
 * write one if a report came since the last and the last is at least
 * STATUSLINE_PLAIN_PERIOD old). */
void statusline_tick(statusline *s, cx_op *op, const progress_state *st);

/* statusline_clear: before the tool writes a message: erase the line when
 * it is drawn at the cursor (nothing to do on its own row); idempotent. */
void statusline_clear(statusline *s);

/* statusline_signal: pass a signal read from the signal pipe (SIGWINCH,
 * SIGTSTP: scrollregion_on_signal()).  Returns: whether it was one of
 * those (then the line is redrawn at the next tick). */
bool statusline_signal(statusline *s, int signo);

/* statusline_end: erase the line and give the terminal its whole screen
 * back (scrollregion_end()); plain lines: write the last report if it
 * was not written yet (@st nullable: none).  Idempotent. */
void statusline_end(statusline *s, cx_op *op, const progress_state *st);

#endif /* CANCELABLE_TOOL_STATUSLINE_H */
