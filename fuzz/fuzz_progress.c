/* fuzz/fuzz_progress.c - the progress lines a command writes to
 * $CANCELABLE_PROGRESS_FD (tools/cancelable/progress_channel.c).  Each line of
 * the input goes through progress_parse_line() (a report unless blank; the
 * message points into the line; counts are whole and non-negative,
 * percentages finite); then the whole input goes through the tool's
 * reader, from a pipe, into an operation: every message reported (cut to
 * PROGRESS_LINE_MAX bytes) and the one kept for the report (cut to 255)
 * are valid UTF-8 when the input is, and the tool's JSON report parses
 * strictly whatever the input holds. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "progress_channel.h"

/* One line, NUL-terminated. */
static void check_line(const char *line) {
  cx_meta *meta = cx_meta_new();
  const char *msg = NULL, *p = line + strspn(line, " \t");
  double percent;
  int64_t current, total;
  bool report;
  FUZZ_CHECK(meta != NULL);
  report = progress_parse_line(line, meta, &msg);
  FUZZ_CHECK(report == (*p != '\0'));
  if (report) {
    FUZZ_CHECK(msg >= line && msg <= line + strlen(line));
    if (cx_meta_get_double(meta, CX_PROGRESS_PERCENT, &percent) == 0)
      FUZZ_CHECK(isfinite(percent));
    if (cx_meta_get_int(meta, CX_PROGRESS_CURRENT, &current) == 0)
      FUZZ_CHECK(current >= 0);
    if (cx_meta_get_int(meta, CX_PROGRESS_TOTAL, &total) == 0) {
      FUZZ_CHECK(total >= 0);
      FUZZ_CHECK(cx_meta_type_of(meta, CX_PROGRESS_CURRENT) == CX_META_INT);
    }
  }
  cx_meta_free(meta);
}

/* Reported messages must be valid UTF-8 when the input is. */
static int check_report(const char *op_id, const char *message,
                        const cx_meta *metadata, void *user_data) {
  const bool *input_valid = user_data;
  (void)op_id;
  (void)metadata;
  FUZZ_CHECK(strlen(message) <= PROGRESS_LINE_MAX);
  if (*input_valid) FUZZ_CHECK(fuzz_utf8_valid(message, strlen(message)));
  return 0;
}

/* Feeds @text (@n bytes) to the tool's reader and checks the report. */
static void check_reader(const char *text, size_t n, bool input_valid) {
  progress_state st;
  progress_reader r;
  cx_op *op = NULL;
  int fds[2];
  FUZZ_CHECK(cx_op_create(&op, NULL) == 0);
  progress_state_init(&st, NULL);
  FUZZ_CHECK(progress_attach(op, &st) == 0);
  FUZZ_CHECK(cx_op_on_progress(op, check_report, &input_valid, NULL) == 0);
  FUZZ_CHECK(cx_op_enter(op) == 0);
  FUZZ_CHECK(pipe(fds) == 0);
  FUZZ_CHECK(write(fds[1], text, n) == (ssize_t)n); /* n < the pipe's size */
  close(fds[1]);
  progress_reader_init(&r, fds[0], op);
  while (progress_reader_read(&r) == 0) continue;
  progress_reader_finish(&r);
  close(fds[0]);
  FUZZ_CHECK(strlen(st.message) < sizeof st.message);
  if (input_valid) FUZZ_CHECK(fuzz_utf8_valid(st.message, strlen(st.message)));
  FUZZ_CHECK(cx_op_exit(op, 0) == 0);
  fuzz_json_free(fuzz_report_json(op, "cmd"));
  cx_op_unref(op);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = fuzz_cstring(data, size);
  /* The reader's lines end at '\n' and may hold any other byte; the
   * parser sees C strings, so each line ends at a NUL too. */
  for (char *line = text, *end; line != NULL; line = end) {
    end = strchr(line, '\n');
    if (end != NULL) *end++ = '\0';
    check_line(line);
  }
  if (size < 60000) {
    free(text);
    text = fuzz_cstring(data, size);
    check_reader(text, size, fuzz_utf8_valid(text, size));
  }
  free(text);
  return 0;
}
