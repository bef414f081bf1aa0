/* tests/unit/test_run.c - run helpers (the decorators' counterpart), issue
 * #5: cx_run() makes a fresh op per call configured by its options (timeout,
 * token, signals, condition, a combination; name; registration; parent),
 * the function receives the op and finds it as current, its result code
 * becomes the exit code and the status; cx_run_method() and
 * CX_METHOD_NAME() name ops "Type.method"; cx_run_in() runs inside one
 * shared op (one budget across calls; current during the call, also from
 * another thread); cx_with_current(); CX_SCOPE exits on normal end, on
 * `break` and on `return`; CX_CALL and cx_wrap()/cx_wrapped_call() do not
 * call when cancelled; bad options give -EINVAL and nothing runs.
 */
#include "cx_test.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cancelable.h>

/* ---------------------------------------------------------------------- */
/* helpers */

/* What a run function saw. */
typedef struct seen {
  int calls;
  cx_op *op;        /* the op it received (not referenced) */
  cx_op *current;   /* cx_current() during the call */
  char name[128];   /* cx_op_name(op) */
  cx_status status; /* status during the call */
  int result;       /* what it returns */
  double sleep;     /* > 0: cx_sleep(op, sleep) and return its result */
} seen;

static int record_fn(cx_op *op, void *p) {
  seen *s = p;
  s->calls++;
  s->op = op;
  s->current = cx_current();
  snprintf(s->name, sizeof s->name, "%s", op ? cx_op_name(op) : "(null)");
  s->status = cx_op_status(op);
  if (s->sleep > 0) return cx_sleep(op, s->sleep);
  return s->result;
}

static int count_fn(cx_op *op, void *p) {
  (void)op;
  atomic_fetch_add((atomic_int *)p, 1);
  return 0;
}

static cx_op *entered_op(const char *name, double timeout) {
  return cx_test_entered_op(name, NULL, timeout);
}

/* Cancels a token or an op after a delay, from another thread. */
typedef struct later {
  pthread_t thread;
  double delay;
  cx_token *token;
  cx_op *op;
} later;

static void *later_main(void *p) {
  later *l = p;
  cx_test_sleep(l->delay);
  if (l->token != NULL) cx_token_cancel(l->token, CX_REASON_MANUAL, "later");
  if (l->op != NULL) cx_op_cancel(l->op, CX_REASON_MANUAL, "later");
  return NULL;
}

static void later_start(later *l) {
  assert_int_equal(pthread_create(&l->thread, NULL, later_main, l), 0);
}

static void later_join(later *l) { pthread_join(l->thread, NULL); }

/* ---------------------------------------------------------------------- */
/* cx_run: a fresh op per call */

static void test_run_fresh_op_per_call(void **state) {
  (void)state;
  seen a = {0}, b = {0};
  cx_op *op_a = NULL, *op_b = NULL;
  assert_null(cx_current());
  CX_ASSERT_OK(cx_run(NULL, record_fn, &a, &op_a));
  CX_ASSERT_OK(cx_run(NULL, record_fn, &b, &op_b));
  assert_int_equal(a.calls, 1);
  assert_int_equal(b.calls, 1);
  /* The function received its op, and found it as the current op. */
  assert_ptr_equal(a.op, op_a);
  assert_ptr_equal(a.current, op_a);
  assert_ptr_equal(b.op, op_b);
  assert_ptr_equal(b.current, op_b);
  assert_ptr_not_equal(op_a, op_b);
  assert_string_not_equal(cx_op_id(op_a), cx_op_id(op_b));
  assert_int_equal(a.status, CX_STATUS_RUNNING);
  /* Default name, exit with the result, nothing left current. */
  assert_string_equal(a.name, "run");
  assert_int_equal(cx_op_status(op_a), CX_STATUS_COMPLETED);
  assert_int_equal(cx_op_status(op_b), CX_STATUS_COMPLETED);
  assert_true(cx_op_end_time(op_a) > 0);
  assert_null(cx_current());
  cx_op_unref(op_a);
  cx_op_unref(op_b);
}

static void test_run_name(void **state) {
  (void)state;
  cx_run_options o = CX_RUN_OPTIONS_INIT;
  seen s = {0};
  cx_op *op = NULL;
  o.name = "process_item";
  CX_ASSERT_OK(cx_run(&o, record_fn, &s, &op));
  assert_string_equal(s.name, "process_item");
  assert_string_equal(cx_op_name(op), "process_item");
  cx_op_unref(op);
}

static void test_run_out_op_null(void **state) {
  (void)state;
  seen s = {0};
  s.result = -EIO;
  /* No out_op: the op is dropped, the result still returned. */
  CX_ASSERT_ERR(-EIO, cx_run(NULL, record_fn, &s, NULL));
  assert_int_equal(s.calls, 1);
}

static void test_run_result_becomes_status(void **state) {
  (void)state;
  seen s = {0};
  cx_op *op = NULL;

  s.result = 0;
  CX_ASSERT_OK(cx_run(NULL, record_fn, &s, &op));
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  assert_int_equal(cx_op_error(op), 0);
  cx_op_unref(op);

  s.result = -EIO;
  CX_ASSERT_ERR(-EIO, cx_run(NULL, record_fn, &s, &op));
  assert_int_equal(cx_op_status(op), CX_STATUS_FAILED);
  assert_int_equal(cx_op_error(op), -EIO);
  cx_op_unref(op);

  s.result = -ECANCELED;
  CX_ASSERT_ERR(-ECANCELED, cx_run(NULL, record_fn, &s, &op));
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_MANUAL);
  cx_op_unref(op);
}

static void test_run_timeout(void **state) {
  (void)state;
  cx_run_options o = CX_RUN_OPTIONS_INIT;
  seen s = {0};
  cx_op *op = NULL;
  o.name = "fetch_data";
  o.timeout = 0.2;
  s.sleep = 10.0;
  double t0 = cx_test_now();
  CX_ASSERT_ERR(-ECANCELED, cx_run(&o, record_fn, &s, &op));
  double took = cx_test_now() - t0;
  assert_true(took >= 0.15);
  assert_true(took < 2.5);
  assert_int_equal(s.calls, 1);
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  cx_op_unref(op);
}

