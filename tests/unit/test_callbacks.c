/* tests/unit/test_callbacks.c - token cancel callbacks: register and
 * unregister, running at once on an already-cancelled token, the
 * NO_RUN_IF_CANCELLED flag, unregister waiting for a callback running on
 * another thread, unregister from inside the callback itself, the non-waiting
 * unregister, failure isolation, registration order, the cancelling thread,
 * no lock held while callbacks run, and destroy notify exactly once.
 * Issue #2.
 */
#include "cx_test.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cancelable.h>

/* ---------------------------------------------------------------------- */
/* helpers */

/* Spin (with short sleeps) until *flag != 0 or @seconds pass. */
static bool wait_flag(atomic_int *flag, double seconds) {
  double end = cx_test_now() + seconds;
  while (!atomic_load(flag)) {
    if (cx_test_now() > end) return false;
    cx_test_sleep(0.001);
  }
  return true;
}

typedef struct counter {
  atomic_int calls;
  atomic_int destroys;
  atomic_int calls_at_destroy;
  cx_token *token_seen;
  pthread_t thread;
  int ret; /* what the callback returns */
} counter;

static int count_cb(cx_token *token, void *user_data) {
  counter *c = user_data;
  c->token_seen = token;
  c->thread = pthread_self();
  atomic_fetch_add(&c->calls, 1);
  return c->ret;
}

static void count_destroy(void *user_data) {
  counter *c = user_data;
  atomic_store(&c->calls_at_destroy, atomic_load(&c->calls));
  atomic_fetch_add(&c->destroys, 1);
}

typedef struct canceller {
  cx_token *token;
  double delay;
  bool result;
} canceller;

static void *cancel_thread(void *p) {
  canceller *c = p;
  if (c->delay > 0) cx_test_sleep(c->delay);
  c->result = cx_token_cancel(c->token, CX_REASON_MANUAL, "from thread");
  return NULL;
}

/* ---------------------------------------------------------------------- */
/* register / unregister basics */

static void test_cb_runs_on_cancel(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  counter c = {0};
  cx_callback *h = NULL;
  CX_ASSERT_OK(cx_token_on_cancel(t, count_cb, &c, count_destroy, 0, &h));
  assert_non_null(h);
  assert_int_equal(atomic_load(&c.calls), 0);
  assert_true(cx_token_cancel(t, CX_REASON_MANUAL, "go"));
  assert_int_equal(atomic_load(&c.calls), 1);
  assert_ptr_equal(c.token_seen, t);
  /* runs once only */
  cx_token_cancel(t, CX_REASON_MANUAL, "again");
  assert_int_equal(atomic_load(&c.calls), 1);
  assert_int_equal(cx_callback_unregister(h), CX_CALLBACK_RAN);
  assert_int_equal(atomic_load(&c.calls), 1);
  assert_int_equal(atomic_load(&c.destroys), 1);
  assert_int_equal(atomic_load(&c.calls_at_destroy), 1);
  cx_token_unref(t);
  assert_int_equal(atomic_load(&c.destroys), 1);
}

static void test_cb_unregister_before_cancel(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  counter c = {0};
  cx_callback *h = NULL;
  CX_ASSERT_OK(cx_token_on_cancel(t, count_cb, &c, count_destroy, 0, &h));
  assert_int_equal(cx_callback_unregister(h), CX_CALLBACK_REMOVED);
  /* destroy runs when unregistered before running */
  assert_int_equal(atomic_load(&c.destroys), 1);
  cx_token_cancel(t, CX_REASON_MANUAL, NULL);
  assert_int_equal(atomic_load(&c.calls), 0);
  cx_token_unref(t);
  assert_int_equal(atomic_load(&c.destroys), 1);
}

static void test_cb_nowait_before_cancel(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  counter c = {0};
  cx_callback *h = NULL;
  CX_ASSERT_OK(cx_token_on_cancel(t, count_cb, &c, count_destroy, 0, &h));
  assert_int_equal(cx_callback_unregister_nowait(h), CX_CALLBACK_REMOVED);
  assert_int_equal(atomic_load(&c.destroys), 1);
  cx_token_cancel(t, CX_REASON_MANUAL, NULL);
  assert_int_equal(atomic_load(&c.calls), 0);
  cx_token_unref(t);
  assert_int_equal(atomic_load(&c.destroys), 1);
}

