/* src/runtime/timer.c - the timer service: one lazily started thread and an
 * indexed binary min-heap of deadlines.  Arm and disarm are O(log n); a
 * timer that never fires costs one arm and one disarm, no thread and no fd
 * of its own.  Callbacks run on the timer thread with no lock held. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>

#include "runtime/runtime.h"

typedef struct service {
  pthread_mutex_t mu;
  pthread_cond_t wake;    /* timer thread waits here (monotonic clock) */
  pthread_cond_t fired;   /* disarm and advance wait here */
  cx__timer **heap;       /* guarded by mu */
  size_t count, capacity; /* guarded by mu */
  bool started;           /* guarded by mu */
  pthread_t thread;       /* valid while started */
  cx__timer *firing;      /* guarded by mu: the timer being fired */
  uint64_t clock_gen;     /* guarded by mu: bumped by clock changes */
  uint64_t seen_gen;      /* guarded by mu: the thread caught up to this */
  int64_t sleep_until;    /* guarded by mu: the deadline the thread waits
                             for (CX__NO_DEADLINE: untimed), or
                             INT64_MIN while it is awake */
} service;

static service svc = {.mu = PTHREAD_MUTEX_INITIALIZER,
                      .wake = PTHREAD_COND_INITIALIZER,
                      .fired = PTHREAD_COND_INITIALIZER,
                      .sleep_until = INT64_MIN};

#if defined(CX_HAVE_PTHREAD_COND_CLOCKWAIT)
/* The static initialisers suffice: the timed wait names its clock.  (The
 * fork handlers are installed when the library is loaded.) */
#define ENSURE_INIT() ((void)0)
#else
static pthread_once_t svc_once = PTHREAD_ONCE_INIT;

/* Without clockwait, the timer thread's condvar must be made on
 * CLOCK_MONOTONIC. */
static void svc_init(void) {
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_destroy(&svc.wake);
  pthread_cond_init(&svc.wake, &attr);
  pthread_condattr_destroy(&attr);
  cx__fork_handlers_install();
}
#define ENSURE_INIT() pthread_once(&svc_once, svc_init)
#endif

/* ---- heap, all _locked */

static void heap_set(size_t i, cx__timer *t) {
  svc.heap[i] = t;
  t->index = i;
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
  t->index = SIZE_MAX;
  if (i == svc.count) return;
  heap_set(i, last);
  if (i > 0 && svc.heap[(i - 1) / 2]->deadline > last->deadline)
    sift_up_locked(i);
  else
    sift_down_locked(i);
}

