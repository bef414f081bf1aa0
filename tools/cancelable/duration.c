/* tools/cancelable/duration.c - parses GNU timeout-style durations: a
 * number with an optional s/m/h/d suffix ("30", "1.5m", "2h", ".5d"). */
#include "duration.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

/* Seconds per unit for a suffix character, or 0 when it is not a unit. */
static double unit_seconds(char c) {
  switch (c) {
    case 's':
      return 1.0;
    case 'm':
      return 60.0;
    case 'h':
      return 3600.0;
    case 'd':
      return 86400.0;
    default:
      return 0.0;
  }
}

int duration_parse(const char *text, double *out) {
  char *end;
  double value, unit = 1.0;
  bool underflow;
  if (text == NULL || out == NULL) return -EINVAL;
  errno = 0;
  value = strtod(text, &end);
  if (end == text) return -EINVAL; /* no number at all */
  /* Too small for a double: a positive number, not 0 (-1e-10000 gives -0
   * and is refused below, as a negative one). */
  underflow = errno == ERANGE && value == 0;
  if (*end != '\0') {
    unit = unit_seconds(*end);
    if (unit == 0.0 || end[1] != '\0') return -EINVAL;
  }
  /* ERANGE: overflow gives HUGE_VAL (infinite, fine). */
  if (isnan(value) || value < 0 || signbit(value)) return -EINVAL;
  value *= unit;
  if (value > DURATION_MAX_SECONDS) value = INFINITY;
  /* A positive duration is never "none": what rounds to less than the
   * smallest timer step takes that step, as in current GNU timeout
   * (coreutils 9.7: `timeout 1e-10000 sleep inf` times out). */
  if (underflow || (value > 0 && value < DURATION_MIN_SECONDS))
    value = DURATION_MIN_SECONDS;
  *out = value;
  return 0;
}
