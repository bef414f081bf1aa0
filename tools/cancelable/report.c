/* tools/cancelable/report.c - writes the `--report json` object: id, name,
 * status, reason, message, error, start/end times, elapsed, the command and
 * how it ended (exit code or signal), whether the tool stopped or killed
 * it, the last progress, the operation's metadata and the tool's exit
 * status. */
#include "report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "cxu_json.h"
#include "signames.h"

/* Wall-clock seconds as ISO 8601 UTC with milliseconds, or null. */
static void put_time(cxu_json *j, const char *key, double t) {
  char text[96];
  struct tm tm;
  time_t secs = (time_t)t;
  int ms = (int)((t - (double)secs) * 1000.0);
  cxu_json_key(j, key);
  if (t <= 0 || gmtime_r(&secs, &tm) == NULL) {
    cxu_json_null(j);
    return;
  }
  if (ms > 999) ms = 999;
  snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
           tm.tm_sec, ms);
  cxu_json_string(j, text);
}

static void put_seconds(cxu_json *j, const char *key, double t) {
  cxu_json_key(j, key);
  if (t > 0)
    cxu_json_double(j, t);
  else
    cxu_json_null(j);
}

static void put_command(cxu_json *j, char **argv) {
  cxu_json_key(j, "command");
  cxu_json_array_begin(j);
  for (size_t i = 0; argv[i] != NULL; i++) cxu_json_string(j, argv[i]);
  cxu_json_array_end(j);
}

/* "exit_code", "signal", "core_dumped", "pid", what the tool did. */
static void put_outcome(cxu_json *j, const supervise_result *r) {
  char name[16];
  bool exited = r->ran && WIFEXITED(r->status);
  bool signalled = r->ran && WIFSIGNALED(r->status);
  cxu_json_key(j, "pid");
  if (r->ran)
    cxu_json_int(j, r->pid);
  else
    cxu_json_null(j);
  cxu_json_key(j, "exit_code");
  if (exited)
    cxu_json_int(j, WEXITSTATUS(r->status));
  else
    cxu_json_null(j);
  cxu_json_key(j, "signal");
  if (signalled)
    cxu_json_string(j, signame_name(WTERMSIG(r->status), name, sizeof name));
  else
    cxu_json_null(j);
  cxu_json_key(j, "signal_number");
  if (signalled)
    cxu_json_int(j, WTERMSIG(r->status));
  else
    cxu_json_null(j);
  cxu_json_key(j, "core_dumped");
  cxu_json_bool(j, signalled && WCOREDUMP(r->status));
  cxu_json_key(j, "spawn_error");
  if (r->exec_failed || (!r->ran && r->error != 0))
    cxu_json_string(j, strerror(r->error));
  else
    cxu_json_null(j);
  cxu_json_key(j, "stop_signal_sent");
  cxu_json_bool(j, r->stop_sent);
  cxu_json_key(j, "killed");
  cxu_json_bool(j, r->killed);
  cxu_json_key(j, "leftovers_stopped");
  cxu_json_bool(j, r->leftovers);
}

/* "progress": the op's last report as the library writes it
 * (cx_op_progress_to_json(), as in cx_op_to_json() and the HTTP API). */
static void put_progress(cxu_json *j, cx_op *op) {
  char *text = NULL;
  cxu_json_key(j, "progress");
  if (cx_op_progress_to_json(op, &text) == 0)
    cxu_json_raw(j, text, strlen(text));
  else
    cxu_json_fail(j, -ENOMEM);
  free(text);
}

static void put_metadata(cxu_json *j, cx_op *op) {
  cx_meta *m = cx_op_metadata(op);
  char *text = cx_meta_to_json(m);
  cxu_json_key(j, "metadata");
  if (text != NULL)
    cxu_json_raw(j, text, strlen(text));
  else
    cxu_json_null(j); /* out of memory */
  free(text);
  cx_meta_free(m);
}

char *report_json(const report_input *in) {
  cxu_json j;
  cx_op *op = in->op;
  int err = cx_op_error(op);
  cxu_json_init(&j);
  cxu_json_object_begin(&j);
  cxu_json_key(&j, "id");
  cxu_json_string(&j, cx_op_id(op));
  cxu_json_key(&j, "name");
  cxu_json_string(&j, cx_op_name(op));
  cxu_json_key(&j, "status");
  cxu_json_string(&j, cx_status_name(cx_op_status(op)));
  cxu_json_key(&j, "reason");
  if (cx_op_cancel_reason(op) != CX_REASON_NONE)
    cxu_json_string(&j, cx_reason_name(cx_op_cancel_reason(op)));
  else
    cxu_json_null(&j);
  cxu_json_key(&j, "cancelled_by");
  cxu_json_string(&j, in->cancel_kind); /* NULL becomes null */
  cxu_json_key(&j, "message");
  cxu_json_string(&j, cx_op_cancel_message(op));
  cxu_json_key(&j, "cancel_source"); /* which source: its path */
  cxu_json_string(&j, cx_op_cancel_source(op));
  cxu_json_key(&j, "error");
  cxu_json_string(&j, err != 0 ? cx_err_name(err) : NULL);
  put_seconds(&j, "start_time", cx_op_start_time(op));
  put_seconds(&j, "end_time", cx_op_end_time(op));
  put_time(&j, "start", cx_op_start_time(op));
  put_time(&j, "end", cx_op_end_time(op));
  cxu_json_key(&j, "elapsed");
  cxu_json_double(&j, cx_op_elapsed(op));
  put_command(&j, in->argv);
  put_outcome(&j, in->result);
  put_progress(&j, op);
  put_metadata(&j, op);
  cxu_json_key(&j, "exit_status");
  cxu_json_int(&j, in->exit_status);
  cxu_json_object_end(&j);
  if (cxu_json_error(&j) != 0) {
    cxu_json_free(&j);
    return NULL;
  }
  return j.buf; /* the writer's buffer is ours now */
}

int report_write(FILE *f, const report_input *in) {
  char *text = report_json(in);
  int rc = 0;
  if (text == NULL) return -ENOMEM;
  errno = 0;
  if (fprintf(f, "%s\n", text) < 0 || fflush(f) != 0)
    rc = errno != 0 ? -errno : -EIO;
  free(text);
  return rc;
}
