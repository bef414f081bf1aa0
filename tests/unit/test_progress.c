/* tests/unit/test_progress.c - progress reporting, issue #4: several
 * callbacks per op with their user data, in registration order, with the
 * reporter's id, the message and the metadata; reports bubble to every
 * ancestor innermost first (never to siblings or descendants); the standard
 * keys and the rate/eta/percent fill-in from current/total (virtual clock);
 * throttling with the last withheld report delivered at exit; a failing
 * callback is isolated and logged (log handler); reporting with no
 * callbacks anywhere returns 0; a callback registered during a delivery;
 * callbacks run on the reporting thread; destroy notifies; bad input.
 */
#include "cx_test.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cancelable.h>

static cx_op *new_op(const char *name, cx_op *parent) {
  return cx_test_op(name, parent, 0);
}

/* A record of deliveries: who got what. */
#define MAX_EVENTS 64
typedef struct event {
  char tag[16]; /* the callback's user data tag */
  char op_id[64];
  char message[64];
  cx_meta *meta; /* copy */
  pthread_t thread;
} event;

typedef struct journal {
  pthread_mutex_t mu;
  event ev[MAX_EVENTS];
  size_t n;
} journal;

static journal J;

static void journal_reset(void) {
  for (size_t i = 0; i < J.n; i++) cx_meta_free(J.ev[i].meta);
  memset(J.ev, 0, sizeof J.ev);
  J.n = 0;
}

static int journal_setup(void **state) {
  (void)state;
  pthread_mutex_init(&J.mu, NULL);
  J.n = 0;
  return 0;
}

static int journal_teardown(void **state) {
  (void)state;
  journal_reset();
  pthread_mutex_destroy(&J.mu);
  return 0;
}

typedef struct tag {
  const char *name;
  int result; /* what the callback returns */
} tag;

static int record(const char *op_id, const char *message,
                  const cx_meta *metadata, void *user_data) {
  tag *t = user_data;
  assert_non_null(op_id);
  assert_non_null(message);
  assert_non_null(metadata);
  pthread_mutex_lock(&J.mu);
  if (J.n < MAX_EVENTS) {
    event *e = &J.ev[J.n++];
    snprintf(e->tag, sizeof e->tag, "%s", t->name);
    snprintf(e->op_id, sizeof e->op_id, "%s", op_id);
    snprintf(e->message, sizeof e->message, "%s", message);
    e->meta = cx_meta_copy(metadata);
    e->thread = pthread_self();
  }
  pthread_mutex_unlock(&J.mu);
  return t->result;
}

static void assert_tags(const char *const *want, size_t n) {
  if (J.n != n) {
    print_error("%zu deliveries, expected %zu\n", J.n, n);
    for (size_t i = 0; i < J.n; i++)
      print_error("  %s: %s\n", J.ev[i].tag, J.ev[i].message);
    fail();
  }
  for (size_t i = 0; i < n; i++) assert_string_equal(J.ev[i].tag, want[i]);
}

static double meta_double(const cx_meta *m, const char *key) {
  double v = NAN;
  CX_ASSERT_OK(cx_meta_get_double(m, key, &v));
  return v;
}

static void assert_near(double expected, double actual) {
  if (fabs(expected - actual) > 1e-6) {
    print_error("expected %.9f, got %.9f\n", expected, actual);
    fail();
  }
}

/* ---------------------------------------------------------------------- */

static void test_several_callbacks_in_order(void **state) {
  (void)state;
  cx_op *op = new_op("processor", NULL);
  tag ui = {"ui", 0}, logt = {"log", 0}, metrics = {"metrics", 0};
  CX_ASSERT_OK(cx_op_on_progress(op, record, &ui, NULL));
  CX_ASSERT_OK(cx_op_on_progress(op, record, &logt, NULL));
  CX_ASSERT_OK(cx_op_on_progress(op, record, &metrics, NULL));
  CX_ASSERT_OK(cx_op_enter(op));
  cx_meta *m = cx_meta_new();
  CX_ASSERT_OK(cx_meta_set_double(m, CX_PROGRESS_PERCENT, 65.5));
  CX_ASSERT_OK(cx_meta_set_string(m, CX_PROGRESS_PHASE, "processing"));
  CX_ASSERT_OK(cx_report_progress(op, "Processed 655/1000 items", m));
  const char *want[] = {"ui", "log", "metrics"};
  assert_tags(want, 3);
  for (size_t i = 0; i < 3; i++) {
    assert_string_equal(J.ev[i].op_id, cx_op_id(op));
    assert_string_equal(J.ev[i].message, "Processed 655/1000 items");
    assert_near(65.5, meta_double(J.ev[i].meta, CX_PROGRESS_PERCENT));
    const char *phase = NULL;
    CX_ASSERT_OK(cx_meta_get_string(J.ev[i].meta, CX_PROGRESS_PHASE, &phase));
    assert_string_equal(phase, "processing");
    assert_int_equal(cx_meta_count(J.ev[i].meta), 2); /* nothing filled in */
  }
  /* The caller's metadata is not modified. */
  assert_int_equal(cx_meta_count(m), 2);
  cx_meta_free(m);

  /* NULL op: the current one; NULL message and metadata. */
  journal_reset();
  CX_ASSERT_OK(cx_report_progress(NULL, NULL, NULL));
  assert_tags(want, 3);
  assert_string_equal(J.ev[0].message, "");
  assert_int_equal(cx_meta_count(J.ev[0].meta), 0);
  assert_string_equal(J.ev[0].op_id, cx_op_id(op));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
}

