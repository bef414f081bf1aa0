/* tests/unit/test_composite.c - composite sources and combined ops
 * (issue #3): any-of (and its alias "composite") triggers on the first
 * sub-source and keeps that source's reason and message; all-of triggers
 * only once every sub-source has triggered at least once - timeouts on the
 * virtual clock, conditions and real signals included - with the reason of
 * the completing source and the message "all N sources triggered"; a
 * repeated trigger of one sub-source does not count twice; nesting to depth
 * 3 and far deeper; the seed's (timeout OR signal) OR (min time AND
 * target); empty and oversized composites, NULL, duplicate and
 * already-owned sub-sources -> -EINVAL with the caller keeping its
 * sources; composite deadlines through cx_op_deadline(); sub-sources stop
 * with the op; cx_op_combine() keeps the first trigger's reason; the
 * cx_op_with_signal() and cx_op_with_condition() factories; a long
 * source name cut on a character boundary in the all-of message (#13).
 * "Not yet" is exact: cx_test_advance() and cx_test_quiesce() return once
 * the checks and signal dispatches they wait for are over (linked with the
 * static library for them).
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

#define EPS 1e-6
/* The virtual clock's resolution: 1 ns. */
#define TICK 1e-9

/* ---------------------------------------------------------------------- */
/* a manual custom source */

typedef struct man {
  atomic_int starts, stops, destroys;
} man;

/* Whether @s begins with @prefix (the all-of message names the last
 * source after it). */
static bool starts_with(const char *s, const char *prefix) {
  return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

static int man_start(cx_source *s, void *u) {
  (void)s;
  atomic_fetch_add(&((man *)u)->starts, 1);
  return 0;
}
static void man_stop(cx_source *s, void *u) {
  (void)s;
  atomic_fetch_add(&((man *)u)->stops, 1);
}
static void man_destroy(void *u) { atomic_fetch_add(&((man *)u)->destroys, 1); }

static const cx_source_ops man_ops = {sizeof(cx_source_ops), man_start,
                                      man_stop, man_destroy};

static cx_source *manual(man *m, cx_reason reason, const char *name) {
  cx_source *s = NULL;
  CX_ASSERT_OK(cx_source_new(&s, &man_ops, m, reason, name));
  return s;
}

static cx_source *timeout(double seconds) {
  cx_source *s = NULL;
  CX_ASSERT_OK(cx_source_timeout(&s, seconds));
  return s;
}

static cx_source *any2(cx_source *a, cx_source *b) {
  cx_source *list[] = {a, b}, *out = NULL;
  CX_ASSERT_OK(cx_source_any_of(&out, list, 2));
  return out;
}

static cx_source *all2(cx_source *a, cx_source *b) {
  cx_source *list[] = {a, b}, *out = NULL;
  CX_ASSERT_OK(cx_source_all_of(&out, list, 2));
  return out;
}

static cx_op *op_with(cx_source *s, const char *name) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_op *op = NULL;
  o.name = name;
  CX_ASSERT_OK(cx_op_create(&op, &o));
  CX_ASSERT_OK(cx_op_add_source(op, s));
  return op;
}

static int never(void *u) {
  (void)u;
  return 0;
}

static int flag_set(void *u) { return atomic_load((atomic_bool *)u); }

/* ---------------------------------------------------------------------- */
/* any-of */

static void test_any_of_first_wins(void **state) {
  (void)state;
  man ma = {0}, mb = {0};
  cx_source *a = manual(&ma, CX_REASON_MANUAL, "a");
  cx_source *b = manual(&mb, CX_REASON_ERROR, "b");
  cx_source *list[] = {a, b, timeout(60)}, *any;
  CX_ASSERT_OK(cx_source_any_of(&any, list, 3));
  cx_op *op = op_with(any, "any");
  CX_ASSERT_OK(cx_op_enter(op));
  assert_int_equal(atomic_load(&ma.starts), 1);
  assert_int_equal(atomic_load(&mb.starts), 1);
  assert_false(cx_op_is_cancelled(op));
  assert_true(cx_source_trigger(b, "b fired"));
  assert_true(cx_op_is_cancelled(op));
  assert_true(cx_source_triggered(any));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_ERROR);
  /* the any-of names the member that fired (issue 17 item 5) */
  assert_string_equal(cx_op_cancel_message(op), "b fired (the first: b)");
  assert_string_equal(cx_op_cancel_source(op), "any_of/b");
  cx_source_trigger(a, "a fired");
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_ERROR);
  assert_string_equal(cx_op_cancel_message(op), "b fired (the first: b)");
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_ERROR);
  /* sub-sources stopped with the op, freed with it */
  assert_int_equal(atomic_load(&ma.stops), 1);
  assert_int_equal(atomic_load(&mb.stops), 1);
  assert_false(cx_source_trigger(a, "late"));
  cx_op_unref(op);
  assert_int_equal(atomic_load(&ma.destroys), 1);
  assert_int_equal(atomic_load(&mb.destroys), 1);
}

static void test_any_of_timeout_virtual(void **state) {
  (void)state;
  CX_ASSERT_OK(cx_clock_use_virtual());
  cx_source *cond = NULL;
  CX_ASSERT_OK(cx_source_condition(&cond, never, NULL, NULL, 0.5, "never"));
  cx_source *list[] = {cond, timeout(3)}, *comp;
  CX_ASSERT_OK(cx_source_any_of(&comp, list, 2));
  cx_op *op = op_with(comp, "composite");
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_clock_advance(2.9));
  assert_false(cx_op_is_cancelled(op));
  CX_ASSERT_OK(cx_clock_advance(0.1));
  assert_true(cx_op_is_cancelled(op));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  assert_string_equal(cx_op_cancel_message(op),
                      "timed out after 3 s (the first: timeout)");
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  CX_ASSERT_OK(cx_clock_use_real());
}

