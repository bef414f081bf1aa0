/* tests/unit/test_meta.c - typed key/value metadata (cx_meta): set/get of
 * every type, replacement in place, removal, deep copy, insertion order,
 * type mismatches and bad input.  Issue #2.
 */
#include "cx_test.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cancelable.h>

static void test_meta_new_empty(void **state) {
  (void)state;
  cx_meta *m = cx_meta_new();
  assert_non_null(m);
  assert_int_equal(cx_meta_count(m), 0);
  assert_null(cx_meta_key_at(m, 0));
  assert_int_equal(cx_meta_type_of(m, "x"), CX_META_NONE);
  cx_meta_free(m);
  cx_meta_free(NULL); /* no-op */
  assert_int_equal(cx_meta_count(NULL), 0);
  assert_null(cx_meta_key_at(NULL, 0));
}

static void test_meta_set_get_each_type(void **state) {
  (void)state;
  cx_meta *m = cx_meta_new();
  assert_non_null(m);
  CX_ASSERT_OK(cx_meta_set_string(m, "s", "hello"));
  CX_ASSERT_OK(cx_meta_set_int(m, "i", INT64_C(-9007199254740993)));
  CX_ASSERT_OK(cx_meta_set_double(m, "d", 2.5));
  CX_ASSERT_OK(cx_meta_set_bool(m, "b", true));
  CX_ASSERT_OK(cx_meta_set_bool(m, "f", false));
  assert_int_equal(cx_meta_count(m), 5);

  assert_int_equal(cx_meta_type_of(m, "s"), CX_META_STRING);
  assert_int_equal(cx_meta_type_of(m, "i"), CX_META_INT);
  assert_int_equal(cx_meta_type_of(m, "d"), CX_META_DOUBLE);
  assert_int_equal(cx_meta_type_of(m, "b"), CX_META_BOOL);
  assert_int_equal(cx_meta_type_of(m, "nope"), CX_META_NONE);

  const char *s = NULL;
  int64_t i = 0;
  double d = 0;
  bool b = false;
  CX_ASSERT_OK(cx_meta_get_string(m, "s", &s));
  assert_string_equal(s, "hello");
  CX_ASSERT_OK(cx_meta_get_int(m, "i", &i));
  assert_true(i == INT64_C(-9007199254740993));
  CX_ASSERT_OK(cx_meta_get_double(m, "d", &d));
  assert_true(d == 2.5);
  CX_ASSERT_OK(cx_meta_get_bool(m, "b", &b));
  assert_true(b);
  CX_ASSERT_OK(cx_meta_get_bool(m, "f", &b));
  assert_false(b);
  cx_meta_free(m);
}

static void test_meta_int_extremes(void **state) {
  (void)state;
  cx_meta *m = cx_meta_new();
  CX_ASSERT_OK(cx_meta_set_int(m, "max", INT64_MAX));
  CX_ASSERT_OK(cx_meta_set_int(m, "min", INT64_MIN));
  int64_t v = 0;
  CX_ASSERT_OK(cx_meta_get_int(m, "max", &v));
  assert_true(v == INT64_MAX);
  CX_ASSERT_OK(cx_meta_get_int(m, "min", &v));
  assert_true(v == INT64_MIN);
  cx_meta_free(m);
}

static void test_meta_strings_are_copied(void **state) {
  (void)state;
  cx_meta *m = cx_meta_new();
  char key[16], value[16];
  snprintf(key, sizeof key, "key");
  snprintf(value, sizeof value, "value");
  CX_ASSERT_OK(cx_meta_set_string(m, key, value));
  memset(key, 'X', sizeof key - 1);
  memset(value, 'Y', sizeof value - 1);
  const char *s = NULL;
  CX_ASSERT_OK(cx_meta_get_string(m, "key", &s));
  assert_string_equal(s, "value");
  assert_string_equal(cx_meta_key_at(m, 0), "key");
  cx_meta_free(m);
}

