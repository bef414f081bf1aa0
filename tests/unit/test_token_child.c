/* tests/unit/test_token_child.c - cx_token_new_child(): the child follows
 * its parent's cancel (reason PARENT, or the parent's with
 * CX_LINK_PRESERVE_REASON), is born cancelled under a cancelled parent,
 * never cancels its parent, keeps its parent alive, can be linked to more
 * sources, rejects bad input and reports out of memory (its one
 * allocation, or a timed parent's lists) without changing anything; threads
 * making and dropping children of one parent while it is cancelled lose no
 * cancel.  Linked against the static library for the allocation failure hook.
 * Issue #8 (S3). */
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

static const struct CMUnitTest tests[] = {
    CX_TEST("/token/child/follows-parent", test_follows_parent),
    CX_TEST("/token/child/cancel-stays-below", test_child_cancel_stays_below),
    CX_TEST("/token/child/born-cancelled", test_born_cancelled),
    CX_TEST("/token/child/keeps-parent-alive", test_keeps_parent_alive),
    CX_TEST("/token/child/bad-input", test_bad_input),
    CX_TEST("/token/child/out-of-memory", test_out_of_memory),
    CX_TEST("/token/child/race-with-cancel", test_race_with_cancel),
};

CX_TEST_MAIN("token-child", tests)