static void test_bubbles_innermost_first(void **state) {
  (void)state;
  cx_op *root = new_op("pipeline", NULL);
  cx_op *mid = new_op("step1", root);
  cx_op *leaf = new_op("step1.a", mid);
  cx_op *sib = new_op("step2", root);
  tag troot = {"root", 0}, tmid = {"mid", 0}, tleaf = {"leaf", 0},
      tleaf2 = {"leaf2", 0}, tsib = {"sib", 0};
  CX_ASSERT_OK(cx_op_on_progress(root, record, &troot, NULL));
  CX_ASSERT_OK(cx_op_on_progress(mid, record, &tmid, NULL));
  CX_ASSERT_OK(cx_op_on_progress(leaf, record, &tleaf, NULL));
  CX_ASSERT_OK(cx_op_on_progress(leaf, record, &tleaf2, NULL));
  CX_ASSERT_OK(cx_op_on_progress(sib, record, &tsib, NULL));
  CX_ASSERT_OK(cx_op_enter(root));
  CX_ASSERT_OK(cx_op_enter(mid));
  CX_ASSERT_OK(cx_op_enter(leaf));

  CX_ASSERT_OK(cx_report_progress(NULL, "from leaf", NULL));
  const char *want1[] = {"leaf", "leaf2", "mid", "root"};
  assert_tags(want1, 4);
  for (size_t i = 0; i < 4; i++) {
    assert_string_equal(J.ev[i].op_id, cx_op_id(leaf)); /* the reporter */
    assert_string_equal(J.ev[i].message, "from leaf");
  }

  journal_reset();
  CX_ASSERT_OK(cx_report_progress(mid, "from mid", NULL));
  const char *want2[] = {"mid", "root"}; /* not down to the leaf */
  assert_tags(want2, 2);
  assert_string_equal(J.ev[1].op_id, cx_op_id(mid));

  journal_reset();
  CX_ASSERT_OK(cx_op_exit(leaf, 0));
  CX_ASSERT_OK(cx_op_exit(mid, 0));
  CX_ASSERT_OK(cx_op_enter(sib));
  CX_ASSERT_OK(cx_report_progress(sib, "from sibling", NULL));
  const char *want3[] = {"sib", "root"};
  assert_tags(want3, 2);
  /* A pending op reports as well (with its ancestors). */
  journal_reset();
  cx_op *pending = new_op("pending", sib);
  CX_ASSERT_OK(cx_report_progress(pending, "not entered", NULL));
  assert_tags(want3, 2);
  assert_string_equal(J.ev[0].op_id, cx_op_id(pending));
  cx_op_unref(pending);
  CX_ASSERT_OK(cx_op_exit(sib, 0));
  CX_ASSERT_OK(cx_op_exit(root, 0));
  cx_op_unref(sib);
  cx_op_unref(leaf);
  cx_op_unref(mid);
  cx_op_unref(root);
}