/* Each call gets its own timeout: three 0.15 s calls under a 0.5 s timeout
 * all complete although together they take longer than one budget. */
static void test_run_timeout_independent(void **state) {
  (void)state;
  cx_run_options o = CX_RUN_OPTIONS_INIT;
  o.timeout = 0.5;
  double t0 = cx_test_now();
  for (int i = 0; i < 4; i++) {
    seen s = {0};
    cx_op *op = NULL;
    s.sleep = 0.15;
    CX_ASSERT_OK(cx_run(&o, record_fn, &s, &op));
    assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
    cx_op_unref(op);
  }
  assert_true(cx_test_now() - t0 >= 0.55);
}

/* The timeout counts with the library clock: under the virtual clock it
 * fires when the test advances time, without sleeping. */
static int advance_fn(cx_op *op, void *p) {
  (void)p;
  int before = cx_check(op);
  CX_ASSERT_OK(cx_clock_advance(999.0));
  assert_int_equal(cx_check(NULL), 0);
  CX_ASSERT_OK(cx_clock_advance(2.0));
  return before != 0 ? before : cx_check(NULL);
}

static void test_run_timeout_virtual_clock(void **state) {
  (void)state;
  cx_run_options o = CX_RUN_OPTIONS_INIT;
  cx_op *op = NULL;
  o.timeout = 1000.0;
  CX_ASSERT_OK(cx_clock_use_virtual());
  int rc = cx_run(&o, advance_fn, NULL, &op);
  CX_ASSERT_OK(cx_clock_use_real());
  CX_ASSERT_ERR(-ECANCELED, rc);
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  cx_op_unref(op);
}

/* Issue 17 item 2 on the virtual clock: the run's 0.1 s timeout cancels
 * the run, not the caller's token; a second run with the token works; the
 * token still cancels a run in progress. */
static int past_timeout_fn(cx_op *op, void *p) {
  (void)p;
  CX_ASSERT_OK(cx_clock_advance(0.2));
  return cx_check(op);
}

static int cancel_token_fn(cx_op *op, void *p) {
  assert_int_equal(cx_check(op), 0);
  assert_true(cx_token_cancel(p, CX_REASON_MANUAL, "caller stops"));
  return cx_check(op);
}

static void test_run_token_timeout_vclock(void **state) {
  (void)state;
  cx_run_options o = CX_RUN_OPTIONS_INIT;
  cx_token *t = cx_token_new();
  cx_op *op = NULL;
  seen s = {0};
  assert_non_null(t);
  o.token = t;
  o.timeout = 0.1;
  CX_ASSERT_ERR(-ECANCELED, cx_run(&o, past_timeout_fn, NULL, &op));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  assert_false(cx_token_is_cancelled(t));
  cx_op_unref(op);
  CX_ASSERT_OK(cx_run(&o, record_fn, &s, &op)); /* the second run works */
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  cx_op_unref(op);
  CX_ASSERT_ERR(-ECANCELED, cx_run(&o, cancel_token_fn, t, &op));
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_MANUAL);
  assert_string_equal(cx_op_cancel_message(op), "caller stops");
  cx_op_unref(op);
  cx_token_unref(t);
}

static void test_run_token(void **state) {
  (void)state;
  cx_run_options o = CX_RUN_OPTIONS_INIT;
  seen s = {0};
  cx_op *op = NULL;
  later l = {0};
  cx_token *t = cx_token_new();
  assert_non_null(t);
  o.name = "worker";
  o.token = t;
  s.sleep = 10.0;
  l.delay = 0.1;
  l.token = t;
  later_start(&l);
  double t0 = cx_test_now();
  CX_ASSERT_ERR(-ECANCELED, cx_run(&o, record_fn, &s, &op));
  assert_true(cx_test_now() - t0 < 2.5);
  later_join(&l);
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_MANUAL);
  assert_string_equal(cx_op_cancel_message(op), "later");
  /* The op follows the token through a token of its own. */
  assert_ptr_not_equal(cx_op_token(op), t);
  cx_op_unref(op);
  cx_token_unref(t);
}

/* An already-cancelled token: the function is not called. */
static void test_run_token_already_cancelled(void **state) {
  (void)state;
  cx_run_options o = CX_RUN_OPTIONS_INIT;
  seen s = {0};
  cx_op *op = NULL;
  cx_token *t = cx_token_new();
  assert_non_null(t);
  assert_true(cx_token_cancel(t, CX_REASON_MANUAL, "before"));
  o.token = t;
  CX_ASSERT_ERR(-ECANCELED, cx_run(&o, record_fn, &s, &op));
  assert_int_equal(s.calls, 0);
  assert_non_null(op);
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_MANUAL);
  assert_null(cx_current());
  cx_op_unref(op);
  cx_token_unref(t);
}

/* Signals: the function sends itself the watched signal. */
typedef struct sig_run {
  int signo;
  int calls;
} sig_run;

static int signal_fn(cx_op *op, void *p) {
  sig_run *r = p;
  r->calls++;
  if (kill(getpid(), r->signo) != 0) return -errno;
  return cx_sleep(op, 10.0);
}

static void test_run_signals(void **state) {
  (void)state;
  cx_run_options o = CX_RUN_OPTIONS_INIT;
  int sigs[] = {SIGUSR1};
  sig_run r = {SIGUSR1, 0};
  cx_op *op = NULL;
  o.name = "service";
  o.watch_signals = true;
  o.signals = sigs;
  o.signal_count = 1;
  double t0 = cx_test_now();
  CX_ASSERT_ERR(-ECANCELED, cx_run(&o, signal_fn, &r, &op));
  assert_true(cx_test_now() - t0 < 2.5);
  assert_int_equal(r.calls, 1);
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_SIGNAL);
  assert_non_null(strstr(cx_op_cancel_message(op), "SIGUSR1"));
  cx_op_unref(op);
}

