/* tools/cancelable/duration.h - GNU timeout-style durations ("1.5m"). */
#ifndef CANCELABLE_TOOL_DURATION_H
#define CANCELABLE_TOOL_DURATION_H

/* Durations longer than this many seconds (about 31 years) are treated as
 * infinite: they never fire. */
#define DURATION_MAX_SECONDS 1e9

/* The smallest timer step: a positive duration shorter than this, down to
 * one that underflows a double ("1e-10000"), is this long. */
#define DURATION_MIN_SECONDS 1e-9

/* duration_parse: parse @text as GNU timeout(1) does: a non-negative
 * floating-point number in the C locale (fraction, exponent, hex float,
 * "inf" accepted; leading blanks allowed) followed by an optional unit
 * suffix: s seconds (the default), m minutes, h hours, d days.  Nothing may
 * follow the suffix.
 * Returns: 0 and the seconds in *@out (0 means "no duration"; INFINITY for
 *   "inf" or anything above DURATION_MAX_SECONDS; DURATION_MIN_SECONDS for
 *   a positive number below it, even one that underflows to 0 as
 *   "1e-10000" does: as coreutils 9.7's timeout, which rounds it up to its
 *   timer's resolution); -EINVAL for anything
 *   else (NULL, empty, negative, NaN, bad suffix, trailing text). */
int duration_parse(const char *text, double *out);

#endif /* CANCELABLE_TOOL_DURATION_H */
