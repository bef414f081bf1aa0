/* tests/unit/test_token_timeout.c - cx_token_with_timeout(): the token
 * cancels itself with reason TIMEOUT when its delay passes (virtual clock:
 * not a nanosecond early), its last unref disarms the timer, a cancel by
 * someone else wins, links and callbacks see the timer's cancel, bad input
 * changes nothing, out of memory is reported, a token whose last reference
 * is dropped by its own timer's cancel is freed once, on the timer thread,
 * and tokens freed while their timers fire are each freed exactly once
 * (each holds the only reference to a witness token whose freeing is
 * counted; under the sanitizers also: without a use after free).
 * A timed token makes the parts a plain token is born with (lists,
 * message, time, id, fd) on first need: every one of them works, out of
 * memory they fail cleanly and a cancel still happens, and a signal-safe
 * cancel of a token without them still records its message and time.
 * Linked against the static library for the armed-timer count and the
 * allocation failure hook.  Issue #8 (the lightweight timeout scope). */
#include "cx_test.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cancelable.h>

/* Internal (static library). */
#include "runtime/alloc.h"
#include "runtime/timer.h"

static void test_fires_at_deadline(void **state) {
  cx_token *t = NULL;
  (void)state;
  CX_ASSERT_OK(cx_token_with_timeout(&t, 2.0));
  assert_non_null(t);
  assert_int_equal(cx__timer_armed_count(), 1);
  CX_ASSERT_OK(cx_clock_advance(1.999));
  assert_false(cx_token_is_cancelled(t)); /* never early */
  CX_ASSERT_OK(cx_clock_advance(0.001));
  assert_true(cx_token_is_cancelled(t)); /* advance fires before returning */
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_TIMEOUT);
  assert_string_equal(cx_token_cancel_message(t), "timed out after 2 s");
  assert_int_equal(cx__timer_armed_count(), 0);
  cx_token_unref(t);
}

/* A positive delay too small for a float (1e-46 s rounds to 0.0f) is an
 * ordinary timed token, not the variant with a caller's message, which a
 * 0 once marked: firing and freeing it read past the block (ASan). */
static void test_tiny_delay(void **state) {
  cx_token *t = NULL;
  (void)state;
  CX_ASSERT_OK(cx_token_with_timeout(&t, 1e-46));
  CX_ASSERT_OK(cx_clock_advance(0.001));
  assert_true(cx_token_is_cancelled(t));
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_TIMEOUT);
  assert_string_equal(cx_token_cancel_message(t), "timed out after 0 s");
  cx_token_unref(t);
}

static void test_unref_disarms(void **state) {
  cx_token *a = NULL, *b = NULL;
  (void)state;
  CX_ASSERT_OK(cx_token_with_timeout(&a, 1.0));
  CX_ASSERT_OK(cx_token_with_timeout(&b, 0.25));
  assert_int_equal(cx__timer_armed_count(), 2);
  cx_token_unref(a);
  assert_int_equal(cx__timer_armed_count(), 1);
  CX_ASSERT_OK(cx_clock_advance(5.0)); /* a's timer must not fire freed */
  assert_true(cx_token_is_cancelled(b));
  assert_string_equal(cx_token_cancel_message(b), "timed out after 0.25 s");
  cx_token_unref(b);
  assert_int_equal(cx__timer_armed_count(), 0);
}

static void test_other_cancel_wins(void **state) {
  cx_token *t = NULL;
  (void)state;
  CX_ASSERT_OK(cx_token_with_timeout(&t, 1.0));
  assert_true(cx_token_cancel(t, CX_REASON_MANUAL, "user"));
  CX_ASSERT_OK(cx_clock_advance(2.0));
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_MANUAL);
  assert_string_equal(cx_token_cancel_message(t), "user");
  assert_int_equal(cx__timer_armed_count(), 0);
  cx_token_unref(t);
}

typedef struct seen {
  atomic_int calls;
  pthread_t thread;
} seen;

static int record(cx_token *t, void *user_data) {
  seen *s = user_data;
  (void)t;
  s->thread = pthread_self();
  atomic_fetch_add(&s->calls, 1);
  return 0;
}

static void test_links_and_callbacks(void **state) {
  cx_token *t = NULL, *child = cx_token_new();
  seen s = {0};
  (void)state;
  CX_ASSERT_OK(cx_token_with_timeout(&t, 0.5));
  CX_ASSERT_OK(cx_token_link(child, t, 0));
  CX_ASSERT_OK(cx_token_on_cancel(t, record, &s, NULL, 0, NULL));
  CX_ASSERT_OK(cx_clock_advance(0.5));
  assert_int_equal(atomic_load(&s.calls), 1);
  assert_false(pthread_equal(s.thread, pthread_self())); /* timer thread */
  assert_true(cx_token_is_cancelled(child));
  assert_int_equal(cx_token_cancel_reason(child), CX_REASON_PARENT);
  cx_token_unref(t); /* the child keeps its source alive */
  cx_token_unref(child);
}

