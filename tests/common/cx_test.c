/* tests/common/cx_test.c - see cx_test.h. */
#define _GNU_SOURCE /* pthread_timedjoin_np */
#include "cx_test.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cancelable.h>

void cx_test_assert_err(int expected, int actual, const char *file, int line) {
  if (expected == actual) return;
  print_error("expected %d (%s), got %d (%s)\n", expected,
              cx_err_name(expected), actual, cx_err_name(actual));
  _fail(file, line);
}

void cx_test_assert_string(const char *a, const char *b, bool equal,
                           const char *file, int line) {
  if (a != NULL && b != NULL) {
    if (equal)
      _assert_string_equal(a, b, file, line);
    else
      _assert_string_not_equal(a, b, file, line);
    return;
  }
  if ((a == b) == equal) return; /* both NULL, or one of them */
  print_error("\"%s\" %s \"%s\"\n", a != NULL ? a : "(null)",
              equal ? "!=" : "==", b != NULL ? b : "(null)");
  _fail(file, line);
}

/* ---- the allocation-failure sweep (scripts/alloc-sweep.sh and
 * docs/internals.md).  The library reads CX_ALLOC_FAIL too (runtime/alloc.c):
 * "count" counts its allocations, "K" fails the Kth once, "K+" the Kth and
 * all after it.  Under an injection (K or K+) the runner:
 *   - makes a CX_ASSERT_ERR call that returned -ENOMEM once more (once per
 *     process, and only for K: a failed call must have changed nothing);
 *   - stops the process at the first failed assertion, in the sweep's
 *     builds (AddressSanitizer): it runs LeakSanitizer's check there, while
 *     the test's own objects are still reachable from its stack (after
 *     cmocka's longjmp they would all be leaks), and exits with
 *     CX_TEST_SWEEP_STOPPED, or with 23 when something leaked. */
enum { SWEEP_OFF, SWEEP_COUNT, SWEEP_ONCE, SWEEP_STICKY };
enum { CX_TEST_SWEEP_STOPPED = 86 };
static int sweep_mode = SWEEP_OFF;
static atomic_bool sweep_retried;
static char sweep_log[4096]; /* CX_ALLOC_FAIL_LOG: where the lines go */

/* Appends a line to the file CX_ALLOC_FAIL_LOG names (the library writes
 * its lines there too), else to stderr, which some tests capture. */
__attribute__((format(printf, 1, 2))) static void sweep_say(const char *format,
                                                            ...) {
  FILE *f = sweep_log[0] != '\0' ? fopen(sweep_log, "ae") : stderr;
  va_list ap;
  if (f == NULL) return;
  va_start(ap, format);
  vfprintf(f, format, ap);
  va_end(ap);
  if (f != stderr) fclose(f);
}

static void sweep_init(void) {
  const char *v = getenv("CX_ALLOC_FAIL"), *log = getenv("CX_ALLOC_FAIL_LOG");
  if (log != NULL) snprintf(sweep_log, sizeof sweep_log, "%s", log);
  if (v == NULL || *v == '\0')
    sweep_mode = SWEEP_OFF;
  else if (strcmp(v, "count") == 0)
    sweep_mode = SWEEP_COUNT;
  else if (v[strlen(v) - 1] == '+')
    sweep_mode = SWEEP_STICKY;
  else
    sweep_mode = SWEEP_ONCE;
}

static const char *thread_kind(void) {
#if defined(SYS_gettid)
  if (syscall(SYS_gettid) != getpid()) return "another thread";
#endif
  return "the main thread";
}

bool cx_test_sweep_retry(int expected, int actual, const char *file, int line) {
  if (sweep_mode != SWEEP_ONCE || actual != -ENOMEM || expected == -ENOMEM ||
      atomic_exchange(&sweep_retried, true))
    return false;
  sweep_say("cx-test-sweep: retried at %s:%d on %s\n", file, line,
            thread_kind());
  return true;
}

void cx_test_sweep_retried(int expected, int actual) {
  /* -ENOMEM again: no call was made again (CX_ASSERT_ERR(-ECANCELED, rc)
   * only reads @rc once more), and the first failure stands. */
  if (actual != expected && actual != -ENOMEM)
    sweep_say("cx-test-sweep: made again, it returned %d (%s), not %d (%s)\n",
              actual, cx_err_name(actual), expected, cx_err_name(expected));
}

