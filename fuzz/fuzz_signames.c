/* fuzz/fuzz_signames.c - signal names and numbers
 * (tools/cancelable/signames.c).  Every input parses to a signal number in
 * [0, SIGRTMAX] or fails with -EINVAL; the name signame_name() gives a
 * parsed signal parses back to it (also with "SIG" in front, when it is a
 * name); and signame_name() of any int fits its buffer. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "signames.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = fuzz_cstring(data, size), buf[16], sig[24];
  const char *name;
  int n = signame_parse(text), any;
  if (n < 0) {
    FUZZ_CHECK(n == -EINVAL);
  } else {
    FUZZ_CHECK(n <= SIGRTMAX);
    name = signame_name(n, buf, sizeof buf);
    FUZZ_CHECK(signame_parse(name) == n);
    if (name[0] < '0' || name[0] > '9') {
      strcpy(sig, "SIG");
      strcat(sig, name);
      FUZZ_CHECK(signame_parse(sig) == n);
    }
  }
  if (size >= sizeof any) {
    memcpy(&any, data, sizeof any);
    memset(buf, 'x', sizeof buf);
    name = signame_name(any, buf, sizeof buf);
    FUZZ_CHECK(memchr(name, '\0', 16) != NULL);
    if (any > 0 && any <= SIGRTMAX) FUZZ_CHECK(signame_parse(name) == any);
  }
  free(text);
  return 0;
}
