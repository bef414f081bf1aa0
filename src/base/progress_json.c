/* src/base/progress_json.c - a progress report (message and metadata) as
 * the fields of a JSON object: one writer for cx_progress_to_json(), the
 * op's last report in cx_op_to_json() and the registry's export, and the
 * tool's report. */
#include <cancelable/progress.h>

#include "base/base.h"
#include "util/cxu_json.h"

/* "@name": the number under @key (an integer or a double), or null. */
static void number_or_null(cxu_json *j, const char *name, const cx_meta *meta,
                           const char *key) {
  int64_t i;
  double d;
  cxu_json_key(j, name);
  if (cx_meta_type_of(meta, key) == CX_META_INT &&
      cx_meta_get_int(meta, key, &i) == 0)
    cxu_json_int(j, i);
  else if (cx_meta_get_double(meta, key, &d) == 0)
    cxu_json_double(j, d); /* NaN and infinities become null */
  else
    cxu_json_null(j);
}

void cx__progress_write_fields(struct cxu_json *j, const char *message,
                               const cx_meta *meta) {
  const char *phase = NULL;
  cxu_json_key(j, "message");
  cxu_json_string(j, message != NULL ? message : "");
  number_or_null(j, "percent", meta, CX_PROGRESS_PERCENT);
  number_or_null(j, "current", meta, CX_PROGRESS_CURRENT);
  number_or_null(j, "total", meta, CX_PROGRESS_TOTAL);
  number_or_null(j, "rate", meta, CX_PROGRESS_RATE);
  number_or_null(j, "eta", meta, CX_PROGRESS_ETA);
  cxu_json_key(j, CX_PROGRESS_PHASE);
  cx_meta_get_string(meta, CX_PROGRESS_PHASE, &phase);
  cxu_json_string(j, phase); /* NULL becomes null */
  cxu_json_key(j, "metadata");
  cx__meta_write_json(j, meta); /* NULL: {} */
}

char *cx_progress_to_json(const char *message, const cx_meta *metadata) {
  cxu_json j;
  cxu_json_init(&j);
  cxu_json_object_begin(&j);
  cx__progress_write_fields(&j, message, metadata);
  cxu_json_object_end(&j);
  if (cxu_json_error(&j) != 0) {
    cxu_json_free(&j);
    return NULL;
  }
  return j.buf; /* from malloc(): the caller frees it */
}
