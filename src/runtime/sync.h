/* src/runtime/sync.h - lock stripes, parking on a word, word locks and the
 * cascade lock. */
#ifndef CX_RUNTIME_SYNC_H
#define CX_RUNTIME_SYNC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- lock stripes (stripes.c): objects hash to one of a fixed set of
 * {mutex, condvar} pairs instead of carrying their own.  A stripe's
 * condvar has no fixed clock (CLOCK_REALTIME where the table is
 * initialised statically, CLOCK_MONOTONIC where cx__stripe_table_init()
 * made it, as after fork): wait on it untimed, or with
 * pthread_cond_clockwait(), which names its clock.  Never hold two stripes
 * at once. */
typedef struct cx__stripe {
  pthread_mutex_t mu;
  pthread_cond_t cond;
} cx__stripe;
cx__stripe *cx__stripe_for(const void *object);
/* (Re)initialises @n {mutex, condvar} pairs, the condvars on
 * CLOCK_MONOTONIC (stripes, and parking's table in park-cond.c). */
void cx__stripe_table_init(cx__stripe *table, size_t n);
/* Spreads an address over 24 bits (for picking a slot of a lock table). */
static inline size_t cx__ptr_hash24(const void *object) {
  uint64_t h = (uintptr_t)object;
  h ^= h >> 17;
  h *= UINT64_C(0x9E3779B97F4A7C15);
  return (size_t)(h >> 40);
}

/* ---- parking (park-futex.c or park-cond.c): sleep while an atomic word
 * holds a value.  @object picks the lock stripe in the fallback. */
/* Blocks while *@word == @expected, until woken or @deadline (monotonic ns,
 * CX__NO_DEADLINE: none).  May return early (spuriously): re-check.
 * Returns 0 or ETIMEDOUT (positive). */
int cx__park(_Atomic int *word, int expected, int64_t deadline,
             const void *object);
/* Wakes every thread parked on @word (after the caller changed it).  May
 * be called with any lock of the library held: what it takes is a leaf. */
void cx__unpark_all(_Atomic int *word, const void *object);
/* The fallback's locks are held across fork() (runtime/fork.h). */

/* ---- the cascade lock (cascade_lock.c): one process-wide mutex held by
 * a thread while it cascades cancels (claims descendants) and while
 * cx_token_link() checks for a cycle and attaches.  Holding it while
 * cascading makes "every descendant is cancelled when a cancel returns"
 * true from every thread: a thread whose claim lost waits for the lock, so
 * the winner's cascade is over or not started (then the loser does it).
 * Nested holds by one thread count (a cancel reached from inside a
 * cascade).  Taken before any word lock or stripe; fork() takes it first
 * (fork.c). */
void cx__cascade_lock(void);
void cx__cascade_unlock(void);

/* ---- word locks (lock.c): a lock in one int inside the object it guards,
 * for short critical sections that never wait for another thread, run user
 * code or take another lock (the timer service also grows its heap, and
 * once starts its thread, under its own).  Locking is one compare-and-swap and
 * unlocking one release store, with no read-modify-write, as the lock of
 * libstdc++'s std::stop_token state: a contended locker spins, then yields,
 * then sleeps in growing steps (up to a millisecond), so a holder that was
 * preempted costs the waiters little CPU.  Unlike the stripes, fork() does not
 * take them: a word lock held by another thread at the instant of fork stays
 * held in the child. */
typedef _Atomic int cx__lock;
#define CX__LOCK_INIT 0
void cx__lock_slow(cx__lock *lock);
static inline void cx__lock_acquire(cx__lock *lock) {
  int expected = 0;
  if (!atomic_compare_exchange_strong_explicit(
          lock, &expected, 1, memory_order_acquire, memory_order_relaxed))
    cx__lock_slow(lock);
}
static inline void cx__lock_release(cx__lock *lock) {
  atomic_store_explicit(lock, 0, memory_order_release);
}

#endif /* CX_RUNTIME_SYNC_H */
