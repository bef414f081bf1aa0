/* src/runtime/clock.h - the library clock (monotonic, virtual in tests) and
 * duration conversions. */
#ifndef CX_RUNTIME_CLOCK_H
#define CX_RUNTIME_CLOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define CX__NS_PER_SEC INT64_C(1000000000)
#define CX__NO_DEADLINE INT64_MAX
/* The library's monotonic time in ns (virtual when the virtual clock is in
 * use).  Async-signal-safe. */
int64_t cx__now_ns(void);
/* cx__now_ns() to within a clock tick (a few ms; CLOCK_MONOTONIC_COARSE,
 * several times cheaper), for times only shown to people.  The virtual
 * clock when it is on. */
int64_t cx__now_coarse_ns(void);
/* CLOCK_MONOTONIC in ns, never virtual. */
int64_t cx__mono_ns(void);
/* CLOCK_REALTIME in seconds.  Async-signal-safe. */
double cx__wall_now(void);
bool cx__clock_is_virtual(void);
/* Converts a duration in seconds to ns; rejects NaN/negative/infinite.
 * Returns 0 or -EINVAL. */
int cx__seconds_to_ns(double seconds, int64_t *out);
/* Converts a timeout's duration in seconds to ns: > 0, finite and at most
 * 9.2e9 s, else -EINVAL (a duration of 0 is no timeout at all); a positive
 * duration under 1 ns becomes 1 ns. */
int cx__duration_to_ns(double seconds, int64_t *out);
/* Converts a wait timeout (poll(2) convention) to an absolute CLOCK_MONOTONIC
 * deadline in ns: CX__NO_DEADLINE for "forever".  -EINVAL for NaN. */
int cx__timeout_to_deadline(double timeout, int64_t *deadline);
/* @now + @ns, or CX__NO_DEADLINE where that would overflow (durations go
 * up to 9.2e9 s). */
int64_t cx__add_saturated(int64_t now, int64_t ns);
/* Writes the message of a timeout of @ns, "timed out after N s" with N in
 * seconds to at most 3 decimals ("60", "0.25"; under 1 ms, %g), into @out
 * (64 bytes hold any duration).  Every timeout (timed tokens, timeout
 * sources, an op's own timeout) words its cancel with this. */
void cx__format_timeout_message(int64_t ns, char *out, size_t len);
/* ns -> struct timespec. */
struct timespec cx__ns_to_timespec(int64_t ns);
/* The CLOCK_REALTIME time at which the monotonic @deadline (ns, not
 * CX__NO_DEADLINE) falls, for pthread_cond_timedwait() on a condvar of the
 * default clock; a deadline already past gives the current time. */
struct timespec cx__deadline_to_realtime(int64_t deadline);
/* Waits once on @cond (a condvar of the default clock) with @mu held,
 * until woken or @deadline (monotonic ns, CX__NO_DEADLINE: none), on the
 * monotonic clock where pthread_cond_clockwait() exists (a step of the
 * wall clock neither shortens nor stretches the wait), else through the
 * realtime clock.  Returns what pthread waits return: 0 (woken, maybe
 * spuriously), ETIMEDOUT. */
int cx__cond_timedwait_mono(pthread_cond_t *cond, pthread_mutex_t *mu,
                            int64_t deadline);
/* cx__cond_timedwait_mono() for the library's own waits: 0 when woken
 * (maybe spuriously: re-check), -ETIMEDOUT once the deadline has passed
 * on the monotonic clock. */
int cx__cond_wait_deadline(pthread_cond_t *cond, pthread_mutex_t *mu,
                           int64_t deadline);
/* Milliseconds left until an absolute monotonic deadline, for poll(2):
 * -1 for CX__NO_DEADLINE, rounded up, clamped to INT_MAX. */
int cx__deadline_to_poll_ms(int64_t deadline);

#endif /* CX_RUNTIME_CLOCK_H */