static atomic_int freed;

static void count_free(void *user_data) {
  (void)user_data;
  atomic_fetch_add(&freed, 1);
}

static int no_op(cx_token *t, void *user_data) {
  (void)t;
  (void)user_data;
  return 0;
}

/* Makes @t hold the only reference to a fresh witness token (through a
 * link from it), whose callback's destroy notify counts in `freed` when the
 * witness is freed: the count rises exactly when @t is freed. */
static int watch_free(cx_token *t) {
  cx_token *w = cx_token_new();
  int rc;
  if (w == NULL) return -ENOMEM;
  rc = cx_token_on_cancel(w, no_op, NULL, count_free, 0, NULL);
  if (rc == 0) rc = cx_token_link(t, w, 0);
  cx_token_unref(w);
  return rc;
}

/* Drops the reference handed over in @user_data (the owner's). */
static int drop_owner(cx_token *t, void *user_data) {
  (void)t;
  cx_token_unref(user_data);
  return 0;
}

static void test_fire_drops_last_reference(void **state) {
  cx_token *t = NULL;
  (void)state;
  atomic_store(&freed, 0);
  CX_ASSERT_OK(cx_token_with_timeout(&t, 1.0));
  CX_ASSERT_OK(watch_free(t));
  CX_ASSERT_OK(cx_token_on_cancel(t, drop_owner, t, NULL, 0, NULL));
  CX_ASSERT_OK(cx_clock_advance(0.999));
  assert_int_equal(atomic_load(&freed), 0);
  CX_ASSERT_OK(cx_clock_advance(0.001));
  /* The callback dropped the owner's reference while the timer's fire held
   * its own: the fire's unref freed the token on the timer thread, and the
   * timer service did not touch the block afterwards. */
  assert_int_equal(atomic_load(&freed), 1);
  assert_int_equal(cx__timer_armed_count(), 0);
}

/* The parts a timed token makes on first need work as a plain token's. */
static void test_lazy_parts(void **state) {
  cx_token *t = NULL, *parent = cx_token_new();
  const char *id;
  struct pollfd pfd;
  (void)state;
  CX_ASSERT_OK(cx_token_with_timeout(&t, 10.0));
  id = cx_token_id(t);
  assert_non_null(id);
  assert_int_equal(strlen(id), CX_ID_LEN);
  assert_ptr_equal(cx_token_id(t), id); /* made once */
  pfd.fd = cx_token_fd(t);
  assert_true(pfd.fd >= 0);
  pfd.events = POLLIN;
  assert_int_equal(poll(&pfd, 1, 0), 0);
  CX_ASSERT_OK(cx_token_link(t, parent, 0)); /* as a target */
  assert_true(cx_token_cancel(parent, CX_REASON_MANUAL, "bye"));
  assert_true(cx_token_is_cancelled(t));
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_PARENT);
  assert_string_equal(cx_token_cancel_message(t),
                      "parent cancelled (manual): bye");
  assert_true(cx_token_cancel_time(t) > 0);
  assert_true(cx_token_cancel_time(t) == cx_token_cancel_time(parent));
  assert_int_equal(poll(&pfd, 1, 0), 1);
  cx_token_unref(t);
  cx_token_unref(parent);
  assert_int_equal(cx__timer_armed_count(), 0);
}

/* The timer's own cancel records a time; a user's cancel keeps its text. */
static void test_fire_records_time(void **state) {
  cx_token *t = NULL, *u = NULL;
  double before = cx_test_wall_now();
  (void)state;
  CX_ASSERT_OK(cx_token_with_timeout(&t, 1.0));
  CX_ASSERT_OK(cx_token_with_timeout(&u, 1.0));
  assert_true(cx_token_cancel(u, CX_REASON_ERROR, "disk full"));
  CX_ASSERT_OK(cx_clock_advance(1.0));
  assert_true(cx_token_cancel_time(t) >= before);
  assert_true(cx_token_cancel_time(u) >= before);
  assert_string_equal(cx_token_cancel_message(u), "disk full");
  assert_int_equal(cx_token_cancel_reason(u), CX_REASON_ERROR);
  cx_token_unref(t);
  cx_token_unref(u);
}

/* Out of memory: what needs the parts fails and changes nothing; a cancel
 * still cancels (its text and time are what is lost). */
