/* fuzz/fuzz_export.c - the JSON of operations: cx_op_to_json(),
 * cx_registry_to_json() (src/registry/json.c) and the tool's `--report
 * json` (tools/cancelable/report.c), for an op whose id, name, cancel
 * message, metadata key and value, progress message and command come from
 * the input's NUL-separated fields.  Each text must be valid UTF-8 that
 * jansson parses strictly (docs/guide.md), and the strings must
 * read back as what a strict UTF-8 decoder makes of the bytes given. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "progress_channel.h"

enum { F_ID, F_NAME, F_MESSAGE, F_KEY, F_VALUE, F_PROGRESS, F_COMMAND, F_N };

/* The field @i, or @fallback when the input has fewer fields. */
static const char *field(const fuzz_fields *f, size_t i, const char *fallback) {
  return i < f->count ? f->field[i] : fallback;
}

/* @obj's member @key holds @want decoded strictly (null when @want is
 * NULL). */
static void check_member(json_t *obj, const char *key, const char *want) {
  json_t *v = json_object_get(obj, key);
  FUZZ_CHECK(v != NULL);
  if (want == NULL)
    FUZZ_CHECK(json_is_null(v));
  else
    fuzz_check_decoded(v, want, strlen(want));
}

/* The op's own JSON, checked field by field. */
static void check_op_json(cx_op *op, const fuzz_fields *f) {
  char *text = NULL;
  json_t *root;
  FUZZ_CHECK(cx_op_to_json(op, &text) == 0);
  root = fuzz_check_json(text, false);
  check_member(root, "id", cx_op_id(op));
  check_member(root, "name", cx_op_name(op));
  check_member(root, "message", cx_op_cancel_message(op));
  if (field(f, F_KEY, "")[0] != '\0') {
    size_t n;
    char *key = fuzz_utf8_decode(f->field[F_KEY], strlen(f->field[F_KEY]), &n);
    json_t *meta = json_object_get(root, "metadata");
    check_member(meta, key, field(f, F_VALUE, ""));
    free(key);
  }
  json_decref(root);
  free(text);
}

/* The registry's JSON, with the history. */
static void check_registry_json(void) {
  char *text = NULL;
  FUZZ_CHECK(cx_registry_to_json(NULL, true, &text) == 0);
  fuzz_json_free(fuzz_check_json(text, false));
  free(text);
}

/* The tool's report of @op, which has exited. */
static void check_report(cx_op *op, const fuzz_fields *f) {
  const char *command = field(f, F_COMMAND, "cmd");
  json_t *root = fuzz_report_json(op, command);
  fuzz_check_decoded(json_array_get(json_object_get(root, "command"), 0),
                     command, strlen(command));
  json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_meta *meta = cx_meta_new();
  progress_state st;
  fuzz_fields f;
  cx_op *op = NULL;
  int rc;
  FUZZ_CHECK(meta != NULL);
  fuzz_split(&f, data, size, F_N);
  if (field(&f, F_KEY, "")[0] != '\0')
    FUZZ_CHECK(
        cx_meta_set_string(meta, f.field[F_KEY], field(&f, F_VALUE, "")) == 0);
  o.id = field(&f, F_ID, "")[0] != '\0' ? f.field[F_ID] : NULL;
  o.name = field(&f, F_NAME, NULL);
  o.metadata = meta;
  o.register_op = true;
  rc = cx_op_create(&op, &o);
  if (rc != 0) {
    FUZZ_CHECK(rc == -EINVAL && o.id != NULL); /* an over-long id */
    o.id = NULL;
    FUZZ_CHECK(cx_op_create(&op, &o) == 0);
  }
  progress_state_init(&st, NULL);
  FUZZ_CHECK(progress_attach(op, &st) == 0);
  FUZZ_CHECK(cx_op_enter(op) == 0);
  FUZZ_CHECK(cx_report_progress(op, field(&f, F_PROGRESS, "p"), meta) == 0);
  cx_op_cancel(op, CX_REASON_MANUAL, field(&f, F_MESSAGE, ""));
  check_op_json(op, &f);
  check_registry_json();
  FUZZ_CHECK(cx_op_exit(op, -ECANCELED) == 0);
  check_registry_json();
  check_report(op, &f);
  cx_registry_clear();
  cx_op_unref(op);
  cx_meta_free(meta);
  fuzz_fields_free(&f);
  return 0;
}