static void test_meta_replace_keeps_position(void **state) {
  (void)state;
  cx_meta *m = cx_meta_new();
  CX_ASSERT_OK(cx_meta_set_int(m, "a", 1));
  CX_ASSERT_OK(cx_meta_set_int(m, "b", 2));
  CX_ASSERT_OK(cx_meta_set_int(m, "c", 3));
  /* replace b with a value of another type */
  CX_ASSERT_OK(cx_meta_set_string(m, "b", "two"));
  assert_int_equal(cx_meta_count(m), 3);
  assert_string_equal(cx_meta_key_at(m, 0), "a");
  assert_string_equal(cx_meta_key_at(m, 1), "b");
  assert_string_equal(cx_meta_key_at(m, 2), "c");
  assert_null(cx_meta_key_at(m, 3));
  assert_int_equal(cx_meta_type_of(m, "b"), CX_META_STRING);
  const char *s = NULL;
  CX_ASSERT_OK(cx_meta_get_string(m, "b", &s));
  assert_string_equal(s, "two");
  int64_t v = 0;
  CX_ASSERT_ERR(-EPROTOTYPE, cx_meta_get_int(m, "b", &v));
  /* and back to a number */
  CX_ASSERT_OK(cx_meta_set_double(m, "b", 0.5));
  assert_int_equal(cx_meta_type_of(m, "b"), CX_META_DOUBLE);
  assert_string_equal(cx_meta_key_at(m, 1), "b");
  /* a new key is appended */
  CX_ASSERT_OK(cx_meta_set_bool(m, "d", true));
  assert_string_equal(cx_meta_key_at(m, 3), "d");
  cx_meta_free(m);
}

static void test_meta_wrong_type(void **state) {
  (void)state;
  cx_meta *m = cx_meta_new();
  CX_ASSERT_OK(cx_meta_set_string(m, "s", "x"));
  CX_ASSERT_OK(cx_meta_set_int(m, "i", 7));
  CX_ASSERT_OK(cx_meta_set_bool(m, "b", true));
  CX_ASSERT_OK(cx_meta_set_double(m, "d", 1.5));

  int64_t i = 42;
  double d = 4.25;
  bool b = false;
  const char *s = "unchanged";
  CX_ASSERT_ERR(-EPROTOTYPE, cx_meta_get_int(m, "s", &i));
  CX_ASSERT_ERR(-EPROTOTYPE, cx_meta_get_int(m, "d", &i));
  CX_ASSERT_ERR(-EPROTOTYPE, cx_meta_get_int(m, "b", &i));
  assert_true(i == 42);
  CX_ASSERT_ERR(-EPROTOTYPE, cx_meta_get_double(m, "s", &d));
  CX_ASSERT_ERR(-EPROTOTYPE, cx_meta_get_double(m, "b", &d));
  assert_true(d == 4.25);
  CX_ASSERT_ERR(-EPROTOTYPE, cx_meta_get_bool(m, "i", &b));
  CX_ASSERT_ERR(-EPROTOTYPE, cx_meta_get_bool(m, "s", &b));
  assert_false(b);
  CX_ASSERT_ERR(-EPROTOTYPE, cx_meta_get_string(m, "i", &s));
  CX_ASSERT_ERR(-EPROTOTYPE, cx_meta_get_string(m, "b", &s));
  assert_string_equal(s, "unchanged");
  cx_meta_free(m);
}

static void test_meta_double_accepts_int(void **state) {
  (void)state;
  cx_meta *m = cx_meta_new();
  CX_ASSERT_OK(cx_meta_set_int(m, "i", -12));
  double d = 0;
  CX_ASSERT_OK(cx_meta_get_double(m, "i", &d));
  assert_true(d == -12.0);
  assert_int_equal(cx_meta_type_of(m, "i"), CX_META_INT);
  cx_meta_free(m);
}

