/* tests/unit/test_sources.c - the source object and the custom-source API
 * (issue #3): cx_source_new() validation, names and reasons of every source
 * kind, cx_op_add_source() rules (PENDING only, one owner, caller keeps the
 * source on error), sources start on enter (on the entering thread) and stop
 * on exit (on the exiting thread), a trigger before start or after stop is
 * ignored, no source callback and no user-data access after exit returns,
 * the destroy notify runs once when the op is freed, a start() failure
 * makes enter fail and stops the sources already started, a trigger from
 * inside start(), the timeout source, several sources on one op, triggers
 * racing with exit, and the documented custom source that triggers when a
 * file appears (examples/sources/file_source.c, also the custom_source
 * example).
 */
#include "cx_test.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cancelable.h>

#include "../../examples/sources/file_source.h"

/* ---------------------------------------------------------------------- */
/* a recording custom source */

typedef struct rec {
  atomic_int starts, stops, destroys;
  atomic_int in_callback; /* a start/stop is running */
  pthread_t start_thread, stop_thread;
  int start_rc;          /* what start() returns */
  bool trigger_in_start; /* call cx_source_trigger() from start() */
  cx_source *seen;       /* the source passed to start */
  atomic_int order;      /* global order counter snapshot */
  int started_at, stopped_at;
} rec;

static atomic_int order_counter;

static int rec_start(cx_source *src, void *user_data) {
  rec *r = user_data;
  atomic_fetch_add(&r->in_callback, 1);
  r->seen = src;
  r->start_thread = pthread_self();
  r->started_at = atomic_fetch_add(&order_counter, 1);
  atomic_fetch_add(&r->starts, 1);
  if (r->trigger_in_start)
    assert_true(cx_source_trigger(src, "triggered in start"));
  atomic_fetch_sub(&r->in_callback, 1);
  return r->start_rc;
}

static void rec_stop(cx_source *src, void *user_data) {
  rec *r = user_data;
  assert_ptr_equal(src, r->seen);
  r->stop_thread = pthread_self();
  r->stopped_at = atomic_fetch_add(&order_counter, 1);
  atomic_fetch_add(&r->stops, 1);
}

static void rec_destroy(void *user_data) {
  rec *r = user_data;
  atomic_fetch_add(&r->destroys, 1);
}

static const cx_source_ops rec_ops = {sizeof(cx_source_ops), rec_start,
                                      rec_stop, rec_destroy};

static cx_source *rec_source(rec *r, cx_reason reason, const char *name) {
  cx_source *s = NULL;
  CX_ASSERT_OK(cx_source_new(&s, &rec_ops, r, reason, name));
  assert_non_null(s);
  return s;
}

static cx_op *new_op(const char *name) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_op *op = NULL;
  o.name = name;
  CX_ASSERT_OK(cx_op_create(&op, &o));
  return op;
}

/* ---------------------------------------------------------------------- */
/* cx_source_new */

static void test_new_bad_input(void **state) {
  (void)state;
  rec r = {0};
  cx_source *s = (cx_source *)&r; /* must be reset to NULL on error */
  cx_source_ops ops = rec_ops;
  CX_ASSERT_ERR(-EINVAL, cx_source_new(&s, NULL, &r, CX_REASON_MANUAL, "x"));
  assert_null(s);
  CX_ASSERT_ERR(-EINVAL, cx_source_new(NULL, &ops, &r, CX_REASON_MANUAL, "x"));
  ops.size = sizeof(cx_source_ops) - 1;
  CX_ASSERT_ERR(-EINVAL, cx_source_new(&s, &ops, &r, CX_REASON_MANUAL, "x"));
  ops = rec_ops;
  ops.start = NULL;
  CX_ASSERT_ERR(-EINVAL, cx_source_new(&s, &ops, &r, CX_REASON_MANUAL, "x"));
  ops = rec_ops;
  ops.stop = NULL;
  CX_ASSERT_ERR(-EINVAL, cx_source_new(&s, &ops, &r, CX_REASON_MANUAL, "x"));
  ops = rec_ops;
  CX_ASSERT_ERR(-EINVAL, cx_source_new(&s, &ops, &r, CX_REASON_NONE, "x"));
  CX_ASSERT_ERR(-EINVAL, cx_source_new(&s, &ops, &r, (cx_reason)99, "x"));
  CX_ASSERT_ERR(-EINVAL, cx_source_new(&s, &ops, &r, (cx_reason)-1, "x"));
  assert_null(s);
  /* on error the destroy notify is not called */
  assert_int_equal(atomic_load(&r.destroys), 0);
  assert_int_equal(atomic_load(&r.starts), 0);
}

