/* tests/unit/test_forgotten_exit.c - a forgotten cx_op_exit(), issue #17
 * item 10: when the last reference but the enter's of a RUNNING op goes
 * on the thread that entered it while it is that thread's innermost op
 * (or an exit uncovers it later), one warning naming the op (id and name)
 * reaches the log handler and the op is ended as by
 * cx_op_exit(op, -EOWNERDEAD): popped, out of the registry's live table,
 * its status callbacks run; later cancellation points given NULL on that
 * thread are no longer poisoned by its cancel.  While another reference
 * remains nothing happens; a clean life logs nothing.
 */
#include "cx_test.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <cancelable.h>

/* What the log handler saw. */
typedef struct captured {
  int count;
  char op_id[CX_ID_LEN + 1];
  char message[256];
} captured;

static captured cap;

static void capture(cx_log_level level, const char *op_id, const char *message,
                    void *user_data) {
  (void)user_data;
  if (level != CX_LOG_WARNING) return;
  cap.count++;
  snprintf(cap.op_id, sizeof cap.op_id, "%s", op_id != NULL ? op_id : "");
  snprintf(cap.message, sizeof cap.message, "%s", message);
}

static void start_capture(void) {
  memset(&cap, 0, sizeof cap);
  cx_log_set_handler(capture, CX_LOG_WARNING, NULL);
}

static void stop_capture(void) {
  cx_log_set_handler(NULL, CX_LOG_WARNING, NULL);
}

static void count_event(cx_op *op, void *user_data) {
  (void)op;
  ++*(int *)user_data;
}

/* A registered op named @name, entered, with its id copied to @id and
 * its CANCEL and ERROR callbacks counting into @ends. */
static cx_op *entered(const char *name, char *id, int *ends) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_op *op = NULL;
  o.name = name;
  o.register_op = true;
  CX_ASSERT_OK(cx_op_create(&op, &o));
  CX_ASSERT_OK(cx_op_on(op, CX_OP_ON_CANCEL, count_event, ends, NULL));
  CX_ASSERT_OK(cx_op_on(op, CX_OP_ON_ERROR, count_event, ends, NULL));
  CX_ASSERT_OK(cx_op_enter(op));
  snprintf(id, CX_ID_LEN + 1, "%s", cx_op_id(op));
  return op;
}

/* The final status and error of the registry's history entry for @id. */
static void check_ended(const char *id, cx_status status, int error) {
  cx_op *op = cx_registry_find(id);
  assert_non_null(op);
  assert_int_equal(cx_op_status(op), status);
  assert_int_equal(cx_op_error(op), error);
  cx_op_unref(op);
}

/* The reported case: a cancelled op left entered made every later
 * cx_sleep(NULL, ...) of the thread return -ECANCELED. */
static void test_unref_cancelled(void **state) {
  (void)state;
  char id[CX_ID_LEN + 1];
  int ends = 0;
  cx_registry_clear();
  start_capture();
  cx_op *op = entered("forgot-me", id, &ends);
  assert_true(cx_op_cancel(op, CX_REASON_MANUAL, "stop"));
  CX_ASSERT_ERR(-ECANCELED, cx_sleep(NULL, 0.001));
  cx_op_unref(op); /* no cx_op_exit() */
  assert_int_equal(cap.count, 1);
  assert_string_equal(cap.op_id, id);
  assert_non_null(strstr(cap.message, "'forgot-me'"));
  assert_non_null(strstr(cap.message, "cx_op_exit()"));
  assert_non_null(strstr(cap.message, "cancelled"));
  assert_int_equal(ends, 1);
  assert_null(cx_current());
  CX_ASSERT_OK(cx_sleep(NULL, 0.001)); /* not poisoned */
  CX_ASSERT_OK(cx_check(NULL));
  check_ended(id, CX_STATUS_CANCELLED, 0);
  assert_int_equal(cap.count, 1);
  stop_capture();
}

static void test_unref_running(void **state) {
  (void)state;
  char id[CX_ID_LEN + 1];
  int ends = 0;
  cx_registry_clear();
  start_capture();
  cx_op *op = entered("uncancelled", id, &ends);
  cx_op_unref(op);
  assert_int_equal(cap.count, 1);
  assert_string_equal(cap.op_id, id);
  assert_non_null(strstr(cap.message, "'uncancelled'"));
  assert_non_null(strstr(cap.message, "EOWNERDEAD"));
  assert_int_equal(ends, 1);
  assert_null(cx_current());
  check_ended(id, CX_STATUS_FAILED, -EOWNERDEAD);
  cx_op_list l = {0};
  CX_ASSERT_OK(cx_registry_list(NULL, &l));
  assert_int_equal(l.count, 0); /* out of the live table */
  cx_op_list_free(&l);
  stop_capture();
}

/* An op forgotten under another is ended when the inner one's exit makes
 * it the innermost. */