static int heap_push_locked(cx__timer *t) {
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

static void wait_locked(int64_t deadline) {
  struct timespec ts;
  if (deadline == CX__NO_DEADLINE || cx__clock_is_virtual()) {
    svc.sleep_until = CX__NO_DEADLINE;
    pthread_cond_wait(&svc.wake, &svc.mu);
  } else {
    svc.sleep_until = deadline;
    ts = cx__ns_to_timespec(deadline);
#if defined(CX_HAVE_PTHREAD_COND_CLOCKWAIT)
    pthread_cond_clockwait(&svc.wake, &svc.mu, CLOCK_MONOTONIC, &ts);
#else
    pthread_cond_timedwait(&svc.wake, &svc.mu, &ts);
#endif
  }
  svc.sleep_until = INT64_MIN; /* awake: it looks at the heap again */
}

static void *timer_main(void *arg) {
  (void)arg;
#if defined(PR_SET_TIMERSLACK)
  /* Timeouts fire on time: no 50 us of default slack on every wait. */
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
#endif
  pthread_mutex_lock(&svc.mu);
  for (;;) {
    uint64_t gen = svc.clock_gen;
    int64_t now = cx__now_ns();
    if (svc.count > 0 && svc.heap[0]->deadline <= now) {
      cx__timer *t = svc.heap[0];
      heap_remove_locked(t);
      /* Idle before the call, and never touched after it: fire() may free
       * @t (a timed token's fire can drop its last reference).  A fire()
       * that re-arms makes it ARMED; a disarm on another thread waits while
       * svc.firing is @t. */
      t->state = CX__TIMER_IDLE;
      svc.firing = t;
      pthread_mutex_unlock(&svc.mu);
      t->fire(t);
      pthread_mutex_lock(&svc.mu);
      svc.firing = NULL;
      pthread_cond_broadcast(&svc.fired);
      continue;
    }
    if (svc.seen_gen != gen) {
      svc.seen_gen = gen;
      pthread_cond_broadcast(&svc.fired);
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
  t->index = SIZE_MAX;
  t->fire = fire;
  t->state = CX__TIMER_IDLE;
}

int cx__timer_arm(cx__timer *t, int64_t deadline) {
  int rc;
  ENSURE_INIT();
  pthread_mutex_lock(&svc.mu);
  rc = ensure_started_locked();
  if (rc == 0) {
    bool was_armed = t->state == CX__TIMER_ARMED;
    if (was_armed) heap_remove_locked(t);
    t->deadline = deadline;
    rc = heap_push_locked(t);
    if (rc == 0) {
      t->state = CX__TIMER_ARMED;
      /* Wake the thread only if it sleeps past the new deadline: a timeout
       * that is later than the one it waits for costs no wakeup. */
      if (t->index == 0 && deadline < svc.sleep_until)
        pthread_cond_signal(&svc.wake);
    } else if (was_armed) {
      t->state = CX__TIMER_IDLE;
    }
  }
  pthread_mutex_unlock(&svc.mu);
  return rc;
}

bool cx__timer_disarm(cx__timer *t) {
  bool disarmed = false;
  ENSURE_INIT();
  pthread_mutex_lock(&svc.mu);
  if (t->state == CX__TIMER_ARMED) {
    heap_remove_locked(t);
    t->state = CX__TIMER_IDLE;
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
      while (svc.firing == t) pthread_cond_wait(&svc.fired, &svc.mu);
  }
  pthread_mutex_unlock(&svc.mu);
  return disarmed;
}

size_t cx__timer_armed_count(void) {
  size_t n;
  ENSURE_INIT();
  pthread_mutex_lock(&svc.mu);
  n = svc.count;
  pthread_mutex_unlock(&svc.mu);
  return n;
}

void cx__timer_clock_changed(bool wait_fired) {
  uint64_t gen;
  ENSURE_INIT();
  pthread_mutex_lock(&svc.mu);
  gen = ++svc.clock_gen;
  if (svc.started) {
    pthread_cond_signal(&svc.wake);
    if (wait_fired && !pthread_equal(pthread_self(), svc.thread))
      while (svc.seen_gen < gen) pthread_cond_wait(&svc.fired, &svc.mu);
  }
  pthread_mutex_unlock(&svc.mu);
}

/* ---- fork */
void cx__timer_fork_prepare(void);
void cx__timer_fork_parent(void);
void cx__timer_fork_child(void);

void cx__timer_fork_prepare(void) { pthread_mutex_lock(&svc.mu); }

void cx__timer_fork_parent(void) { pthread_mutex_unlock(&svc.mu); }

void cx__timer_fork_child(void) {
  pthread_condattr_t attr;
  /* The thread is gone: restart lazily.  Armed timers stay in the heap and
   * fire once the thread restarts, at the next arm. */
  pthread_mutex_init(&svc.mu, NULL);
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&svc.wake, &attr);
  pthread_condattr_destroy(&attr);
  pthread_cond_init(&svc.fired, NULL);
  if (svc.firing != NULL) {
    /* Its callback ran (or was running) on the parent's thread: in the
     * child it never finished, so fire it again (its deadline has passed)
     * once the thread restarts. */
    cx__timer *t = svc.firing;
    if (t->state != CX__TIMER_ARMED && heap_push_locked(t) == 0)
      t->state = CX__TIMER_ARMED;
  }
  svc.firing = NULL;
  svc.started = false;
  svc.sleep_until = INT64_MIN;
  svc.seen_gen = svc.clock_gen;
}

/* After fork: restart the thread if timers inherited from the parent are
 * armed (their deadlines would otherwise pass unnoticed). */
void cx__timer_resume(void);
void cx__timer_resume(void) {
  ENSURE_INIT();
  pthread_mutex_lock(&svc.mu);
  if (svc.count > 0) ensure_started_locked();
  pthread_mutex_unlock(&svc.mu);
}