static void test_any_of_op_completes_first(void **state) {
  (void)state;
  CX_ASSERT_OK(cx_clock_use_virtual());
  man m = {0};
  cx_source *x = manual(&m, CX_REASON_MANUAL, "x");
  cx_op *op = op_with(any2(x, timeout(1)), "quick");
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  CX_ASSERT_OK(cx_clock_advance(5));
  assert_false(cx_source_trigger(x, "late"));
  assert_false(cx_op_is_cancelled(op));
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  assert_int_equal(atomic_load(&m.stops), 1);
  cx_op_unref(op);
  CX_ASSERT_OK(cx_clock_use_real());
}

/* ---------------------------------------------------------------------- */
/* all-of */

static void test_all_of_needs_every_source(void **state) {
  (void)state;
  CX_ASSERT_OK(cx_clock_use_virtual());
  man ma = {0}, mb = {0};
  cx_source *a = manual(&ma, CX_REASON_MANUAL, "a");
  cx_source *b = manual(&mb, CX_REASON_ERROR, "b");
  cx_source *list[] = {a, timeout(2), b}, *all;
  CX_ASSERT_OK(cx_source_all_of(&all, list, 3));
  cx_op *op = op_with(all, "all");
  CX_ASSERT_OK(cx_op_enter(op));
  assert_true(cx_source_trigger(a, "a"));
  assert_true(cx_source_trigger(a, "a again")); /* counts once */
  assert_true(cx_source_triggered(a));
  assert_false(cx_source_triggered(all));
  assert_false(cx_op_is_cancelled(op));
  CX_ASSERT_OK(cx_clock_advance(2.0)); /* the timeout */
  assert_false(cx_op_is_cancelled(op));
  assert_true(cx_source_trigger(b, "b completes"));
  assert_true(cx_op_is_cancelled(op));
  assert_true(cx_source_triggered(all));
  /* the reason of the source that completed the set */
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_ERROR);
  assert_true(starts_with(cx_op_cancel_message(op),
                          "all 3 sources triggered (the last: "));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_ERROR);
  cx_op_unref(op);
  CX_ASSERT_OK(cx_clock_use_real());
}

/* Issue #13 (defect 2): the all-of message names the last source in a
 * 160-byte buffer; a long name is cut after a whole character.  With a
 * name of three-byte characters, 41 of them fit after the 35 bytes of
 * "all 2 sources triggered (the last: " and a byte would be left over. */
static void test_all_of_message_cut_on_character(void **state) {
  (void)state;
  char name[3 * 100 + 1] = "", want[160];
  for (int i = 0; i < 100; i++) strcat(name, "\xe2\x82\xac");
  snprintf(want, sizeof want, "all 2 sources triggered (the last: %.*s", 41 * 3,
           name);
  assert_int_equal(strlen(want), 158);
  man ma = {0}, mb = {0};
  cx_source *a = manual(&ma, CX_REASON_MANUAL, "a");
  cx_source *b = manual(&mb, CX_REASON_MANUAL, name);
  cx_source *list[] = {a, b}, *all;
  CX_ASSERT_OK(cx_source_all_of(&all, list, 2));
  cx_op *op = op_with(all, "long");
  CX_ASSERT_OK(cx_op_enter(op));
  assert_true(cx_source_trigger(a, "a"));
  assert_true(cx_source_trigger(b, "b"));
  assert_true(cx_op_is_cancelled(op));
  assert_string_equal(cx_op_cancel_message(op), want);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
}

static void test_all_of_timeout_completes(void **state) {
  (void)state;
  CX_ASSERT_OK(cx_clock_use_virtual());
  man m = {0};
  cx_source *x = manual(&m, CX_REASON_MANUAL, "x");
  cx_op *op = op_with(all2(timeout(1), x), "min-time");
  CX_ASSERT_OK(cx_op_enter(op));
  assert_true(cx_source_trigger(x, "target reached"));
  assert_false(cx_op_is_cancelled(op));
  CX_ASSERT_OK(cx_clock_advance(1.0));
  assert_true(cx_op_is_cancelled(op));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  assert_true(starts_with(cx_op_cancel_message(op),
                          "all 2 sources triggered (the last: "));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  CX_ASSERT_OK(cx_clock_use_real());
}

static void test_all_of_two_timeouts(void **state) {
  (void)state;
  CX_ASSERT_OK(cx_clock_use_virtual());
  cx_op *op = op_with(all2(timeout(1), timeout(3)), "two-timeouts");
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_clock_advance(2.0));
  assert_false(cx_op_is_cancelled(op));
  CX_ASSERT_OK(cx_clock_advance(1.0));
  assert_true(cx_op_is_cancelled(op));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  assert_true(starts_with(cx_op_cancel_message(op),
                          "all 2 sources triggered (the last: "));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  CX_ASSERT_OK(cx_clock_use_real());
}

static void test_all_of_condition(void **state) {
  (void)state;
  atomic_bool ready = false;
  cx_source *cond = NULL;
  CX_ASSERT_OK(
      cx_source_condition(&cond, flag_set, &ready, NULL, 0.1, "target"));
  cx_op *op = op_with(all2(timeout(0.5), cond), "cond");
  CX_ASSERT_OK(cx_op_enter(op));
  /* the timeout, and a check, each waited for (cx_test_advance) */
  cx_test_advance(0.5);
  assert_false(cx_op_is_cancelled(op));
  for (int i = 0; i < 10; i++) {
    cx_test_advance(0.1); /* a check: not met */
    assert_false(cx_op_is_cancelled(op));
  }
  atomic_store(&ready, true);
  /* met at the next check, not a tick before */
  cx_test_advance(0.1 - TICK);
  assert_false(cx_op_is_cancelled(op));
  cx_test_advance(TICK);
  assert_true(cx_op_is_cancelled(op));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_CONDITION);
  assert_true(starts_with(cx_op_cancel_message(op),
                          "all 2 sources triggered (the last: "));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
}

