/* tests/unit/test_registry_query.c - the registry's queries as the
 * reference has them, issue #17 item 7: the name as a case-insensitive
 * substring (beside the glob), cancel_all by age (min/max seconds since
 * start) and by the caller's predicate (called with no lock held), history
 * since a time, prune that keeps failed entries, statistics whose average
 * covers COMPLETED ops only with counts per status and per cancel reason,
 * and bad filters rejected with -EINVAL, changing nothing.  Ages and times
 * run on the virtual clock.  The registry is process-wide: every test
 * starts with cx_registry_clear() and registers every op it enters.
 */
#include "cx_test.h"
#include "cx_test_registry.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cancelable.h>

static void setup(void) {
  cx_registry_clear();
  cx_registry_set_default(true);
  cx_registry_set_history_size(1000);
}

/* Enters, exits with @result and releases an op named @name. */
static void run_op(const char *name, int result) {
  cx_op *op = cx_test_entered_op(name, NULL, 0);
  CX_ASSERT_OK(cx_op_exit(op, result));
  cx_op_unref(op);
}

static void finish(cx_op *op, int result) {
  CX_ASSERT_OK(cx_op_exit(op, result));
  cx_op_unref(op);
}

/* ---------------------------------------------------------------------- */
/* names */

static void test_name_contains(void **state) {
  (void)state;
  char buf[256];
  cx_op_filter f = CX_OP_FILTER_INIT;
  setup();
  cx_op *a = cx_test_entered_op("Fetch-Users", NULL, 0);
  cx_op *b = cx_test_entered_op("prefetch", NULL, 0);
  cx_op *c = cx_test_entered_op("upload", NULL, 0);
  f.name_contains = "FETCH";
  assert_string_equal(cx_test_live_names(&f, buf, sizeof buf),
                      "Fetch-Users,prefetch");
  f.name_contains = "users";
  assert_string_equal(cx_test_live_names(&f, buf, sizeof buf), "Fetch-Users");
  f.name_contains = "fetch-users-and-more"; /* longer than every name */
  assert_string_equal(cx_test_live_names(&f, buf, sizeof buf), "");
  f.name_contains = ""; /* the empty string is in every name */
  assert_string_equal(cx_test_live_names(&f, buf, sizeof buf),
                      "Fetch-Users,prefetch,upload");
  /* With the glob (kept, case-sensitive): both must match. */
  f.name_contains = "fetch";
  f.name_pattern = "p*";
  assert_string_equal(cx_test_live_names(&f, buf, sizeof buf), "prefetch");
  f.name_pattern = "F*";
  assert_string_equal(cx_test_live_names(&f, buf, sizeof buf), "Fetch-Users");
  /* The cancel takes the same filter. */
  f.name_pattern = NULL;
  f.name_contains = "FeTcH";
  assert_int_equal(cx_registry_cancel_all(&f, CX_REASON_MANUAL, NULL), 2);
  assert_true(cx_op_is_cancelled(a));
  assert_true(cx_op_is_cancelled(b));
  assert_false(cx_op_is_cancelled(c));
  finish(c, 0);
  finish(b, -ECANCELED);
  finish(a, -ECANCELED);
  /* And the history. */
  f.name_contains = "UPLOAD";
  assert_string_equal(cx_test_history_names(&f, 0, buf, sizeof buf), "upload");
}

/* ---------------------------------------------------------------------- */
/* ages */

static void test_cancel_by_age(void **state) {
  (void)state;
  char buf[256];
  cx_op_filter f = CX_OP_FILTER_INIT;
  setup();
  cx_op *old = cx_test_entered_op("old", NULL, 0);
  CX_ASSERT_OK(cx_clock_advance(30.0));
  cx_op *mid = cx_test_entered_op("mid", NULL, 0);
  CX_ASSERT_OK(cx_clock_advance(20.0));
  cx_op *young = cx_test_entered_op("young", NULL, 0);
  CX_ASSERT_OK(cx_clock_advance(1.0));
  /* Ages now: old 51 s, mid 21 s, young 1 s. */
  f.min_age = 20.0;
  assert_string_equal(cx_test_live_names(&f, buf, sizeof buf), "old,mid");
  f.min_age = 0;
  f.max_age = 21.0; /* at most: 21 s is in */
  assert_string_equal(cx_test_live_names(&f, buf, sizeof buf), "mid,young");
  f.min_age = 10.0;
  f.max_age = 40.0;
  assert_string_equal(cx_test_live_names(&f, buf, sizeof buf), "mid");
  f.max_age = INFINITY; /* no upper bound */
  assert_string_equal(cx_test_live_names(&f, buf, sizeof buf), "old,mid");
  /* The reference's "cancel everything older than 50 s". */
  f.min_age = 50.0;
  f.max_age = 0;
  assert_int_equal(cx_registry_cancel_all(&f, CX_REASON_MANUAL, "stale"), 1);
  assert_true(cx_op_is_cancelled(old));
  assert_string_equal(cx_op_cancel_message(old), "stale");
  assert_false(cx_op_is_cancelled(mid));
  assert_false(cx_op_is_cancelled(young));
  /* Ages grow with the clock: now mid is old enough too, old is already
   * cancelled (not counted again). */
  CX_ASSERT_OK(cx_clock_advance(30.0));
  assert_int_equal(cx_registry_cancel_all(&f, CX_REASON_MANUAL, "stale"), 1);
  assert_true(cx_op_is_cancelled(mid));
  assert_false(cx_op_is_cancelled(young));
  finish(young, 0);
  finish(mid, -ECANCELED);
  finish(old, -ECANCELED);
  /* A history entry's age also counts from its start. */
  f.min_age = 60.0;
  assert_string_equal(cx_test_history_names(&f, 0, buf, sizeof buf), "old");
}