static void test_cb_nowait_after_run(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  counter c = {0};
  cx_callback *h = NULL;
  CX_ASSERT_OK(cx_token_on_cancel(t, count_cb, &c, count_destroy, 0, &h));
  cx_token_cancel(t, CX_REASON_MANUAL, NULL);
  assert_int_equal(cx_callback_unregister_nowait(h), CX_CALLBACK_RAN);
  assert_int_equal(atomic_load(&c.calls), 1);
  assert_int_equal(atomic_load(&c.destroys), 1);
  cx_token_unref(t);
  assert_int_equal(atomic_load(&c.destroys), 1);
}

static void test_cb_without_handle(void **state) {
  (void)state;
  /* freed without cancel: destroy runs at free, callback never */
  cx_token *t = cx_token_new();
  counter c = {0};
  CX_ASSERT_OK(cx_token_on_cancel(t, count_cb, &c, count_destroy, 0, NULL));
  assert_int_equal(atomic_load(&c.destroys), 0);
  cx_token_unref(t);
  assert_int_equal(atomic_load(&c.calls), 0);
  assert_int_equal(atomic_load(&c.destroys), 1);

  /* cancelled then freed: runs once, destroyed once */
  t = cx_token_new();
  counter d = {0};
  CX_ASSERT_OK(cx_token_on_cancel(t, count_cb, &d, count_destroy, 0, NULL));
  cx_token_cancel(t, CX_REASON_MANUAL, NULL);
  assert_int_equal(atomic_load(&d.calls), 1);
  cx_token_unref(t);
  assert_int_equal(atomic_load(&d.calls), 1);
  assert_int_equal(atomic_load(&d.destroys), 1);
  assert_int_equal(atomic_load(&d.calls_at_destroy), 1);
}

static void test_cb_handle_keeps_token(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  counter c = {0};
  cx_callback *h = NULL;
  CX_ASSERT_OK(cx_token_on_cancel(t, count_cb, &c, count_destroy, 0, &h));
  cx_token *keep = cx_token_ref(t);
  cx_token_unref(t); /* the handle and keep hold it */
  assert_true(cx_token_cancel(keep, CX_REASON_MANUAL, NULL));
  cx_token_unref(keep); /* only the handle holds it now */
  assert_int_equal(atomic_load(&c.destroys), 0);
  assert_int_equal(cx_callback_unregister(h), CX_CALLBACK_RAN);
  assert_int_equal(atomic_load(&c.destroys), 1);
}

static void test_cb_handle_keeps_token_live(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  counter c = {0};
  cx_callback *h = NULL;
  CX_ASSERT_OK(cx_token_on_cancel(t, count_cb, &c, count_destroy, 0, &h));
  cx_token_unref(t); /* only the handle holds the token */
  assert_int_equal(cx_callback_unregister(h), CX_CALLBACK_REMOVED);
  assert_int_equal(atomic_load(&c.calls), 0);
  assert_int_equal(atomic_load(&c.destroys), 1);
}

/* ---------------------------------------------------------------------- */
/* already cancelled */

static void test_cb_already_cancelled_runs_at_once(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  cx_token_cancel(t, CX_REASON_MANUAL, NULL);
  counter c = {0};
  cx_callback *h = (cx_callback *)&c; /* must be overwritten */
  assert_int_equal(cx_token_on_cancel(t, count_cb, &c, count_destroy, 0, &h),
                   1);
  assert_null(h);
  assert_int_equal(atomic_load(&c.calls), 1);
  assert_true(pthread_equal(c.thread, pthread_self()));
  assert_ptr_equal(c.token_seen, t);
  assert_int_equal(atomic_load(&c.destroys), 1);
  assert_int_equal(atomic_load(&c.calls_at_destroy), 1);

  /* also without a handle */
  counter d = {0};
  assert_int_equal(cx_token_on_cancel(t, count_cb, &d, count_destroy, 0, NULL),
                   1);
  assert_int_equal(atomic_load(&d.calls), 1);
  assert_int_equal(atomic_load(&d.destroys), 1);
  cx_token_unref(t);
  assert_int_equal(atomic_load(&c.destroys), 1);
  assert_int_equal(atomic_load(&d.destroys), 1);
}

