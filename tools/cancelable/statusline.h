/* tools/cancelable/statusline.h - `--progress`: one live status line on a
 * terminal (elapsed, time left to the timeout, the ETA of the progress
 * reports when their total is known, the last progress as a bar and its
 * message), redrawn at most STATUSLINE_HZ times a second and cleared at the
 * end. */
#ifndef CANCELABLE_TOOL_STATUSLINE_H
#define CANCELABLE_TOOL_STATUSLINE_H

#include <cancelable.h>
#include <stdbool.h>

#include "progress_channel.h"

#define STATUSLINE_HZ 5

typedef struct statusline {
  bool enabled; /* asked for and the descriptor is a terminal */
  int fd;
  double last_draw; /* cx_now() of the last redraw */
  bool drawn;       /* something is on the line */
} statusline;

/* statusline_init: enable the line on @fd when @want and @fd is a TTY. */
void statusline_init(statusline *s, int fd, bool want);

/* statusline_format: the text of the line for @op and @st, at most @width
 * columns (exposed for tests). */
void statusline_format(char *buf, size_t size, int width, cx_op *op,
                       const progress_state *st);

/* statusline_tick: redraw if the last redraw is old enough. */
void statusline_tick(statusline *s, cx_op *op, const progress_state *st);

/* statusline_clear: erase the line (idempotent). */
void statusline_clear(statusline *s);

#endif /* CANCELABLE_TOOL_STATUSLINE_H */
