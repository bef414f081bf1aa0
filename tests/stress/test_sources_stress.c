/* tests/stress/test_sources_stress.c - issue #3: 1 000 operations with
 * mixed sources (short and long timeouts, conditions, manual cancels from
 * another thread, custom sources triggered from another thread, any-of and
 * all-of composites, failing work) run on 8 threads at once; every op must
 * end with the right status, reason and message.  A second test races
 * triggers from other threads against exits.  Meant to run clean under
 * ThreadSanitizer (label stress).
 */
#include "cx_test.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cancelable.h>

#define THREADS 8
#define OPS_PER_THREAD 125 /* 1 000 in all */

/* ---------------------------------------------------------------------- */
/* failures are collected (cmocka asserts only on the main thread) */

static atomic_int failures;
static pthread_mutex_t failure_mu = PTHREAD_MUTEX_INITIALIZER;
static char first_failure[512];

static void failf(const char *kind, int i, const char *what, cx_op *op) {
  if (atomic_fetch_add(&failures, 1) == 0) {
    pthread_mutex_lock(&failure_mu);
    snprintf(first_failure, sizeof first_failure,
             "%s #%d: %s (status %s, reason %s, message '%s', error %d)", kind,
             i, what, cx_status_name(cx_op_status(op)),
             cx_reason_name(cx_op_cancel_reason(op)),
             cx_op_cancel_message(op) ? cx_op_cancel_message(op) : "(null)",
             cx_op_error(op));
    pthread_mutex_unlock(&failure_mu);
  }
}

/* ---------------------------------------------------------------------- */
/* the canceller: another thread that cancels ops or triggers sources */

typedef struct job {
  cx_op *op;         /* a reference */
  cx_source *source; /* NULL: cancel the op by hand */
  struct job *next;
} job;

static pthread_mutex_t queue_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_cond = PTHREAD_COND_INITIALIZER;
static job *queue_head;
static bool queue_done;

static void push(cx_op *op, cx_source *source) {
  job *j = malloc(sizeof *j);
  if (j == NULL) abort();
  j->op = cx_op_ref(op);
  j->source = source;
  pthread_mutex_lock(&queue_mu);
  j->next = queue_head;
  queue_head = j;
  pthread_cond_signal(&queue_cond);
  pthread_mutex_unlock(&queue_mu);
}

static void *canceller_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&queue_mu);
  for (;;) {
    while (queue_head == NULL && !queue_done)
      pthread_cond_wait(&queue_cond, &queue_mu);
    if (queue_head == NULL) break;
    job *j = queue_head;
    queue_head = j->next;
    pthread_mutex_unlock(&queue_mu);
    if (j->source != NULL)
      cx_source_trigger(j->source, "custom fired");
    else
      cx_op_cancel(j->op, CX_REASON_MANUAL, "stress cancel");
    cx_op_unref(j->op);
    free(j);
    pthread_mutex_lock(&queue_mu);
  }
  pthread_mutex_unlock(&queue_mu);
  return NULL;
}

/* ---------------------------------------------------------------------- */
/* sources */

typedef struct counter {
  atomic_int calls;
  int met_at; /* 0: never */
} counter;

static int count_pred(void *user_data) {
  counter *c = user_data;
  int n = atomic_fetch_add(&c->calls, 1) + 1;
  return c->met_at > 0 && n >= c->met_at;
}

static void free_counter(void *p) { free(p); }

static cx_source *condition(int met_at, double interval) {
  counter *c = calloc(1, sizeof *c);
  cx_source *s = NULL;
  if (c == NULL) abort();
  c->met_at = met_at;
  if (cx_source_condition(&s, count_pred, c, free_counter, interval,
                          "stress") != 0)
    abort();
  return s;
}

static cx_source *timeout(double seconds) {
  cx_source *s = NULL;
  if (cx_source_timeout(&s, seconds) != 0) abort();
  return s;
}

static int noop_start(cx_source *s, void *u) {
  (void)s;
  (void)u;
  return 0;
}
static void noop_stop(cx_source *s, void *u) {
  (void)s;
  (void)u;
}

static cx_source *custom(void) {
  static const cx_source_ops ops = {sizeof(cx_source_ops), noop_start,
                                    noop_stop, NULL};
  cx_source *s = NULL;
  if (cx_source_new(&s, &ops, NULL, CX_REASON_ERROR, "custom") != 0) abort();
  return s;
}

static cx_source *pair(bool all, cx_source *a, cx_source *b) {
  cx_source *list[] = {a, b}, *out = NULL;
  if ((all ? cx_source_all_of : cx_source_any_of)(&out, list, 2) != 0) abort();
  return out;
}