static void test_cb_no_run_flag(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  cx_token_cancel(t, CX_REASON_MANUAL, NULL);
  counter c = {0};
  cx_callback *h = (cx_callback *)&c;
  CX_ASSERT_ERR(-ECANCELED,
                cx_token_on_cancel(t, count_cb, &c, count_destroy,
                                   CX_CALLBACK_NO_RUN_IF_CANCELLED, &h));
  assert_null(h);
  assert_int_equal(atomic_load(&c.calls), 0);
  /* on error destroy is not called: the user data stays the caller's */
  assert_int_equal(atomic_load(&c.destroys), 0);
  cx_token_unref(t);
  assert_int_equal(atomic_load(&c.calls), 0);
  assert_int_equal(atomic_load(&c.destroys), 0);
}

static void test_cb_no_run_flag_live_token(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  counter c = {0};
  cx_callback *h = NULL;
  CX_ASSERT_OK(cx_token_on_cancel(t, count_cb, &c, count_destroy,
                                  CX_CALLBACK_NO_RUN_IF_CANCELLED, &h));
  assert_non_null(h);
  cx_token_cancel(t, CX_REASON_MANUAL, NULL);
  assert_int_equal(atomic_load(&c.calls), 1);
  assert_int_equal(cx_callback_unregister(h), CX_CALLBACK_RAN);
  assert_int_equal(atomic_load(&c.destroys), 1);
  cx_token_unref(t);
}

static void test_cb_bad_input(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  counter c = {0};
  cx_callback *h = (cx_callback *)&c;
  CX_ASSERT_ERR(-EINVAL,
                cx_token_on_cancel(NULL, count_cb, &c, count_destroy, 0, &h));
  assert_null(h);
  h = (cx_callback *)&c;
  CX_ASSERT_ERR(-EINVAL, cx_token_on_cancel(t, NULL, &c, count_destroy, 0, &h));
  assert_null(h);
  h = (cx_callback *)&c;
  CX_ASSERT_ERR(
      -EINVAL, cx_token_on_cancel(t, count_cb, &c, count_destroy, 1u << 7, &h));
  assert_null(h);
  CX_ASSERT_ERR(-EINVAL, cx_callback_unregister(NULL));
  CX_ASSERT_ERR(-EINVAL, cx_callback_unregister_nowait(NULL));
  /* nothing was registered */
  cx_token_cancel(t, CX_REASON_MANUAL, NULL);
  cx_token_unref(t);
  assert_int_equal(atomic_load(&c.calls), 0);
  assert_int_equal(atomic_load(&c.destroys), 0);
}

/* ---------------------------------------------------------------------- */
/* order, failures, thread */

typedef struct order_log {
  pthread_mutex_t mu;
  int seq[64];
  int n;
} order_log;

typedef struct order_item {
  order_log *log;
  int index;
  int ret;
} order_item;

static int order_cb(cx_token *token, void *user_data) {
  (void)token;
  order_item *it = user_data;
  pthread_mutex_lock(&it->log->mu);
  if (it->log->n < 64) it->log->seq[it->log->n++] = it->index;
  pthread_mutex_unlock(&it->log->mu);
  return it->ret;
}

static void test_cb_registration_order(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  order_log log = {.mu = PTHREAD_MUTEX_INITIALIZER};
  order_item items[20];
  cx_callback *hs[20];
  for (int i = 0; i < 20; i++) {
    items[i] = (order_item){&log, i, 0};
    CX_ASSERT_OK(cx_token_on_cancel(t, order_cb, &items[i], NULL, 0, &hs[i]));
  }
  /* remove a few: the rest keep their order */
  assert_int_equal(cx_callback_unregister(hs[3]), CX_CALLBACK_REMOVED);
  assert_int_equal(cx_callback_unregister(hs[10]), CX_CALLBACK_REMOVED);
  cx_token_cancel(t, CX_REASON_MANUAL, NULL);
  assert_int_equal(log.n, 18);
  int expect = 0;
  for (int k = 0; k < log.n; k++, expect++) {
    if (expect == 3 || expect == 10) expect++;
    assert_int_equal(log.seq[k], expect);
  }
  for (int i = 0; i < 20; i++)
    if (i != 3 && i != 10)
      assert_int_equal(cx_callback_unregister(hs[i]), CX_CALLBACK_RAN);
  cx_token_unref(t);
}

