/* tests/unit/test_condition.c - condition and resource sources (issue #3),
 * on the virtual clock where possible: the first check comes at enter (a
 * condition already true cancels at enter + 0, issue 17 item 8), then one
 * each interval; an interval of 0 is the default 0.1 s everywhere
 * (cx_source_condition, cx_op_with_condition, cx_run, resources); predicates
 * run on a condition worker thread (neither the caller nor the timer thread)
 * and one source's predicate never runs twice at once; a slow or blocked
 * predicate never delays a timeout of another op; predicate errors are counted
 * and logged and polling goes on; reason CONDITION and a message naming the
 * condition and the number of checks; no check after exit, exit waits for a
 * predicate in progress, the destroy notify runs once when the op is freed
 * (never on error); bad input. Resource source: threshold validation, memory
 * (0.01 %) triggers with a message naming memory, disk (0.01 %) triggers naming
 * disk, 100 % disk does not trigger, the default interval is 0.1 s, CPU with a
 * busy thread; a sustain time fires only once a threshold has been exceeded at
 * every check for that long, and a dip restarts it (values from a probe). Issue
 * #13: the trigger message and the log line of a condition with a long name are
 * cut on a character boundary.
 *
 * "Not yet" and "no more" are exact: the virtual clock is advanced to one
 * tick (1 ns) before a check is due, or past any due, and cx_test_advance()
 * returns only once the checks it caused have run (cx_test_quiesce()).
 * Linked with the static library for that.
 */
#include "cx_test.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cancelable.h>

#include "sources/resource.h"

/* ---------------------------------------------------------------------- */
/* helpers */

/* The virtual clock's resolution: 1 ns. */
#define TICK 1e-9

typedef struct pred {
  atomic_int calls;
  atomic_int running;     /* predicates in progress */
  atomic_int max_running; /* most at once */
  int met_at;             /* return 1 from this call on (0: never) */
  int errors_until;       /* return -EIO for calls 1..errors_until */
  double sleep;           /* real seconds per call */
  atomic_bool block;      /* wait while set (bounded) */
  atomic_bool exited;     /* set by the test once the op has exited */
  atomic_int after_exit;  /* user data touched after exit */
  atomic_int destroys;
  pthread_t thread;
} pred;

static int predicate(void *user_data) {
  pred *p = user_data;
  if (atomic_load(&p->exited)) atomic_fetch_add(&p->after_exit, 1);
  int now = atomic_fetch_add(&p->running, 1) + 1;
  int max = atomic_load(&p->max_running);
  while (now > max &&
         !atomic_compare_exchange_weak(&p->max_running, &max, now)) {
  }
  p->thread = pthread_self();
  int call = atomic_fetch_add(&p->calls, 1) + 1;
  if (p->sleep > 0) cx_test_sleep(p->sleep);
  double t0 = cx_test_now();
  while (atomic_load(&p->block) && cx_test_now() - t0 < 20)
    cx_test_sleep(0.001);
  atomic_fetch_sub(&p->running, 1);
  if (atomic_load(&p->exited)) atomic_fetch_add(&p->after_exit, 1);
  if (call <= p->errors_until) return -EIO;
  return p->met_at > 0 && call >= p->met_at;
}

static void pred_destroy(void *user_data) {
  atomic_fetch_add(&((pred *)user_data)->destroys, 1);
}

static cx_op *cond_op(pred *p, double interval, const char *name) {
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_with_condition(&op, NULL, predicate, p, pred_destroy,
                                    interval, name));
  assert_non_null(op);
  return op;
}

/* Waits (real time, bounded) until @counter reaches @value. */
static bool wait_count(atomic_int *counter, int value) {
  double t0 = cx_test_now();
  while (atomic_load(counter) < value && cx_test_now() - t0 < 10)
    cx_test_sleep(0.001);
  return atomic_load(counter) >= value;
}

/* Advances until the op is cancelled. */
static void advance_until_cancelled(cx_op *op, double interval) {
  double t0 = cx_test_now();
  while (!cx_op_is_cancelled(op) && cx_test_now() - t0 < 10) {
    CX_ASSERT_OK(cx_clock_advance(interval));
    cx_token_wait(cx_op_token(op), 0.002);
  }
  CX_ASSERT_OK(cx_token_wait(cx_op_token(op), 10));
}

/* ---------------------------------------------------------------------- */
/* condition: triggering */

