/* tools/cancelable/statusline.c - draws the live `--progress` line on a
 * terminal: "[12.3s | 47s left | ETA 8.0s] [#####.....]  42% message", or
 * writes it as plain lines elsewhere. */
#include "statusline.h"

#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cxu_utf8.h"
#include "scrollregion.h"

#define BAR_WIDTH 20

void statusline_init(statusline *s, int fd, bool want, const char *prog) {
  memset(s, 0, sizeof *s);
  s->fd = fd;
  s->prog = prog;
  s->enabled = want;
  s->plain = want && !isatty(fd);
  if (s->enabled && !s->plain) s->region = scrollregion_start(fd);
}

/* "12.3s", "4m05s", "2h03m", "3d04h". */
static void format_span(char *buf, size_t size, double t) {
  long s = (long)t;
  if (t < 60)
    snprintf(buf, size, "%.1fs", t);
  else if (t < 3600)
    snprintf(buf, size, "%ldm%02lds", s / 60, s % 60);
  else if (t < 86400)
    snprintf(buf, size, "%ldh%02ldm", s / 3600, s % 3600 / 60);
  else
    snprintf(buf, size, "%ldd%02ldh", s / 86400, s % 86400 / 3600);
}

static void format_bar(char *buf, double percent) {
  int fill = (int)(percent / 100.0 * BAR_WIDTH + 0.5);
  if (fill < 0) fill = 0;
  if (fill > BAR_WIDTH) fill = BAR_WIDTH;
  buf[0] = '[';
  for (int i = 0; i < BAR_WIDTH; i++) buf[1 + i] = i < fill ? '#' : '.';
  buf[BAR_WIDTH + 1] = ']';
  buf[BAR_WIDTH + 2] = '\0';
}

void statusline_format(char *buf, size_t size, int width, cx_op *op,
                       const progress_state *st) {
  char elapsed[32], left[32] = "", bar[BAR_WIDTH + 3] = "", pct[16] = "";
  char count[48] = "", eta[40] = "";
  double remaining = cx_op_remaining(op);
  size_t limit = width > 0 && (size_t)width < size ? (size_t)width : size - 1;
  format_span(elapsed, sizeof elapsed, cx_op_elapsed(op));
  if (isfinite(remaining)) {
    char span[24];
    format_span(span, sizeof span, remaining);
    snprintf(left, sizeof left, " | %s left", span);
  }
  if (isfinite(st->eta) && st->eta >= 0) {
    char span[24];
    format_span(span, sizeof span, st->eta);
    snprintf(eta, sizeof eta, " | ETA %s", span);
  }
  if (!isnan(st->percent)) {
    format_bar(bar, st->percent);
    snprintf(pct, sizeof pct, " %5.1f%%", st->percent);
  }
  if (st->current >= 0 && st->total >= 0)
    snprintf(count, sizeof count, " %lld/%lld", (long long)st->current,
             (long long)st->total);
  else if (st->current >= 0)
    snprintf(count, sizeof count, " %lld", (long long)st->current);
  /* One blank before each part that is there ("[1.0s]  1 x" had two; the
   * percent keeps its width of 5, so "  5.0%" lines up). */
  snprintf(buf, size, "[%s%s%s]%s%s%s%s%s%s", elapsed, left, eta,
           bar[0] != '\0' ? " " : "", bar, pct, count,
           st->message[0] != '\0' ? " " : "", st->message);
  if (strlen(buf) > limit) buf[cxu_utf8_cut(buf, limit)] = '\0';
  /* The message comes from the command: keep its control bytes (escape
   * sequences) off the terminal. */
  for (char *c = buf; *c != '\0'; c++)
    if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
}

static int terminal_width(int fd) {
  struct winsize ws;
  if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1) return ws.ws_col - 1;
  return 79;
}

/* Whether a line can be written to @fd now without blocking: a pipe
 * nobody reads (`| less` scrolled back) must not stop the tool's loop,
 * and with it the timeout.  POLLOUT on a pipe means a free buffer, so a
 * line under PIPE_BUF goes in whole. */
static bool writable(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLOUT};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLOUT);
}

/* Writes a plain line of @op and @st, if @fd can take it now. */
static void write_plain(statusline *s, cx_op *op, const progress_state *st,
                        double now) {
  char line[1024], out[1100];
  int n;
  if (!writable(s->fd)) return;
  statusline_format(line, sizeof line, 0, op, st);
  n = snprintf(out, sizeof out, "%s: progress %s\n", s->prog, line);
  (void)!write(s->fd, out, (size_t)n < sizeof out ? (size_t)n : sizeof out);
  s->reports_shown = st->reports;
  s->last_draw = now;
  s->drawn = true;
}

/* A plain line when a report came since the last one, at most one every
 * STATUSLINE_PLAIN_PERIOD seconds (skipped while @fd cannot take it). */
static void tick_plain(statusline *s, cx_op *op, const progress_state *st,
                       double now) {
  if (st->reports == s->reports_shown ||
      (s->drawn && now - s->last_draw < STATUSLINE_PLAIN_PERIOD))
    return;
  write_plain(s, op, st, now);
}

void statusline_tick(statusline *s, cx_op *op, const progress_state *st) {
  char line[1024], out[1100];
  double now = cx_now();
  int n, row = s->region ? scrollregion_row() : 0;
  if (s->plain) {
    tick_plain(s, op, st, now);
    return;
  }
  if (!s->enabled || (s->drawn && now - s->last_draw < 1.0 / STATUSLINE_HZ))
    return;
  statusline_format(line, sizeof line, terminal_width(s->fd), op, st);
  if (row > 0) /* save the cursor, the last row, erase it, the line, back */
    n = snprintf(out, sizeof out, "\0337\033[%d;1H\033[2K%s\0338", row, line);
  else /* carriage return, the line, erase to the end of the line */
    n = snprintf(out, sizeof out, "\r%s\033[K", line);
  (void)!write(s->fd, out, (size_t)n < sizeof out ? (size_t)n : sizeof out);
  s->last_draw = now;
  s->drawn = true;
}

void statusline_clear(statusline *s) {
  if (!s->enabled || s->plain || !s->drawn ||
      (s->region && scrollregion_row() > 0))
    return;
  (void)!write(s->fd, "\r\033[K", 4);
  s->drawn = false;
}

bool statusline_signal(statusline *s, int signo) {
  if (!s->region || !scrollregion_on_signal(signo)) return false;
  s->drawn = false; /* redrawn at the next tick */
  return true;
}

void statusline_end(statusline *s, cx_op *op, const progress_state *st) {
  /* A log ends on the last report, not on one up to a second older. */
  if (s->plain && st != NULL && st->reports != s->reports_shown)
    write_plain(s, op, st, cx_now());
  if (s->region) {
    scrollregion_end(); /* clears the row */
    s->region = false;
    s->drawn = false;
  }
  statusline_clear(s);
}