static void test_new_name_and_reason(void **state) {
  (void)state;
  rec r = {0};
  char name[16] = "watcher";
  cx_source *s = rec_source(&r, CX_REASON_ERROR, name);
  strcpy(name, "changed"); /* copied */
  assert_string_equal(cx_source_name(s), "watcher");
  assert_int_equal(cx_source_reason(s), CX_REASON_ERROR);
  assert_false(cx_source_triggered(s));
  cx_source_free(s);
  assert_int_equal(atomic_load(&r.destroys), 1);

  /* default name; ops copied (changing the caller's struct does nothing) */
  cx_source_ops ops = rec_ops;
  rec r2 = {0};
  CX_ASSERT_OK(cx_source_new(&s, &ops, &r2, CX_REASON_CONDITION, NULL));
  memset(&ops, 0, sizeof ops);
  assert_string_equal(cx_source_name(s), "custom");
  cx_op *op = new_op("copied-ops");
  CX_ASSERT_OK(cx_op_add_source(op, s));
  CX_ASSERT_OK(cx_op_enter(op));
  assert_int_equal(atomic_load(&r2.starts), 1);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  assert_int_equal(atomic_load(&r2.stops), 1);
  cx_op_unref(op);
  assert_int_equal(atomic_load(&r2.destroys), 1);
  /* a larger size (a newer caller) is accepted */
  struct {
    cx_source_ops ops;
    void *future;
  } big = {rec_ops, NULL};
  big.ops.size = sizeof big;
  rec r3 = {0};
  CX_ASSERT_OK(cx_source_new(&s, &big.ops, &r3, CX_REASON_MANUAL, "big"));
  cx_source_free(s);
  assert_int_equal(atomic_load(&r3.destroys), 1);
}

static void test_null_accessors(void **state) {
  (void)state;
  cx_source_free(NULL);
  assert_null(cx_source_name(NULL));
  assert_int_equal(cx_source_reason(NULL), CX_REASON_NONE);
  assert_false(cx_source_triggered(NULL));
  assert_false(cx_source_trigger(NULL, "x"));
  /* destroy may be NULL */
  cx_source_ops ops = rec_ops;
  ops.destroy = NULL;
  rec r = {0};
  cx_source *s = NULL;
  CX_ASSERT_OK(cx_source_new(&s, &ops, &r, CX_REASON_MANUAL, NULL));
  cx_source_free(s);
  assert_int_equal(atomic_load(&r.destroys), 0);
}

static int never(void *user_data) {
  (void)user_data;
  return 0;
}

static void test_builtin_names_and_reasons(void **state) {
  (void)state;
  cx_source *t, *sig, *cond, *res, *a, *b, *c, *any, *all, *comp;
  CX_ASSERT_OK(cx_source_timeout(&t, 1.0));
  CX_ASSERT_OK(cx_source_signal(&sig, NULL, 0));
  CX_ASSERT_OK(cx_source_condition(&cond, never, NULL, NULL, 1.0, "ready"));
  cx_resource_limits l = CX_RESOURCE_LIMITS_INIT;
  l.memory_percent = 99;
  CX_ASSERT_OK(cx_source_resource(&res, &l));
  assert_string_equal(cx_source_name(t), "timeout");
  assert_int_equal(cx_source_reason(t), CX_REASON_TIMEOUT);
  assert_string_equal(cx_source_name(sig), "signal");
  assert_int_equal(cx_source_reason(sig), CX_REASON_SIGNAL);
  assert_non_null(strstr(cx_source_name(cond), "ready"));
  assert_int_equal(cx_source_reason(cond), CX_REASON_CONDITION);
  assert_int_equal(cx_source_reason(res), CX_REASON_CONDITION);
  CX_ASSERT_OK(cx_source_timeout(&a, 1.0));
  CX_ASSERT_OK(cx_source_timeout(&b, 1.0));
  CX_ASSERT_OK(cx_source_timeout(&c, 1.0));
  cx_source *l1[] = {t, sig}, *l2[] = {cond, res}, *l3[] = {a, b, c};
  CX_ASSERT_OK(cx_source_any_of(&any, l1, 2));
  CX_ASSERT_OK(cx_source_all_of(&all, l2, 2));
  CX_ASSERT_OK(cx_source_any_of(&comp, l3, 3));
  assert_string_equal(cx_source_name(any), "any_of");
  assert_string_equal(cx_source_name(all), "all_of");
  assert_string_equal(cx_source_name(comp), "any_of");
  assert_int_equal(cx_source_reason(any), CX_REASON_NONE);
  assert_int_equal(cx_source_reason(all), CX_REASON_NONE);
  assert_int_equal(cx_source_reason(comp), CX_REASON_NONE);
  cx_source_free(any);
  cx_source_free(all);
  cx_source_free(comp);
}