static void test_all_of_signal(void **state) {
  (void)state;
  for (int order = 0; order < 2; order++) {
    man m = {0};
    int usr1 = SIGUSR1;
    cx_source *sig = NULL, *x = manual(&m, CX_REASON_MANUAL, "x");
    CX_ASSERT_OK(cx_source_signal(&sig, &usr1, 1));
    cx_op *op = op_with(all2(sig, x), "signal-and");
    CX_ASSERT_OK(cx_op_enter(op));
    if (order == 1) assert_true(cx_source_trigger(x, "x"));
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    double t0 = cx_test_now();
    while (!cx_source_triggered(sig) && cx_test_now() - t0 < 10)
      cx_test_sleep(0.001);
    assert_true(cx_source_triggered(sig));
    if (order == 0) {
      cx_test_quiesce(); /* the dispatcher is done with the signal */
      assert_false(cx_op_is_cancelled(op));
      assert_true(cx_source_trigger(x, "x"));
    }
    CX_ASSERT_OK(cx_token_wait(cx_op_token(op), 10));
    assert_int_equal(cx_op_cancel_reason(op),
                     order == 0 ? CX_REASON_MANUAL : CX_REASON_SIGNAL);
    assert_true(starts_with(cx_op_cancel_message(op),
                            "all 2 sources triggered (the last: "));
    CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
    cx_op_unref(op);
  }
}

static void test_all_of_64(void **state) {
  (void)state;
  man m[64];
  memset(m, 0, sizeof m);
  cx_source *list[64], *all;
  for (int i = 0; i < 64; i++) list[i] = manual(&m[i], CX_REASON_MANUAL, NULL);
  CX_ASSERT_OK(cx_source_all_of(&all, list, 64));
  cx_op *op = op_with(all, "64");
  CX_ASSERT_OK(cx_op_enter(op));
  for (int i = 63; i > 0; i--) assert_true(cx_source_trigger(list[i], "x"));
  assert_false(cx_op_is_cancelled(op));
  assert_true(cx_source_trigger(list[0], "last"));
  assert_true(cx_op_is_cancelled(op));
  assert_true(starts_with(cx_op_cancel_message(op),
                          "all 64 sources triggered (the last: "));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  for (int i = 0; i < 64; i++) assert_int_equal(atomic_load(&m[i].destroys), 1);
}

typedef struct trig_args {
  cx_source *src;
  pthread_barrier_t *barrier;
} trig_args;

static void *trigger_main(void *arg) {
  trig_args *a = arg;
  pthread_barrier_wait(a->barrier);
  cx_source_trigger(a->src, "concurrent");
  return NULL;
}

static void test_all_of_concurrent_triggers(void **state) {
  (void)state;
  enum { N = 8 };
  for (int round = 0; round < 50; round++) {
    man m[N];
    memset(m, 0, sizeof m);
    cx_source *list[N], *all;
    for (int i = 0; i < N; i++) list[i] = manual(&m[i], CX_REASON_MANUAL, NULL);
    CX_ASSERT_OK(cx_source_all_of(&all, list, N));
    cx_op *op = op_with(all, "concurrent");
    CX_ASSERT_OK(cx_op_enter(op));
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, N);
    pthread_t t[N];
    trig_args a[N];
    for (int i = 0; i < N; i++) {
      a[i].src = list[i];
      a[i].barrier = &barrier;
      assert_int_equal(pthread_create(&t[i], NULL, trigger_main, &a[i]), 0);
    }
    for (int i = 0; i < N; i++) pthread_join(t[i], NULL);
    pthread_barrier_destroy(&barrier);
    assert_true(cx_op_is_cancelled(op));
    assert_true(starts_with(cx_op_cancel_message(op),
                            "all 8 sources triggered (the last: "));
    CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
    cx_op_unref(op);
  }
}

/* ---------------------------------------------------------------------- */
/* nesting */

static void test_nesting_depth_3(void **state) {
  (void)state;
  CX_ASSERT_OK(cx_clock_use_virtual());
  /* any_of( all_of( any_of(X, timeout 100), Y ), timeout 50 ) */
  man mx = {0}, my = {0};
  cx_source *x = manual(&mx, CX_REASON_CONDITION, "x");
  cx_source *y = manual(&my, CX_REASON_SIGNAL, "y");
  cx_source *inner = any2(x, timeout(100));
  cx_source *mid = all2(inner, y);
  cx_source *top = any2(mid, timeout(50));
  cx_op *op = op_with(top, "depth3");
  CX_ASSERT_OK(cx_op_enter(op));
  assert_float_equal(cx_op_deadline(op), cx_now() + 50, EPS);
  assert_true(cx_source_trigger(x, "x"));
  assert_true(cx_source_triggered(inner));
  assert_false(cx_source_triggered(mid));
  assert_false(cx_op_is_cancelled(op));
  assert_true(cx_source_trigger(y, "y"));
  assert_true(cx_op_is_cancelled(op));
  assert_true(cx_source_triggered(top));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_SIGNAL);
  assert_true(starts_with(cx_op_cancel_message(op),
                          "all 2 sources triggered (the last: "));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(atomic_load(&mx.stops), 1);
  assert_int_equal(atomic_load(&my.stops), 1);
  cx_op_unref(op);
  assert_int_equal(atomic_load(&mx.destroys), 1);
  assert_int_equal(atomic_load(&my.destroys), 1);

  /* the same shape, completed by the inner timeout instead */
  mx = (man){0};
  my = (man){0};
  x = manual(&mx, CX_REASON_CONDITION, "x");
  y = manual(&my, CX_REASON_SIGNAL, "y");
  op = op_with(any2(all2(any2(x, timeout(10)), y), timeout(50)), "depth3b");
  CX_ASSERT_OK(cx_op_enter(op));
  assert_true(cx_source_trigger(y, "y"));
  CX_ASSERT_OK(cx_clock_advance(10));
  assert_true(cx_op_is_cancelled(op));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
  assert_true(starts_with(cx_op_cancel_message(op),
                          "all 2 sources triggered (the last: "));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  CX_ASSERT_OK(cx_clock_use_real());
}

