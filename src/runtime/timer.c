/* src/runtime/timer.c - the timer service: one lazily started thread and an
 * indexed binary min-heap of deadlines.  Arm and disarm are O(log n); a
 * timer that never fires costs one arm and one disarm, no thread and no fd
 * of its own.  Callbacks run on the timer thread with no lock held.
 *
 * The heap is guarded by a word lock (sync.h): arm and disarm are on
 * every timeout scope's path, and a word lock costs one atomic
 * read-modify-write a pair where a pthread mutex costs two.  The thread
 * sleeps on a futex word (cx__park), which an arm bumps only when the new
 * deadline is earlier than the one the thread sleeps until; whoever waits
 * for a fire to finish parks on a second word. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/fork.h"
#include "runtime/sync.h"
#include "runtime/thread.h"
#include "runtime/timer.h"

typedef struct service {
  cx__lock lock;          /* guards every field below but the atomics */
  _Atomic int wake_seq;   /* (atomic) bumped to wake the thread */
  _Atomic int fired_seq;  /* (atomic) bumped when a fire or a clock change
                             has been handled */
  int fired_waiters;      /* guarded by lock: threads parked on fired_seq */
  cx__timer **heap;       /* guarded by lock */
  size_t count, capacity; /* guarded by lock */
  bool started;           /* guarded by lock */
  pthread_t thread;       /* valid while started */
  cx__timer *firing;      /* guarded by lock: the timer being fired */
  uint64_t clock_gen;     /* guarded by lock: bumped by clock changes */
  uint64_t seen_gen;      /* guarded by lock: the thread caught up to this */
  uint64_t fires;         /* guarded by lock: fire() calls returned */
  int64_t sleep_until;    /* guarded by lock: the deadline the thread waits
                             for (CX__NO_DEADLINE: untimed), or
                             INT64_MIN while it is awake */
} service;

static service svc = {.lock = CX__LOCK_INIT, .sleep_until = INT64_MIN};

/* Wakes the thread (after the caller changed what it should look at). */
static void wake_thread(void) {
  atomic_fetch_add(&svc.wake_seq, 1);
  cx__unpark_all(&svc.wake_seq, &svc);
}

/* Tells the threads waiting for a fire or a clock change to look again.
 * Called with the lock held; the wake itself is made by the caller after
 * unlocking, when this returns true. */
static bool fired_locked(void) {
  atomic_fetch_add(&svc.fired_seq, 1);
  return svc.fired_waiters > 0;
}

/* Parks until fired_seq moves or @deadline (monotonic ns) passes; the lock
 * is held on entry and on return.  Returns 0 or ETIMEDOUT. */
static int wait_fired_locked(int64_t deadline) {
  int seq = atomic_load(&svc.fired_seq), rc;
  svc.fired_waiters++;
  cx__lock_release(&svc.lock);
  rc = cx__park(&svc.fired_seq, seq, deadline, &svc);
  cx__lock_acquire(&svc.lock);
  svc.fired_waiters--;
  return rc;
}

/* ---- heap, all _locked */

static void heap_set(size_t i, cx__timer *t) {
  svc.heap[i] = t;
  t->index = (uint32_t)i;
}

static void sift_up_locked(size_t i) {
  cx__timer *t = svc.heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (svc.heap[parent]->deadline <= t->deadline) break;
    heap_set(i, svc.heap[parent]);
    i = parent;
  }
  heap_set(i, t);
}

static void sift_down_locked(size_t i) {
  cx__timer *t = svc.heap[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= svc.count) break;
    if (child + 1 < svc.count &&
        svc.heap[child + 1]->deadline < svc.heap[child]->deadline)
      child++;
    if (t->deadline <= svc.heap[child]->deadline) break;
    heap_set(i, svc.heap[child]);
    i = child;
  }
  heap_set(i, t);
}

static void heap_remove_locked(cx__timer *t) {
  size_t i = t->index;
  cx__timer *last = svc.heap[--svc.count];
  t->index = CX__TIMER_IDLE;
  if (i == svc.count) return;
  heap_set(i, last);
  if (i > 0 && svc.heap[(i - 1) / 2]->deadline > last->deadline)
    sift_up_locked(i);
  else
    sift_down_locked(i);
}

