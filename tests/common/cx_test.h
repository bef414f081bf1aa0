/* tests/common/cx_test.h - the test runner shared by every test executable.
 *
 * Each test executable is one concern (test_token, test_op, ...) holding
 * cmocka tests with path names ("/token/cancel/first-wins").  The runner
 * supports `--list` (one name per line, used by CMake to add_test() each
 * subtest) and running one test by exact name.
 */
#ifndef CX_TEST_H
#define CX_TEST_H

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* cmocka 1.1's string assertions pass NULL on to strcmp() and crash: these
 * fail the test instead (some getters return NULL when memory ran out, which
 * the allocation-failure sweep makes happen).  NULL equals only NULL. */
#undef assert_string_equal
#define assert_string_equal(a, b) \
  cx_test_assert_string((a), (b), true, __FILE__, __LINE__)
#undef assert_string_not_equal
#define assert_string_not_equal(a, b) \
  cx_test_assert_string((a), (b), false, __FILE__, __LINE__)
void cx_test_assert_string(const char *a, const char *b, bool equal,
                           const char *file, int line);

/* One named test: CX_TEST("/token/cancel/first-wins", test_fn). */
#define CX_TEST(path, fn) \
  { (path), (fn), NULL, NULL, NULL }

/* Assert that a libcancelable call returned the error @expected (a negative
 * errno); prints both codes by name on failure.  Under the allocation-failure
 * sweep (cx_test_sweep_retry) a call that returned -ENOMEM where @expected
 * is another code is made once more: a failed call must have changed
 * nothing, so the same call, now that the one injected failure is spent,
 * must do what it would have done (the rest of the test checks that). */
#define CX_ASSERT_ERR(expected, actual)                                   \
  do {                                                                    \
    int cx_test_expected_ = (expected), cx_test_actual_ = (actual);       \
    if (cx_test_sweep_retry(cx_test_expected_, cx_test_actual_, __FILE__, \
                            __LINE__)) {                                  \
      cx_test_actual_ = (actual);                                         \
      cx_test_sweep_retried(cx_test_expected_, cx_test_actual_);          \
    }                                                                     \
    cx_test_assert_err(cx_test_expected_, cx_test_actual_, __FILE__,      \
                       __LINE__);                                         \
  } while (0)

/* Assert that a call returned 0. */
#define CX_ASSERT_OK(actual) CX_ASSERT_ERR(0, (actual))

void cx_test_assert_err(int expected, int actual, const char *file, int line);

/* Whether CX_ASSERT_ERR must make its call again: under the sweep's
 * injection (CX_ALLOC_FAIL=K in the environment), the first time a call
 * returns -ENOMEM where @expected is another code; says so in the sweep's
 * log. */
bool cx_test_sweep_retry(int expected, int actual, const char *file, int line);
/* Logs what the call made again returned when it is neither @expected nor
 * -ENOMEM again: the failed call had changed something (the sweep fails
 * the run). */
void cx_test_sweep_retried(int expected, int actual);

/* Runs the tests as the command line asks; returns the exit status. */
int cx_test_main(int argc, char **argv, const char *group,
                 const struct CMUnitTest *tests, size_t count);

/* CX_TEST_MAIN(group, tests): defines main() for a test executable. */
#define CX_TEST_MAIN(group, tests)                           \
  int main(int argc, char **argv) {                          \
    return cx_test_main(argc, argv, (group), (tests),        \
                        sizeof(tests) / sizeof((tests)[0])); \
  }

struct cx_op;

/* A PENDING op named @name, child of @parent (nullable), with a timeout of
 * @timeout seconds (0: none); fails the test if it cannot be created. */
struct cx_op *cx_test_op(const char *name, struct cx_op *parent,
                         double timeout);

/* cx_test_op(), entered on the calling thread. */
struct cx_op *cx_test_entered_op(const char *name, struct cx_op *parent,
                                 double timeout);

/* cmocka setup/teardown that switch to the virtual clock and back. */
int cx_test_vclock_setup(void **state);
int cx_test_vclock_teardown(void **state);

/* A test that runs on the virtual clock, restored afterwards. */
#define CX_TEST_VCLOCK(path, fn) \
  { (path), (fn), cx_test_vclock_setup, cx_test_vclock_teardown, NULL }

/* A generous bound for waiting on something the library's threads do:
 * @seconds, but at most 5 under the sweep's injection (CX_ALLOC_FAIL=K),
 * where a failed allocation may make it never happen, as documented (a
 * cancel time lost for good, for one). */
double cx_test_patience(double seconds);

/* Waits until the library's service threads are idle: the timers due now
 * have fired, the condition checks and other jobs queued on the workers
 * have run, the signal dispatcher has dispatched every signal its handler
 * took and the completion thread has finished every signal-safe cancel
 * (the internal cx__quiesce()).  On the virtual clock, after
 * cx_clock_advance() it makes "nothing happened" exact: what the advance
 * caused is over.  Fails the test if a service thread stays busy (a
 * blocked predicate) for 60 s.  Only in executables linked with
 * cancelable_static (cx_add_test_executable(... LIBRARY cancelable_static)). */
#define cx_test_quiesce() cx_test_quiesce_at(__FILE__, __LINE__)
void cx_test_quiesce_at(const char *file, int line);

/* cx_clock_advance(@seconds) (which fails the test on error), then
 * cx_test_quiesce().  The same library restriction. */
#define cx_test_advance(seconds) \
  cx_test_advance_at((seconds), __FILE__, __LINE__)
void cx_test_advance_at(double seconds, const char *file, int line);

/* Seconds on CLOCK_MONOTONIC, for generous bounds in real-time tests. */
double cx_test_now(void);

/* Seconds since the Unix epoch on CLOCK_REALTIME (the clock of cancel and
 * operation times). */
double cx_test_wall_now(void);

/* Joins @th, waiting at most @seconds (real time); stores its result in
 * *@ret unless NULL.  False when it had not ended by then (a hang). */
bool cx_test_join_within(pthread_t th, double seconds, void **ret);

/* Sleep @seconds of real time. */
void cx_test_sleep(double seconds);

#endif /* CX_TEST_H */