static void test_triggers_after_checks(void **state) {
  (void)state;
  pred p = {0};
  p.met_at = 3;
  cx_op *op = cond_op(&p, 1.0, "ready");
  assert_string_equal(cx_op_name(op), "ready");
  CX_ASSERT_OK(cx_op_enter(op));
  /* the first check comes at enter, with no time passing */
  cx_test_quiesce();
  assert_int_equal(atomic_load(&p.calls), 1);
  /* then one each interval after the previous one, not a tick before */
  cx_test_advance(1.0 - TICK);
  assert_int_equal(atomic_load(&p.calls), 1);
  cx_test_advance(TICK);
  assert_int_equal(atomic_load(&p.calls), 2);
  assert_false(cx_op_is_cancelled(op));
  cx_test_advance(1.0);
  assert_int_equal(atomic_load(&p.calls), 3);
  assert_true(cx_op_is_cancelled(op));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_CONDITION);
  const char *msg = cx_op_cancel_message(op);
  assert_non_null(strstr(msg, "condition"));
  assert_non_null(strstr(msg, "ready"));
  assert_non_null(strstr(msg, "3 checks"));
  CX_ASSERT_ERR(-ECANCELED, cx_check(op));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_CONDITION);
  /* no check after exit */
  atomic_store(&p.exited, true);
  for (int i = 0; i < 5; i++) cx_test_advance(1.0);
  assert_int_equal(atomic_load(&p.calls), 3);
  assert_int_equal(atomic_load(&p.after_exit), 0);
  assert_int_equal(atomic_load(&p.destroys), 0);
  cx_op_unref(op);
  assert_int_equal(atomic_load(&p.destroys), 1);
}

/* A condition already true at enter cancels at enter + 0, not one
 * interval later (issue 17 item 8): the virtual clock never moves. */
static void test_met_first_check(void **state) {
  (void)state;
  pred p = {0};
  p.met_at = 1;
  cx_source *s = NULL;
  CX_ASSERT_OK(cx_source_condition(&s, predicate, &p, pred_destroy, 0.5, NULL));
  assert_non_null(strstr(cx_source_name(s), "condition"));
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_create(&op, NULL));
  CX_ASSERT_OK(cx_op_add_source(op, s));
  double t0 = cx_now();
  CX_ASSERT_OK(cx_op_enter(op));
  cx_test_quiesce();
  assert_true(cx_op_is_cancelled(op));
  assert_true(cx_now() == t0);
  assert_int_equal(atomic_load(&p.calls), 1);
  assert_true(cx_source_triggered(s));
  /* "1 check": singular or plural, the count is what matters */
  assert_non_null(strstr(cx_op_cancel_message(op), "1 check"));
  assert_non_null(strstr(cx_op_cancel_message(op), "condition"));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_CONDITION);
  cx_op_unref(op);
  assert_int_equal(atomic_load(&p.destroys), 1);
}

/* Interval 0 is CX_CONDITION_INTERVAL_DEFAULT (0.1 s): checks at enter,
 * then every 0.1 s, for the source and the op factory alike. */
/* Right after enter: the check at enter, the next not a tick early. */
static void expect_default_pacing(pred *p) {
  cx_test_quiesce();
  assert_int_equal(atomic_load(&p->calls), 1);
  cx_test_advance(CX_CONDITION_INTERVAL_DEFAULT - TICK);
  assert_int_equal(atomic_load(&p->calls), 1);
  cx_test_advance(TICK);
  assert_int_equal(atomic_load(&p->calls), 2);
}

static void assert_default_pacing(cx_op *op, pred *p) {
  CX_ASSERT_OK(cx_op_enter(op));
  expect_default_pacing(p);
  cx_test_advance(CX_CONDITION_INTERVAL_DEFAULT);
  assert_int_equal(atomic_load(&p->calls), 3);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
}

static int run_checks_paced(cx_op *op, void *user_data) {
  (void)op;
  expect_default_pacing(user_data);
  return 0;
}

static void test_default_interval(void **state) {
  (void)state;
  assert_true(CX_CONDITION_INTERVAL_DEFAULT == 0.1);
  pred a = {0}, b = {0}, c = {0};
  cx_source *s = NULL;
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_source_condition(&s, predicate, &a, NULL, 0.0, "zero"));
  CX_ASSERT_OK(cx_op_create(&op, NULL));
  CX_ASSERT_OK(cx_op_add_source(op, s));
  assert_default_pacing(op, &a);
  CX_ASSERT_OK(
      cx_op_with_condition(&op, NULL, predicate, &b, NULL, 0.0, "zero"));
  assert_default_pacing(op, &b);
  cx_run_options o = CX_RUN_OPTIONS_INIT;
  o.condition = predicate;
  o.condition_data = &c;
  CX_ASSERT_OK(cx_run(&o, run_checks_paced, &c, NULL));
}

