/* fuzz/fuzz_common.h - what the libFuzzer targets of fuzz/ share: turning
 * the fuzzer's bytes into C strings and argument lists, an independent
 * strict UTF-8 checker and decoder (the oracle the JSON writer is held
 * to), and a strict JSON check with jansson.  Test code, not part of the
 * library: a failed check aborts, which libFuzzer reports as a crash. */
#ifndef CX_FUZZ_COMMON_H
#define CX_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* LLVMFuzzerTestOneInput: libFuzzer's entry point, defined by each target.
 * Returns: 0 (the input is kept if it adds coverage). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* FUZZ_CHECK: abort with the failed condition and its place when @cond is
 * false. */
#define FUZZ_CHECK(cond) \
  ((cond) ? (void)0 : fuzz_fail(#cond, __FILE__, __LINE__))

/* fuzz_fail: print the failed check and abort (libFuzzer saves the input). */
_Noreturn void fuzz_fail(const char *what, const char *file, int line);

/* fuzz_cstring: @data as a NUL-terminated string (it ends at the first NUL
 * byte of @data, if any).
 * Returns: (transfer full) a malloc'ed copy; aborts when out of memory. */
char *fuzz_cstring(const uint8_t *data, size_t size);

/* A list of NUL-separated fields of the input. */
typedef struct fuzz_fields {
  char *buf;    /* (owned) the input, NUL-terminated */
  char **field; /* (owned) pointers into buf, then NULL */
  size_t count;
} fuzz_fields;

/* fuzz_split: split @data at each NUL byte into at most @max fields (the
 * last one keeps the rest, NULs included). */
void fuzz_split(fuzz_fields *f, const uint8_t *data, size_t size, size_t max);

/* fuzz_fields_free: free what fuzz_split() allocated. */
void fuzz_fields_free(fuzz_fields *f);

/* fuzz_utf8_valid: whether @s (@n bytes) is well-formed UTF-8 (Unicode
 * table 3-7), checked by decoding code points, independently of
 * util/cx_utf8. */
bool fuzz_utf8_valid(const char *s, size_t n);

/* fuzz_utf8_decode: what a strict decoder makes of @s (@n bytes): valid
 * characters as they are, each maximal subpart of an ill-formed sequence
 * as one U+FFFD; computed from code point ranges, independently of
 * util/cx_utf8.
 * @out_len: receives the length of the result.
 * Returns: (transfer full) a malloc'ed, NUL-terminated result. */
char *fuzz_utf8_decode(const char *s, size_t n, size_t *out_len);

/* fuzz_check_json: abort unless @text is valid UTF-8 and parses with
 * jansson (which refuses invalid UTF-8; any value at the top, "\u0000"
 * allowed when @allow_nul).
 * Returns: (transfer full) the parsed value, a json_t * to
 *   json_decref(). */
void *fuzz_check_json(const char *text, bool allow_nul);

/* fuzz_json_free: json_decref() of a value fuzz_check_json() returned. */
void fuzz_json_free(void *value);

/* fuzz_check_decoded: abort unless the JSON string @value (a json_t *)
 * holds exactly what fuzz_utf8_decode() makes of @s (@n bytes). */
void fuzz_check_decoded(const void *value, const char *s, size_t n);

struct cx_op;

/* fuzz_report_json: the tool's `--report json` for @op (exited; its last
 * progress report is the library's) and the command @command, checked by
 * fuzz_check_json().
 * Returns: (transfer full) the parsed value, a json_t * to
 *   json_decref(). */
void *fuzz_report_json(struct cx_op *op, const char *command);

#endif /* CX_FUZZ_COMMON_H */
