/* src/runtime/park-cond.c - parking on a word with the lock stripe of its
 * object, where futex(2) is missing.  See runtime.h. */
#include <errno.h>

#include "runtime/runtime.h"

int cx__park(_Atomic int *word, int expected, int64_t deadline,
             const void *object) {
  cx__stripe *s = cx__stripe_for(object);
  int rc = 0;
  pthread_mutex_lock(&s->mu);
  if (atomic_load(word) == expected) rc = cx__stripe_wait(s, deadline);
  pthread_mutex_unlock(&s->mu);
  return rc == ETIMEDOUT ? ETIMEDOUT : 0;
}

void cx__unpark_all(_Atomic int *word, const void *object) {
  cx__stripe *s = cx__stripe_for(object);
  (void)word;
  /* Lock and unlock first: a parker that saw the old value is then inside
   * pthread_cond_wait and gets the broadcast. */
  pthread_mutex_lock(&s->mu);
  pthread_mutex_unlock(&s->mu);
  pthread_cond_broadcast(&s->cond);
}
