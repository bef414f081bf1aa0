/* src/runtime/lock.c - the contended path of the word locks (sync.h). */
#include <sched.h>
#include <time.h>

#include "runtime/sync.h"

/* The critical sections are a few stores long, so a running holder
 * releases within SPINS reads; a holder that was preempted (or a cascade
 * walking a long child list) is waited for by yielding, then sleeping. */
enum { SPINS = 100, YIELDS = 50, MAX_SLEEP_NS = 1000000 };

static bool try_take(cx__lock *lock) {
  int expected = 0;
  return atomic_load_explicit(lock, memory_order_relaxed) == 0 &&
         atomic_compare_exchange_weak_explicit(
             lock, &expected, 1, memory_order_acquire, memory_order_relaxed);
}

void cx__lock_slow(cx__lock *lock) {
  long sleep_ns = 1000;
  for (int i = 0; i < SPINS; i++) {
    if (try_take(lock)) return;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  for (int i = 0; i < YIELDS; i++) {
    if (try_take(lock)) return;
    sched_yield();
  }
  while (!try_take(lock)) {
    struct timespec ts = {0, sleep_ns};
    nanosleep(&ts, NULL);
    if (sleep_ns < MAX_SLEEP_NS) sleep_ns *= 2;
  }
}
