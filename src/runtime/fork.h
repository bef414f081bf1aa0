/* src/runtime/fork.h - fork() handling: one pthread_atfork() handler set
 * (fork.c) takes the runtime's locks in the lock order around fork() and
 * re-initialises them in the child; the layers above register their own
 * handlers with cx__fork_register() instead of being called from here. */
#ifndef CX_RUNTIME_FORK_H
#define CX_RUNTIME_FORK_H

#include <stdbool.h>

void cx__fork_handlers_install(void);
/* How many fork()s this process descends from: objects that hold a
 * descriptor shared with the parent compare it to know they must reopen
 * it. */
unsigned cx__fork_generation(void);
/* In a fork child, restarts the service threads that have work (armed
 * timers, watched signals) the first time the library is used after the
 * fork: called from enter and the blocking waits.  One relaxed load
 * otherwise. */
void cx__after_fork_resume(void);

/* Handlers of a layer above the runtime (each may be NULL).  @prepare runs
 * after the cascade lock is taken and before any lock of the runtime, so a
 * layer's lock may be held while it calls into the runtime; @parent and
 * @child run in the reverse order.  Registered sets run in the order they
 * were registered (prepare) and in reverse (parent, child). */
typedef struct cx__fork_hooks {
  void (*prepare)(void);
  void (*parent)(void);
  void (*child)(void);
} cx__fork_hooks;
/* Adds @hooks (static storage; registering the same set again does
 * nothing).  At most 8 sets.  Thread-safe; not from inside a fork handler.
 * Returns 0 or -ENOSPC. */
int cx__fork_register(const cx__fork_hooks *hooks);

/* The runtime's own handlers, called by fork.c in the lock order. */
void cx__stripes_lock_all(void);
void cx__stripes_unlock_all(void);
void cx__stripes_reinit_all(void);
void cx__timer_fork_prepare(void);
void cx__timer_fork_parent(void);
void cx__timer_fork_child(void);
void cx__timer_resume(void);
void cx__deferred_fork_prepare(void);
void cx__deferred_fork_parent(void);
void cx__deferred_fork_child(void);
void cx__workers_fork_prepare(void);
void cx__workers_fork_parent(void);
void cx__workers_fork_child(void);
void cx__workers_resume(void);
void cx__signals_fork_prepare(void);
void cx__signals_fork_parent(void);
void cx__signals_fork_child(void);
void cx__signals_resume(void);
void cx__park_fork_prepare(void);
void cx__park_fork_parent(void);
void cx__park_fork_child(void);
void cx__cascade_fork_prepare(void);
void cx__cascade_fork_parent(void);
void cx__cascade_fork_child(void);

#endif /* CX_RUNTIME_FORK_H */
