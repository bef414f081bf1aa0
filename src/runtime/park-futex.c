/* src/runtime/park-futex.c - parking on a word with the futex(2) system
 * call: a waiter sleeps in the kernel on the word itself, and a wake costs
 * one system call with no lock taken.  See sync.h. */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/clock.h"
#include "runtime/fork.h"
#include "runtime/sync.h"

int cx__park(_Atomic int *word, int expected, int64_t deadline,
             const void *object) {
  struct timespec ts, *timeout = NULL;
  long rc;
  (void)object;
  if (deadline != CX__NO_DEADLINE) {
    ts = cx__ns_to_timespec(deadline); /* absolute, CLOCK_MONOTONIC */
    timeout = &ts;
  }
  rc = syscall(SYS_futex, (int *)word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG,
               expected, timeout, NULL, FUTEX_BITSET_MATCH_ANY);
  /* EAGAIN: the word had changed; EINTR: spurious.  Both mean "look". */
  return rc == 0 || errno != ETIMEDOUT ? 0 : ETIMEDOUT;
}

/* The kernel keeps the sleepers: nothing to hold across fork(). */
void cx__park_fork_prepare(void) {}
void cx__park_fork_parent(void) {}
void cx__park_fork_child(void) {}

void cx__unpark_all(_Atomic int *word, const void *object) {
  (void)object;
  syscall(SYS_futex, (int *)word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, INT_MAX,
          NULL, NULL, 0);
}
