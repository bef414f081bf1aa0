/* src/runtime/deferred.c - the helper thread that finishes work begun in
 * signal handlers (the signal-safe cancel: the handler claims the token with
 * atomics only, this thread wakes waiters and runs callbacks).  A handler
 * pushes an item on a lock-free stack and writes one byte to a pipe; this
 * thread drains the stack and passes each item to the completion function.
 * A full pipe loses nothing: the stack holds the item and the unread byte
 * already guarantees a wakeup. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#include "runtime/clock.h"
#include "runtime/deferred.h"
#include "runtime/fork.h"
#include "runtime/thread.h"
#include "runtime/wakeup.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static cx__wakeup pipe_w = {-1, -1};       /* guarded by mu for creation */
static _Atomic int post_fd = -1;           /* (atomic) write end once running */
static _Atomic(cx__deferred_item *) stack; /* (atomic) Treiber stack */
static cx__deferred_fn complete_fn;        /* set once, before post_fd */
static pthread_cond_t drained = PTHREAD_COND_INITIALIZER; /* busy ended */
static bool busy;          /* guarded by mu: items taken, not completed */
static uint64_t completed; /* guarded by mu: items completed */
static _Thread_local bool on_thread; /* the completion thread */

static void drain_stack(void) {
  cx__deferred_item *list;
  uint64_t n = 0;
  if (atomic_load(&stack) == NULL) return; /* and nothing leaves it */
  /* Items leave the stack only while busy (for cx__deferred_quiesce). */
  pthread_mutex_lock(&mu);
  busy = true;
  pthread_mutex_unlock(&mu);
  list = atomic_exchange(&stack, NULL);
  while (list != NULL) {
    cx__deferred_item *next = list->next;
    list->next = NULL;
    complete_fn(list);
    list = next;
    n++;
  }
  pthread_mutex_lock(&mu);
  busy = false;
  completed += n;
  pthread_cond_broadcast(&drained);
  pthread_mutex_unlock(&mu);
}

static void *deferred_main(void *arg) {
  int fd = (int)(intptr_t)arg;
  char buf[256];
  on_thread = true;
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

int cx__deferred_prepare(cx__deferred_fn complete) {
  int rc = 0;
  if (complete == NULL) return -EINVAL;
  cx__fork_handlers_install();
  pthread_mutex_lock(&mu);
  if (complete_fn != NULL && complete_fn != complete) {
    rc = -EINVAL;
    goto out;
  }
  complete_fn = complete;
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

int cx__deferred_post(cx__deferred_item *item) {
  int fd = atomic_load(&post_fd);
  cx__deferred_item *head;
  cx__wakeup w;
  if (fd < 0) return -ESRCH;
  head = atomic_load(&stack);
  do {
    item->next = head;
  } while (!atomic_compare_exchange_weak(&stack, &head, item));
  w.read_fd = w.write_fd = fd;
  cx__wakeup_signal_async(&w);
  return 0;
}

int cx__deferred_quiesce(int64_t deadline, uint64_t *finished) {
  int rc = 0;
  pthread_mutex_lock(&mu);
  if (on_thread) {
    rc = -EDEADLK;
  } else {
    /* Without a thread (not prepared, or a fork child before the next
     * prepare) nothing would take the stack's items. */
    while (atomic_load(&post_fd) >= 0 &&
           (busy || atomic_load(&stack) != NULL)) {
      rc = cx__cond_wait_deadline(&drained, &mu, deadline);
      if (rc != 0) break;
    }
  }
  if (finished != NULL) *finished = completed;
  pthread_mutex_unlock(&mu);
  return rc;
}

/* ---- fork: the thread is gone in the child; the user calls
 * cx_signal_safe_prepare() again, which makes a new pipe and thread. */
void cx__deferred_fork_prepare(void) { pthread_mutex_lock(&mu); }
void cx__deferred_fork_parent(void) { pthread_mutex_unlock(&mu); }
void cx__deferred_fork_child(void) {
  pthread_mutex_init(&mu, NULL);
  pthread_cond_init(&drained, NULL);
  busy = false;
  atomic_store(&post_fd, -1);
  /* The pipe is shared with the parent, whose thread would steal our
   * wakeups: the next prepare makes a new one. */
  cx__wakeup_close(&pipe_w);
}
