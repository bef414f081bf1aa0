/* src/runtime/fork.c - pthread_atfork handlers: the child of fork() can use
 * the library; its service threads restart lazily. */
#include <pthread.h>

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
void cx__workers_fork_child(void);
void cx__signals_fork_prepare(void);
void cx__signals_fork_parent(void);
void cx__signals_fork_child(void);

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void prepare(void) {
  cx__signals_fork_prepare();
  cx__deferred_fork_prepare();
  cx__timer_fork_prepare();
  cx__stripes_lock_all();
}

static void parent(void) {
  cx__stripes_unlock_all();
  cx__timer_fork_parent();
  cx__deferred_fork_parent();
  cx__signals_fork_parent();
}

static void child(void) {
  cx__stripes_reinit_all();
  cx__timer_fork_child();
  cx__deferred_fork_child();
  cx__id_fork_child();
  cx__workers_fork_child();
  cx__signals_fork_child();
}

static void install(void) { pthread_atfork(prepare, parent, child); }

void cx__fork_handlers_install(void) { pthread_once(&once, install); }
