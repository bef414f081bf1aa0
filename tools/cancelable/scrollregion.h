/* tools/cancelable/scrollregion.h - keeps a terminal's last row for the
 * `--progress` status line, as apt's progress bar does: a scroll region
 * (DECSTBM, ESC [ 1 ; ROWS-1 r) holds everything else, so the command's
 * output scrolls above the line and is never written onto it.  The region
 * is set again when the terminal is resized (SIGWINCH), reset before the
 * tool stops for Ctrl-Z (SIGTSTP) and set again once it continues, and
 * reset with the last row cleared at the end, or when a signal whose
 * default action ends the tool comes.  One per process (the signal
 * handlers share it). */
#ifndef CANCELABLE_TOOL_SCROLLREGION_H
#define CANCELABLE_TOOL_SCROLLREGION_H

#include <stdbool.h>

/* scrollregion_start: when the terminal on @fd has a size of at least 3
 * rows (TIOCGWINSZ), scroll all but its last row (the cursor keeps its
 * place in the text; the screen scrolls one row up when the cursor was on
 * the last row), catch SIGWINCH and SIGTSTP through the tool's signal pipe
 * (sigfwd_catch(); SIGTSTP only when its disposition is the default), and
 * catch the signals whose default action ends the process that nobody
 * handles, to reset the terminal before dying of them.  Main thread.
 * Returns: whether the region is set (false: no size, too small, or
 *   already started; the caller draws without a region). */
bool scrollregion_start(int fd);

/* scrollregion_row: the status line's row (1-based: the terminal's last),
 * or 0 when no region is set. */
int scrollregion_row(void);

/* scrollregion_on_signal: handle @signo read from the signal pipe:
 * SIGWINCH sets the region for the new size; SIGTSTP resets the terminal,
 * stops the tool (SIGTSTP's default action), and sets the region again
 * once it continues.  Main thread.
 * Returns: whether @signo was one of those (the line must be redrawn). */
bool scrollregion_on_signal(int signo);

/* scrollregion_end: reset the scroll region (ESC [ r), clear the last
 * row, keep the cursor where the text ends, and restore the signal
 * dispositions it changed; idempotent.  Main thread. */
void scrollregion_end(void);

#endif /* CANCELABLE_TOOL_SCROLLREGION_H */