/* rate = current / elapsed, eta = (total - current) / rate, percent. */
static void test_standard_keys_fill_in(void **state) {
  (void)state;
  cx_op *op = new_op("job", NULL);
  tag t = {"t", 0};
  CX_ASSERT_OK(cx_op_on_progress(op, record, &t, NULL));
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_clock_advance(10.0));

  cx_meta *m = cx_meta_new();
  CX_ASSERT_OK(cx_meta_set_int(m, CX_PROGRESS_CURRENT, 50));
  CX_ASSERT_OK(cx_meta_set_int(m, CX_PROGRESS_TOTAL, 200));
  CX_ASSERT_OK(cx_meta_set_string(m, CX_PROGRESS_PHASE, "fetch"));
  CX_ASSERT_OK(cx_report_progress(op, "batch", m));
  assert_int_equal(cx_meta_count(m), 3); /* caller's copy untouched */
  assert_int_equal(J.n, 1);
  const cx_meta *got = J.ev[0].meta;
  assert_near(25.0, meta_double(got, CX_PROGRESS_PERCENT));
  assert_near(5.0, meta_double(got, CX_PROGRESS_RATE));
  assert_near(30.0, meta_double(got, CX_PROGRESS_ETA));
  int64_t v = 0;
  CX_ASSERT_OK(cx_meta_get_int(got, CX_PROGRESS_CURRENT, &v));
  assert_true(v == 50);
  CX_ASSERT_OK(cx_meta_get_int(got, CX_PROGRESS_TOTAL, &v));
  assert_true(v == 200);
  const char *phase = NULL;
  CX_ASSERT_OK(cx_meta_get_string(got, CX_PROGRESS_PHASE, &phase));
  assert_string_equal(phase, "fetch");

  /* Values given by the caller are kept; only missing ones are filled. */
  journal_reset();
  CX_ASSERT_OK(cx_meta_set_double(m, CX_PROGRESS_PERCENT, 99.0));
  CX_ASSERT_OK(cx_report_progress(op, "given percent", m));
  got = J.ev[0].meta;
  assert_near(99.0, meta_double(got, CX_PROGRESS_PERCENT));
  assert_near(5.0, meta_double(got, CX_PROGRESS_RATE));
  assert_near(30.0, meta_double(got, CX_PROGRESS_ETA));

  journal_reset();
  CX_ASSERT_OK(cx_meta_set_double(m, CX_PROGRESS_RATE, 1.0));
  CX_ASSERT_OK(cx_meta_set_double(m, CX_PROGRESS_ETA, 2.0));
  CX_ASSERT_OK(cx_report_progress(op, "all given", m));
  got = J.ev[0].meta;
  assert_int_equal(cx_meta_count(got), 6);
  assert_near(99.0, meta_double(got, CX_PROGRESS_PERCENT));
  assert_near(1.0, meta_double(got, CX_PROGRESS_RATE));
  assert_near(2.0, meta_double(got, CX_PROGRESS_ETA));
  cx_meta_free(m);

  /* current without total: the rate alone (7 items in 10 s). */
  journal_reset();
  m = cx_meta_new();
  CX_ASSERT_OK(cx_meta_set_int(m, CX_PROGRESS_CURRENT, 7));
  CX_ASSERT_OK(cx_report_progress(op, "no total", m));
  got = J.ev[0].meta;
  assert_int_equal(cx_meta_count(got), 2);
  assert_near(0.7, meta_double(got, CX_PROGRESS_RATE));
  assert_int_equal(cx_meta_type_of(got, CX_PROGRESS_PERCENT), CX_META_NONE);
  assert_int_equal(cx_meta_type_of(got, CX_PROGRESS_ETA), CX_META_NONE);
  /* ... and not when given, nor at the very start. */
  journal_reset();
  CX_ASSERT_OK(cx_meta_set_double(m, CX_PROGRESS_RATE, 3.0));
  CX_ASSERT_OK(cx_report_progress(op, "rate given", m));
  assert_near(3.0, meta_double(J.ev[0].meta, CX_PROGRESS_RATE));
  assert_int_equal(cx_meta_count(J.ev[0].meta), 2);
  cx_meta_free(m);

  /* Done: eta 0, percent 100. */
  journal_reset();
  CX_ASSERT_OK(cx_clock_advance(30.0)); /* 40 s elapsed */
  m = cx_meta_new();
  CX_ASSERT_OK(cx_meta_set_int(m, CX_PROGRESS_CURRENT, 200));
  CX_ASSERT_OK(cx_meta_set_int(m, CX_PROGRESS_TOTAL, 200));
  CX_ASSERT_OK(cx_report_progress(op, "done", m));
  got = J.ev[0].meta;
  assert_near(100.0, meta_double(got, CX_PROGRESS_PERCENT));
  assert_near(5.0, meta_double(got, CX_PROGRESS_RATE));
  assert_near(0.0, meta_double(got, CX_PROGRESS_ETA));
  cx_meta_free(m);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
}

static void test_throttling(void **state) {
  (void)state;
  cx_op *root = new_op("ui-root", NULL);
  cx_op *op = new_op("job", root);
  tag t = {"job", 0}, tr = {"root", 0};
  CX_ASSERT_OK(cx_op_on_progress(op, record, &t, NULL));
  CX_ASSERT_OK(cx_op_on_progress(root, record, &tr, NULL));
  CX_ASSERT_OK(cx_op_set_progress_interval(op, 1.0));
  CX_ASSERT_OK(cx_op_enter(root));
  CX_ASSERT_OK(cx_op_enter(op));

  CX_ASSERT_OK(cx_report_progress(op, "r1", NULL)); /* delivered */
  CX_ASSERT_OK(cx_clock_advance(0.2));
  CX_ASSERT_OK(cx_report_progress(op, "r2", NULL)); /* withheld */
  CX_ASSERT_OK(cx_clock_advance(0.2));
  CX_ASSERT_OK(cx_report_progress(op, "r3", NULL)); /* withheld */
  assert_int_equal(J.n, 2);
  assert_string_equal(J.ev[0].message, "r1");
  assert_string_equal(J.ev[1].message, "r1");
  CX_ASSERT_OK(cx_clock_advance(0.7)); /* 1.1 s after r1 */
  CX_ASSERT_OK(cx_report_progress(op, "r4", NULL));
  assert_int_equal(J.n, 4);
  assert_string_equal(J.ev[2].message, "r4");
  CX_ASSERT_OK(cx_clock_advance(0.1));
  cx_meta *m = cx_meta_new();
  CX_ASSERT_OK(cx_meta_set_int(m, "n", 5));
  CX_ASSERT_OK(cx_report_progress(op, "r5", m)); /* withheld: the last */
  cx_meta_free(m);                               /* a copy was kept */
  assert_int_equal(J.n, 4);
  /* Reports of the parent are not throttled by the child's interval. */
  CX_ASSERT_OK(cx_report_progress(root, "root report", NULL));
  assert_int_equal(J.n, 5);
  assert_string_equal(J.ev[4].message, "root report");

  /* The last withheld report is delivered at exit, to the ancestors too. */
  CX_ASSERT_OK(cx_op_exit(op, 0));
  assert_int_equal(J.n, 7);
  assert_string_equal(J.ev[5].tag, "job");
  assert_string_equal(J.ev[5].message, "r5");
  assert_string_equal(J.ev[6].tag, "root");
  assert_string_equal(J.ev[6].message, "r5");
  assert_string_equal(J.ev[6].op_id, cx_op_id(op));
  int64_t n = 0;
  CX_ASSERT_OK(cx_meta_get_int(J.ev[6].meta, "n", &n));
  assert_true(n == 5);
  for (size_t i = 0; i < J.n; i++) {
    assert_string_not_equal(J.ev[i].message, "r2");
    assert_string_not_equal(J.ev[i].message, "r3");
  }
  CX_ASSERT_OK(cx_op_exit(root, 0));
  assert_int_equal(J.n, 7); /* nothing more */
  cx_op_unref(op);
  cx_op_unref(root);
}

