/* fuzz/fuzz_common.c - helpers shared by the fuzz targets (see
 * fuzz_common.h). */
#include "fuzz_common.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

void fuzz_fail(const char *what, const char *file, int line) {
  fprintf(stderr, "fuzz check failed: %s at %s:%d\n", what, file, line);
  abort();
}

/* malloc() that aborts when out of memory (test code). */
static void *xmalloc(size_t n) {
  void *p = malloc(n > 0 ? n : 1);
  if (p == NULL) fuzz_fail("out of memory", __FILE__, __LINE__);
  return p;
}

char *fuzz_cstring(const uint8_t *data, size_t size) {
  char *s = xmalloc(size + 1);
  if (size > 0) memcpy(s, data, size);
  s[size] = '\0';
  return s;
}

void fuzz_split(fuzz_fields *f, const uint8_t *data, size_t size, size_t max) {
  f->buf = fuzz_cstring(data, size);
  f->field = xmalloc((max + 1) * sizeof *f->field);
  f->count = 0;
  for (size_t start = 0; f->count < max;) {
    f->field[f->count++] = f->buf + start;
    start += strlen(f->buf + start) + 1;
    if (start > size) break;
  }
  f->field[f->count] = NULL;
}

void fuzz_fields_free(fuzz_fields *f) {
  free(f->field);
  free(f->buf);
  memset(f, 0, sizeof *f);
}

/* The number of continuation bytes after lead byte @c, and the payload
 * bits the lead byte holds; -1 when @c starts no sequence at all. */
static int lead(unsigned char c, uint32_t *bits) {
  static const struct {
    unsigned char mask, value;
  } forms[] = {{0x80, 0x00}, {0xe0, 0xc0}, {0xf0, 0xe0}, {0xf8, 0xf0}};
  for (int extra = 0; extra < 4; extra++) {
    if ((c & forms[extra].mask) == forms[extra].value) {
      *bits = c & (unsigned char)~forms[extra].mask;
      return extra;
    }
  }
  return -1;
}

/* Whether some code point valid for a sequence of @extra continuation
 * bytes starts with the @have continuation bytes decoded into @cp: the
 * code points it can still become are [cp << r, (cp << r) | (2^r - 1)]
 * with r = 6 * (extra - have); they must meet [smallest for that length,
 * U+10FFFF] outside the surrogates. */
static bool viable(uint32_t cp, int extra, int have) {
  static const uint32_t smallest[] = {0, 0x80, 0x800, 0x10000};
  int r = 6 * (extra - have);
  uint32_t lo = cp << r, hi = lo | ((UINT32_C(1) << r) - 1);
  if (hi < smallest[extra] || lo > 0x10ffff) return false;
  return !(lo >= 0xd800 && hi <= 0xdfff);
}

/* Decodes the sequence at @s (@n bytes): returns its length and sets
 * *@ok when it is a valid character, or the length of its maximal
 * ill-formed subpart. */
static size_t decode_one(const unsigned char *s, size_t n, bool *ok) {
  uint32_t cp;
  int extra = lead(s[0], &cp);
  *ok = false;
  if (extra < 0 || !viable(cp, extra, 0)) return 1;
  for (int k = 1; k <= extra; k++) {
    if ((size_t)k >= n || (s[k] & 0xc0) != 0x80) return (size_t)k;
    cp = cp << 6 | (s[k] & 0x3f);
    if (!viable(cp, extra, k)) return (size_t)k;
  }
  *ok = true;
  return (size_t)extra + 1;
}

bool fuzz_utf8_valid(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    bool ok;
    i += decode_one(p + i, n - i, &ok);
    if (!ok) return false;
  }
  return true;
}

char *fuzz_utf8_decode(const char *s, size_t n, size_t *out_len) {
  const unsigned char *p = (const unsigned char *)s;
  char *out = xmalloc(3 * n + 1); /* a byte becomes at most 3 */
  size_t k = 0;
  for (size_t i = 0; i < n;) {
    bool ok;
    size_t len = decode_one(p + i, n - i, &ok);
    if (ok) {
      memcpy(out + k, s + i, len);
      k += len;
    } else {
      memcpy(out + k, "\xef\xbf\xbd", 3);
      k += 3;
    }
    i += len;
  }
  out[k] = '\0';
  *out_len = k;
  return out;
}

void *fuzz_check_json(const char *text, bool allow_nul) {
  json_error_t err;
  json_t *root;
  FUZZ_CHECK(text != NULL);
  FUZZ_CHECK(fuzz_utf8_valid(text, strlen(text)));
  root = json_loads(text, JSON_DECODE_ANY | (allow_nul ? JSON_ALLOW_NUL : 0),
                    &err);
  if (root == NULL) {
    fprintf(stderr, "jansson refuses the JSON: %s at %d\n%s\n", err.text,
            err.position, text);
    fuzz_fail("json_loads", __FILE__, __LINE__);
  }
  return root;
}

void fuzz_json_free(void *value) { json_decref(value); }

void fuzz_check_decoded(const void *value, const char *s, size_t n) {
  size_t want_len;
  char *want = fuzz_utf8_decode(s, n, &want_len);
  FUZZ_CHECK(json_is_string((const json_t *)value));
  if (json_string_length(value) != want_len ||
      memcmp(json_string_value(value), want, want_len) != 0) {
    fprintf(stderr, "decoded '%s', want '%s'\n", json_string_value(value),
            want);
    fuzz_fail("string differs from the strict decoding", __FILE__, __LINE__);
  }
  free(want);
}

void *fuzz_report_json(struct cx_op *op, const char *command) {
  char *argv[] = {(char *)command, NULL}, *text;
  supervise_result res;
  report_input in;
  void *root;
  memset(&res, 0, sizeof res);
  memset(&in, 0, sizeof in);
  in.op = op;
  in.argv = argv;
  in.result = &res;
  in.cancel_kind = "other";
  text = report_json(&in);
  root = fuzz_check_json(text, false);
  free(text);
  return root;
}
