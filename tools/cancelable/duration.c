/* tools/cancelable/duration.c - parses GNU timeout-style durations: a
 * number with an optional s/m/h/d suffix ("30", "1.5m", "2h", ".5d"). */
#include "duration.h"

#include <errno.h>
#include <math.h>
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
  if (text == NULL || out == NULL) return -EINVAL;
  errno = 0;
  value = strtod(text, &end);
  if (end == text) return -EINVAL; /* no number at all */
  if (*end != '\0') {
    unit = unit_seconds(*end);
    if (unit == 0.0 || end[1] != '\0') return -EINVAL;
  }
  /* ERANGE: overflow gives HUGE_VAL (infinite, fine); underflow gives a
   * tiny or zero value, which GNU timeout accepts too. */
  if (isnan(value) || value < 0 || signbit(value)) return -EINVAL;
  value *= unit;
  if (value > DURATION_MAX_SECONDS) value = INFINITY;
  *out = value;
  return 0;
}
