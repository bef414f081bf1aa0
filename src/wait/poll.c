/* src/wait/poll.c - poll(2) and single-fd waits that a cancel interrupts,
 * by polling the op's token fd alongside the caller's descriptors. */
#include <poll.h>
#include <string.h>
#include <sys/resource.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/fork.h"
#include "wait/wait_internal.h"

#define STACK_FDS 16

/* poll(2) until an entry is ready or @deadline passes; EINTR is retried.
 * Returns poll's count, 0 at the deadline, or -errno. */
static int poll_until(struct pollfd *fds, nfds_t n, int64_t deadline) {
  for (;;) {
    int ms = cx__deadline_to_poll_ms(deadline);
    int rc = poll(fds, n, ms);
    if (rc > 0) return rc;
    if (rc < 0 && errno != EINTR) return -errno;
    if (rc == 0 && (ms == 0 || cx__deadline_to_poll_ms(deadline) == 0))
      return 0;
  }
}

/* Whether poll(2) would refuse @nfds entries plus @extra of ours (more
 * than RLIMIT_NOFILE): checked before anything is copied, so that no count
 * wraps.  Counts below STACK_FDS need no look-up: poll() itself refuses
 * them if the limit is lower. */
static bool too_many_fds(nfds_t nfds, nfds_t extra) {
  struct rlimit lim;
  if (nfds < STACK_FDS) return false;
  if (nfds >= SIZE_MAX / sizeof(struct pollfd) - extra) return true;
  return getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
         nfds + extra > lim.rlim_cur;
}

int cx_poll(cx_op *op, struct pollfd *fds, nfds_t nfds, double timeout) {
  struct pollfd stack[STACK_FDS], *all = stack;
  const cx_op *target = cx__wait_op(op);
  int64_t deadline;
  int fd, rc, ready = 0;
  if ((fds == NULL && nfds > 0) || too_many_fds(nfds, target != NULL) ||
      cx__timeout_to_deadline(timeout, &deadline) != 0)
    return -EINVAL;
  cx__after_fork_resume();
  if (target == NULL) {
    rc = poll_until(fds, nfds, deadline);
    return rc == 0 ? -ETIMEDOUT : rc;
  }
  if (cx_token_is_cancelled(target->token)) {
    /* Work that is already done wins: look without blocking. */
    rc = nfds > 0 ? poll_until(fds, nfds, cx__mono_ns()) : 0;
    return rc != 0 ? rc : -ECANCELED;
  }
  /* Held while polled: a cx_token_fd_release() meanwhile waits for us. */
  fd = cx__token_fd_hold(target->token);
  if (fd < 0) return fd;
  if (nfds + 1 > STACK_FDS) {
    all = cx__malloc((nfds + 1) * sizeof *all);
    if (all == NULL) {
      cx__token_fd_unhold(target->token);
      return -ENOMEM;
    }
  }
  if (nfds > 0) memcpy(all, fds, nfds * sizeof *all);
  all[nfds].fd = fd;
  all[nfds].events = POLLIN;
  all[nfds].revents = 0;
  rc = poll_until(all, nfds + 1, deadline);
  while (rc > 0 && !cx_token_is_cancelled(target->token) &&
         all[nfds].revents != 0) {
    /* Only possible with a descriptor inherited across fork() and made
     * readable by the other process: take our own and poll again. */
    bool user_ready = false;
    for (nfds_t i = 0; i < nfds; i++) user_ready |= all[i].revents != 0;
    if (user_ready) break;
    fd = cx_token_fd(target->token);
    if (fd < 0) {
      rc = fd;
      break;
    }
    all[nfds].fd = fd;
    all[nfds].revents = 0;
    rc = poll_until(all, nfds + 1, deadline);
  }
  if (rc > 0) {
    for (nfds_t i = 0; i < nfds; i++) {
      fds[i].revents = all[i].revents;
      if (all[i].revents != 0) ready++;
    }
    /* Work that completed wins over a cancel that arrived meanwhile. */
    rc = ready > 0 ? ready : -ECANCELED;
  } else if (rc == 0) {
    rc = -ETIMEDOUT;
  }
  cx__token_fd_unhold(target->token);
  if (all != stack) cx__free(all);
  return rc;
}

int cx_wait_fd(cx_op *op, int fd, short events, double timeout) {
  struct pollfd p;
  int rc;
  if (fd < 0 || events == 0) return -EINVAL;
  p.fd = fd;
  p.events = events;
  p.revents = 0;
  rc = cx_poll(op, &p, 1, timeout);
  return rc > 0 ? p.revents : rc;
}
