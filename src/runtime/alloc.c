/* src/runtime/alloc.c - the one allocation hook of the library. */
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/alloc.h"

_Atomic long cx__alloc_fail_countdown = -1; /* (atomic) -1: never fail */
static _Atomic bool fail_sticky;            /* (atomic) */

/* The allocation-failure sweep (scripts/alloc-sweep.sh, docs/internals.md):
 * in sanitizer builds (or with -DCX_ALLOC_SWEEP) the environment variable
 * CX_ALLOC_FAIL arms the hook when the library is loaded:
 *   count  count the allocations; print "cx-alloc-sweep: N allocations"
 *          at exit;
 *   K      make the Kth allocation (from 1) fail, once;
 *   K+     make the Kth and every later one fail.
 * The first injected failure prints "cx-alloc-sweep: allocation K failed
 * (injected) on the main thread" (or "on another thread").  The lines go
 * to the file CX_ALLOC_FAIL_LOG names (appended), else to stderr.  A test
 * that drives the hook itself (cx__alloc_fail_after) turns the sweep off:
 * the count then says so.  Release builds have none of this. */
#if !defined(CX_ALLOC_SWEEP)
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CX_ALLOC_SWEEP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CX_ALLOC_SWEEP 1
#endif
#endif
#endif

#if defined(CX_ALLOC_SWEEP)
static pid_t sweep_pid;             /* 0: no sweep in this process */
static long sweep_first;            /* the K of CX_ALLOC_FAIL, 0: count */
static _Atomic bool sweep_fired;    /* (atomic) */
static _Atomic bool sweep_disarmed; /* (atomic) the test drove the hook */
static char sweep_log[4096];        /* CX_ALLOC_FAIL_LOG, read at load */

/* Appends @text to the file CX_ALLOC_FAIL_LOG names, else to stderr (which
 * some tests capture). */
static void sweep_say(const char *text) {
  int fd = STDERR_FILENO;
  ssize_t n;
  if (sweep_log[0] != '\0' &&
      (fd = open(sweep_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) <
          0)
    return;
  n = write(fd, text, strlen(text));
  (void)n;
  if (fd != STDERR_FILENO) close(fd);
}

/* Says where the first injected failure happened: in a fork child too (it
 * inherits the countdown), whose failure the test sees as well. */
static void sweep_fire(void) {
  char line[160];
  bool main_thread = true;
  if (sweep_pid == 0 || atomic_load(&sweep_disarmed) ||
      atomic_exchange(&sweep_fired, true))
    return;
#if defined(SYS_gettid)
  main_thread = syscall(SYS_gettid) == getpid();
#endif
  snprintf(line, sizeof line,
           "cx-alloc-sweep: allocation %ld failed (injected) on %s%s\n",
           sweep_first, main_thread ? "the main thread" : "another thread",
           sweep_pid == getpid() ? "" : " of a forked child");
  sweep_say(line);
}

__attribute__((constructor)) static void sweep_from_environment(void) {
  const char *v = getenv("CX_ALLOC_FAIL"), *log = getenv("CX_ALLOC_FAIL_LOG");
  char *end;
  long k;
  if (v == NULL || *v == '\0') return;
  if (log != NULL) snprintf(sweep_log, sizeof sweep_log, "%s", log);
  if (strcmp(v, "count") == 0) {
    sweep_pid = getpid();
    atomic_store(&cx__alloc_fail_countdown, LONG_MAX);
    return;
  }
  k = strtol(v, &end, 10);
  if (k < 1 || (*end != '\0' && strcmp(end, "+") != 0)) {
    sweep_say("cx-alloc-sweep: CX_ALLOC_FAIL takes count, K or K+\n");
    _exit(2);
  }
  sweep_pid = getpid();
  sweep_first = k;
  atomic_store(&fail_sticky, *end == '+');
  atomic_store(&cx__alloc_fail_countdown, k - 1);
}

__attribute__((destructor)) static void sweep_report(void) {
  char line[128];
  if (sweep_pid != getpid() || sweep_first != 0) return;
  if (atomic_load(&sweep_disarmed))
    snprintf(line, sizeof line, "cx-alloc-sweep: the test drives the hook\n");
  else
    snprintf(line, sizeof line, "cx-alloc-sweep: %ld allocations\n",
             LONG_MAX - atomic_load(&cx__alloc_fail_countdown));
  sweep_say(line);
}
#endif

/* One compare-and-swap per allocation while the hook is armed, so that
 * allocations racing on several threads each count once, and a failure
 * that is not sticky fails exactly one of them (the sweep's count and its
 * Kth allocation rely on it). */
bool cx__alloc_should_fail(void) {
  long n =
      atomic_load_explicit(&cx__alloc_fail_countdown, memory_order_relaxed);
  for (;;) {
    long next = n - 1;
    if (n < 0) return false;
    if (n == 0)
      next = atomic_load_explicit(&fail_sticky, memory_order_relaxed) ? 0 : -1;
    if (atomic_compare_exchange_weak_explicit(&cx__alloc_fail_countdown, &n,
                                              next, memory_order_relaxed,
                                              memory_order_relaxed))
      break;
  }
  if (n > 0) return false;
#if defined(CX_ALLOC_SWEEP)
  sweep_fire();
#endif
  return true;
}

void cx__alloc_fail_after(long n, bool sticky) {
#if defined(CX_ALLOC_SWEEP)
  atomic_store(&sweep_disarmed, true);
#endif
  atomic_store(&fail_sticky, sticky);
  atomic_store(&cx__alloc_fail_countdown, n);
}

static void *(*volatile clear)(void *, int, size_t) = memset;

void *cx__malloc(size_t size) {
  if (cx__alloc_failing()) return NULL;
  return malloc(size);
}

void *cx__calloc(size_t count, size_t size) {
  void *p;
  if (size != 0 && count > SIZE_MAX / size) return NULL;
  /* malloc + memset: glibc serves calloc outside its per-thread cache,
   * which costs more than clearing the few bytes we ask for.  The memset
   * goes through a volatile pointer, or compilers fuse the pair back into
   * calloc. */
  p = cx__malloc(count * size);
  if (p != NULL) clear(p, 0, count * size);
  return p;
}

void *cx__realloc(void *ptr, size_t size) {
  if (cx__alloc_failing()) return NULL;
  return realloc(ptr, size);
}

char *cx__strdup(const char *s) {
  size_t len = strlen(s) + 1;
  char *copy = cx__malloc(len);
  if (copy != NULL) memcpy(copy, s, len);
  return copy;
}

void cx__free(void *ptr) { free(ptr); }