/* Withheld then cancelled: the last report still arrives at exit; and
 * interval 0 turns throttling off. */
static void test_throttling_cancel_and_off(void **state) {
  (void)state;
  cx_op *op = new_op("job", NULL);
  tag t = {"job", 0};
  CX_ASSERT_OK(cx_op_on_progress(op, record, &t, NULL));
  CX_ASSERT_OK(cx_op_set_progress_interval(op, 5.0));
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_report_progress(op, "a", NULL));
  CX_ASSERT_OK(cx_report_progress(op, "b", NULL));
  CX_ASSERT_OK(cx_report_progress(op, "c", NULL));
  assert_int_equal(J.n, 1);
  CX_ASSERT_OK(cx_op_set_progress_interval(op, 0));
  CX_ASSERT_OK(cx_report_progress(op, "d", NULL));
  CX_ASSERT_OK(cx_report_progress(op, "e", NULL));
  assert_int_equal(J.n, 3);
  assert_string_equal(J.ev[1].message, "d");
  assert_string_equal(J.ev[2].message, "e");
  CX_ASSERT_OK(cx_op_set_progress_interval(op, 5.0));
  CX_ASSERT_OK(cx_report_progress(op, "f", NULL));
  CX_ASSERT_OK(cx_report_progress(op, "g", NULL));
  cx_op_cancel(op, CX_REASON_MANUAL, NULL);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_string_equal(J.ev[J.n - 1].message, "g");
  /* "f" may or may not have been delivered (the interval restarted). */
  assert_true(J.n == 4 || J.n == 5);
  cx_op_unref(op);

  /* bad intervals */
  op = new_op("x", NULL);
  CX_ASSERT_ERR(-EINVAL, cx_op_set_progress_interval(NULL, 1.0));
  CX_ASSERT_ERR(-EINVAL, cx_op_set_progress_interval(op, -1.0));
  CX_ASSERT_ERR(-EINVAL, cx_op_set_progress_interval(op, NAN));
  CX_ASSERT_ERR(-EINVAL, cx_op_set_progress_interval(op, INFINITY));
  cx_op_unref(op);
}

/* Log capture. */
typedef struct log_capture {
  pthread_mutex_t mu;
  int warnings;
  char op_id[64];
  char message[256];
} log_capture;

static void capture_log(cx_log_level level, const char *op_id,
                        const char *message, void *user_data) {
  log_capture *c = user_data;
  pthread_mutex_lock(&c->mu);
  if (level >= CX_LOG_WARNING) {
    c->warnings++;
    snprintf(c->op_id, sizeof c->op_id, "%s", op_id ? op_id : "");
    snprintf(c->message, sizeof c->message, "%s", message);
  }
  pthread_mutex_unlock(&c->mu);
}

static void test_failing_callback_isolated(void **state) {
  (void)state;
  log_capture cap = {PTHREAD_MUTEX_INITIALIZER, 0, "", ""};
  cx_log_set_handler(capture_log, CX_LOG_DEBUG, &cap);
  cx_op *root = new_op("root", NULL);
  cx_op *op = new_op("job", root);
  tag bad = {"bad", -EIO}, good = {"good", 0}, bad2 = {"bad2", 1},
      up = {"up", 0};
  CX_ASSERT_OK(cx_op_on_progress(op, record, &bad, NULL));
  CX_ASSERT_OK(cx_op_on_progress(op, record, &good, NULL));
  CX_ASSERT_OK(cx_op_on_progress(op, record, &bad2, NULL));
  CX_ASSERT_OK(cx_op_on_progress(root, record, &up, NULL));
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_report_progress(op, "hello", NULL));
  const char *want[] = {"bad", "good", "bad2", "up"};
  assert_tags(want, 4);
  assert_int_equal(cap.warnings, 2);
  assert_string_equal(cap.op_id, cx_op_id(op));
  assert_true(strlen(cap.message) > 0);
  /* Next reports still go to everyone. */
  journal_reset();
  CX_ASSERT_OK(cx_report_progress(op, "again", NULL));
  assert_tags(want, 4);
  assert_int_equal(cap.warnings, 4);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  cx_log_set_handler(NULL, CX_LOG_DEBUG, NULL);
  cx_op_unref(op);
  cx_op_unref(root);
}