/* ---------------------------------------------------------------------- */
/* cx_op_add_source */

static void test_add_source_rules(void **state) {
  (void)state;
  rec r = {0};
  cx_source *s = rec_source(&r, CX_REASON_MANUAL, "s");
  cx_op *op = new_op("add"), *other = new_op("other");
  CX_ASSERT_ERR(-EINVAL, cx_op_add_source(NULL, s));
  CX_ASSERT_ERR(-EINVAL, cx_op_add_source(op, NULL));
  CX_ASSERT_OK(cx_op_add_source(op, s));
  /* a source already attached: to the same op or another */
  CX_ASSERT_ERR(-EINVAL, cx_op_add_source(op, s));
  CX_ASSERT_ERR(-EINVAL, cx_op_add_source(other, s));
  /* a source owned by a composite */
  rec rk = {0};
  cx_source *kid = rec_source(&rk, CX_REASON_MANUAL, "kid"), *comp;
  CX_ASSERT_OK(cx_source_any_of(&comp, &kid, 1));
  CX_ASSERT_ERR(-EINVAL, cx_op_add_source(other, kid));
  CX_ASSERT_OK(cx_op_add_source(other, comp));

  /* after enter: -EBUSY, the caller keeps the source */
  rec r2 = {0};
  cx_source *late = rec_source(&r2, CX_REASON_MANUAL, "late");
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_ERR(-EBUSY, cx_op_add_source(op, late));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  CX_ASSERT_ERR(-EBUSY, cx_op_add_source(op, late));
  assert_int_equal(atomic_load(&r2.destroys), 0);
  assert_int_equal(atomic_load(&r2.starts), 0);
  /* still ours: it can go to another op */
  cx_op *third = new_op("third");
  CX_ASSERT_OK(cx_op_add_source(third, late));
  CX_ASSERT_OK(cx_op_enter(third));
  assert_int_equal(atomic_load(&r2.starts), 1);
  CX_ASSERT_OK(cx_op_exit(third, 0));
  cx_op_unref(third);
  assert_int_equal(atomic_load(&r2.destroys), 1);

  cx_op_unref(op);
  assert_int_equal(atomic_load(&r.destroys), 1);
  /* an op freed without ever being entered frees its sources */
  cx_op_unref(other);
  assert_int_equal(atomic_load(&rk.destroys), 1);
  assert_int_equal(atomic_load(&rk.starts), 0);
  assert_int_equal(atomic_load(&rk.stops), 0);
}

/* ---------------------------------------------------------------------- */
/* life cycle */

typedef struct exit_args {
  cx_op *op;
  pthread_t thread;
} exit_args;

static void *enter_and_exit_thread(void *arg) {
  exit_args *a = arg;
  a->thread = pthread_self();
  CX_ASSERT_OK(cx_op_enter(a->op));
  CX_ASSERT_OK(cx_op_exit(a->op, 0));
  return NULL;
}

