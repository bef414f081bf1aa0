/* src/runtime/fork.c - pthread_atfork handlers: the child of fork() can use
 * the library; its service threads restart lazily.  The runtime's locks are
 * taken here in the lock order; the layers above register theirs
 * (cx__fork_register), so nothing here calls up. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "runtime/deferred.h"
#include "runtime/fork.h"
#include "runtime/sync.h"
#include "runtime/timer.h"

#define MAX_HOOKS 8

static pthread_once_t once = PTHREAD_ONCE_INIT;
static _Atomic unsigned generation; /* (atomic) forks since the start */
static _Atomic bool resume_pending; /* (atomic) set in a fork child */
static pthread_mutex_t hooks_mu = PTHREAD_MUTEX_INITIALIZER;
static const cx__fork_hooks *hooks[MAX_HOOKS]; /* guarded by hooks_mu */
static int hook_count;                         /* guarded by hooks_mu */

unsigned cx__fork_generation(void) {
  return atomic_load_explicit(&generation, memory_order_relaxed);
}

void cx__after_fork_resume(void) {
  if (!atomic_load_explicit(&resume_pending, memory_order_relaxed)) return;
  if (!atomic_exchange(&resume_pending, false)) return;
  cx__timer_resume();
  cx__signals_resume();
  cx__workers_resume();
}

int cx__fork_register(const cx__fork_hooks *h) {
  int rc = 0, i;
  cx__fork_handlers_install();
  pthread_mutex_lock(&hooks_mu);
  for (i = 0; i < hook_count && hooks[i] != h; i++) continue;
  if (i == hook_count) {
    if (hook_count < MAX_HOOKS)
      hooks[hook_count++] = h;
    else
      rc = -ENOSPC;
  }
  pthread_mutex_unlock(&hooks_mu);
  return rc;
}

/* Lock order: cascade, the registered layers (the registry), signals,
 * deferred, stripes, workers, timer, park: the order in which the library
 * nests them (a condition source submits a job and arms its timer under
 * its stripe; the registry reads op times under its lock; parking's locks
 * are leaves), so taking them in this order cannot deadlock.  hooks_mu is
 * held from prepare to parent/child, so the list cannot change across. */
static void prepare(void) {
  cx__cascade_fork_prepare();
  pthread_mutex_lock(&hooks_mu);
  for (int i = 0; i < hook_count; i++)
    if (hooks[i]->prepare != NULL) hooks[i]->prepare();
  cx__signals_fork_prepare();
  cx__deferred_fork_prepare();
  cx__stripes_lock_all();
  cx__workers_fork_prepare();
  cx__timer_fork_prepare();
  cx__park_fork_prepare();
}

static void parent(void) {
  cx__park_fork_parent();
  cx__timer_fork_parent();
  cx__workers_fork_parent();
  cx__stripes_unlock_all();
  cx__deferred_fork_parent();
  cx__signals_fork_parent();
  for (int i = hook_count - 1; i >= 0; i--)
    if (hooks[i]->parent != NULL) hooks[i]->parent();
  pthread_mutex_unlock(&hooks_mu);
  cx__cascade_fork_parent();
}

static void child(void) {
  cx__park_fork_child();
  cx__stripes_reinit_all();
  cx__timer_fork_child();
  cx__deferred_fork_child();
  cx__workers_fork_child();
  cx__signals_fork_child();
  for (int i = hook_count - 1; i >= 0; i--)
    if (hooks[i]->child != NULL) hooks[i]->child();
  pthread_mutex_init(&hooks_mu, NULL);
  cx__cascade_fork_child();
  atomic_fetch_add(&generation, 1);
  atomic_store(&resume_pending, true);
}

static void install(void) { pthread_atfork(prepare, parent, child); }

void cx__fork_handlers_install(void) { pthread_once(&once, install); }

/* Installed when the library is loaded: an op or a token's fd may hold a
 * stripe before any service thread exists, and fork() must still not copy
 * it locked.  (The word locks inside tokens are not taken here: sync.h and
 * docs/guide.md say what that leaves.) */
__attribute__((constructor)) static void install_at_load(void) {
  cx__fork_handlers_install();
}
