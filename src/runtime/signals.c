/* src/runtime/signals.c - the signal dispatcher.  Handlers installed with
 * sigaction() only set a per-signal flag and write one byte to a pipe; one
 * thread (which blocks every signal) reads the pipe and calls each watcher
 * of the pending signals, with the dispatcher lock released.  The previous
 * disposition of a signal is restored when its last watcher goes away. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "runtime/clock.h"
#include "runtime/compiler.h"
#include "runtime/fork.h"
#include "runtime/list.h"
#include "runtime/signals.h"
#include "runtime/thread.h"
#include "runtime/wakeup.h"

#define NSIGNALS 65 /* 1..64 on Linux (SIGRTMAX) */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
/* Broadcast when a watcher's fn returns and when a round of the
 * dispatcher ends. */
static pthread_cond_t fired = PTHREAD_COND_INITIALIZER;
static cx__hlist watchers[NSIGNALS];        /* guarded by mu: .node */
static int counts[NSIGNALS];                /* guarded by mu */
static struct sigaction previous[NSIGNALS]; /* guarded by mu */
static uint64_t seq;                        /* guarded by mu */
static bool started;                        /* guarded by mu */
static pthread_t thread;                    /* valid while started */
static cx__wakeup pipe_w = {-1, -1};        /* guarded by mu (creation) */
/* Set by the handlers, taken by the dispatcher: lock-free atomics are
 * async-signal-safe and, unlike volatile sig_atomic_t, safe across
 * threads. */
static atomic_int pending[NSIGNALS];
/* For cx__signals_quiesce(): the dispatcher takes pending flags only in a
 * round, while busy. */
static bool busy;       /* guarded by mu */
static uint64_t rounds; /* guarded by mu: rounds finished */

bool cx__signal_valid(int signo) {
  switch (signo) {
    case SIGKILL:
    case SIGSTOP:
    /* Faults: a handler that returns re-runs the faulting instruction. */
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
    case SIGTRAP:
    case SIGSYS:
      return false;
    default:
      return signo > 0 && signo < NSIGNALS && signo <= SIGRTMAX;
  }
}

static void handler(int signo) {
  int saved = errno;
  if (signo > 0 && signo < NSIGNALS) atomic_store(&pending[signo], 1);
  /* Async-signal-safe; a full pipe already guarantees a wakeup. */
  if (pipe_w.write_fd >= 0) cx__wakeup_signal_async(&pipe_w);
  errno = saved;
}

static cx__sigwatch *watcher_of(cx__hlist_node *node) {
  return node != NULL ? cx__container_of(node, cx__sigwatch, node) : NULL;
}

static cx__sigwatch *first_watcher(int signo) {
  return watcher_of(watchers[signo].first);
}

static cx__sigwatch *next_watcher(const cx__sigwatch *w) {
  return watcher_of(w->node.next);
}

static void dispatch(int signo) {
  uint64_t round;
  cx__sigwatch *w;
  pthread_mutex_lock(&mu);
  round = ++seq;
  w = first_watcher(signo);
  while (w != NULL) {
    if (w->seen == round) {
      w = next_watcher(w);
      continue;
    }
    w->seen = round;
    w->firing = true;
    pthread_mutex_unlock(&mu);
    w->fn(w, signo);
    pthread_mutex_lock(&mu);
    w->firing = false;
    pthread_cond_broadcast(&fired);
    /* Go on from the next watcher; if this one left the list meanwhile,
     * start over (the marks skip those already served). */
    w = w->watching ? next_watcher(w) : first_watcher(signo);
  }
  pthread_mutex_unlock(&mu);
}

static void *dispatcher_main(void *arg) {
  int fd = (int)(intptr_t)arg;
  for (;;) {
    char buf[64];
    struct pollfd p = {fd, POLLIN, 0};
    poll(&p, 1, -1);
    pthread_mutex_lock(&mu);
    busy = true;
    pthread_mutex_unlock(&mu);
    while (read(fd, buf, sizeof buf) > 0) {
    }
    for (int signo = 1; signo < NSIGNALS; signo++) {
      if (atomic_exchange(&pending[signo], 0)) dispatch(signo);
    }
    pthread_mutex_lock(&mu);
    busy = false;
    rounds++;
    pthread_cond_broadcast(&fired);
    pthread_mutex_unlock(&mu);
  }
  return NULL;
}

