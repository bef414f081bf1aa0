/* util/cxu_json.c - a tiny JSON writer into a growable buffer (no-guarantee
 * internal helper: see util/README.md and cxu_json.h). */
#include "cxu_json.h"

#include "cxu_utf8.h"

#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The "C" numeric locale, made once: numbers are written with a point
 * whatever the program's locale (a decimal comma, or U+066B, would make
 * the text invalid JSON).  (locale_t)0 when it cannot be made. */
static locale_t c_numeric;
static pthread_once_t c_numeric_once = PTHREAD_ONCE_INIT;

static void make_c_numeric(void) {
  c_numeric = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

void cxu_json_init(cxu_json *j) { memset(j, 0, sizeof *j); }

void cxu_json_free(cxu_json *j) {
  free(j->buf);
  memset(j, 0, sizeof *j);
}

int cxu_json_error(const cxu_json *j) { return j->err; }

void cxu_json_fail(cxu_json *j, int err) {
  if (j->err == 0) j->err = err;
}

/* Makes room for @n more bytes plus the NUL; false (and sticky -ENOMEM) if
 * it cannot. */
static bool reserve(cxu_json *j, size_t n) {
  size_t need, cap;
  char *p;
  if (j->err != 0) return false;
  if (n > SIZE_MAX - j->len - 1) {
    j->err = -ENOMEM;
    return false;
  }
  need = j->len + n + 1;
  if (need <= j->cap) return true;
  cap = j->cap == 0 ? 256 : j->cap;
  while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  p = realloc(j->buf, cap);
  if (p == NULL) {
    j->err = -ENOMEM;
    return false;
  }
  j->buf = p;
  j->cap = cap;
  return true;
}

static void append(cxu_json *j, const char *s, size_t n) {
  if (!reserve(j, n)) return;
  memcpy(j->buf + j->len, s, n);
  j->len += n;
  j->buf[j->len] = '\0';
}

/* Writes the separator a new value needs at the current position; false
 * when a value is not allowed here (a value inside an object without a
 * key, or a second value at the top level: "1 2" is not JSON). */
static bool begin_value(cxu_json *j) {
  if (j->err != 0) return false;
  if (j->after_key) {
    j->after_key = false;
    return true;
  }
  if (j->depth == 0) {
    if (j->started) {
      j->err = -EINVAL;
      return false;
    }
    j->started = true;
  } else {
    if (j->is_object[j->depth - 1]) {
      j->err = -EINVAL;
      return false;
    }
    if (j->need_comma[j->depth - 1]) append(j, ",", 1);
    j->need_comma[j->depth - 1] = true;
  }
  return j->err == 0;
}

static void open_container(cxu_json *j, bool object) {
  if (!begin_value(j)) return;
  if (j->depth >= CXU_JSON_MAX_DEPTH) {
    j->err = -EINVAL;
    return;
  }
  j->is_object[j->depth] = object;
  j->need_comma[j->depth] = false;
  j->depth++;
  append(j, object ? "{" : "[", 1);
}

static void close_container(cxu_json *j, bool object) {
  if (j->err != 0) return;
  if (j->depth == 0 || j->is_object[j->depth - 1] != object || j->after_key) {
    j->err = -EINVAL;
    return;
  }
  j->depth--;
  append(j, object ? "}" : "]", 1);
}

void cxu_json_object_begin(cxu_json *j) { open_container(j, true); }
void cxu_json_object_end(cxu_json *j) { close_container(j, true); }
void cxu_json_array_begin(cxu_json *j) { open_container(j, false); }
void cxu_json_array_end(cxu_json *j) { close_container(j, false); }

/* The escape of a byte that JSON does not allow raw in a string (a
 * control character, '"' or '\\'); DEL is escaped too, to keep the text
 * readable. */
static size_t escape(unsigned char c, char esc[7]) {
  static const char hex[] = "0123456789abcdef";
  esc[0] = '\\';
  switch (c) {
    case '"':
      esc[1] = '"';
      return 2;
    case '\\':
      esc[1] = '\\';
      return 2;
    case '\b':
      esc[1] = 'b';
      return 2;
    case '\f':
      esc[1] = 'f';
      return 2;
    case '\n':
      esc[1] = 'n';
      return 2;
    case '\r':
      esc[1] = 'r';
      return 2;
    case '\t':
      esc[1] = 't';
      return 2;
    default:
      esc[1] = 'u';
      esc[2] = '0';
      esc[3] = '0';
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 0xf];
      return 6;
  }
}

