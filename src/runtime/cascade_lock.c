/* src/runtime/cascade_lock.c - the one process-wide lock under which
 * cascades run and links are checked for cycles (sync.h).  Taken only
 * by cancels of tokens that have children and by cx_token_link(), never
 * by a cancel of a leaf, a check or a wait. */
#include <pthread.h>

#include "runtime/fork.h"
#include "runtime/sync.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local unsigned depth; /* this thread's nested holds */

void cx__cascade_lock(void) {
  if (depth++ == 0) pthread_mutex_lock(&mu);
}

void cx__cascade_unlock(void) {
  if (--depth == 0) pthread_mutex_unlock(&mu);
}

void cx__cascade_fork_prepare(void) { pthread_mutex_lock(&mu); }

void cx__cascade_fork_parent(void) { pthread_mutex_unlock(&mu); }

void cx__cascade_fork_child(void) {
  /* Only the forking thread exists in the child, and it held no cascade
   * (prepare took the lock from outside one): a fresh lock. */
  pthread_mutex_init(&mu, NULL);
}