static pthread_t timer_thread;
static int record_thread(cx_token *t, void *user_data) {
  (void)t;
  (void)user_data;
  timer_thread = pthread_self();
  return 0;
}

static void test_runs_on_worker_thread(void **state) {
  (void)state;
  CX_ASSERT_OK(cx_clock_use_virtual());
  /* the timer thread, as seen by a timeout's callback */
  cx_op *t = NULL;
  CX_ASSERT_OK(cx_op_with_timeout(&t, NULL, 1.0, "timer"));
  CX_ASSERT_OK(
      cx_token_on_cancel(cx_op_token(t), record_thread, NULL, NULL, 0, NULL));
  CX_ASSERT_OK(cx_op_enter(t));
  CX_ASSERT_OK(cx_clock_advance(1.0));
  assert_true(cx_op_is_cancelled(t));
  CX_ASSERT_OK(cx_op_exit(t, -ECANCELED));
  cx_op_unref(t);

  pred p = {0};
  p.met_at = 4;
  p.sleep = 0.002;
  cx_op *op = cond_op(&p, 0.1, "where");
  CX_ASSERT_OK(cx_op_enter(op));
  advance_until_cancelled(op, 0.1);
  assert_false(pthread_equal(p.thread, pthread_self()));
  assert_false(pthread_equal(p.thread, timer_thread));
  assert_int_equal(atomic_load(&p.max_running), 1);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  CX_ASSERT_OK(cx_clock_use_real());
}

/* ---------------------------------------------------------------------- */
/* slow predicates never delay timeouts */

static void test_blocked_predicate_virtual(void **state) {
  (void)state;
  enum { SLOW = 6 }; /* more than any sensible worker pool */
  CX_ASSERT_OK(cx_clock_use_virtual());
  pred p[SLOW];
  memset(p, 0, sizeof p);
  cx_op *slow[SLOW];
  for (int i = 0; i < SLOW; i++) {
    atomic_store(&p[i].block, true);
    slow[i] = cond_op(&p[i], 1.0, "blocked");
    CX_ASSERT_OK(cx_op_enter(slow[i]));
  }
  cx_op *timed = NULL;
  CX_ASSERT_OK(cx_op_with_timeout(&timed, NULL, 5.0, "timed"));
  CX_ASSERT_OK(cx_op_enter(timed));
  /* the first checks start and block */
  CX_ASSERT_OK(cx_clock_advance(1.0));
  assert_true(wait_count(&p[0].running, 1));
  /* the timeout fires anyway, before advance returns */
  double t0 = cx_test_now();
  CX_ASSERT_OK(cx_clock_advance(4.0));
  assert_true(cx_op_is_cancelled(timed));
  assert_true(cx_test_now() - t0 < 5.0); /* not held by the predicates */
  assert_int_equal(cx_op_cancel_reason(timed), CX_REASON_TIMEOUT);
  assert_int_equal(atomic_load(&p[0].running), 1); /* still blocked */
  CX_ASSERT_OK(cx_op_exit(timed, -ECANCELED));
  cx_op_unref(timed);
  for (int i = 0; i < SLOW; i++) atomic_store(&p[i].block, false);
  for (int i = SLOW - 1; i >= 0; i--) {
    CX_ASSERT_OK(cx_op_exit(slow[i], 0));
    assert_int_equal(atomic_load(&p[i].running), 0);
    assert_false(cx_op_is_cancelled(slow[i]));
    cx_op_unref(slow[i]);
  }
  CX_ASSERT_OK(cx_clock_use_real());
}

typedef struct timed_args {
  cx_op *op;
  int rc;
  int slow_running_at_cancel;
  pred *slow;
} timed_args;

static void *timed_main(void *arg) {
  timed_args *a = arg;
  CX_ASSERT_OK(cx_op_enter(a->op));
  a->rc = cx_sleep(a->op, 30);
  a->slow_running_at_cancel = atomic_load(&a->slow->running);
  CX_ASSERT_OK(cx_op_exit(a->op, a->rc));
  return NULL;
}