static void test_meta_non_finite_doubles(void **state) {
  (void)state;
  cx_meta *m = cx_meta_new();
  CX_ASSERT_OK(cx_meta_set_double(m, "nan", NAN));
  CX_ASSERT_OK(cx_meta_set_double(m, "inf", INFINITY));
  CX_ASSERT_OK(cx_meta_set_double(m, "-inf", -INFINITY));
  double d = 0;
  CX_ASSERT_OK(cx_meta_get_double(m, "nan", &d));
  assert_true(isnan(d));
  CX_ASSERT_OK(cx_meta_get_double(m, "inf", &d));
  assert_true(isinf(d) && d > 0);
  CX_ASSERT_OK(cx_meta_get_double(m, "-inf", &d));
  assert_true(isinf(d) && d < 0);
  cx_meta_free(m);
}

static void test_meta_missing_key(void **state) {
  (void)state;
  cx_meta *m = cx_meta_new();
  CX_ASSERT_OK(cx_meta_set_int(m, "present", 1));
  int64_t i = 5;
  double d = 5;
  bool b = true;
  const char *s = "keep";
  CX_ASSERT_ERR(-ENOENT, cx_meta_get_int(m, "absent", &i));
  CX_ASSERT_ERR(-ENOENT, cx_meta_get_double(m, "absent", &d));
  CX_ASSERT_ERR(-ENOENT, cx_meta_get_bool(m, "absent", &b));
  CX_ASSERT_ERR(-ENOENT, cx_meta_get_string(m, "absent", &s));
  assert_true(i == 5 && d == 5 && b);
  assert_string_equal(s, "keep");
  cx_meta_free(m);
}

static void test_meta_remove(void **state) {
  (void)state;
  cx_meta *m = cx_meta_new();
  CX_ASSERT_OK(cx_meta_set_int(m, "a", 1));
  CX_ASSERT_OK(cx_meta_set_string(m, "b", "bee"));
  CX_ASSERT_OK(cx_meta_set_int(m, "c", 3));
  CX_ASSERT_OK(cx_meta_remove(m, "b"));
  assert_int_equal(cx_meta_count(m), 2);
  assert_int_equal(cx_meta_type_of(m, "b"), CX_META_NONE);
  assert_string_equal(cx_meta_key_at(m, 0), "a");
  assert_string_equal(cx_meta_key_at(m, 1), "c");
  CX_ASSERT_ERR(-ENOENT, cx_meta_remove(m, "b"));
  CX_ASSERT_ERR(-ENOENT, cx_meta_remove(m, "never"));
  CX_ASSERT_ERR(-EINVAL, cx_meta_remove(m, NULL));
  CX_ASSERT_ERR(-EINVAL, cx_meta_remove(NULL, "a"));
  /* re-adding appends */
  CX_ASSERT_OK(cx_meta_set_int(m, "b", 2));
  assert_string_equal(cx_meta_key_at(m, 2), "b");
  CX_ASSERT_OK(cx_meta_remove(m, "a"));
  CX_ASSERT_OK(cx_meta_remove(m, "c"));
  CX_ASSERT_OK(cx_meta_remove(m, "b"));
  assert_int_equal(cx_meta_count(m), 0);
  cx_meta_free(m);
}