/* NULL signals with watch_signals: SIGINT and SIGTERM. */
static void test_run_signals_default(void **state) {
  (void)state;
  cx_run_options o = CX_RUN_OPTIONS_INIT;
  sig_run r = {SIGTERM, 0};
  cx_op *op = NULL;
  o.watch_signals = true;
  CX_ASSERT_ERR(-ECANCELED, cx_run(&o, signal_fn, &r, &op));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_SIGNAL);
  assert_non_null(strstr(cx_op_cancel_message(op), "SIGTERM"));
  cx_op_unref(op);
  r.signo = SIGINT;
  CX_ASSERT_ERR(-ECANCELED, cx_run(&o, signal_fn, &r, &op));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_SIGNAL);
  assert_non_null(strstr(cx_op_cancel_message(op), "SIGINT"));
  cx_op_unref(op);
}

/* Signals given but watch_signals false: no signal source. */
static void test_run_signals_not_watched(void **state) {
  (void)state;
  cx_run_options o = CX_RUN_OPTIONS_INIT;
  int sigs[] = {SIGUSR1};
  seen s = {0};
  cx_op *op = NULL;
  o.signals = sigs;
  o.signal_count = 1;
  o.timeout = 0.1;
  s.sleep = 5.0;
  CX_ASSERT_ERR(-ECANCELED, cx_run(&o, record_fn, &s, &op));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  cx_op_unref(op);
}

/* Condition: polled every condition_interval, with condition_data. */
typedef struct cond_state {
  atomic_int ready;
  atomic_int checks;
} cond_state;

static int cond_pred(void *p) {
  cond_state *c = p;
  atomic_fetch_add(&c->checks, 1);
  return atomic_load(&c->ready) ? 1 : 0;
}

static int cond_fn(cx_op *op, void *p) {
  cond_state *c = p;
  int rc = cx_sleep(op, 0.2); /* a few checks that say "not yet" */
  if (rc != 0) return rc;
  atomic_store(&c->ready, 1);
  return cx_sleep(op, 10.0);
}

static void test_run_condition(void **state) {
  (void)state;
  cx_run_options o = CX_RUN_OPTIONS_INIT;
  cond_state c;
  cx_op *op = NULL;
  atomic_init(&c.ready, 0);
  atomic_init(&c.checks, 0);
  o.name = "memory_intensive_task";
  o.condition = cond_pred;
  o.condition_data = &c;
  o.condition_interval = 0.02;
  double t0 = cx_test_now();
  CX_ASSERT_ERR(-ECANCELED, cx_run(&o, cond_fn, &c, &op));
  assert_true(cx_test_now() - t0 < 2.5);
  assert_true(atomic_load(&c.checks) >= 2);
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_CONDITION);
  cx_op_unref(op);
}

/* A combination: timeout, token, signals and condition on one op; the
 * first to trigger wins and gives the reason. */
static void combined_opts(cx_run_options *o, cx_token *t, cond_state *c,
                          const int *sigs, double timeout) {
  cx_run_options init = CX_RUN_OPTIONS_INIT;
  *o = init;
  o->name = "robust_operation";
  o->timeout = timeout;
  o->token = t;
  o->watch_signals = true;
  o->signals = sigs;
  o->signal_count = 1;
  o->condition = cond_pred;
  o->condition_data = c;
  o->condition_interval = 0.02;
}

static void test_run_combined(void **state) {
  (void)state;
  int sigs[] = {SIGUSR2};
  cx_run_options o;
  cond_state c;
  cx_op *op = NULL;
  seen s = {0};

  /* Token first. */
  atomic_init(&c.ready, 0);
  atomic_init(&c.checks, 0);
  cx_token *t = cx_token_new();
  later l = {0};
  combined_opts(&o, t, &c, sigs, 5.0);
  l.delay = 0.1;
  l.token = t;
  later_start(&l);
  s.sleep = 10.0;
  CX_ASSERT_ERR(-ECANCELED, cx_run(&o, record_fn, &s, &op));
  later_join(&l);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_MANUAL);
  cx_op_unref(op);
  cx_token_unref(t);

  /* Condition first. */
  t = cx_token_new();
  combined_opts(&o, t, &c, sigs, 5.0);
  CX_ASSERT_ERR(-ECANCELED, cx_run(&o, cond_fn, &c, &op));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_CONDITION);
  cx_op_unref(op);
  cx_token_unref(t);

  /* Signal first. */
  atomic_store(&c.ready, 0);
  t = cx_token_new();
  combined_opts(&o, t, &c, sigs, 5.0);
  sig_run r = {SIGUSR2, 0};
  CX_ASSERT_ERR(-ECANCELED, cx_run(&o, signal_fn, &r, &op));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_SIGNAL);
  cx_op_unref(op);
  cx_token_unref(t);

  /* Timeout first. */
  t = cx_token_new();
  combined_opts(&o, t, &c, sigs, 0.15);
  s.sleep = 10.0;
  double t0 = cx_test_now();
  CX_ASSERT_ERR(-ECANCELED, cx_run(&o, record_fn, &s, &op));
  assert_true(cx_test_now() - t0 < 2.5);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  cx_op_unref(op);
  /* The timeout cancelled the run, not the token given (issue 17). */
  assert_false(cx_token_is_cancelled(t));
  cx_token_unref(t);

  /* Nothing triggers: completes. */
  t = cx_token_new();
  combined_opts(&o, t, &c, sigs, 5.0);
  s.sleep = 0.05;
  CX_ASSERT_OK(cx_run(&o, record_fn, &s, &op));
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  cx_op_unref(op);
  cx_token_unref(t);
}

