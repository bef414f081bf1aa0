/* src/runtime/runtime.h - internal runtime: allocation, clock, timer service,
 * deferred-completion thread, wakeup fds, lock stripes. */
#ifndef CX_RUNTIME_H
#define CX_RUNTIME_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cx_config.h"

/* Branch hint for the hot paths: the expected case is laid out straight. */
#if defined(__GNUC__) || defined(__clang__)
#define CX__LIKELY(x) __builtin_expect(!!(x), 1)
#else
#define CX__LIKELY(x) (x)
#endif

/* ---- allocation (alloc.c): every allocation of the library goes here, so
 * that a test can make the Nth one fail. */
void *cx__malloc(size_t size);
void *cx__calloc(size_t count, size_t size);
void *cx__realloc(void *ptr, size_t size);
char *cx__strdup(const char *s);
void cx__free(void *ptr);
/* Testing hook: make the allocation @n calls from now (0 = the next) fail,
 * and every one after it while @sticky; -1 disables.  Not thread-aware. */
void cx__alloc_fail_after(long n, bool sticky);
/* Whether this allocation must fail (the testing hook); counts it. */
bool cx__alloc_should_fail(void);
extern _Atomic long cx__alloc_fail_countdown; /* (atomic) -1: hook off */
static inline bool cx__alloc_failing(void) {
  return atomic_load_explicit(&cx__alloc_fail_countdown,
                              memory_order_relaxed) >= 0 &&
         cx__alloc_should_fail();
}
/* Per-thread caches of small blocks (blocks.c), for objects made and freed
 * on hot paths.  A block from cx__block_alloc(size) must be freed with
 * cx__block_free(ptr, size) with the same @size, never with cx__free();
 * any thread may free it.  cx__block_alloc follows the testing hook.  The
 * fast paths are inline (sizes are constants at every call, so the class
 * is too).  Under AddressSanitizer or ThreadSanitizer nothing is cached:
 * every block is a malloc() of its exact size, so a use after free or an
 * overflow is still reported, and LeakSanitizer sees every block. */
enum {
  CX__BLOCK_GRAIN = 16,   /* bytes between size classes */
  CX__BLOCK_CLASSES = 24, /* blocks up to 376 bytes are cached */
  CX__BLOCK_DEPTH = 64    /* cached blocks per class and thread */
};
typedef struct cx__block {
  struct cx__block *next;
} cx__block;
typedef struct cx__block_cache {
  cx__block *head[CX__BLOCK_CLASSES];
  unsigned char count[CX__BLOCK_CLASSES];
  bool ready; /* the thread-exit flush is arranged and has not run */
} cx__block_cache;
extern _Thread_local cx__block_cache cx__blocks;
void *cx__block_alloc_slow(size_t size);
void cx__block_free_slow(void *ptr, size_t size);

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CX__NO_BLOCK_CACHE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CX__NO_BLOCK_CACHE 1
#endif
#endif

/* Class k holds blocks of k * 16 + 8 bytes: glibc (like other dlmalloc
 * descendants) gives a request of n bytes a chunk of n + 8 rounded up to
 * 16, so these sizes use their chunks whole (a 56-byte block costs 64
 * bytes, a 64-byte one 80). */
static inline size_t cx__block_class(size_t size) {
  return (size + CX__BLOCK_GRAIN / 2 - 1) / CX__BLOCK_GRAIN;
}

static inline void *cx__block_alloc(size_t size) {
#if !defined(CX__NO_BLOCK_CACHE)
  size_t k = cx__block_class(size);
  cx__block *b;
  if (k < CX__BLOCK_CLASSES && (b = cx__blocks.head[k]) != NULL &&
      atomic_load_explicit(&cx__alloc_fail_countdown, memory_order_relaxed) <
          0) {
    cx__blocks.head[k] = b->next;
    cx__blocks.count[k]--;
    return b;
  }
#endif
  return cx__block_alloc_slow(size);
}

