/* tests/unit/test_json.c - JSON export of ops and of the registry (issue
 * #6): the text is parsed back with jansson (a test-only dependency) and
 * every field compared, with names that hold every control character,
 * quotes, backslashes and UTF-8.  Issue #13 (defect 2): an op whose name,
 * message, metadata keys and values hold invalid UTF-8 still exports as
 * JSON that jansson (which refuses invalid UTF-8) reads, each ill-formed
 * subpart replaced with U+FFFD.  Numbers are written with a point in any
 * locale (a decimal comma, or U+066B, is not JSON).  Issue 15 part 3: a
 * progress report as JSON, the op's last report (throttled ones too) in
 * cx_op_to_json(), and in the registry's export with no callback. */
#include <errno.h>
#include <jansson.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cancelable.h>

#include "cx_test.h"

/* A name with every byte 0x01..0x1f, DEL, quote, backslash and UTF-8. */
static void nasty_name(char *out, size_t len) {
  size_t n = 0;
  for (int c = 1; c < 0x20 && n + 1 < len; c++) out[n++] = (char)c;
  const char *rest = "\x7f\"\\/ é 漢字 end";
  for (size_t i = 0; rest[i] != '\0' && n + 1 < len; i++) out[n++] = rest[i];
  out[n] = '\0';
}

static json_t *parse(const char *text) {
  json_error_t err;
  json_t *root = json_loads(text, 0, &err);
  if (root == NULL)
    fail_msg("JSON does not parse: %s at %d", err.text, err.position);
  return root;
}

static const char *str(json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  assert_non_null(v);
  return json_is_null(v) ? NULL : json_string_value(v);
}

static void test_op_json_roundtrip(void **state) {
  (void)state;
  char name[128];
  nasty_name(name, sizeof name);
  cx_meta *m = cx_meta_new();
  CX_ASSERT_OK(cx_meta_set_string(m, "phase", name));
  CX_ASSERT_OK(cx_meta_set_int(m, "current", 655));
  CX_ASSERT_OK(cx_meta_set_double(m, "progress", 65.5));
  CX_ASSERT_OK(cx_meta_set_bool(m, "ok", true));
  cx_op_options o = CX_OP_OPTIONS_INIT;
  o.name = name;
  o.metadata = m;
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_create(&op, &o));
  CX_ASSERT_OK(cx_op_enter(op));
  cx_op_cancel(op, CX_REASON_MANUAL, name);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));

  char *text = NULL;
  CX_ASSERT_OK(cx_op_to_json(op, &text));
  json_t *j = parse(text);
  assert_true(json_is_object(j));
  assert_string_equal(str(j, "id"), cx_op_id(op));
  assert_string_equal(str(j, "name"), name);
  assert_string_equal(str(j, "status"), "cancelled");
  assert_null(str(j, "parent_id"));
  assert_string_equal(str(j, "reason"), "manual");
  assert_string_equal(str(j, "message"), name);
  assert_true(json_real_value(json_object_get(j, "start_time")) ==
              cx_op_start_time(op));
  assert_true(json_real_value(json_object_get(j, "end_time")) ==
              cx_op_end_time(op));
  assert_true(json_number_value(json_object_get(j, "elapsed")) >= 0);
  assert_true(json_is_null(json_object_get(j, "error")));
  json_t *meta = json_object_get(j, "metadata");
  assert_string_equal(json_string_value(json_object_get(meta, "phase")), name);
  assert_int_equal(json_integer_value(json_object_get(meta, "current")), 655);
  assert_true(json_real_value(json_object_get(meta, "progress")) == 65.5);
  assert_true(json_is_true(json_object_get(meta, "ok")));
  json_decref(j);
  free(text);
  cx_op_unref(op);
  cx_meta_free(m);
}

static void test_op_json_failed_and_bad_input(void **state) {
  (void)state;
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_create(&op, NULL));
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_op_exit(op, -EIO));
  char *text = NULL;
  CX_ASSERT_OK(cx_op_to_json(op, &text));
  json_t *j = parse(text);
  assert_string_equal(str(j, "status"), "failed");
  assert_string_equal(str(j, "error"), "EIO");
  assert_int_equal(json_integer_value(json_object_get(j, "error_code")), -EIO);
  assert_null(str(j, "reason"));
  json_decref(j);
  free(text);
  text = (char *)"untouched";
  CX_ASSERT_ERR(-EINVAL, cx_op_to_json(NULL, &text));
  assert_null(text);
  CX_ASSERT_ERR(-EINVAL, cx_op_to_json(op, NULL));
  cx_op_unref(op);
}

