/* util/cx_json.h - a tiny JSON writer into a growable buffer (no-guarantee
 * internal helper: see util/README.md; not public API, not exported).
 *
 * Usage:
 *   cx__json j;
 *   cx__json_init(&j);
 *   cx__json_object_begin(&j);
 *   cx__json_key(&j, "name");  cx__json_string(&j, "a \"b\"");
 *   cx__json_key(&j, "n");     cx__json_int(&j, 42);
 *   cx__json_object_end(&j);
 *   if (cx__json_error(&j) == 0) fwrite(j.buf, 1, j.len, stdout);
 *   cx__json_free(&j);
 *
 * Commas and the colon after a key are written for you.  Strings (keys
 * too) come out as valid UTF-8 whatever bytes they hold: `"`, `\` and
 * every control character (U+0000..U+001F and DEL) become escapes,
 * well-formed UTF-8 is copied unchanged, and each maximal subpart of an
 * ill-formed sequence (overlong forms, surrogates, code points above
 * U+10FFFF, stray continuation bytes, truncated sequences) becomes one
 * U+FFFD, as Unicode and WHATWG decoders do (util/cx_utf8.h).  Doubles that
 * are NaN or infinite are written as null.
 * The text is one JSON value.  Errors are sticky: after an allocation
 * failure (or nesting deeper than CX__JSON_MAX_DEPTH, a misplaced key or
 * end, or a second top-level value) every call is a no-op and
 * cx__json_error() reports it.  Not thread-safe: one writer per thread.
 */
#ifndef CX_UTIL_JSON_H
#define CX_UTIL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Containers nest at most this deep. */
#define CX__JSON_MAX_DEPTH 64

typedef struct cx__json {
  char *buf;      /* (owned) the text, NUL-terminated; NULL before the first
                     write */
  size_t len;     /* bytes of text, without the NUL */
  size_t cap;     /* bytes allocated */
  int err;        /* 0, -ENOMEM or -EINVAL (sticky) */
  unsigned depth; /* open containers */
  bool need_comma[CX__JSON_MAX_DEPTH]; /* per level: a value was written */
  bool is_object[CX__JSON_MAX_DEPTH];  /* per level: object or array */
  bool after_key;                      /* a key waits for its value */
  bool started;                        /* the top-level value was begun */
} cx__json;

/* Prepares an empty writer (allocates nothing). */
void cx__json_init(cx__json *j);
/* Frees the buffer; the writer may be initialised again. */
void cx__json_free(cx__json *j);
/* 0, or the first error (-ENOMEM, -EINVAL). */
int cx__json_error(const cx__json *j);

void cx__json_object_begin(cx__json *j);
void cx__json_object_end(cx__json *j);
void cx__json_array_begin(cx__json *j);
void cx__json_array_end(cx__json *j);
/* Writes a key inside an object; the next call writes its value. */
void cx__json_key(cx__json *j, const char *key);

/* Values.  A NULL string is written as null. */
void cx__json_string(cx__json *j, const char *s);
void cx__json_string_n(cx__json *j, const char *s, size_t n);
void cx__json_int(cx__json *j, int64_t v);
void cx__json_double(cx__json *j, double v);
void cx__json_bool(cx__json *j, bool v);
void cx__json_null(cx__json *j);

/* Appends @n bytes of already-valid JSON text as one value (no checks). */
void cx__json_raw(cx__json *j, const char *text, size_t n);

/* Writes a cx_meta (cancelable/meta.h) as an object, keys in order; NULL
 * as an empty object. */
struct cx_meta;
void cx__json_meta(cx__json *j, const struct cx_meta *meta);

#endif /* CX_UTIL_JSON_H */