static inline void cx__block_free(void *ptr, size_t size) {
#if !defined(CX__NO_BLOCK_CACHE)
  size_t k = cx__block_class(size);
  if (ptr != NULL && k < CX__BLOCK_CLASSES && cx__blocks.ready &&
      cx__blocks.count[k] < CX__BLOCK_DEPTH) {
    cx__block *b = ptr;
    b->next = cx__blocks.head[k];
    cx__blocks.head[k] = b;
    cx__blocks.count[k]++;
    return;
  }
#endif
  cx__block_free_slow(ptr, size);
}

/* ---- clock (clock.c) */
#define CX__NS_PER_SEC INT64_C(1000000000)
#define CX__NO_DEADLINE INT64_MAX
/* The library's monotonic time in ns (virtual when the virtual clock is in
 * use).  Async-signal-safe. */
int64_t cx__now_ns(void);
/* CLOCK_MONOTONIC in ns, never virtual. */
int64_t cx__mono_ns(void);
/* CLOCK_REALTIME in seconds.  Async-signal-safe. */
double cx__wall_now(void);
bool cx__clock_is_virtual(void);
/* Converts a duration in seconds to ns; rejects NaN/negative/infinite.
 * Returns 0 or -EINVAL. */
int cx__seconds_to_ns(double seconds, int64_t *out);
/* Converts a timeout's duration in seconds to ns: > 0, finite and at most
 * 9.2e9 s, else -EINVAL (a duration of 0 is no timeout at all); a positive
 * duration under 1 ns becomes 1 ns. */
int cx__duration_to_ns(double seconds, int64_t *out);
/* Converts a wait timeout (poll(2) convention) to an absolute CLOCK_MONOTONIC
 * deadline in ns: CX__NO_DEADLINE for "forever".  -EINVAL for NaN. */
int cx__timeout_to_deadline(double timeout, int64_t *deadline);
/* @now + @ns, or CX__NO_DEADLINE where that would overflow (durations go
 * up to 9.2e9 s). */
int64_t cx__add_saturated(int64_t now, int64_t ns);
/* Writes @ns as seconds with at most 3 decimals ("60", "0.25") into @out. */
void cx__format_seconds(int64_t ns, char *out, size_t len);
/* ns -> struct timespec. */
struct timespec cx__ns_to_timespec(int64_t ns);
/* Milliseconds left until an absolute monotonic deadline, for poll(2):
 * -1 for CX__NO_DEADLINE, rounded up, clamped to INT_MAX. */
int cx__deadline_to_poll_ms(int64_t deadline);

/* ---- lock stripes (stripes.c): objects hash to one of a fixed set of
 * {mutex, condvar} pairs instead of carrying their own.  The condvars use
 * CLOCK_MONOTONIC.  Never hold two stripes at once. */
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
/* fork() support: the fallback's locks are held across it (fork.c). */
void cx__park_fork_prepare(void);
void cx__park_fork_parent(void);
void cx__park_fork_child(void);

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
bool cx__cascade_lock_held(void);
void cx__cascade_fork_prepare(void);
void cx__cascade_fork_parent(void);
void cx__cascade_fork_child(void);

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

/* ---- deferred completion (deferred.c): finishes cancellations begun in
 * signal handlers. */
int cx__deferred_prepare(void);
/* Async-signal-safe: queue a claimed token for completion.  Returns 0 or
 * -ESRCH when not prepared. */
struct cx_token;
int cx__deferred_post(struct cx_token *token);
bool cx__deferred_ready(void);

/* ---- wakeup fd (wakeup-eventfd.c or wakeup-pipe.c): a descriptor that can
 * be made readable for good. */