static void test_cb_failure_does_not_stop_others(void **state) {
  (void)state;
  cx_log_set_handler(NULL, CX_LOG_DEBUG, NULL);
  cx_token *t = cx_token_new();
  order_log log = {.mu = PTHREAD_MUTEX_INITIALIZER};
  order_item items[5];
  for (int i = 0; i < 5; i++) {
    items[i] = (order_item){&log, i, (i % 2 == 0) ? -EIO : 0};
    CX_ASSERT_OK(cx_token_on_cancel(t, order_cb, &items[i], NULL, 0, NULL));
  }
  items[0].ret = -1;
  items[2].ret = 12345;
  assert_true(cx_token_cancel(t, CX_REASON_MANUAL, NULL));
  assert_int_equal(log.n, 5);
  for (int i = 0; i < 5; i++) assert_int_equal(log.seq[i], i);
  /* the token is cancelled normally */
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_MANUAL);
  cx_token_unref(t);
}

static void test_cb_runs_on_cancelling_thread(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  counter c = {0};
  CX_ASSERT_OK(cx_token_on_cancel(t, count_cb, &c, NULL, 0, NULL));
  canceller k = {t, 0.0, false};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, cancel_thread, &k), 0);
  assert_true(cx_test_join_within(th, 20.0, NULL));
  assert_true(k.result);
  assert_int_equal(atomic_load(&c.calls), 1);
  assert_true(pthread_equal(c.thread, th));
  cx_token_unref(t);
}

/* The callback calls back into the library on the same token and others:
 * no library lock is held while it runs. */
typedef struct reentrant {
  cx_token *other;
  counter inner;
  int on_cancel_result;
  int wait_result;
  int check_result;
  bool is_cancelled;
  bool cancel_again;
  char message[64];
  int fd;
} reentrant;

static int reentrant_cb(cx_token *token, void *user_data) {
  reentrant *r = user_data;
  r->is_cancelled = cx_token_is_cancelled(token);
  r->check_result = cx_token_check(token);
  snprintf(r->message, sizeof r->message, "%s",
           cx_token_cancel_message(token) ? cx_token_cancel_message(token)
                                          : "(null)");
  r->cancel_again = cx_token_cancel(token, CX_REASON_ERROR, "again");
  r->on_cancel_result =
      cx_token_on_cancel(token, count_cb, &r->inner, count_destroy, 0, NULL);
  r->wait_result = cx_token_wait(token, CX_FOREVER);
  r->fd = cx_token_fd(token);
  cx_token_cancel(r->other, CX_REASON_MANUAL, "from callback");
  cx_token_ref(token);
  cx_token_unref(token);
  return 0;
}

static void test_cb_no_lock_held(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  reentrant r = {0};
  r.other = cx_token_new();
  r.fd = -1;
  CX_ASSERT_OK(cx_token_on_cancel(t, reentrant_cb, &r, NULL, 0, NULL));
  assert_true(cx_token_cancel(t, CX_REASON_MANUAL, "outer"));
  assert_true(r.is_cancelled);
  CX_ASSERT_ERR(-ECANCELED, r.check_result);
  assert_string_equal(r.message, "outer");
  assert_false(r.cancel_again);
  assert_int_equal(r.on_cancel_result, 1);
  assert_int_equal(atomic_load(&r.inner.calls), 1);
  assert_int_equal(atomic_load(&r.inner.destroys), 1);
  CX_ASSERT_OK(r.wait_result);
  assert_true(r.fd >= 0);
  assert_true(cx_token_is_cancelled(r.other));
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_MANUAL);
  cx_token_unref(r.other);
  cx_token_unref(t);
}

/* A callback that cancels another token does not recurse: that token's
 * callbacks run after this callback returns, before cancel returns. */
typedef struct chain_ctx {
  cx_token *next;
  order_log *log;
  int id;
} chain_ctx;

static int chain_cb(cx_token *token, void *user_data) {
  (void)token;
  chain_ctx *c = user_data;
  pthread_mutex_lock(&c->log->mu);
  c->log->seq[c->log->n++] = c->id; /* start */
  pthread_mutex_unlock(&c->log->mu);
  if (c->next) cx_token_cancel(c->next, CX_REASON_MANUAL, "chained");
  pthread_mutex_lock(&c->log->mu);
  c->log->seq[c->log->n++] = -c->id; /* end */
  pthread_mutex_unlock(&c->log->mu);
  return 0;
}

