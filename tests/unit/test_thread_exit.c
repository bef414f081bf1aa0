/* tests/unit/test_thread_exit.c - a thread that ends inside operations
 * (issue 13, defect 4; docs/guide.md "Thread exit"): at its exit each op left
 * entered is ended (FAILED with -EOWNERDEAD, or CANCELLED if it was
 * cancelled), innermost first, its sources stop (a timeout no longer
 * fires, a signal's disposition is restored), it leaves the registry, its
 * status callbacks run once, a warning is logged, adoptions drop their
 * reference and an open shield is released (LeakSanitizer checks the
 * frees under ASan: the shield's handle is dropped on purpose).  Works
 * past the inline depth of the thread's stack.  A thread cancelled
 * (pthread_cancel) inside cx_cond_wait() leaves no cancel callback behind
 * that points into its gone stack. */
#include "cx_test.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include <cancelable.h>

static atomic_int warnings;

static void count_warnings(cx_log_level level, const char *op_id,
                           const char *message, void *user_data) {
  (void)op_id;
  (void)user_data;
  if (level == CX_LOG_WARNING && strstr(message, "thread exited") != NULL)
    atomic_fetch_add(&warnings, 1);
}

static void count_event(cx_op *op, void *user_data) {
  (void)op;
  atomic_fetch_add((atomic_int *)user_data, 1);
}

static size_t live_registered(void) {
  cx_op_list l = {NULL, 0};
  size_t n;
  CX_ASSERT_OK(cx_registry_list(NULL, &l));
  n = l.count;
  cx_op_list_free(&l);
  return n;
}

/* ---- one op left RUNNING, with a timeout, a signal source, registered */

typedef struct left {
  cx_op *op;
  bool cancel_first;
  bool use_pthread_exit;
} left;

static void *enter_and_leave(void *p) {
  left *l = p;
  CX_ASSERT_OK(cx_op_enter(l->op));
  if (l->cancel_first) cx_op_cancel(l->op, CX_REASON_MANUAL, "bye");
  if (l->use_pthread_exit) pthread_exit(NULL);
  return NULL; /* without cx_op_exit() */
}

static cx_op *op_with_sources(atomic_int *errors, atomic_int *cancels) {
  cx_op *op = NULL;
  cx_source *sig = NULL;
  cx_op_options o = CX_OP_OPTIONS_INIT;
  int signals[] = {SIGUSR2};
  o.register_op = true;
  o.timeout = 5;
  o.name = "left-behind";
  CX_ASSERT_OK(cx_op_create(&op, &o));
  CX_ASSERT_OK(cx_source_signal(&sig, signals, 1));
  CX_ASSERT_OK(cx_op_add_source(op, sig));
  CX_ASSERT_OK(cx_op_on(op, CX_OP_ON_ERROR, count_event, errors, NULL));
  CX_ASSERT_OK(cx_op_on(op, CX_OP_ON_CANCEL, count_event, cancels, NULL));
  return op;
}