/* ---------------------------------------------------------------------- */
/* the caller's predicate */

typedef struct pick {
  const char *key;  /* metadata key that marks the ops to pick */
  int calls;        /* how often the predicate ran */
  size_t seen_live; /* what a registry query from inside it saw */
} pick;

static bool pick_marked(cx_op *op, void *user_data) {
  pick *p = user_data;
  cx_op_list l = {0};
  cx_meta *m = cx_op_metadata(op);
  int64_t v = 0;
  bool marked = m != NULL && cx_meta_get_int(m, p->key, &v) == 0 && v == 1;
  cx_meta_free(m);
  p->calls++;
  /* No registry lock is held: a query (or a cancel) from here works. */
  if (cx_registry_list(NULL, &l) == 0) p->seen_live = l.count;
  cx_op_list_free(&l);
  return marked;
}

static void mark(cx_op *op, const char *key) {
  cx_meta *m = cx_meta_new();
  assert_non_null(m);
  CX_ASSERT_OK(cx_meta_set_int(m, key, 1));
  CX_ASSERT_OK(cx_op_update_metadata(op, m));
  cx_meta_free(m);
}

static void test_cancel_by_predicate(void **state) {
  (void)state;
  char buf[256];
  pick p = {"retire", 0, 0};
  cx_op_filter f = CX_OP_FILTER_INIT;
  setup();
  cx_op *a = cx_test_entered_op("a", NULL, 0);
  cx_op *b = cx_test_entered_op("b", NULL, 0);
  cx_op *c = cx_test_entered_op("c", NULL, 0);
  mark(a, "retire");
  mark(c, "retire");
  f.match = pick_marked;
  f.match_data = &p;
  assert_string_equal(cx_test_live_names(&f, buf, sizeof buf), "a,c");
  assert_int_equal(p.calls, 3);
  assert_int_equal(p.seen_live, 3);
  /* The predicate runs after the other fields: only on what they let
   * through. */
  p.calls = 0;
  f.name = "c";
  assert_int_equal(cx_registry_cancel_all(&f, CX_REASON_MANUAL, NULL), 1);
  assert_int_equal(p.calls, 1);
  assert_true(cx_op_is_cancelled(c));
  assert_false(cx_op_is_cancelled(a));
  f.name = NULL;
  p.calls = 0;
  assert_int_equal(cx_registry_cancel_all(&f, CX_REASON_MANUAL, NULL), 1);
  assert_int_equal(p.calls, 3);
  assert_true(cx_op_is_cancelled(a));
  assert_false(cx_op_is_cancelled(b));
  finish(c, -ECANCELED);
  finish(b, 0);
  finish(a, -ECANCELED);
  /* A limit counts what the predicate kept. */
  assert_string_equal(cx_test_history_names(&f, 1, buf, sizeof buf), "a");
  assert_string_equal(cx_test_history_names(&f, 0, buf, sizeof buf), "a,c");
}

/* ---------------------------------------------------------------------- */
/* history since a time */

static void test_history_since(void **state) {
  (void)state;
  char buf[256];
  cx_op_filter f = CX_OP_FILTER_INIT;
  setup();
  run_op("before-1", 0);
  run_op("before-2", -EIO);
  CX_ASSERT_OK(cx_clock_advance(10.0));
  double t = cx_now();
  run_op("after-1", 0);
  CX_ASSERT_OK(cx_clock_advance(5.0));
  run_op("after-2", -EIO);
  cx_op *running = cx_test_entered_op("running", NULL, 0);
  f.since = t;
  assert_string_equal(cx_test_history_names(&f, 0, buf, sizeof buf),
                      "after-2,after-1");
  assert_string_equal(cx_test_history_names(&f, 1, buf, sizeof buf), "after-2");
  f.status = CX_STATUS_COMPLETED;
  assert_string_equal(cx_test_history_names(&f, 0, buf, sizeof buf), "after-1");
  f.status = -1;
  /* The reference's "the last N seconds". */
  f.since = cx_now() - 5.5;
  assert_string_equal(cx_test_history_names(&f, 0, buf, sizeof buf),
                      "after-2,after-1");
  f.since = cx_now() - 4.5;
  assert_string_equal(cx_test_history_names(&f, 0, buf, sizeof buf), "after-2");
  f.since = cx_now() + 1.0;
  assert_string_equal(cx_test_history_names(&f, 0, buf, sizeof buf), "");
  /* A live op has not ended: it matches. */
  assert_string_equal(cx_test_live_names(&f, buf, sizeof buf), "running");
  finish(running, 0);
}