static void test_cb_cancel_from_callback_no_recursion(void **state) {
  (void)state;
  cx_token *a = cx_token_new(), *b = cx_token_new(), *c = cx_token_new();
  order_log log = {.mu = PTHREAD_MUTEX_INITIALIZER};
  chain_ctx ca = {b, &log, 1}, cb = {c, &log, 2}, cc = {NULL, &log, 3};
  CX_ASSERT_OK(cx_token_on_cancel(a, chain_cb, &ca, NULL, 0, NULL));
  CX_ASSERT_OK(cx_token_on_cancel(b, chain_cb, &cb, NULL, 0, NULL));
  CX_ASSERT_OK(cx_token_on_cancel(c, chain_cb, &cc, NULL, 0, NULL));
  assert_true(cx_token_cancel(a, CX_REASON_MANUAL, NULL));
  /* all ran before cancel returned, one after the other */
  assert_int_equal(log.n, 6);
  const int expect[6] = {1, -1, 2, -2, 3, -3};
  for (int i = 0; i < 6; i++) assert_int_equal(log.seq[i], expect[i]);
  assert_true(cx_token_is_cancelled(b));
  assert_true(cx_token_is_cancelled(c));
  cx_token_unref(a);
  cx_token_unref(b);
  cx_token_unref(c);
}

/* ---------------------------------------------------------------------- */
/* unregister while running on another thread */

typedef struct slow_cb {
  atomic_int started;
  atomic_int release; /* the callback waits for this (with a bound) */
  atomic_int finished;
  atomic_int destroys;
  atomic_int finished_at_destroy;
  double hold; /* seconds to hold when release never comes */
} slow_cb;

static int slow_cb_fn(cx_token *token, void *user_data) {
  (void)token;
  slow_cb *s = user_data;
  atomic_store(&s->started, 1);
  double end = cx_test_now() + s->hold;
  while (!atomic_load(&s->release) && cx_test_now() < end) cx_test_sleep(0.001);
  atomic_store(&s->finished, 1);
  return 0;
}

static void slow_destroy(void *user_data) {
  slow_cb *s = user_data;
  atomic_store(&s->finished_at_destroy, atomic_load(&s->finished));
  atomic_fetch_add(&s->destroys, 1);
}

static void test_cb_unregister_waits_for_running(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  slow_cb s = {0};
  s.hold = 0.5;
  cx_callback *h = NULL;
  CX_ASSERT_OK(cx_token_on_cancel(t, slow_cb_fn, &s, slow_destroy, 0, &h));
  canceller k = {t, 0.0, false};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, cancel_thread, &k), 0);
  assert_true(wait_flag(&s.started, 20.0));
  /* the callback is running on th and holds for 0.5 s */
  int r = cx_callback_unregister(h);
  /* on return the callback no longer runs */
  assert_int_equal(atomic_load(&s.finished), 1);
  assert_int_equal(r, CX_CALLBACK_RAN);
  assert_true(cx_test_join_within(th, 20.0, NULL));
  assert_int_equal(atomic_load(&s.destroys), 1);
  assert_int_equal(atomic_load(&s.finished_at_destroy), 1);
  cx_token_unref(t);
  assert_int_equal(atomic_load(&s.destroys), 1);
}

typedef struct self_unreg {
  cx_callback *handle;
  atomic_int ready; /* handle stored */
  int result;
  atomic_int ran;
  atomic_int destroys;
  atomic_int ran_at_destroy;
} self_unreg;

static int self_unreg_cb(cx_token *token, void *user_data) {
  (void)token;
  self_unreg *s = user_data;
  while (!atomic_load(&s->ready)) {
  }
  s->result = cx_callback_unregister(s->handle);
  atomic_store(&s->ran, 1);
  return 0;
}

static void self_unreg_destroy(void *user_data) {
  self_unreg *s = user_data;
  atomic_store(&s->ran_at_destroy, atomic_load(&s->ran));
  atomic_fetch_add(&s->destroys, 1);
}

