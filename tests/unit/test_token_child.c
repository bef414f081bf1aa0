/* tests/unit/test_token_child.c - cx_token_new_child(): the child follows
 * its parent's cancel (reason PARENT, or the parent's with
 * CX_LINK_PRESERVE_REASON), is born cancelled under a cancelled parent,
 * never cancels its parent, keeps its parent alive, can be linked to more
 * sources, rejects bad input and reports out of memory (its one
 * allocation, or a timed parent's lists) without changing anything; threads
 * making and dropping children of one parent while it is cancelled lose no
 * cancel.  Linked against the static library for the allocation failure hook.
 * Issue #8 (S3).  A wide cascade (issue 19, X8: it claims in batches, takes
 * no reference on a child it claims and leaves the parent's list as it
 * was) gives each child its reason, message, cause and time, runs each
 * child's callbacks once, wakes a child's waiter, and leaves the parent with
 * exactly the references its children hold; children dropped on other
 * threads while it runs are freed, and the parent with them. */
#include "cx_test.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <cancelable.h>

/* Internal (static library). */
#include "runtime/alloc.h"
#include "token/token.h"

static void test_follows_parent(void **state) {
  cx_token *parent = cx_token_new(), *child = NULL, *kept = NULL;
  (void)state;
  CX_ASSERT_OK(cx_token_new_child(&child, parent, 0));
  CX_ASSERT_OK(cx_token_new_child(&kept, parent, CX_LINK_PRESERVE_REASON));
  assert_false(cx_token_is_cancelled(child));
  assert_true(cx_token_cancel(parent, CX_REASON_SIGNAL, "stop"));
  assert_true(cx_token_is_cancelled(child));
  assert_int_equal(cx_token_cancel_reason(child), CX_REASON_PARENT);
  assert_int_equal(cx_token_cancel_reason(kept), CX_REASON_SIGNAL);
  assert_string_equal(cx_token_cancel_message(kept), "stop");
  cx_token_unref(child);
  cx_token_unref(kept);
  cx_token_unref(parent);
}

static void test_child_cancel_stays_below(void **state) {
  cx_token *parent = cx_token_new(), *child = NULL;
  (void)state;
  CX_ASSERT_OK(cx_token_new_child(&child, parent, 0));
  assert_true(cx_token_cancel(child, CX_REASON_MANUAL, NULL));
  assert_false(cx_token_is_cancelled(parent));
  cx_token_unref(child);
  assert_false(cx_token_is_cancelled(parent));
  cx_token_unref(parent);
}

static void test_born_cancelled(void **state) {
  cx_token *parent = cx_token_new(), *child = NULL;
  (void)state;
  assert_true(cx_token_cancel(parent, CX_REASON_TIMEOUT, "late"));
  CX_ASSERT_OK(cx_token_new_child(&child, parent, CX_LINK_PRESERVE_REASON));
  assert_true(cx_token_is_cancelled(child));
  assert_int_equal(cx_token_cancel_reason(child), CX_REASON_TIMEOUT);
  cx_token_unref(child);
  cx_token_unref(parent);
}

static atomic_int parent_freed;

static void count_free(void *user_data) {
  (void)user_data;
  atomic_fetch_add(&parent_freed, 1);
}

static int no_op(cx_token *t, void *user_data) {
  (void)t;
  (void)user_data;
  return 0;
}

static void test_keeps_parent_alive(void **state) {
  cx_token *parent = cx_token_new(), *child = NULL, *grandchild = NULL;
  cx_token *other = cx_token_new();
  (void)state;
  atomic_store(&parent_freed, 0);
  /* Never run (the parent is never cancelled): its destroy notify runs
   * when the parent is freed. */
  CX_ASSERT_OK(cx_token_on_cancel(parent, no_op, NULL, count_free, 0, NULL));
  CX_ASSERT_OK(cx_token_new_child(&child, parent, 0));
  CX_ASSERT_OK(cx_token_new_child(&grandchild, child, 0));
  CX_ASSERT_OK(cx_token_link(grandchild, other, 0)); /* a second source */
  cx_token_unref(parent); /* the child's link still holds it */
  assert_true(cx_token_cancel(other, CX_REASON_MANUAL, NULL));
  assert_true(cx_token_is_cancelled(grandchild));
  assert_false(cx_token_is_cancelled(child));
  cx_token_unref(grandchild);
  assert_int_equal(atomic_load(&parent_freed), 0);
  cx_token_unref(child); /* frees the parent too */
  assert_int_equal(atomic_load(&parent_freed), 1);
  cx_token_unref(other);
}

