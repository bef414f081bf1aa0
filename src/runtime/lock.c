/* src/runtime/lock.c - the contended path of the word locks (runtime.h). */
#include <sched.h>

#include "runtime/runtime.h"

/* Spins before parking: the critical sections are a few stores long, so a
 * holder that is running releases within this many reads. */
enum { SPINS = 100 };

void cx__lock_slow(cx__lock *lock) {
  for (int i = 0; i < SPINS; i++) {
    int expected = 0;
    if (atomic_load_explicit(lock, memory_order_relaxed) == 0 &&
        atomic_compare_exchange_weak_explicit(
            lock, &expected, 1, memory_order_acquire, memory_order_relaxed))
      return;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  /* Mark the lock contended (2) whenever we may sleep, so the holder's
   * release wakes us; take it when the exchange finds it free. */
  while (atomic_exchange_explicit(lock, 2, memory_order_acquire) != 0) {
#if defined(CX_HAVE_FUTEX)
    cx__park(lock, 2, CX__NO_DEADLINE, lock);
#else
    /* The fallback parking takes a stripe, and a word lock may be taken
     * under one: never hold two stripes. */
    sched_yield();
#endif
  }
}
