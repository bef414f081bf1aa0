/* tests/unit/test_hierarchy.c - operation hierarchies, issue #4: the parent
 * cascade (reason PARENT, message naming the parent; grandchildren; pending
 * children and children created after the cancel), cancelling a child never
 * touches its parent or siblings, a chain 100 000 deep and a parent with
 * 1 000 000 children cancelled (and freed) on a small stack, a long-lived
 * parent that runs 1 000 000 short children holds no memory for them (heap
 * figure), effective deadlines (earliest of own and ancestors', virtual
 * clock), nested timeouts (the outer one cancels every inner step, an inner
 * one only its step), and introspection (parent, parent id, child count,
 * visiting children with visitors that exit or unref them).
 *
 * Built twice: test_hierarchy holds the fast tests, test_hierarchy_big
 * (CX_TREE_BIG defined) the deep, wide and memory tests (label slow).
 */
#include "cx_test.h"

#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cancelable.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CX_TREE_SANITIZER 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CX_TREE_SANITIZER 1
#endif
#ifdef CX_TREE_SANITIZER
/* From <sanitizer/allocator_interface.h> (shipped with clang, not gcc):
 * bytes allocated and not yet freed, quarantine excluded. */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

/* ---------------------------------------------------------------------- */
/* helpers */

static cx_op *new_child(const char *name, cx_op *parent, double timeout) {
  return cx_test_op(name, parent, timeout);
}

static void assert_parent_message(cx_op *op, const char *parent_name,
                                  const char *text) {
  const char *m = cx_op_cancel_message(op);
  char want[160];
  assert_non_null(m);
  snprintf(want, sizeof want, "parent operation '%s'", parent_name);
  if (strstr(m, want) == NULL || (text != NULL && strstr(m, text) == NULL)) {
    print_error("message \"%s\" lacks \"%s\" / \"%s\"\n", m, want,
                text ? text : "");
    fail();
  }
}

#ifndef CX_TREE_BIG
static void assert_near(double expected, double actual) {
  if (fabs(expected - actual) > 1e-6) {
    print_error("expected %.9f, got %.9f\n", expected, actual);
    fail();
  }
}

/* ---------------------------------------------------------------------- */
/* cascade */

