/* util/cxu_utf8.c - strict UTF-8 decoding and cutting text on character
 * boundaries (no-guarantee internal helper: see util/README.md and
 * cxu_utf8.h). */
#include "cxu_utf8.h"

#include <stdio.h>

/* The length of the character a lead byte starts, or 0 when @c cannot
 * start one (a continuation byte, C0/C1 which only make overlong forms,
 * F5..FF which would go above U+10FFFF). */
static size_t lead_length(unsigned char c) {
  if (c < 0x80) return 1;
  if (c < 0xc2) return 0;
  if (c < 0xe0) return 2;
  if (c < 0xf0) return 3;
  return c < 0xf5 ? 4 : 0;
}

size_t cxu_utf8_next(const char *s, size_t n, bool *valid) {
  const unsigned char *p = (const unsigned char *)s;
  size_t len = lead_length(p[0]);
  /* The range of the second byte depends on the lead byte (table 3-7):
   * it rules out overlong forms (E0, F0), surrogates (ED) and code points
   * above U+10FFFF (F4); later bytes are plain continuation bytes. */
  unsigned char lo = 0x80, hi = 0xbf;
  *valid = len == 1;
  if (len <= 1) return 1;
  if (p[0] == 0xe0) lo = 0xa0;
  if (p[0] == 0xed) hi = 0x9f;
  if (p[0] == 0xf0) lo = 0x90;
  if (p[0] == 0xf4) hi = 0x8f;
  for (size_t i = 1; i < len; i++) {
    if (i >= n || p[i] < lo || p[i] > hi) return i;
    lo = 0x80;
    hi = 0xbf;
  }
  *valid = true;
  return len;
}

size_t cxu_utf8_cut(const char *s, size_t n) {
  /* An incomplete character has its lead byte among the last three. */
  for (size_t back = 1; back <= 3 && back <= n; back++) {
    unsigned char c = (unsigned char)s[n - back];
    bool valid;
    if (c >= 0x80 && c < 0xc0) continue; /* a continuation byte */
    if (lead_length(c) > back &&
        cxu_utf8_next(s + n - back, back, &valid) == back)
      return n - back;
    return n;
  }
  return n;
}

size_t cxu_utf8_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap) {
  int n = vsnprintf(buf, size, fmt, ap);
  size_t len;
  if (n < 0) {
    buf[0] = '\0';
    return 0;
  }
  if ((size_t)n < size) return (size_t)n;
  len = cxu_utf8_cut(buf, size - 1);
  buf[len] = '\0';
  return len;
}

size_t cxu_utf8_snprintf(char *buf, size_t size, const char *fmt, ...) {
  va_list ap;
  size_t len;
  va_start(ap, fmt);
  len = cxu_utf8_vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return len;
}