static void test_registry_json(void **state) {
  (void)state;
  cx_registry_clear();
  cx_op_options o = CX_OP_OPTIONS_INIT;
  o.register_op = true;
  o.name = "parent";
  cx_op *parent = NULL, *child = NULL, *done = NULL;
  CX_ASSERT_OK(cx_op_create(&parent, &o));
  CX_ASSERT_OK(cx_op_enter(parent));
  o.name = "finished";
  CX_ASSERT_OK(cx_op_create(&done, &o));
  CX_ASSERT_OK(cx_op_enter(done));
  CX_ASSERT_OK(cx_op_exit(done, 0));
  o.name = "child";
  o.parent = parent;
  CX_ASSERT_OK(cx_op_create(&child, &o));
  CX_ASSERT_OK(cx_op_enter(child));

  char *text = NULL;
  CX_ASSERT_OK(cx_registry_to_json(NULL, true, &text));
  json_t *j = parse(text);
  json_t *live = json_object_get(j, "live");
  json_t *history = json_object_get(j, "history");
  assert_int_equal(json_array_size(live), 2);
  assert_int_equal(json_array_size(history), 1);
  assert_string_equal(str(json_array_get(live, 0), "name"), "parent");
  assert_string_equal(str(json_array_get(live, 1), "name"), "child");
  assert_string_equal(str(json_array_get(live, 1), "parent_id"),
                      cx_op_id(parent));
  assert_string_equal(str(json_array_get(history, 0), "status"), "completed");
  json_t *stats = json_object_get(j, "stats");
  assert_int_equal(json_integer_value(json_object_get(stats, "live")), 2);
  assert_int_equal(json_integer_value(json_object_get(stats, "completed")), 1);
  assert_int_equal(json_integer_value(json_object_get(
                       json_object_get(stats, "live_by_status"), "running")),
                   2);
  json_decref(j);
  free(text);

  /* a filter applies to both lists; no history when not asked */
  cx_op_filter f = CX_OP_FILTER_INIT;
  f.name_pattern = "ch*";
  CX_ASSERT_OK(cx_registry_to_json(&f, false, &text));
  j = parse(text);
  assert_int_equal(json_array_size(json_object_get(j, "live")), 1);
  assert_int_equal(json_array_size(json_object_get(j, "history")), 0);
  json_decref(j);
  free(text);

  CX_ASSERT_OK(cx_op_exit(child, 0));
  CX_ASSERT_OK(cx_op_exit(parent, 0));
  cx_op_unref(child);
  cx_op_unref(parent);
  cx_op_unref(done);
  cx_registry_clear();
}

/* cx_registry_stats_to_json(): every field of a given snapshot, under
 * the names cx_registry_to_json() uses; bad input changes nothing. */
static void test_registry_stats_json(void **state) {
  (void)state;
  cx_registry_stats st;
  memset(&st, 0, sizeof st);
  st.live = 3;
  st.live_by_status[CX_STATUS_RUNNING] = 2;
  st.live_by_status[CX_STATUS_PENDING] = 1;
  st.completed = 10;
  st.cancelled = 4;
  st.failed = 1;
  st.average_duration = 0.25;
  st.history = 15;
  st.cancelled_by_reason[CX_REASON_TIMEOUT] = 3;
  st.cancelled_by_reason[CX_REASON_SIGNAL] = 1;
  char *text = NULL;
  CX_ASSERT_OK(cx_registry_stats_to_json(&st, &text));
  json_t *j = parse(text);
  assert_int_equal(json_integer_value(json_object_get(j, "live")), 3);
  json_t *by_status = json_object_get(j, "live_by_status");
  assert_int_equal(json_integer_value(json_object_get(by_status, "running")),
                   2);
  assert_int_equal(json_integer_value(json_object_get(by_status, "pending")),
                   1);
  assert_int_equal(json_integer_value(json_object_get(j, "completed")), 10);
  assert_int_equal(json_integer_value(json_object_get(j, "cancelled")), 4);
  assert_int_equal(json_integer_value(json_object_get(j, "failed")), 1);
  assert_true(json_real_value(json_object_get(j, "average_duration")) == 0.25);
  assert_int_equal(json_integer_value(json_object_get(j, "history")), 15);
  json_t *by_reason = json_object_get(j, "cancelled_by_reason");
  assert_int_equal(json_integer_value(json_object_get(by_reason, "timeout")),
                   3);
  assert_int_equal(json_integer_value(json_object_get(by_reason, "signal")), 1);
  assert_int_equal(json_integer_value(json_object_get(by_reason, "manual")), 0);
  json_decref(j);
  free(text);
  text = (char *)"untouched";
  assert_int_equal(cx_registry_stats_to_json(NULL, &text), -EINVAL);
  assert_null(text);
  assert_int_equal(cx_registry_stats_to_json(&st, NULL), -EINVAL);
}