static void check_left(bool cancel_first, bool use_pthread_exit) {
  atomic_int errors = 0, cancels = 0;
  struct sigaction before, after;
  pthread_t th;
  left l;
  cx_registry_clear();
  atomic_store(&warnings, 0);
  cx_log_set_handler(count_warnings, CX_LOG_WARNING, NULL);
  assert_int_equal(sigaction(SIGUSR2, NULL, &before), 0);
  l.op = op_with_sources(&errors, &cancels);
  l.cancel_first = cancel_first;
  l.use_pthread_exit = use_pthread_exit;
  assert_int_equal(pthread_create(&th, NULL, enter_and_leave, &l), 0);
  assert_true(cx_test_join_within(th, 30, NULL));
  if (cancel_first) {
    assert_int_equal(cx_op_status(l.op), CX_STATUS_CANCELLED);
    assert_int_equal(cx_op_cancel_reason(l.op), CX_REASON_MANUAL);
    assert_int_equal(atomic_load(&cancels), 1);
    assert_int_equal(atomic_load(&errors), 0);
  } else {
    assert_int_equal(cx_op_status(l.op), CX_STATUS_FAILED);
    assert_int_equal(cx_op_error(l.op), -EOWNERDEAD);
    assert_int_equal(atomic_load(&errors), 1);
    assert_int_equal(atomic_load(&cancels), 0);
    assert_false(cx_op_is_cancelled(l.op));
  }
  assert_true(cx_op_end_time(l.op) > 0);
  assert_int_equal(atomic_load(&warnings), 1);
  assert_int_equal(live_registered(), 0);
  /* The signal source stopped: the disposition is the one before. */
  assert_int_equal(sigaction(SIGUSR2, NULL, &after), 0);
  assert_true(after.sa_handler == before.sa_handler);
  /* Its timeout no longer runs: a cancel now is refused (it has ended). */
  assert_false(cx_op_cancel(l.op, CX_REASON_MANUAL, NULL));
  cx_log_set_handler(NULL, CX_LOG_WARNING, NULL);
  cx_op_unref(l.op);
  cx_registry_clear();
}

static void test_return_leaves_op(void **state) {
  (void)state;
  check_left(false, false);
}

static void test_pthread_exit_leaves_op(void **state) {
  (void)state;
  check_left(false, true);
}

static void test_cancelled_op_ends_cancelled(void **state) {
  (void)state;
  check_left(true, true);
}

/* ---- nesting: ops, an adoption, a shield, deeper than the inline stack */

enum { NESTED = 20 };

typedef struct nest {
  cx_op *outer;       /* adopted by the thread */
  cx_op *ops[NESTED]; /* entered by the thread, kept by the test */
} nest;

static void *enter_nested(void *p) {
  nest *n = p;
  cx_adoption saved; /* on this stack, gone at exit */
  cx_op *shield = NULL;
  CX_ASSERT_OK(cx_current_adopt(n->outer, &saved));
  for (int i = 0; i < NESTED; i++) {
    cx_op_options o = CX_OP_OPTIONS_INIT;
    o.parent = cx_current();
    CX_ASSERT_OK(cx_op_create(&n->ops[i], &o));
    CX_ASSERT_OK(cx_op_enter(n->ops[i]));
  }
  CX_ASSERT_OK(cx_shield_begin(&shield, NULL, 0));
  /* the shield holds back cancellation; the current op is the enclosed */
  assert_true(cx_current() == n->ops[NESTED - 1]);
  return NULL; /* the shield's handle is dropped here on purpose */
}

static void test_nested_ends_all(void **state) {
  nest n;
  pthread_t th;
  (void)state;
  n.outer = cx_test_op("outer", NULL, 0);
  CX_ASSERT_OK(cx_op_enter(n.outer)); /* entered here, adopted there */
  assert_int_equal(pthread_create(&th, NULL, enter_nested, &n), 0);
  assert_true(cx_test_join_within(th, 30, NULL));
  /* The shield was ended and freed with its handle (LeakSanitizer, under
   * ASan, fails the test otherwise). */
  for (int i = 0; i < NESTED; i++) {
    assert_int_equal(cx_op_status(n.ops[i]), CX_STATUS_FAILED);
    assert_int_equal(cx_op_error(n.ops[i]), -EOWNERDEAD);
    assert_int_equal(cx_op_child_count(n.ops[i]), 0);
    cx_op_unref(n.ops[i]);
  }
  /* The adopted op is this thread's: untouched, still running here. */
  assert_int_equal(cx_op_status(n.outer), CX_STATUS_RUNNING);
  assert_true(cx_current() == n.outer);
  CX_ASSERT_OK(cx_op_exit(n.outer, 0));
  cx_op_unref(n.outer); /* the last reference: the adoption's is gone */
}

/* ---- pthread_cancel() inside cx_cond_wait() */

typedef struct cond_case {
  cx_token *shared;
  cx_op *op;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool waiting; /* guarded by mu */
  bool gave_up; /* guarded by mu: the op could not be made or entered */
} cond_case;