static void test_nesting_deep(void **state) {
  (void)state;
  enum { DEPTH = 500 };
  man m = {0};
  cx_source *leaf = manual(&m, CX_REASON_ERROR, "leaf"), *s = leaf;
  for (int i = 0; i < DEPTH; i++) {
    cx_source *next = NULL;
    if (i % 2)
      CX_ASSERT_OK(cx_source_any_of(&next, &s, 1));
    else
      CX_ASSERT_OK(cx_source_all_of(&next, &s, 1));
    s = next;
  }
  cx_op *op = op_with(s, "deep");
  CX_ASSERT_OK(cx_op_enter(op));
  assert_int_equal(atomic_load(&m.starts), 1);
  assert_true(cx_source_trigger(leaf, "from the bottom"));
  assert_true(cx_op_is_cancelled(op));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_ERROR);
  /* the outermost all-of of one source reports "all 1 sources" or keeps
   * the leaf's text; either way the reason comes from the leaf */
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(atomic_load(&m.stops), 1);
  cx_op_unref(op);
  assert_int_equal(atomic_load(&m.destroys), 1);

  /* any-of all the way: the leaf's message survives every level */
  m = (man){0};
  leaf = manual(&m, CX_REASON_CONDITION, "leaf");
  s = leaf;
  for (int i = 0; i < DEPTH; i++) {
    cx_source *next = NULL;
    CX_ASSERT_OK(cx_source_any_of(&next, &s, 1));
    s = next;
  }
  op = op_with(s, "deep-any");
  CX_ASSERT_OK(cx_op_enter(op));
  assert_true(cx_source_trigger(leaf, "leaf message"));
  /* any-ofs of one member leave the message be; the source is the path */
  assert_string_equal(cx_op_cancel_message(op), "leaf message");
  const char *path = cx_op_cancel_source(op);
  assert_true(starts_with(path, "any_of/any_of/"));
  assert_string_equal(path + strlen(path) - strlen("/leaf"), "/leaf");
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_CONDITION);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
}

typedef struct sigterm_sender {
  double delay;
} sigterm_sender;

static void *send_usr2(void *arg) {
  sigterm_sender *s = arg;
  cx_test_sleep(s->delay);
  kill(getpid(), SIGUSR2);
  return NULL;
}

static void test_or_of_and(void **state) {
  (void)state;
  /* (timeout OR signal) OR (min time AND target), virtual clock */
  CX_ASSERT_OK(cx_clock_use_virtual());
  for (int branch = 0; branch < 3; branch++) {
    int usr2 = SIGUSR2;
    man target = {0};
    cx_source *sig = NULL, *t = manual(&target, CX_REASON_CONDITION, "t");
    cx_source *hard = timeout(300), *min = timeout(60), *guard;
    CX_ASSERT_OK(cx_source_signal(&sig, &usr2, 1));
    /* named, so that the op says which fired (issue 17 item 5) */
    CX_ASSERT_OK(cx_source_set_name(hard, "hard"));
    CX_ASSERT_OK(cx_source_set_name(min, "min"));
    CX_ASSERT_OK(cx_source_set_name(t, "target"));
    cx_source *safety = any2(hard, sig);
    cx_source *reqs = all2(min, t);
    CX_ASSERT_OK(cx_source_set_name(safety, "safety"));
    CX_ASSERT_OK(cx_source_set_name(reqs, "min-and-target"));
    guard = any2(safety, reqs);
    CX_ASSERT_OK(cx_source_set_name(guard, "guard"));
    CX_ASSERT_ERR(-EBUSY, cx_source_set_name(hard, "taken"));
    assert_string_equal(cx_source_name(hard), "hard");
    cx_op *op = op_with(guard, "or-of-and");
    CX_ASSERT_OK(cx_op_enter(op));
    /* the effective deadline is the hard timeout's: the AND branch needs
     * more than time */
    assert_float_equal(cx_op_deadline(op), cx_now() + 300, EPS);
    if (branch == 0) {
      /* AND: target reached, then the minimum time passes */
      assert_true(cx_source_trigger(t, "target"));
      CX_ASSERT_OK(cx_clock_advance(59));
      assert_false(cx_op_is_cancelled(op));
      CX_ASSERT_OK(cx_clock_advance(1));
      assert_true(cx_op_is_cancelled(op));
      assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
      assert_string_equal(cx_op_cancel_message(op),
                          "all 2 sources triggered (the last: min) (the first: "
                          "min-and-target/min)");
      assert_string_equal(cx_op_cancel_source(op), "guard/min-and-target/min");
    } else if (branch == 1) {
      /* the minimum time passes without the target, then SIGUSR2 */
      CX_ASSERT_OK(cx_clock_advance(100));
      assert_false(cx_op_is_cancelled(op));
      sigterm_sender s = {0.01};
      pthread_t th;
      assert_int_equal(pthread_create(&th, NULL, send_usr2, &s), 0);
      pthread_join(th, NULL);
      CX_ASSERT_OK(cx_token_wait(cx_op_token(op), 10));
      assert_int_equal(cx_op_cancel_reason(op), CX_REASON_SIGNAL);
      assert_non_null(strstr(cx_op_cancel_message(op), "SIGUSR2"));
      assert_string_equal(cx_op_cancel_source(op), "guard/safety/signal");
    } else {
      /* nothing but the hard timeout */
      CX_ASSERT_OK(cx_clock_advance(300));
      assert_true(cx_op_is_cancelled(op));
      assert_int_equal(cx_op_cancel_reason(op), CX_REASON_TIMEOUT);
      assert_string_equal(cx_op_cancel_message(op),
                          "timed out after 300 s (the first: safety/hard)");
      assert_string_equal(cx_op_cancel_source(op), "guard/safety/hard");
      char *json = NULL;
      CX_ASSERT_OK(cx_op_to_json(op, &json));
      assert_non_null(strstr(json, "\"cancel_source\":\"guard/safety/hard\""));
      free(json);
    }
    CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
    cx_op_unref(op);
  }
  CX_ASSERT_OK(cx_clock_use_real());
}

