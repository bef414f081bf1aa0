/* src/runtime/quiesce.h - waiting until the service threads are idle, so
 * that a test can assert that something did *not* happen. */
#ifndef CX_RUNTIME_QUIESCE_H
#define CX_RUNTIME_QUIESCE_H

#include <stdint.h>

/* Waits until the service threads have nothing left to do: the timers due
 * now have fired (their callbacks returned), no job is queued on or run by
 * a worker (condition checks, condvar wakes), every signal that reached the
 * library's handler has been dispatched and every signal-safe cancel
 * completed.  It goes round the services until one whole round finds that
 * none of them did anything since the previous one, so work that one
 * service hands another (a timer submitting a check whose cancel hands off
 * a condvar wake) is over too.
 *
 * With the virtual clock nothing becomes due by itself, so after
 * cx_clock_advance() and this call whatever the advance caused is over and
 * what has not happened will not.  With the real clock it covers what was
 * due at the call.  Work that other threads of the application start
 * meanwhile may or may not be waited for.
 *
 * @deadline: monotonic ns (CX__NO_DEADLINE: none); a service thread that
 *   stays busy (a predicate that blocks) makes the call fail then.
 * Returns 0, -ETIMEDOUT, or -EDEADLK on a service thread (from a callback,
 * a predicate or a watcher: it would wait for itself).
 * Used by the tests (tests/common: cx_test_quiesce()). */
int cx__quiesce(int64_t deadline);

#endif /* CX_RUNTIME_QUIESCE_H */