/* ---------------------------------------------------------------------- */
/* prune keeping failed entries */

static void test_prune_keep_failed(void **state) {
  (void)state;
  char buf[256];
  cx_registry_stats st;
  setup();
  run_op("ok-1", 0);
  run_op("failed-1", -EIO);
  run_op("cancelled-1", -ECANCELED);
  CX_ASSERT_OK(cx_clock_advance(100.0));
  run_op("ok-2", 0);
  run_op("failed-2", -EIO);
  run_op("ok-3", 0);
  /* By age: the old ones go, the old failure stays. */
  assert_int_equal(cx_registry_prune(50.0, 0, CX_PRUNE_KEEP_FAILED), 2);
  assert_string_equal(cx_test_history_names(NULL, 0, buf, sizeof buf),
                      "ok-3,failed-2,ok-2,failed-1");
  /* By count: the newest 2 stay, and every failure; the failures count
   * among the newest. */
  assert_int_equal(cx_registry_prune(0, 2, CX_PRUNE_KEEP_FAILED), 1);
  assert_string_equal(cx_test_history_names(NULL, 0, buf, sizeof buf),
                      "ok-3,failed-2,failed-1");
  /* Without the flag they go as any other. */
  assert_int_equal(cx_registry_prune(0, 1, 0), 2);
  assert_string_equal(cx_test_history_names(NULL, 0, buf, sizeof buf), "ok-3");
  /* Statistics are not changed by a prune. */
  CX_ASSERT_OK(cx_registry_get_stats(&st));
  assert_int_equal(st.completed, 3);
  assert_int_equal(st.failed, 2);
  assert_int_equal(st.cancelled, 1);
  /* An unknown flag: -EINVAL, nothing dropped. */
  run_op("ok-4", 0);
  CX_ASSERT_ERR(-EINVAL, (int)cx_registry_prune(0, 1, 0x2));
  assert_string_equal(cx_test_history_names(NULL, 0, buf, sizeof buf),
                      "ok-4,ok-3");
}

/* ---------------------------------------------------------------------- */
/* statistics */

static void test_stats_completed_average(void **state) {
  (void)state;
  cx_registry_stats st;
  setup();
  /* Two completed: 2 s and 4 s. */
  cx_op *op = cx_test_entered_op("two", NULL, 0);
  CX_ASSERT_OK(cx_clock_advance(2.0));
  finish(op, 0);
  op = cx_test_entered_op("four", NULL, 0);
  CX_ASSERT_OK(cx_clock_advance(4.0));
  finish(op, 0);
  /* A timeout after 100 s, a manual cancel after 50 s, a failure after
   * 30 s, a PARENT cancel: none of them counts in the average. */
  op = cx_test_entered_op("timed-out", NULL, 100.0);
  CX_ASSERT_OK(cx_clock_advance(100.0));
  finish(op, cx_check(op));
  op = cx_test_entered_op("manual", NULL, 0);
  CX_ASSERT_OK(cx_clock_advance(50.0));
  assert_true(cx_op_cancel(op, CX_REASON_MANUAL, NULL));
  finish(op, cx_check(op));
  op = cx_test_entered_op("failed", NULL, 0);
  CX_ASSERT_OK(cx_clock_advance(30.0));
  finish(op, -EIO);
  cx_op *parent = cx_test_entered_op("parent", NULL, 0);
  cx_op *child = cx_test_entered_op("child", parent, 0);
  assert_true(cx_op_cancel(parent, CX_REASON_SIGNAL, NULL));
  finish(child, cx_check(child));
  finish(parent, cx_check(parent));

  CX_ASSERT_OK(cx_registry_get_stats(&st));
  assert_true(fabs(st.average_duration - 3.0) < 1e-9);
  assert_int_equal(st.completed, 2);
  assert_int_equal(st.cancelled, 4);
  assert_int_equal(st.failed, 1);
  assert_int_equal(st.cancelled_by_reason[CX_REASON_NONE], 0);
  assert_int_equal(st.cancelled_by_reason[CX_REASON_TIMEOUT], 1);
  assert_int_equal(st.cancelled_by_reason[CX_REASON_MANUAL], 1);
  assert_int_equal(st.cancelled_by_reason[CX_REASON_SIGNAL], 1);
  assert_int_equal(st.cancelled_by_reason[CX_REASON_PARENT], 1);
  assert_int_equal(st.cancelled_by_reason[CX_REASON_CONDITION], 0);
  /* Per status, live too. */
  op = cx_test_entered_op("live", NULL, 0);
  CX_ASSERT_OK(cx_registry_get_stats(&st));
  assert_int_equal(st.live, 1);
  assert_int_equal(st.live_by_status[CX_STATUS_RUNNING], 1);
  finish(op, 0);
  /* The JSON carries the reasons. */
  char *json = NULL;
  CX_ASSERT_OK(cx_registry_to_json(NULL, false, &json));
  assert_non_null(strstr(json,
                         "\"cancelled_by_reason\":{\"timeout\":1,"
                         "\"manual\":1,\"signal\":1,\"condition\":0,"
                         "\"parent\":1,\"error\":0}"));
  free(json);
  /* No completed op: 0, not NaN. */
  cx_registry_clear();
  run_op("failed", -EIO);
  CX_ASSERT_OK(cx_registry_get_stats(&st));
  assert_true(st.average_duration == 0.0);
  assert_int_equal(st.cancelled_by_reason[CX_REASON_TIMEOUT], 0);
}

