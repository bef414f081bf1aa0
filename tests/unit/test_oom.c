/* tests/unit/test_oom.c - regressions found by the allocation-failure sweep
 * (scripts/alloc-sweep.sh), and out-of-memory paths that keep a documented
 * promise instead of failing (the registry's history): each makes the
 * allocation fail on purpose, through the hook, and checks that the call
 * either reports -ENOMEM or keeps its promise.  Linked against the static
 * library for the hook.
 */
#include "cx_test.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cancelable.h>

/* Internal (static library). */
void cx__alloc_fail_after(long n, bool sticky);

/* A fresh op with a parent and metadata, neither op's id made yet. */
static cx_op *fresh_op(cx_op **parent) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_meta *m = cx_meta_new();
  cx_op *op = NULL;
  assert_non_null(m);
  CX_ASSERT_OK(cx_meta_set_string(m, "phase", "copy"));
  *parent = cx_test_op("parent", NULL, 0);
  o.name = "export";
  o.parent = *parent;
  o.metadata = m;
  CX_ASSERT_OK(cx_op_create(&op, &o));
  cx_meta_free(m);
  return op;
}

/* The JSON export makes the ops' ids (they are lazy) and copies the
 * metadata.  Out of memory there it used to succeed with "id": null,
 * "parent_id": null or "metadata": null; each allocation it makes now
 * fails it with -ENOMEM, or it writes them all. */
static void test_json_complete_or_enomem(void **state) {
  int failed = 0, rc = 0;
  (void)state;
  for (long n = 0; n < 64; n++) {
    cx_op *parent = NULL, *op = fresh_op(&parent);
    char *text = NULL;
    cx__alloc_fail_after(n, false);
    rc = cx_op_to_json(op, &text);
    cx__alloc_fail_after(-1, false);
    if (rc == -ENOMEM) {
      assert_null(text);
      failed++;
    } else {
      CX_ASSERT_OK(rc);
      assert_non_null(text);
      assert_null(strstr(text, "\"id\":null"));
      assert_null(strstr(text, "\"parent_id\":null"));
      assert_null(strstr(text, "\"metadata\":null"));
      assert_non_null(strstr(text, "\"phase\":\"copy\""));
    }
    free(text);
    cx_op_unref(op);
    cx_op_unref(parent);
  }
  CX_ASSERT_OK(rc);         /* the last try made fewer than 64 */
  assert_true(failed >= 3); /* the metadata's copy and the two ids */
}

static int ignore_progress(const char *op_id, const char *message,
                           const cx_meta *metadata, void *user_data) {
  (void)op_id, (void)message, (void)metadata, (void)user_data;
  return 0;
}

/* An op's first kept report: out of memory for its message buffer it left
 * a kept report with no message behind, which the next reader copied with
 * strdup(NULL).  Each allocation of the report fails in turn: then nothing
 * is kept (-ENOENT), else the report is, whole. */
static void test_first_kept_report(void **state) {
  int failed = 0, rc = 0;
  (void)state;
  for (long n = 0; n < 32; n++) {
    cx_op *op = cx_test_entered_op("report", NULL, 0);
    cx_progress_snapshot snap;
    char *text = NULL;
    CX_ASSERT_OK(cx_op_on_progress(op, ignore_progress, NULL, NULL));
    cx__alloc_fail_after(n, false);
    rc = cx_report_progress(op, "half", NULL);
    cx__alloc_fail_after(-1, false);
    if (rc == -ENOMEM) {
      failed++;
      CX_ASSERT_ERR(-ENOENT, cx_op_last_progress(op, &snap));
      CX_ASSERT_OK(cx_op_to_json(op, &text));
      assert_non_null(strstr(text, "\"progress\":null"));
    } else {
      CX_ASSERT_OK(rc);
      CX_ASSERT_OK(cx_op_last_progress(op, &snap));
      assert_string_equal(snap.message, "half");
      assert_int_equal(snap.reports, 1);
      cx_progress_snapshot_clear(&snap);
      CX_ASSERT_OK(cx_op_to_json(op, &text));
      assert_non_null(strstr(text, "\"message\":\"half\""));
    }
    free(text);
    /* A report after the failed one is kept as usual. */
    CX_ASSERT_OK(cx_report_progress(op, "done", NULL));
    CX_ASSERT_OK(cx_op_last_progress(op, &snap));
    assert_string_equal(snap.message, "done");
    cx_progress_snapshot_clear(&snap);
    CX_ASSERT_OK(cx_op_exit(op, 0));
    cx_op_unref(op);
  }
  CX_ASSERT_OK(rc);         /* the last try made fewer than 32 */
  assert_true(failed >= 2); /* the record and its message buffer at least */
}

