/* tests/unit/test_blocking.c - run a blocking call until cancelled (tokio's
 * run_until_cancelled), issue #21: the call's result comes back when it
 * returns first, on a thread other than the caller's, after its destroy
 * notify ran; a cancel from another thread, a timeout or a parent's cancel
 * returns -ECANCELED at once while the call goes on, its destroy running
 * when it returns; an already cancelled token runs nothing and destroys
 * the argument; NULL op means the current one; bad input gives -EINVAL and
 * destroys nothing; out of memory gives -ENOMEM, destroys, runs nothing; a
 * race of many calls against cancels destroys every argument exactly once
 * (TSan, ASan).
 */
#include "cx_test.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <cancelable.h>

/* Internal (static library). */
#include "runtime/alloc.h"

typedef struct call {
  cx_token *gate;    /* (nullable) the call waits for it (30 s at most) */
  int result;        /* what it returns */
  pthread_t caller;  /* the test's thread */
  _Atomic int ran;   /* calls of fn */
  _Atomic int other; /* fn ran on another thread */
  _Atomic int destroyed;
  cx_token *gone; /* cancelled by destroy */
} call;

static call *call_new(int result, bool gated) {
  call *c = calloc(1, sizeof *c);
  assert_non_null(c);
  c->result = result;
  c->caller = pthread_self();
  c->gate = gated ? cx_token_new() : NULL;
  c->gone = cx_token_new();
  return c;
}

static void call_free(call *c) {
  cx_token_unref(c->gate);
  cx_token_unref(c->gone);
  free(c);
}

static int blocking(void *p) {
  call *c = p;
  atomic_fetch_add(&c->ran, 1);
  if (!pthread_equal(pthread_self(), c->caller)) atomic_store(&c->other, 1);
  if (c->gate != NULL) cx_token_wait(c->gate, 30.0);
  return c->result;
}

static void destroy(void *p) {
  call *c = p;
  /* Our own reference: the test frees @c once the cancel is seen. */
  cx_token *gone = cx_token_ref(c->gone);
  atomic_fetch_add(&c->destroyed, 1);
  cx_token_cancel(gone, CX_REASON_MANUAL, NULL);
  cx_token_unref(gone);
}

/* Waits (30 s at most) for @c's destroy notify. */
static void wait_destroyed(call *c) {
  CX_ASSERT_OK(cx_token_wait(c->gone, 30.0));
  assert_int_equal(atomic_load(&c->destroyed), 1);
}

static void test_returns_first(void **state) {
  cx_token *t = cx_token_new();
  call *c = call_new(42, false);
  (void)state;
  assert_int_equal(cx_token_run_until_cancelled(t, blocking, c, destroy), 42);
  assert_int_equal(atomic_load(&c->ran), 1);
  assert_int_equal(atomic_load(&c->other), 1);
  assert_int_equal(atomic_load(&c->destroyed), 1); /* before the return */
  assert_false(cx_token_is_cancelled(t));
  assert_int_equal(cx_token_run_until_cancelled(t, blocking, c, NULL), 42);
  cx_token_unref(t);
  call_free(c);
}

typedef struct delayed_cancel {
  cx_token *token;
  double after;
} delayed_cancel;

static void *cancel_later(void *p) {
  delayed_cancel *d = p;
  cx_test_sleep(d->after);
  cx_token_cancel(d->token, CX_REASON_MANUAL, "stop");
  return NULL;
}

static void test_cancel_from_another_thread(void **state) {
  cx_token *t = cx_token_new();
  call *c = call_new(7, true);
  delayed_cancel d = {t, 0.05};
  pthread_t th;
  double t0;
  (void)state;
  assert_int_equal(pthread_create(&th, NULL, cancel_later, &d), 0);
  t0 = cx_test_now();
  CX_ASSERT_ERR(-ECANCELED,
                cx_token_run_until_cancelled(t, blocking, c, destroy));
  assert_true(cx_test_now() - t0 < 20.0); /* not the call's 30 s */
  assert_true(cx_test_join_within(th, 30.0, NULL));
  /* The call goes on in the background, its argument still its own. */
  assert_int_equal(atomic_load(&c->ran), 1);
  assert_int_equal(atomic_load(&c->destroyed), 0);
  cx_token_cancel(c->gate, CX_REASON_MANUAL, NULL); /* it returns now */
  wait_destroyed(c);
  cx_token_unref(t);
  call_free(c);
}

static void test_already_cancelled(void **state) {
  cx_token *t = cx_token_new();
  call *c = call_new(0, false);
  (void)state;
  cx_token_cancel(t, CX_REASON_MANUAL, NULL);
  CX_ASSERT_ERR(-ECANCELED,
                cx_token_run_until_cancelled(t, blocking, c, destroy));
  assert_int_equal(atomic_load(&c->ran), 0);
  assert_int_equal(atomic_load(&c->destroyed), 1); /* in the caller */
  CX_ASSERT_ERR(-ECANCELED, cx_token_run_until_cancelled(t, blocking, c, NULL));
  cx_token_unref(t);
  call_free(c);
}