static void test_no_callbacks(void **state) {
  (void)state;
  /* No op at all. */
  assert_null(cx_current());
  CX_ASSERT_OK(cx_report_progress(NULL, "nobody", NULL));
  cx_op *root = new_op("root", NULL);
  cx_op *op = new_op("job", root);
  CX_ASSERT_OK(cx_op_enter(op));
  cx_meta *m = cx_meta_new();
  CX_ASSERT_OK(cx_meta_set_int(m, CX_PROGRESS_CURRENT, 1));
  CX_ASSERT_OK(cx_meta_set_int(m, CX_PROGRESS_TOTAL, 10));
  for (int i = 0; i < 100000; i++) {
    int rc = cx_report_progress(NULL, "quiet", m);
    if (rc != 0) CX_ASSERT_OK(rc);
  }
  CX_ASSERT_OK(cx_report_progress(op, NULL, NULL));
  /* A callback elsewhere in the process: still 0 here, nothing delivered. */
  cx_op *other = new_op("other", NULL);
  tag t = {"other", 0};
  CX_ASSERT_OK(cx_op_on_progress(other, record, &t, NULL));
  CX_ASSERT_OK(cx_report_progress(op, "still nobody here", m));
  assert_int_equal(J.n, 0);
  cx_meta_free(m);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(other);
  cx_op_unref(op);
  cx_op_unref(root);
}

/* A callback that registers another one (on its op and on the parent)
 * during the delivery. */
typedef struct adder {
  cx_op *op;
  cx_op *parent;
  int calls;
  tag late;
  tag late_parent;
} adder;

static int add_during(const char *op_id, const char *message,
                      const cx_meta *metadata, void *user_data) {
  adder *a = user_data;
  (void)op_id;
  (void)message;
  (void)metadata;
  if (a->calls++ == 0) {
    CX_ASSERT_OK(cx_op_on_progress(a->op, record, &a->late, NULL));
    CX_ASSERT_OK(cx_op_on_progress(a->parent, record, &a->late_parent, NULL));
  }
  return 0;
}

static size_t count_tag(const char *name) {
  size_t n = 0;
  for (size_t i = 0; i < J.n; i++)
    if (strcmp(J.ev[i].tag, name) == 0) n++;
  return n;
}

static void test_register_during_delivery(void **state) {
  (void)state;
  cx_op *parent = new_op("parent", NULL);
  cx_op *op = new_op("job", parent);
  adder a = {op, parent, 0, {"late", 0}, {"late-parent", 0}};
  CX_ASSERT_OK(cx_op_on_progress(op, add_during, &a, NULL));
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_report_progress(op, "first", NULL));
  assert_int_equal(a.calls, 1);
  size_t late1 = count_tag("late"), latep1 = count_tag("late-parent");
  assert_true(late1 <= 1 && latep1 <= 1);
  CX_ASSERT_OK(cx_report_progress(op, "second", NULL));
  assert_int_equal(a.calls, 2);
  assert_int_equal(count_tag("late"), late1 + 1);
  assert_int_equal(count_tag("late-parent"), latep1 + 1);
  /* Order is still registration order, innermost op first. */
  assert_string_equal(J.ev[J.n - 2].tag, "late");
  assert_string_equal(J.ev[J.n - 1].tag, "late-parent");
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
  cx_op_unref(parent);
}

/* Callbacks run on the reporting thread; several threads report at once. */
typedef struct reporter_arg {
  cx_op *op;
  int n;
} reporter_arg;

static void *reporter(void *p) {
  reporter_arg *r = p;
  for (int i = 0; i < r->n; i++)
    CX_ASSERT_OK(cx_report_progress(r->op, "from thread", NULL));
  return NULL;
}

static atomic_int thread_hits;

static int same_thread(const char *op_id, const char *message,
                       const cx_meta *metadata, void *user_data) {
  (void)op_id;
  (void)metadata;
  (void)message;
  pthread_t *main_thread = user_data;
  if (!pthread_equal(*main_thread, pthread_self()))
    atomic_fetch_add(&thread_hits, 1);
  return 0;
}

static void test_reporting_thread(void **state) {
  (void)state;
  cx_op *op = new_op("job", NULL);
  pthread_t self = pthread_self();
  atomic_store(&thread_hits, 0);
  CX_ASSERT_OK(cx_op_on_progress(op, same_thread, &self, NULL));
  CX_ASSERT_OK(cx_op_enter(op));
  reporter_arg r = {op, 200};
  pthread_t t[2];
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&t[i], NULL, reporter, &r), 0);
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_join(t[i], NULL), 0);
  assert_int_equal(atomic_load(&thread_hits), 400);
  /* From this thread: not counted. */
  CX_ASSERT_OK(cx_report_progress(op, "main", NULL));
  assert_int_equal(atomic_load(&thread_hits), 400);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
}

static atomic_int destroyed;
static void count_destroy(void *p) {
  (void)p;
  atomic_fetch_add(&destroyed, 1);
}