/* ---------------------------------------------------------------------- */
/* bad input: the caller keeps its sources */

static void test_bad_input(void **state) {
  (void)state;
  man m[66];
  memset(m, 0, sizeof m);
  cx_source *list[66], *out = (cx_source *)&out;
  for (int i = 0; i < 66; i++) list[i] = manual(&m[i], CX_REASON_MANUAL, NULL);
  int (*const makers[])(cx_source **, cx_source *const *, size_t) = {
      cx_source_any_of, cx_source_all_of};
  for (int k = 0; k < 2; k++) {
    out = (cx_source *)&out;
    CX_ASSERT_ERR(-EINVAL, makers[k](&out, list, 0)); /* empty */
    assert_null(out);
    CX_ASSERT_ERR(-EINVAL, makers[k](&out, list, 65)); /* oversized */
    CX_ASSERT_ERR(-EINVAL, makers[k](&out, list, 66));
    CX_ASSERT_ERR(-EINVAL, makers[k](&out, NULL, 2));
    CX_ASSERT_ERR(-EINVAL, makers[k](NULL, list, 2));
    cx_source *with_null[] = {list[0], NULL, list[1]};
    CX_ASSERT_ERR(-EINVAL, makers[k](&out, with_null, 3));
    cx_source *dup[] = {list[0], list[1], list[0]};
    CX_ASSERT_ERR(-EINVAL, makers[k](&out, dup, 3));
  }
  /* nothing was taken: every source can still be used */
  for (int i = 0; i < 66; i++) {
    assert_int_equal(atomic_load(&m[i].destroys), 0);
  }
  /* a sub-source already owned by another composite, or attached to an op */
  cx_source *owner = NULL;
  CX_ASSERT_OK(cx_source_any_of(&owner, &list[0], 1));
  cx_source *again[] = {list[2], list[0]};
  CX_ASSERT_ERR(-EINVAL, cx_source_all_of(&out, again, 2));
  cx_op *op = op_with(list[3], "owns3");
  cx_source *attached[] = {list[4], list[3]};
  CX_ASSERT_ERR(-EINVAL, cx_source_any_of(&out, attached, 2));
  /* list[2] and list[4] still belong to us */
  cx_source *fine[] = {list[2], list[4]};
  CX_ASSERT_OK(cx_source_all_of(&out, fine, 2));
  cx_source_free(out);
  assert_int_equal(atomic_load(&m[2].destroys), 1);
  assert_int_equal(atomic_load(&m[4].destroys), 1);
  /* the owners free what they own, once */
  cx_source_free(owner);
  assert_int_equal(atomic_load(&m[0].destroys), 1);
  cx_op_unref(op);
  assert_int_equal(atomic_load(&m[3].destroys), 1);
  cx_source_free(list[1]);
  for (int i = 5; i < 66; i++) cx_source_free(list[i]);
  for (int i = 0; i < 66; i++) assert_int_equal(atomic_load(&m[i].destroys), 1);
  for (int i = 0; i < 66; i++) assert_int_equal(atomic_load(&m[i].starts), 0);
}

/* ---------------------------------------------------------------------- */
/* deadlines */