static void test_run_parent(void **state) {
  (void)state;
  cx_op *parent = entered_op("parent", 0);
  cx_run_options o = CX_RUN_OPTIONS_INIT;
  seen s = {0};
  cx_op *op = NULL;
  later l = {0};
  o.parent = parent;
  s.sleep = 10.0;
  l.delay = 0.1;
  l.op = parent;
  later_start(&l);
  CX_ASSERT_ERR(-ECANCELED, cx_run(&o, record_fn, &s, &op));
  later_join(&l);
  assert_string_equal(cx_op_parent_id(op), cx_op_id(parent));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_PARENT);
  assert_ptr_equal(cx_current(), parent);
  cx_op_unref(op);
  CX_ASSERT_OK(cx_op_exit(parent, -ECANCELED));
  cx_op_unref(parent);
}

static void test_run_parent_already_cancelled(void **state) {
  (void)state;
  cx_op *parent = entered_op("parent", 0);
  cx_run_options o = CX_RUN_OPTIONS_INIT;
  seen s = {0};
  cx_op *op = NULL;
  assert_true(cx_op_cancel(parent, CX_REASON_MANUAL, "stop"));
  o.parent = parent;
  CX_ASSERT_ERR(-ECANCELED, cx_run(&o, record_fn, &s, &op));
  assert_int_equal(s.calls, 0);
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  cx_op_unref(op);
  CX_ASSERT_OK(cx_op_exit(parent, -ECANCELED));
  cx_op_unref(parent);
}

/* register_op: listed while it runs, in the history afterwards. */
typedef struct reg_seen {
  int found;
  int listed;
} reg_seen;

static int reg_fn(cx_op *op, void *p) {
  reg_seen *r = p;
  cx_op *f = cx_registry_find(cx_op_id(op));
  cx_op_list l = {0};
  cx_op_filter flt = CX_OP_FILTER_INIT;
  r->found = f == op;
  cx_op_unref(f);
  flt.name = cx_op_name(op);
  CX_ASSERT_OK(cx_registry_list(&flt, &l));
  r->listed = (int)l.count;
  cx_op_list_free(&l);
  return 0;
}

static void test_run_register(void **state) {
  (void)state;
  cx_run_options o = CX_RUN_OPTIONS_INIT;
  reg_seen r = {0};
  cx_op *op = NULL;
  cx_registry_clear();
  o.name = "run-registered";
  o.register_op = true;
  CX_ASSERT_OK(cx_run(&o, reg_fn, &r, &op));
  assert_true(r.found);
  assert_int_equal(r.listed, 1);
  cx_op *f = cx_registry_find(cx_op_id(op));
  assert_ptr_equal(f, op); /* kept in the history */
  assert_int_equal(cx_op_status(f), CX_STATUS_COMPLETED);
  cx_op_unref(f);
  cx_op_unref(op);

  /* Not asked: not registered. */
  memset(&r, 0, sizeof r);
  o.name = "run-not-registered";
  o.register_op = false;
  CX_ASSERT_OK(cx_run(&o, reg_fn, &r, &op));
  assert_false(r.found);
  assert_int_equal(r.listed, 0);
  assert_null(cx_registry_find(cx_op_id(op)));
  cx_op_unref(op);
  cx_registry_clear();
}

static void test_run_bad_options(void **state) {
  (void)state;
  atomic_int calls;
  atomic_init(&calls, 0);
  cx_op *op = (cx_op *)(uintptr_t)1;
  int bad_sigs[][1] = {{0}, {-1}, {SIGKILL}, {SIGSTOP}, {100000}};
  cx_run_options o;
  cx_run_options init = CX_RUN_OPTIONS_INIT;
  const double bad_timeouts[] = {-1.0, -0.001, NAN, INFINITY, -INFINITY};

  for (size_t i = 0; i < sizeof bad_timeouts / sizeof *bad_timeouts; i++) {
    o = init;
    o.timeout = bad_timeouts[i];
    op = (cx_op *)(uintptr_t)1;
    CX_ASSERT_ERR(-EINVAL, cx_run(&o, count_fn, &calls, &op));
    assert_null(op);
  }
  for (size_t i = 0; i < sizeof bad_sigs / sizeof *bad_sigs; i++) {
    o = init;
    o.watch_signals = true;
    o.signals = bad_sigs[i];
    o.signal_count = 1;
    op = (cx_op *)(uintptr_t)1;
    CX_ASSERT_ERR(-EINVAL, cx_run(&o, count_fn, &calls, &op));
    assert_null(op);
  }
  /* More than 64 signals. */
  {
    int many[65];
    for (int i = 0; i < 65; i++) many[i] = SIGUSR1;
    o = init;
    o.watch_signals = true;
    o.signals = many;
    o.signal_count = 65;
    CX_ASSERT_ERR(-EINVAL, cx_run(&o, count_fn, &calls, NULL));
  }
  /* Bad condition interval. */
  {
    const double bad_iv[] = {-1.0, NAN, INFINITY};
    cond_state c;
    atomic_init(&c.ready, 0);
    atomic_init(&c.checks, 0);
    for (size_t i = 0; i < 3; i++) {
      o = init;
      o.condition = cond_pred;
      o.condition_data = &c;
      o.condition_interval = bad_iv[i];
      CX_ASSERT_ERR(-EINVAL, cx_run(&o, count_fn, &calls, NULL));
    }
  }
  /* Size too small (an older caller's struct). */
  o = init;
  o.size = sizeof(size_t);
  op = (cx_op *)(uintptr_t)1;
  CX_ASSERT_ERR(-EINVAL, cx_run(&o, count_fn, &calls, &op));
  assert_null(op);
  o.size = 0;
  CX_ASSERT_ERR(-EINVAL, cx_run(&o, count_fn, &calls, NULL));
  /* NULL fn. */
  op = (cx_op *)(uintptr_t)1;
  CX_ASSERT_ERR(-EINVAL, cx_run(NULL, NULL, NULL, &op));
  assert_null(op);
  CX_ASSERT_ERR(-EINVAL, cx_run_method("T", "m", NULL, NULL, NULL, NULL));
  /* Bad options through cx_run_method too. */
  o = init;
  o.timeout = -5;
  CX_ASSERT_ERR(-EINVAL, cx_run_method("T", "m", &o, count_fn, &calls, NULL));

  assert_int_equal(atomic_load(&calls), 0);
  assert_null(cx_current());
}