/* ---------------------------------------------------------------------- */
/* one op of each kind */

enum {
  K_SHORT_TIMEOUT,
  K_LONG_TIMEOUT_COMPLETES,
  K_CONDITION,
  K_MANUAL,
  K_ANY_OF,
  K_ALL_OF,
  K_CUSTOM,
  K_FAILS,
  K_COUNT
};

static const char *const kind_names[K_COUNT] = {
    "short-timeout", "long-timeout", "condition", "manual",
    "any-of",        "all-of",       "custom",    "fails"};

static atomic_int by_kind[K_COUNT];

static void run_one(int kind, int i) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_op *op = NULL;
  cx_source *custom_src = NULL;
  int rc;
  o.name = kind_names[kind];
  if (cx_op_create(&op, &o) != 0) abort();
  switch (kind) {
    case K_SHORT_TIMEOUT:
      cx_op_add_source(op, timeout(0.01));
      break;
    case K_LONG_TIMEOUT_COMPLETES:
      cx_op_add_source(op, timeout(30));
      break;
    case K_CONDITION:
      cx_op_add_source(op, condition(3, 0.002));
      break;
    case K_MANUAL:
      cx_op_add_source(op, timeout(30));
      break;
    case K_ANY_OF:
      cx_op_add_source(op, pair(false, condition(0, 0.002), timeout(0.005)));
      break;
    case K_ALL_OF:
      cx_op_add_source(op, pair(true, timeout(0.005), condition(2, 0.002)));
      break;
    case K_CUSTOM:
      custom_src = custom();
      cx_op_add_source(op, pair(false, timeout(30), custom_src));
      break;
    case K_FAILS:
      cx_op_add_source(op, pair(false, condition(0, 0.002), timeout(30)));
      break;
  }
  if (cx_op_enter(op) != 0) abort();
  if (kind == K_MANUAL) push(op, NULL);
  if (kind == K_CUSTOM) push(op, custom_src);

  /* the work */
  switch (kind) {
    case K_LONG_TIMEOUT_COMPLETES:
      rc = cx_sleep(op, 0.001);
      break;
    case K_FAILS:
      rc = cx_sleep(op, 0.001);
      if (rc == 0) rc = -EIO;
      break;
    default:
      rc = cx_sleep(op, 20);
      break;
  }
  cx_op_exit(op, rc);

  const char *msg = cx_op_cancel_message(op);
  cx_status st = cx_op_status(op);
  cx_reason reason = cx_op_cancel_reason(op);
  const char *kn = kind_names[kind];
  switch (kind) {
    case K_SHORT_TIMEOUT:
      if (st != CX_STATUS_CANCELLED || reason != CX_REASON_TIMEOUT ||
          strcmp(msg, "timed out after 0.01 s") != 0)
        failf(kn, i, "expected cancelled by its timeout", op);
      break;
    case K_LONG_TIMEOUT_COMPLETES:
      if (st != CX_STATUS_COMPLETED || reason != CX_REASON_NONE)
        failf(kn, i, "expected completed", op);
      break;
    case K_CONDITION:
      if (st != CX_STATUS_CANCELLED || reason != CX_REASON_CONDITION ||
          strstr(msg, "3 checks") == NULL)
        failf(kn, i, "expected cancelled by the condition", op);
      break;
    case K_MANUAL:
      if (st != CX_STATUS_CANCELLED || reason != CX_REASON_MANUAL ||
          strcmp(msg, "stress cancel") != 0)
        failf(kn, i, "expected cancelled by hand", op);
      break;
    case K_ANY_OF:
      if (st != CX_STATUS_CANCELLED || reason != CX_REASON_TIMEOUT ||
          strcmp(msg, "timed out after 0.005 s (the first: timeout)") != 0)
        failf(kn, i, "expected cancelled by the any-of's timeout", op);
      break;
    case K_ALL_OF:
      if (st != CX_STATUS_CANCELLED ||
          (reason != CX_REASON_TIMEOUT && reason != CX_REASON_CONDITION) ||
          strncmp(msg, "all 2 sources triggered (the last: ", 35) != 0)
        failf(kn, i, "expected cancelled by the all-of", op);
      break;
    case K_CUSTOM:
      if (st != CX_STATUS_CANCELLED || reason != CX_REASON_ERROR ||
          strcmp(msg, "custom fired (the first: custom)") != 0)
        failf(kn, i, "expected cancelled by the custom source", op);
      break;
    case K_FAILS:
      if (st != CX_STATUS_FAILED || cx_op_error(op) != -EIO ||
          reason != CX_REASON_NONE)
        failf(kn, i, "expected failed with -EIO", op);
      break;
  }
  atomic_fetch_add(&by_kind[kind], 1);
  cx_op_unref(op);
}