static void test_slow_predicate_real(void **state) {
  (void)state;
  pred p = {0};
  p.sleep = 2.0; /* a predicate that sleeps 2 s */
  cx_op *slow = cond_op(&p, 0.01, "slow");
  CX_ASSERT_OK(cx_op_enter(slow));
  assert_true(wait_count(&p.running, 1));
  /* a 0.1 s timeout on another thread fires while the predicate sleeps */
  timed_args a = {NULL, 0, -1, &p};
  CX_ASSERT_OK(cx_op_with_timeout(&a.op, NULL, 0.1, "quick-timeout"));
  pthread_t t;
  double t0 = cx_test_now();
  assert_int_equal(pthread_create(&t, NULL, timed_main, &a), 0);
  pthread_join(t, NULL);
  double took = cx_test_now() - t0;
  CX_ASSERT_ERR(-ECANCELED, a.rc);
  assert_int_equal(cx_op_cancel_reason(a.op), CX_REASON_TIMEOUT);
  assert_int_equal(a.slow_running_at_cancel, 1);
  assert_true(took < 1.9);
  cx_op_unref(a.op);
  /* exit waits for the predicate in progress */
  CX_ASSERT_OK(cx_op_exit(slow, 0));
  atomic_store(&p.exited, true);
  assert_int_equal(atomic_load(&p.running), 0);
  /* no check after: past the interval a check still armed would be due,
   * and the quiesce waits until it would have run (real clock: this test
   * is about real time) */
  cx_test_sleep(0.05);
  cx_test_quiesce();
  assert_int_equal(atomic_load(&p.after_exit), 0);
  cx_op_unref(slow);
}

/* A check re-arms its timer when its predicate returns; the timer may fire
 * again before the worker has finished that job.  Polling must go on:
 * advance the virtual clock continuously so that every re-armed check is
 * due at once, and require steady progress. */
static void test_polling_never_stalls(void **state) {
  (void)state;
  enum { CHECKS = 20000 };
  CX_ASSERT_OK(cx_clock_use_virtual());
  pred p = {0}; /* never met */
  cx_op *op = cond_op(&p, 0.001, "steady");
  CX_ASSERT_OK(cx_op_enter(op));
  double start = cx_test_now(), last_progress = start;
  int last = 0;
  /* at most CHECKS checks or 8 s (slow sanitizer builds), never a stall */
  while (atomic_load(&p.calls) < CHECKS && cx_test_now() - start < 8.0 &&
         cx_test_now() - last_progress < 3.0) {
    CX_ASSERT_OK(cx_clock_advance(0.001));
    int c = atomic_load(&p.calls);
    if (c != last) {
      last = c;
      last_progress = cx_test_now();
    }
  }
  if (cx_test_now() - last_progress >= 3.0) {
    print_error(
        "polling stalled after %d checks (no check for 3 s while "
        "the clock kept advancing)\n",
        atomic_load(&p.calls));
    fail();
  }
  assert_true(atomic_load(&p.calls) >= 100);
  assert_false(cx_op_is_cancelled(op));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
  CX_ASSERT_OK(cx_clock_use_real());
}

/* ---------------------------------------------------------------------- */
/* errors */

typedef struct log_capture {
  pthread_mutex_t mu;
  int warnings;
  char last[256];
} log_capture;

static void capture_log(cx_log_level level, const char *op_id,
                        const char *message, void *user_data) {
  log_capture *c = user_data;
  (void)op_id;
  if (level < CX_LOG_WARNING || strstr(message, "flaky") == NULL) return;
  pthread_mutex_lock(&c->mu);
  c->warnings++;
  snprintf(c->last, sizeof c->last, "%s", message);
  pthread_mutex_unlock(&c->mu);
}

static int warnings_logged(log_capture *c) {
  pthread_mutex_lock(&c->mu);
  int n = c->warnings;
  pthread_mutex_unlock(&c->mu);
  return n;
}

static void test_errors_counted(void **state) {
  (void)state;
  log_capture cap = {PTHREAD_MUTEX_INITIALIZER, 0, ""};
  cx_log_set_handler(capture_log, CX_LOG_WARNING, &cap);
  pred p = {0};
  p.errors_until = 2; /* -EIO, -EIO, 0, 1 */
  p.met_at = 4;
  cx_op *op = cond_op(&p, 1.0, "flaky");
  CX_ASSERT_OK(cx_op_enter(op));
  /* errors do not cancel and do not stop the polling */
  for (int call = 1; call <= 3; call++) {
    if (call == 1)
      cx_test_quiesce(); /* the check at enter */
    else
      cx_test_advance(1.0);
    assert_int_equal(atomic_load(&p.calls), call);
    assert_false(cx_op_is_cancelled(op));
    assert_int_equal(warnings_logged(&cap), call < 2 ? call : 2);
  }
  cx_test_advance(1.0);
  assert_true(cx_op_is_cancelled(op));
  assert_int_equal(atomic_load(&p.calls), 4);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_CONDITION);
  assert_non_null(strstr(cx_op_cancel_message(op), "4 checks"));
  assert_non_null(strstr(cx_op_cancel_message(op), "flaky"));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  cx_log_set_handler(NULL, CX_LOG_WARNING, NULL);
  /* each error was logged (and counted: the second says so) */
  pthread_mutex_lock(&cap.mu);
  assert_int_equal(cap.warnings, 2);
  assert_non_null(strstr(cap.last, "2"));
  pthread_mutex_unlock(&cap.mu);
}