/* Bad options register nothing. */
static void test_run_bad_options_not_registered(void **state) {
  (void)state;
  cx_run_options o = CX_RUN_OPTIONS_INIT;
  cx_registry_stats st;
  atomic_int calls;
  atomic_init(&calls, 0);
  cx_registry_clear();
  o.register_op = true;
  o.timeout = NAN;
  CX_ASSERT_ERR(-EINVAL, cx_run(&o, count_fn, &calls, NULL));
  CX_ASSERT_OK(cx_registry_get_stats(&st));
  assert_int_equal(st.live, 0);
  assert_int_equal(st.history, 0);
  assert_int_equal(atomic_load(&calls), 0);
}

/* ---------------------------------------------------------------------- */
/* method naming */

static void test_run_method_name_macro(void **state) {
  (void)state;
  assert_string_equal(CX_METHOD_NAME(DataProcessor, process),
                      "DataProcessor.process");
  cx_run_options o = CX_RUN_OPTIONS_INIT;
  seen s = {0};
  cx_op *op = NULL;
  o.name = CX_METHOD_NAME(DataProcessor, process);
  CX_ASSERT_OK(cx_run(&o, record_fn, &s, &op));
  assert_string_equal(cx_op_name(op), "DataProcessor.process");
  cx_op_unref(op);
}

static void test_run_method(void **state) {
  (void)state;
  cx_run_options o = CX_RUN_OPTIONS_INIT;
  seen s = {0};
  cx_op *op = NULL;
  o.name = "ignored";
  o.timeout = 30.0;
  s.result = -EIO;
  CX_ASSERT_ERR(
      -EIO, cx_run_method("DataProcessor", "process", &o, record_fn, &s, &op));
  assert_string_equal(s.name, "DataProcessor.process");
  assert_ptr_equal(s.current, op);
  assert_string_equal(cx_op_name(op), "DataProcessor.process");
  assert_int_equal(cx_op_status(op), CX_STATUS_FAILED);
  cx_op_unref(op);
  /* NULL options: a plain run. */
  s.result = 0;
  CX_ASSERT_OK(cx_run_method("Cache", "refresh", NULL, record_fn, &s, &op));
  assert_string_equal(cx_op_name(op), "Cache.refresh");
  cx_op_unref(op);
  /* Each call has its own timeout, as cx_run. */
  o.timeout = 0.1;
  s.sleep = 5;
  CX_ASSERT_ERR(-ECANCELED, cx_run_method("A", "b", &o, record_fn, &s, &op));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  assert_string_equal(cx_op_name(op), "A.b");
  cx_op_unref(op);
}

static void test_run_method_bad_names(void **state) {
  (void)state;
  atomic_int calls;
  atomic_init(&calls, 0);
  cx_op *op = (cx_op *)(uintptr_t)1;
  CX_ASSERT_ERR(-EINVAL, cx_run_method(NULL, "m", NULL, count_fn, &calls, &op));
  assert_null(op);
  CX_ASSERT_ERR(-EINVAL,
                cx_run_method("T", NULL, NULL, count_fn, &calls, NULL));
  assert_int_equal(atomic_load(&calls), 0);
}

/* ---------------------------------------------------------------------- */
/* cx_run_in: one shared op */

static void test_run_in_shared_budget(void **state) {
  (void)state;
  /* Before the enter: the budget counts from it, and a preemption
   * between the two must not shorten what is measured. */
  double t0 = cx_test_now();
  cx_op *batch = entered_op("batch", 0.5);
  seen s[3];
  int rc[3];
  memset(s, 0, sizeof s);
  for (int i = 0; i < 3; i++) {
    s[i].sleep = 0.3;
    rc[i] = cx_run_in(batch, record_fn, &s[i]);
  }
  double took = cx_test_now() - t0;
  /* The first fits, the second runs out the one budget, the third is
   * not called at all. */
  CX_ASSERT_OK(rc[0]);
  CX_ASSERT_ERR(-ECANCELED, rc[1]);
  CX_ASSERT_ERR(-ECANCELED, rc[2]);
  assert_int_equal(s[0].calls, 1);
  assert_int_equal(s[1].calls, 1);
  assert_int_equal(s[2].calls, 0);
  assert_true(took >= 0.45);
  assert_true(took < 2.5);
  /* Each call received the shared op, current during the call. */
  assert_ptr_equal(s[0].op, batch);
  assert_ptr_equal(s[0].current, batch);
  assert_ptr_equal(s[1].op, batch);
  /* The caller still owns the op: it is still current and running. */
  assert_ptr_equal(cx_current(), batch);
  assert_int_equal(cx_op_status(batch), CX_STATUS_RUNNING);
  CX_ASSERT_OK(cx_op_exit(batch, rc[1]));
  assert_int_equal(cx_op_status(batch), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(batch), CX_REASON_TIMEOUT);
  cx_op_unref(batch);
}

/* When another op is current, the shared op is current for the call only. */
static void test_run_in_made_current(void **state) {
  (void)state;
  cx_op *shared = entered_op("shared", 0);
  cx_op *inner = entered_op("inner", 0);
  seen s = {0};
  assert_ptr_equal(cx_current(), inner);
  CX_ASSERT_OK(cx_run_in(shared, record_fn, &s));
  assert_ptr_equal(s.current, shared);
  assert_ptr_equal(cx_current(), inner);
  CX_ASSERT_OK(cx_op_exit(inner, 0));
  CX_ASSERT_OK(cx_op_exit(shared, 0));
  cx_op_unref(inner);
  cx_op_unref(shared);
}

typedef struct run_in_thread {
  cx_op *op;
  seen s;
  int rc;
  cx_op *current_after;
  cx_op *current_before;
} run_in_thread;