static void test_destroy_and_bad_input(void **state) {
  (void)state;
  atomic_store(&destroyed, 0);
  cx_op *op = new_op("job", NULL);
  tag t = {"t", 0};
  CX_ASSERT_ERR(-EINVAL, cx_op_on_progress(NULL, record, &t, count_destroy));
  CX_ASSERT_ERR(-EINVAL, cx_op_on_progress(op, NULL, &t, count_destroy));
  assert_int_equal(atomic_load(&destroyed), 0);
  CX_ASSERT_OK(cx_op_on_progress(op, record, &t, count_destroy));
  CX_ASSERT_OK(cx_op_on_progress(op, record, NULL, count_destroy));
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  assert_int_equal(atomic_load(&destroyed), 0); /* at free, not at exit */
  /* After exit, reports still reach the callbacks (it is harmless). */
  cx_op_unref(op);
  assert_int_equal(atomic_load(&destroyed), 2);
}

/* A report made inside a shield reaches the enclosing op (its parent for
 * context and progress), even while that op is cancelled. */
static void test_through_shield(void **state) {
  (void)state;
  cx_op *op = new_op("outer", NULL);
  tag t = {"outer", 0};
  CX_ASSERT_OK(cx_op_on_progress(op, record, &t, NULL));
  CX_ASSERT_OK(cx_op_enter(op));
  cx_op *s = NULL;
  CX_ASSERT_OK(cx_shield_begin(&s, NULL, 0));
  cx_op_cancel(op, CX_REASON_MANUAL, NULL);
  CX_ASSERT_OK(cx_report_progress(NULL, "saving state", NULL));
  assert_int_equal(J.n, 1);
  assert_string_equal(J.ev[0].tag, "outer");
  /* reported by the enclosing op, current inside the shield (issue 17) */
  assert_string_equal(J.ev[0].op_id, cx_op_id(op));
  assert_string_equal(J.ev[0].message, "saving state");
  CX_ASSERT_ERR(-ECANCELED, cx_shield_end(s));
  cx_op_unref(s);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
}

/* A report skips the ancestors without callbacks (each op remembers its
 * nearest one): a callback added later to an ancestor in between, or to
 * the reporter itself, is still reached. */
static void test_late_callback_on_ancestor(void **state) {
  (void)state;
  cx_op *root = new_op("root", NULL);
  cx_op *a = new_op("a", root);
  cx_op *b = new_op("b", a);
  cx_op *leaf = new_op("leaf", b);
  tag troot = {"root", 0}, ta = {"a", 0}, tb = {"b", 0}, tleaf = {"leaf", 0};
  CX_ASSERT_OK(cx_op_on_progress(root, record, &troot, NULL));
  CX_ASSERT_OK(cx_report_progress(leaf, "1", NULL));
  const char *want1[] = {"root"};
  assert_tags(want1, 1);
  journal_reset();
  CX_ASSERT_OK(cx_op_on_progress(a, record, &ta, NULL));
  CX_ASSERT_OK(cx_report_progress(leaf, "2", NULL));
  const char *want2[] = {"a", "root"};
  assert_tags(want2, 2);
  journal_reset();
  CX_ASSERT_OK(cx_op_on_progress(b, record, &tb, NULL));
  CX_ASSERT_OK(cx_op_on_progress(leaf, record, &tleaf, NULL));
  CX_ASSERT_OK(cx_report_progress(leaf, "3", NULL));
  const char *want3[] = {"leaf", "b", "a", "root"};
  assert_tags(want3, 4);
  /* a child made after all that */
  journal_reset();
  cx_op *late = new_op("late", leaf);
  CX_ASSERT_OK(cx_report_progress(late, "4", NULL));
  assert_tags(want3, 4);
  cx_op_unref(late);
  cx_op_unref(leaf);
  cx_op_unref(b);
  cx_op_unref(a);
  cx_op_unref(root);
}

/* A chain 4000 deep: the report reaches the root's callback once, and one
 * added half-way down before it. */
enum { DEEP = 4000 };
static void test_deep_chain(void **state) {
  (void)state;
  cx_op **chain = calloc(DEEP + 1, sizeof *chain);
  tag troot = {"root", 0}, thalf = {"half", 0};
  assert_non_null(chain);
  chain[0] = new_op("root", NULL);
  CX_ASSERT_OK(cx_op_on_progress(chain[0], record, &troot, NULL));
  for (int i = 1; i <= DEEP; i++) chain[i] = new_op("level", chain[i - 1]);
  for (int round = 0; round < 3; round++) {
    journal_reset();
    CX_ASSERT_OK(cx_report_progress(chain[DEEP], "deep", NULL));
    const char *want[] = {"root"};
    assert_tags(want, 1);
  }
  CX_ASSERT_OK(cx_op_on_progress(chain[DEEP / 2], record, &thalf, NULL));
  journal_reset();
  CX_ASSERT_OK(cx_report_progress(chain[DEEP], "deep", NULL));
  const char *want2[] = {"half", "root"};
  assert_tags(want2, 2);
  for (int i = DEEP; i >= 0; i--) cx_op_unref(chain[i]);
  free(chain);
}

