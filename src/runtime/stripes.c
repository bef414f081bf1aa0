/* src/runtime/stripes.c - a fixed table of {mutex, condvar} pairs shared by
 * tokens and operations, so that those objects stay small and cheap to
 * create.  Objects hash to a stripe by address.  No code path holds two
 * stripes at once, so the table cannot deadlock on itself.  The table is
 * initialised statically where timed waits can name their clock
 * (pthread_cond_clockwait), so finding a stripe costs a hash, no
 * pthread_once. */
#include <errno.h>
#include <time.h>

#include "runtime/compiler.h" /* cx_config.h: CX_HAVE_PTHREAD_COND_CLOCKWAIT */
#include "runtime/fork.h"
#include "runtime/sync.h"

/* Enough to make unrelated objects rarely share a lock, few enough that
 * fork() can hold them all (ThreadSanitizer tracks at most 64 held locks
 * per thread). */
#define STRIPE_COUNT 48

/* The sections a stripe guards are short, and two threads working under
 * one parent meet on its stripe at every child's create and exit: glibc's
 * adaptive mutex spins a while before it sleeps in the kernel, where a
 * plain one goes to futex_wait on the first miss (a system call on both
 * sides per meeting). */
#if defined(PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP)
#define STRIPE_MUTEX_INIT PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
#else
#define STRIPE_MUTEX_INIT PTHREAD_MUTEX_INITIALIZER
#endif

#if defined(CX_HAVE_PTHREAD_COND_CLOCKWAIT)
#define S1 \
  { STRIPE_MUTEX_INIT, PTHREAD_COND_INITIALIZER }
#define S4 S1, S1, S1, S1
#define S16 S4, S4, S4, S4
static cx__stripe stripes[STRIPE_COUNT] = {S16, S16, S16};
#define ENSURE_INIT() ((void)0)
#else
static cx__stripe stripes[STRIPE_COUNT];
static pthread_once_t stripes_once = PTHREAD_ONCE_INIT;

static void stripes_init(void) { cx__stripe_table_init(stripes, STRIPE_COUNT); }
#define ENSURE_INIT() pthread_once(&stripes_once, stripes_init)
#endif

cx__stripe *cx__stripe_for(const void *object) {
  ENSURE_INIT();
  return &stripes[cx__ptr_hash24(object) % STRIPE_COUNT];
}

/* Fork support: hold every stripe across fork() so that the child never
 * inherits one locked by a thread that does not exist there. */

void cx__stripes_lock_all(void) {
  ENSURE_INIT();
  for (int i = 0; i < STRIPE_COUNT; i++) pthread_mutex_lock(&stripes[i].mu);
}

void cx__stripes_unlock_all(void) {
  for (int i = STRIPE_COUNT - 1; i >= 0; i--)
    pthread_mutex_unlock(&stripes[i].mu);
}

void cx__stripes_reinit_all(void) {
  cx__stripe_table_init(stripes, STRIPE_COUNT);
}

void cx__stripe_table_init(cx__stripe *table, size_t n) {
  pthread_condattr_t attr;
  pthread_mutexattr_t mattr;
  pthread_mutexattr_init(&mattr);
#if defined(PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP)
  pthread_mutexattr_settype(&mattr, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  for (size_t i = 0; i < n; i++) {
    pthread_mutex_init(&table[i].mu, &mattr);
    pthread_cond_init(&table[i].cond, &attr);
  }
  pthread_condattr_destroy(&attr);
  pthread_mutexattr_destroy(&mattr);
}