static void test_start_on_enter_stop_on_exit(void **state) {
  (void)state;
  rec r = {0};
  cx_source *s = rec_source(&r, CX_REASON_CONDITION, "lifecycle");
  cx_op *op = new_op("lifecycle");
  CX_ASSERT_OK(cx_op_add_source(op, s));
  /* before enter: not started, a trigger is ignored */
  assert_int_equal(atomic_load(&r.starts), 0);
  assert_false(cx_source_trigger(s, "too early"));
  assert_false(cx_source_triggered(s));
  assert_false(cx_op_is_cancelled(op));

  CX_ASSERT_OK(cx_op_enter(op));
  assert_int_equal(atomic_load(&r.starts), 1);
  assert_int_equal(atomic_load(&r.stops), 0);
  assert_true(pthread_equal(r.start_thread, pthread_self()));
  assert_ptr_equal(r.seen, s);

  assert_true(cx_source_trigger(s, "it fired"));
  assert_true(cx_source_triggered(s));
  assert_true(cx_op_is_cancelled(op));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_CONDITION);
  assert_string_equal(cx_op_cancel_message(op), "it fired");
  /* a second trigger is delivered but the first cancel wins */
  assert_true(cx_source_trigger(s, "again"));
  assert_string_equal(cx_op_cancel_message(op), "it fired");
  CX_ASSERT_ERR(-ECANCELED, cx_check(op));

  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(atomic_load(&r.stops), 1);
  assert_true(pthread_equal(r.stop_thread, pthread_self()));
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_CONDITION);
  /* after stop: ignored */
  assert_false(cx_source_trigger(s, "too late"));
  assert_string_equal(cx_op_cancel_message(op), "it fired");
  /* the destroy notify waits for the op to be freed */
  assert_int_equal(atomic_load(&r.destroys), 0);
  cx_op_unref(op);
  assert_int_equal(atomic_load(&r.starts), 1);
  assert_int_equal(atomic_load(&r.stops), 1);
  assert_int_equal(atomic_load(&r.destroys), 1);

  /* enter and exit on another thread: start/stop run there */
  rec r2 = {0};
  exit_args a = {new_op("elsewhere"), pthread_self()};
  CX_ASSERT_OK(cx_op_add_source(a.op, rec_source(&r2, CX_REASON_MANUAL, NULL)));
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, enter_and_exit_thread, &a), 0);
  pthread_join(t, NULL);
  assert_true(pthread_equal(r2.start_thread, a.thread));
  assert_true(pthread_equal(r2.stop_thread, a.thread));
  assert_int_equal(cx_op_status(a.op), CX_STATUS_COMPLETED);
  cx_op_unref(a.op);
  assert_int_equal(atomic_load(&r2.destroys), 1);
}

static void test_completed_op_stops_source(void **state) {
  (void)state;
  rec r = {0};
  cx_source *s = rec_source(&r, CX_REASON_MANUAL, "idle");
  cx_op *op = new_op("completes");
  CX_ASSERT_OK(cx_op_add_source(op, s));
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_NONE);
  assert_int_equal(atomic_load(&r.stops), 1);
  assert_false(cx_source_trigger(s, "after exit"));
  assert_false(cx_op_is_cancelled(op));
  assert_null(cx_op_cancel_message(op));
  cx_op_unref(op);
}

static void test_trigger_inside_start(void **state) {
  (void)state;
  rec r = {0};
  r.trigger_in_start = true;
  cx_op *op = new_op("early");
  CX_ASSERT_OK(cx_op_add_source(op, rec_source(&r, CX_REASON_SIGNAL, "e")));
  CX_ASSERT_OK(cx_op_enter(op));
  assert_true(cx_op_is_cancelled(op));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_SIGNAL);
  assert_string_equal(cx_op_cancel_message(op), "triggered in start");
  CX_ASSERT_ERR(-ECANCELED, cx_check(op));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_SIGNAL);
  cx_op_unref(op);
}

static void test_start_failure(void **state) {
  (void)state;
  rec a = {0}, b = {0}, c = {0};
  b.start_rc = -EIO;
  cx_op *op = new_op("fails");
  CX_ASSERT_OK(cx_op_add_source(op, rec_source(&a, CX_REASON_MANUAL, "a")));
  CX_ASSERT_OK(cx_op_add_source(op, rec_source(&b, CX_REASON_MANUAL, "b")));
  CX_ASSERT_OK(cx_op_add_source(op, rec_source(&c, CX_REASON_MANUAL, "c")));
  CX_ASSERT_ERR(-EIO, cx_op_enter(op));
  /* a was started then stopped; b (the failing one) not stopped; c never
   * started */
  assert_int_equal(atomic_load(&a.starts), 1);
  assert_int_equal(atomic_load(&a.stops), 1);
  assert_int_equal(atomic_load(&b.starts), 1);
  assert_int_equal(atomic_load(&b.stops), 0);
  assert_int_equal(atomic_load(&c.starts), 0);
  assert_int_equal(atomic_load(&c.stops), 0);
  /* the failed enter changed nothing */
  assert_int_equal(cx_op_status(op), CX_STATUS_PENDING);
  assert_null(cx_current());
  assert_false(cx_op_is_cancelled(op));
  assert_true(cx_op_start_time(op) == 0.0);
  /* it can be entered again once the source can start */
  b.start_rc = 0;
  CX_ASSERT_OK(cx_op_enter(op));
  assert_ptr_equal(cx_current(), op);
  assert_int_equal(atomic_load(&c.starts), 1);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  assert_int_equal(atomic_load(&a.stops), 2);
  assert_int_equal(atomic_load(&b.stops), 1);
  assert_int_equal(atomic_load(&c.stops), 1);
  cx_op_unref(op);
  assert_int_equal(atomic_load(&a.destroys) + atomic_load(&b.destroys) +
                       atomic_load(&c.destroys),
                   3);
}