static void test_deadlines(void **state) {
  (void)state;
  CX_ASSERT_OK(cx_clock_use_virtual());
  cx_source *c1 = NULL, *c2 = NULL;
  CX_ASSERT_OK(cx_source_condition(&c1, never, NULL, NULL, 1, "c1"));
  CX_ASSERT_OK(cx_source_condition(&c2, never, NULL, NULL, 1, "c2"));
  struct {
    cx_source *src;
    double expect; /* seconds from enter, INFINITY for none */
    double op_timeout;
  } cases[] = {
      {any2(timeout(3), timeout(7)), 3, 0},
      {all2(timeout(3), timeout(7)), 7, 0},
      {all2(timeout(3), c1), INFINITY, 0},
      {any2(timeout(4), c2), 4, 0},
      {any2(all2(timeout(2), timeout(4)), timeout(10)), 4, 0},
      {all2(any2(timeout(2), timeout(8)), timeout(5)), 5, 0},
      {all2(timeout(20), timeout(30)), 6, 6}, /* the op's own timeout */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cx_op_options o = CX_OP_OPTIONS_INIT;
    cx_op *op = NULL;
    o.timeout = cases[i].op_timeout;
    CX_ASSERT_OK(cx_op_create(&op, &o));
    CX_ASSERT_OK(cx_op_add_source(op, cases[i].src));
    assert_true(isinf(cx_op_deadline(op))); /* not running */
    CX_ASSERT_OK(cx_clock_advance(1.0));    /* counts from enter */
    CX_ASSERT_OK(cx_op_enter(op));
    double now = cx_now();
    if (isinf(cases[i].expect)) {
      assert_true(isinf(cx_op_deadline(op)));
      assert_true(isinf(cx_op_remaining(op)));
    } else {
      assert_float_equal(cx_op_deadline(op), now + cases[i].expect, EPS);
      assert_float_equal(cx_op_remaining(op), cases[i].expect, EPS);
    }
    CX_ASSERT_OK(cx_op_exit(op, 0));
    assert_true(isinf(cx_op_deadline(op)));
    cx_op_unref(op);
  }
  CX_ASSERT_OK(cx_clock_use_real());
}

/* ---------------------------------------------------------------------- */
/* combine */

static void test_combine(void **state) {
  (void)state;
  CX_ASSERT_OK(cx_clock_use_virtual());
  cx_op *a = NULL, *b = NULL, *c = NULL, *combined = NULL;
  CX_ASSERT_OK(cx_op_with_timeout(&a, NULL, 1.0, "a"));
  CX_ASSERT_OK(cx_op_create(&b, NULL));
  CX_ASSERT_OK(cx_op_create(&c, NULL));
  cx_op *ops[] = {a, b, c};
  CX_ASSERT_OK(cx_op_combine(&combined, NULL, ops, 3, NULL));
  assert_string_equal(cx_op_name(combined), "combined");
  assert_int_equal(cx_op_status(combined), CX_STATUS_PENDING);
  /* the ops' references are held by the links */
  cx_op_unref(c);
  CX_ASSERT_OK(cx_op_enter(combined));
  /* the combined op runs a's timeout: a cannot be entered meanwhile */
  CX_ASSERT_ERR(-EBUSY, cx_op_enter(a));
  assert_false(cx_op_is_cancelled(combined));
  CX_ASSERT_OK(cx_clock_advance(1.0));
  assert_true(cx_op_is_cancelled(combined));
  assert_int_equal(cx_op_cancel_reason(combined), CX_REASON_TIMEOUT);
  assert_string_equal(cx_op_cancel_message(combined), "timed out after 1 s");
  /* a later trigger of another op changes nothing */
  assert_true(cx_op_cancel(b, CX_REASON_MANUAL, "too late"));
  assert_int_equal(cx_op_cancel_reason(combined), CX_REASON_TIMEOUT);
  assert_false(cx_op_is_cancelled(a)); /* its source cancelled combined */
  CX_ASSERT_OK(cx_op_exit(combined, -ECANCELED));
  assert_int_equal(cx_op_status(combined), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(combined), CX_REASON_TIMEOUT);
  cx_op_unref(combined);
  cx_op_unref(a);
  cx_op_unref(b);

  /* a manual cancel of one op, with its message */
  CX_ASSERT_OK(cx_op_create(&a, NULL));
  CX_ASSERT_OK(cx_op_create(&b, NULL));
  cx_op *two[] = {a, b};
  CX_ASSERT_OK(cx_op_combine(&combined, NULL, two, 2, "both"));
  assert_string_equal(cx_op_name(combined), "both");
  CX_ASSERT_OK(cx_op_enter(combined));
  assert_true(cx_op_cancel(b, CX_REASON_ERROR, "b broke"));
  assert_int_equal(cx_op_cancel_reason(combined), CX_REASON_ERROR);
  assert_string_equal(cx_op_cancel_message(combined), "b broke");
  assert_false(cx_op_is_cancelled(a)); /* combining is one-way */
  CX_ASSERT_OK(cx_op_exit(combined, -ECANCELED));
  cx_op_unref(combined);

  /* an op already cancelled: the combined op starts out cancelled */
  CX_ASSERT_OK(cx_op_combine(&combined, NULL, two, 2, "late"));
  assert_true(cx_op_is_cancelled(combined));
  assert_int_equal(cx_op_cancel_reason(combined), CX_REASON_ERROR);
  cx_op_unref(combined);
  cx_op_unref(a);
  cx_op_unref(b);

  /* bad input */
  combined = (cx_op *)&combined;
  CX_ASSERT_ERR(-EINVAL, cx_op_combine(&combined, NULL, two, 0, NULL));
  assert_null(combined);
  CX_ASSERT_ERR(-EINVAL, cx_op_combine(&combined, NULL, NULL, 2, NULL));
  CX_ASSERT_ERR(-EINVAL, cx_op_combine(NULL, NULL, two, 2, NULL));
  cx_op *with_null[] = {NULL};
  CX_ASSERT_ERR(-EINVAL, cx_op_combine(&combined, NULL, with_null, 1, NULL));
  CX_ASSERT_OK(cx_clock_use_real());
}