static void unlock_mutex(void *mu) { pthread_mutex_unlock(mu); }

static void *wait_in_cond(void *p) {
  cond_case *c = p;
  if (cx_op_with_token(&c->op, NULL, c->shared, "cond-waiter") != 0 ||
      cx_op_enter(c->op) != 0) {
    pthread_mutex_lock(&c->mu); /* out of memory */
    c->gave_up = true;
    pthread_mutex_unlock(&c->mu);
    return (void *)1;
  }
  pthread_mutex_lock(&c->mu);
  c->waiting = true;
  pthread_cleanup_push(unlock_mutex, &c->mu);
  for (;;) cx_cond_wait(c->op, &c->cv, &c->mu, -1); /* until cancelled */
  pthread_cleanup_pop(1);
  return NULL;
}

static void test_pthread_cancel_in_cond_wait(void **state) {
  cond_case c = {.shared = cx_token_new(), .op = NULL, .waiting = false};
  pthread_t th;
  void *rv = NULL;
  bool in = false, gave_up = false;
  (void)state;
  assert_non_null(c.shared);
  pthread_mutex_init(&c.mu, NULL);
  pthread_cond_init(&c.cv, NULL);
  assert_int_equal(pthread_create(&th, NULL, wait_in_cond, &c), 0);
  /* The mutex is free again only once the waiter is inside the wait. */
  while (!in && !gave_up) {
    pthread_mutex_lock(&c.mu);
    in = c.waiting;
    gave_up = c.gave_up;
    pthread_mutex_unlock(&c.mu);
    sched_yield();
  }
  assert_false(gave_up);
  assert_int_equal(pthread_cancel(th), 0);
  assert_true(cx_test_join_within(th, 30, &rv));
  assert_true(rv == PTHREAD_CANCELED);
  assert_int_equal(cx_op_status(c.op), CX_STATUS_FAILED);
  assert_int_equal(cx_op_error(c.op), -EOWNERDEAD);
  /* The waiter's callback is gone: this cancel touches no dead stack
   * (ASan would report it; a plain build could crash). */
  assert_true(cx_token_cancel(c.shared, CX_REASON_MANUAL, "shutdown"));
  /* The mutex was left unlocked by the cleanup handlers. */
  assert_int_equal(pthread_mutex_trylock(&c.mu), 0);
  pthread_mutex_unlock(&c.mu);
  cx_op_unref(c.op);
  cx_token_unref(c.shared);
  pthread_cond_destroy(&c.cv);
  pthread_mutex_destroy(&c.mu);
}

/* A thread that never entered an op, and one that exited properly, end
 * without a warning. */
static void *clean_thread(void *p) {
  cx_op *op = cx_test_entered_op("clean", NULL, 0);
  (void)p;
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
  return NULL;
}

static void test_clean_exit_is_silent(void **state) {
  pthread_t th;
  (void)state;
  atomic_store(&warnings, 0);
  cx_log_set_handler(count_warnings, CX_LOG_WARNING, NULL);
  assert_int_equal(pthread_create(&th, NULL, clean_thread, NULL), 0);
  assert_true(cx_test_join_within(th, 30, NULL));
  assert_int_equal(atomic_load(&warnings), 0);
  cx_log_set_handler(NULL, CX_LOG_WARNING, NULL);
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/thread-exit/return-leaves-op", test_return_leaves_op),
    CX_TEST("/thread-exit/pthread-exit-leaves-op", test_pthread_exit_leaves_op),
    CX_TEST("/thread-exit/cancelled-op-ends-cancelled",
            test_cancelled_op_ends_cancelled),
    CX_TEST("/thread-exit/nested-ends-all", test_nested_ends_all),
    CX_TEST("/thread-exit/clean-exit-is-silent", test_clean_exit_is_silent),
    CX_TEST("/thread-exit/pthread-cancel-in-cond-wait",
            test_pthread_cancel_in_cond_wait),
};

CX_TEST_MAIN("thread-exit", tests)