static void test_start_order_and_stop(void **state) {
  (void)state;
  rec r[4];
  memset(r, 0, sizeof r);
  cx_op *op = new_op("order");
  for (int i = 0; i < 4; i++)
    CX_ASSERT_OK(
        cx_op_add_source(op, rec_source(&r[i], CX_REASON_MANUAL, NULL)));
  CX_ASSERT_OK(cx_op_enter(op));
  for (int i = 1; i < 4; i++)
    assert_true(r[i].started_at > r[i - 1].started_at);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  for (int i = 0; i < 4; i++) {
    assert_int_equal(atomic_load(&r[i].stops), 1);
    assert_true(r[i].stopped_at > r[3].started_at);
  }
  cx_op_unref(op);
}

static void test_several_sources_first_wins(void **state) {
  (void)state;
  rec a = {0}, b = {0};
  cx_source *sa = rec_source(&a, CX_REASON_CONDITION, "a");
  cx_source *sb = rec_source(&b, CX_REASON_ERROR, "b");
  cx_op *op = new_op("several");
  CX_ASSERT_OK(cx_op_add_source(op, sa));
  CX_ASSERT_OK(cx_op_add_timeout(op, 60.0));
  CX_ASSERT_OK(cx_op_add_source(op, sb));
  CX_ASSERT_OK(cx_op_enter(op));
  assert_true(cx_source_trigger(sb, "b first"));
  assert_true(cx_source_trigger(sa, "a second"));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_ERROR);
  assert_string_equal(cx_op_cancel_message(op), "b first");
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_ERROR);
  cx_op_unref(op);
}

static void test_manual_cancel_before_source(void **state) {
  (void)state;
  rec a = {0};
  cx_source *sa = rec_source(&a, CX_REASON_CONDITION, "a");
  cx_op *op = new_op("manual-first");
  CX_ASSERT_OK(cx_op_add_source(op, sa));
  CX_ASSERT_OK(cx_op_enter(op));
  assert_true(cx_op_cancel(op, CX_REASON_MANUAL, "by hand"));
  assert_true(cx_source_trigger(sa, "later"));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_MANUAL);
  assert_string_equal(cx_op_cancel_message(op), "by hand");
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(atomic_load(&a.stops), 1);
  cx_op_unref(op);
}

/* ---------------------------------------------------------------------- */
/* the timeout source (virtual clock) */

static void test_timeout_source(void **state) {
  (void)state;
  cx_source *s = (cx_source *)&s;
  CX_ASSERT_ERR(-EINVAL, cx_source_timeout(&s, 0.0));
  assert_null(s);
  CX_ASSERT_ERR(-EINVAL, cx_source_timeout(&s, -1.0));
  CX_ASSERT_ERR(-EINVAL, cx_source_timeout(&s, NAN));
  CX_ASSERT_ERR(-EINVAL, cx_source_timeout(&s, INFINITY));
  CX_ASSERT_ERR(-EINVAL, cx_source_timeout(NULL, 1.0));

  CX_ASSERT_OK(cx_clock_use_virtual());
  CX_ASSERT_OK(cx_source_timeout(&s, 2.0));
  cx_op *op = new_op("timeout-source");
  CX_ASSERT_OK(cx_op_add_source(op, s));
  /* counts from enter, not from creation */
  CX_ASSERT_OK(cx_clock_advance(5.0));
  CX_ASSERT_OK(cx_op_enter(op));
  double entered = cx_now();
  assert_float_equal(cx_op_deadline(op), entered + 2.0, 1e-6);
  CX_ASSERT_OK(cx_clock_advance(1.9));
  assert_false(cx_op_is_cancelled(op));
  assert_false(cx_source_triggered(s));
  CX_ASSERT_OK(cx_clock_advance(0.2));
  assert_true(cx_op_is_cancelled(op));
  assert_true(cx_source_triggered(s));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  assert_string_equal(cx_op_cancel_message(op), "timed out after 2 s");
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);

  /* an op that exits first: the timeout never fires */
  CX_ASSERT_OK(cx_source_timeout(&s, 1.0));
  op = new_op("quick");
  CX_ASSERT_OK(cx_op_add_source(op, s));
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  CX_ASSERT_OK(cx_clock_advance(10.0));
  assert_false(cx_op_is_cancelled(op));
  assert_false(cx_source_triggered(s));
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  cx_op_unref(op);
  CX_ASSERT_OK(cx_clock_use_real());
}