static void test_cascade_reason_parent(void **state) {
  (void)state;
  cx_op *parent = new_child("parent", NULL, 0);
  CX_ASSERT_OK(cx_op_enter(parent));
  cx_op *child = new_child("child", parent, 0);
  CX_ASSERT_OK(cx_op_enter(child));
  cx_op *grandchild = new_child("grandchild", child, 0);
  CX_ASSERT_OK(cx_op_enter(grandchild));

  assert_true(cx_op_cancel(parent, CX_REASON_MANUAL, "shutting down"));

  assert_true(cx_op_is_cancelled(parent));
  assert_int_equal(cx_op_cancel_reason(parent), CX_REASON_MANUAL);
  assert_string_equal(cx_op_cancel_message(parent), "shutting down");

  assert_true(cx_op_is_cancelled(child));
  assert_int_equal(cx_op_cancel_reason(child), CX_REASON_PARENT);
  assert_parent_message(child, "parent", "shutting down");

  assert_true(cx_op_is_cancelled(grandchild));
  assert_int_equal(cx_op_cancel_reason(grandchild), CX_REASON_PARENT);
  assert_parent_message(grandchild, "child", NULL);
  CX_ASSERT_ERR(-ECANCELED, cx_check(NULL));

  /* The cascade cannot be overridden: the first cancel won. */
  assert_false(cx_op_cancel(child, CX_REASON_MANUAL, "late"));
  assert_int_equal(cx_op_cancel_reason(child), CX_REASON_PARENT);

  CX_ASSERT_OK(cx_op_exit(grandchild, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(child, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(parent, -ECANCELED));
  assert_int_equal(cx_op_status(grandchild), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_status(child), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_status(parent), CX_STATUS_CANCELLED);
  /* Reason and message survive exit. */
  assert_int_equal(cx_op_cancel_reason(child), CX_REASON_PARENT);
  assert_parent_message(child, "parent", "shutting down");
  cx_op_unref(grandchild);
  cx_op_unref(child);
  cx_op_unref(parent);
}

static void test_cascade_reaches_pending_and_late_children(void **state) {
  (void)state;
  cx_op *parent = new_child("parent", NULL, 0);
  CX_ASSERT_OK(cx_op_enter(parent));
  cx_op *pending = new_child("pending", parent, 0);
  assert_true(cx_op_cancel(parent, CX_REASON_MANUAL, NULL));
  /* A child created before the cancel but entered after it. */
  assert_true(cx_op_is_cancelled(pending));
  CX_ASSERT_OK(cx_op_enter(pending));
  CX_ASSERT_ERR(-ECANCELED, cx_check(NULL));
  CX_ASSERT_OK(cx_op_exit(pending, -ECANCELED));
  assert_int_equal(cx_op_cancel_reason(pending), CX_REASON_PARENT);
  /* A child created after the cancel starts out cancelled. */
  cx_op *late = new_child("late", parent, 0);
  CX_ASSERT_OK(cx_op_enter(late));
  CX_ASSERT_ERR(-ECANCELED, cx_check(NULL));
  CX_ASSERT_ERR(-ECANCELED, cx_sleep(NULL, 5.0));
  CX_ASSERT_OK(cx_op_exit(late, -ECANCELED));
  assert_int_equal(cx_op_status(late), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(late), CX_REASON_PARENT);
  assert_parent_message(late, "parent", NULL);
  CX_ASSERT_OK(cx_op_exit(parent, -ECANCELED));
  cx_op_unref(late);
  cx_op_unref(pending);
  cx_op_unref(parent);
}

typedef struct wait_arg {
  cx_op *op;
  int rc;
  double took;
} wait_arg;

static void *sleep_in_child(void *p) {
  wait_arg *w = p;
  double t0 = cx_test_now();
  CX_ASSERT_OK(cx_op_enter(w->op));
  w->rc = cx_sleep(NULL, 30.0);
  w->took = cx_test_now() - t0;
  cx_op_exit(w->op, w->rc);
  return NULL;
}

/* The cascade wakes a child blocked on another thread. */
static void test_cascade_wakes_blocked_child(void **state) {
  (void)state;
  cx_op *parent = new_child("parent", NULL, 0);
  wait_arg w = {new_child("sleeper", parent, 0), 1, 0};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, sleep_in_child, &w), 0);
  cx_test_sleep(0.1);
  assert_true(cx_op_cancel(parent, CX_REASON_MANUAL, "stop"));
  assert_int_equal(pthread_join(t, NULL), 0);
  CX_ASSERT_ERR(-ECANCELED, w.rc);
  assert_true(w.took < 20.0);
  assert_int_equal(cx_op_status(w.op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(w.op), CX_REASON_PARENT);
  cx_op_unref(w.op);
  cx_op_unref(parent);
}

static void test_cancel_child_isolated(void **state) {
  (void)state;
  cx_op *parent = new_child("parent", NULL, 0);
  CX_ASSERT_OK(cx_op_enter(parent));
  cx_op *a = new_child("a", parent, 0);
  cx_op *b = new_child("b", parent, 0);
  cx_op *a1 = new_child("a1", a, 0);
  cx_op *b1 = new_child("b1", b, 0);
  CX_ASSERT_OK(cx_op_enter(a));

  assert_true(cx_op_cancel(a, CX_REASON_MANUAL, "only a"));
  assert_true(cx_op_is_cancelled(a));
  assert_true(cx_op_is_cancelled(a1)); /* a's own descendants: yes */
  assert_int_equal(cx_op_cancel_reason(a1), CX_REASON_PARENT);
  assert_false(cx_op_is_cancelled(parent));
  assert_false(cx_op_is_cancelled(b));
  assert_false(cx_op_is_cancelled(b1));
  assert_int_equal(cx_op_cancel_reason(parent), CX_REASON_NONE);
  assert_null(cx_op_cancel_message(parent));
  CX_ASSERT_ERR(-ECANCELED, cx_check(NULL));
  CX_ASSERT_OK(cx_op_exit(a, -ECANCELED));

  /* The parent goes on. */
  CX_ASSERT_OK(cx_check(NULL));
  CX_ASSERT_OK(cx_check(parent));
  CX_ASSERT_OK(cx_op_enter(b));
  CX_ASSERT_OK(cx_sleep(NULL, 0.001));
  CX_ASSERT_OK(cx_op_exit(b, 0));
  assert_int_equal(cx_op_status(b), CX_STATUS_COMPLETED);
  CX_ASSERT_OK(cx_op_exit(parent, 0));
  assert_int_equal(cx_op_status(parent), CX_STATUS_COMPLETED);
  assert_int_equal(cx_op_cancel_reason(parent), CX_REASON_NONE);
  cx_op_unref(b1);
  cx_op_unref(a1);
  cx_op_unref(b);
  cx_op_unref(a);
  cx_op_unref(parent);
}

/* Sources of a child (its timeout) fire only on the child. */
static void test_child_timeout_isolated(void **state) {
  (void)state;
  cx_op *parent = new_child("parent", NULL, 0);
  CX_ASSERT_OK(cx_op_enter(parent));
  cx_op *sib = new_child("sibling", parent, 0);
  cx_op *child = new_child("child", parent, 1.0);
  CX_ASSERT_OK(cx_op_enter(child));
  CX_ASSERT_OK(cx_clock_advance(1.0));
  assert_true(cx_op_is_cancelled(child));
  assert_int_equal(cx_op_cancel_reason(child), CX_REASON_TIMEOUT);
  assert_false(cx_op_is_cancelled(parent));
  assert_false(cx_op_is_cancelled(sib));
  CX_ASSERT_OK(cx_op_exit(child, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(parent, 0));
  assert_int_equal(cx_op_status(parent), CX_STATUS_COMPLETED);
  cx_op_unref(sib);
  cx_op_unref(child);
  cx_op_unref(parent);
}

/* ---------------------------------------------------------------------- */
/* deadlines and nested timeouts (virtual clock) */

static void test_deadline_earliest(void **state) {
  (void)state;
  cx_op *outer = new_child("outer", NULL, 10.0);
  assert_true(isinf(cx_op_deadline(outer))); /* not running yet */
  double t0 = cx_now();
  CX_ASSERT_OK(cx_op_enter(outer));
  assert_near(t0 + 10.0, cx_op_deadline(outer));
  assert_near(10.0, cx_op_remaining(NULL));

  /* Own timeout later than the parent's: the parent's bounds it. */
  cx_op *late = new_child("late", outer, 60.0);
  CX_ASSERT_OK(cx_op_enter(late));
  assert_near(t0 + 10.0, cx_op_deadline(late));
  assert_near(10.0, cx_op_remaining(late));
  /* No timeout of its own: inherits. */
  cx_op *plain = new_child("plain", late, 0);
  CX_ASSERT_OK(cx_op_enter(plain));
  assert_near(t0 + 10.0, cx_op_deadline(plain));
  CX_ASSERT_OK(cx_op_exit(plain, 0));
  assert_true(isinf(cx_op_deadline(plain))); /* not running */
  CX_ASSERT_OK(cx_op_exit(late, 0));

  /* Own timeout earlier: its own; and a timeout counts from enter. */
  cx_op *early = new_child("early", outer, 5.0);
  CX_ASSERT_OK(cx_clock_advance(3.0));
  CX_ASSERT_OK(cx_op_enter(early));
  assert_near(t0 + 8.0, cx_op_deadline(early));
  assert_near(5.0, cx_op_remaining(NULL));
  assert_near(7.0, cx_op_remaining(outer));
  /* Its child with several timeouts: the earliest of all. */
  cx_op *inner = new_child("inner", early, 4.0);
  CX_ASSERT_OK(cx_op_add_timeout(inner, 1.5));
  CX_ASSERT_OK(cx_op_enter(inner));
  assert_near(t0 + 4.5, cx_op_deadline(inner));
  CX_ASSERT_OK(cx_clock_advance(0.5));
  assert_near(1.0, cx_op_remaining(NULL));
  CX_ASSERT_OK(cx_op_exit(inner, 0));
  CX_ASSERT_OK(cx_op_exit(early, 0));
  CX_ASSERT_OK(cx_op_exit(outer, 0));
  assert_true(isinf(cx_op_remaining(outer)));
  cx_op_unref(inner);
  cx_op_unref(early);
  cx_op_unref(plain);
  cx_op_unref(late);
  cx_op_unref(outer);
}

/* Seed "Nested Timeouts": if the outer times out, every step cancels. */
static void test_outer_timeout_cancels_steps(void **state) {
  (void)state;
  cx_op *outer = new_child("outer", NULL, 60.0);
  CX_ASSERT_OK(cx_op_enter(outer));
  cx_op *step1 = new_child("step1", outer, 10.0);
  CX_ASSERT_OK(cx_op_enter(step1));
  CX_ASSERT_OK(cx_clock_advance(5.0));
  CX_ASSERT_OK(cx_check(NULL));
  CX_ASSERT_OK(cx_op_exit(step1, 0));
  assert_int_equal(cx_op_status(step1), CX_STATUS_COMPLETED);

  CX_ASSERT_OK(cx_clock_advance(15.0)); /* t = 20 */
  cx_op *step2 = new_child("step2", outer, 45.0);
  cx_op *later = new_child("step3", outer, 30.0); /* not entered yet */
  CX_ASSERT_OK(cx_op_enter(step2));
  /* 20 + 45 = 65 > 60: the outer's deadline bounds step2. */
  assert_near(40.0, cx_op_remaining(NULL));
  cx_op *sub = new_child("step2.sub", step2, 0);
  CX_ASSERT_OK(cx_op_enter(sub));

  CX_ASSERT_OK(cx_clock_advance(39.0)); /* t = 59 */
  CX_ASSERT_OK(cx_check(NULL));
  CX_ASSERT_OK(cx_clock_advance(1.0)); /* t = 60: the outer fires */
  assert_true(cx_op_is_cancelled(outer));
  assert_int_equal(cx_op_cancel_reason(outer), CX_REASON_TIMEOUT);
  assert_non_null(strstr(cx_op_cancel_message(outer), "timed out"));
  cx_op *all[] = {step2, sub, later};
  for (size_t i = 0; i < 3; i++) {
    assert_true(cx_op_is_cancelled(all[i]));
    assert_int_equal(cx_op_cancel_reason(all[i]), CX_REASON_PARENT);
  }
  assert_parent_message(step2, "outer", NULL);
  assert_parent_message(later, "outer", NULL);
  assert_parent_message(sub, "step2", NULL);
  CX_ASSERT_ERR(-ECANCELED, cx_check(NULL));
  CX_ASSERT_ERR(-ECANCELED, cx_sleep(NULL, 30.0));
  CX_ASSERT_OK(cx_op_exit(sub, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(step2, -ECANCELED));
  assert_int_equal(cx_op_status(step2), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(step2), CX_REASON_PARENT);
  /* step1 finished before: untouched. */
  assert_int_equal(cx_op_status(step1), CX_STATUS_COMPLETED);
  assert_int_equal(cx_op_cancel_reason(step1), CX_REASON_NONE);
  CX_ASSERT_OK(cx_op_exit(outer, -ECANCELED));
  assert_int_equal(cx_op_status(outer), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(outer), CX_REASON_TIMEOUT);
  cx_op_unref(sub);
  cx_op_unref(later);
  cx_op_unref(step2);
  cx_op_unref(step1);
  cx_op_unref(outer);
}

/* Seed "Nested Timeouts": if a step times out, only that step cancels. */
static void test_inner_timeout_only_step(void **state) {
  (void)state;
  cx_op *outer = new_child("outer", NULL, 60.0);
  CX_ASSERT_OK(cx_op_enter(outer));
  cx_op *step1 = new_child("step1", outer, 10.0);
  cx_op *step2 = new_child("step2", outer, 45.0);
  CX_ASSERT_OK(cx_op_enter(step1));
  CX_ASSERT_OK(cx_clock_advance(9.5));
  CX_ASSERT_OK(cx_check(NULL));
  CX_ASSERT_OK(cx_clock_advance(0.5)); /* t = 10: step1 fires */
  CX_ASSERT_ERR(-ECANCELED, cx_check(NULL));
  assert_int_equal(cx_op_cancel_reason(step1), CX_REASON_TIMEOUT);
  assert_false(cx_op_is_cancelled(outer));
  assert_false(cx_op_is_cancelled(step2));
  CX_ASSERT_OK(cx_op_exit(step1, -ECANCELED));
  assert_int_equal(cx_op_status(step1), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(step1), CX_REASON_TIMEOUT);

  /* The outer goes on with step2 (its 45 s count from enter: t = 10). */
  CX_ASSERT_OK(cx_check(NULL));
  CX_ASSERT_OK(cx_op_enter(step2));
  assert_near(45.0, cx_op_remaining(NULL));
  CX_ASSERT_OK(cx_clock_advance(44.0)); /* t = 54 */
  CX_ASSERT_OK(cx_check(NULL));
  CX_ASSERT_OK(cx_op_exit(step2, 0));
  assert_int_equal(cx_op_status(step2), CX_STATUS_COMPLETED);
  CX_ASSERT_OK(cx_op_exit(outer, 0));
  assert_int_equal(cx_op_status(outer), CX_STATUS_COMPLETED);
  assert_int_equal(cx_op_cancel_reason(outer), CX_REASON_NONE);
  cx_op_unref(step2);
  cx_op_unref(step1);
  cx_op_unref(outer);
}

/* ---------------------------------------------------------------------- */
/* introspection */

static void test_parent_and_count(void **state) {
  (void)state;
  cx_op *root = new_child("root", NULL, 0);
  assert_null(cx_op_parent(root));
  assert_null(cx_op_parent_id(root));
  assert_int_equal(cx_op_child_count(root), 0);
  assert_int_equal(cx_op_child_count(NULL), 0);
  assert_null(cx_op_parent(NULL));
  assert_null(cx_op_parent_id(NULL));

  CX_ASSERT_OK(cx_op_enter(root));
  cx_op *a = new_child("a", root, 0);
  cx_op *b = new_child("b", root, 0);
  cx_op *c = new_child("c", root, 0);
  cx_op *a1 = new_child("a1", a, 0);
  assert_ptr_equal(cx_op_parent(a), root);
  assert_ptr_equal(cx_op_parent(a1), a);
  assert_string_equal(cx_op_parent_id(a), cx_op_id(root));
  assert_string_equal(cx_op_parent_id(a1), cx_op_id(a));
  assert_int_equal(cx_op_child_count(root), 3); /* direct children only */
  assert_int_equal(cx_op_child_count(a), 1);

  /* Running children count; exiting removes; cancelling does not. */
  CX_ASSERT_OK(cx_op_enter(a));
  assert_int_equal(cx_op_child_count(root), 3);
  cx_op_cancel(a, CX_REASON_MANUAL, NULL);
  assert_int_equal(cx_op_child_count(root), 3);
  CX_ASSERT_OK(cx_op_exit(a, -ECANCELED));
  assert_int_equal(cx_op_child_count(root), 2);
  /* The parent id stays readable after exit. */
  assert_string_equal(cx_op_parent_id(a), cx_op_id(root));
  assert_ptr_equal(cx_op_parent(a), root);
  /* Freed before entering: gone too. */
  cx_op_unref(b);
  assert_int_equal(cx_op_child_count(root), 1);
  CX_ASSERT_OK(cx_op_enter(c));
  assert_int_equal(cx_op_child_count(root), 1);
  CX_ASSERT_OK(cx_op_exit(c, 0));
  assert_int_equal(cx_op_child_count(root), 0);
  /* a1 (not entered, child of an exited op) still counts for a. */
  assert_int_equal(cx_op_child_count(a), 1);
  cx_op_unref(a1);
  assert_int_equal(cx_op_child_count(a), 0);
  CX_ASSERT_OK(cx_op_exit(root, 0));
  cx_op_unref(c);
  cx_op_unref(a);
  cx_op_unref(root);
}

/* The parent lives as long as a child does. */
static void test_child_keeps_parent_alive(void **state) {
  (void)state;
  cx_op *root = new_child("root", NULL, 0);
  cx_op *kid = new_child("kid", root, 0);
  cx_op_unref(root);
  assert_non_null(cx_op_parent(kid));
  assert_string_equal(cx_op_name(cx_op_parent(kid)), "root");
  assert_int_equal(cx_op_child_count(cx_op_parent(kid)), 1);
  assert_true(cx_op_cancel(cx_op_parent(kid), CX_REASON_MANUAL, "x"));
  assert_int_equal(cx_op_cancel_reason(kid), CX_REASON_PARENT);
  cx_op_unref(kid); /* frees both (ASan checks) */
}

typedef struct visit_log {
  char names[16][16];
  size_t n;
  size_t stop_after; /* 0: never */
} visit_log;

static int record_visit(cx_op *child, void *p) {
  visit_log *v = p;
  assert_true(v->n < 16);
  snprintf(v->names[v->n], sizeof v->names[0], "%s", cx_op_name(child));
  v->n++;
  if (v->stop_after != 0 && v->n == v->stop_after) return 42;
  return 0;
}

static void test_visit_children(void **state) {
  (void)state;
  cx_op *root = new_child("root", NULL, 0);
  cx_op *k[4];
  const char *names[4] = {"k0", "k1", "k2", "k3"};
  for (int i = 0; i < 4; i++) k[i] = new_child(names[i], root, 0);
  cx_op *gk = new_child("gk", k[1], 0);

  visit_log v = {0};
  CX_ASSERT_OK(cx_op_visit_children(root, record_visit, &v));
  assert_int_equal(v.n, 4); /* direct children only, oldest first */
  for (int i = 0; i < 4; i++) assert_string_equal(v.names[i], names[i]);

  /* A non-zero return stops the walk and is returned. */
  memset(&v, 0, sizeof v);
  v.stop_after = 2;
  assert_int_equal(cx_op_visit_children(root, record_visit, &v), 42);
  assert_int_equal(v.n, 2);

  /* Removed children are not visited. */
  cx_op_unref(k[2]);
  memset(&v, 0, sizeof v);
  CX_ASSERT_OK(cx_op_visit_children(root, record_visit, &v));
  assert_int_equal(v.n, 3);
  assert_string_equal(v.names[0], "k0");
  assert_string_equal(v.names[1], "k1");
  assert_string_equal(v.names[2], "k3");

  /* No children: fn never called. */
  memset(&v, 0, sizeof v);
  CX_ASSERT_OK(cx_op_visit_children(gk, record_visit, &v));
  assert_int_equal(v.n, 0);

  CX_ASSERT_ERR(-EINVAL, cx_op_visit_children(NULL, record_visit, &v));
  CX_ASSERT_ERR(-EINVAL, cx_op_visit_children(root, NULL, &v));
  cx_op_unref(gk);
  cx_op_unref(k[0]);
  cx_op_unref(k[1]);
  cx_op_unref(k[3]);
  cx_op_unref(root);
}

/* A visitor that drops the last reference to each child it visits. */
static int unref_visit(cx_op *child, void *p) {
  size_t *n = p;
  (*n)++;
  assert_non_null(cx_op_name(child)); /* still alive during the call */
  cx_op_unref(child);                 /* the test's own reference */
  assert_non_null(cx_op_id(child));   /* the visit holds one */
  return 0;
}

static void test_visit_unrefs(void **state) {
  (void)state;
  cx_op *root = new_child("root", NULL, 0);
  for (int i = 0; i < 5; i++) (void)new_child("k", root, 0);
  size_t n = 0;
  CX_ASSERT_OK(cx_op_visit_children(root, unref_visit, &n));
  assert_int_equal(n, 5);
  assert_int_equal(cx_op_child_count(root), 0);
  cx_op_unref(root);
}

/* A visitor that exits (and cancels, and unrefs) the innermost current op
 * when it is a child of @root, whichever child it is shown. */
typedef struct exit_visit {
  cx_op *root;
  size_t visits;
  size_t exited;
} exit_visit;

static int exit_current_visit(cx_op *child, void *p) {
  exit_visit *e = p;
  (void)child;
  e->visits++;
  cx_op *cur = cx_current();
  if (cur != NULL && cx_op_parent(cur) == e->root) {
    cx_op_cancel(cur, CX_REASON_MANUAL, "visitor");
    CX_ASSERT_OK(cx_op_exit(cur, -ECANCELED));
    cx_op_unref(cur);
    e->exited++;
  }
  return 0;
}

static void test_visit_exits(void **state) {
  (void)state;
  cx_op *root = new_child("root", NULL, 0);
  CX_ASSERT_OK(cx_op_enter(root));
  for (int i = 0; i < 3; i++)
    CX_ASSERT_OK(cx_op_enter(new_child("k", root, 0)));
  assert_int_equal(cx_op_child_count(root), 3);
  exit_visit e = {root, 0, 0};
  CX_ASSERT_OK(cx_op_visit_children(root, exit_current_visit, &e));
  assert_int_equal(e.visits, 3);
  assert_int_equal(e.exited, 3);
  assert_int_equal(cx_op_child_count(root), 0);
  assert_ptr_equal(cx_current(), root);
  assert_false(cx_op_is_cancelled(root));
  CX_ASSERT_OK(cx_op_exit(root, 0));
  cx_op_unref(root);
}

/* Children created and freed on other threads while the parent is
 * cancelled: every child that exists afterwards is cancelled, whether it
 * was created before, during or after the cascade. */
typedef struct spawner {
  cx_op *parent;
  cx_op **kept;
  size_t n_kept;
  size_t max_kept;
  atomic_bool stop;
} spawner;

static void *spawn_children(void *p) {
  spawner *sp = p;
  size_t i = 0;
  while (!atomic_load(&sp->stop) || i < 200) {
    cx_op *k = new_child("spawned", sp->parent, 0);
    if (i % 2 == 0 && sp->n_kept < sp->max_kept) {
      sp->kept[sp->n_kept++] = k; /* kept for the check */
    } else {
      CX_ASSERT_OK(cx_op_enter(k));
      cx_op_exit(k, cx_check(NULL));
      cx_op_unref(k); /* churn: freed while the cascade may run */
    }
    i++;
  }
  return NULL;
}

static void test_cascade_concurrent_create_free(void **state) {
  (void)state;
  for (int round = 0; round < 20; round++) {
    cx_op *parent = new_child("parent", NULL, 0);
    spawner sp = {parent, NULL, 0, 4000, false};
    sp.kept = calloc(sp.max_kept, sizeof *sp.kept);
    assert_non_null(sp.kept);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, spawn_children, &sp), 0);
    cx_test_sleep(0.002 * (round % 5));
    assert_true(cx_op_cancel(parent, CX_REASON_MANUAL, "race"));
    atomic_store(&sp.stop, true);
    assert_int_equal(pthread_join(t, NULL), 0);
    for (size_t i = 0; i < sp.n_kept; i++) {
      if (!cx_op_is_cancelled(sp.kept[i]) ||
          cx_op_cancel_reason(sp.kept[i]) != CX_REASON_PARENT) {
        print_error("round %d: child %zu of %zu not cancelled\n", round, i,
                    sp.n_kept);
        fail();
      }
    }
    assert_int_equal(cx_op_child_count(parent), sp.n_kept);
    for (size_t i = 0; i < sp.n_kept; i++) cx_op_unref(sp.kept[i]);
    assert_int_equal(cx_op_child_count(parent), 0);
    free(sp.kept);
    cx_op_unref(parent);
  }
}

/* Visiting while other threads add and remove children. */
typedef struct churn_arg {
  cx_op *root;
  int rounds;
} churn_arg;

static void *churn(void *p) {
  churn_arg *c = p;
  for (int i = 0; i < c->rounds; i++) {
    cx_op *k = new_child("churn", c->root, 0);
    CX_ASSERT_OK(cx_op_enter(k));
    CX_ASSERT_OK(cx_op_exit(k, 0));
    cx_op_unref(k);
  }
  return NULL;
}

static int count_visit(cx_op *child, void *p) {
  assert_string_equal(cx_op_name(child), "churn");
  (*(size_t *)p)++;
  return 0;
}

static void test_visit_concurrent(void **state) {
  (void)state;
  cx_op *root = new_child("root", NULL, 0);
  churn_arg c = {root, 5000};
  pthread_t t[2];
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&t[i], NULL, churn, &c), 0);
  for (int i = 0; i < 200; i++) {
    size_t n = 0;
    CX_ASSERT_OK(cx_op_visit_children(root, count_visit, &n));
    assert_true(n <= 2);
    assert_true(cx_op_child_count(root) <= 2);
  }
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_join(t[i], NULL), 0);
  assert_int_equal(cx_op_child_count(root), 0);
  cx_op_unref(root);
}

