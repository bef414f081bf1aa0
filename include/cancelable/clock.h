/* cancelable/clock.h - the library's clock, and a virtual clock for tests.
 *
 * Every deadline, timeout source and elapsed time is read from one clock:
 * CLOCK_MONOTONIC, or a virtual clock that only moves when a test advances
 * it.  With the virtual clock, timeout logic is tested without sleeping:
 * cx_clock_advance() fires every timeout whose deadline it passes before it
 * returns.  The per-call timeouts of blocking waits (cancelable/wait.h)
 * always run on the real monotonic clock.
 *
 * Since: 0.1
 */
#ifndef CANCELABLE_CLOCK_H
#define CANCELABLE_CLOCK_H

#include <cancelable/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* cx_now: the library's monotonic time.
 * Returns: seconds on CLOCK_MONOTONIC, or the virtual time while the virtual
 *   clock is in use.  Only differences are meaningful.
 * Thread-safety: any thread.  Async-signal-safe: yes.
 * Since: 0.1 */
CX_EXPORT double cx_now(void);

/* cx_clock_use_virtual: switch to the virtual clock, starting at the current
 * monotonic time so that deadlines already armed keep their meaning.  Meant
 * for tests; switch before arming timeouts you want to control.
 * Returns: 0.  Errors: -EBUSY already virtual.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT int cx_clock_use_virtual(void);

/* cx_clock_use_real: switch back to CLOCK_MONOTONIC.  Deadlines armed under
 * the virtual clock are compared with real time from then on.
 * Returns: 0.  Errors: -EINVAL not virtual.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT int cx_clock_use_real(void);

/* cx_clock_advance: move the virtual clock forward and fire, on the timer
 * thread, every timeout whose deadline is now reached; returns after they
 * have all fired (their callbacks have returned).
 * @seconds: >= 0, finite and at most 9.2e9 (about 292 years) per call;
 *   the clock stops at INT64_MAX ns (about 292 years after its start) and
 *   stays there.
 * Returns: 0.  Errors: -EINVAL not virtual, or @seconds NaN, negative,
 *   infinite or above 9.2e9.
 * Thread-safety: any thread, but not from inside a timeout's callback.
 * Since: 0.1 */
CX_EXPORT int cx_clock_advance(double seconds);

#ifdef __cplusplus
}
#endif

#endif /* CANCELABLE_CLOCK_H */
