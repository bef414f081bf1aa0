/* src/runtime/park-cond.c - parking on a word with a mutex and a condition
 * variable, where futex(2) is missing.  See sync.h.
 *
 * Parking has a table of its own, not the objects' lock stripes: an unpark
 * may be made while its caller holds a stripe (a condition source arms its
 * timer under its own, and an arm may wake the timer thread), so these
 * locks are leaves, held for a few instructions or inside the wait only.
 * fork() holds them all, after every other lock of the library. */
#include <errno.h>
#include <time.h>

#include "runtime/clock.h"
#include "runtime/fork.h"
#include "runtime/sync.h"

#define SLOTS 16

/* The same {mutex, condvar} pairs as the stripes, in a table of their own
 * (condvars on CLOCK_MONOTONIC). */
typedef cx__stripe slot;

static slot slots[SLOTS];
static pthread_once_t slots_once = PTHREAD_ONCE_INIT;

static void slots_init(void) { cx__stripe_table_init(slots, SLOTS); }

static slot *slot_for(const void *object) {
  pthread_once(&slots_once, slots_init);
  return &slots[cx__ptr_hash24(object) % SLOTS];
}

int cx__park(_Atomic int *word, int expected, int64_t deadline,
             const void *object) {
  slot *s = slot_for(object);
  int rc = 0;
  pthread_mutex_lock(&s->mu);
  if (atomic_load(word) == expected) {
    if (deadline == CX__NO_DEADLINE) {
      rc = pthread_cond_wait(&s->cond, &s->mu);
    } else {
      struct timespec ts = cx__ns_to_timespec(deadline);
      rc = pthread_cond_timedwait(&s->cond, &s->mu, &ts);
    }
  }
  pthread_mutex_unlock(&s->mu);
  return rc == ETIMEDOUT ? ETIMEDOUT : 0;
}

void cx__unpark_all(_Atomic int *word, const void *object) {
  slot *s = slot_for(object);
  (void)word;
  /* Lock and unlock first: a parker that saw the old value is then inside
   * pthread_cond_wait and gets the broadcast. */
  pthread_mutex_lock(&s->mu);
  pthread_mutex_unlock(&s->mu);
  pthread_cond_broadcast(&s->cond);
}

void cx__park_fork_prepare(void) {
  pthread_once(&slots_once, slots_init);
  for (int i = 0; i < SLOTS; i++) pthread_mutex_lock(&slots[i].mu);
}

void cx__park_fork_parent(void) {
  for (int i = SLOTS - 1; i >= 0; i--) pthread_mutex_unlock(&slots[i].mu);
}

void cx__park_fork_child(void) { slots_init(); }