typedef struct cx__wakeup {
  int read_fd;  /* what pollers watch */
  int write_fd; /* what cx__wakeup_signal writes (== read_fd for eventfd) */
} cx__wakeup;
/* Creates a close-on-exec, non-blocking wakeup.  Returns 0 or -errno. */
int cx__wakeup_open(cx__wakeup *w);
/* Makes it readable.  Async-signal-safe. */
void cx__wakeup_signal(const cx__wakeup *w);
/* The same from a signal handler: the write is a raw system call, which no
 * sanitizer intercepts (ThreadSanitizer runs a handler deferred at the end
 * of the next intercepted call; a handler that itself makes one can re-enter
 * that delivery, which then leaves every signal blocked in the thread). */
void cx__wakeup_signal_async(const cx__wakeup *w);
void cx__wakeup_close(cx__wakeup *w);

/* ---- condition workers (workers.c): a lazily grown pool that runs user
 * predicates off the timer thread (at most 4 at once), and urgent jobs
 * (condvar wakes), which never wait behind predicates: they have their own
 * queue, served first, and get a new thread when none is idle. */
typedef struct cx__job cx__job;
typedef void (*cx__job_fn)(cx__job *job);
struct cx__job {
  cx__job *next;     /* guarded by the pool lock: queue link */
  cx__job *run_next; /* guarded by the pool lock: running-list link */
  cx__job_fn run;
  int state;   /* guarded by the pool lock: CX__JOB_* */
  bool again;  /* guarded by the pool lock: submitted while running */
  bool urgent; /* immutable */
  bool resume; /* immutable: submit again in a fork child if the fork
                  dropped it (queued or running in the parent) */
};
enum { CX__JOB_IDLE = 0, CX__JOB_QUEUED, CX__JOB_RUNNING };
/* @urgent: a short job that must not wait behind slow ones.  @resume: see
 * struct cx__job. */
void cx__job_init(cx__job *job, cx__job_fn run, bool urgent, bool resume);
/* Queues @job.  A job already queued stays queued once; a job that is
 * running is queued again when its run returns, so no submit is lost.
 * 0 or -EAGAIN/-ENOMEM when no worker can be started. */
int cx__job_submit(cx__job *job);
/* Dequeues @job, or waits until its run has returned (not when called from
 * that run itself). */
void cx__job_cancel(cx__job *job);

/* ---- signal dispatcher (signals.c) */
typedef struct cx__sigwatch cx__sigwatch;
typedef void (*cx__sigwatch_fn)(cx__sigwatch *w, int signo);
struct cx__sigwatch {
  cx__sigwatch *prev, *next; /* guarded by the dispatcher lock */
  int signo;
  cx__sigwatch_fn fn; /* runs on the dispatcher thread */
  uint64_t seen;      /* guarded by the dispatcher lock */
  bool firing;        /* guarded by the dispatcher lock */
  bool watching;      /* guarded by the dispatcher lock */
};
/* Starts delivering @signo to @w->fn (installing the handler for the first
 * watcher).  0, -EINVAL, or the errno of the pipe/thread/sigaction. */
int cx__signal_watch(cx__sigwatch *w, int signo, cx__sigwatch_fn fn);
/* Stops; waits for a running @w->fn (not from the dispatcher thread).  The
 * last watcher of a signal restores its previous disposition. */
void cx__signal_unwatch(cx__sigwatch *w);
/* Whether @signo may be watched. */
bool cx__signal_valid(int signo);

/* ---- service threads (thread.c) */
/* Starts a detached service thread with every signal blocked and a 256 KiB
 * stack.  @thread: (nullable) receives its id.  0 or -errno. */
int cx__thread_spawn(pthread_t *thread, void *(*main_fn)(void *), void *arg);

/* ---- fork handling (fork.c) */
void cx__fork_handlers_install(void);
/* How many fork()s this process descends from: objects that hold a
 * descriptor shared with the parent compare it to know they must reopen
 * it. */
unsigned cx__fork_generation(void);
/* In a fork child, restarts the service threads that have work (armed
 * timers, watched signals) the first time the library is used after the
 * fork: called from enter and the blocking waits.  One relaxed load
 * otherwise. */
void cx__after_fork_resume(void);

#endif /* CX_RUNTIME_H */
