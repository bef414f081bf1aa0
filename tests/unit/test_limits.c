/* tests/unit/test_limits.c - bounds the headers state, found by calling
 * every public function with extreme input (issue 13, defects 1, 7, 8):
 *  - cx_poll() with a count poll(2) would refuse gives -EINVAL and touches
 *    nothing (SIZE_MAX and 2^61 used to wrap and crash);
 *  - a sleep longer than 9.2e9 s, or infinite, has no end but the cancel,
 *    and a cancelled op reports the cancel whatever the length;
 *  - cx_registry_prune() takes +inf as "no age limit";
 *  - the virtual clock stops at its end instead of wrapping;
 *  - a positive interval or timeout under 1 ns counts as 1 ns;
 *  - cx_scope_end(NULL) does nothing. */
#include "cx_test.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include <cancelable.h>

static void test_poll_huge_count(void **state) {
  cx_op *op = cx_test_entered_op("poll", NULL, 0);
  struct pollfd pfd[2] = {{.fd = -1, .events = POLLIN, .revents = 77},
                          {.fd = -1, .events = POLLIN, .revents = 77}};
  (void)state;
  CX_ASSERT_ERR(-EINVAL, cx_poll(op, pfd, (nfds_t)SIZE_MAX, 0));
  CX_ASSERT_ERR(-EINVAL, cx_poll(op, pfd, (nfds_t)1 << 61, 0));
  CX_ASSERT_ERR(-EINVAL, cx_poll(NULL, pfd, (nfds_t)1 << 61, 0));
  /* Nothing was written. */
  assert_int_equal(pfd[0].revents, 77);
  assert_int_equal(pfd[1].revents, 77);
  /* The op still works: a real poll. */
  pfd[0].revents = 0;
  CX_ASSERT_ERR(-ETIMEDOUT, cx_poll(op, pfd, 1, 0.01));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
}

static void test_sleep_huge_on_cancelled(void **state) {
  cx_op *op = cx_test_entered_op("sleep", NULL, 0);
  (void)state;
  assert_true(cx_op_cancel(op, CX_REASON_MANUAL, NULL));
  CX_ASSERT_ERR(-ECANCELED, cx_sleep(op, 1e300));
  CX_ASSERT_ERR(-ECANCELED, cx_sleep(op, INFINITY));
  CX_ASSERT_ERR(-ECANCELED, cx_sleep(op, 9.3e9));
  /* Bad input is still bad input. */
  CX_ASSERT_ERR(-EINVAL, cx_sleep(op, NAN));
  CX_ASSERT_ERR(-EINVAL, cx_sleep(op, -1));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
}

static void test_prune_infinite_age(void **state) {
  cx_op *op = NULL;
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_registry_stats st;
  (void)state;
  cx_registry_clear();
  o.register_op = true;
  CX_ASSERT_OK(cx_op_create(&op, &o));
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
  assert_int_equal(cx_registry_prune(INFINITY, 0, 0), 0); /* none too old */
  CX_ASSERT_OK(cx_registry_get_stats(&st));
  assert_int_equal(st.history, 1);
  assert_int_equal(cx_registry_prune(-INFINITY, 0, 0), -EINVAL);
  assert_int_equal(cx_registry_prune(NAN, 0, 0), -EINVAL);
  assert_int_equal(cx_registry_prune(0, 0, 0), 0);
  cx_registry_clear();
}

static void test_clock_saturates(void **state) {
  (void)state;
  /* The test runs on the virtual clock (setup). */
  CX_ASSERT_ERR(-EINVAL, cx_clock_advance(1e300));
  CX_ASSERT_ERR(-EINVAL, cx_clock_advance(INFINITY));
  for (int i = 0; i < 3; i++) CX_ASSERT_OK(cx_clock_advance(9.2e9));
  /* Stopped at its end: still later than any earlier reading, never
   * negative. */
  assert_true(cx_now() > 9.2e9);
  CX_ASSERT_OK(cx_clock_advance(1));
  assert_true(cx_now() > 9.2e9);
}

static int never(void *user_data) {
  (void)user_data;
  return 0;
}

static void test_tiny_durations(void **state) {
  cx_source *src = NULL;
  cx_token *t = NULL;
  (void)state;
  CX_ASSERT_OK(cx_source_condition(&src, never, NULL, NULL, 1e-12, "tiny"));
  cx_source_free(src);
  CX_ASSERT_OK(cx_source_timeout(&src, 1e-300));
  cx_source_free(src);
  CX_ASSERT_OK(cx_token_with_timeout(&t, 1e-12));
  assert_int_equal(cx_token_wait(t, 30), 0); /* fires: 1 ns */
  cx_token_unref(t);
  CX_ASSERT_ERR(-EINVAL, cx_source_timeout(&src, 9.3e9));
  CX_ASSERT_ERR(-EINVAL,
                cx_source_condition(&src, never, NULL, NULL, -1e-12, "neg"));
  /* 0 is the default interval, not an error (issue 17 item 8) */
  CX_ASSERT_OK(cx_source_condition(&src, never, NULL, NULL, 0, "zero"));
  cx_source_free(src);
}

static void test_scope_end_null(void **state) {
  (void)state;
  cx_scope_end(NULL); /* does nothing, does not crash */
  assert_null(cx_current());
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/limits/poll/huge-count", test_poll_huge_count),
    CX_TEST("/limits/sleep/huge-on-cancelled", test_sleep_huge_on_cancelled),
    CX_TEST("/limits/registry/prune-infinite-age", test_prune_infinite_age),
    CX_TEST_VCLOCK("/limits/clock/saturates", test_clock_saturates),
    CX_TEST("/limits/durations/tiny", test_tiny_durations),
    CX_TEST("/limits/scope-end-null", test_scope_end_null),
};

CX_TEST_MAIN("limits", tests)