static void test_cb_unregister_from_own_callback(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  self_unreg s = {0};
  s.result = -1000;
  CX_ASSERT_OK(cx_token_on_cancel(t, self_unreg_cb, &s, self_unreg_destroy, 0,
                                  &s.handle));
  atomic_store(&s.ready, 1);
  /* cancel on another thread, so a deadlock shows as a timeout here */
  canceller k = {t, 0.0, false};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, cancel_thread, &k), 0);
  assert_true(cx_test_join_within(th, 20.0, NULL)); /* no deadlock */
  assert_true(k.result);
  assert_int_equal(atomic_load(&s.ran), 1);
  /* it is running (on this very thread) and returns: RAN is the only
   * documented answer that fits */
  assert_int_equal(s.result, CX_CALLBACK_RAN);
  assert_int_equal(atomic_load(&s.destroys), 1);
  cx_token_unref(t);
  assert_int_equal(atomic_load(&s.destroys), 1);
  assert_int_equal(atomic_load(&s.ran_at_destroy), 1);
}

static int self_unreg_nowait_cb(cx_token *token, void *user_data) {
  (void)token;
  self_unreg *s = user_data;
  while (!atomic_load(&s->ready)) {
  }
  s->result = cx_callback_unregister_nowait(s->handle);
  atomic_store(&s->ran, 1);
  return 0;
}

static void test_cb_unregister_nowait_from_own_callback(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  self_unreg s = {0};
  s.result = -1000;
  CX_ASSERT_OK(cx_token_on_cancel(t, self_unreg_nowait_cb, &s,
                                  self_unreg_destroy, 0, &s.handle));
  atomic_store(&s.ready, 1);
  canceller k = {t, 0.0, false};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, cancel_thread, &k), 0);
  assert_true(cx_test_join_within(th, 20.0, NULL));
  assert_int_equal(atomic_load(&s.ran), 1);
  assert_true(s.result == CX_CALLBACK_RAN || s.result == CX_CALLBACK_RUNNING);
  /* destroy ran once, after the callback returned */
  assert_int_equal(atomic_load(&s.destroys), 1);
  assert_int_equal(atomic_load(&s.ran_at_destroy), 1);
  cx_token_unref(t);
  assert_int_equal(atomic_load(&s.destroys), 1);
}

/* The non-waiting unregister of a callback running on another thread
 * reports RUNNING at once; destroy runs when the callback returns. */
static void test_cb_nowait_returns_running(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  slow_cb s = {0};
  s.hold = 30.0; /* held until released */
  cx_callback *h = NULL;
  CX_ASSERT_OK(cx_token_on_cancel(t, slow_cb_fn, &s, slow_destroy, 0, &h));
  canceller k = {t, 0.0, false};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, cancel_thread, &k), 0);
  assert_true(wait_flag(&s.started, 20.0));
  double t0 = cx_test_now();
  assert_int_equal(cx_callback_unregister_nowait(h), CX_CALLBACK_RUNNING);
  assert_true(cx_test_now() - t0 < 5.0); /* did not wait */
  /* still running: user data not released yet */
  assert_int_equal(atomic_load(&s.finished), 0);
  assert_int_equal(atomic_load(&s.destroys), 0);
  atomic_store(&s.release, 1);
  assert_true(cx_test_join_within(th, 20.0, NULL));
  /* destroy runs when the callback returns (on the cancelling thread, which
   * has been joined, so it is done by now) */
  assert_int_equal(atomic_load(&s.destroys), 1);
  assert_int_equal(atomic_load(&s.finished_at_destroy), 1);
  cx_token_unref(t);
  assert_int_equal(atomic_load(&s.destroys), 1);
}

/* A callback that unregisters a later callback of the same token: that one
 * never runs. */
typedef struct unreg_other {
  cx_callback *victim;
  int result;
} unreg_other;

static int unreg_other_cb(cx_token *token, void *user_data) {
  (void)token;
  unreg_other *u = user_data;
  u->result = cx_callback_unregister(u->victim);
  return 0;
}

static void test_cb_unregister_later_from_callback(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  unreg_other u = {NULL, -1000};
  counter victim = {0};
  CX_ASSERT_OK(cx_token_on_cancel(t, unreg_other_cb, &u, NULL, 0, NULL));
  CX_ASSERT_OK(
      cx_token_on_cancel(t, count_cb, &victim, count_destroy, 0, &u.victim));
  cx_token_cancel(t, CX_REASON_MANUAL, NULL);
  assert_int_equal(u.result, CX_CALLBACK_REMOVED);
  assert_int_equal(atomic_load(&victim.calls), 0);
  assert_int_equal(atomic_load(&victim.destroys), 1);
  cx_token_unref(t);
  assert_int_equal(atomic_load(&victim.destroys), 1);
}

