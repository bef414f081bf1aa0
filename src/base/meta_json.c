/* src/base/meta_json.c - metadata as a JSON object: for the registry's
 * export, and for programs (cx_meta_to_json), such as the tool's report. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "runtime/alloc.h"
#include "util/cxu_json.h"

/* One value of a cx_meta, by its type. */
static void meta_value(cxu_json *j, const cx_meta *m, const char *key) {
  const char *s;
  int64_t i;
  double d;
  bool b;
  switch (cx_meta_type_of(m, key)) {
    case CX_META_STRING:
      cx_meta_get_string(m, key, &s);
      cxu_json_string(j, s);
      break;
    case CX_META_INT:
      cx_meta_get_int(m, key, &i);
      cxu_json_int(j, i);
      break;
    case CX_META_DOUBLE:
      cx_meta_get_double(m, key, &d);
      cxu_json_double(j, d);
      break;
    case CX_META_BOOL:
      cx_meta_get_bool(m, key, &b);
      cxu_json_bool(j, b);
      break;
    case CX_META_NONE:
      cxu_json_null(j);
      break;
  }
}

void cx__meta_write_json(cxu_json *j, const cx_meta *meta) {
  cxu_json_object_begin(j);
  for (size_t i = 0; i < cx_meta_count(meta); i++) {
    const char *key = cx_meta_key_at(meta, i);
    cxu_json_key(j, key);
    meta_value(j, meta, key);
  }
  cxu_json_object_end(j);
}

char *cx_meta_to_json(const cx_meta *meta) {
  cxu_json j;
  char *text;
  cxu_json_init(&j);
  cx__meta_write_json(&j, meta);
  if (cxu_json_error(&j) != 0) {
    cxu_json_free(&j);
    return NULL;
  }
  /* The writer's buffer comes from malloc(): the caller frees it. */
  text = j.buf;
  return text;
}