static void *run_in_thread_main(void *p) {
  run_in_thread *r = p;
  r->current_before = cx_current();
  r->rc = cx_run_in(r->op, record_fn, &r->s);
  r->current_after = cx_current();
  return NULL;
}

static void test_run_in_other_thread(void **state) {
  (void)state;
  cx_op *shared = entered_op("shared", 0);
  run_in_thread r;
  pthread_t th;
  memset(&r, 0, sizeof r);
  r.op = shared;
  r.s.sleep = 10.0;
  assert_int_equal(pthread_create(&th, NULL, run_in_thread_main, &r), 0);
  cx_test_sleep(0.1);
  double t0 = cx_test_now();
  assert_true(cx_op_cancel(shared, CX_REASON_MANUAL, "from main"));
  pthread_join(th, NULL);
  assert_true(cx_test_now() - t0 < 2.5);
  CX_ASSERT_ERR(-ECANCELED, r.rc);
  assert_null(r.current_before);
  assert_ptr_equal(r.s.current, shared); /* current in the other thread */
  assert_ptr_equal(r.s.op, shared);
  assert_null(r.current_after);
  /* The other thread's call also shared the one op: the first thread
   * still sees it current, and cancelled. */
  assert_ptr_equal(cx_current(), shared);
  CX_ASSERT_OK(cx_op_exit(shared, -ECANCELED));
  cx_op_unref(shared);
}

static void test_run_in_bad(void **state) {
  (void)state;
  atomic_int calls;
  atomic_init(&calls, 0);
  cx_op *pending = NULL;
  CX_ASSERT_OK(cx_op_create(&pending, NULL));
  CX_ASSERT_ERR(-EINVAL, cx_run_in(NULL, count_fn, &calls));
  CX_ASSERT_ERR(-EINVAL, cx_run_in(pending, NULL, NULL));
  /* Not running: pending, then finished. */
  CX_ASSERT_ERR(-EINVAL, cx_run_in(pending, count_fn, &calls));
  CX_ASSERT_OK(cx_op_enter(pending));
  CX_ASSERT_OK(cx_run_in(pending, count_fn, &calls));
  assert_int_equal(atomic_load(&calls), 1);
  CX_ASSERT_OK(cx_op_exit(pending, 0));
  CX_ASSERT_ERR(-EINVAL, cx_run_in(pending, count_fn, &calls));
  assert_int_equal(atomic_load(&calls), 1);
  cx_op_unref(pending);
}

static void test_run_in_cancelled_not_called(void **state) {
  (void)state;
  cx_op *op = entered_op("shared", 0);
  atomic_int calls;
  atomic_init(&calls, 0);
  assert_true(cx_op_cancel(op, CX_REASON_MANUAL, NULL));
  CX_ASSERT_ERR(-ECANCELED, cx_run_in(op, count_fn, &calls));
  assert_int_equal(atomic_load(&calls), 0);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
}

/* ---------------------------------------------------------------------- */
/* cx_with_current */

static void test_with_current(void **state) {
  (void)state;
  seen s = {0};
  s.result = 42;
  /* No op: the function gets NULL, and its result passes through. */
  assert_int_equal(cx_with_current(record_fn, &s), 42);
  assert_null(s.op);
  assert_int_equal(s.calls, 1);
  cx_op *op = entered_op("my_op", 30.0);
  s.result = -EIO;
  CX_ASSERT_ERR(-EIO, cx_with_current(record_fn, &s));
  assert_ptr_equal(s.op, op);
  assert_string_equal(s.name, "my_op");
  /* It created nothing: the op is still the current one and running. */
  assert_ptr_equal(cx_current(), op);
  assert_int_equal(cx_op_status(op), CX_STATUS_RUNNING);
  CX_ASSERT_ERR(-EINVAL, cx_with_current(NULL, NULL));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
}

/* ---------------------------------------------------------------------- */
/* CX_SCOPE */

static void test_scope_normal(void **state) {
  (void)state;
  cx_op *op = NULL;
  int rc = -1, body = 0;
  CX_ASSERT_OK(cx_op_create(&op, NULL));
  CX_SCOPE(op, &rc) {
    body++;
    assert_ptr_equal(cx_current(), op);
    assert_int_equal(cx_op_status(op), CX_STATUS_RUNNING);
    assert_int_equal(rc, 0);
    rc = 0;
  }
  assert_int_equal(body, 1);
  assert_null(cx_current());
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  cx_op_unref(op);
}

static void test_scope_result_failed(void **state) {
  (void)state;
  cx_op *op = NULL;
  int rc = 0;
  CX_ASSERT_OK(cx_op_create(&op, NULL));
  CX_SCOPE(op, &rc) { rc = -EIO; }
  assert_int_equal(cx_op_status(op), CX_STATUS_FAILED);
  assert_int_equal(cx_op_error(op), -EIO);
  cx_op_unref(op);
}

static void test_scope_cancelled(void **state) {
  (void)state;
  cx_op *op = NULL;
  int rc = 0;
  CX_ASSERT_OK(cx_op_with_timeout(&op, NULL, 0.1, "scoped"));
  CX_SCOPE(op, &rc) { rc = cx_sleep(NULL, 10.0); }
  CX_ASSERT_ERR(-ECANCELED, rc);
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  cx_op_unref(op);
}

static void test_scope_break(void **state) {
  (void)state;
  cx_op *op = NULL;
  int rc = 0, after_break = 0, iterations = 0;
  CX_ASSERT_OK(cx_op_create(&op, NULL));
  CX_SCOPE(op, &rc) {
    iterations++;
    rc = -EIO;
    if (rc != 0) break;
    after_break = 1;
  }
  assert_int_equal(iterations, 1);
  assert_int_equal(after_break, 0);
  assert_null(cx_current());
  assert_int_equal(cx_op_status(op), CX_STATUS_FAILED);
  assert_int_equal(cx_op_error(op), -EIO);
  cx_op_unref(op);
}

/* CX_SCOPE is a one-pass `for`: a `break` in its block leaves the scope
 * (exiting the op), not an enclosing loop; a scope inside a loop enters
 * and exits a fresh op each time round. */
