/* fuzz/fuzz_json.c - the JSON writer of util/cxu_json.h, driven by the
 * input as a little program (begin/end object or array, key, string of any
 * bytes, integer, double of any bit pattern, boolean, null).  Whatever the
 * calls, the writer either reports an error or holds valid UTF-8 that
 * jansson parses strictly; and every string and key, written alone, reads
 * back as exactly what a strict UTF-8 decoder makes of its bytes (each
 * maximal ill-formed subpart one U+FFFD; fuzz_common.c's decoder,
 * independent of util/cx_utf8). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cxu_json.h"
#include "fuzz_common.h"

/* The input, consumed from the front. */
typedef struct reader {
  const uint8_t *p;
  size_t n;
} reader;

static uint8_t next_byte(reader *r) {
  if (r->n == 0) return 0;
  r->n--;
  return *r->p++;
}

/* Up to @max bytes of the input (fewer at its end); *@len receives how
 * many. */
static const char *next_bytes(reader *r, size_t max, size_t *len) {
  const char *s = (const char *)r->p;
  *len = max < r->n ? max : r->n;
  r->p += *len;
  r->n -= *len;
  return s;
}

/* The next 8 bytes (zeros past the end of the input). */
static uint64_t next_u64(reader *r) {
  uint64_t v = 0;
  size_t len;
  const char *s = next_bytes(r, sizeof v, &len);
  memcpy(&v, s, len);
  return v;
}

/* @s written alone as a string, and as a key, reads back decoded. */
static void check_string_alone(const char *s, size_t n) {
  cxu_json j;
  json_t *v;
  char *key = fuzz_cstring((const uint8_t *)s, n);
  cxu_json_init(&j);
  cxu_json_string_n(&j, s, n);
  FUZZ_CHECK(cxu_json_error(&j) == 0);
  FUZZ_CHECK(strlen(j.buf) == j.len);
  v = fuzz_check_json(j.buf, true);
  fuzz_check_decoded(v, s, n);
  json_decref(v);
  cxu_json_free(&j);

  cxu_json_init(&j);
  cxu_json_object_begin(&j);
  cxu_json_key(&j, key);
  cxu_json_null(&j);
  cxu_json_object_end(&j);
  FUZZ_CHECK(cxu_json_error(&j) == 0);
  v = fuzz_check_json(j.buf, false);
  FUZZ_CHECK(json_object_size(v) == 1);
  {
    json_t *k = json_string(json_object_iter_key(json_object_iter(v)));
    FUZZ_CHECK(k != NULL);
    fuzz_check_decoded(k, key, strlen(key));
    json_decref(k);
  }
  json_decref(v);
  cxu_json_free(&j);
  free(key);
}

/* Runs the input as writer calls on @j. */
static void run_program(cxu_json *j, reader *r) {
  for (int steps = 0; r->n > 0 && steps < 2000; steps++) {
    uint8_t op = next_byte(r);
    size_t len;
    const char *s;
    switch (op % 10) {
      case 0:
        cxu_json_object_begin(j);
        break;
      case 1:
        cxu_json_object_end(j);
        break;
      case 2:
        cxu_json_array_begin(j);
        break;
      case 3:
        cxu_json_array_end(j);
        break;
      case 4: {
        char *key;
        s = next_bytes(r, next_byte(r) % 64, &len);
        key = fuzz_cstring((const uint8_t *)s, len);
        cxu_json_key(j, key);
        free(key);
        break;
      }
      case 5:
        s = next_bytes(r, next_byte(r), &len);
        check_string_alone(s, len);
        cxu_json_string_n(j, s, len);
        break;
      case 6:
        cxu_json_int(j, (int64_t)next_u64(r));
        break;
      case 7: {
        uint64_t bits = next_u64(r);
        double v;
        memcpy(&v, &bits, sizeof v); /* any bit pattern: NaN, inf... */
        cxu_json_double(j, v);
        break;
      }
      case 8:
        cxu_json_bool(j, op & 0x80);
        break;
      default:
        cxu_json_null(j);
        break;
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  reader r = {data, size};
  cxu_json j;
  cxu_json_init(&j);
  run_program(&j, &r);
  /* Close what is open: a key waiting for its value gets null. */
  while (cxu_json_error(&j) == 0 && j.depth > 0) {
    if (j.after_key) cxu_json_null(&j);
    if (j.is_object[j.depth - 1])
      cxu_json_object_end(&j);
    else
      cxu_json_array_end(&j);
  }
  if (cxu_json_error(&j) == 0 && j.buf != NULL) {
    FUZZ_CHECK(strlen(j.buf) == j.len);
    fuzz_json_free(fuzz_check_json(j.buf, true));
  }
  cxu_json_free(&j);
  return 0;
}