/* ---------------------------------------------------------------------- */
/* a custom source with its own thread: no access after exit */

typedef struct pinger {
  cx_source *source;
  pthread_t thread;
  atomic_bool stop;
  atomic_long triggers; /* cx_source_trigger() calls returning true */
  atomic_long touches;  /* accesses to the user data by the thread */
  atomic_bool thread_alive;
  bool wait_for_cancel; /* trigger only once the test says so */
  atomic_bool go;
} pinger;

static void *pinger_main(void *arg) {
  pinger *p = arg;
  while (!atomic_load(&p->stop)) {
    atomic_fetch_add(&p->touches, 1);
    if (!p->wait_for_cancel || atomic_load(&p->go)) {
      if (cx_source_trigger(p->source, "ping"))
        atomic_fetch_add(&p->triggers, 1);
    }
    sched_yield();
  }
  atomic_store(&p->thread_alive, false);
  return NULL;
}

static int pinger_start(cx_source *src, void *user_data) {
  pinger *p = user_data;
  p->source = src;
  atomic_store(&p->stop, false);
  atomic_store(&p->thread_alive, true);
  return -pthread_create(&p->thread, NULL, pinger_main, p);
}

static void pinger_stop(cx_source *src, void *user_data) {
  pinger *p = user_data;
  (void)src;
  atomic_store(&p->stop, true);
  pthread_join(p->thread, NULL);
}

static void test_trigger_races_with_exit(void **state) {
  (void)state;
  static const cx_source_ops ops = {sizeof(cx_source_ops), pinger_start,
                                    pinger_stop, NULL};
  for (int i = 0; i < 200; i++) {
    pinger *p = calloc(1, sizeof *p);
    assert_non_null(p);
    p->wait_for_cancel = (i % 2) == 0; /* half complete, half cancelled */
    cx_source *s;
    CX_ASSERT_OK(cx_source_new(&s, &ops, p, CX_REASON_CONDITION, "pinger"));
    cx_op *op = new_op("race");
    CX_ASSERT_OK(cx_op_add_source(op, s));
    CX_ASSERT_OK(cx_op_enter(op));
    if (i % 4 == 1) atomic_store(&p->go, true);
    int rc = cx_op_is_cancelled(op) ? -ECANCELED : 0;
    CX_ASSERT_OK(cx_op_exit(op, rc));
    /* stop() joined the thread before exit returned */
    assert_false(atomic_load(&p->thread_alive));
    long touches = atomic_load(&p->touches);
    /* after exit nothing is delivered: the op's outcome is final */
    assert_false(cx_source_trigger(s, "late"));
    cx_status st = cx_op_status(op);
    if (p->wait_for_cancel) assert_false(cx_op_is_cancelled(op));
    if (rc != 0) {
      assert_int_equal(st, CX_STATUS_CANCELLED);
      assert_int_equal(cx_op_cancel_reason(op), CX_REASON_CONDITION);
      assert_string_equal(cx_op_cancel_message(op), "ping");
    } else {
      assert_int_equal(st, CX_STATUS_COMPLETED);
    }
    cx_op_unref(op);
    assert_int_equal(atomic_load(&p->touches), touches);
    free(p); /* no destroy notify: the data is ours once exit returned */
  }
}

/* ---------------------------------------------------------------------- */
/* the documented custom source: a file appears */

static void tmp_path(char *buf, size_t size, const char *leaf) {
  snprintf(buf, size, "/tmp/cx-test-sources-%ld-%s", (long)getpid(), leaf);
}

