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

/* One named test: CX_TEST("/token/cancel/first-wins", test_fn). */
#define CX_TEST(path, fn) \
  { (path), (fn), NULL, NULL, NULL }

/* Assert that a libcancelable call returned the error @expected (a negative
 * errno); prints both codes by name on failure. */
#define CX_ASSERT_ERR(expected, actual) \
  cx_test_assert_err((expected), (actual), __FILE__, __LINE__)

/* Assert that a call returned 0. */
#define CX_ASSERT_OK(actual) CX_ASSERT_ERR(0, (actual))

void cx_test_assert_err(int expected, int actual, const char *file, int line);

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