#else /* CX_TREE_BIG */
/* ---------------------------------------------------------------------- */
/* deep, wide, memory */

/* Runs @fn(@arg) on a thread with a small stack (1 MiB): a recursive
 * cascade over 100 000 levels would need several times that. */
static void run_on_small_stack(void *(*fn)(void *), void *arg) {
  pthread_attr_t attr;
  pthread_t t;
  assert_int_equal(pthread_attr_init(&attr), 0);
  assert_int_equal(pthread_attr_setstacksize(&attr, 1u << 20), 0);
  assert_int_equal(pthread_create(&t, &attr, fn, arg), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  pthread_attr_destroy(&attr);
}

#define DEEP 100000
#define WIDE 1000000
#define SHORT_CHILDREN 1000000

typedef struct big_arg {
  cx_op *op;
  bool cancelled;
} big_arg;

static void *cancel_thread(void *p) {
  big_arg *a = p;
  a->cancelled = cx_op_cancel(a->op, CX_REASON_MANUAL, "big stop");
  return NULL;
}

static void *unref_thread(void *p) {
  cx_op_unref(((big_arg *)p)->op);
  return NULL;
}

typedef struct deep_seen {
  int calls;
  char id[128];
} deep_seen;

static int deep_progress(const char *op_id, const char *message,
                         const cx_meta *metadata, void *user_data) {
  deep_seen *d = user_data;
  (void)message;
  (void)metadata;
  d->calls++;
  snprintf(d->id, sizeof d->id, "%s", op_id);
  return 0;
}

static void test_deep_chain(void **state) {
  (void)state;
  cx_op **chain = calloc(DEEP, sizeof *chain);
  assert_non_null(chain);
  for (size_t i = 0; i < DEEP; i++) {
    chain[i] = new_child(i == 0 ? "root" : "link", i ? chain[i - 1] : NULL, 0);
    CX_ASSERT_OK(cx_op_enter(chain[i]));
  }
  assert_ptr_equal(cx_current(), chain[DEEP - 1]);
  CX_ASSERT_OK(cx_check(NULL));
  /* The effective deadline and progress travel the whole chain too. */
  assert_true(isinf(cx_op_remaining(NULL)));
  deep_seen seen = {0, ""};
  CX_ASSERT_OK(cx_op_on_progress(chain[0], deep_progress, &seen, NULL));
  CX_ASSERT_OK(cx_report_progress(NULL, "from the bottom", NULL));
  assert_int_equal(seen.calls, 1);
  assert_string_equal(seen.id, cx_op_id(chain[DEEP - 1]));

  big_arg a = {chain[0], false};
  run_on_small_stack(cancel_thread, &a);
  assert_true(a.cancelled);
  for (size_t i = 1; i < DEEP; i++) {
    if (!cx_op_is_cancelled(chain[i]) ||
        cx_op_cancel_reason(chain[i]) != CX_REASON_PARENT) {
      print_error("depth %zu not cancelled with PARENT\n", i);
      fail();
    }
  }
  assert_parent_message(chain[1], "root", "big stop");
  assert_parent_message(chain[DEEP - 1], "link", NULL);
  CX_ASSERT_ERR(-ECANCELED, cx_check(NULL));

  for (size_t i = DEEP; i-- > 0;) {
    CX_ASSERT_OK(cx_op_exit(chain[i], -ECANCELED));
    assert_int_equal(cx_op_status(chain[i]), CX_STATUS_CANCELLED);
  }
  assert_null(cx_current());
  /* Drop every reference but the leaf's: freeing the leaf then frees the
   * whole chain (each op holds its parent), on a small stack too. */
  for (size_t i = 0; i + 1 < DEEP; i++) cx_op_unref(chain[i]);
  a.op = chain[DEEP - 1];
  run_on_small_stack(unref_thread, &a);
  free(chain);
}

/* A deep chain of ops never entered, cancelled and freed on small stacks. */
static void test_deep_chain_pending(void **state) {
  (void)state;
  cx_op *root = new_child("root", NULL, 0);
  cx_op *leaf = root;
  for (size_t i = 1; i < DEEP; i++) {
    cx_op *next = new_child("link", leaf, 0);
    if (leaf != root) cx_op_unref(leaf); /* the child holds it */
    leaf = next;
  }
  big_arg a = {root, false};
  run_on_small_stack(cancel_thread, &a);
  assert_true(a.cancelled);
  assert_true(cx_op_is_cancelled(leaf));
  assert_int_equal(cx_op_cancel_reason(leaf), CX_REASON_PARENT);
  CX_ASSERT_OK(cx_op_enter(leaf));
  CX_ASSERT_ERR(-ECANCELED, cx_check(NULL));
  CX_ASSERT_OK(cx_op_exit(leaf, -ECANCELED));
  cx_op_unref(root);
  a.op = leaf;
  run_on_small_stack(unref_thread, &a);
}

static void test_wide_parent(void **state) {
  (void)state;
  cx_op *root = new_child("root", NULL, 0);
  CX_ASSERT_OK(cx_op_enter(root));
  cx_op **kids = calloc(WIDE, sizeof *kids);
  assert_non_null(kids);
  for (size_t i = 0; i < WIDE; i++) kids[i] = new_child("kid", root, 0);
  assert_int_equal(cx_op_child_count(root), WIDE);

  big_arg a = {root, false};
  run_on_small_stack(cancel_thread, &a);
  assert_true(a.cancelled);
  for (size_t i = 0; i < WIDE; i++) {
    if (!cx_op_is_cancelled(kids[i]) ||
        cx_op_cancel_reason(kids[i]) != CX_REASON_PARENT) {
      print_error("child %zu not cancelled with PARENT\n", i);
      fail();
    }
  }
  assert_parent_message(kids[WIDE - 1], "root", "big stop");
  /* Children still live: counted; each removal is O(1). */
  assert_int_equal(cx_op_child_count(root), WIDE);
  for (size_t i = 0; i < WIDE; i += 2) cx_op_unref(kids[i]);
  assert_int_equal(cx_op_child_count(root), WIDE / 2);
  for (size_t i = WIDE; i-- > 0;)
    if (i % 2 == 1) cx_op_unref(kids[i]);
  assert_int_equal(cx_op_child_count(root), 0);
  free(kids);
  CX_ASSERT_OK(cx_op_exit(root, -ECANCELED));
  assert_int_equal(cx_op_status(root), CX_STATUS_CANCELLED);
  cx_op_unref(root);
}

/* Bytes handed out by malloc and not freed yet. */
static size_t heap_in_use(void) {
#ifdef CX_TREE_SANITIZER
  return __sanitizer_get_current_allocated_bytes();
#else
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
#endif
}

static void test_long_lived_parent_memory(void **state) {
  (void)state;
  cx_op *parent = new_child("server", NULL, 3600.0);
  CX_ASSERT_OK(cx_op_enter(parent));
  size_t before = 0;
  const size_t warmup = 2000;
  for (size_t i = 0; i < SHORT_CHILDREN; i++) {
    if (i == warmup) before = heap_in_use();
    cx_op_options o = CX_OP_OPTIONS_INIT;
    cx_op *k = NULL;
    o.name = "request";
    o.parent = parent;
    o.timeout = (i % 4 == 0) ? 30.0 : 0; /* some carry a timeout source */
    CX_ASSERT_OK(cx_op_create(&k, &o));
    CX_ASSERT_OK(cx_op_enter(k));
    if (i % 3 == 0) cx_op_cancel(k, CX_REASON_MANUAL, "drop");
    CX_ASSERT_OK(cx_op_exit(k, cx_op_is_cancelled(k) ? -ECANCELED : 0));
    cx_op_unref(k);
  }
  size_t after = heap_in_use();
  long long grown = (long long)after - (long long)before;
  print_message("heap in use: %zu -> %zu bytes (%lld for %d children)\n",
                before, after, grown, SHORT_CHILDREN);
  assert_int_equal(cx_op_child_count(parent), 0);
  /* Generous: 16 MiB would be 16 bytes per child; anything kept per child
   * (a link, a list node, an op) is at least that. */
  assert_true(grown < 16LL * 1024 * 1024);
  assert_false(cx_op_is_cancelled(parent));
  CX_ASSERT_OK(cx_op_exit(parent, 0));
  cx_op_unref(parent);
}
#endif /* CX_TREE_BIG */

static const struct CMUnitTest tests[] = {
#ifndef CX_TREE_BIG
    CX_TEST("/tree/hierarchy/cascade/reason-parent",
            test_cascade_reason_parent),
    CX_TEST("/tree/hierarchy/cascade/pending-and-late-children",
            test_cascade_reaches_pending_and_late_children),
    CX_TEST("/tree/hierarchy/cascade/wakes-blocked-child",
            test_cascade_wakes_blocked_child),
    CX_TEST("/tree/hierarchy/cascade/concurrent-create-free",
            test_cascade_concurrent_create_free),
    CX_TEST("/tree/hierarchy/cancel-child/isolated",
            test_cancel_child_isolated),
    CX_TEST_VCLOCK("/tree/hierarchy/cancel-child/timeout-isolated",
                   test_child_timeout_isolated),
    CX_TEST_VCLOCK("/tree/hierarchy/deadline/earliest", test_deadline_earliest),
    CX_TEST_VCLOCK("/tree/hierarchy/nested-timeouts/outer-cancels-steps",
                   test_outer_timeout_cancels_steps),
    CX_TEST_VCLOCK("/tree/hierarchy/nested-timeouts/inner-only-step",
                   test_inner_timeout_only_step),
    CX_TEST("/tree/hierarchy/introspection/parent-and-count",
            test_parent_and_count),
    CX_TEST("/tree/hierarchy/introspection/child-keeps-parent",
            test_child_keeps_parent_alive),
    CX_TEST("/tree/hierarchy/introspection/visit", test_visit_children),
    CX_TEST("/tree/hierarchy/introspection/visit-unrefs", test_visit_unrefs),
    CX_TEST("/tree/hierarchy/introspection/visit-exits", test_visit_exits),
    CX_TEST("/tree/hierarchy/introspection/visit-concurrent",
            test_visit_concurrent),
#else
    CX_TEST("/tree/hierarchy/big/deep-chain-100000", test_deep_chain),
    CX_TEST("/tree/hierarchy/big/deep-chain-pending", test_deep_chain_pending),
    CX_TEST("/tree/hierarchy/big/wide-1000000", test_wide_parent),
    CX_TEST("/tree/hierarchy/big/short-children-memory",
            test_long_lived_parent_memory),
#endif
};

CX_TEST_MAIN("tree/hierarchy", tests)