static int heap_push_locked(cx__timer *t) {
  if (svc.count == CX__TIMER_IDLE - 1) return -ENOMEM; /* slots are 32-bit */
  if (svc.count == svc.capacity) {
    size_t cap = svc.capacity ? svc.capacity * 2 : 64;
    cx__timer **heap = cx__realloc(svc.heap, cap * sizeof *heap);
    if (heap == NULL) return -ENOMEM;
    svc.heap = heap;
    svc.capacity = cap;
  }
  heap_set(svc.count++, t);
  sift_up_locked(t->index);
  return 0;
}

/* ---- the thread */

/* Sleeps until @deadline (cx__now_ns() clock) or a wake; the lock is held
 * on entry and on return. */
static void wait_locked(int64_t deadline) {
  int seq = atomic_load(&svc.wake_seq);
  int64_t until = deadline;
  if (deadline == CX__NO_DEADLINE || cx__clock_is_virtual()) {
    /* The virtual clock moves only by cx_clock_advance(), which wakes us. */
    deadline = CX__NO_DEADLINE;
    until = CX__NO_DEADLINE;
  }
  svc.sleep_until = deadline;
  cx__lock_release(&svc.lock);
  cx__park(&svc.wake_seq, seq, until, &svc);
  cx__lock_acquire(&svc.lock);
  svc.sleep_until = INT64_MIN; /* awake: it looks at the heap again */
}

static void *timer_main(void *arg) {
  (void)arg;
#if defined(PR_SET_TIMERSLACK)
  /* Timeouts fire on time: no 50 us of default slack on every wait. */
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
#endif
  cx__lock_acquire(&svc.lock);
  for (;;) {
    uint64_t gen = svc.clock_gen;
    int64_t now = cx__now_ns();
    bool notify;
    if (svc.count > 0 && svc.heap[0]->deadline <= now) {
      cx__timer *t = svc.heap[0];
      heap_remove_locked(t);
      /* Idle (removed) before the call, and never touched after it: fire()
       * may free @t (a timed token's fire can drop its last reference).  A
       * fire() that re-arms puts it back; a disarm on another thread waits
       * while svc.firing is @t. */
      svc.firing = t;
      cx__lock_release(&svc.lock);
      t->fire(t);
      cx__lock_acquire(&svc.lock);
      svc.firing = NULL;
      svc.fires++;
      if (fired_locked()) {
        cx__lock_release(&svc.lock);
        cx__unpark_all(&svc.fired_seq, &svc);
        cx__lock_acquire(&svc.lock);
      }
      continue;
    }
    if (svc.seen_gen != gen) {
      svc.seen_gen = gen;
      notify = fired_locked();
      if (notify) {
        cx__lock_release(&svc.lock);
        cx__unpark_all(&svc.fired_seq, &svc);
        cx__lock_acquire(&svc.lock);
        continue; /* look again: things may have changed meanwhile */
      }
    }
    wait_locked(svc.count > 0 ? svc.heap[0]->deadline : CX__NO_DEADLINE);
  }
  return NULL;
}

static int ensure_started_locked(void) {
  int rc;
  if (svc.started) return 0;
  rc = cx__thread_spawn(&svc.thread, timer_main, NULL);
  if (rc != 0) return rc;
  svc.started = true;
  return 0;
}

/* ---- API */

void cx__timer_init(cx__timer *t, cx__timer_fn fire) {
  t->deadline = CX__NO_DEADLINE;
  t->index = CX__TIMER_IDLE;
  t->fire = fire;
  t->seconds = 0;
}