/* Appends @s (@n bytes) as a quoted JSON string: well-formed UTF-8 is
 * copied, each maximal subpart of an ill-formed sequence becomes U+FFFD
 * (so the text is valid UTF-8 whatever @s holds), and the bytes that need
 * it are escaped.  Runs of plain ASCII are copied in one go. */
static void append_quoted(cxu_json *j, const char *s, size_t n) {
  size_t start = 0, i = 0;
  append(j, "\"", 1);
  while (i < n && j->err == 0) {
    unsigned char c = (unsigned char)s[i];
    char esc[7];
    size_t len;
    bool valid;
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      i++;
      continue;
    }
    if (c >= 0x80) {
      len = cxu_utf8_next(s + i, n - i, &valid);
      if (valid) {
        i += len;
        continue;
      }
      append(j, s + start, i - start);
      append(j, CX__UTF8_REPLACEMENT, sizeof CX__UTF8_REPLACEMENT - 1);
    } else {
      len = 1;
      append(j, s + start, i - start);
      append(j, esc, escape(c, esc));
    }
    i += len;
    start = i;
  }
  append(j, s + start, n - start);
  append(j, "\"", 1);
}

void cxu_json_key(cxu_json *j, const char *key) {
  if (j->err != 0) return;
  if (key == NULL || j->depth == 0 || !j->is_object[j->depth - 1] ||
      j->after_key) {
    j->err = -EINVAL;
    return;
  }
  if (j->need_comma[j->depth - 1]) append(j, ",", 1);
  j->need_comma[j->depth - 1] = true;
  append_quoted(j, key, strlen(key));
  append(j, ":", 1);
  j->after_key = true;
}

void cxu_json_string_n(cxu_json *j, const char *s, size_t n) {
  if (s == NULL) {
    cxu_json_null(j);
    return;
  }
  if (begin_value(j)) append_quoted(j, s, n);
}

void cxu_json_string(cxu_json *j, const char *s) {
  cxu_json_string_n(j, s, s != NULL ? strlen(s) : 0);
}

void cxu_json_int(cxu_json *j, int64_t v) {
  char text[32];
  int n = snprintf(text, sizeof text, "%" PRId64, v);
  if (begin_value(j)) append(j, text, (size_t)n);
}

void cxu_json_double(cxu_json *j, double v) {
  char text[40];
  int n;
  if (!isfinite(v)) {
    cxu_json_null(j);
    return;
  }
  locale_t saved = (locale_t)0;
  pthread_once(&c_numeric_once, make_c_numeric);
  /* This thread only, for these two calls (uselocale is per thread). */
  if (c_numeric != (locale_t)0) saved = uselocale(c_numeric);
  /* The shortest of 15 or 17 significant digits that reads back as the
   * same double. */
  n = snprintf(text, sizeof text, "%.15g", v);
  if (strtod(text, NULL) != v) n = snprintf(text, sizeof text, "%.17g", v);
  if (saved != (locale_t)0) uselocale(saved);
  if (c_numeric == (locale_t)0) /* no C locale: a decimal comma at least */
    for (int i = 0; i < n; i++)
      if (text[i] == ',') text[i] = '.';
  if (begin_value(j)) append(j, text, (size_t)n);
}

void cxu_json_bool(cxu_json *j, bool v) {
  if (begin_value(j)) append(j, v ? "true" : "false", v ? 4 : 5);
}

void cxu_json_null(cxu_json *j) {
  if (begin_value(j)) append(j, "null", 4);
}

void cxu_json_raw(cxu_json *j, const char *text, size_t n) {
  if (begin_value(j)) append(j, text, n);
}