/* What the long-name test expects to see logged, and whether it did. */
typedef struct long_log {
  pthread_mutex_t mu;
  const char *want; /* the whole logged text */
  int seen, matched;
} long_log;

static void capture_long_log(cx_log_level level, const char *op_id,
                             const char *message, void *user_data) {
  long_log *c = user_data;
  (void)op_id;
  if (level < CX_LOG_WARNING) return;
  pthread_mutex_lock(&c->mu);
  c->seen++;
  if (strcmp(message, c->want) == 0) c->matched++;
  pthread_mutex_unlock(&c->mu);
}

/* Issue #13 (defect 2): a message cut to its fixed-size buffer (256 bytes
 * for the trigger message, 512 for a log line) ends after a whole
 * character, not inside one.  The name is "flaky" and 300 two-byte
 * characters, so both cuts would fall in the middle of one. */
static void test_long_name_cut_on_character(void **state) {
  (void)state;
  char name[6 + 600], want_msg[256], want_log[512];
  strcpy(name, "flaky");
  for (int i = 0; i < 300; i++) strcat(name, "\xc3\xa9");
  /* "condition 'flaky" is 16 bytes: 119 characters fit in 255 bytes,
   * 247 in 511. */
  snprintf(want_msg, sizeof want_msg, "condition '%.*s", 5 + 119 * 2, name);
  snprintf(want_log, sizeof want_log, "condition '%.*s", 5 + 247 * 2, name);
  assert_int_equal(strlen(want_msg), 254);
  assert_int_equal(strlen(want_log), 510);
  long_log cap = {PTHREAD_MUTEX_INITIALIZER, want_log, 0, 0};
  cx_log_set_handler(capture_long_log, CX_LOG_WARNING, &cap);
  CX_ASSERT_OK(cx_clock_use_virtual());
  pred p = {0};
  p.errors_until = 1; /* -EIO, then met */
  p.met_at = 2;
  cx_op *op = cond_op(&p, 1.0, name);
  CX_ASSERT_OK(cx_op_enter(op));
  advance_until_cancelled(op, 1.0);
  assert_string_equal(cx_op_cancel_message(op), want_msg);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  CX_ASSERT_OK(cx_clock_use_real());
  cx_log_set_handler(NULL, CX_LOG_WARNING, NULL);
  pthread_mutex_lock(&cap.mu);
  assert_int_equal(cap.seen, 1);
  assert_int_equal(cap.matched, 1);
  pthread_mutex_unlock(&cap.mu);
}

/* ---------------------------------------------------------------------- */
/* stopping */

static void test_no_check_after_exit(void **state) {
  (void)state;
  pred p = {0};
  cx_op *op = cond_op(&p, 0.005, "busy");
  CX_ASSERT_OK(cx_op_enter(op));
  cx_test_quiesce(); /* the check at enter */
  for (int i = 0; i < 2; i++) cx_test_advance(0.005);
  assert_int_equal(atomic_load(&p.calls), 3);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  atomic_store(&p.exited, true);
  /* many intervals, each a check were the source still polling */
  for (int i = 0; i < 20; i++) cx_test_advance(0.005);
  cx_test_advance(3600.0);
  assert_int_equal(atomic_load(&p.calls), 3);
  assert_int_equal(atomic_load(&p.after_exit), 0);
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_NONE);
  assert_int_equal(atomic_load(&p.destroys), 0);
  cx_op_unref(op);
  assert_int_equal(atomic_load(&p.destroys), 1);
}

static void test_exit_many_times_while_checking(void **state) {
  (void)state;
  /* exits racing with checks in progress: never a check after exit */
  for (int i = 0; i < 100; i++) {
    pred *p = calloc(1, sizeof *p);
    assert_non_null(p);
    p->met_at = (i % 3 == 0) ? 2 : 0;
    cx_op *op = cond_op(p, 0.001, "race");
    CX_ASSERT_OK(cx_op_enter(op));
    cx_test_sleep(0.001 * (i % 4));
    CX_ASSERT_OK(cx_op_exit(op, cx_op_is_cancelled(op) ? -ECANCELED : 0));
    atomic_store(&p->exited, true);
    int calls = atomic_load(&p->calls);
    assert_int_equal(atomic_load(&p->running), 0);
    cx_op_unref(op);
    assert_int_equal(atomic_load(&p->destroys), 1);
    /* past the interval a check still armed would be due; the quiesce
     * waits until it would have run (real clock: exits race checks) */
    cx_test_sleep(0.002);
    cx_test_quiesce();
    assert_int_equal(atomic_load(&p->calls), calls);
    assert_int_equal(atomic_load(&p->after_exit), 0);
    free(p);
  }
}