static int start_locked(void) {
  int rc;
  if (started) return 0;
  if (pipe_w.read_fd < 0) {
    rc = cx__wakeup_open(&pipe_w);
    if (rc != 0) return rc;
  }
  rc = cx__thread_spawn(&thread, dispatcher_main,
                        (void *)(intptr_t)pipe_w.read_fd);
  if (rc == 0) started = true;
  return rc;
}

int cx__signal_watch(cx__sigwatch *w, int signo, cx__sigwatch_fn fn) {
  int rc;
  if (!cx__signal_valid(signo)) return -EINVAL;
  cx__fork_handlers_install();
  pthread_mutex_lock(&mu);
  rc = start_locked();
  if (rc == 0 && counts[signo] == 0) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigfillset(&sa.sa_mask);
    if (sigaction(signo, &sa, &previous[signo]) != 0) rc = -errno;
  }
  if (rc == 0) {
    counts[signo]++;
    w->signo = signo;
    w->fn = fn;
    w->seen = seq;
    w->firing = false;
    w->watching = true;
    cx__hlist_push(&watchers[signo], &w->node);
  }
  pthread_mutex_unlock(&mu);
  return rc;
}

void cx__signal_unwatch(cx__sigwatch *w) {
  pthread_mutex_lock(&mu);
  if (w->watching) {
    int signo = w->signo;
    cx__hlist_remove(&w->node);
    w->watching = false;
    if (--counts[signo] == 0) sigaction(signo, &previous[signo], NULL);
    if (!(started && pthread_equal(pthread_self(), thread)))
      while (w->firing) pthread_cond_wait(&fired, &mu);
  }
  pthread_mutex_unlock(&mu);
}

/* Whether a signal has reached the handler and not yet a round. */
static bool any_pending(void) {
  for (int signo = 1; signo < NSIGNALS; signo++)
    if (atomic_load(&pending[signo])) return true;
  return false;
}

int cx__signals_quiesce(int64_t deadline, uint64_t *finished) {
  int rc = 0;
  pthread_mutex_lock(&mu);
  if (started && pthread_equal(pthread_self(), thread)) {
    rc = -EDEADLK;
  } else {
    /* The handler sets a flag before it writes the pipe, and the
     * dispatcher clears flags only while busy: while neither holds, every
     * signal handled so far has been dispatched.  Without a dispatcher
     * (a fork child before its restart) nothing would clear them. */
    while (started && (busy || any_pending())) {
      rc = cx__cond_wait_deadline(&fired, &mu, deadline);
      if (rc != 0) break;
    }
  }
  if (finished != NULL) *finished = rounds;
  pthread_mutex_unlock(&mu);
  return rc;
}

void cx__signals_fork_prepare(void) { pthread_mutex_lock(&mu); }
void cx__signals_fork_parent(void) { pthread_mutex_unlock(&mu); }
/* The dispatcher thread is gone in the child; the handlers stay installed
 * and the next watch restarts the thread, which then delivers what is
 * pending.  A watcher copied from the parent is delivered to only after
 * that restart. */
void cx__signals_fork_child(void) {
  cx__wakeup fresh;
  pthread_mutex_init(&mu, NULL);
  pthread_cond_init(&fired, NULL);
  started = false;
  busy = false;
  /* The pipe is shared with the parent, whose dispatcher would steal the
   * child's wakeups: the installed handlers get a pipe of their own. */
  if (pipe_w.read_fd >= 0) {
    int rc = cx__wakeup_open(&fresh);
    cx__wakeup w = pipe_w;
    if (rc == 0) {
      pipe_w = fresh;
    } else {
      pipe_w.read_fd = pipe_w.write_fd = -1;
    }
    cx__wakeup_close(&w);
  }
  for (int i = 0; i < NSIGNALS; i++)
    for (cx__sigwatch *w = first_watcher(i); w != NULL; w = next_watcher(w))
      w->firing = false;
}

/* After fork: restart the dispatcher if signals are watched, so that the
 * handlers inherited from the parent are served. */
void cx__signals_resume(void) {
  bool any = false;
  pthread_mutex_lock(&mu);
  for (int i = 1; i < NSIGNALS && !any; i++) any = watchers[i].first != NULL;
  if (any) start_locked();
  pthread_mutex_unlock(&mu);
}