/* Overlong '/', a surrogate, a code point above U+10FFFF, a stray
 * continuation byte, 0xFF and a truncated euro sign, between valid text;
 * and what a strict decoder makes of it. */
#define BAD_UTF8 \
  "op \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \x80\xff \xc3\xa9 \xe2\x82"
#define R "\xef\xbf\xbd"
#define BAD_UTF8_DECODED "op " R R " " R R R " " R R R R " " R R " \xc3\xa9 " R

/* The registry's JSON parses, and the first op of its @list has the
 * string @want in @key. */
static void expect_first_in_registry(const char *list, const char *key,
                                     const char *want) {
  char *text = NULL;
  CX_ASSERT_OK(cx_registry_to_json(NULL, true, &text));
  json_t *j = parse(text);
  assert_string_equal(str(json_array_get(json_object_get(j, list), 0), key),
                      want);
  json_decref(j);
  free(text);
}

static void test_invalid_utf8_exports(void **state) {
  (void)state;
  cx_registry_clear();
  cx_meta *m = cx_meta_new();
  CX_ASSERT_OK(cx_meta_set_string(m, "key " BAD_UTF8, BAD_UTF8));
  cx_op_options o = CX_OP_OPTIONS_INIT;
  o.name = BAD_UTF8;
  o.metadata = m;
  o.register_op = true;
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_create(&op, &o));
  CX_ASSERT_OK(cx_op_enter(op));
  cx_op_cancel(op, CX_REASON_MANUAL, BAD_UTF8);

  char *text = NULL;
  CX_ASSERT_OK(cx_op_to_json(op, &text));
  json_t *j = parse(text);
  assert_string_equal(str(j, "name"), BAD_UTF8_DECODED);
  assert_string_equal(str(j, "message"), BAD_UTF8_DECODED);
  json_t *meta = json_object_get(j, "metadata");
  assert_string_equal(
      json_string_value(json_object_get(meta, "key " BAD_UTF8_DECODED)),
      BAD_UTF8_DECODED);
  json_decref(j);
  free(text);

  /* The same op in the registry, live and then in the history. */
  expect_first_in_registry("live", "name", BAD_UTF8_DECODED);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  expect_first_in_registry("history", "message", BAD_UTF8_DECODED);
  cx_op_unref(op);
  cx_meta_free(m);
  cx_registry_clear();
}

/* Exports an op with a double in its metadata under the locale @name (of
 * this thread only); false when the locale is not installed. */
static bool export_under_locale(const char *name) {
  locale_t loc = newlocale(LC_ALL_MASK, name, (locale_t)0), old;
  char probe[16], *text = NULL;
  cx_meta *m = cx_meta_new();
  cx_op *op = NULL;
  cx_op_options o = CX_OP_OPTIONS_INIT;
  if (loc == (locale_t)0) {
    cx_meta_free(m);
    return false;
  }
  old = uselocale(loc);
  /* The locale really has another decimal point. */
  snprintf(probe, sizeof probe, "%.1f", 1.5);
  assert_string_not_equal(probe, "1.5");
  CX_ASSERT_OK(cx_meta_set_double(m, "ratio", 1.5));
  o.metadata = m;
  CX_ASSERT_OK(cx_op_create(&op, &o));
  CX_ASSERT_OK(cx_op_to_json(op, &text));
  uselocale(old);
  freelocale(loc);
  json_t *j = parse(text);
  assert_true(json_real_value(json_object_get(json_object_get(j, "metadata"),
                                              "ratio")) == 1.5);
  json_decref(j);
  free(text);
  cx_op_unref(op);
  cx_meta_free(m);
  return true;
}