static void *worker_main(void *arg) {
  int t = (int)(intptr_t)arg;
  for (int i = 0; i < OPS_PER_THREAD; i++)
    run_one((i + t) % K_COUNT, t * OPS_PER_THREAD + i);
  return NULL;
}

static void test_mixed_sources(void **state) {
  (void)state;
  pthread_t threads[THREADS], canceller;
  double t0 = cx_test_now();
  queue_done = false;
  assert_int_equal(pthread_create(&canceller, NULL, canceller_main, NULL), 0);
  for (int t = 0; t < THREADS; t++)
    assert_int_equal(
        pthread_create(&threads[t], NULL, worker_main, (void *)(intptr_t)t), 0);
  for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);
  pthread_mutex_lock(&queue_mu);
  queue_done = true;
  pthread_cond_signal(&queue_cond);
  pthread_mutex_unlock(&queue_mu);
  pthread_join(canceller, NULL);
  int total = 0;
  for (int k = 0; k < K_COUNT; k++) {
    assert_true(atomic_load(&by_kind[k]) > 100);
    total += atomic_load(&by_kind[k]);
  }
  assert_int_equal(total, THREADS * OPS_PER_THREAD);
  if (atomic_load(&failures) != 0) {
    print_error("%d failures; first: %s\n", atomic_load(&failures),
                first_failure);
    fail();
  }
  print_message("1000 ops in %.2f s\n", cx_test_now() - t0);
}

/* ---------------------------------------------------------------------- */
/* triggers from other threads racing with exits */

typedef struct hammer {
  cx_source *_Atomic target;
  atomic_bool stop;
  atomic_long delivered;
} hammer;

static void *hammer_main(void *arg) {
  hammer *h = arg;
  while (!atomic_load(&h->stop)) {
    cx_source *s = atomic_load(&h->target);
    if (s != NULL && cx_source_trigger(s, "hammer"))
      atomic_fetch_add(&h->delivered, 1);
  }
  return NULL;
}

static void test_trigger_vs_exit(void **state) {
  (void)state;
  /* the hammer threads only touch sources of ops that are alive: each op
   * is kept (referenced) until the hammers have moved on */
  enum { HAMMERS = 3, ROUNDS = 300 };
  hammer h;
  atomic_init(&h.target, NULL);
  atomic_init(&h.stop, false);
  atomic_init(&h.delivered, 0);
  pthread_t t[HAMMERS];
  for (int i = 0; i < HAMMERS; i++)
    assert_int_equal(pthread_create(&t[i], NULL, hammer_main, &h), 0);
  cx_op *keep[ROUNDS];
  int cancelled = 0;
  for (int r = 0; r < ROUNDS; r++) {
    cx_source *a = custom(), *b = custom();
    cx_op *op = NULL;
    assert_int_equal(cx_op_create(&op, NULL), 0);
    /* half any-of (the hammer cancels), half all-of (it cannot: only one
     * of the two sub-sources is hammered) */
    assert_int_equal(cx_op_add_source(op, pair(r % 2 == 1, a, b)), 0);
    assert_int_equal(cx_op_enter(op), 0);
    atomic_store(&h.target, a);
    cx_test_sleep(0.0002 * (r % 3));
    int rc = cx_op_is_cancelled(op) ? -ECANCELED : 0;
    assert_int_equal(cx_op_exit(op, rc), 0);
    /* after exit nothing is delivered */
    assert_false(cx_source_trigger(a, "after exit"));
    if (r % 2 == 1) assert_false(cx_op_is_cancelled(op));
    if (rc != 0) {
      cancelled++;
      assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
      /* an any-of of several names its member (issue 17) */
      assert_string_equal(cx_op_cancel_message(op),
                          "hammer (the first: custom)");
    } else {
      assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
    }
    keep[r] = op;
  }
  atomic_store(&h.stop, true);
  for (int i = 0; i < HAMMERS; i++) pthread_join(t[i], NULL);
  for (int r = 0; r < ROUNDS; r++) cx_op_unref(keep[r]);
  assert_true(atomic_load(&h.delivered) > 0);
  print_message("%d of %d any-of rounds cancelled\n", cancelled, ROUNDS / 2);
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/stress/sources/1000-mixed-ops-8-threads", test_mixed_sources),
    CX_TEST("/stress/sources/trigger-vs-exit", test_trigger_vs_exit),
};

CX_TEST_MAIN("sources-stress", tests)