/* Warnings that the history kept fewer ops. */
static int history_warnings;
static void count_history_warning(cx_log_level level, const char *op_id,
                                  const char *message, void *user_data) {
  (void)op_id, (void)user_data;
  if (level == CX_LOG_WARNING && strstr(message, "history kept fewer"))
    history_warnings++;
}

/* Ops released (their partial result's destroy notify). */
static int released;
static void count_release(void *p) {
  (void)p;
  released++;
}

/* Creates, enters and exits a registered op, watched by count_release()
 * when @watched. */
static void finish_registered(int watched) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_op *op = NULL;
  o.register_op = true;
  CX_ASSERT_OK(cx_op_create(&op, &o));
  if (watched) CX_ASSERT_OK(cx_op_set_partial_result(op, NULL, count_release));
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
}

/* The history's ring cannot grow: the finished ops that would not fit are
 * released at once (not leaked, not kept), a warning says so, and the
 * history takes ops again once memory is back.  With no ring yet, the
 * batch goes; with a full one, its oldest make room for the batch. */
static void test_history_cannot_grow(void **state) {
  cx_registry_stats st;
  (void)state;
  released = 0;
  cx_log_set_handler(count_history_warning, CX_LOG_DEBUG, NULL);
  cx_registry_set_history_size(10);
  for (int i = 0; i < 3; i++) finish_registered(1); /* not yet joined */
  assert_int_equal(released, 0);
  cx__alloc_fail_after(0, true);
  CX_ASSERT_OK(cx_registry_get_stats(&st)); /* joins them: no ring */
  cx__alloc_fail_after(-1, false);
  assert_int_equal(st.history, 0);
  assert_int_equal(st.completed, 3);
  assert_int_equal(released, 3);
  assert_int_equal(history_warnings, 1);
  for (int i = 0; i < 2; i++) finish_registered(0);
  CX_ASSERT_OK(cx_registry_get_stats(&st));
  assert_int_equal(st.history, 2); /* a ring of 64 now */
  assert_int_equal(history_warnings, 1);
  /* Fill the ring (62 more, watched), then 3 more that need it to grow. */
  cx_registry_set_history_size(100);
  for (int i = 0; i < 62; i++) {
    finish_registered(1);
    if (i % 31 == 30) CX_ASSERT_OK(cx_registry_get_stats(&st));
  }
  CX_ASSERT_OK(cx_registry_get_stats(&st));
  assert_int_equal(st.history, 64);
  for (int i = 0; i < 3; i++) finish_registered(0);
  released = 0;
  cx__alloc_fail_after(0, true);
  CX_ASSERT_OK(cx_registry_get_stats(&st));
  cx__alloc_fail_after(-1, false);
  assert_int_equal(st.history, 64); /* the 2 oldest (unwatched) and 1 */
  assert_int_equal(released, 1);    /* of the watched went */
  assert_int_equal(history_warnings, 2);
  finish_registered(0);
  CX_ASSERT_OK(cx_registry_get_stats(&st));
  assert_int_equal(st.history, 65); /* it grew */
  assert_int_equal(history_warnings, 2);
  cx_log_set_handler(NULL, CX_LOG_DEBUG, NULL);
  cx_registry_set_history_size(1000);
}

