/* tests/unit/test_cascade.c - a cancel returns only when every descendant
 * is cancelled, from every thread (issue 13, defect 3), and links that
 * would close a cycle are refused (defect 6).
 *  - callbacks of a token run after its whole subtree is cancelled, so a
 *    slow callback delays no descendant;
 *  - a cancel that lost the claim of a middle token to another thread
 *    (whose callback is slow) returns with the grandchildren cancelled;
 *  - deterministically, with the cascade lock held by the test (internal,
 *    static library): a token claimed by another thread whose cascade has
 *    not run is finished by a cancel of its ancestor, and by a losing
 *    cancel of the token itself;
 *  - a randomized race: middle and root cancelled from different threads,
 *    many rounds, the root's canceller always finds the leaves cancelled;
 *  - cx_token_link() to a cancelled source runs the callbacks with no lock
 *    held (one may wait for another thread's cascade);
 *  - cycles, direct, through other tokens and through cancelled ones, are
 *    refused with -ELOOP and change nothing (the tokens are freed); a diamond
 * is no cycle; two threads linking a and b both ways: exactly one link is made.
 */
#include "cx_test.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <cancelable.h>

/* Internal (static library): the process-wide cascade lock. */
#include "runtime/sync.h"

/* ---- callbacks after descendants */

typedef struct slow_cb {
  cx_token *grandchild; /* looked at when the callback starts */
  atomic_bool started;  /* the callback runs */
  atomic_bool release;  /* lets the callback return */
  bool grandchild_done; /* what the callback saw */
} slow_cb;

static int slow_callback(cx_token *t, void *user_data) {
  slow_cb *s = user_data;
  (void)t;
  s->grandchild_done = cx_token_is_cancelled(s->grandchild);
  atomic_store(&s->started, true);
  while (!atomic_load(&s->release)) sched_yield();
  return 0;
}

/* root -> middle -> child -> grandchild, with a slow callback on middle. */
typedef struct chain {
  cx_token *root, *middle, *child, *grandchild;
  slow_cb cb;
} chain;

static void chain_make(chain *c) {
  c->root = cx_token_new();
  assert_non_null(c->root);
  CX_ASSERT_OK(cx_token_new_child(&c->middle, c->root, 0));
  CX_ASSERT_OK(cx_token_new_child(&c->child, c->middle, 0));
  CX_ASSERT_OK(cx_token_new_child(&c->grandchild, c->child, 0));
  c->cb.grandchild = c->grandchild;
  atomic_init(&c->cb.started, false);
  atomic_init(&c->cb.release, false);
  c->cb.grandchild_done = false;
  CX_ASSERT_OK(
      cx_token_on_cancel(c->middle, slow_callback, &c->cb, NULL, 0, NULL));
}

static void chain_free(chain *c) {
  cx_token_unref(c->grandchild);
  cx_token_unref(c->child);
  cx_token_unref(c->middle);
  cx_token_unref(c->root);
}

static void *cancel_middle(void *p) {
  chain *c = p;
  cx_token_cancel(c->middle, CX_REASON_MANUAL, "middle");
  return NULL;
}

/* Makes the chain and cancels its middle on a thread @th, returning once
 * the middle's callback runs (and stays running until released). */
static void chain_start(chain *c, pthread_t *th) {
  chain_make(c);
  assert_int_equal(pthread_create(th, NULL, cancel_middle, c), 0);
  while (!atomic_load(&c->cb.started)) sched_yield();
}

/* Lets the middle's callback return, joins @th, frees the chain. */
static void chain_finish(chain *c, pthread_t th) {
  atomic_store(&c->cb.release, true);
  assert_true(cx_test_join_within(th, 30, NULL));
  chain_free(c);
}

static void test_callbacks_after_descendants(void **state) {
  chain c;
  pthread_t th;
  (void)state;
  chain_start(&c, &th);
  /* The middle's callback is running (and stays so): its subtree is
   * cancelled already. */
  assert_true(c.cb.grandchild_done);
  assert_true(cx_token_is_cancelled(c.grandchild));
  chain_finish(&c, th);
}