static void test_meta_bad_input(void **state) {
  (void)state;
  cx_meta *m = cx_meta_new();
  CX_ASSERT_OK(cx_meta_set_int(m, "k", 1));
  CX_ASSERT_ERR(-EINVAL, cx_meta_set_string(NULL, "k", "v"));
  CX_ASSERT_ERR(-EINVAL, cx_meta_set_string(m, NULL, "v"));
  CX_ASSERT_ERR(-EINVAL, cx_meta_set_string(m, "", "v"));
  CX_ASSERT_ERR(-EINVAL, cx_meta_set_string(m, "k", NULL));
  CX_ASSERT_ERR(-EINVAL, cx_meta_set_int(NULL, "k", 1));
  CX_ASSERT_ERR(-EINVAL, cx_meta_set_int(m, NULL, 1));
  CX_ASSERT_ERR(-EINVAL, cx_meta_set_int(m, "", 1));
  CX_ASSERT_ERR(-EINVAL, cx_meta_set_double(NULL, "k", 1.0));
  CX_ASSERT_ERR(-EINVAL, cx_meta_set_double(m, "", 1.0));
  CX_ASSERT_ERR(-EINVAL, cx_meta_set_bool(NULL, "k", true));
  CX_ASSERT_ERR(-EINVAL, cx_meta_set_bool(m, NULL, true));
  /* nothing changed: k is still the int 1 and alone */
  assert_int_equal(cx_meta_count(m), 1);
  int64_t i = 0;
  CX_ASSERT_OK(cx_meta_get_int(m, "k", &i));
  assert_true(i == 1);

  CX_ASSERT_ERR(-EINVAL, cx_meta_get_int(NULL, "k", &i));
  CX_ASSERT_ERR(-EINVAL, cx_meta_get_int(m, NULL, &i));
  CX_ASSERT_ERR(-EINVAL, cx_meta_get_int(m, "k", NULL));
  CX_ASSERT_ERR(-EINVAL, cx_meta_get_string(m, "k", NULL));
  CX_ASSERT_ERR(-EINVAL, cx_meta_get_double(m, "k", NULL));
  CX_ASSERT_ERR(-EINVAL, cx_meta_get_bool(m, "k", NULL));
  assert_int_equal(cx_meta_type_of(NULL, "k"), CX_META_NONE);
  assert_int_equal(cx_meta_type_of(m, NULL), CX_META_NONE);
  cx_meta_free(m);
}

static void test_meta_copy_is_deep(void **state) {
  (void)state;
  cx_meta *m = cx_meta_new();
  CX_ASSERT_OK(cx_meta_set_string(m, "s", "orig"));
  CX_ASSERT_OK(cx_meta_set_int(m, "i", 1));
  CX_ASSERT_OK(cx_meta_set_double(m, "d", 1.5));
  CX_ASSERT_OK(cx_meta_set_bool(m, "b", true));
  cx_meta *c = cx_meta_copy(m);
  assert_non_null(c);
  assert_int_equal(cx_meta_count(c), 4);
  for (size_t k = 0; k < 4; k++)
    assert_string_equal(cx_meta_key_at(c, k), cx_meta_key_at(m, k));

  /* change and free the original: the copy is unaffected */
  CX_ASSERT_OK(cx_meta_set_string(m, "s", "changed"));
  CX_ASSERT_OK(cx_meta_remove(m, "i"));
  cx_meta_free(m);

  const char *s = NULL;
  int64_t i = 0;
  double d = 0;
  bool b = false;
  CX_ASSERT_OK(cx_meta_get_string(c, "s", &s));
  assert_string_equal(s, "orig");
  CX_ASSERT_OK(cx_meta_get_int(c, "i", &i));
  assert_true(i == 1);
  CX_ASSERT_OK(cx_meta_get_double(c, "d", &d));
  assert_true(d == 1.5);
  CX_ASSERT_OK(cx_meta_get_bool(c, "b", &b));
  assert_true(b);
  cx_meta_free(c);

  cx_meta *e = cx_meta_copy(NULL);
  assert_non_null(e);
  assert_int_equal(cx_meta_count(e), 0);
  cx_meta_free(e);
}

static void test_meta_many_keys(void **state) {
  (void)state;
  cx_meta *m = cx_meta_new();
  char key[32];
  for (int k = 0; k < 2000; k++) {
    snprintf(key, sizeof key, "key-%d", k);
    CX_ASSERT_OK(cx_meta_set_int(m, key, k));
  }
  assert_int_equal(cx_meta_count(m), 2000);
  for (int k = 0; k < 2000; k++) {
    snprintf(key, sizeof key, "key-%d", k);
    assert_string_equal(cx_meta_key_at(m, (size_t)k), key);
    int64_t v = -1;
    CX_ASSERT_OK(cx_meta_get_int(m, key, &v));
    assert_true(v == k);
  }
  for (int k = 0; k < 2000; k += 2) {
    snprintf(key, sizeof key, "key-%d", k);
    CX_ASSERT_OK(cx_meta_remove(m, key));
  }
  assert_int_equal(cx_meta_count(m), 1000);
  assert_string_equal(cx_meta_key_at(m, 0), "key-1");
  assert_string_equal(cx_meta_key_at(m, 999), "key-1999");
  cx_meta_free(m);
}

