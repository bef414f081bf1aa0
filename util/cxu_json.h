/* util/cxu_json.h - a tiny JSON writer into a growable buffer (no-guarantee
 * helper of util/, on libc only: see util/README.md; not public API, not
 * exported).
 *
 * Usage:
 *   cxu_json j;
 *   cxu_json_init(&j);
 *   cxu_json_object_begin(&j);
 *   cxu_json_key(&j, "name");  cxu_json_string(&j, "a \"b\"");
 *   cxu_json_key(&j, "n");     cxu_json_int(&j, 42);
 *   cxu_json_object_end(&j);
 *   if (cxu_json_error(&j) == 0) fwrite(j.buf, 1, j.len, stdout);
 *   cxu_json_free(&j);
 *
 * Commas and the colon after a key are written for you.  Strings (keys
 * too) come out as valid UTF-8 whatever bytes they hold: `"`, `\` and
 * every control character (U+0000..U+001F and DEL) become escapes,
 * well-formed UTF-8 is copied unchanged, and each maximal subpart of an
 * ill-formed sequence (overlong forms, surrogates, code points above
 * U+10FFFF, stray continuation bytes, truncated sequences) becomes one
 * U+FFFD, as Unicode and WHATWG decoders do (util/cxu_utf8.h).  Doubles that
 * are NaN or infinite are written as null.
 * The text is one JSON value.  Errors are sticky: after an allocation
 * failure (or nesting deeper than CXU_JSON_MAX_DEPTH, a misplaced key or
 * end, or a second top-level value) every call is a no-op and
 * cxu_json_error() reports it.  Not thread-safe: one writer per thread.
 */
#ifndef CXU_JSON_H
#define CXU_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Containers nest at most this deep. */
#define CXU_JSON_MAX_DEPTH 64

typedef struct cxu_json {
  char *buf;      /* (owned) the text, NUL-terminated; NULL before the first
                     write */
  size_t len;     /* bytes of text, without the NUL */
  size_t cap;     /* bytes allocated */
  int err;        /* 0, -ENOMEM or -EINVAL (sticky) */
  unsigned depth; /* open containers */
  bool need_comma[CXU_JSON_MAX_DEPTH]; /* per level: a value was written */
  bool is_object[CXU_JSON_MAX_DEPTH];  /* per level: object or array */
  bool after_key;                      /* a key waits for its value */
  bool started;                        /* the top-level value was begun */
} cxu_json;

/* Prepares an empty writer (allocates nothing). */
void cxu_json_init(cxu_json *j);
/* Frees the buffer; the writer may be initialised again. */
void cxu_json_free(cxu_json *j);
/* 0, or the first error (-ENOMEM, -EINVAL). */
int cxu_json_error(const cxu_json *j);
/* Marks the writer failed with @err (a negative errno) unless it has
 * failed already: for a value the caller could not make. */
void cxu_json_fail(cxu_json *j, int err);

void cxu_json_object_begin(cxu_json *j);
void cxu_json_object_end(cxu_json *j);
void cxu_json_array_begin(cxu_json *j);
void cxu_json_array_end(cxu_json *j);
/* Writes a key inside an object; the next call writes its value. */
void cxu_json_key(cxu_json *j, const char *key);

/* Values.  A NULL string is written as null. */
void cxu_json_string(cxu_json *j, const char *s);
void cxu_json_string_n(cxu_json *j, const char *s, size_t n);
void cxu_json_int(cxu_json *j, int64_t v);
void cxu_json_double(cxu_json *j, double v);
void cxu_json_bool(cxu_json *j, bool v);
void cxu_json_null(cxu_json *j);

/* Appends @n bytes of already-valid JSON text as one value (no checks). */
void cxu_json_raw(cxu_json *j, const char *text, size_t n);

#endif /* CXU_JSON_H */