/* The reproduction: a middle token cancelled on one thread, whose
 * callback sleeps; the root cancelled on another: when the root's cancel
 * returns, the grandchild is cancelled. */
static void test_loser_returns_after_cascade(void **state) {
  chain c;
  pthread_t th;
  (void)state;
  chain_start(&c, &th);
  assert_true(cx_token_cancel(c.root, CX_REASON_MANUAL, "root"));
  assert_true(cx_token_is_cancelled(c.child));
  assert_true(cx_token_is_cancelled(c.grandchild));
  /* A cancel of the middle itself that loses also returns at once (it
   * does not wait for the winner's slow callback). */
  assert_false(cx_token_cancel(c.middle, CX_REASON_MANUAL, NULL));
  assert_false(atomic_load(&c.cb.release));
  chain_finish(&c, th);
}

/* ---- the help paths, made deterministic by holding the cascade lock: the
 * other thread claims the middle, then blocks before cascading it. */

static void *cancel_middle_plain(void *p) {
  chain *c = p;
  cx_token_cancel(c->middle, CX_REASON_MANUAL, "middle");
  return NULL;
}

/* Holds the cascade lock and has another thread @th claim the middle. */
static void start_blocked_middle(chain *c, pthread_t *th) {
  chain_make(c);
  atomic_store(&c->cb.release, true); /* its callback need not wait */
  cx__cascade_lock();
  assert_int_equal(pthread_create(th, NULL, cancel_middle_plain, c), 0);
  while (!cx_token_is_cancelled(c->middle)) sched_yield();
}

static void finish_blocked_middle(chain *c, pthread_t th) {
  cx__cascade_unlock();
  assert_true(cx_test_join_within(th, 30, NULL));
  assert_true(c->cb.grandchild_done);
  chain_free(c);
}

static void test_help_in_cascade(void **state) {
  chain c;
  pthread_t th;
  (void)state;
  start_blocked_middle(&c, &th);
  /* The middle is claimed, its children not: the root's cascade loses the
   * middle and claims its subtree itself. */
  assert_false(cx_token_is_cancelled(c.child));
  assert_true(cx_token_cancel(c.root, CX_REASON_MANUAL, "root"));
  assert_true(cx_token_is_cancelled(c.child));
  assert_true(cx_token_is_cancelled(c.grandchild));
  finish_blocked_middle(&c, th);
}

static void test_help_losing_cancel(void **state) {
  chain c;
  pthread_t th;
  (void)state;
  start_blocked_middle(&c, &th);
  assert_false(cx_token_is_cancelled(c.grandchild));
  assert_false(cx_token_cancel(c.middle, CX_REASON_MANUAL, NULL));
  assert_true(cx_token_is_cancelled(c.child));
  assert_true(cx_token_is_cancelled(c.grandchild));
  finish_blocked_middle(&c, th);
}

/* ---- a link's callbacks run with no lock held */

static cx_token *g_other_root;

static void *cancel_other_root(void *p) {
  (void)p;
  cx_token_cancel(g_other_root, CX_REASON_MANUAL, NULL);
  return NULL;
}

/* Waits for another thread's cancel of a token with a child: a cascade,
 * which needs the cascade lock. */
static int wait_for_other_cascade(cx_token *t, void *user_data) {
  pthread_t th;
  (void)t;
  if (pthread_create(&th, NULL, cancel_other_root, NULL) != 0) return -1;
  *(bool *)user_data = cx_test_join_within(th, 10, NULL);
  return 0;
}

static void test_link_callbacks_unlocked(void **state) {
  cx_token *source = cx_token_new(), *target = cx_token_new();
  cx_token *kid = NULL;
  bool joined = false;
  (void)state;
  g_other_root = cx_token_new();
  CX_ASSERT_OK(cx_token_new_child(&kid, g_other_root, 0));
  CX_ASSERT_OK(cx_token_on_cancel(target, wait_for_other_cascade, &joined, NULL,
                                  0, NULL));
  assert_true(cx_token_cancel(source, CX_REASON_MANUAL, NULL));
  CX_ASSERT_OK(cx_token_link(target, source, 0)); /* runs the callback */
  assert_true(joined);
  assert_true(cx_token_is_cancelled(kid));
  cx_token_unref(kid);
  cx_token_unref(g_other_root);
  cx_token_unref(target);
  cx_token_unref(source);
}

