/* tools/cancelable/progress_channel.c - the progress channel: parses the lines
 * a command writes to $CANCELABLE_PROGRESS_FD into library progress reports,
 * and records the last report delivered to the operation. */
#include "progress_channel.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cxu_utf8.h"

static const char *skip_blanks(const char *s) {
  while (*s == ' ' || *s == '\t') s++;
  return s;
}

static size_t word_len(const char *s) { return strcspn(s, " \t"); }

/* A percentage word "42" + "%" (the '%' required). */
static bool parse_percent_word(const char *s, size_t n, double *out) {
  char *end;
  double v;
  if (n < 2 || s[n - 1] != '%' ||
      !(s[0] == '.' || (s[0] >= '0' && s[0] <= '9')))
    return false;
  v = strtod(s, &end);
  if (end != s + n - 1 || !isfinite(v)) return false;
  *out = v;
  return true;
}

/* A whole number of @n digits. */
static bool parse_uint(const char *s, size_t n, int64_t *out) {
  int64_t v = 0;
  if (n == 0 || n > 18) return false;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

/* "CURRENT" or "CURRENT/TOTAL". */
static bool parse_count_word(const char *s, size_t n, int64_t *current,
                             int64_t *total) {
  const char *slash = memchr(s, '/', n);
  if (slash == NULL) return parse_uint(s, n, current);
  return parse_uint(s, (size_t)(slash - s), current) &&
         parse_uint(slash + 1, n - (size_t)(slash - s) - 1, total);
}

bool progress_parse_line(const char *line, cx_meta *meta,
                         const char **message_out) {
  const char *s = skip_blanks(line);
  size_t n = word_len(s);
  double percent;
  int64_t current = -1, total = -1;
  if (*s == '\0') return false;
  if (parse_percent_word(s, n, &percent)) {
    cx_meta_set_double(meta, CX_PROGRESS_PERCENT, percent);
    s = skip_blanks(s + n);
    n = word_len(s);
  }
  if (n > 0 && parse_count_word(s, n, &current, &total)) {
    cx_meta_set_int(meta, CX_PROGRESS_CURRENT, current);
    if (total >= 0) cx_meta_set_int(meta, CX_PROGRESS_TOTAL, total);
    s = skip_blanks(s + n);
  }
  *message_out = s;
  return true;
}

static double meta_double(const cx_meta *m, const char *key) {
  double v;
  return cx_meta_get_double(m, key, &v) == 0 ? v : NAN;
}

static int64_t meta_int(const cx_meta *m, const char *key) {
  int64_t v;
  return cx_meta_get_int(m, key, &v) == 0 ? v : -1;
}

/* The op's progress callback: remembers the report, feeds the watchers. */
static int on_progress(const char *op_id, const char *message,
                       const cx_meta *metadata, void *user_data) {
  progress_state *st = user_data;
  (void)op_id;
  cxu_utf8_snprintf(st->message, sizeof st->message, "%s", message);
  st->percent = meta_double(metadata, CX_PROGRESS_PERCENT);
  st->current = meta_int(metadata, CX_PROGRESS_CURRENT);
  st->total = meta_int(metadata, CX_PROGRESS_TOTAL);
  st->eta = meta_double(metadata, CX_PROGRESS_ETA);
  st->reports++;
  source_set_progress(st->sources, st->percent, st->current);
  return 0;
}

void progress_state_init(progress_state *st, source_set *sources) {
  memset(st, 0, sizeof *st);
  st->percent = NAN;
  st->eta = NAN;
  st->current = st->total = -1;
  st->sources = sources;
}

int progress_attach(cx_op *op, progress_state *st) {
  return cx_op_on_progress(op, on_progress, st, NULL);
}

void progress_reader_init(progress_reader *r, int fd, cx_op *op) {
  memset(r, 0, sizeof *r);
  r->fd = fd;
  r->op = op;
  if (fd >= 0) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void report_line(progress_reader *r) {
  cx_meta *meta = cx_meta_new();
  const char *message;
  r->line[r->len] = '\0';
  if (r->len > 0 && r->line[r->len - 1] == '\r') r->line[r->len - 1] = '\0';
  if (meta != NULL && progress_parse_line(r->line, meta, &message))
    cx_report_progress(r->op, message, meta);
  cx_meta_free(meta);
  r->len = 0;
}

/* Adds @n bytes to the current line, reporting at each newline. */
static void feed(progress_reader *r, const char *buf, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (buf[i] == '\n') {
      if (!r->overlong) report_line(r);
      r->len = 0;
      r->overlong = false;
    } else if (r->len < PROGRESS_LINE_MAX) {
      r->line[r->len++] = buf[i];
    } else if (!r->overlong) {
      /* Report the first PROGRESS_LINE_MAX bytes, cut on a character. */
      r->len = cxu_utf8_cut(r->line, r->len);
      report_line(r);
      r->overlong = true;
    }
  }
}

int progress_reader_read(progress_reader *r) {
  char buf[4096];
  for (int rounds = 0; r->fd >= 0 && rounds < 64; rounds++) {
    ssize_t n = read(r->fd, buf, sizeof buf);
    if (n > 0) {
      feed(r, buf, (size_t)n);
      continue;
    }
    if (n == 0) return 1;
    if (errno != EINTR) break;
  }
  return 0;
}

void progress_reader_finish(progress_reader *r) {
  progress_reader_read(r);
  if (r->len > 0 && !r->overlong) report_line(r);
  r->len = 0;
}
