/* src/registry/json.c - JSON export of ops and of the registry, with the
 * no-guarantee writer of util/cx_json.h.  Field names are stable. */
#include <stdlib.h>
#include <string.h>

#include <cancelable/registry.h>

#include "registry/registry.h"
#include "util/cx_json.h"

/* A time field: null until it is set. */
static void write_time(cx__json *j, const char *key, double t) {
  cx__json_key(j, key);
  if (t > 0)
    cx__json_double(j, t);
  else
    cx__json_null(j);
}

static void write_op(cx__json *j, cx_op *op) {
  cx_reason reason = cx_op_cancel_reason(op);
  cx_meta *meta = cx_op_metadata(op);
  const char *id = cx_op_id(op), *parent_id = cx_op_parent_id(op);
  int error = cx_op_error(op);
  /* Out of memory the metadata's copy and the lazy ids are NULL: the export
   * fails (-ENOMEM) rather than write null for them. */
  if (meta == NULL || id == NULL ||
      (parent_id == NULL && cx_op_parent(op) != NULL)) {
    if (j->err == 0) j->err = -ENOMEM;
    cx_meta_free(meta);
    return;
  }
  cx__json_object_begin(j);
  cx__json_key(j, "id");
  cx__json_string(j, id);
  cx__json_key(j, "name");
  cx__json_string(j, cx_op_name(op));
  cx__json_key(j, "status");
  cx__json_string(j, cx_status_name(cx_op_status(op)));
  cx__json_key(j, "parent_id");
  cx__json_string(j, parent_id);
  cx__json_key(j, "reason");
  cx__json_string(j, reason != CX_REASON_NONE ? cx_reason_name(reason) : NULL);
  cx__json_key(j, "message");
  cx__json_string(j, cx_op_cancel_message(op));
  write_time(j, "start_time", cx_op_start_time(op));
  write_time(j, "end_time", cx_op_end_time(op));
  cx__json_key(j, "elapsed");
  cx__json_double(j, cx_op_elapsed(op));
  cx__json_key(j, "error");
  if (error != 0)
    cx__json_string(j, cx_err_name(error));
  else
    cx__json_null(j);
  cx__json_key(j, "error_code");
  cx__json_int(j, error);
  cx__json_key(j, "metadata");
  cx__json_meta(j, meta);
  cx__json_object_end(j);
  cx_meta_free(meta);
}

/* Hands the writer's text to the caller, or returns its error. */
static int finish(cx__json *j, char **out) {
  int rc = cx__json_error(j);
  if (rc == 0 && j->buf == NULL) rc = -ENOMEM;
  if (rc == 0) {
    *out = j->buf; /* malloc()ed by the writer: the caller free()s it */
    j->buf = NULL;
  }
  cx__json_free(j);
  return rc;
}

int cx_op_to_json(cx_op *op, char **out) {
  cx__json j;
  if (out != NULL) *out = NULL;
  if (op == NULL || out == NULL) return -EINVAL;
  cx__json_init(&j);
  write_op(&j, op);
  return finish(&j, out);
}

static void write_list(cx__json *j, const char *key, const cx_op_list *l) {
  cx__json_key(j, key);
  cx__json_array_begin(j);
  for (size_t i = 0; i < l->count; i++) write_op(j, l->ops[i]);
  cx__json_array_end(j);
}

static void write_stats(cx__json *j, const cx_registry_stats *st) {
  cx__json_key(j, "stats");
  cx__json_object_begin(j);
  cx__json_key(j, "live");
  cx__json_int(j, (int64_t)st->live);
  cx__json_key(j, "live_by_status");
  cx__json_object_begin(j);
  for (int s = CX_STATUS_PENDING; s <= CX_STATUS_SHIELDED; s++) {
    cx__json_key(j, cx_status_name((cx_status)s));
    cx__json_int(j, (int64_t)st->live_by_status[s]);
  }
  cx__json_object_end(j);
  cx__json_key(j, "completed");
  cx__json_int(j, (int64_t)st->completed);
  cx__json_key(j, "cancelled");
  cx__json_int(j, (int64_t)st->cancelled);
  cx__json_key(j, "failed");
  cx__json_int(j, (int64_t)st->failed);
  cx__json_key(j, "average_duration");
  cx__json_double(j, st->average_duration);
  cx__json_key(j, "history");
  cx__json_int(j, (int64_t)st->history);
  cx__json_object_end(j);
}

int cx_registry_to_json(const cx_op_filter *filter, bool include_history,
                        char **out) {
  cx_op_list live = {NULL, 0}, history = {NULL, 0};
  cx_registry_stats st;
  cx__json j;
  int rc;
  if (out != NULL) *out = NULL;
  if (out == NULL) return -EINVAL;
  rc = cx_registry_list(filter, &live);
  if (rc == 0 && include_history) rc = cx_registry_history(filter, 0, &history);
  if (rc == 0) rc = cx_registry_get_stats(&st);
  if (rc == 0) {
    cx__json_init(&j);
    cx__json_object_begin(&j);
    write_list(&j, "live", &live);
    write_list(&j, "history", &history);
    write_stats(&j, &st);
    cx__json_object_end(&j);
    rc = finish(&j, out);
  }
  cx_op_list_free(&live);
  cx_op_list_free(&history);
  return rc;
}