/* ---- randomized race */

enum { ROUNDS = 300, FAN = 4, DEPTH = 4 };

typedef struct tree {
  cx_token *root;
  cx_token *mids[FAN];
  cx_token *leaves[FAN][DEPTH]; /* a chain under each middle */
  atomic_int go;
} tree;

static void tree_make(tree *t) {
  t->root = cx_token_new();
  assert_non_null(t->root);
  atomic_init(&t->go, 0);
  for (int i = 0; i < FAN; i++) {
    cx_token *up;
    CX_ASSERT_OK(cx_token_new_child(&t->mids[i], t->root, 0));
    up = t->mids[i];
    for (int d = 0; d < DEPTH; d++) {
      CX_ASSERT_OK(cx_token_new_child(&t->leaves[i][d], up, 0));
      up = t->leaves[i][d];
    }
  }
}

static void tree_free(tree *t) {
  for (int i = 0; i < FAN; i++) {
    for (int d = DEPTH - 1; d >= 0; d--) cx_token_unref(t->leaves[i][d]);
    cx_token_unref(t->mids[i]);
  }
  cx_token_unref(t->root);
}

static void *cancel_mids(void *p) {
  tree *t = p;
  atomic_fetch_add(&t->go, 1);
  while (atomic_load(&t->go) < 2) {
  }
  for (int i = 0; i < FAN; i++)
    cx_token_cancel(t->mids[i], CX_REASON_MANUAL, NULL);
  return NULL;
}

static void test_race_root_and_middles(void **state) {
  (void)state;
  for (int round = 0; round < ROUNDS; round++) {
    tree t;
    pthread_t th;
    tree_make(&t);
    assert_int_equal(pthread_create(&th, NULL, cancel_mids, &t), 0);
    atomic_fetch_add(&t.go, 1);
    while (atomic_load(&t.go) < 2) {
    }
    cx_token_cancel(t.root, CX_REASON_MANUAL, NULL);
    for (int i = 0; i < FAN; i++)
      for (int d = 0; d < DEPTH; d++)
        assert_true(cx_token_is_cancelled(t.leaves[i][d]));
    assert_true(cx_test_join_within(th, 30, NULL));
    tree_free(&t);
  }
}

/* ---- cycles */

static void test_cycle_direct(void **state) {
  cx_token *a = cx_token_new(), *b = cx_token_new();
  (void)state;
  CX_ASSERT_OK(cx_token_link(b, a, 0)); /* b follows a */
  CX_ASSERT_ERR(-ELOOP, cx_token_link(a, b, 0));
  /* Nothing changed: b still follows a, a follows nobody. */
  assert_true(cx_token_cancel(b, CX_REASON_MANUAL, NULL));
  assert_false(cx_token_is_cancelled(a));
  cx_token_unref(a); /* both freed (LeakSanitizer would see a cycle) */
  cx_token_unref(b);
}

static void test_cycle_through_others(void **state) {
  cx_token *a = cx_token_new(), *b = NULL, *c = NULL, *d = cx_token_new();
  (void)state;
  CX_ASSERT_OK(cx_token_new_child(&b, a, 0));
  CX_ASSERT_OK(cx_token_new_child(&c, b, 0));
  CX_ASSERT_OK(cx_token_link(d, c, 0)); /* a -> b -> c -> d */
  CX_ASSERT_ERR(-ELOOP, cx_token_link(a, d, 0));
  CX_ASSERT_ERR(-ELOOP, cx_token_link(b, c, CX_LINK_PRESERVE_REASON));
  /* A diamond is no cycle: d also follows a. */
  CX_ASSERT_OK(cx_token_link(d, a, 0));
  assert_true(cx_token_cancel(a, CX_REASON_MANUAL, NULL));
  assert_true(cx_token_is_cancelled(d));
  cx_token_unref(d);
  cx_token_unref(c);
  cx_token_unref(b);
  cx_token_unref(a);
}