static void test_scope_in_loop(void **state) {
  (void)state;
  cx_op *ops[3] = {NULL, NULL, NULL};
  int n = 0;
  for (int i = 0; i < 3; i++) {
    int rc = 0;
    CX_ASSERT_OK(cx_op_create(&ops[i], NULL));
    CX_SCOPE(ops[i], &rc) {
      n++;
      if (i == 1) {
        rc = -ECANCELED;
        break;
      }
    }
    assert_null(cx_current());
  }
  assert_int_equal(n, 3);
  assert_int_equal(cx_op_status(ops[0]), CX_STATUS_COMPLETED);
  assert_int_equal(cx_op_status(ops[1]), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_status(ops[2]), CX_STATUS_COMPLETED);
  for (int i = 0; i < 3; i++) cx_op_unref(ops[i]);
}

static int scope_return_helper(cx_op *op, int *seen_current) {
  int rc = 0;
  CX_SCOPE(op, &rc) {
    *seen_current = cx_current() == op;
    rc = -ETIMEDOUT;
    return 7; /* leaves the scope by return */
  }
  return 0;
}

static void test_scope_return(void **state) {
  (void)state;
  cx_op *op = NULL;
  int seen_current = 0;
  CX_ASSERT_OK(cx_op_create(&op, NULL));
  assert_int_equal(scope_return_helper(op, &seen_current), 7);
  assert_true(seen_current);
  assert_null(cx_current());
  assert_int_equal(cx_op_status(op), CX_STATUS_FAILED);
  assert_int_equal(cx_op_error(op), -ETIMEDOUT);
  cx_op_unref(op);
}

static int scope_return_ok_helper(cx_op *op) {
  int rc = 0;
  CX_SCOPE(op, &rc) { return 1; }
  return 0;
}

static void test_scope_return_completed(void **state) {
  (void)state;
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_create(&op, NULL));
  assert_int_equal(scope_return_ok_helper(op), 1);
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  assert_null(cx_current());
  cx_op_unref(op);
}

static void test_scope_nested(void **state) {
  (void)state;
  cx_op *outer = NULL, *inner = NULL;
  int rc_outer = 0, rc_inner = 0;
  CX_ASSERT_OK(cx_op_create(&outer, NULL));
  cx_op_options o = CX_OP_OPTIONS_INIT;
  o.parent = outer;
  CX_ASSERT_OK(cx_op_create(&inner, &o));
  CX_SCOPE(outer, &rc_outer) {
    CX_SCOPE(inner, &rc_inner) {
      assert_ptr_equal(cx_current(), inner);
      rc_inner = -EIO;
    }
    assert_ptr_equal(cx_current(), outer);
    assert_int_equal(cx_op_status(inner), CX_STATUS_FAILED);
  }
  assert_int_equal(cx_op_status(outer), CX_STATUS_COMPLETED);
  assert_null(cx_current());
  cx_op_unref(inner);
  cx_op_unref(outer);
}

/* Enter fails: the block is skipped and rc holds the error. */
static void test_scope_enter_fails(void **state) {
  (void)state;
  cx_op *op = entered_op("already", 0);
  int rc = 0, body = 0;
  CX_SCOPE(op, &rc) { body++; }
  assert_int_equal(body, 0);
  CX_ASSERT_ERR(-EINVAL, rc);
  /* The op was left alone: still running and current. */
  assert_int_equal(cx_op_status(op), CX_STATUS_RUNNING);
  assert_ptr_equal(cx_current(), op);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
  rc = 0;
  CX_SCOPE(NULL, &rc) { body++; }
  assert_int_equal(body, 0);
  CX_ASSERT_ERR(-EINVAL, rc);
}

/* ---------------------------------------------------------------------- */
/* CX_CALL and cx_wrap */

static int fetch(atomic_int *calls) {
  atomic_fetch_add(calls, 1);
  return 5;
}

static void test_call_macro(void **state) {
  (void)state;
  atomic_int calls;
  atomic_init(&calls, 0);
  cx_op *op = entered_op("retry_operation", 0);
  assert_int_equal(CX_CALL(op, fetch(&calls)), 5);
  assert_int_equal(CX_CALL(NULL, fetch(&calls)), 5); /* current op */
  assert_int_equal(atomic_load(&calls), 2);
  assert_true(cx_op_cancel(op, CX_REASON_MANUAL, NULL));
  CX_ASSERT_ERR(-ECANCELED, CX_CALL(op, fetch(&calls)));
  CX_ASSERT_ERR(-ECANCELED, CX_CALL(NULL, fetch(&calls)));
  assert_int_equal(atomic_load(&calls), 2);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  /* No op at all: always evaluated. */
  assert_int_equal(CX_CALL(NULL, fetch(&calls)), 5);
  assert_int_equal(atomic_load(&calls), 3);
}

typedef struct wrap_seen {
  atomic_int calls;
  cx_op *op;
} wrap_seen;

static int wrapped_fn(cx_op *op, void *p) {
  wrap_seen *w = p;
  atomic_fetch_add(&w->calls, 1);
  w->op = op;
  return 3;
}

static void test_wrap(void **state) {
  (void)state;
  wrap_seen w;
  atomic_init(&w.calls, 0);
  w.op = NULL;
  cx_op *op = entered_op("fetch", 0);
  cx_wrapped wf = cx_wrap(op, wrapped_fn);
  for (int i = 0; i < 3; i++) assert_int_equal(cx_wrapped_call(&wf, &w), 3);
  assert_int_equal(atomic_load(&w.calls), 3);
  assert_ptr_equal(w.op, op);
  assert_true(cx_op_cancel(op, CX_REASON_TIMEOUT, "deadline"));
  CX_ASSERT_ERR(-ECANCELED, cx_wrapped_call(&wf, &w));
  CX_ASSERT_ERR(-ECANCELED, cx_wrapped_call(&wf, &w));
  assert_int_equal(atomic_load(&w.calls), 3);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
}

