/* src/runtime/deferred.c - the helper thread that finishes cancellations
 * begun in signal handlers.  The handler claims the token (atomics only),
 * pushes it on a lock-free stack and writes one byte to a pipe; this thread
 * drains the stack and completes each cancel (wakes waiters, runs
 * callbacks).  A full pipe loses no cancel: the stack holds the token and
 * the unread byte already guarantees a wakeup. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#include "core/core.h"
#include "runtime/runtime.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static cx__wakeup pipe_w = {-1, -1}; /* guarded by mu for creation */
static _Atomic int post_fd = -1;     /* (atomic) write end once running */
static _Atomic(cx_token *) stack;    /* (atomic) Treiber stack via
                                        token->pending_next */

static void drain_stack(void) {
  cx_token *list = atomic_exchange(&stack, NULL);
  while (list != NULL) {
    cx_token *next = list->pending_next;
    list->pending_next = NULL;
    cx__token_record_late_time(list);
    cx__token_finish_claimed(list); /* consumes the reference */
    list = next;
  }
}

static void *deferred_main(void *arg) {
  int fd = (int)(intptr_t)arg;
  char buf[256];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno != EAGAIN && errno != EINTR) break;
    drain_stack();
    if (n <= 0) {
      /* Non-blocking descriptor: block in poll until the next byte. */
      struct pollfd p = {fd, POLLIN, 0};
      poll(&p, 1, -1);
    }
  }
  return NULL;
}

int cx__deferred_prepare(void) {
  int rc = 0;
  cx__fork_handlers_install();
  pthread_mutex_lock(&mu);
  if (atomic_load(&post_fd) >= 0) goto out;
  if (pipe_w.read_fd < 0) {
    rc = cx__wakeup_open(&pipe_w);
    if (rc != 0) goto out;
  }
  rc = cx__thread_spawn(NULL, deferred_main, (void *)(intptr_t)pipe_w.read_fd);
  if (rc == 0) atomic_store(&post_fd, pipe_w.write_fd);
out:
  pthread_mutex_unlock(&mu);
  return rc;
}

bool cx__deferred_ready(void) { return atomic_load(&post_fd) >= 0; }

int cx__deferred_post(cx_token *token) {
  int fd = atomic_load(&post_fd);
  cx_token *head;
  cx__wakeup w;
  if (fd < 0) return -ESRCH;
  head = atomic_load(&stack);
  do {
    token->pending_next = head;
  } while (!atomic_compare_exchange_weak(&stack, &head, token));
  w.read_fd = w.write_fd = fd;
  cx__wakeup_signal_async(&w);
  return 0;
}

/* ---- fork: the thread is gone in the child; the user calls
 * cx_signal_safe_prepare() again, which makes a new pipe and thread. */
void cx__deferred_fork_prepare(void);
void cx__deferred_fork_parent(void);
void cx__deferred_fork_child(void);

void cx__deferred_fork_prepare(void) { pthread_mutex_lock(&mu); }
void cx__deferred_fork_parent(void) { pthread_mutex_unlock(&mu); }
void cx__deferred_fork_child(void) {
  pthread_mutex_init(&mu, NULL);
  atomic_store(&post_fd, -1);
  /* The pipe is shared with the parent, whose thread would steal our
   * wakeups: the next prepare makes a new one. */
  cx__wakeup_close(&pipe_w);
}