/* ---------------------------------------------------------------------- */
/* bad input */

static void test_condition_bad_input(void **state) {
  (void)state;
  pred p = {0};
  cx_source *s;
  cx_op *op;
  const double bad[] = {-1.0, -TICK, NAN, INFINITY, -INFINITY};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    s = (cx_source *)&s;
    CX_ASSERT_ERR(-EINVAL, cx_source_condition(&s, predicate, &p, pred_destroy,
                                               bad[i], "x"));
    assert_null(s);
    op = (cx_op *)&op;
    CX_ASSERT_ERR(-EINVAL, cx_op_with_condition(&op, NULL, predicate, &p,
                                                pred_destroy, bad[i], "x"));
    assert_null(op);
  }
  CX_ASSERT_ERR(-EINVAL,
                cx_source_condition(&s, NULL, &p, pred_destroy, 1.0, "x"));
  CX_ASSERT_ERR(-EINVAL, cx_source_condition(NULL, predicate, &p, pred_destroy,
                                             1.0, "x"));
  CX_ASSERT_ERR(-EINVAL, cx_op_with_condition(&op, NULL, NULL, &p, pred_destroy,
                                              1.0, "x"));
  CX_ASSERT_ERR(-EINVAL, cx_op_with_condition(NULL, NULL, predicate, &p,
                                              pred_destroy, 1.0, "x"));
  /* on error the destroy notify is not called */
  assert_int_equal(atomic_load(&p.destroys), 0);
  /* a source never attached: freeing it runs the notify */
  CX_ASSERT_OK(cx_source_condition(&s, predicate, &p, pred_destroy, 1.0, "x"));
  cx_source_free(s);
  assert_int_equal(atomic_load(&p.destroys), 1);
  assert_int_equal(atomic_load(&p.calls), 0);
  /* NULL user data is fine */
  CX_ASSERT_OK(cx_source_condition(&s, predicate, &p, NULL, 1.0, NULL));
  cx_source_free(s);
  assert_int_equal(atomic_load(&p.destroys), 1);
}

/* ---------------------------------------------------------------------- */
/* resource source */

static void test_resource_bad_input(void **state) {
  (void)state;
  cx_source *s = (cx_source *)&s;
  cx_resource_limits l = CX_RESOURCE_LIMITS_INIT;
  CX_ASSERT_ERR(-EINVAL, cx_source_resource(&s, &l)); /* nothing watched */
  assert_null(s);
  CX_ASSERT_ERR(-EINVAL, cx_source_resource(&s, NULL));
  l.memory_percent = 50;
  CX_ASSERT_ERR(-EINVAL, cx_source_resource(NULL, &l));
  l.size = sizeof(cx_resource_limits) - 1;
  CX_ASSERT_ERR(-EINVAL, cx_source_resource(&s, &l));
  const double bad[] = {-1.0, -0.001, 100.001, 150.0, NAN, INFINITY};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cx_resource_limits m = CX_RESOURCE_LIMITS_INIT, c = m, d = m;
    m.memory_percent = bad[i];
    c.cpu_percent = bad[i];
    d.disk_percent = bad[i];
    CX_ASSERT_ERR(-EINVAL, cx_source_resource(&s, &m));
    CX_ASSERT_ERR(-EINVAL, cx_source_resource(&s, &c));
    CX_ASSERT_ERR(-EINVAL, cx_source_resource(&s, &d));
    /* one good limit does not excuse a bad one */
    d.memory_percent = 50;
    CX_ASSERT_ERR(-EINVAL, cx_source_resource(&s, &d));
  }
  const double bad_interval[] = {-1.0, NAN, INFINITY, -INFINITY};
  for (size_t i = 0; i < sizeof bad_interval / sizeof bad_interval[0]; i++) {
    cx_resource_limits m = CX_RESOURCE_LIMITS_INIT;
    m.memory_percent = 50;
    m.interval = bad_interval[i];
    CX_ASSERT_ERR(-EINVAL, cx_source_resource(&s, &m));
    m.interval = 0;
    m.sustain = bad_interval[i];
    CX_ASSERT_ERR(-EINVAL, cx_source_resource(&s, &m));
    assert_null(s);
  }
  /* the limits of the range are accepted: 100 and a tiny positive one */
  cx_resource_limits ok = CX_RESOURCE_LIMITS_INIT;
  ok.memory_percent = 100;
  ok.cpu_percent = 0.001;
  ok.disk_percent = 100;
  ok.disk_path = "/";
  CX_ASSERT_OK(cx_source_resource(&s, &ok));
  assert_int_equal(cx_source_reason(s), CX_REASON_CONDITION);
  cx_source_free(s);
}