static void test_nested_uncovered(void **state) {
  (void)state;
  char outer_id[CX_ID_LEN + 1], inner_id[CX_ID_LEN + 1];
  int outer_ends = 0, inner_ends = 0;
  cx_registry_clear();
  start_capture();
  cx_op *outer = entered("outer", outer_id, &outer_ends);
  cx_op *inner = entered("inner", inner_id, &inner_ends);
  cx_op_unref(outer); /* not the innermost: cannot be ended yet */
  assert_int_equal(cap.count, 0);
  assert_ptr_equal(cx_current(), inner);
  CX_ASSERT_OK(cx_op_exit(inner, 0));
  assert_int_equal(cap.count, 1);
  assert_string_equal(cap.op_id, outer_id);
  assert_non_null(strstr(cap.message, "'outer'"));
  assert_int_equal(outer_ends, 1);
  assert_int_equal(inner_ends, 0); /* it completed */
  assert_null(cx_current());
  check_ended(outer_id, CX_STATUS_FAILED, -EOWNERDEAD);
  cx_op_unref(inner);
  assert_int_equal(cap.count, 1);
  stop_capture();
}

/* Another reference keeps the op exitable: nothing is said until the
 * last one but the enter's goes. */
static void test_other_reference(void **state) {
  (void)state;
  char id[CX_ID_LEN + 1];
  int ends = 0;
  cx_registry_clear();
  start_capture();
  cx_op *op = entered("shared", id, &ends);
  cx_op *other = cx_op_ref(op);
  cx_op_unref(op);
  assert_int_equal(cap.count, 0);
  assert_ptr_equal(cx_current(), other);
  cx_op_unref(other);
  assert_int_equal(cap.count, 1);
  assert_string_equal(cap.op_id, id);
  assert_null(cx_current());
  stop_capture();
}

/* A clean life, nested ops and a release after exit log nothing. */
static void test_clean_is_silent(void **state) {
  (void)state;
  char id[CX_ID_LEN + 1];
  int ends = 0;
  cx_registry_clear();
  start_capture();
  cx_op *a = entered("a", id, &ends);
  cx_op *b = entered("b", id, &ends);
  CX_ASSERT_OK(cx_op_exit(b, 0));
  cx_op_unref(b);
  CX_ASSERT_OK(cx_op_exit(a, -EIO));
  cx_op_unref(a);
  assert_int_equal(cap.count, 0);
  assert_int_equal(ends, 1); /* a's error */
  stop_capture();
}

/* A custom source that holds a reference to its op and drops it in its
 * stop(), which runs inside the op's exit: that drop leaves only the
 * enter's reference while the op is still RUNNING on top of the stack.
 * The exit under way must not be taken for a forgotten one (a second exit
 * inside the first freed the op under it). */
static cx_op *held_by_source;

static int holder_start(cx_source *src, void *user_data) {
  (void)src;
  (void)user_data;
  return 0;
}

static void holder_stop(cx_source *src, void *user_data) {
  cx_op *op = held_by_source;
  (void)src;
  (void)user_data;
  held_by_source = NULL;
  cx_op_unref(op);
}

static void *abandon_with_holder(void *arg) {
  static const cx_source_ops ops = {sizeof(cx_source_ops), holder_start,
                                    holder_stop, NULL};
  int *ends = arg;
  cx_op *op = NULL;
  cx_source *src = NULL;
  CX_ASSERT_OK(cx_op_create(&op, NULL));
  CX_ASSERT_OK(cx_source_new(&src, &ops, NULL, CX_REASON_MANUAL, "holder"));
  CX_ASSERT_OK(cx_op_add_source(op, src));
  for (int e = CX_OP_ON_COMPLETE; e <= CX_OP_ON_ERROR; e++)
    CX_ASSERT_OK(cx_op_on(op, (cx_op_event)e, count_event, &ends[e], NULL));
  held_by_source = cx_op_ref(op);
  CX_ASSERT_OK(cx_op_enter(op));
  cx_op_unref(op); /* the source's and the enter's remain: not detected */
  return NULL;     /* the thread's end exits it; stop() drops the source's */
}

static void test_reference_dropped_during_exit(void **state) {
  int ends[CX_OP_ON_ERROR + 1] = {0};
  pthread_t t;
  (void)state;
  start_capture();
  assert_int_equal(pthread_create(&t, NULL, abandon_with_holder, ends), 0);
  assert_true(cx_test_join_within(t, 30.0, NULL)); /* it hung */
  stop_capture();
  assert_null(held_by_source);
  /* Ended once, as failed (EOWNERDEAD): each status callback at most once. */
  assert_int_equal(ends[CX_OP_ON_COMPLETE], 0);
  assert_int_equal(ends[CX_OP_ON_CANCEL], 0);
  assert_int_equal(ends[CX_OP_ON_ERROR], 1);
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/forgotten-exit/unref-cancelled", test_unref_cancelled),
    CX_TEST("/forgotten-exit/unref-running", test_unref_running),
    CX_TEST("/forgotten-exit/nested-uncovered", test_nested_uncovered),
    CX_TEST("/forgotten-exit/other-reference", test_other_reference),
    CX_TEST("/forgotten-exit/clean-is-silent", test_clean_is_silent),
    CX_TEST("/forgotten-exit/reference-dropped-during-exit",
            test_reference_dropped_during_exit),
};

CX_TEST_MAIN("forgotten-exit", tests)
