/* fuzz/fuzz_utf8.c - util/cx_utf8 against the independent oracle of
 * fuzz_common.c (code point ranges, not the same code):
 *  - cxu_utf8_next() walks any input in steps of 1..4 bytes, never past
 *    its end, and the text it decodes (each ill-formed step one U+FFFD) is
 *    exactly the oracle's;
 *  - cxu_utf8_cut() of every prefix drops at most 3 bytes, keeps a prefix
 *    the oracle calls valid when the input is valid, and drops nothing
 *    when that prefix is valid already;
 *  - cxu_utf8_snprintf() into buffers of every small size leaves valid
 *    text when the input is valid, and never more than fits. */
#include <stdlib.h>
#include <string.h>

#include "cxu_utf8.h"
#include "fuzz_common.h"

enum { MAX_CUTS = 256 };

/* Decodes @s (@n bytes) with cxu_utf8_next(); returns a malloc'ed text. */
static char *decode_with_next(const char *s, size_t n, size_t *out_len) {
  char *out = malloc(3 * n + 1);
  size_t len = 0;
  FUZZ_CHECK(out != NULL);
  for (size_t i = 0; i < n;) {
    bool valid = false;
    size_t step = cxu_utf8_next(s + i, n - i, &valid);
    FUZZ_CHECK(step >= 1 && step <= 4 && step <= n - i);
    FUZZ_CHECK(!valid || fuzz_utf8_valid(s + i, step));
    if (valid) {
      memcpy(out + len, s + i, step);
      len += step;
    } else {
      FUZZ_CHECK(step <= 3);
      memcpy(out + len, CX__UTF8_REPLACEMENT, 3);
      len += 3;
    }
    i += step;
  }
  out[len] = '\0';
  *out_len = len;
  return out;
}

static void check_next(const char *s, size_t n) {
  size_t mine_len = 0, want_len = 0;
  char *mine = decode_with_next(s, n, &mine_len);
  char *want = fuzz_utf8_decode(s, n, &want_len);
  FUZZ_CHECK(mine_len == want_len && memcmp(mine, want, want_len) == 0);
  free(mine);
  free(want);
}

static void check_cuts(const char *s, size_t n, bool input_valid) {
  size_t last = n < MAX_CUTS ? n : MAX_CUTS;
  for (size_t k = 0; k <= last; k++) {
    size_t c = cxu_utf8_cut(s, k);
    FUZZ_CHECK(c <= k && k - c <= 3);
    if (fuzz_utf8_valid(s, k)) FUZZ_CHECK(c == k);
    if (input_valid) FUZZ_CHECK(fuzz_utf8_valid(s, c));
  }
}

static void check_snprintf(const char *text) {
  size_t n = strlen(text);
  bool valid = fuzz_utf8_valid(text, n);
  char buf[MAX_CUTS + 1];
  for (size_t size = 1; size <= sizeof buf && size <= n + 1; size++) {
    size_t got = cxu_utf8_snprintf(buf, size, "%s", text);
    FUZZ_CHECK(got < size && got == strlen(buf));
    FUZZ_CHECK(memcmp(buf, text, got) == 0);
    if (valid) FUZZ_CHECK(fuzz_utf8_valid(buf, got));
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *s = (const char *)data;
  char *text = fuzz_cstring(data, size);
  check_next(s, size);
  check_cuts(s, size, fuzz_utf8_valid(s, size));
  check_snprintf(text);
  free(text);
  return 0;
}
