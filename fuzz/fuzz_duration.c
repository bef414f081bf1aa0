/* fuzz/fuzz_duration.c - GNU timeout-style durations
 * (tools/cancelable/duration.c).  Every input parses to a non-negative
 * number of seconds (0, or from DURATION_MIN_SECONDS: a positive one is
 * never shorter; finite up to DURATION_MAX_SECONDS, else infinite) or
 * fails with -EINVAL leaving the output alone; a parsed finite duration
 * printed with 17 digits, with or without the "s" suffix, parses back to
 * the same value, and one in minutes to 60 times it. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "duration.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = fuzz_cstring(data, size), again[64];
  double d = -1, d2 = -1;
  int rc = duration_parse(text, &d);
  if (rc != 0) {
    FUZZ_CHECK(rc == -EINVAL);
    FUZZ_CHECK(d == -1);
  } else {
    FUZZ_CHECK(!isnan(d) && !signbit(d));
    FUZZ_CHECK(isinf(d) || d <= DURATION_MAX_SECONDS);
    FUZZ_CHECK(d == 0 || d >= DURATION_MIN_SECONDS);
    if (isfinite(d)) {
      snprintf(again, sizeof again, "%.17g", d);
      FUZZ_CHECK(duration_parse(again, &d2) == 0 && d2 == d);
      snprintf(again, sizeof again, "%.17gs", d);
      FUZZ_CHECK(duration_parse(again, &d2) == 0 && d2 == d);
      snprintf(again, sizeof again, "%.17gm", d);
      FUZZ_CHECK(duration_parse(again, &d2) == 0);
      FUZZ_CHECK(d2 == (d * 60 > DURATION_MAX_SECONDS ? INFINITY : d * 60));
    }
  }
  free(text);
  return 0;
}