/* Reporters on several threads while callbacks are added up the chain:
 * no race (TSan), and once the adding is over, a report reaches every
 * callback. */
enum { RACE_DEPTH = 64, RACE_THREADS = 3, RACE_ADDS = 16 };
typedef struct race {
  cx_op *chain[RACE_DEPTH];
  atomic_bool stop;
  atomic_long calls[RACE_ADDS];
} race;

static int count_call(const char *op_id, const char *message,
                      const cx_meta *metadata, void *user_data) {
  (void)op_id;
  (void)message;
  (void)metadata;
  atomic_fetch_add((atomic_long *)user_data, 1);
  return 0;
}

static void *race_reporter(void *p) {
  race *r = p;
  while (!atomic_load(&r->stop))
    cx_report_progress(r->chain[RACE_DEPTH - 1], "r", NULL);
  return NULL;
}

static void test_callbacks_added_while_reporting(void **state) {
  (void)state;
  race *r = calloc(1, sizeof *r);
  pthread_t th[RACE_THREADS];
  assert_non_null(r);
  r->chain[0] = new_op("root", NULL);
  for (int i = 1; i < RACE_DEPTH; i++)
    r->chain[i] = new_op("level", r->chain[i - 1]);
  for (int i = 0; i < RACE_THREADS; i++)
    assert_int_equal(pthread_create(&th[i], NULL, race_reporter, r), 0);
  for (int k = 0; k < RACE_ADDS; k++) {
    CX_ASSERT_OK(cx_op_on_progress(r->chain[(k * 7) % (RACE_DEPTH - 1)],
                                   count_call, &r->calls[k], NULL));
    cx_test_sleep(0.001);
  }
  atomic_store(&r->stop, true);
  for (int i = 0; i < RACE_THREADS; i++) pthread_join(th[i], NULL);
  long before[RACE_ADDS];
  for (int k = 0; k < RACE_ADDS; k++) before[k] = atomic_load(&r->calls[k]);
  CX_ASSERT_OK(cx_report_progress(r->chain[RACE_DEPTH - 1], "last", NULL));
  for (int k = 0; k < RACE_ADDS; k++)
    assert_int_equal(atomic_load(&r->calls[k]), before[k] + 1);
  for (int i = RACE_DEPTH - 1; i >= 0; i--) cx_op_unref(r->chain[i]);
  free(r);
}

/* Issue 12: a double current and total give percent, rate and eta as
 * integers do (they used to give none of the three). */
static void test_double_current_fill_in(void **state) {
  (void)state;
  cx_op *op = new_op("bytes", NULL);
  tag t = {"t", 0};
  cx_meta *m = cx_meta_new();
  const cx_meta *got;
  CX_ASSERT_OK(cx_op_on_progress(op, record, &t, NULL));
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_clock_advance(10.0));
  CX_ASSERT_OK(cx_meta_set_double(m, CX_PROGRESS_CURRENT, 2.5));
  CX_ASSERT_OK(cx_meta_set_double(m, CX_PROGRESS_TOTAL, 10.0));
  CX_ASSERT_OK(cx_report_progress(op, "MB", m));
  assert_int_equal(J.n, 1);
  got = J.ev[0].meta;
  assert_near(25.0, meta_double(got, CX_PROGRESS_PERCENT));
  assert_near(0.25, meta_double(got, CX_PROGRESS_RATE));
  assert_near(30.0, meta_double(got, CX_PROGRESS_ETA));
  /* a double current with an integer total, and the other way round */
  journal_reset();
  CX_ASSERT_OK(cx_meta_set_int(m, CX_PROGRESS_TOTAL, 10));
  CX_ASSERT_OK(cx_report_progress(op, "mixed", m));
  assert_near(25.0, meta_double(J.ev[0].meta, CX_PROGRESS_PERCENT));
  journal_reset();
  CX_ASSERT_OK(cx_meta_set_int(m, CX_PROGRESS_CURRENT, 5));
  CX_ASSERT_OK(cx_meta_set_double(m, CX_PROGRESS_TOTAL, 20.0));
  CX_ASSERT_OK(cx_report_progress(op, "mixed", m));
  assert_near(25.0, meta_double(J.ev[0].meta, CX_PROGRESS_PERCENT));
  assert_near(0.5, meta_double(J.ev[0].meta, CX_PROGRESS_RATE));
  assert_near(30.0, meta_double(J.ev[0].meta, CX_PROGRESS_ETA));
  /* a NaN current is ignored: nothing filled in */
  journal_reset();
  CX_ASSERT_OK(cx_meta_set_double(m, CX_PROGRESS_CURRENT, NAN));
  CX_ASSERT_OK(cx_report_progress(op, "nan", m));
  assert_int_equal(cx_meta_count(J.ev[0].meta), 2);
  cx_meta_free(m);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
}

/* Issue 12: cx_op_progress() is the long form in one call: the same keys
 * (whole numbers as integers), delivered to the op's callbacks and bubbled
 * to its ancestors'; doubles give percent, rate and eta. */