static void test_bad_input(void **state) {
  cx_token *parent = cx_token_new(), *child = parent;
  (void)state;
  CX_ASSERT_ERR(-EINVAL, cx_token_new_child(NULL, parent, 0));
  CX_ASSERT_ERR(-EINVAL, cx_token_new_child(&child, NULL, 0));
  assert_null(child);
  child = parent;
  CX_ASSERT_ERR(-EINVAL, cx_token_new_child(&child, parent, 1u << 7));
  assert_null(child);
  /* Nothing was linked: cancelling the parent reaches no one, and it is
   * freed by its only reference. */
  assert_true(cx_token_cancel(parent, CX_REASON_MANUAL, NULL));
  cx_token_unref(parent);
}

static void test_out_of_memory(void **state) {
  cx_token *parent = cx_token_new(), *timed = NULL, *child = parent;
  (void)state;
  /* One allocation: the child and its link are one block. */
  cx__alloc_fail_after(0, false);
  CX_ASSERT_ERR(-ENOMEM, cx_token_new_child(&child, parent, 0));
  cx__alloc_fail_after(-1, false);
  assert_null(child);
  cx__alloc_fail_after(1, false); /* a second allocation would fail */
  CX_ASSERT_OK(cx_token_new_child(&child, parent, 0));
  cx__alloc_fail_after(-1, false);
  cx_token_unref(child);
  /* Under a timed token the parent's lists are made first: either
   * allocation failing gives no child (and the parent still works). */
  CX_ASSERT_OK(cx_token_with_timeout(&timed, 60.0));
  for (long n = 0; n < 2; n++) {
    child = parent;
    cx__alloc_fail_after(n, false);
    CX_ASSERT_ERR(-ENOMEM, cx_token_new_child(&child, timed, 0));
    cx__alloc_fail_after(-1, false);
    assert_null(child);
  }
  CX_ASSERT_OK(cx_token_new_child(&child, timed, 0)); /* works again */
  assert_true(cx_token_cancel(timed, CX_REASON_MANUAL, NULL));
  assert_true(cx_token_is_cancelled(child));
  cx_token_unref(child);
  CX_ASSERT_OK(cx_token_new_child(&child, parent, 0));
  assert_true(cx_token_cancel(parent, CX_REASON_MANUAL, NULL));
  assert_true(cx_token_is_cancelled(child));
  cx_token_unref(child);
  cx_token_unref(timed);
  cx_token_unref(parent);
}

/* Threads make children of one parent and keep them; the main thread
 * cancels the parent once a quarter of them exist, while the rest are being
 * made.  Afterwards every child must read cancelled: those made before the
 * cancel through the cascade, the others born cancelled. */
enum { CHILD_THREADS = 4, CHILDREN = 20000 };
static cx_token *race_parent;
static cx_token *race_kids[CHILD_THREADS][CHILDREN];
static atomic_int race_made;

static void *child_worker(void *arg) {
  cx_token **kids = race_kids[(intptr_t)arg];
  for (int i = 0; i < CHILDREN; i++) {
    if (cx_token_new_child(&kids[i], race_parent, 0) != 0) return (void *)-1;
    atomic_fetch_add(&race_made, 1);
  }
  return NULL;
}

