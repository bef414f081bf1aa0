/* tests/unit/test_threads.c - carrying the current op across threads, issue
 * #5: cx_thread_create() starts a thread whose current op is the caller's
 * (or none), holding a reference until the start routine returns;
 * cancelling that op from another thread is seen by the new thread's
 * cancellation points; cx_current_adopt()/cx_current_restore() carry a
 * task's op into a toy thread pool's worker and restore it after; adoptions
 * nest, NULL adopts "no op", and an out-of-order restore is -EPERM with
 * nothing changed.
 */
#include "cx_test.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include <cancelable.h>

/* ---------------------------------------------------------------------- */
/* helpers */

static cx_op *entered_op(const char *name, double timeout) {
  return cx_test_entered_op(name, NULL, timeout);
}

typedef struct thread_seen {
  cx_op *current;
  int sleep_rc;
  double sleep_for;
  double returned_at;
  char name[64];
} thread_seen;

static void *report_current(void *p) {
  thread_seen *t = p;
  t->current = cx_current();
  strncpy(t->name, t->current ? cx_op_name(t->current) : "(none)",
          sizeof t->name - 1);
  if (t->sleep_for > 0) {
    t->sleep_rc = cx_sleep(NULL, t->sleep_for); /* the current op */
    t->returned_at = cx_test_now();
  }
  return p;
}

/* ---------------------------------------------------------------------- */
/* cx_thread_create */

static void test_thread_inherits_current(void **state) {
  (void)state;
  cx_op *op = entered_op("request", 0);
  thread_seen t;
  pthread_t th;
  void *rv = NULL;
  memset(&t, 0, sizeof t);
  CX_ASSERT_OK(cx_thread_create(&th, NULL, report_current, &t));
  assert_int_equal(pthread_join(th, &rv), 0);
  assert_ptr_equal(rv, &t); /* the start routine's value comes back */
  assert_ptr_equal(t.current, op);
  assert_string_equal(t.name, "request");
  assert_ptr_equal(cx_current(), op); /* unchanged in the caller */
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
}

/* The innermost op is the one carried. */
static void test_thread_inherits_innermost(void **state) {
  (void)state;
  cx_op *outer = entered_op("outer", 0);
  cx_op *inner = entered_op("inner", 0);
  thread_seen t;
  pthread_t th;
  memset(&t, 0, sizeof t);
  CX_ASSERT_OK(cx_thread_create(&th, NULL, report_current, &t));
  pthread_join(th, NULL);
  assert_ptr_equal(t.current, inner);
  CX_ASSERT_OK(cx_op_exit(inner, 0));
  CX_ASSERT_OK(cx_op_exit(outer, 0));
  cx_op_unref(inner);
  cx_op_unref(outer);
}

static void test_thread_no_current(void **state) {
  (void)state;
  thread_seen t;
  pthread_t th;
  memset(&t, 0, sizeof t);
  t.current = (cx_op *)(uintptr_t)1;
  assert_null(cx_current());
  CX_ASSERT_OK(cx_thread_create(&th, NULL, report_current, &t));
  pthread_join(th, NULL);
  assert_null(t.current);
}

/* With attributes (a detached-capable attr, a small stack). */
static void test_thread_attr(void **state) {
  (void)state;
  cx_op *op = entered_op("attr", 0);
  pthread_attr_t attr;
  pthread_t th;
  thread_seen t;
  memset(&t, 0, sizeof t);
  assert_int_equal(pthread_attr_init(&attr), 0);
  assert_int_equal(pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_JOINABLE),
                   0);
  CX_ASSERT_OK(cx_thread_create(&th, &attr, report_current, &t));
  pthread_attr_destroy(&attr);
  pthread_join(th, NULL);
  assert_ptr_equal(t.current, op);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
}