/* Counts frees: the destroy notifier of a callback that never runs. */
static int never_runs(cx_token *t, void *user_data) {
  (void)t;
  (void)user_data;
  return 0;
}

static void count_free(void *user_data) { (*(int *)user_data)++; }

static void test_cycle_through_cancelled(void **state) {
  cx_token *a = cx_token_new(), *b = NULL, *t = cx_token_new(), *x = NULL,
           *s = NULL;
  int freed = 0;
  (void)state;
  /* b follows a; a cancelled (its list of followers is gone, b's link and
   * cause still hold a): a following b is a cycle. */
  CX_ASSERT_OK(cx_token_new_child(&b, a, 0));
  assert_true(cx_token_cancel(a, CX_REASON_MANUAL, NULL));
  CX_ASSERT_ERR(-ELOOP, cx_token_link(a, b, 0));
  /* t -> x -> s, x cancelled: t following s is a cycle too. */
  CX_ASSERT_OK(cx_token_on_cancel(t, never_runs, &freed, count_free, 0, NULL));
  CX_ASSERT_OK(cx_token_new_child(&x, t, 0));
  CX_ASSERT_OK(cx_token_new_child(&s, x, 0));
  assert_true(cx_token_cancel(x, CX_REASON_MANUAL, NULL));
  CX_ASSERT_ERR(-ELOOP, cx_token_link(t, s, 0));
  assert_false(cx_token_is_cancelled(t));
  cx_token_unref(s);
  cx_token_unref(x);
  cx_token_unref(t);
  assert_int_equal(freed, 1); /* t was freed: no cycle kept it */
  cx_token_unref(b);
  cx_token_unref(a);
}

typedef struct cross {
  cx_token *from, *to;
  atomic_int *go;
  int rc;
} cross;

static void *link_one_way(void *p) {
  cross *x = p;
  atomic_fetch_add(x->go, 1);
  while (atomic_load(x->go) < 2) {
  }
  x->rc = cx_token_link(x->to, x->from, 0);
  return NULL;
}

static void test_cycle_race(void **state) {
  (void)state;
  for (int round = 0; round < 200; round++) {
    cx_token *a = cx_token_new(), *b = cx_token_new();
    atomic_int go = 0;
    cross ab = {a, b, &go, 1}, ba = {b, a, &go, 1};
    pthread_t t1, t2;
    assert_int_equal(pthread_create(&t1, NULL, link_one_way, &ab), 0);
    assert_int_equal(pthread_create(&t2, NULL, link_one_way, &ba), 0);
    assert_true(cx_test_join_within(t1, 30, NULL));
    assert_true(cx_test_join_within(t2, 30, NULL));
    /* Exactly one made, the other refused. */
    assert_true((ab.rc == 0 && ba.rc == -ELOOP) ||
                (ab.rc == -ELOOP && ba.rc == 0));
    cx_token_unref(a);
    cx_token_unref(b);
  }
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/cascade/callbacks-after-descendants",
            test_callbacks_after_descendants),
    CX_TEST("/cascade/loser-returns-after-cascade",
            test_loser_returns_after_cascade),
    CX_TEST("/cascade/help/in-cascade", test_help_in_cascade),
    CX_TEST("/cascade/help/losing-cancel", test_help_losing_cancel),
    CX_TEST("/cascade/link/callbacks-unlocked", test_link_callbacks_unlocked),
    CX_TEST("/cascade/race-root-and-middles", test_race_root_and_middles),
    CX_TEST("/cascade/cycle/direct", test_cycle_direct),
    CX_TEST("/cascade/cycle/through-others", test_cycle_through_others),
    CX_TEST("/cascade/cycle/through-cancelled", test_cycle_through_cancelled),
    CX_TEST("/cascade/cycle/race", test_cycle_race),
};

CX_TEST_MAIN("cascade", tests)