static void test_file_source_triggers(void **state) {
  (void)state;
  char path[256];
  tmp_path(path, sizeof path, "ready");
  unlink(path);
  cx_source *s = NULL;
  CX_ASSERT_ERR(-EINVAL, file_source_new(NULL, 0.01, &s));
  CX_ASSERT_OK(file_source_new(path, 0.005, &s));
  assert_string_equal(cx_source_name(s), "file");
  assert_int_equal(cx_source_reason(s), CX_REASON_CONDITION);
  cx_op *op = new_op("wait-for-file");
  CX_ASSERT_OK(cx_op_add_source(op, s));
  assert_int_equal(file_source_threads_running(), 0);
  CX_ASSERT_OK(cx_op_enter(op));
  assert_int_equal(file_source_threads_running(), 1);
  /* no file yet: keeps polling, not cancelled */
  long c0 = file_source_checks();
  double t0 = cx_test_now();
  while (file_source_checks() < c0 + 3 && cx_test_now() - t0 < 10)
    cx_test_sleep(0.005);
  assert_true(file_source_checks() >= c0 + 3);
  assert_false(cx_op_is_cancelled(op));
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fclose(f);
  CX_ASSERT_OK(cx_token_wait(cx_op_token(op), 10));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_CONDITION);
  char expected[300];
  snprintf(expected, sizeof expected, "file %s appeared", path);
  assert_string_equal(cx_op_cancel_message(op), expected);
  CX_ASSERT_ERR(-ECANCELED, cx_sleep(op, 5));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(file_source_threads_running(), 0);
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  cx_op_unref(op);
  unlink(path);
}

static void test_file_source_stops_cleanly(void **state) {
  (void)state;
  char path[256];
  tmp_path(path, sizeof path, "never");
  unlink(path);
  cx_source *s;
  CX_ASSERT_OK(file_source_new(path, 0.002, &s));
  cx_op *op = new_op("finishes-first");
  CX_ASSERT_OK(cx_op_add_source(op, s));
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_sleep(op, 0.05));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  assert_int_equal(file_source_threads_running(), 0);
  long checks = file_source_checks();
  /* the file appears after exit: nothing happens */
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fclose(f);
  cx_test_sleep(0.05);
  assert_int_equal(file_source_checks(), checks);
  assert_false(cx_op_is_cancelled(op));
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  cx_op_unref(op);
  unlink(path);
}

static void test_file_source_already_there(void **state) {
  (void)state;
  char path[256];
  tmp_path(path, sizeof path, "present");
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fclose(f);
  cx_source *s;
  CX_ASSERT_OK(file_source_new(path, 0.01, &s));
  cx_op *op = new_op("present");
  CX_ASSERT_OK(cx_op_add_source(op, s));
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_token_wait(cx_op_token(op), 10));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_CONDITION);
  cx_op_unref(op);
  unlink(path);
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/sources/custom/new/bad-input", test_new_bad_input),
    CX_TEST("/sources/custom/new/name-and-reason", test_new_name_and_reason),
    CX_TEST("/sources/null-accessors", test_null_accessors),
    CX_TEST("/sources/builtin/names-and-reasons",
            test_builtin_names_and_reasons),
    CX_TEST("/sources/add/rules", test_add_source_rules),
    CX_TEST("/sources/lifecycle/start-on-enter-stop-on-exit",
            test_start_on_enter_stop_on_exit),
    CX_TEST("/sources/lifecycle/completed-op-stops-source",
            test_completed_op_stops_source),
    CX_TEST("/sources/lifecycle/trigger-inside-start",
            test_trigger_inside_start),
    CX_TEST("/sources/lifecycle/start-failure", test_start_failure),
    CX_TEST("/sources/lifecycle/start-order", test_start_order_and_stop),
    CX_TEST("/sources/several/first-wins", test_several_sources_first_wins),
    CX_TEST("/sources/several/manual-cancel-first",
            test_manual_cancel_before_source),
    CX_TEST("/sources/timeout/virtual", test_timeout_source),
    CX_TEST("/sources/lifecycle/trigger-races-exit",
            test_trigger_races_with_exit),
    CX_TEST("/sources/custom/file-appears", test_file_source_triggers),
    CX_TEST("/sources/custom/file-stops-cleanly",
            test_file_source_stops_cleanly),
    CX_TEST("/sources/custom/file-already-there",
            test_file_source_already_there),
};

CX_TEST_MAIN("sources", tests)