static void test_combine_with_sources(void **state) {
  (void)state;
  /* combine ops made by the factories: the first trigger's reason wins */
  int usr1 = SIGUSR1;
  atomic_bool flag = false;
  cx_op *sig = NULL, *cond = NULL, *combined = NULL;
  CX_ASSERT_OK(cx_op_with_signal(&sig, NULL, &usr1, 1, "sig"));
  CX_ASSERT_OK(
      cx_op_with_condition(&cond, NULL, flag_set, &flag, NULL, 0.005, "flag"));
  cx_op *ops[] = {sig, cond};
  CX_ASSERT_OK(cx_op_combine(&combined, NULL, ops, 2, "robust"));
  /* only the combined op is entered: it runs both inputs' sources */
  CX_ASSERT_OK(cx_op_enter(combined));
  atomic_store(&flag, true);
  CX_ASSERT_OK(cx_token_wait(cx_op_token(combined), 10));
  assert_int_equal(cx_op_cancel_reason(combined), CX_REASON_CONDITION);
  assert_non_null(strstr(cx_op_cancel_message(combined), "flag"));
  assert_int_equal(raise(SIGUSR1), 0);
  cx_test_quiesce(); /* the signal dispatched: nothing changes */
  assert_int_equal(cx_op_cancel_reason(combined), CX_REASON_CONDITION);
  CX_ASSERT_OK(cx_op_exit(combined, -ECANCELED));
  assert_int_equal(cx_op_cancel_reason(combined), CX_REASON_CONDITION);
  cx_op_unref(combined);
  cx_op_unref(sig);
  cx_op_unref(cond);
}

/* Issue 17 item 1: the reference's combined timeouts of 0.1 s and 0.2 s
 * cancel at 0.1 s, none of the inputs entered; the inputs are busy
 * (-EBUSY) while lent, untouched and usable after. */
static void test_combine_runs_inputs(void **state) {
  (void)state;
  cx_op *a = NULL, *b = NULL, *combined = NULL;
  cx_source *extra = NULL;
  CX_ASSERT_OK(cx_op_with_timeout(&a, NULL, 0.1, "a"));
  CX_ASSERT_OK(cx_op_with_timeout(&b, NULL, 0.2, "b"));
  cx_op *ops[] = {a, b};
  CX_ASSERT_OK(cx_op_combine(&combined, NULL, ops, 2, NULL));
  CX_ASSERT_OK(cx_op_enter(combined));
  double start = cx_now();
  assert_true(fabs(cx_op_deadline(combined) - (start + 0.1)) < 1e-3);
  CX_ASSERT_ERR(-EBUSY, cx_op_enter(b));
  CX_ASSERT_OK(cx_source_timeout(&extra, 1));
  CX_ASSERT_ERR(-EBUSY, cx_op_add_source(b, extra));
  cx_test_advance(0.1 - TICK);
  assert_false(cx_op_is_cancelled(combined));
  cx_test_advance(TICK);
  assert_true(cx_op_is_cancelled(combined));
  assert_int_equal(cx_op_cancel_reason(combined), CX_REASON_TIMEOUT);
  assert_string_equal(cx_op_cancel_message(combined), "timed out after 0.1 s");
  assert_string_equal(cx_op_cancel_source(combined), "timeout");
  CX_ASSERT_OK(cx_op_exit(combined, -ECANCELED));
  assert_int_equal(cx_op_status(combined), CX_STATUS_CANCELLED);
  /* the 0.2 s source stopped with the combined op */
  cx_test_advance(1);
  assert_false(cx_op_is_cancelled(a));
  assert_false(cx_op_is_cancelled(b));
  /* given back: b runs its own timeout now */
  CX_ASSERT_OK(cx_op_add_source(b, extra));
  CX_ASSERT_OK(cx_op_enter(b));
  cx_test_advance(0.2);
  assert_true(cx_op_is_cancelled(b));
  CX_ASSERT_OK(cx_op_exit(b, -ECANCELED));
  cx_op_unref(combined);
  cx_op_unref(a);
  cx_op_unref(b);
}

/* The same on the real clock, as the reference measures it: about 0.1 s
 * (generous upper bound for a loaded machine). */
static void test_combine_real_time(void **state) {
  (void)state;
  cx_op *a = NULL, *b = NULL, *combined = NULL;
  CX_ASSERT_OK(cx_op_with_timeout(&a, NULL, 0.1, "a"));
  CX_ASSERT_OK(cx_op_with_timeout(&b, NULL, 0.2, "b"));
  cx_op *ops[] = {a, b};
  CX_ASSERT_OK(cx_op_combine(&combined, NULL, ops, 2, NULL));
  double t0 = cx_test_now();
  CX_ASSERT_OK(cx_op_enter(combined));
  CX_ASSERT_ERR(-ECANCELED, cx_sleep(NULL, 10));
  double took = cx_test_now() - t0;
  CX_ASSERT_OK(cx_op_exit(combined, -ECANCELED));
  assert_true(took >= 0.1 - 1e-3);
  assert_true(took < 10.0); /* the message says which fired: no tight bound */
  assert_string_equal(cx_op_cancel_message(combined), "timed out after 0.1 s");
  cx_op_unref(combined);
  cx_op_unref(a);
  cx_op_unref(b);
}

/* A combined op of a combined op runs the inner inputs' sources too; an
 * input already running keeps its own sources (and cancels the combined
 * op through the link); a token-only input adds its token. */