static void test_numbers_any_locale(void **state) {
  (void)state;
  /* Made by scripts/deps.sh (as root). */
  bool comma = export_under_locale("de_DE.UTF-8");
  bool arabic = export_under_locale("ps_AF.UTF-8");
  if (!comma && !arabic) {
    print_message(
        "skipped: neither de_DE.UTF-8 nor ps_AF.UTF-8 exists "
        "(bash scripts/deps.sh makes them)\n");
    skip();
  }
}

/* ---- progress (issue 15, part 3) */

static int ignore_progress(const char *op_id, const char *message,
                           const cx_meta *metadata, void *user_data) {
  (void)op_id, (void)message, (void)metadata, (void)user_data;
  return 0;
}

static double num(json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  assert_true(json_is_number(v));
  return json_number_value(v);
}

static void test_progress_report_json(void **state) {
  (void)state;
  char name[128];
  nasty_name(name, sizeof name);
  cx_meta *m = cx_meta_new();
  CX_ASSERT_OK(cx_meta_set_int(m, CX_PROGRESS_CURRENT, 3));
  CX_ASSERT_OK(cx_meta_set_int(m, CX_PROGRESS_TOTAL, 4));
  CX_ASSERT_OK(cx_meta_set_double(m, CX_PROGRESS_PERCENT, 75.0));
  CX_ASSERT_OK(cx_meta_set_double(m, CX_PROGRESS_RATE, NAN));
  CX_ASSERT_OK(cx_meta_set_string(m, CX_PROGRESS_PHASE, "bad \xff\xfe utf8"));
  CX_ASSERT_OK(cx_meta_set_string(m, "host", name));
  char *text = cx_progress_to_json(name, m);
  assert_non_null(text);
  json_t *j = parse(text);
  assert_string_equal(str(j, "message"), name);
  assert_true(num(j, "percent") == 75.0);
  assert_int_equal(json_integer_value(json_object_get(j, "current")), 3);
  assert_int_equal(json_integer_value(json_object_get(j, "total")), 4);
  assert_true(json_is_null(json_object_get(j, "rate"))); /* NaN */
  assert_true(json_is_null(json_object_get(j, "eta")));  /* absent */
  assert_string_equal(str(j, "phase"), "bad \xef\xbf\xbd\xef\xbf\xbd utf8");
  json_t *meta = json_object_get(j, "metadata");
  assert_string_equal(json_string_value(json_object_get(meta, "host")), name);
  assert_int_equal(json_object_size(meta), 6);
  json_decref(j);
  free(text);
  /* NULL message and metadata: "" and {}. */
  text = cx_progress_to_json(NULL, NULL);
  assert_non_null(text);
  j = parse(text);
  assert_string_equal(str(j, "message"), "");
  assert_true(json_is_null(json_object_get(j, "current")));
  assert_int_equal(json_object_size(json_object_get(j, "metadata")), 0);
  json_decref(j);
  free(text);
  cx_meta_free(m);
}

/* Reports current/total @n times on @op with message "step N". */
static void report_steps(cx_op *op, int n, int total) {
  for (int i = 1; i <= n; i++) {
    char msg[32];
    cx_meta *m = cx_meta_new();
    assert_non_null(m);
    snprintf(msg, sizeof msg, "step %d", i);
    CX_ASSERT_OK(cx_meta_set_int(m, CX_PROGRESS_CURRENT, i));
    CX_ASSERT_OK(cx_meta_set_int(m, CX_PROGRESS_TOTAL, total));
    CX_ASSERT_OK(cx_report_progress(op, msg, m));
    cx_meta_free(m);
  }
}