/* Cancelling the op from the first thread is seen by the new thread. */
static void test_thread_cancel_seen(void **state) {
  (void)state;
  cx_op *op = entered_op("download", 0);
  thread_seen t;
  pthread_t th;
  memset(&t, 0, sizeof t);
  t.sleep_for = 10.0;
  CX_ASSERT_OK(cx_thread_create(&th, NULL, report_current, &t));
  cx_test_sleep(0.1);
  double t0 = cx_test_now();
  assert_true(cx_op_cancel(op, CX_REASON_MANUAL, "stop"));
  pthread_join(th, NULL);
  CX_ASSERT_ERR(-ECANCELED, t.sleep_rc);
  assert_true(t.returned_at - t0 < 2.0);
  CX_ASSERT_OK(cx_op_exit(op, t.sleep_rc));
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  cx_op_unref(op);
}

/* ...and a timeout of the op as well. */
static void test_thread_timeout_seen(void **state) {
  (void)state;
  cx_op *op = entered_op("timed", 0.2);
  thread_seen t;
  pthread_t th;
  memset(&t, 0, sizeof t);
  t.sleep_for = 10.0;
  double t0 = cx_test_now();
  CX_ASSERT_OK(cx_thread_create(&th, NULL, report_current, &t));
  pthread_join(th, NULL);
  CX_ASSERT_ERR(-ECANCELED, t.sleep_rc);
  assert_true(t.returned_at - t0 < 2.5);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  cx_op_unref(op);
}

/* Cancelled from a third thread (the "UI" thread). */
typedef struct ui_thread {
  cx_op *op;
  double delay;
} ui_thread;

static void *ui_main(void *p) {
  ui_thread *u = p;
  cx_test_sleep(u->delay);
  cx_op_cancel(u->op, CX_REASON_MANUAL, "user clicked cancel");
  return NULL;
}

static void test_thread_cancel_from_third_thread(void **state) {
  (void)state;
  cx_op *op = entered_op("job", 0);
  thread_seen t;
  ui_thread u = {op, 0.1};
  pthread_t worker, ui;
  memset(&t, 0, sizeof t);
  t.sleep_for = 10.0;
  CX_ASSERT_OK(cx_thread_create(&worker, NULL, report_current, &t));
  assert_int_equal(pthread_create(&ui, NULL, ui_main, &u), 0);
  double t0 = cx_test_now();
  pthread_join(worker, NULL);
  pthread_join(ui, NULL);
  CX_ASSERT_ERR(-ECANCELED, t.sleep_rc);
  assert_true(t.returned_at - t0 < 2.5);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_string_equal(cx_op_cancel_message(op), "user clicked cancel");
  cx_op_unref(op);
}

/* The new thread's reference keeps the op alive after the creator exits
 * and drops it (ASan checks the use). */
typedef struct late_reader {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool go;
  char name[64];
  cx_status status;
} late_reader;

static void *read_late(void *p) {
  late_reader *r = p;
  pthread_mutex_lock(&r->mu);
  while (!r->go) pthread_cond_wait(&r->cv, &r->mu);
  pthread_mutex_unlock(&r->mu);
  cx_op *op = cx_current();
  strncpy(r->name, op ? cx_op_name(op) : "(none)", sizeof r->name - 1);
  r->status = cx_op_status(op);
  return NULL;
}

static void test_thread_holds_reference(void **state) {
  (void)state;
  late_reader r;
  pthread_t th;
  memset(&r, 0, sizeof r);
  pthread_mutex_init(&r.mu, NULL);
  pthread_cond_init(&r.cv, NULL);
  cx_op *op = entered_op("short-lived", 0);
  CX_ASSERT_OK(cx_thread_create(&th, NULL, read_late, &r));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op); /* the creator's last reference */
  pthread_mutex_lock(&r.mu);
  r.go = true;
  pthread_cond_signal(&r.cv);
  pthread_mutex_unlock(&r.mu);
  pthread_join(th, NULL);
  assert_string_equal(r.name, "short-lived");
  assert_int_equal(r.status, CX_STATUS_COMPLETED);
  pthread_cond_destroy(&r.cv);
  pthread_mutex_destroy(&r.mu);
}