/* cx_meta_to_json: keys in order, each type as JSON, NaN as null, bad
 * UTF-8 as U+FFFD; NULL as an empty object. */
static void test_meta_to_json(void **state) {
  (void)state;
  cx_meta *m = cx_meta_new();
  char *text;
  assert_non_null(m);
  CX_ASSERT_OK(cx_meta_set_string(m, "name", "a\"b\xff"));
  CX_ASSERT_OK(cx_meta_set_int(m, "n", -42));
  CX_ASSERT_OK(cx_meta_set_double(m, "x", 0.5));
  CX_ASSERT_OK(cx_meta_set_double(m, "nan", NAN));
  CX_ASSERT_OK(cx_meta_set_bool(m, "ok", true));
  text = cx_meta_to_json(m);
  assert_non_null(text);
  assert_string_equal(text,
                      "{\"name\":\"a\\\"b\xef\xbf\xbd\",\"n\":-42,"
                      "\"x\":0.5,\"nan\":null,\"ok\":true}");
  free(text);
  cx_meta_free(m);
  text = cx_meta_to_json(NULL);
  assert_non_null(text);
  assert_string_equal(text, "{}");
  free(text);
}

/* Issue 17 item 12: getters with a default. */
static void test_meta_getters_or(void **state) {
  (void)state;
  cx_meta *m = cx_meta_new();
  assert_non_null(m);
  CX_ASSERT_OK(cx_meta_set_string(m, "s", "text"));
  CX_ASSERT_OK(cx_meta_set_int(m, "i", 42));
  CX_ASSERT_OK(cx_meta_set_double(m, "d", 2.5));
  CX_ASSERT_OK(cx_meta_set_bool(m, "b", true));
  assert_string_equal(cx_meta_string_or(m, "s", "x"), "text");
  assert_string_equal(cx_meta_string_or(m, "i", "x"), "x"); /* other type */
  assert_string_equal(cx_meta_string_or(m, "none", "x"), "x");
  assert_null(cx_meta_string_or(m, "none", NULL));
  assert_int_equal(cx_meta_int_or(m, "i", -1), 42);
  assert_int_equal(cx_meta_int_or(m, "d", -1), -1);
  assert_true(cx_meta_double_or(m, "d", 0) == 2.5);
  assert_true(cx_meta_double_or(m, "i", 0) == 42.0); /* int converts */
  assert_true(cx_meta_double_or(m, "s", 7.5) == 7.5);
  assert_true(cx_meta_bool_or(m, "b", false));
  assert_false(cx_meta_bool_or(m, "none", false));
  assert_string_equal(cx_meta_string_or(NULL, "s", "x"), "x");
  assert_int_equal(cx_meta_int_or(m, NULL, 3), 3);
  cx_meta_free(m);
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/meta/get-or/defaults", test_meta_getters_or),
    CX_TEST("/meta/new/empty", test_meta_new_empty),
    CX_TEST("/meta/set-get/each-type", test_meta_set_get_each_type),
    CX_TEST("/meta/set-get/int-extremes", test_meta_int_extremes),
    CX_TEST("/meta/set-get/strings-copied", test_meta_strings_are_copied),
    CX_TEST("/meta/set/replace-keeps-position",
            test_meta_replace_keeps_position),
    CX_TEST("/meta/get/wrong-type", test_meta_wrong_type),
    CX_TEST("/meta/get/double-accepts-int", test_meta_double_accepts_int),
    CX_TEST("/meta/set/non-finite-doubles", test_meta_non_finite_doubles),
    CX_TEST("/meta/get/missing-key", test_meta_missing_key),
    CX_TEST("/meta/remove", test_meta_remove),
    CX_TEST("/meta/bad-input", test_meta_bad_input),
    CX_TEST("/meta/copy/deep", test_meta_copy_is_deep),
    CX_TEST("/meta/many-keys", test_meta_many_keys),
    CX_TEST("/meta/to-json", test_meta_to_json),
};

CX_TEST_MAIN("meta", tests)
