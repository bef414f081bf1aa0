/* tests/common/cx_test.c - see cx_test.h. */
#define _GNU_SOURCE /* pthread_timedjoin_np */
#include "cx_test.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cancelable.h>

void cx_test_assert_err(int expected, int actual, const char *file, int line) {
  if (expected == actual) return;
  print_error("expected %d (%s), got %d (%s)\n", expected,
              cx_err_name(expected), actual, cx_err_name(actual));
  _fail(file, line);
}

int cx_test_main(int argc, char **argv, const char *group,
                 const struct CMUnitTest *tests, size_t count) {
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
