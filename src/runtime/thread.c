/* src/runtime/thread.c - starting the library's service threads (timer,
 * signal dispatcher, deferred completion, condition workers): detached,
 * a small stack, and every signal blocked, so that handlers run on the
 * application's threads.  Also the threads' slots. */
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "runtime/thread.h"

static int spawn(pthread_t *thread, bool detached, void *(*main_fn)(void *),
                 void *arg) {
  pthread_attr_t attr;
  sigset_t all, old;
  pthread_t ignored;
  int rc;
  pthread_attr_init(&attr);
  if (detached) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  rc = pthread_create(thread != NULL ? thread : &ignored, &attr, main_fn, arg);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  return -rc;
}

int cx__thread_spawn(pthread_t *thread, void *(*main_fn)(void *), void *arg) {
  return spawn(thread, true, main_fn, arg);
}

int cx__thread_spawn_joinable(pthread_t *thread, void *(*main_fn)(void *),
                              void *arg) {
  return spawn(thread, false, main_fn, arg);
}

unsigned cx__thread_slot(void) {
  static _Atomic unsigned next;
  static _Thread_local unsigned slot; /* plus one (0: none yet) */
  if (slot == 0)
    slot =
        atomic_fetch_add_explicit(&next, 1, memory_order_relaxed) % 65536 + 1;
  return slot - 1;
}
