/* src/runtime/fork.c - pthread_atfork handlers: the child of fork() can use
 * the library; its service threads restart lazily. */
#include <pthread.h>
#include <stdatomic.h>

#include "runtime/runtime.h"

void cx__stripes_lock_all(void);
void cx__stripes_unlock_all(void);
void cx__stripes_reinit_all(void);
void cx__timer_fork_prepare(void);
void cx__timer_fork_parent(void);
void cx__timer_fork_child(void);
void cx__deferred_fork_prepare(void);
void cx__deferred_fork_parent(void);
void cx__deferred_fork_child(void);
void cx__id_fork_child(void);
void cx__workers_fork_prepare(void);
void cx__workers_fork_parent(void);
void cx__workers_fork_child(void);
void cx__registry_fork_prepare(void);
void cx__registry_fork_parent(void);
void cx__registry_fork_child(void);
void cx__signals_fork_prepare(void);
void cx__signals_fork_parent(void);
void cx__signals_fork_child(void);

static pthread_once_t once = PTHREAD_ONCE_INIT;
static _Atomic unsigned generation; /* (atomic) forks since the start */
static _Atomic bool resume_pending; /* (atomic) set in a fork child */

void cx__timer_resume(void);
void cx__signals_resume(void);
void cx__workers_resume(void);

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

/* Lock order: cascade, registry, signals, deferred, stripes, workers, timer,
 * park: the order in which the library nests them (a condition source submits a
 * job and arms its timer under its stripe; the registry reads op times
 * under its lock; parking's locks are leaves), so taking them in this order
 * cannot deadlock. */
static void prepare(void) {
  cx__cascade_fork_prepare();
  cx__registry_fork_prepare();
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
  cx__registry_fork_parent();
  cx__cascade_fork_parent();
}

static void child(void) {
  cx__park_fork_child();
  cx__stripes_reinit_all();
  cx__timer_fork_child();
  cx__deferred_fork_child();
  cx__id_fork_child();
  cx__workers_fork_child();
  cx__signals_fork_child();
  cx__registry_fork_child();
  cx__cascade_fork_child();
  atomic_fetch_add(&generation, 1);
  atomic_store(&resume_pending, true);
}

static void install(void) { pthread_atfork(prepare, parent, child); }

void cx__fork_handlers_install(void) { pthread_once(&once, install); }

/* Installed when the library is loaded: an op or a token's fd may hold a
 * stripe before any service thread exists, and fork() must still not copy
 * it locked.  (The word locks inside tokens are not taken here: runtime.h
 * and docs/guide.md say what that leaves.) */
__attribute__((constructor)) static void install_at_load(void) {
  cx__fork_handlers_install();
}