static void test_thread_bad_args(void **state) {
  (void)state;
  pthread_t th;
  thread_seen t;
  CX_ASSERT_ERR(-EINVAL, cx_thread_create(NULL, NULL, report_current, &t));
  CX_ASSERT_ERR(-EINVAL, cx_thread_create(&th, NULL, NULL, NULL));
}

/* Many threads on one op, all cancelled by one cancel. */
static void test_thread_many(void **state) {
  (void)state;
  enum { N = 8 };
  cx_op *op = entered_op("fan-out", 0);
  thread_seen t[N];
  pthread_t th[N];
  memset(t, 0, sizeof t);
  for (int i = 0; i < N; i++) {
    t[i].sleep_for = 10.0;
    CX_ASSERT_OK(cx_thread_create(&th[i], NULL, report_current, &t[i]));
  }
  cx_test_sleep(0.1);
  double t0 = cx_test_now();
  cx_op_cancel(op, CX_REASON_MANUAL, NULL);
  for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
  assert_true(cx_test_now() - t0 < 2.5);
  for (int i = 0; i < N; i++) {
    assert_ptr_equal(t[i].current, op);
    CX_ASSERT_ERR(-ECANCELED, t[i].sleep_rc);
  }
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
}

/* ---------------------------------------------------------------------- */
/* adoption: a toy thread pool */

#define POOL_WORKERS 2
#define POOL_MAX_TASKS 32

typedef struct task {
  cx_op *op; /* captured with cx_op_ref(cx_current()) at submit */
  double work;
  int rc;
  cx_op *current_seen;
  bool done;
} task;

typedef struct pool {
  pthread_mutex_t mu;
  pthread_cond_t cv;      /* new task or stop */
  pthread_cond_t done_cv; /* a task finished */
  task *queue[POOL_MAX_TASKS];
  size_t head, tail;
  bool stop;
  pthread_t workers[POOL_WORKERS];
  cx_op *current_between[POOL_WORKERS];
  atomic_int restore_errors;
} pool;

typedef struct worker_arg {
  pool *p;
  int index;
} worker_arg;

static void *pool_worker(void *arg) {
  worker_arg *wa = arg;
  pool *p = wa->p;
  for (;;) {
    task *t;
    pthread_mutex_lock(&p->mu);
    while (p->head == p->tail && !p->stop) pthread_cond_wait(&p->cv, &p->mu);
    if (p->head == p->tail) {
      pthread_mutex_unlock(&p->mu);
      break;
    }
    t = p->queue[p->head++ % POOL_MAX_TASKS];
    pthread_mutex_unlock(&p->mu);

    /* Carry the submitter's op to the task, and restore after. */
    cx_adoption saved;
    if (cx_current_adopt(t->op, &saved) != 0)
      atomic_fetch_add(&p->restore_errors, 1);
    t->current_seen = cx_current();
    t->rc = cx_sleep(NULL, t->work);
    if (cx_current_restore(&saved) != 0)
      atomic_fetch_add(&p->restore_errors, 1);
    p->current_between[wa->index] = cx_current();

    pthread_mutex_lock(&p->mu);
    t->done = true;
    pthread_cond_broadcast(&p->done_cv);
    pthread_mutex_unlock(&p->mu);
  }
  return NULL;
}