static cx_op *resource_op(const cx_resource_limits *l, cx_source **src) {
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_source_resource(src, l));
  CX_ASSERT_OK(cx_op_create(&op, NULL));
  CX_ASSERT_OK(cx_op_add_source(op, *src));
  return op;
}

static void test_resource_memory(void **state) {
  (void)state;
  cx_resource_limits l = CX_RESOURCE_LIMITS_INIT;
  l.memory_percent = 0.01;
  l.interval = 1.0;
  cx_source *s;
  cx_op *op = resource_op(&l, &s);
  CX_ASSERT_OK(cx_op_enter(op));
  cx_test_quiesce(); /* the first sample, at enter */
  assert_true(cx_op_is_cancelled(op));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_CONDITION);
  assert_non_null(strstr(cx_op_cancel_message(op), "memory"));
  assert_non_null(strstr(cx_op_cancel_message(op), "0.01"));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  cx_op_unref(op);
}

/* Resource values the tests set: memory in tenths of a percent; the
 * other resources read 1 %.  Counts the samples. */
static atomic_int probe_memory_tenths;
static atomic_int probe_samples;

static double probe(const char *what) {
  atomic_fetch_add(&probe_samples, 1);
  if (strcmp(what, "memory") == 0)
    return atomic_load(&probe_memory_tenths) / 10.0;
  return 1.0;
}

static void use_probe(int memory_tenths) {
  atomic_store(&probe_memory_tenths, memory_tenths);
  atomic_store(&probe_samples, 0);
  cx__resource_set_probe(probe);
}

static void test_resource_default_interval(void **state) {
  (void)state;
  cx_resource_limits l = CX_RESOURCE_LIMITS_INIT; /* interval 0: 0.1 s */
  l.memory_percent = 50;
  use_probe(400); /* 40 % */
  cx_source *s;
  cx_op *op = resource_op(&l, &s);
  CX_ASSERT_OK(cx_op_enter(op));
  cx_test_quiesce();
  assert_int_equal(atomic_load(&probe_samples), 1);
  atomic_store(&probe_memory_tenths, 600); /* 60 % */
  cx_test_advance(CX_CONDITION_INTERVAL_DEFAULT - TICK);
  assert_false(cx_op_is_cancelled(op));
  cx_test_advance(TICK);
  assert_true(cx_op_is_cancelled(op));
  assert_int_equal(atomic_load(&probe_samples), 2);
  assert_non_null(strstr(cx_op_cancel_message(op), "memory"));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  cx__resource_set_probe(NULL);
}

/* Sustain 5 s, a check each second: over at 0..4 is not enough, over at
 * 0..5 fires at 5 (a tick before, nothing); a dip at 4 restarts the run,
 * which then needs 5 s more. */
static void test_resource_sustain(void **state) {
  (void)state;
  cx_resource_limits l = CX_RESOURCE_LIMITS_INIT;
  l.memory_percent = 90;
  l.interval = 1.0;
  l.sustain = 5.0;
  use_probe(950); /* 95 % */
  cx_source *s;
  cx_op *op = resource_op(&l, &s);
  CX_ASSERT_OK(cx_op_enter(op));
  cx_test_quiesce(); /* t = 0, over: the run starts */
  for (int t = 1; t <= 4; t++) {
    cx_test_advance(1.0);
    assert_false(cx_op_is_cancelled(op));
  }
  cx_test_advance(1.0 - TICK);
  assert_false(cx_op_is_cancelled(op));
  cx_test_advance(TICK); /* t = 5 */
  assert_true(cx_op_is_cancelled(op));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_CONDITION);
  const char *msg = cx_op_cancel_message(op);
  assert_non_null(strstr(msg, "memory use 95.0%"));
  assert_non_null(strstr(msg, "90% threshold for 5 s"));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);

  use_probe(950);
  op = resource_op(&l, &s);
  CX_ASSERT_OK(cx_op_enter(op));
  cx_test_quiesce(); /* t = 0, over */
  for (int t = 1; t <= 9; t++) {
    /* a dip below the threshold at t = 4 (exactly at it counts as over) */
    atomic_store(&probe_memory_tenths, t == 4 ? 899 : t == 5 ? 900 : 950);
    cx_test_advance(1.0);
    assert_false(cx_op_is_cancelled(op));
  }
  cx_test_advance(1.0); /* t = 10: over since 5 */
  assert_true(cx_op_is_cancelled(op));
  assert_int_equal(atomic_load(&probe_samples), 11);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  cx__resource_set_probe(NULL);
}