double cx_test_patience(double seconds) {
  bool injecting = sweep_mode == SWEEP_ONCE || sweep_mode == SWEEP_STICKY;
  return injecting && seconds > 5.0 ? 5.0 : seconds;
}

#if defined(__SANITIZE_ADDRESS__)
#define CX_TEST_SWEEP_STOPS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CX_TEST_SWEEP_STOPS 1
#endif
#endif

#if defined(CX_TEST_SWEEP_STOPS)
#include <dlfcn.h>
#include <sanitizer/lsan_interface.h>

static _Noreturn void sweep_stop(const char *file, int line) {
  static atomic_bool stopping;
  if (atomic_exchange(&stopping, true))
    for (;;) pause(); /* another thread is stopping the process */
  sweep_say("cx-test-sweep: stopped at %s:%d on %s\n", file, line,
            thread_kind());
  fflush(stdout);
  fflush(stderr);
  _exit(__lsan_do_recoverable_leak_check() != 0 ? 23 : CX_TEST_SWEEP_STOPPED);
}

/* cmocka's failure entry point, which every failed assertion calls (its
 * own through the PLT): stops the process under an injection, else goes
 * on to cmocka's.  Exported (the build hides symbols by default), so that
 * it takes the place of cmocka's in libcmocka too. */
__attribute__((visibility("default"))) void _fail(const char *const file,
                                                  const int line) {
  static void (*cmocka_fail)(const char *, int);
  if (sweep_mode == SWEEP_ONCE || sweep_mode == SWEEP_STICKY)
    sweep_stop(file, line);
  if (cmocka_fail == NULL) {
    void *sym = dlsym(RTLD_NEXT, "_fail");
    if (sym == NULL) {
      fprintf(stderr, "cx_test: cmocka's _fail not found: %s\n", dlerror());
      abort();
    }
    memcpy(&cmocka_fail, &sym, sizeof cmocka_fail);
  }
  cmocka_fail(file, line);
}
#endif

int cx_test_main(int argc, char **argv, const char *group,
                 const struct CMUnitTest *tests, size_t count) {
  sweep_init();
  if (argc > 1 && strcmp(argv[1], "--list") == 0) {
    for (size_t i = 0; i < count; i++) printf("%s\n", tests[i].name);
    return 0;
  }
  if (argc > 1) {
    size_t i;
    for (i = 0; i < count; i++)
      if (strcmp(tests[i].name, argv[1]) == 0) break;
    if (i == count) {
      fprintf(stderr, "%s: no test named '%s' (see --list)\n", argv[0],
              argv[1]);
      return 2;
    }
    return _cmocka_run_group_tests(group, &tests[i], 1, NULL, NULL);
  }
  return _cmocka_run_group_tests(group, tests, count, NULL, NULL);
}

cx_op *cx_test_op(const char *name, cx_op *parent, double timeout) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_op *op = NULL;
  o.name = name;
  o.parent = parent;
  o.timeout = timeout;
  CX_ASSERT_OK(cx_op_create(&op, &o));
  return op;
}

cx_op *cx_test_entered_op(const char *name, cx_op *parent, double timeout) {
  cx_op *op = cx_test_op(name, parent, timeout);
  CX_ASSERT_OK(cx_op_enter(op));
  return op;
}

int cx_test_vclock_setup(void **state) {
  (void)state;
  return cx_clock_use_virtual() == 0 ? 0 : -1;
}

int cx_test_vclock_teardown(void **state) {
  (void)state;
  cx_clock_use_real();
  return 0;
}

double cx_test_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double cx_test_wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool cx_test_join_within(pthread_t th, double seconds, void **ret) {
  double end = cx_test_wall_now() + seconds;
  struct timespec ts;
  ts.tv_sec = (time_t)end;
  ts.tv_nsec = (long)((end - (double)ts.tv_sec) * 1e9);
  return pthread_timedjoin_np(th, ret, &ts) == 0;
}

void cx_test_sleep(double seconds) {
  struct timespec ts;
  ts.tv_sec = (time_t)seconds;
  ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) != 0) {
  }
}