static void pool_submit(pool *p, task *t, double work) {
  memset(t, 0, sizeof *t);
  t->op = cx_op_ref(cx_current());
  t->work = work;
  pthread_mutex_lock(&p->mu);
  p->queue[p->tail++ % POOL_MAX_TASKS] = t;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

static void pool_wait(pool *p, task *t) {
  pthread_mutex_lock(&p->mu);
  while (!t->done) pthread_cond_wait(&p->done_cv, &p->mu);
  pthread_mutex_unlock(&p->mu);
  cx_op_unref(t->op);
  t->op = NULL;
}

static void test_adopt_thread_pool(void **state) {
  (void)state;
  pool p;
  worker_arg wa[POOL_WORKERS];
  task ta[3], tb[3];
  memset(&p, 0, sizeof p);
  pthread_mutex_init(&p.mu, NULL);
  pthread_cond_init(&p.cv, NULL);
  pthread_cond_init(&p.done_cv, NULL);
  atomic_init(&p.restore_errors, 0);
  for (int i = 0; i < POOL_WORKERS; i++) {
    wa[i].p = &p;
    wa[i].index = i;
    p.current_between[i] = (cx_op *)(uintptr_t)1;
    /* Plain pthreads: the workers have no op of their own. */
    assert_int_equal(pthread_create(&p.workers[i], NULL, pool_worker, &wa[i]),
                     0);
  }

  /* Request A: its tasks are long, and A is cancelled while they run (two
   * of them) or wait in the queue (the third). */
  cx_op *a = entered_op("request-a", 0);
  for (int i = 0; i < 3; i++) pool_submit(&p, &ta[i], 10.0);
  /* Request B (entered over A, not its child): short tasks that
   * complete. */
  cx_op *b = entered_op("request-b", 0);
  for (int i = 0; i < 3; i++) pool_submit(&p, &tb[i], 0.02);
  cx_test_sleep(0.1);
  double t0 = cx_test_now();
  assert_true(cx_op_cancel(a, CX_REASON_MANUAL, "abort a"));
  for (int i = 0; i < 3; i++) pool_wait(&p, &ta[i]);
  for (int i = 0; i < 3; i++) pool_wait(&p, &tb[i]);
  assert_true(cx_test_now() - t0 < 3.0);

  for (int i = 0; i < 3; i++) {
    assert_ptr_equal(ta[i].current_seen, a);
    CX_ASSERT_ERR(-ECANCELED, ta[i].rc);
    assert_ptr_equal(tb[i].current_seen, b);
    CX_ASSERT_OK(tb[i].rc);
  }
  CX_ASSERT_OK(cx_op_exit(b, 0));
  CX_ASSERT_OK(cx_op_exit(a, -ECANCELED));
  assert_int_equal(cx_op_status(b), CX_STATUS_COMPLETED);

  pthread_mutex_lock(&p.mu);
  p.stop = true;
  pthread_cond_broadcast(&p.cv);
  pthread_mutex_unlock(&p.mu);
  for (int i = 0; i < POOL_WORKERS; i++) {
    pthread_join(p.workers[i], NULL);
    /* After each task the worker is back to "no op". */
    assert_null(p.current_between[i]);
  }
  assert_int_equal(atomic_load(&p.restore_errors), 0);
  cx_op_unref(a);
  cx_op_unref(b);
  pthread_cond_destroy(&p.done_cv);
  pthread_cond_destroy(&p.cv);
  pthread_mutex_destroy(&p.mu);
}

/* A running op carried into a pool is cancelled while its task runs. */
static void test_adopt_cancel_running(void **state) {
  (void)state;
  pool p;
  worker_arg wa[POOL_WORKERS];
  task t;
  memset(&p, 0, sizeof p);
  pthread_mutex_init(&p.mu, NULL);
  pthread_cond_init(&p.cv, NULL);
  pthread_cond_init(&p.done_cv, NULL);
  atomic_init(&p.restore_errors, 0);
  for (int i = 0; i < POOL_WORKERS; i++) {
    wa[i].p = &p;
    wa[i].index = i;
    assert_int_equal(pthread_create(&p.workers[i], NULL, pool_worker, &wa[i]),
                     0);
  }
  cx_op *op = entered_op("request", 0);
  pool_submit(&p, &t, 10.0);
  cx_test_sleep(0.1);
  double t0 = cx_test_now();
  assert_true(cx_op_cancel(op, CX_REASON_MANUAL, "client went away"));
  pool_wait(&p, &t);
  assert_true(cx_test_now() - t0 < 2.0);
  CX_ASSERT_ERR(-ECANCELED, t.rc);
  assert_ptr_equal(t.current_seen, op);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  pthread_mutex_lock(&p.mu);
  p.stop = true;
  pthread_cond_broadcast(&p.cv);
  pthread_mutex_unlock(&p.mu);
  for (int i = 0; i < POOL_WORKERS; i++) pthread_join(p.workers[i], NULL);
  assert_int_equal(atomic_load(&p.restore_errors), 0);
  cx_op_unref(op);
  pthread_cond_destroy(&p.done_cv);
  pthread_cond_destroy(&p.cv);
  pthread_mutex_destroy(&p.mu);
}

static void test_adopt_nesting(void **state) {
  (void)state;
  cx_op *a = NULL, *b = NULL;
  cx_adoption sa, sb, sn;
  CX_ASSERT_OK(cx_op_create(&a, NULL));
  CX_ASSERT_OK(cx_op_create(&b, NULL));
  assert_null(cx_current());
  CX_ASSERT_OK(cx_current_adopt(a, &sa));
  assert_ptr_equal(cx_current(), a);
  CX_ASSERT_OK(cx_current_adopt(b, &sb));
  assert_ptr_equal(cx_current(), b);
  /* NULL: "no op" is current. */
  CX_ASSERT_OK(cx_current_adopt(NULL, &sn));
  assert_null(cx_current());
  assert_int_equal(cx_check(NULL), 0);
  CX_ASSERT_OK(cx_current_restore(&sn));
  assert_ptr_equal(cx_current(), b);
  CX_ASSERT_OK(cx_current_restore(&sb));
  assert_ptr_equal(cx_current(), a);
  CX_ASSERT_OK(cx_current_restore(&sa));
  assert_null(cx_current());
  cx_op_unref(a);
  cx_op_unref(b);
}

/* Adopting NULL inside a cancelled op shields nothing but makes the
 * current-op lookups see no op at all. */
static void test_adopt_null_inside_op(void **state) {
  (void)state;
  cx_op *op = entered_op("outer", 0);
  cx_adoption s;
  cx_op_cancel(op, CX_REASON_MANUAL, NULL);
  CX_ASSERT_ERR(-ECANCELED, cx_check(NULL));
  CX_ASSERT_OK(cx_current_adopt(NULL, &s));
  assert_null(cx_current());
  CX_ASSERT_OK(cx_check(NULL));
  CX_ASSERT_OK(cx_current_restore(&s));
  assert_ptr_equal(cx_current(), op);
  CX_ASSERT_ERR(-ECANCELED, cx_check(NULL));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
}

static void test_adopt_out_of_order(void **state) {
  (void)state;
  cx_op *a = NULL, *b = NULL;
  cx_adoption sa, sb;
  CX_ASSERT_OK(cx_op_create(&a, NULL));
  CX_ASSERT_OK(cx_op_create(&b, NULL));
  CX_ASSERT_OK(cx_current_adopt(a, &sa));
  CX_ASSERT_OK(cx_current_adopt(b, &sb));
  /* Restoring the outer one first is refused and changes nothing. */
  CX_ASSERT_ERR(-EPERM, cx_current_restore(&sa));
  assert_ptr_equal(cx_current(), b);
  CX_ASSERT_OK(cx_current_restore(&sb));
  assert_ptr_equal(cx_current(), a);
  CX_ASSERT_OK(cx_current_restore(&sa));
  assert_null(cx_current());
  /* Restoring again: not the innermost (nothing adopted). */
  CX_ASSERT_ERR(-EPERM, cx_current_restore(&sa));
  assert_null(cx_current());
  cx_op_unref(a);
  cx_op_unref(b);
}

/* An op entered over an adoption must exit before the restore. */
static void test_adopt_with_entered_op(void **state) {
  (void)state;
  cx_op *a = NULL;
  cx_adoption sa;
  CX_ASSERT_OK(cx_op_create(&a, NULL));
  CX_ASSERT_OK(cx_current_adopt(a, &sa));
  cx_op *inner = entered_op("inner", 0);
  assert_ptr_equal(cx_current(), inner);
  CX_ASSERT_ERR(-EPERM, cx_current_restore(&sa));
  assert_ptr_equal(cx_current(), inner);
  CX_ASSERT_OK(cx_op_exit(inner, 0));
  assert_ptr_equal(cx_current(), a);
  CX_ASSERT_OK(cx_current_restore(&sa));
  assert_null(cx_current());
  cx_op_unref(inner);
  cx_op_unref(a);
}

/* The adoption holds a reference: the op survives the caller's unref
 * until the restore (ASan checks). */
static void test_adopt_holds_reference(void **state) {
  (void)state;
  cx_op *a = NULL;
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_adoption sa;
  o.name = "adopted";
  CX_ASSERT_OK(cx_op_create(&a, &o));
  CX_ASSERT_OK(cx_current_adopt(a, &sa));
  cx_op_unref(a);
  assert_string_equal(cx_op_name(cx_current()), "adopted");
  CX_ASSERT_OK(cx_current_restore(&sa));
  assert_null(cx_current());
}

static void test_adopt_bad_args(void **state) {
  (void)state;
  CX_ASSERT_ERR(-EINVAL, cx_current_adopt(NULL, NULL));
  CX_ASSERT_ERR(-EINVAL, cx_current_restore(NULL));
  assert_null(cx_current());
}

/* cx_thread_create from inside an adopted op carries the adopted op. */
static void test_adopt_then_thread(void **state) {
  (void)state;
  cx_op *op = entered_op("request", 0);
  thread_seen outer;
  pthread_t th;
  memset(&outer, 0, sizeof outer);
  /* A worker that adopts nothing and creates a thread sees no op; once it
   * adopts the request, its threads do. */
  cx_adoption s;
  CX_ASSERT_OK(cx_current_adopt(NULL, &s));
  CX_ASSERT_OK(cx_thread_create(&th, NULL, report_current, &outer));
  pthread_join(th, NULL);
  assert_null(outer.current);
  CX_ASSERT_OK(cx_current_restore(&s));
  CX_ASSERT_OK(cx_thread_create(&th, NULL, report_current, &outer));
  pthread_join(th, NULL);
  assert_ptr_equal(outer.current, op);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
}

/* ---------------------------------------------------------------------- */

static const struct CMUnitTest tests[] = {
    CX_TEST("/threads/create/inherits-current", test_thread_inherits_current),
    CX_TEST("/threads/create/inherits-innermost",
            test_thread_inherits_innermost),
    CX_TEST("/threads/create/no-current", test_thread_no_current),
    CX_TEST("/threads/create/attr", test_thread_attr),
    CX_TEST("/threads/create/cancel-seen", test_thread_cancel_seen),
    CX_TEST("/threads/create/timeout-seen", test_thread_timeout_seen),
    CX_TEST("/threads/create/cancel-from-third-thread",
            test_thread_cancel_from_third_thread),
    CX_TEST("/threads/create/holds-reference", test_thread_holds_reference),
    CX_TEST("/threads/create/bad-args", test_thread_bad_args),
    CX_TEST("/threads/create/many", test_thread_many),
    CX_TEST("/threads/adopt/thread-pool", test_adopt_thread_pool),
    CX_TEST("/threads/adopt/cancel-running", test_adopt_cancel_running),
    CX_TEST("/threads/adopt/nesting", test_adopt_nesting),
    CX_TEST("/threads/adopt/null-inside-op", test_adopt_null_inside_op),
    CX_TEST("/threads/adopt/out-of-order", test_adopt_out_of_order),
    CX_TEST("/threads/adopt/with-entered-op", test_adopt_with_entered_op),
    CX_TEST("/threads/adopt/holds-reference", test_adopt_holds_reference),
    CX_TEST("/threads/adopt/bad-args", test_adopt_bad_args),
    CX_TEST("/threads/adopt/then-thread", test_adopt_then_thread),
};

CX_TEST_MAIN("threads", tests)