static void test_race_with_cancel(void **state) {
  pthread_t th[CHILD_THREADS];
  (void)state;
  race_parent = cx_token_new();
  assert_non_null(race_parent);
  atomic_store(&race_made, 0);
  for (intptr_t i = 0; i < CHILD_THREADS; i++)
    assert_int_equal(pthread_create(&th[i], NULL, child_worker, (void *)i), 0);
  while (atomic_load(&race_made) < CHILD_THREADS * CHILDREN / 4) sched_yield();
  assert_true(cx_token_cancel(race_parent, CX_REASON_MANUAL, NULL));
  for (int i = 0; i < CHILD_THREADS; i++) {
    void *rc;
    assert_int_equal(pthread_join(th[i], &rc), 0);
    assert_null(rc);
  }
  for (int i = 0; i < CHILD_THREADS; i++)
    for (int k = 0; k < CHILDREN; k++) {
      assert_true(cx_token_is_cancelled(race_kids[i][k]));
      cx_token_unref(race_kids[i][k]);
    }
  cx_token_unref(race_parent);
}

/* The parent's count of references (token.h): its owner's, one per link
 * into a live child and one per child whose cancel it caused. */
static uint32_t refs_of(cx_token *t) { return atomic_load(&t->refs); }

enum { WIDE = 200 }; /* several of the cascade's batches of claims */

static int count_call(cx_token *t, void *user_data) {
  (void)t;
  atomic_fetch_add((atomic_int *)user_data, 1);
  return 0;
}

typedef struct waiter {
  cx_token *token;
  atomic_bool waiting;
  int rc;
} waiter;

static void *wait_child(void *arg) {
  waiter *w = arg;
  atomic_store(&w->waiting, true);
  w->rc = cx_token_wait(w->token, 30.0);
  return NULL;
}

static void test_wide_cascade(void **state) {
  cx_token *parent = cx_token_new(), *other = cx_token_new(), *kids[WIDE];
  static atomic_int calls[WIDE];
  waiter w = {NULL, false, -1};
  pthread_t th;
  double when;
  (void)state;
  for (int i = 0; i < WIDE; i++) {
    atomic_store(&calls[i], 0);
    CX_ASSERT_OK(cx_token_new_child(&kids[i], parent,
                                    i % 5 == 0 ? CX_LINK_PRESERVE_REASON : 0));
    /* Callbacks and a second source on some, at batch edges too. */
    if (i % 7 == 0 || i == 31 || i == 32 || i == 63 || i == WIDE - 1)
      CX_ASSERT_OK(
          cx_token_on_cancel(kids[i], count_call, &calls[i], NULL, 0, NULL));
    if (i % 9 == 0) CX_ASSERT_OK(cx_token_link(kids[i], other, 0));
    if (i % 11 == 0) /* cancelled on its own first */
      assert_true(cx_token_cancel(kids[i], CX_REASON_TIMEOUT, "own"));
  }
  w.token = kids[40];
  assert_int_equal(pthread_create(&th, NULL, wait_child, &w), 0);
  while (!atomic_load(&w.waiting)) sched_yield();
  assert_int_equal(refs_of(parent), 1 + WIDE);
  assert_true(cx_token_cancel(parent, CX_REASON_MANUAL, "stop"));
  when = cx_token_cancel_time(parent);
  assert_int_equal(pthread_join(th, NULL), 0);
  assert_int_equal(w.rc, 0);
  for (int i = 0; i < WIDE; i++) {
    cx_token *k = kids[i];
    bool callback =
        i % 7 == 0 || i == 31 || i == 32 || i == 63 || i == WIDE - 1;
    assert_true(cx_token_is_cancelled(k));
    assert_int_equal(atomic_load(&calls[i]), callback ? 1 : 0);
    if (i % 11 == 0) { /* unchanged */
      assert_int_equal(cx_token_cancel_reason(k), CX_REASON_TIMEOUT);
      assert_string_equal(cx_token_cancel_message(k), "own");
    } else if (i % 5 == 0) { /* the parent's */
      assert_int_equal(cx_token_cancel_reason(k), CX_REASON_MANUAL);
      assert_string_equal(cx_token_cancel_message(k), "stop");
      assert_true(cx_token_cancel_time(k) == when);
    } else {
      assert_int_equal(cx_token_cancel_reason(k), CX_REASON_PARENT);
      assert_string_equal(cx_token_cancel_message(k),
                          "parent cancelled (manual): stop");
      assert_true(cx_token_cancel_time(k) == when);
    }
  }
  /* A link and a cause per child, but none for those cancelled first. */
  assert_int_equal(refs_of(parent), 1 + WIDE + WIDE - (WIDE + 10) / 11);
  /* A later cancel of the other source finds them all cancelled. */
  assert_true(cx_token_cancel(other, CX_REASON_ERROR, NULL));
  for (int i = 0; i < WIDE; i++)
    assert_int_equal(
        atomic_load(&calls[i]),
        (i % 7 == 0 || i == 31 || i == 32 || i == 63 || i == WIDE - 1) ? 1 : 0);
  /* Dropped in an order other than the list's: each unlink leaves the
   * list the cascade took be, and gives back what the child held. */
  for (int i = 1; i < WIDE; i += 2) cx_token_unref(kids[i]);
  for (int i = 0; i < WIDE; i += 2) cx_token_unref(kids[i]);
  assert_int_equal(refs_of(parent), 1);
  cx_token_unref(other);
  cx_token_unref(parent);
}

