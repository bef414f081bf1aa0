/* src/registry/json.c - JSON export of ops and of the registry, with the
 * no-guarantee writer of util/cxu_json.h.  Field names are stable. */
#include <stdlib.h>
#include <string.h>

#include <cancelable/progress.h>
#include <cancelable/registry.h>

#include "registry/registry.h"
#include "util/cxu_json.h"

/* A time field: null until it is set. */
static void write_time(cxu_json *j, const char *key, double t) {
  cxu_json_key(j, key);
  if (t > 0)
    cxu_json_double(j, t);
  else
    cxu_json_null(j);
}

/* "progress": the op's last report (cx_op_progress_to_json()), or null;
 * out of memory marks the writer failed. */
static void write_progress(cxu_json *j, const cx_op *op) {
  char *text = NULL;
  int rc = cx_op_progress_to_json(op, &text);
  cxu_json_key(j, "progress");
  if (rc == 0)
    cxu_json_raw(j, text, strlen(text));
  else
    cxu_json_fail(j, rc);
  free(text);
}

static void write_op(cxu_json *j, const cx_op *op) {
  cx_reason reason = cx_op_cancel_reason(op);
  cx_meta *meta = cx_op_metadata(op);
  const char *id = cx_op_id(op), *parent_id = cx_op_parent_id(op);
  int error = cx_op_error(op);
  /* Out of memory the metadata's copy and the lazy ids are NULL: the export
   * fails (-ENOMEM) rather than write null for them. */
  if (meta == NULL || id == NULL ||
      (parent_id == NULL && cx_op_parent(op) != NULL)) {
    cxu_json_fail(j, -ENOMEM);
    cx_meta_free(meta);
    return;
  }
  cxu_json_object_begin(j);
  cxu_json_key(j, "id");
  cxu_json_string(j, id);
  cxu_json_key(j, "name");
  cxu_json_string(j, cx_op_name(op));
  cxu_json_key(j, "status");
  cxu_json_string(j, cx_status_name(cx_op_status(op)));
  cxu_json_key(j, "parent_id");
  cxu_json_string(j, parent_id);
  cxu_json_key(j, "reason");
  cxu_json_string(j, reason != CX_REASON_NONE ? cx_reason_name(reason) : NULL);
  cxu_json_key(j, "message");
  cxu_json_string(j, cx_op_cancel_message(op));
  cxu_json_key(j, "cancel_source");
  cxu_json_string(j, cx_op_cancel_source(op));
  write_time(j, "start_time", cx_op_start_time(op));
  write_time(j, "end_time", cx_op_end_time(op));
  cxu_json_key(j, "elapsed");
  cxu_json_double(j, cx_op_elapsed(op));
  cxu_json_key(j, "error");
  if (error != 0)
    cxu_json_string(j, cx_err_name(error));
  else
    cxu_json_null(j);
  cxu_json_key(j, "error_code");
  cxu_json_int(j, error);
  cxu_json_key(j, "metadata");
  cx__meta_write_json(j, meta);
  write_progress(j, op);
  cxu_json_object_end(j);
  cx_meta_free(meta);
}

/* Hands the writer's text to the caller, or returns its error. */
static int finish(cxu_json *j, char **out) {
  int rc = cxu_json_error(j);
  if (rc == 0 && j->buf == NULL) rc = -ENOMEM;
  if (rc == 0) {
    *out = j->buf; /* malloc()ed by the writer: the caller free()s it */
    j->buf = NULL;
  }
  cxu_json_free(j);
  return rc;
}

int cx_op_to_json(const cx_op *op, char **out) {
  cxu_json j;
  if (out != NULL) *out = NULL;
  if (op == NULL || out == NULL) return -EINVAL;
  cxu_json_init(&j);
  write_op(&j, op);
  return finish(&j, out);
}

static void write_list(cxu_json *j, const char *key, const cx_op_list *l) {
  cxu_json_key(j, key);
  cxu_json_array_begin(j);
  for (size_t i = 0; i < l->count; i++) write_op(j, l->ops[i]);
  cxu_json_array_end(j);
}

/* Writes @st as a JSON object (cx_registry_stats_to_json()). */
static void write_stats(cxu_json *j, const cx_registry_stats *st) {
  cxu_json_object_begin(j);
  cxu_json_key(j, "live");
  cxu_json_int(j, (int64_t)st->live);
  cxu_json_key(j, "live_by_status");
  cxu_json_object_begin(j);
  for (int s = CX_STATUS_PENDING; s <= CX_STATUS_SHIELDED; s++) {
    cxu_json_key(j, cx_status_name((cx_status)s));
    cxu_json_int(j, (int64_t)st->live_by_status[s]);
  }
  cxu_json_object_end(j);
  cxu_json_key(j, "completed");
  cxu_json_int(j, (int64_t)st->completed);
  cxu_json_key(j, "cancelled");
  cxu_json_int(j, (int64_t)st->cancelled);
  cxu_json_key(j, "failed");
  cxu_json_int(j, (int64_t)st->failed);
  cxu_json_key(j, "cancelled_by_reason");
  cxu_json_object_begin(j);
  for (int r = CX_REASON_TIMEOUT; r <= CX_REASON_ERROR; r++) {
    cxu_json_key(j, cx_reason_name((cx_reason)r));
    cxu_json_int(j, (int64_t)st->cancelled_by_reason[r]);
  }
  cxu_json_object_end(j);
  cxu_json_key(j, "average_duration");
  cxu_json_double(j, st->average_duration);
  cxu_json_key(j, "history");
  cxu_json_int(j, (int64_t)st->history);
  cxu_json_object_end(j);
}

int cx_registry_to_json(const cx_op_filter *filter, bool include_history,
                        char **out) {
  cx_op_list live = {NULL, 0}, history = {NULL, 0};
  cx_registry_stats st;
  cxu_json j;
  int rc;
  if (out != NULL) *out = NULL;
  if (out == NULL) return -EINVAL;
  rc = cx_registry_list(filter, &live);
  if (rc == 0 && include_history) rc = cx_registry_history(filter, 0, &history);
  if (rc == 0) rc = cx_registry_get_stats(&st);
  if (rc == 0) {
    cxu_json_init(&j);
    cxu_json_object_begin(&j);
    write_list(&j, "live", &live);
    write_list(&j, "history", &history);
    cxu_json_key(&j, "stats");
    write_stats(&j, &st);
    cxu_json_object_end(&j);
    rc = finish(&j, out);
  }
  cx_op_list_free(&live);
  cx_op_list_free(&history);
  return rc;
}

int cx_registry_stats_to_json(const cx_registry_stats *stats, char **out) {
  cxu_json j;
  if (out != NULL) *out = NULL;
  if (stats == NULL || out == NULL) return -EINVAL;
  cxu_json_init(&j);
  write_stats(&j, stats);
  return finish(&j, out);
}