/* ---------------------------------------------------------------------- */
/* bad input */

static bool count_calls(cx_op *op, void *user_data) {
  (void)op;
  ++*(int *)user_data;
  return true;
}

/* Each bad filter is refused by every query and changes nothing. */
static void expect_refused(const cx_op_filter *f, cx_op *op, int *calls) {
  cx_op_list l = {NULL, 7};
  char *json = NULL;
  CX_ASSERT_ERR(-EINVAL, cx_registry_list(f, &l));
  assert_null(l.ops);
  assert_int_equal(l.count, 0);
  CX_ASSERT_ERR(-EINVAL, cx_registry_history(f, 0, &l));
  CX_ASSERT_ERR(-EINVAL,
                (int)cx_registry_cancel_all(f, CX_REASON_MANUAL, NULL));
  CX_ASSERT_ERR(-EINVAL, cx_registry_to_json(f, true, &json));
  assert_null(json);
  assert_false(cx_op_is_cancelled(op));
  assert_int_equal(*calls, 0);
}

static void test_bad_filters(void **state) {
  (void)state;
  int calls = 0;
  char buf[256];
  setup();
  cx_op *op = cx_test_entered_op("victim", NULL, 0);
  cx_op_filter good = CX_OP_FILTER_INIT, f;
  good.match = count_calls;
  good.match_data = &calls;
  f = good, f.status = 6;
  expect_refused(&f, op, &calls);
  f = good, f.status = -2;
  expect_refused(&f, op, &calls);
  f = good, f.min_age = -1.0;
  expect_refused(&f, op, &calls);
  f = good, f.max_age = -1.0;
  expect_refused(&f, op, &calls);
  f = good, f.min_age = NAN;
  expect_refused(&f, op, &calls);
  f = good, f.max_age = NAN;
  expect_refused(&f, op, &calls);
  f = good, f.min_age = 10.0, f.max_age = 5.0;
  expect_refused(&f, op, &calls);
  f = good, f.since = NAN;
  expect_refused(&f, op, &calls);
  f = good, f.size = offsetof(cx_op_filter, name_pattern);
  expect_refused(&f, op, &calls);
  /* A filter of the first release (up to name_pattern) still works: the
   * fields it lacks are not read. */
  f = good, f.size = offsetof(cx_op_filter, name_contains);
  f.min_age = NAN; /* beyond its size: ignored */
  assert_string_equal(cx_test_live_names(&f, buf, sizeof buf), "victim");
  assert_int_equal(calls, 0);
  /* And the good one. */
  assert_string_equal(cx_test_live_names(&good, buf, sizeof buf), "victim");
  assert_int_equal(calls, 1);
  finish(op, 0);
}

/* ---------------------------------------------------------------------- */

static const struct CMUnitTest tests[] = {
    CX_TEST("/registry/query/name-contains", test_name_contains),
    CX_TEST_VCLOCK("/registry/query/cancel-by-age", test_cancel_by_age),
    CX_TEST("/registry/query/cancel-by-predicate", test_cancel_by_predicate),
    CX_TEST_VCLOCK("/registry/query/history-since", test_history_since),
    CX_TEST_VCLOCK("/registry/query/prune-keep-failed", test_prune_keep_failed),
    CX_TEST_VCLOCK("/registry/query/stats-completed-average",
                   test_stats_completed_average),
    CX_TEST("/registry/query/bad-filters", test_bad_filters),
};

CX_TEST_MAIN("registry-query", tests)