static void test_lazy_parts_out_of_memory(void **state) {
  cx_token *t = NULL, *other = cx_token_new();
  seen s = {0};
  (void)state;
  CX_ASSERT_OK(cx_token_with_timeout(&t, 1.0));
  cx__alloc_fail_after(0, true);
  CX_ASSERT_ERR(-ENOMEM, cx_token_fd(t));
  assert_null(cx_token_id(t));
  CX_ASSERT_ERR(-ENOMEM, cx_token_on_cancel(t, record, &s, NULL, 0, NULL));
  CX_ASSERT_ERR(-ENOMEM, cx_token_link(t, other, 0));
  CX_ASSERT_ERR(-ENOMEM, cx_token_link(other, t, 0));
  assert_true(cx_token_cancel(t, CX_REASON_MANUAL, "text"));
  cx__alloc_fail_after(-1, false);
  assert_true(cx_token_is_cancelled(t));
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_MANUAL);
  assert_string_equal(cx_token_cancel_message(t),
                      "(message lost: out of memory)");
  assert_true(cx_token_cancel_time(t) == 0.0);
  assert_false(cx_token_is_cancelled(other)); /* the failed link did not */
  assert_true(cx_token_cancel(other, CX_REASON_MANUAL, NULL));
  assert_int_equal(atomic_load(&s.calls), 0);
  cx_token_unref(t);
  cx_token_unref(other);
  assert_int_equal(cx__timer_armed_count(), 0);
}

/* A signal-safe cancel of a timed token that has made none of its parts:
 * the fixed message at once, the time once the completion thread ran. */
static void test_signal_safe_cancel(void **state) {
  cx_token *t = NULL;
  double before = cx_test_wall_now(), end;
  (void)state;
  CX_ASSERT_OK(cx_signal_safe_prepare());
  CX_ASSERT_OK(cx_token_with_timeout(&t, 60.0));
  assert_int_equal(cx_token_cancel_signal_safe(t, CX_REASON_SIGNAL), 1);
  assert_true(cx_token_is_cancelled(t));
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_SIGNAL);
  assert_string_equal(cx_token_cancel_message(t),
                      "cancelled from a signal handler");
  /* (Out of memory there, the time stays 0.0 for good.) */
  for (end = cx_test_now() + cx_test_patience(30.0);
       cx_token_cancel_time(t) == 0.0 && cx_test_now() < end;)
    cx_test_sleep(0.001);
  assert_true(cx_token_cancel_time(t) >= before);
  assert_true(cx_token_cancel_time(t) <= cx_test_wall_now());
  CX_ASSERT_OK(cx_token_wait(t, 0));
  cx_token_unref(t);
}

/* A token linked under such a token at once reports the origin's time when
 * it is recorded (it copied a 0.0 at its own cancel).  Repeated: the link
 * usually lands before the completion thread has run. */
static void test_signal_safe_cancel_cascade_time(void **state) {
  (void)state;
  CX_ASSERT_OK(cx_signal_safe_prepare());
  for (int i = 0; i < 50; i++) {
    cx_token *t = NULL, *child = NULL;
    double end;
    CX_ASSERT_OK(cx_token_with_timeout(&t, 60.0));
    assert_int_equal(cx_token_cancel_signal_safe(t, CX_REASON_SIGNAL), 1);
    CX_ASSERT_OK(cx_token_new_child(&child, t, 0));
    assert_true(cx_token_is_cancelled(child));
    assert_int_equal(cx_token_cancel_reason(child), CX_REASON_PARENT);
    for (end = cx_test_now() + cx_test_patience(30.0);
         cx_token_cancel_time(t) == 0.0 && cx_test_now() < end;)
      cx_test_sleep(0.0001);
    assert_true(cx_token_cancel_time(t) > 0.0);
    assert_true(cx_token_cancel_time(child) == cx_token_cancel_time(t));
    cx_token_unref(child);
    cx_token_unref(t);
  }
}

static void test_bad_input(void **state) {
  const double bad[] = {0.0, -1.0, NAN, INFINITY, -INFINITY};
  cx_token *t = cx_token_new(); /* must be overwritten with NULL */
  cx_token *keep = t;
  (void)state;
  CX_ASSERT_ERR(-EINVAL, cx_token_with_timeout(NULL, 1.0));
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    t = keep;
    CX_ASSERT_ERR(-EINVAL, cx_token_with_timeout(&t, bad[i]));
    assert_null(t);
  }
  assert_int_equal(cx__timer_armed_count(), 0);
  cx_token_unref(keep);
}

static void test_out_of_memory(void **state) {
  cx_token *t = NULL;
  (void)state;
  cx__alloc_fail_after(0, false);
  CX_ASSERT_ERR(-ENOMEM, cx_token_with_timeout(&t, 1.0));
  cx__alloc_fail_after(-1, false);
  assert_null(t);
  assert_int_equal(cx__timer_armed_count(), 0);
}