/* Threads drop their children of one parent while the main thread cancels
 * it: a child whose last reference goes during the cascade is skipped or
 * claimed, never lost nor leaked; afterwards the parent holds nothing. */
enum { DROP_THREADS = 2, DROPPED = 20000 };
static cx_token *drop_kids[DROP_THREADS][DROPPED];
static atomic_int drop_started;

static void *drop_worker(void *arg) {
  cx_token **kids = drop_kids[(intptr_t)arg];
  atomic_fetch_add(&drop_started, 1);
  for (int i = 0; i < DROPPED; i++) {
    if (i % 2 == 0) cx_token_unref(kids[i]); /* the odd ones after */
  }
  return NULL;
}

static void test_drop_during_cascade(void **state) {
  cx_token *parent = cx_token_new();
  pthread_t th[DROP_THREADS];
  (void)state;
  atomic_store(&drop_started, 0);
  for (int i = 0; i < DROP_THREADS; i++)
    for (int k = 0; k < DROPPED; k++)
      CX_ASSERT_OK(cx_token_new_child(&drop_kids[i][k], parent, 0));
  for (intptr_t i = 0; i < DROP_THREADS; i++)
    assert_int_equal(pthread_create(&th[i], NULL, drop_worker, (void *)i), 0);
  while (atomic_load(&drop_started) < DROP_THREADS) sched_yield();
  assert_true(cx_token_cancel(parent, CX_REASON_MANUAL, NULL));
  for (int i = 0; i < DROP_THREADS; i++)
    assert_int_equal(pthread_join(th[i], NULL), 0);
  for (int i = 0; i < DROP_THREADS; i++)
    for (int k = 1; k < DROPPED; k += 2) {
      assert_true(cx_token_is_cancelled(drop_kids[i][k]));
      assert_int_equal(cx_token_cancel_reason(drop_kids[i][k]),
                       CX_REASON_PARENT);
      cx_token_unref(drop_kids[i][k]);
    }
  assert_int_equal(refs_of(parent), 1);
  cx_token_unref(parent);
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/token/child/follows-parent", test_follows_parent),
    CX_TEST("/token/child/cancel-stays-below", test_child_cancel_stays_below),
    CX_TEST("/token/child/born-cancelled", test_born_cancelled),
    CX_TEST("/token/child/keeps-parent-alive", test_keeps_parent_alive),
    CX_TEST("/token/child/bad-input", test_bad_input),
    CX_TEST("/token/child/out-of-memory", test_out_of_memory),
    CX_TEST("/token/child/race-with-cancel", test_race_with_cancel),
    CX_TEST("/token/child/wide-cascade", test_wide_cascade),
    CX_TEST("/token/child/drop-during-cascade", test_drop_during_cascade),
};

CX_TEST_MAIN("token-child", tests)