static void test_combine_nested(void **state) {
  (void)state;
  int usr1 = SIGUSR1;
  cx_op *sig = NULL, *t = NULL, *inner = NULL, *outer = NULL, *run = NULL;
  cx_token *tok = cx_token_new();
  cx_op *tok_op = NULL;
  assert_non_null(tok);
  CX_ASSERT_OK(cx_op_with_signal(&sig, NULL, &usr1, 1, "sig"));
  CX_ASSERT_OK(cx_op_with_timeout(&t, NULL, 5, "t"));
  CX_ASSERT_OK(cx_op_with_token(&tok_op, NULL, tok, "tok"));
  cx_op *in2[] = {sig, t};
  CX_ASSERT_OK(cx_op_combine(&inner, NULL, in2, 2, "inner"));
  CX_ASSERT_OK(cx_op_with_timeout(&run, NULL, 3, "running"));
  CX_ASSERT_OK(cx_op_enter(run)); /* entered first: not lent */
  cx_op *out2[] = {inner, run, tok_op};
  CX_ASSERT_OK(cx_op_combine(&outer, NULL, out2, 3, "outer"));
  CX_ASSERT_OK(cx_op_enter(outer));
  assert_true(cx_op_deadline(outer) <= cx_now() + 5 + 1e-3);
  CX_ASSERT_ERR(-EBUSY, cx_op_enter(inner));
  CX_ASSERT_ERR(-EBUSY, cx_op_enter(sig));
  assert_int_equal(raise(SIGUSR1), 0);
  CX_ASSERT_OK(cx_token_wait(cx_op_token(outer), 10));
  assert_int_equal(cx_op_cancel_reason(outer), CX_REASON_SIGNAL);
  assert_false(cx_op_is_cancelled(run));
  assert_false(cx_op_is_cancelled(inner));
  CX_ASSERT_OK(cx_op_exit(outer, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(run, 0));
  /* all given back */
  CX_ASSERT_OK(cx_op_enter(inner));
  CX_ASSERT_OK(cx_op_exit(inner, 0));
  cx_op_unref(outer);
  cx_op_unref(inner);
  cx_op_unref(run);
  cx_op_unref(sig);
  cx_op_unref(t);
  cx_op_unref(tok_op);
  cx_token_unref(tok);
}

/* ---------------------------------------------------------------------- */
/* factories */

static atomic_int factory_destroys;
static void count_destroy(void *u) {
  (void)u;
  atomic_fetch_add(&factory_destroys, 1);
}

static void test_factories(void **state) {
  (void)state;
  int usr2 = SIGUSR2;
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_with_signal(&op, NULL, &usr2, 1, "service"));
  assert_string_equal(cx_op_name(op), "service");
  assert_int_equal(cx_op_status(op), CX_STATUS_PENDING);
  CX_ASSERT_OK(cx_op_enter(op));
  assert_int_equal(kill(getpid(), SIGUSR2), 0);
  CX_ASSERT_ERR(-ECANCELED, cx_sleep(op, 10));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_SIGNAL);
  assert_non_null(strstr(cx_op_cancel_message(op), "SIGUSR2"));
  cx_op_unref(op);

  CX_ASSERT_OK(cx_clock_use_virtual());
  atomic_bool flag = true;
  atomic_store(&factory_destroys, 0);
  CX_ASSERT_OK(cx_op_with_condition(&op, NULL, flag_set, &flag, count_destroy,
                                    2.0, "memory_check"));
  assert_string_equal(cx_op_name(op), "memory_check");
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_clock_advance(2.0));
  CX_ASSERT_OK(cx_token_wait(cx_op_token(op), 10));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_CONDITION);
  assert_non_null(strstr(cx_op_cancel_message(op), "memory_check"));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(atomic_load(&factory_destroys), 0);
  cx_op_unref(op);
  assert_int_equal(atomic_load(&factory_destroys), 1);
  CX_ASSERT_OK(cx_clock_use_real());

  /* errors: nothing created, the destroy notify not called */
  op = (cx_op *)&op;
  CX_ASSERT_ERR(-EINVAL, cx_op_with_condition(&op, NULL, flag_set, &flag,
                                              count_destroy, -1.0, "bad"));
  assert_null(op);
  assert_int_equal(atomic_load(&factory_destroys), 1);
  int bad = SIGKILL;
  op = (cx_op *)&op;
  CX_ASSERT_ERR(-EINVAL, cx_op_with_signal(&op, NULL, &bad, 1, "bad"));
  assert_null(op);
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/composite/any-of/first-wins", test_any_of_first_wins),
    CX_TEST("/composite/any-of/timeout", test_any_of_timeout_virtual),
    CX_TEST("/composite/any-of/op-completes-first",
            test_any_of_op_completes_first),
    CX_TEST("/composite/all-of/needs-every-source",
            test_all_of_needs_every_source),
    CX_TEST("/composite/all-of/timeout-completes",
            test_all_of_timeout_completes),
    CX_TEST("/composite/all-of/two-timeouts", test_all_of_two_timeouts),
    CX_TEST("/composite/all-of/message-cut-on-character",
            test_all_of_message_cut_on_character),
    CX_TEST_VCLOCK("/composite/all-of/condition", test_all_of_condition),
    CX_TEST("/composite/all-of/signal", test_all_of_signal),
    CX_TEST("/composite/all-of/64", test_all_of_64),
    CX_TEST("/composite/all-of/concurrent-triggers",
            test_all_of_concurrent_triggers),
    CX_TEST("/composite/nesting/depth-3", test_nesting_depth_3),
    CX_TEST("/composite/nesting/deep", test_nesting_deep),
    CX_TEST("/composite/or-of-and", test_or_of_and),
    CX_TEST("/composite/bad-input", test_bad_input),
    CX_TEST("/composite/deadlines", test_deadlines),
    CX_TEST("/composite/combine", test_combine),
    CX_TEST("/composite/combine/with-sources", test_combine_with_sources),
    CX_TEST_VCLOCK("/composite/combine/runs-inputs-sources",
                   test_combine_runs_inputs),
    CX_TEST("/composite/combine/real-time", test_combine_real_time),
    CX_TEST("/composite/combine/nested", test_combine_nested),
    CX_TEST("/composite/factories", test_factories),
};

CX_TEST_MAIN("composite", tests)