int cx__timer_arm(cx__timer *t, int64_t deadline) {
  int rc;
  bool wake = false;
  cx__lock_acquire(&svc.lock);
  rc = ensure_started_locked();
  if (rc == 0) {
    if (t->index != CX__TIMER_IDLE) heap_remove_locked(t);
    t->deadline = deadline;
    rc = heap_push_locked(t);
    if (rc == 0) {
      /* Wake the thread only if it sleeps past the new deadline: a timeout
       * that is later than the one it waits for costs no wakeup. */
      wake = t->index == 0 && deadline < svc.sleep_until;
    }
  }
  cx__lock_release(&svc.lock);
  if (wake) wake_thread();
  return rc;
}

bool cx__timer_disarm(cx__timer *t) {
  bool disarmed = false;
  cx__lock_acquire(&svc.lock);
  if (t->index != CX__TIMER_IDLE) {
    heap_remove_locked(t);
    disarmed = true;
  }
  if (svc.firing == t) {
    if (!svc.started || pthread_equal(pthread_self(), svc.thread))
      /* From its own fire() (which may free @t next): the service must not
       * look at @t again, even to fire it anew in a fork child. */
      svc.firing = NULL;
    else
      /* Firing on the timer thread (perhaps re-armed by its fire() and
       * removed above): wait until that call has returned. */
      while (svc.firing == t) wait_fired_locked(CX__NO_DEADLINE);
  }
  cx__lock_release(&svc.lock);
  return disarmed;
}

size_t cx__timer_armed_count(void) {
  size_t n;
  cx__lock_acquire(&svc.lock);
  n = svc.count;
  cx__lock_release(&svc.lock);
  return n;
}

/* Has the thread look at the heap again and, when @wait, waits until it
 * has done so (firing every timer due by then) or until @deadline.  Stores
 * the number of fires in *@fires (nullable).  Returns 0, -ETIMEDOUT, or
 * -EDEADLK on the timer thread itself (which cannot wait for itself). */
static int catch_up(bool wait, int64_t deadline, uint64_t *fires) {
  uint64_t gen;
  int rc = 0;
  cx__lock_acquire(&svc.lock);
  gen = ++svc.clock_gen;
  if (svc.started) {
    bool from_thread = pthread_equal(pthread_self(), svc.thread);
    cx__lock_release(&svc.lock);
    wake_thread();
    cx__lock_acquire(&svc.lock);
    if (wait && from_thread) rc = -EDEADLK;
    if (wait && !from_thread)
      while (svc.seen_gen < gen) {
        if (wait_fired_locked(deadline) == ETIMEDOUT && svc.seen_gen < gen) {
          rc = -ETIMEDOUT;
          break;
        }
      }
  }
  if (fires != NULL) *fires = svc.fires;
  cx__lock_release(&svc.lock);
  return rc;
}

void cx__timer_clock_changed(bool wait_fired) {
  catch_up(wait_fired, CX__NO_DEADLINE, NULL);
}

int cx__timer_quiesce(int64_t deadline, uint64_t *fires) {
  return catch_up(true, deadline, fires);
}

/* ---- fork */

void cx__timer_fork_prepare(void) { cx__lock_acquire(&svc.lock); }

void cx__timer_fork_parent(void) { cx__lock_release(&svc.lock); }

void cx__timer_fork_child(void) {
  /* The thread is gone: restart lazily.  Armed timers stay in the heap and
   * fire once the thread restarts, at the next arm.  (The lock is held
   * since the prepare handler; nobody else runs here yet.) */
  if (svc.firing != NULL) {
    /* Its callback ran (or was running) on the parent's thread: in the
     * child it never finished, so fire it again (its deadline has passed)
     * once the thread restarts. */
    cx__timer *t = svc.firing;
    if (t->index == CX__TIMER_IDLE) heap_push_locked(t);
  }
  svc.firing = NULL;
  svc.fired_waiters = 0;
  svc.started = false;
  svc.sleep_until = INT64_MIN;
  svc.seen_gen = svc.clock_gen;
  cx__lock_release(&svc.lock);
}

/* After fork: restart the thread if timers inherited from the parent are
 * armed (their deadlines would otherwise pass unnoticed). */
void cx__timer_resume(void) {
  cx__lock_acquire(&svc.lock);
  if (svc.count > 0) ensure_started_locked();
  cx__lock_release(&svc.lock);
}