static void test_op_last_progress(void **state) {
  (void)state;
  cx_op *op = NULL;
  cx_progress_snapshot snap;
  char *text = NULL;
  CX_ASSERT_OK(cx_op_create(&op, NULL));
  CX_ASSERT_OK(cx_op_on_progress(op, ignore_progress, NULL, NULL));
  CX_ASSERT_OK(cx_op_enter(op));
  /* Nothing reported yet: -ENOENT, "progress": null. */
  CX_ASSERT_ERR(-ENOENT, cx_op_last_progress(op, &snap));
  assert_null(snap.message);
  assert_int_equal(snap.reports, 0);
  CX_ASSERT_OK(cx_op_to_json(op, &text));
  json_t *j = parse(text);
  assert_true(json_is_null(json_object_get(j, "progress")));
  json_decref(j);
  free(text);
  /* A throttled report is still the last one. */
  CX_ASSERT_OK(cx_op_set_progress_interval(op, 3600));
  report_steps(op, 3, 4);
  CX_ASSERT_OK(cx_op_last_progress(op, &snap));
  assert_string_equal(snap.message, "step 3");
  assert_int_equal(snap.reports, 3);
  assert_true(snap.elapsed >= 0);
  int64_t v = 0;
  CX_ASSERT_OK(cx_meta_get_int(snap.metadata, CX_PROGRESS_CURRENT, &v));
  assert_int_equal(v, 3);
  cx_progress_snapshot_clear(&snap);
  assert_null(snap.message);
  assert_null(snap.metadata);
  cx_progress_snapshot_clear(NULL);
  /* cx_op_to_json carries it, with the filled-in percent. */
  CX_ASSERT_OK(cx_op_exit(op, 0));
  CX_ASSERT_OK(cx_op_to_json(op, &text));
  j = parse(text);
  json_t *p = json_object_get(j, "progress");
  assert_true(json_is_object(p));
  assert_string_equal(str(p, "message"), "step 3");
  assert_int_equal(json_integer_value(json_object_get(p, "current")), 3);
  assert_int_equal(json_integer_value(json_object_get(p, "total")), 4);
  assert_true(num(p, "percent") == 75.0);
  assert_int_equal(json_integer_value(json_object_get(p, "reports")), 3);
  assert_true(num(p, "elapsed") >= 0);
  json_decref(j);
  free(text);
  /* Bad input changes nothing. */
  text = (char *)"untouched";
  CX_ASSERT_ERR(-EINVAL, cx_op_progress_to_json(NULL, &text));
  assert_null(text);
  CX_ASSERT_ERR(-EINVAL, cx_op_progress_to_json(op, NULL));
  CX_ASSERT_ERR(-EINVAL, cx_op_last_progress(NULL, &snap));
  CX_ASSERT_ERR(-EINVAL, cx_op_last_progress(op, NULL));
  CX_ASSERT_OK(cx_op_last_progress(op, &snap));
  assert_int_equal(snap.reports, 3);
  cx_progress_snapshot_clear(&snap);
  cx_op_unref(op);
}

/* No callback and no subscriber anywhere: a registered op's reports are
 * still kept, for the registry's export. */
static void test_registry_keeps_progress(void **state) {
  (void)state;
  cx_registry_clear();
  cx_op_options o = CX_OP_OPTIONS_INIT;
  o.register_op = true;
  o.name = "job";
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_create(&op, &o));
  CX_ASSERT_OK(cx_op_enter(op));
  report_steps(op, 2, 10);
  char *text = NULL;
  CX_ASSERT_OK(cx_registry_to_json(NULL, false, &text));
  json_t *j = parse(text);
  json_t *live = json_object_get(j, "live");
  assert_int_equal(json_array_size(live), 1);
  json_t *p = json_object_get(json_array_get(live, 0), "progress");
  assert_true(json_is_object(p));
  assert_string_equal(str(p, "message"), "step 2");
  assert_int_equal(json_integer_value(json_object_get(p, "current")), 2);
  assert_true(num(p, "percent") == 20.0);
  assert_int_equal(json_integer_value(json_object_get(p, "reports")), 2);
  json_decref(j);
  free(text);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
  cx_registry_clear();
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/json/op/roundtrip", test_op_json_roundtrip),
    CX_TEST("/json/op/failed-and-bad-input", test_op_json_failed_and_bad_input),
    CX_TEST("/json/registry/snapshot", test_registry_json),
    CX_TEST("/json/registry/stats", test_registry_stats_json),
    CX_TEST("/json/invalid-utf8", test_invalid_utf8_exports),
    CX_TEST("/json/numbers-any-locale", test_numbers_any_locale),
    CX_TEST("/json/progress/report", test_progress_report_json),
    CX_TEST("/json/progress/op-last", test_op_last_progress),
    CX_TEST("/json/progress/registry-keeps", test_registry_keeps_progress),
};

CX_TEST_MAIN("json", tests)
