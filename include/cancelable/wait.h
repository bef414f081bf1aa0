/* cancelable/wait.h - cancellation points.
 *
 * Each call here returns -ECANCELED promptly once the operation is cancelled
 * (by any of its sources, its parent or by hand), -ETIMEDOUT when its own
 * @timeout passes, and never loses a cancel that lands between its check and
 * the start of its wait.  A wait whose own work completed (an fd ready)
 * returns that success even if a cancel arrived meanwhile; the cancel is
 * reported by the next cancellation point.  A condition variable's wake
 * carries no result, so cx_cond_wait() reports a cancel it finds on waking
 * (-ECANCELED even if @cond was also signalled): check your predicate
 * before taking -ECANCELED as the outcome.
 *
 * Common parameters:
 * @op: (nullable) the operation; NULL means the calling thread's current
 *   operation (cx_current()), or inside a shield the shield's handle (so
 *   the enclosing op's cancellation is held back); with no current
 *   operation the call is a plain, uncancellable wait.
 * @timeout: seconds, last argument, with poll(2)'s convention: CX_FOREVER
 *   (any negative value, or +inf) waits without limit, 0 does not block.
 *   Measured on CLOCK_MONOTONIC.  NaN gives -EINVAL.
 * Common errors: -ECANCELED the op is cancelled; -ETIMEDOUT @timeout passed;
 *   -EINVAL bad argument.
 * Thread-safety: any thread; several threads may wait on one op at once.
 * Async-signal-safe: no (except cx_check()).
 * POSIX thread cancellation (pthread_cancel()): cx_poll(), cx_wait_fd()
 *   and cx_cond_wait() are cancellation points, as the poll(2) and
 *   pthread_cond_wait() they call (cx_cond_wait() removes its cancel
 *   callback first, and returns with @mutex locked to the caller's cleanup
 *   handlers, as pthread_cond_wait() does); cx_check(), cx_sleep() and
 *   cx_token_wait() are not (they park on a futex word).  A thread ended
 *   that way inside operations ends them as any thread exit does
 *   (cx_op_enter()).
 *
 * Since: 0.1
 */
#ifndef CANCELABLE_WAIT_H
#define CANCELABLE_WAIT_H

#include <poll.h>
#include <pthread.h>

#include <cancelable/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* cx_check: the basic cancellation point: no wait.
 * Returns: 0 while the op is live (or there is no op), -ECANCELED once it is
 *   cancelled.
 * Async-signal-safe: yes.  Since: 0.1 */
CX_EXPORT int cx_check(const cx_op *op);

/* cx_sleep: sleep @seconds unless the op is cancelled first.
 * @seconds: >= 0; above 9.2e9 (about 292 years), infinity included, the
 *   sleep has no end but the cancel.
 * Returns: 0 after the full sleep.
 * Errors: -ECANCELED (a cancelled op's sleep returns it at once, whatever
 *   @seconds); -EINVAL NaN or negative @seconds (checked first: bad input
 *   is reported even on a cancelled op).  Since: 0.1 */
CX_EXPORT int cx_sleep(cx_op *op, double seconds);

/* cx_poll: poll(2) that also returns when the op is cancelled.  The op's
 * pollable fd (cx_token_fd()) is polled alongside @fds.
 * @fds: (nullable when @nfds is 0) as for poll(2); revents are filled in.
 * Returns: the number of entries of @fds with non-zero revents (> 0).
 * Errors: -ECANCELED (only when no entry of @fds is ready); -ETIMEDOUT;
 *   -EINVAL (NULL @fds with @nfds > 0; @nfds above the RLIMIT_NOFILE soft
 *   limit, or at it when an op's fd is polled too, which poll(2) would
 *   refuse: nothing is copied then; a bad @timeout); -EMFILE/-ENFILE/
 *   -ENOMEM the op's fd could not be created (as cx_token_fd()); other
 *   negative errno from poll(2).
 *   EINTR is retried internally.
 * Since: 0.1 */
CX_EXPORT int cx_poll(cx_op *op, struct pollfd *fds, nfds_t nfds,
                      double timeout);

/* cx_wait_fd: wait until @fd has one of @events (POLLIN, POLLOUT, ...).
 * Returns: the revents of @fd (> 0; POLLERR/POLLHUP/POLLNVAL included).
 * Errors: as cx_poll(); -EINVAL negative @fd or @events 0.  Since: 0.1 */
CX_EXPORT int cx_wait_fd(cx_op *op, int fd, short events, double timeout);

/* cx_cond_wait: pthread_cond_wait() that also returns when the op is
 * cancelled.  As C++ std::condition_variable_any::wait with a stop_token, a
 * cancel locks @mutex and broadcasts @cond; the cancelling thread only
 * tries the lock, and when @mutex is busy a worker thread takes it (one
 * that is never busy with condition predicates), so cancelling or exiting
 * ops while holding @mutex does not deadlock (unless no thread at all can
 * be started).  Like
 * pthread_cond_wait, expect spurious returns: re-check your predicate.
 * A cancel found on waking wins over a signal that came with it (a wake
 * says nothing of why), so if your predicate became true, check it before
 * treating -ECANCELED as the outcome.
 * @cond, @mutex: (not nullable) @mutex locked by the caller, locked again on
 *   return whatever the result.  Timeouts use pthread_cond_clockwait() on
 *   CLOCK_MONOTONIC where available, so @cond may use any clock.
 * Returns: 0 woken (signal, broadcast or spurious).
 * Errors: -ECANCELED (checked before waiting and after waking); -ETIMEDOUT;
 *   -EINVAL; -ENOMEM.  Since: 0.1 */
CX_EXPORT int cx_cond_wait(cx_op *op, pthread_cond_t *cond,
                           pthread_mutex_t *mutex, double timeout);

#ifdef __cplusplus
}
#endif

#endif /* CANCELABLE_WAIT_H */