/* Registering many and freeing the token without cancel: every destroy
 * notify of a handle-less callback runs exactly once. */
static void test_cb_destroy_once_on_free(void **state) {
  (void)state;
  enum { N = 500 };
  counter *cs = calloc(N, sizeof *cs);
  assert_non_null(cs);
  cx_token *t = cx_token_new();
  for (int i = 0; i < N; i++)
    CX_ASSERT_OK(
        cx_token_on_cancel(t, count_cb, &cs[i], count_destroy, 0, NULL));
  cx_token_unref(t);
  for (int i = 0; i < N; i++) {
    assert_int_equal(atomic_load(&cs[i].calls), 0);
    assert_int_equal(atomic_load(&cs[i].destroys), 1);
  }
  free(cs);
}

/* destroy may be NULL everywhere */
static void test_cb_null_destroy(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  counter c = {0};
  cx_callback *h = NULL;
  CX_ASSERT_OK(cx_token_on_cancel(t, count_cb, &c, NULL, 0, &h));
  CX_ASSERT_OK(cx_token_on_cancel(t, count_cb, &c, NULL, 0, NULL));
  cx_token_cancel(t, CX_REASON_MANUAL, NULL);
  assert_int_equal(atomic_load(&c.calls), 2);
  assert_int_equal(cx_callback_unregister(h), CX_CALLBACK_RAN);
  assert_int_equal(cx_token_on_cancel(t, count_cb, &c, NULL, 0, NULL), 1);
  assert_int_equal(atomic_load(&c.calls), 3);
  cx_token_unref(t);
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/callbacks/runs-on-cancel", test_cb_runs_on_cancel),
    CX_TEST("/callbacks/unregister/before-cancel",
            test_cb_unregister_before_cancel),
    CX_TEST("/callbacks/unregister-nowait/before-cancel",
            test_cb_nowait_before_cancel),
    CX_TEST("/callbacks/unregister-nowait/after-run", test_cb_nowait_after_run),
    CX_TEST("/callbacks/without-handle", test_cb_without_handle),
    CX_TEST("/callbacks/handle/keeps-token", test_cb_handle_keeps_token),
    CX_TEST("/callbacks/handle/keeps-token-live",
            test_cb_handle_keeps_token_live),
    CX_TEST("/callbacks/already-cancelled/runs-at-once",
            test_cb_already_cancelled_runs_at_once),
    CX_TEST("/callbacks/already-cancelled/no-run-flag", test_cb_no_run_flag),
    CX_TEST("/callbacks/no-run-flag/live-token",
            test_cb_no_run_flag_live_token),
    CX_TEST("/callbacks/bad-input", test_cb_bad_input),
    CX_TEST("/callbacks/registration-order", test_cb_registration_order),
    CX_TEST("/callbacks/failure-does-not-stop-others",
            test_cb_failure_does_not_stop_others),
    CX_TEST("/callbacks/runs-on-cancelling-thread",
            test_cb_runs_on_cancelling_thread),
    CX_TEST("/callbacks/no-lock-held", test_cb_no_lock_held),
    CX_TEST("/callbacks/cancel-from-callback/no-recursion",
            test_cb_cancel_from_callback_no_recursion),
    CX_TEST("/callbacks/unregister/waits-for-running",
            test_cb_unregister_waits_for_running),
    CX_TEST("/callbacks/unregister/from-own-callback",
            test_cb_unregister_from_own_callback),
    CX_TEST("/callbacks/unregister-nowait/from-own-callback",
            test_cb_unregister_nowait_from_own_callback),
    CX_TEST("/callbacks/unregister-nowait/returns-running",
            test_cb_nowait_returns_running),
    CX_TEST("/callbacks/unregister/later-from-callback",
            test_cb_unregister_later_from_callback),
    CX_TEST("/callbacks/destroy/once-on-free", test_cb_destroy_once_on_free),
    CX_TEST("/callbacks/destroy/null", test_cb_null_destroy),
};

CX_TEST_MAIN("callbacks", tests)