static void test_real_clock(void **state) {
  cx_token *t = NULL;
  double t0 = cx_test_now(), dt;
  (void)state;
  CX_ASSERT_OK(cx_token_with_timeout(&t, 0.2));
  CX_ASSERT_OK(cx_token_wait(t, 30.0));
  dt = cx_test_now() - t0;
  assert_true(dt >= 0.2 - 1e-3); /* not early (generous bound above) */
  assert_true(dt < 30.0);
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_TIMEOUT);
  cx_token_unref(t);
}

/* Threads make tokens with delays of 0-200 us and drop them at once or
 * after waiting, so last unrefs race the timer thread's fires. */
enum { RACE_THREADS = 4, RACE_TOKENS = 3000 };
static atomic_int race_fired;

static int count_fire(cx_token *t, void *user_data) {
  (void)t;
  (void)user_data;
  atomic_fetch_add(&race_fired, 1);
  return 0;
}

static void *race_worker(void *arg) {
  unsigned x = (unsigned)(uintptr_t)arg * 2654435761u + 1;
  int fired = 0;
  for (int i = 0; i < RACE_TOKENS; i++) {
    cx_token *t = NULL;
    x = x * 1103515245u + 12345u;
    if (cx_token_with_timeout(&t, 1e-6 + (x >> 16) % 200 * 1e-6) != 0)
      return (void *)(intptr_t)-1;
    if (watch_free(t) != 0 ||
        cx_token_on_cancel(t, count_fire, NULL, NULL, 0, NULL) < 0) {
      cx_token_unref(t); /* out of memory */
      return (void *)(intptr_t)-1;
    }
    if (i % 3 == 0) {
      if (cx_token_wait(t, 30.0) != 0) return (void *)(intptr_t)-1;
      fired++;
    }
    cx_token_unref(t);
  }
  return (void *)(intptr_t)fired;
}

static void test_race_unref_and_fire(void **state) {
  pthread_t th[RACE_THREADS];
  int waited = 0;
  (void)state;
  atomic_store(&freed, 0);
  atomic_store(&race_fired, 0);
  for (uintptr_t i = 0; i < RACE_THREADS; i++)
    assert_int_equal(pthread_create(&th[i], NULL, race_worker, (void *)i), 0);
  for (int i = 0; i < RACE_THREADS; i++) {
    void *rc;
    assert_int_equal(pthread_join(th[i], &rc), 0);
    assert_int_equal((intptr_t)rc, (RACE_TOKENS + 2) / 3);
    waited += (int)(intptr_t)rc;
  }
  assert_int_equal(cx__timer_armed_count(), 0);
  /* Every token freed exactly once: a token whose owner let go while its
   * timer fired is freed by that fire, on the timer thread, so allow it a
   * moment to finish.  Every waited-for one fired (a token dropped at once
   * may or may not have fired first). */
  for (double end = cx_test_now() + 30.0;
       atomic_load(&freed) < RACE_THREADS * RACE_TOKENS && cx_test_now() < end;)
    cx_test_sleep(0.001);
  assert_int_equal(atomic_load(&freed), RACE_THREADS * RACE_TOKENS);
  assert_true(atomic_load(&race_fired) >= waited);
  assert_true(atomic_load(&race_fired) <= RACE_THREADS * RACE_TOKENS);
}

static const struct CMUnitTest tests[] = {
    CX_TEST_VCLOCK("/token/timeout/fires-at-deadline", test_fires_at_deadline),
    CX_TEST_VCLOCK("/token/timeout/tiny-delay", test_tiny_delay),
    CX_TEST_VCLOCK("/token/timeout/unref-disarms", test_unref_disarms),
    CX_TEST_VCLOCK("/token/timeout/other-cancel-wins", test_other_cancel_wins),
    CX_TEST_VCLOCK("/token/timeout/links-and-callbacks",
                   test_links_and_callbacks),
    CX_TEST_VCLOCK("/token/timeout/fire-drops-last-reference",
                   test_fire_drops_last_reference),
    CX_TEST_VCLOCK("/token/timeout/lazy-parts", test_lazy_parts),
    CX_TEST_VCLOCK("/token/timeout/fire-records-time", test_fire_records_time),
    CX_TEST("/token/timeout/lazy-parts-out-of-memory",
            test_lazy_parts_out_of_memory),
    CX_TEST("/token/timeout/signal-safe-cancel", test_signal_safe_cancel),
    CX_TEST("/token/timeout/signal-safe-cancel-cascade-time",
            test_signal_safe_cancel_cascade_time),
    CX_TEST("/token/timeout/bad-input", test_bad_input),
    CX_TEST("/token/timeout/out-of-memory", test_out_of_memory),
    CX_TEST("/token/timeout/real-clock", test_real_clock),
    CX_TEST("/token/timeout/race-unref-and-fire", test_race_unref_and_fire),
};

CX_TEST_MAIN("token-timeout", tests)