/* The op form: its timeout (real time, short) and the current op. */
static void test_op_timeout(void **state) {
  cx_op *op = cx_test_entered_op("lookup", NULL, 0.05);
  call *c = call_new(0, true);
  (void)state;
  CX_ASSERT_ERR(-ECANCELED, cx_run_until_cancelled(NULL, blocking, c, destroy));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_token_cancel(c->gate, CX_REASON_MANUAL, NULL);
  wait_destroyed(c);
  cx_op_unref(op);
  call_free(c);
}

/* A parent's cancel reaches the child op's wait. */
static void test_op_parent(void **state) {
  cx_op *parent = cx_test_entered_op("parent", NULL, 0);
  cx_op *child = cx_test_entered_op("child", parent, 0);
  call *c = call_new(0, true);
  delayed_cancel d = {cx_op_token(parent), 0.05};
  pthread_t th;
  (void)state;
  assert_int_equal(pthread_create(&th, NULL, cancel_later, &d), 0);
  CX_ASSERT_ERR(-ECANCELED,
                cx_run_until_cancelled(child, blocking, c, destroy));
  assert_true(cx_test_join_within(th, 30.0, NULL));
  assert_int_equal(cx_op_cancel_reason(child), CX_REASON_PARENT);
  CX_ASSERT_OK(cx_op_exit(child, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(parent, -ECANCELED));
  cx_token_cancel(c->gate, CX_REASON_MANUAL, NULL);
  wait_destroyed(c);
  cx_op_unref(child);
  cx_op_unref(parent);
  call_free(c);
}

static void test_bad(void **state) {
  cx_token *t = cx_token_new();
  call *c = call_new(0, false);
  (void)state;
  CX_ASSERT_ERR(-EINVAL,
                cx_token_run_until_cancelled(NULL, blocking, c, destroy));
  CX_ASSERT_ERR(-EINVAL, cx_token_run_until_cancelled(t, NULL, c, destroy));
  CX_ASSERT_ERR(-EINVAL, cx_run_until_cancelled(NULL, blocking, c, destroy));
  CX_ASSERT_ERR(-EINVAL, cx_run_until_cancelled(NULL, NULL, c, destroy));
  assert_int_equal(atomic_load(&c->ran), 0);
  assert_int_equal(atomic_load(&c->destroyed), 0);
  assert_false(cx_token_is_cancelled(t));
  cx_token_unref(t);
  call_free(c);
}

static void test_out_of_memory(void **state) {
  cx_token *t = cx_token_new();
  (void)state;
  for (long n = 0; n < 2; n++) {
    call *c = call_new(0, false);
    cx__alloc_fail_after(n, false);
    CX_ASSERT_ERR(-ENOMEM,
                  cx_token_run_until_cancelled(t, blocking, c, destroy));
    cx__alloc_fail_after(-1, false);
    assert_int_equal(atomic_load(&c->ran), 0);
    assert_int_equal(atomic_load(&c->destroyed), 1);
    call_free(c);
  }
  cx_token_unref(t);
}

/* Many calls that return at once, raced by cancels from another thread:
 * each returns its result or -ECANCELED, and each argument is destroyed
 * exactly once. */
enum { RACE_CALLS = 200 };

typedef struct race {
  cx_token *tokens[RACE_CALLS];
  _Atomic int next; /* calls started */
} race;

static void *race_canceller(void *p) {
  race *r = p;
  for (int i = 0; i < RACE_CALLS; i++) {
    while (atomic_load(&r->next) <= i) sched_yield();
    cx_token_cancel(r->tokens[i], CX_REASON_MANUAL, NULL);
  }
  return NULL;
}

static void test_race(void **state) {
  race r;
  call *calls[RACE_CALLS];
  pthread_t th;
  int results = 0, cancels = 0;
  (void)state;
  atomic_init(&r.next, 0);
  for (int i = 0; i < RACE_CALLS; i++) {
    r.tokens[i] = cx_token_new();
    calls[i] = call_new(i + 1, false);
  }
  assert_int_equal(pthread_create(&th, NULL, race_canceller, &r), 0);
  for (int i = 0; i < RACE_CALLS; i++) {
    int rc;
    atomic_store(&r.next, i + 1);
    rc = cx_token_run_until_cancelled(r.tokens[i], blocking, calls[i], destroy);
    if (rc == -ECANCELED) {
      cancels++;
    } else {
      assert_int_equal(rc, i + 1);
      assert_int_equal(atomic_load(&calls[i]->destroyed), 1);
      results++;
    }
  }
  assert_true(cx_test_join_within(th, 30.0, NULL));
  for (int i = 0; i < RACE_CALLS; i++) {
    wait_destroyed(calls[i]);
    assert_true(atomic_load(&calls[i]->ran) <= 1);
    cx_token_unref(r.tokens[i]);
    call_free(calls[i]);
  }
  assert_int_equal(results + cancels, RACE_CALLS);
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/blocking/returns-first", test_returns_first),
    CX_TEST("/blocking/cancel-from-another-thread",
            test_cancel_from_another_thread),
    CX_TEST("/blocking/already-cancelled", test_already_cancelled),
    CX_TEST("/blocking/op/timeout", test_op_timeout),
    CX_TEST("/blocking/op/parent", test_op_parent),
    CX_TEST("/blocking/bad", test_bad),
    CX_TEST("/blocking/out-of-memory", test_out_of_memory),
    CX_TEST("/blocking/race", test_race),
};

CX_TEST_MAIN("blocking", tests)