static void test_one_call(void **state) {
  (void)state;
  cx_op *root = new_op("root", NULL);
  cx_op *op = new_op("leaf", root);
  tag up = {"up", 0}, own = {"own", 0};
  const char *phase = NULL;
  int64_t v = 0;
  CX_ASSERT_OK(cx_op_on_progress(root, record, &up, NULL));
  CX_ASSERT_OK(cx_op_on_progress(op, record, &own, NULL));
  CX_ASSERT_OK(cx_op_enter(root));
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_clock_advance(10.0));
  CX_ASSERT_OK(cx_op_progress(op, "batch", 50, 200));
  assert_tags((const char *const[]){"own", "up"}, 2);
  for (size_t i = 0; i < 2; i++) {
    const cx_meta *got = J.ev[i].meta;
    assert_string_equal(J.ev[i].message, "batch");
    assert_string_equal(J.ev[i].op_id, cx_op_id(op));
    CX_ASSERT_OK(cx_meta_get_int(got, CX_PROGRESS_CURRENT, &v));
    assert_true(v == 50);
    CX_ASSERT_OK(cx_meta_get_int(got, CX_PROGRESS_TOTAL, &v));
    assert_true(v == 200);
    assert_near(25.0, meta_double(got, CX_PROGRESS_PERCENT));
    assert_near(5.0, meta_double(got, CX_PROGRESS_RATE));
    assert_near(30.0, meta_double(got, CX_PROGRESS_ETA));
    assert_int_equal(cx_meta_count(got), 5);
  }
  /* doubles, a phase, and NULL for the current op */
  journal_reset();
  CX_ASSERT_OK(cx_op_progress_phase(NULL, "download", 2.5, 10.0, "fetch"));
  assert_tags((const char *const[]){"own", "up"}, 2);
  assert_near(2.5, meta_double(J.ev[0].meta, CX_PROGRESS_CURRENT));
  assert_near(25.0, meta_double(J.ev[0].meta, CX_PROGRESS_PERCENT));
  assert_near(0.25, meta_double(J.ev[0].meta, CX_PROGRESS_RATE));
  assert_near(30.0, meta_double(J.ev[0].meta, CX_PROGRESS_ETA));
  CX_ASSERT_OK(cx_meta_get_string(J.ev[1].meta, CX_PROGRESS_PHASE, &phase));
  assert_string_equal(phase, "fetch");
  /* total 0: unknown, the rate alone */
  journal_reset();
  CX_ASSERT_OK(cx_op_progress(op, NULL, 7, 0));
  assert_string_equal(J.ev[0].message, "");
  assert_int_equal(cx_meta_count(J.ev[0].meta), 2);
  assert_near(0.7, meta_double(J.ev[0].meta, CX_PROGRESS_RATE));
  /* bad input: -EINVAL, nothing delivered */
  journal_reset();
  CX_ASSERT_ERR(-EINVAL, cx_op_progress(op, "x", NAN, 1));
  CX_ASSERT_ERR(-EINVAL, cx_op_progress(op, "x", -1, 1));
  CX_ASSERT_ERR(-EINVAL, cx_op_progress(op, "x", 1, INFINITY));
  CX_ASSERT_ERR(-EINVAL, cx_op_progress_phase(op, "x", 1, -2, "p"));
  assert_int_equal(J.n, 0);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  CX_ASSERT_OK(cx_op_exit(root, 0));
  cx_op_unref(op);
  cx_op_unref(root);
}

#define JT(path, fn) \
  { (path), (fn), journal_setup, journal_teardown, NULL }

static int vj_setup(void **state) {
  return journal_setup(state) || cx_test_vclock_setup(state);
}
static int vj_teardown(void **state) {
  cx_test_vclock_teardown(state);
  return journal_teardown(state);
}
#define VJT(path, fn) \
  { (path), (fn), vj_setup, vj_teardown, NULL }

static const struct CMUnitTest tests[] = {
    JT("/tree/progress/callbacks-in-order", test_several_callbacks_in_order),
    JT("/tree/progress/bubbles-innermost-first", test_bubbles_innermost_first),
    VJT("/tree/progress/standard-keys-fill-in", test_standard_keys_fill_in),
    VJT("/tree/progress/double-current-fill-in", test_double_current_fill_in),
    VJT("/tree/progress/one-call", test_one_call),
    VJT("/tree/progress/throttling", test_throttling),
    VJT("/tree/progress/throttling-cancel-and-off",
        test_throttling_cancel_and_off),
    JT("/tree/progress/failing-callback-isolated",
       test_failing_callback_isolated),
    JT("/tree/progress/no-callbacks", test_no_callbacks),
    JT("/tree/progress/register-during-delivery",
       test_register_during_delivery),
    JT("/tree/progress/reporting-thread", test_reporting_thread),
    JT("/tree/progress/destroy-and-bad-input", test_destroy_and_bad_input),
    JT("/tree/progress/through-shield", test_through_shield),
    JT("/tree/progress/late-callback-on-ancestor",
       test_late_callback_on_ancestor),
    JT("/tree/progress/deep-chain", test_deep_chain),
    JT("/tree/progress/callbacks-added-while-reporting",
       test_callbacks_added_while_reporting),
};

CX_TEST_MAIN("tree/progress", tests)