static void test_resource_disk(void **state) {
  (void)state;
  /* 0.01 % of the root file system is in use: triggers, naming disk */
  cx_resource_limits l = CX_RESOURCE_LIMITS_INIT;
  l.disk_percent = 0.01;
  l.disk_path = "/";
  l.interval = 0.5;
  cx_source *s;
  cx_op *op = resource_op(&l, &s);
  CX_ASSERT_OK(cx_op_enter(op));
  cx_test_quiesce(); /* the first sample, at enter */
  assert_true(cx_op_is_cancelled(op));
  assert_non_null(strstr(cx_op_cancel_message(op), "disk"));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);

  /* a full disk never comes: 100 % does not trigger (many checks) */
  l.disk_percent = 100;
  op = resource_op(&l, &s);
  CX_ASSERT_OK(cx_op_enter(op));
  for (int i = 0; i < 20; i++) {
    cx_test_advance(0.5);
    assert_false(cx_op_is_cancelled(op));
  }
  assert_false(cx_source_triggered(s));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  cx_op_unref(op);
}

static atomic_bool spin_stop;
static void *spin_main(void *arg) {
  volatile unsigned long x = 0;
  (void)arg;
  while (!atomic_load(&spin_stop)) x++;
  return NULL;
}

static void test_resource_cpu(void **state) {
  (void)state;
  pthread_t spinner;
  atomic_store(&spin_stop, false);
  assert_int_equal(pthread_create(&spinner, NULL, spin_main, NULL), 0);
  cx_resource_limits l = CX_RESOURCE_LIMITS_INIT;
  l.cpu_percent = 0.01;
  l.interval = 0.05;
  cx_source *s;
  cx_op *op = resource_op(&l, &s);
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_token_wait(cx_op_token(op), 10));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_CONDITION);
  assert_non_null(strstr(cx_op_cancel_message(op), "cpu"));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  atomic_store(&spin_stop, true);
  pthread_join(spinner, NULL);
}

/* A disk limit on a path that cannot be examined is refused, so a typo
 * never turns the limit off silently. */
static void test_resource_disk_missing_path(void **state) {
  (void)state;
  cx_resource_limits l = CX_RESOURCE_LIMITS_INIT;
  cx_source *src = NULL;
  l.disk_percent = 90;
  l.disk_path = "/no/such/path/for/cancelable";
  CX_ASSERT_ERR(-ENOENT, cx_source_resource(&src, &l));
  assert_null(src);
}

static const struct CMUnitTest tests[] = {
    CX_TEST_VCLOCK("/condition/triggers-after-checks",
                   test_triggers_after_checks),
    CX_TEST_VCLOCK("/condition/met-first-check", test_met_first_check),
    CX_TEST_VCLOCK("/condition/default-interval", test_default_interval),
    CX_TEST("/condition/runs-on-worker-thread", test_runs_on_worker_thread),
    CX_TEST("/condition/blocked-predicates-do-not-delay-timeouts",
            test_blocked_predicate_virtual),
    CX_TEST("/condition/slow-predicate-does-not-delay-timeout",
            test_slow_predicate_real),
    CX_TEST("/condition/polling-never-stalls", test_polling_never_stalls),
    CX_TEST_VCLOCK("/condition/errors-counted", test_errors_counted),
    CX_TEST("/condition/long-name-cut-on-character",
            test_long_name_cut_on_character),
    CX_TEST_VCLOCK("/condition/no-check-after-exit", test_no_check_after_exit),
    CX_TEST("/condition/exit-races-checks",
            test_exit_many_times_while_checking),
    CX_TEST("/condition/bad-input", test_condition_bad_input),
    CX_TEST("/condition/resource/bad-input", test_resource_bad_input),
    CX_TEST_VCLOCK("/condition/resource/memory", test_resource_memory),
    CX_TEST_VCLOCK("/condition/resource/default-interval",
                   test_resource_default_interval),
    CX_TEST_VCLOCK("/condition/resource/disk", test_resource_disk),
    CX_TEST_VCLOCK("/condition/resource/sustain", test_resource_sustain),
    CX_TEST("/condition/resource/disk-missing-path",
            test_resource_disk_missing_path),
    CX_TEST("/condition/resource/cpu", test_resource_cpu),
};

CX_TEST_MAIN("condition", tests)
