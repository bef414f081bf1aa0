/* src/runtime/timer.h - the timer service. */
#ifndef CX_RUNTIME_TIMER_H
#define CX_RUNTIME_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- timer service (timer.c): one lazily started thread, an indexed
 * binary min-heap, O(log n) arm and disarm. */
typedef struct cx__timer cx__timer;
typedef void (*cx__timer_fn)(cx__timer *timer);
struct cx__timer {
  int64_t deadline;  /* cx__now_ns() clock; guarded by the service lock */
  cx__timer_fn fire; /* set before arming; runs on the timer thread */
  uint32_t index;    /* heap slot, or CX__TIMER_IDLE when not armed;
                        guarded by the service lock */
  float seconds;     /* the owner's (the service never reads it): a timed
                        token keeps its delay here for its message, in the
                        4 bytes the struct would pad anyway */
};
#define CX__TIMER_IDLE UINT32_MAX
void cx__timer_init(cx__timer *t, cx__timer_fn fire);
/* Arms @t for @deadline (cx__now_ns() clock), starting the service thread
 * if needed.  Re-arming an armed timer moves it.  Returns 0, or -EAGAIN /
 * -ENOMEM (nothing armed; also past UINT32_MAX - 1 armed timers). */
int cx__timer_arm(cx__timer *t, int64_t deadline);
/* Disarms @t.  If it is firing on the timer thread (even if its callback
 * re-armed it), waits until the callback has returned; from the timer
 * thread itself it does not wait, and the service forgets @t, which may be
 * freed next.  Returns true if it was disarmed while armed. */
bool cx__timer_disarm(cx__timer *t);
/* Number of armed timers (tests). */
size_t cx__timer_armed_count(void);
/* Virtual clock support: wakes the service after a clock change and, when
 * @wait_fired, waits until every timer due at the new time has fired. */
void cx__timer_clock_changed(bool wait_fired);
/* Waits until the thread has looked at the heap since the call, firing
 * every timer due by then (as cx__timer_clock_changed(true) does), at most
 * until @deadline (monotonic ns, CX__NO_DEADLINE: none); for cx__quiesce()
 * (runtime/quiesce.h).  Stores in *@fires (nullable) how many fire() calls
 * have returned so far, a count that only grows.  Returns 0, -ETIMEDOUT,
 * or -EDEADLK on the timer thread. */
int cx__timer_quiesce(int64_t deadline, uint64_t *fires);

#endif /* CX_RUNTIME_TIMER_H */