/* A log handler that looks the op @user_data names up by id, once (its
 * own lookup may log again). */
static cx_op *found_in_handler;
static int lookups_in_handler;
static void look_up_in_handler(cx_log_level level, const char *op_id,
                               const char *message, void *user_data) {
  (void)level, (void)op_id;
  if (strstr(message, "not findable by id") == NULL || lookups_in_handler++)
    return;
  found_in_handler = cx_registry_find(user_data);
}

/* The index by id cannot index an op: the warning's handler may look ops
 * up (the build's mutex is not held while it runs: a review found it
 * deadlocked), and its lookup, memory being back, builds again and finds
 * the op, as the outer one then does. */
static void test_index_warning_handler_looks_up(void **state) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_op *op = NULL, *found;
  char id[64];
  (void)state;
  cx_registry_clear(); /* the index is off: the next lookup builds it */
  o.register_op = true;
  CX_ASSERT_OK(cx_op_create(&op, &o));
  CX_ASSERT_OK(cx_op_enter(op));
  snprintf(id, sizeof id, "%s", cx_op_id(op));
  found_in_handler = NULL;
  lookups_in_handler = 0;
  cx_log_set_handler(look_up_in_handler, CX_LOG_DEBUG, id);
  alarm(60);                      /* a deadlock ends the test (SIGALRM) */
  cx__alloc_fail_after(0, false); /* the build's first allocation */
  found = cx_registry_find(id);
  alarm(0);
  cx_log_set_handler(NULL, CX_LOG_DEBUG, NULL);
  assert_int_equal(lookups_in_handler, 1);
  assert_ptr_equal(found_in_handler, op);
  assert_ptr_equal(found, op);
  cx_op_unref(found_in_handler);
  cx_op_unref(found);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
  cx_registry_clear();
}

/* Warnings that a registration could not index its op. */
static int unindexed_warnings;
static void count_unindexed(cx_log_level level, const char *op_id,
                            const char *message, void *user_data) {
  (void)level, (void)op_id, (void)user_data;
  if (strstr(message, "listed but not findable") != NULL) unindexed_warnings++;
}

/* A registration that cannot index its op (the index being on): it is
 * listed, a warning says so, and the next lookup, memory being back,
 * builds again and finds it. */
static void test_registration_cannot_index(void **state) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_op *op = NULL, *found;
  cx_op_list live = {0};
  (void)state;
  cx_registry_clear();
  assert_null(cx_registry_find("nobody")); /* the index is on */
  o.register_op = true;
  CX_ASSERT_OK(cx_op_create(&op, &o));
  (void)cx_op_id(op); /* made now: the index's node is what fails */
  unindexed_warnings = 0;
  cx_log_set_handler(count_unindexed, CX_LOG_DEBUG, NULL);
  cx__alloc_fail_after(0, false);
  CX_ASSERT_OK(cx_op_enter(op));
  cx__alloc_fail_after(-1, false);
  cx_log_set_handler(NULL, CX_LOG_DEBUG, NULL);
  assert_int_equal(unindexed_warnings, 1);
  CX_ASSERT_OK(cx_registry_list(NULL, &live));
  assert_int_equal(live.count, 1);
  cx_op_list_free(&live);
  found = cx_registry_find(cx_op_id(op));
  assert_ptr_equal(found, op);
  cx_op_unref(found);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
  cx_registry_clear();
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/oom/json/complete-or-enomem", test_json_complete_or_enomem),
    CX_TEST("/oom/progress/first-kept-report", test_first_kept_report),
    CX_TEST("/oom/registry/history-cannot-grow", test_history_cannot_grow),
    CX_TEST("/oom/registry/registration-cannot-index",
            test_registration_cannot_index),
    CX_TEST("/oom/registry/index-warning-handler-looks-up",
            test_index_warning_handler_looks_up),
};

CX_TEST_MAIN("oom", tests)