/* A wrapper with NULL op uses the current op at call time. */
static void test_wrap_current(void **state) {
  (void)state;
  wrap_seen w;
  atomic_init(&w.calls, 0);
  w.op = NULL;
  cx_wrapped wf = cx_wrap(NULL, wrapped_fn);
  assert_int_equal(cx_wrapped_call(&wf, &w), 3); /* no op: plain call */
  assert_null(w.op);
  cx_op *a = entered_op("a", 0);
  assert_int_equal(cx_wrapped_call(&wf, &w), 3);
  assert_ptr_equal(w.op, a);
  assert_true(cx_op_cancel(a, CX_REASON_MANUAL, NULL));
  CX_ASSERT_ERR(-ECANCELED, cx_wrapped_call(&wf, &w));
  cx_op *b = entered_op("b", 0); /* not a child: live */
  assert_int_equal(cx_wrapped_call(&wf, &w), 3);
  assert_ptr_equal(w.op, b);
  CX_ASSERT_OK(cx_op_exit(b, 0));
  CX_ASSERT_ERR(-ECANCELED, cx_wrapped_call(&wf, &w));
  CX_ASSERT_OK(cx_op_exit(a, -ECANCELED));
  assert_int_equal(atomic_load(&w.calls), 3);
  cx_op_unref(b);
  cx_op_unref(a);
}

static void test_wrap_bad(void **state) {
  (void)state;
  cx_wrapped wf = cx_wrap(NULL, NULL);
  CX_ASSERT_ERR(-EINVAL, cx_wrapped_call(NULL, NULL));
  CX_ASSERT_ERR(-EINVAL, cx_wrapped_call(&wf, NULL));
}

/* The seed's batch: the wrapped call stops the loop at the timeout. */
static int process_item(cx_op *op, void *p) {
  (void)p;
  return cx_sleep(op, 0.05);
}

static void test_wrap_batch(void **state) {
  (void)state;
  cx_op *op = NULL;
  int done = 0, rc = 0;
  CX_ASSERT_OK(cx_op_with_timeout(&op, NULL, 0.3, "batch"));
  CX_ASSERT_OK(cx_op_enter(op));
  cx_wrapped wp = cx_wrap(op, process_item);
  for (int i = 0; i < 1000; i++) {
    rc = cx_wrapped_call(&wp, NULL);
    if (rc != 0) break;
    done++;
  }
  CX_ASSERT_ERR(-ECANCELED, rc);
  assert_true(done >= 1);
  assert_true(done < 100);
  CX_ASSERT_OK(cx_op_exit(op, rc));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  cx_op_unref(op);
}

/* ---------------------------------------------------------------------- */

static const struct CMUnitTest tests[] = {
    CX_TEST("/run/fresh/op-per-call", test_run_fresh_op_per_call),
    CX_TEST("/run/fresh/name", test_run_name),
    CX_TEST("/run/fresh/out-op-null", test_run_out_op_null),
    CX_TEST("/run/fresh/result-becomes-status", test_run_result_becomes_status),
    CX_TEST("/run/fresh/timeout", test_run_timeout),
    CX_TEST("/run/fresh/timeout-independent", test_run_timeout_independent),
    CX_TEST("/run/fresh/timeout-virtual-clock", test_run_timeout_virtual_clock),
    CX_TEST("/run/fresh/token", test_run_token),
    CX_TEST_VCLOCK("/run/fresh/token/timeout-vclock",
                   test_run_token_timeout_vclock),
    CX_TEST("/run/fresh/token-already-cancelled",
            test_run_token_already_cancelled),
    CX_TEST("/run/fresh/signals", test_run_signals),
    CX_TEST("/run/fresh/signals-default", test_run_signals_default),
    CX_TEST("/run/fresh/signals-not-watched", test_run_signals_not_watched),
    CX_TEST("/run/fresh/condition", test_run_condition),
    CX_TEST("/run/fresh/combined", test_run_combined),
    CX_TEST("/run/fresh/parent", test_run_parent),
    CX_TEST("/run/fresh/parent-already-cancelled",
            test_run_parent_already_cancelled),
    CX_TEST("/run/fresh/register", test_run_register),
    CX_TEST("/run/fresh/bad-options", test_run_bad_options),
    CX_TEST("/run/fresh/bad-options-not-registered",
            test_run_bad_options_not_registered),
    CX_TEST("/run/method/name-macro", test_run_method_name_macro),
    CX_TEST("/run/method/run", test_run_method),
    CX_TEST("/run/method/bad-names", test_run_method_bad_names),
    CX_TEST("/run/shared/one-budget", test_run_in_shared_budget),
    CX_TEST("/run/shared/made-current", test_run_in_made_current),
    CX_TEST("/run/shared/other-thread", test_run_in_other_thread),
    CX_TEST("/run/shared/bad", test_run_in_bad),
    CX_TEST("/run/shared/cancelled-not-called",
            test_run_in_cancelled_not_called),
    CX_TEST("/run/with-current", test_with_current),
    CX_TEST("/run/scope/normal", test_scope_normal),
    CX_TEST("/run/scope/failed", test_scope_result_failed),
    CX_TEST("/run/scope/cancelled", test_scope_cancelled),
    CX_TEST("/run/scope/break", test_scope_break),
    CX_TEST("/run/scope/in-loop", test_scope_in_loop),
    CX_TEST("/run/scope/return", test_scope_return),
    CX_TEST("/run/scope/return-completed", test_scope_return_completed),
    CX_TEST("/run/scope/nested", test_scope_nested),
    CX_TEST("/run/scope/enter-fails", test_scope_enter_fails),
    CX_TEST("/run/call/macro", test_call_macro),
    CX_TEST("/run/wrap/op", test_wrap),
    CX_TEST("/run/wrap/current", test_wrap_current),
    CX_TEST("/run/wrap/bad", test_wrap_bad),
    CX_TEST("/run/wrap/batch", test_wrap_batch),
};

CX_TEST_MAIN("run", tests)
