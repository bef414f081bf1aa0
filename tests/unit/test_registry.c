/* tests/unit/test_registry.c - the operation registry, issue #6: ops
 * register on enter when their options ask (or when
 * cx_registry_set_default(true) makes it the default), leave the live table
 * on exit and enter the history; every query and filter (by id, name,
 * status, parent, glob pattern, children, history newest first with a
 * limit); cancel by id (1 / 0 / -ENOENT) and cancel_all by filter and
 * pattern returning counts; statistics after completed, cancelled and
 * failed ops; history bounds (set_history_size) and prune by age and by
 * count; clear; returned lists are snapshots the caller owns.  (The JSON
 * export is tested elsewhere.)  The registry is process-wide: every test
 * starts with cx_registry_clear().
 */
#include "cx_test.h"
#include "cx_test_registry.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <cancelable.h>

/* ---------------------------------------------------------------------- */
/* helpers */

static cx_op *make_op(const char *name, cx_op *parent, bool reg) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_op *op = NULL;
  o.name = name;
  o.parent = parent;
  o.register_op = reg;
  CX_ASSERT_OK(cx_op_create(&op, &o));
  return op;
}

static cx_op *reg_op(const char *name, cx_op *parent) {
  cx_op *op = make_op(name, parent, true);
  CX_ASSERT_OK(cx_op_enter(op));
  return op;
}

/* Exits @op with @result and drops the caller's reference. */
static void finish(cx_op *op, int result) {
  CX_ASSERT_OK(cx_op_exit(op, result));
  cx_op_unref(op);
}

static bool list_has(const cx_op_list *l, const cx_op *op) {
  for (size_t i = 0; i < l->count; i++)
    if (l->ops[i] == op) return true;
  return false;
}

static size_t live_count(void) {
  cx_registry_stats st;
  CX_ASSERT_OK(cx_registry_get_stats(&st));
  return st.live;
}

static void setup(void) {
  cx_registry_clear();
  cx_registry_set_default(false);
  cx_registry_set_history_size(1000);
}

/* ---------------------------------------------------------------------- */
/* registration */

static void test_register_option(void **state) {
  (void)state;
  setup();
  cx_op *yes = make_op("listed", NULL, true);
  cx_op *no = make_op("unlisted", NULL, false);
  /* Not before enter. */
  assert_null(cx_registry_find(cx_op_id(yes)));
  assert_int_equal(live_count(), 0);
  CX_ASSERT_OK(cx_op_enter(yes));
  CX_ASSERT_OK(cx_op_enter(no));
  cx_op *f = cx_registry_find(cx_op_id(yes));
  assert_ptr_equal(f, yes);
  cx_op_unref(f);
  assert_null(cx_registry_find(cx_op_id(no)));
  assert_int_equal(live_count(), 1);
  cx_op_list l = {0};
  CX_ASSERT_OK(cx_registry_list(NULL, &l));
  assert_true(list_has(&l, yes));
  assert_false(list_has(&l, no));
  cx_op_list_free(&l);
  finish(no, 0);
  finish(yes, 0);
  assert_int_equal(live_count(), 0);
}

static int found_fn(cx_op *op, void *p) {
  cx_op *f = cx_registry_find(cx_op_id(op));
  *(int *)p = f == op;
  cx_op_unref(f);
  return 0;
}

static void test_register_default(void **state) {
  (void)state;
  char buf[256];
  setup();
  cx_registry_set_default(true);
  cx_op *a = make_op("by-default", NULL, false);
  CX_ASSERT_OK(cx_op_enter(a));
  cx_registry_set_default(false);
  cx_op *b = make_op("not-by-default", NULL, false);
  CX_ASSERT_OK(cx_op_enter(b));
  cx_op *c = reg_op("asked", NULL);
  assert_string_equal(cx_test_live_names(NULL, buf, sizeof buf),
                      "by-default,asked");
  finish(c, 0);
  finish(b, 0);
  finish(a, 0);
  /* Helpers' ops follow the default too. */
  cx_registry_set_default(true);
  cx_op *r = NULL;
  cx_run_options ro = CX_RUN_OPTIONS_INIT;
  ro.name = "run-default";
  int found = 0;
  CX_ASSERT_OK(cx_run(&ro, found_fn, &found, &r));
  cx_registry_set_default(false);
  assert_int_equal(found, 1);
  cx_op_unref(r);
  assert_string_equal(cx_test_history_names(NULL, 0, buf, sizeof buf),
                      "run-default,by-default,asked");
}

/* Exit: the live table is left, the history keeps the final context. */
static void test_exit_moves_to_history(void **state) {
  (void)state;
  cx_op_list l = {0};
  setup();
  cx_op *op = reg_op("job", NULL);
  char id[CX_ID_LEN + 1];
  snprintf(id, sizeof id, "%s", cx_op_id(op));
  CX_ASSERT_OK(cx_registry_history(NULL, 0, &l));
  assert_int_equal(l.count, 0);
  cx_op_list_free(&l);
  cx_op_cancel(op, CX_REASON_TIMEOUT, "too slow");
  finish(op, -ECANCELED); /* the registry's reference remains */
  CX_ASSERT_OK(cx_registry_list(NULL, &l));
  assert_int_equal(l.count, 0);
  cx_op_list_free(&l);
  CX_ASSERT_OK(cx_registry_history(NULL, 0, &l));
  assert_int_equal(l.count, 1);
  cx_op *h = l.ops[0];
  assert_string_equal(cx_op_id(h), id);
  assert_string_equal(cx_op_name(h), "job");
  assert_int_equal(cx_op_status(h), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(h), CX_REASON_TIMEOUT);
  assert_string_equal(cx_op_cancel_message(h), "too slow");
  assert_true(cx_op_end_time(h) >= cx_op_start_time(h));
  cx_op_list_free(&l);
  /* Finished ops are still found by id. */
  cx_op *f = cx_registry_find(id);
  assert_non_null(f);
  assert_int_equal(cx_op_status(f), CX_STATUS_CANCELLED);
  cx_op_unref(f);
}

/* ---------------------------------------------------------------------- */
/* queries */

static void test_find(void **state) {
  (void)state;
  setup();
  cx_op *a = reg_op("a", NULL);
  cx_op *b = reg_op("b", NULL);
  cx_op *f = cx_registry_find(cx_op_id(b));
  assert_ptr_equal(f, b);
  cx_op_unref(f);
  assert_null(cx_registry_find(NULL));
  assert_null(cx_registry_find("no-such-id"));
  assert_null(cx_registry_find(""));
  finish(b, 0);
  finish(a, 0);
}

/* An explicit id is found as such. */
static void test_find_explicit_id(void **state) {
  (void)state;
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_op *op = NULL;
  setup();
  o.id = "import-2024-06";
  o.name = "import";
  o.register_op = true;
  CX_ASSERT_OK(cx_op_create(&op, &o));
  CX_ASSERT_OK(cx_op_enter(op));
  cx_op *f = cx_registry_find("import-2024-06");
  assert_ptr_equal(f, op);
  cx_op_unref(f);
  assert_int_equal(cx_registry_cancel("import-2024-06", CX_REASON_MANUAL, NULL),
                   1);
  finish(op, -ECANCELED);
}

/* Duplicate explicit ids: a lookup finds the oldest live op with the id
 * (the others are listed), else the one that finished last; a live op
 * before a finished one.  Ids made before enter, and those made by the
 * first lookup, are found too. */
static void test_find_explicit_duplicates(void **state) {
  (void)state;
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_op *first = NULL, *second = NULL, *third = NULL, *f;
  cx_op_list l = {0};
  setup();
  o.id = "nightly";
  o.register_op = true;
  CX_ASSERT_OK(cx_op_create(&first, &o));
  CX_ASSERT_OK(cx_op_create(&second, &o));
  CX_ASSERT_OK(cx_op_enter(first));
  CX_ASSERT_OK(cx_op_enter(second));
  f = cx_registry_find("nightly");
  assert_ptr_equal(f, first);
  cx_op_unref(f);
  CX_ASSERT_OK(cx_registry_list(NULL, &l));
  assert_true(list_has(&l, first) && list_has(&l, second));
  cx_op_list_free(&l);
  finish(second, 0);
  f = cx_registry_find("nightly"); /* still the live one */
  assert_ptr_equal(f, first);
  cx_op_unref(f);
  finish(first, 0); /* into the history, findable there */
  f = cx_registry_find("nightly");
  assert_ptr_equal(f, first);
  cx_op_unref(f);
  CX_ASSERT_OK(cx_op_create(&third, &o));
  CX_ASSERT_OK(cx_op_enter(third));
  f = cx_registry_find("nightly");
  assert_ptr_equal(f, third);
  cx_op_unref(f);
  finish(third, 0);
  /* an id made before enter is found too */
  cx_op *early = make_op("early", NULL, true);
  char id[64];
  snprintf(id, sizeof id, "%s", cx_op_id(early));
  CX_ASSERT_OK(cx_op_enter(early));
  f = cx_registry_find(id);
  assert_ptr_equal(f, early);
  cx_op_unref(f);
  finish(early, 0);
  /* and a fresh one made at enter */
  cx_op *fresh = reg_op("fresh", NULL);
  f = cx_registry_find(cx_op_id(fresh));
  assert_ptr_equal(f, fresh);
  cx_op_unref(f);
  finish(fresh, 0);
}

static void test_list_all_oldest_first(void **state) {
  (void)state;
  char buf[256];
  setup();
  cx_op *a = reg_op("first", NULL);
  cx_op *b = reg_op("second", NULL);
  cx_op *c = reg_op("third", NULL);
  assert_string_equal(cx_test_live_names(NULL, buf, sizeof buf),
                      "first,second,third");
  cx_op_filter any = CX_OP_FILTER_INIT;
  assert_string_equal(cx_test_live_names(&any, buf, sizeof buf),
                      "first,second,third");
  finish(c, 0);
  assert_string_equal(cx_test_live_names(NULL, buf, sizeof buf),
                      "first,second");
  finish(b, 0);
  finish(a, 0);
  assert_string_equal(cx_test_live_names(NULL, buf, sizeof buf), "");
}

static void test_list_by_name(void **state) {
  (void)state;
  char buf[256];
  cx_op_filter f = CX_OP_FILTER_INIT;
  setup();
  cx_op *a = reg_op("fetch", NULL);
  cx_op *b = reg_op("parse", NULL);
  cx_op *c = reg_op("fetch", NULL);
  cx_op *d = reg_op("fetch-more", NULL);
  f.name = "fetch";
  cx_op_list l = {0};
  CX_ASSERT_OK(cx_registry_list(&f, &l));
  assert_int_equal(l.count, 2);
  assert_ptr_equal(l.ops[0], a);
  assert_ptr_equal(l.ops[1], c);
  cx_op_list_free(&l);
  f.name = "nothing";
  assert_string_equal(cx_test_live_names(&f, buf, sizeof buf), "");
  finish(d, 0);
  finish(c, 0);
  finish(b, 0);
  finish(a, 0);
}

static void test_list_by_status(void **state) {
  (void)state;
  char buf[256];
  cx_op_filter f = CX_OP_FILTER_INIT;
  setup();
  cx_op *a = reg_op("a", NULL);
  cx_op *b = reg_op("b", NULL);
  f.status = CX_STATUS_RUNNING;
  assert_string_equal(cx_test_live_names(&f, buf, sizeof buf), "a,b");
  f.status = CX_STATUS_COMPLETED;
  assert_string_equal(cx_test_live_names(&f, buf, sizeof buf), "");
  finish(b, -EIO);
  finish(a, 0);
  /* The history by status. */
  cx_op *c = reg_op("c", NULL);
  cx_op_cancel(c, CX_REASON_MANUAL, NULL);
  finish(c, -ECANCELED);
  f.status = CX_STATUS_COMPLETED;
  assert_string_equal(cx_test_history_names(&f, 0, buf, sizeof buf), "a");
  f.status = CX_STATUS_FAILED;
  assert_string_equal(cx_test_history_names(&f, 0, buf, sizeof buf), "b");
  f.status = CX_STATUS_CANCELLED;
  assert_string_equal(cx_test_history_names(&f, 0, buf, sizeof buf), "c");
  f.status = CX_STATUS_RUNNING;
  assert_string_equal(cx_test_history_names(&f, 0, buf, sizeof buf), "");
  f.status = -1;
  assert_string_equal(cx_test_history_names(&f, 0, buf, sizeof buf), "c,a,b");
}

static void test_list_by_parent_and_children(void **state) {
  (void)state;
  char buf[256];
  cx_op_filter f = CX_OP_FILTER_INIT;
  cx_op_list l = {0};
  setup();
  cx_op *root = reg_op("root", NULL);
  cx_op *c1 = make_op("child-1", root, true);
  cx_op *c2 = make_op("child-2", root, true);
  cx_op *other = reg_op("other", NULL);
  CX_ASSERT_OK(cx_op_enter(c1));
  cx_op *g = reg_op("grandchild", c1);
  CX_ASSERT_OK(cx_registry_children(cx_op_id(root), &l));
  assert_string_equal(cx_test_op_names(&l, buf, sizeof buf), "child-1");
  cx_op_list_free(&l);
  /* Pending children are not live yet. */
  CX_ASSERT_OK(cx_op_enter(c2));
  CX_ASSERT_OK(cx_registry_children(cx_op_id(root), &l));
  assert_string_equal(cx_test_op_names(&l, buf, sizeof buf), "child-1,child-2");
  cx_op_list_free(&l);
  /* Grandchildren are not children. */
  CX_ASSERT_OK(cx_registry_children(cx_op_id(c1), &l));
  assert_string_equal(cx_test_op_names(&l, buf, sizeof buf), "grandchild");
  cx_op_list_free(&l);
  CX_ASSERT_OK(cx_registry_children(cx_op_id(other), &l));
  assert_int_equal(l.count, 0);
  cx_op_list_free(&l);
  CX_ASSERT_OK(cx_registry_children("no-such-id", &l));
  assert_int_equal(l.count, 0);
  cx_op_list_free(&l);
  CX_ASSERT_ERR(-EINVAL, cx_registry_children(NULL, &l));
  CX_ASSERT_ERR(-EINVAL, cx_registry_children(cx_op_id(root), NULL));
  /* The same through the parent filter. */
  f.parent_id = cx_op_id(root);
  assert_string_equal(cx_test_live_names(&f, buf, sizeof buf),
                      "child-1,child-2");
  /* Combined with a name pattern. */
  f.name_pattern = "*-2";
  assert_string_equal(cx_test_live_names(&f, buf, sizeof buf), "child-2");
  /* Finished children leave the live children; history keeps parents. */
  finish(c2, 0);
  finish(g, 0);
  char c1_id[CX_ID_LEN + 1];
  snprintf(c1_id, sizeof c1_id, "%s", cx_op_id(c1));
  CX_ASSERT_OK(cx_registry_children(cx_op_id(root), &l));
  assert_string_equal(cx_test_op_names(&l, buf, sizeof buf), "child-1");
  cx_op_list_free(&l);
  f.name_pattern = NULL;
  assert_string_equal(cx_test_history_names(&f, 0, buf, sizeof buf), "child-2");
  f.parent_id = c1_id;
  assert_string_equal(cx_test_history_names(&f, 0, buf, sizeof buf),
                      "grandchild");
  finish(c1, 0);
  finish(other, 0);
  finish(root, 0);
}

static void test_list_by_pattern(void **state) {
  (void)state;
  char buf[256];
  cx_op_filter f = CX_OP_FILTER_INIT;
  setup();
  const char *ns[] = {"fetch-users", "fetch-orders", "parse-users",
                      "job7",        "job42",        "Fetch-caps"};
  cx_op *ops[6];
  for (int i = 0; i < 6; i++) ops[i] = reg_op(ns[i], NULL);
  f.name_pattern = "fetch-*";
  assert_string_equal(cx_test_live_names(&f, buf, sizeof buf),
                      "fetch-users,fetch-orders");
  f.name_pattern = "*-users";
  assert_string_equal(cx_test_live_names(&f, buf, sizeof buf),
                      "fetch-users,parse-users");
  f.name_pattern = "job?";
  assert_string_equal(cx_test_live_names(&f, buf, sizeof buf), "job7");
  f.name_pattern = "job[0-9]*";
  assert_string_equal(cx_test_live_names(&f, buf, sizeof buf), "job7,job42");
  f.name_pattern = "[!fj]*";
  assert_string_equal(cx_test_live_names(&f, buf, sizeof buf),
                      "parse-users,Fetch-caps");
  f.name_pattern = "*";
  assert_string_equal(
      cx_test_live_names(&f, buf, sizeof buf),
      "fetch-users,fetch-orders,parse-users,job7,job42,Fetch-caps");
  f.name_pattern = "nothing*";
  assert_string_equal(cx_test_live_names(&f, buf, sizeof buf), "");
  /* Exact name and pattern together must both match. */
  f.name_pattern = "fetch-*";
  f.name = "fetch-orders";
  assert_string_equal(cx_test_live_names(&f, buf, sizeof buf), "fetch-orders");
  f.name = "parse-users";
  assert_string_equal(cx_test_live_names(&f, buf, sizeof buf), "");
  for (int i = 5; i >= 0; i--) finish(ops[i], i == 3 ? -EIO : 0);
  /* The history filters the same way (newest first). */
  f.name = NULL;
  f.name_pattern = "fetch-*";
  assert_string_equal(cx_test_history_names(&f, 0, buf, sizeof buf),
                      "fetch-users,fetch-orders");
  f.name_pattern = "job*";
  f.status = CX_STATUS_FAILED;
  assert_string_equal(cx_test_history_names(&f, 0, buf, sizeof buf), "job7");
}

static void test_list_bad_args(void **state) {
  (void)state;
  cx_op_list l = {0};
  cx_op_filter f = CX_OP_FILTER_INIT;
  setup();
  cx_op *a = reg_op("a", NULL);
  CX_ASSERT_ERR(-EINVAL, cx_registry_list(NULL, NULL));
  CX_ASSERT_ERR(-EINVAL, cx_registry_history(NULL, 0, NULL));
  f.size = sizeof(size_t);
  CX_ASSERT_ERR(-EINVAL, cx_registry_list(&f, &l));
  assert_int_equal(l.count, 0);
  CX_ASSERT_ERR(-EINVAL, cx_registry_history(&f, 0, &l));
  assert_int_equal(l.count, 0);
  CX_ASSERT_ERR(-EINVAL, cx_registry_cancel_all(&f, CX_REASON_MANUAL, NULL));
  assert_false(cx_op_is_cancelled(a));
  /* Freeing NULL or an empty list is fine. */
  cx_op_list_free(NULL);
  cx_op_list_free(&l);
  finish(a, 0);
}

static void test_history_newest_first_limit(void **state) {
  (void)state;
  char buf[256];
  cx_op_filter f = CX_OP_FILTER_INIT;
  setup();
  const char *ns[] = {"h1", "h2", "h3", "h4", "h5"};
  for (int i = 0; i < 5; i++) {
    cx_op *op = reg_op(ns[i], NULL);
    finish(op, i % 2 ? -EIO : 0); /* h2, h4 failed */
  }
  assert_string_equal(cx_test_history_names(NULL, 0, buf, sizeof buf),
                      "h5,h4,h3,h2,h1");
  assert_string_equal(cx_test_history_names(NULL, 2, buf, sizeof buf), "h5,h4");
  assert_string_equal(cx_test_history_names(NULL, 1, buf, sizeof buf), "h5");
  assert_string_equal(cx_test_history_names(NULL, 10, buf, sizeof buf),
                      "h5,h4,h3,h2,h1");
  /* The limit counts matching entries. */
  f.status = CX_STATUS_COMPLETED;
  assert_string_equal(cx_test_history_names(&f, 2, buf, sizeof buf), "h5,h3");
  f.status = CX_STATUS_FAILED;
  assert_string_equal(cx_test_history_names(&f, 1, buf, sizeof buf), "h4");
  /* Exit order, not enter order, decides. */
  cx_op *x = reg_op("x-entered-first", NULL);
  cx_op *y = reg_op("y-entered-second", NULL);
  CX_ASSERT_OK(cx_op_exit(y, 0));
  cx_op_unref(y);
  CX_ASSERT_OK(cx_op_exit(x, 0));
  cx_op_unref(x);
  assert_string_equal(cx_test_history_names(NULL, 2, buf, sizeof buf),
                      "x-entered-first,y-entered-second");
}

/* ---------------------------------------------------------------------- */
/* cancel */

static void test_cancel_by_id(void **state) {
  (void)state;
  setup();
  cx_op *a = reg_op("a", NULL);
  cx_op *b = reg_op("b", NULL);
  char a_id[CX_ID_LEN + 1];
  snprintf(a_id, sizeof a_id, "%s", cx_op_id(a));
  assert_int_equal(cx_registry_cancel(a_id, CX_REASON_MANUAL, "stop it"), 1);
  assert_true(cx_op_is_cancelled(a));
  assert_false(cx_op_is_cancelled(b));
  assert_int_equal(cx_op_cancel_reason(a), CX_REASON_MANUAL);
  assert_string_equal(cx_op_cancel_message(a), "stop it");
  /* Still live until it exits. */
  assert_int_equal(cx_op_status(a), CX_STATUS_RUNNING);
  /* Again: already cancelled, nothing changes. */
  assert_int_equal(cx_registry_cancel(a_id, CX_REASON_TIMEOUT, "again"), 0);
  assert_int_equal(cx_op_cancel_reason(a), CX_REASON_MANUAL);
  assert_string_equal(cx_op_cancel_message(a), "stop it");
  /* Bad input. */
  CX_ASSERT_ERR(-EINVAL, cx_registry_cancel(NULL, CX_REASON_MANUAL, NULL));
  CX_ASSERT_ERR(-EINVAL, cx_registry_cancel(cx_op_id(b), CX_REASON_NONE, NULL));
  CX_ASSERT_ERR(-EINVAL, cx_registry_cancel(cx_op_id(b), (cx_reason)99, NULL));
  assert_false(cx_op_is_cancelled(b));
  CX_ASSERT_ERR(-ENOENT,
                cx_registry_cancel("no-such-id", CX_REASON_MANUAL, NULL));
  /* Other reasons. */
  assert_int_equal(cx_registry_cancel(cx_op_id(b), CX_REASON_SIGNAL, NULL), 1);
  assert_int_equal(cx_op_cancel_reason(b), CX_REASON_SIGNAL);
  finish(b, -ECANCELED);
  /* A finished op is not live: -ENOENT even though find() knows it. */
  finish(a, -ECANCELED);
  CX_ASSERT_ERR(-ENOENT, cx_registry_cancel(a_id, CX_REASON_MANUAL, NULL));
  cx_op *f = cx_registry_find(a_id);
  assert_non_null(f);
  assert_int_equal(cx_op_status(f), CX_STATUS_CANCELLED);
  cx_op_unref(f);
}

/* Cancelling a parent by id cascades to its children. */
static void test_cancel_by_id_cascades(void **state) {
  (void)state;
  setup();
  cx_op *p = reg_op("parent", NULL);
  cx_op *c = reg_op("child", p);
  assert_int_equal(cx_registry_cancel(cx_op_id(p), CX_REASON_MANUAL, "x"), 1);
  assert_true(cx_op_is_cancelled(c));
  assert_int_equal(cx_op_cancel_reason(c), CX_REASON_PARENT);
  /* The child was cancelled (by the cascade): 0 for it now. */
  assert_int_equal(cx_registry_cancel(cx_op_id(c), CX_REASON_MANUAL, NULL), 0);
  finish(c, -ECANCELED);
  finish(p, -ECANCELED);
}

/* Cancel from another thread: the work sees it at its next cancellation
 * point. */
typedef struct sleeper {
  atomic_int started;
  int rc;
  cx_op *op;
} sleeper;

static void *sleeper_main(void *p) {
  sleeper *s = p;
  cx_op_options o = CX_OP_OPTIONS_INIT;
  o.name = "background-sync";
  o.register_op = true;
  if (cx_op_create(&s->op, &o) != 0 || cx_op_enter(s->op) != 0) {
    s->rc = -EFAULT;
    atomic_store(&s->started, 1);
    return NULL;
  }
  atomic_store(&s->started, 1);
  s->rc = cx_sleep(NULL, 10.0);
  cx_op_exit(s->op, s->rc);
  return NULL;
}

static void test_cancel_other_thread(void **state) {
  (void)state;
  sleeper s;
  pthread_t th;
  cx_op_filter f = CX_OP_FILTER_INIT;
  cx_op_list l = {0};
  setup();
  memset(&s, 0, sizeof s);
  atomic_init(&s.started, 0);
  assert_int_equal(pthread_create(&th, NULL, sleeper_main, &s), 0);
  while (!atomic_load(&s.started)) cx_test_sleep(0.01);
  f.name = "background-sync";
  CX_ASSERT_OK(cx_registry_list(&f, &l));
  assert_int_equal(l.count, 1);
  double t0 = cx_test_now();
  assert_int_equal(
      cx_registry_cancel(cx_op_id(l.ops[0]), CX_REASON_MANUAL, "admin"), 1);
  pthread_join(th, NULL);
  assert_true(cx_test_now() - t0 < 2.0);
  CX_ASSERT_ERR(-ECANCELED, s.rc);
  assert_int_equal(cx_op_status(l.ops[0]), CX_STATUS_CANCELLED);
  assert_string_equal(cx_op_cancel_message(l.ops[0]), "admin");
  cx_op_list_free(&l);
  cx_op_unref(s.op);
}

static void test_cancel_all(void **state) {
  (void)state;
  cx_op_filter f = CX_OP_FILTER_INIT;
  setup();
  cx_op *jobs[3], *others[2];
  jobs[0] = reg_op("job-1", NULL);
  jobs[1] = reg_op("job-2", NULL);
  others[0] = reg_op("other-1", NULL);
  jobs[2] = reg_op("job-3", NULL);
  others[1] = reg_op("other-2", NULL);
  cx_op *unlisted = make_op("job-unlisted", NULL, false);
  CX_ASSERT_OK(cx_op_enter(unlisted));
  /* By pattern. */
  f.name_pattern = "job-*";
  assert_int_equal(cx_registry_cancel_all(&f, CX_REASON_MANUAL, "jobs"), 3);
  for (int i = 0; i < 3; i++) {
    assert_true(cx_op_is_cancelled(jobs[i]));
    assert_string_equal(cx_op_cancel_message(jobs[i]), "jobs");
  }
  assert_false(cx_op_is_cancelled(others[0]));
  assert_false(cx_op_is_cancelled(unlisted));
  /* Again: they already are. */
  assert_int_equal(cx_registry_cancel_all(&f, CX_REASON_MANUAL, NULL), 0);
  /* By exact name. */
  f.name_pattern = NULL;
  f.name = "other-2";
  assert_int_equal(cx_registry_cancel_all(&f, CX_REASON_CONDITION, NULL), 1);
  assert_int_equal(cx_op_cancel_reason(others[1]), CX_REASON_CONDITION);
  /* Everything (NULL filter): only other-1 is left to cancel. */
  assert_int_equal(cx_registry_cancel_all(NULL, CX_REASON_MANUAL, NULL), 1);
  assert_true(cx_op_is_cancelled(others[0]));
  assert_false(cx_op_is_cancelled(unlisted)); /* not registered */
  assert_int_equal(cx_registry_cancel_all(NULL, CX_REASON_MANUAL, NULL), 0);
  /* Bad reasons. */
  CX_ASSERT_ERR(-EINVAL, cx_registry_cancel_all(NULL, CX_REASON_NONE, NULL));
  CX_ASSERT_ERR(-EINVAL, cx_registry_cancel_all(NULL, (cx_reason)42, NULL));
  finish(unlisted, 0);
  finish(others[1], -ECANCELED);
  finish(jobs[2], -ECANCELED);
  finish(others[0], -ECANCELED);
  finish(jobs[1], -ECANCELED);
  finish(jobs[0], -ECANCELED);
  /* Nothing live: 0. */
  assert_int_equal(cx_registry_cancel_all(NULL, CX_REASON_MANUAL, NULL), 0);
}

static void test_cancel_all_by_status_and_parent(void **state) {
  (void)state;
  cx_op_filter f = CX_OP_FILTER_INIT;
  setup();
  cx_op *p = reg_op("p", NULL);
  cx_op *c1 = reg_op("c1", p);
  CX_ASSERT_OK(cx_op_exit(c1, 0)); /* c1 finished */
  cx_op *c2 = make_op("c2", p, true);
  CX_ASSERT_OK(cx_op_enter(c2));
  cx_op *q = reg_op("q", NULL);
  /* Only live ops are cancelled: a COMPLETED filter matches none. */
  f.status = CX_STATUS_COMPLETED;
  assert_int_equal(cx_registry_cancel_all(&f, CX_REASON_MANUAL, NULL), 0);
  f.status = CX_STATUS_RUNNING;
  f.parent_id = cx_op_id(p);
  assert_int_equal(cx_registry_cancel_all(&f, CX_REASON_MANUAL, NULL), 1);
  assert_true(cx_op_is_cancelled(c2));
  assert_false(cx_op_is_cancelled(p));
  assert_false(cx_op_is_cancelled(q));
  finish(q, 0);
  finish(c2, -ECANCELED);
  finish(p, 0);
  cx_op_unref(c1);
}

/* ---------------------------------------------------------------------- */
/* statistics */

static void test_stats_mix(void **state) {
  (void)state;
  cx_registry_stats st;
  setup();
  CX_ASSERT_OK(cx_registry_get_stats(&st));
  assert_int_equal(st.live, 0);
  assert_int_equal(st.completed, 0);
  assert_int_equal(st.cancelled, 0);
  assert_int_equal(st.failed, 0);
  assert_int_equal(st.history, 0);
  assert_true(st.average_duration == 0.0);

  double sum = 0;
  int finished = 0;
  cx_op *done[6];
  /* 3 completed. */
  for (int i = 0; i < 3; i++) {
    cx_op *op = reg_op("ok", NULL);
    cx_sleep(op, 0.01 * (i + 1));
    CX_ASSERT_OK(cx_op_exit(op, 0));
    done[finished++] = op;
  }
  /* 2 cancelled: a timeout and a manual cancel. */
  {
    cx_op_options o = CX_OP_OPTIONS_INIT;
    cx_op *op = NULL;
    o.name = "slow";
    o.timeout = 0.05;
    o.register_op = true;
    CX_ASSERT_OK(cx_op_create(&op, &o));
    CX_ASSERT_OK(cx_op_enter(op));
    CX_ASSERT_OK(cx_op_exit(op, cx_sleep(op, 5.0)));
    done[finished++] = op;
    op = reg_op("manual", NULL);
    cx_registry_cancel(cx_op_id(op), CX_REASON_MANUAL, NULL);
    CX_ASSERT_OK(cx_op_exit(op, cx_check(op)));
    done[finished++] = op;
  }
  /* 1 failed. */
  {
    cx_op *op = reg_op("broken", NULL);
    CX_ASSERT_OK(cx_op_exit(op, -EIO));
    done[finished++] = op;
  }
  /* 2 live. */
  cx_op *l1 = reg_op("live-1", NULL);
  cx_op *l2 = reg_op("live-2", NULL);
  /* An unregistered op counts nowhere. */
  cx_op *u = make_op("unlisted", NULL, false);
  CX_ASSERT_OK(cx_op_enter(u));
  CX_ASSERT_OK(cx_op_exit(u, -EIO));
  cx_op_unref(u);

  CX_ASSERT_OK(cx_registry_get_stats(&st));
  assert_int_equal(st.live, 2);
  assert_int_equal(st.live_by_status[CX_STATUS_RUNNING], 2);
  assert_int_equal(st.live_by_status[CX_STATUS_PENDING], 0);
  assert_int_equal(st.live_by_status[CX_STATUS_COMPLETED], 0);
  assert_int_equal(st.completed, 3);
  assert_int_equal(st.cancelled, 2);
  assert_int_equal(st.failed, 1);
  assert_int_equal(st.history, 6);
  /* The average is over the COMPLETED ops only (the first 3). */
  for (int i = 0; i < 3; i++) sum += cx_op_elapsed(done[i]);
  assert_true(fabs(st.average_duration - sum / 3) < 1e-6);
  assert_int_equal(st.cancelled_by_reason[CX_REASON_TIMEOUT], 1);
  assert_int_equal(st.cancelled_by_reason[CX_REASON_MANUAL], 1);
  assert_true(st.average_duration > 0.01);
  assert_true(st.average_duration < 2.0);

  for (int i = 0; i < finished; i++) cx_op_unref(done[i]);
  finish(l2, 0);
  finish(l1, 0);
  CX_ASSERT_OK(cx_registry_get_stats(&st));
  assert_int_equal(st.live, 0);
  assert_int_equal(st.completed, 5);
  assert_int_equal(st.history, 8);
  CX_ASSERT_ERR(-EINVAL, cx_registry_get_stats(NULL));
}

/* Totals count every finished op since the start, also those the history
 * no longer keeps. */
static void test_stats_beyond_history(void **state) {
  (void)state;
  cx_registry_stats st;
  setup();
  cx_registry_set_history_size(2);
  for (int i = 0; i < 5; i++) finish(reg_op("n", NULL), 0);
  CX_ASSERT_OK(cx_registry_get_stats(&st));
  assert_int_equal(st.completed, 5);
  assert_int_equal(st.history, 2);
  assert_int_equal(cx_registry_prune(0, 1, 0), 1);
  CX_ASSERT_OK(cx_registry_get_stats(&st));
  assert_int_equal(st.completed, 5);
  assert_int_equal(st.history, 1);
  cx_registry_set_history_size(1000);
}

/* ---------------------------------------------------------------------- */
/* history bounds and cleanup */

static void test_history_size(void **state) {
  (void)state;
  char buf[256];
  cx_registry_stats st;
  setup();
  cx_registry_set_history_size(3);
  char first_id[CX_ID_LEN + 1];
  const char *ns[] = {"e1", "e2", "e3", "e4", "e5"};
  for (int i = 0; i < 5; i++) {
    cx_op *op = reg_op(ns[i], NULL);
    if (i == 0) snprintf(first_id, sizeof first_id, "%s", cx_op_id(op));
    finish(op, 0);
  }
  assert_string_equal(cx_test_history_names(NULL, 0, buf, sizeof buf),
                      "e5,e4,e3");
  /* Dropped entries are no longer found. */
  assert_null(cx_registry_find(first_id));
  /* Shrinking drops the oldest at once. */
  cx_registry_set_history_size(1);
  assert_string_equal(cx_test_history_names(NULL, 0, buf, sizeof buf), "e5");
  CX_ASSERT_OK(cx_registry_get_stats(&st));
  assert_int_equal(st.history, 1);
  /* 0 keeps none; live ops are not affected. */
  cx_op *live = reg_op("live", NULL);
  cx_registry_set_history_size(0);
  assert_string_equal(cx_test_history_names(NULL, 0, buf, sizeof buf), "");
  assert_string_equal(cx_test_live_names(NULL, buf, sizeof buf), "live");
  char live_id[CX_ID_LEN + 1];
  snprintf(live_id, sizeof live_id, "%s", cx_op_id(live));
  finish(live, 0);
  assert_string_equal(cx_test_history_names(NULL, 0, buf, sizeof buf), "");
  assert_null(cx_registry_find(live_id));
  CX_ASSERT_OK(cx_registry_get_stats(&st));
  assert_int_equal(st.completed, 6); /* still counted */
  /* Growing keeps what is there and admits more. */
  cx_registry_set_history_size(1000);
  for (int i = 0; i < 3; i++) finish(reg_op(ns[i], NULL), 0);
  assert_string_equal(cx_test_history_names(NULL, 0, buf, sizeof buf),
                      "e3,e2,e1");
}

/* The op that falls out of a short history is released by the exit that
 * pushes it out, with no query between (review: exits batch their ops per
 * shard; a batch is never longer than the bound allows), and a history of
 * 0 keeps no exited op alive. */
static int released;
static void count_release(void *p) {
  (void)p;
  released++;
}

static void test_history_releases_without_query(void **state) {
  (void)state;
  setup();
  released = 0;
  cx_registry_set_history_size(1);
  for (int i = 0; i < 10; i++) {
    cx_op *op = reg_op("short", NULL);
    CX_ASSERT_OK(cx_op_set_partial_result(op, NULL, count_release));
    finish(op, 0);
    assert_int_equal(released, i); /* all but the newest */
  }
  cx_registry_set_history_size(0);
  assert_int_equal(released, 10);
  for (int i = 0; i < 3; i++) {
    cx_op *op = reg_op("none", NULL);
    CX_ASSERT_OK(cx_op_set_partial_result(op, NULL, count_release));
    finish(op, 0);
    assert_int_equal(released, 11 + i);
  }
  cx_registry_set_history_size(1000);
}

/* The default bound is 1000. */
static void test_history_default_size(void **state) {
  (void)state;
  cx_registry_stats st;
  setup();
  for (int i = 0; i < 1005; i++) finish(reg_op("many", NULL), 0);
  CX_ASSERT_OK(cx_registry_get_stats(&st));
  assert_int_equal(st.history, 1000);
  assert_int_equal(st.completed, 1005);
}

static void test_prune_by_count(void **state) {
  (void)state;
  char buf[256];
  setup();
  const char *ns[] = {"p1", "p2", "p3", "p4", "p5"};
  for (int i = 0; i < 5; i++) finish(reg_op(ns[i], NULL), 0);
  cx_op *live = reg_op("live", NULL);
  assert_int_equal(cx_registry_prune(0, 0, 0), 0); /* no limit at all */
  assert_int_equal(cx_registry_prune(0, 10, 0), 0);
  assert_int_equal(cx_registry_prune(0, 2, 0), 3);
  assert_string_equal(cx_test_history_names(NULL, 0, buf, sizeof buf), "p5,p4");
  assert_int_equal(cx_registry_prune(0, 2, 0), 0);
  assert_string_equal(cx_test_live_names(NULL, buf, sizeof buf), "live");
  finish(live, 0);
  /* The bound itself stays 1000: prune is one-off. */
  for (int i = 0; i < 3; i++) finish(reg_op(ns[i], NULL), 0);
  assert_string_equal(cx_test_history_names(NULL, 0, buf, sizeof buf),
                      "p3,p2,p1,live,p5,p4");
}

static void test_prune_by_age(void **state) {
  (void)state;
  char buf[256];
  setup();
  finish(reg_op("old-1", NULL), 0);
  finish(reg_op("old-2", NULL), 0);
  cx_test_sleep(0.4);
  finish(reg_op("new-1", NULL), 0);
  finish(reg_op("new-2", NULL), 0);
  assert_int_equal(cx_registry_prune(60.0, 0, 0), 0);
  assert_int_equal(cx_registry_prune(0.2, 0, 0), 2);
  assert_string_equal(cx_test_history_names(NULL, 0, buf, sizeof buf),
                      "new-2,new-1");
  /* Age and count together: whichever drops more. */
  cx_test_sleep(0.3);
  finish(reg_op("newest", NULL), 0);
  assert_int_equal(cx_registry_prune(0.15, 5, 0), 2);
  assert_string_equal(cx_test_history_names(NULL, 0, buf, sizeof buf),
                      "newest");
  finish(reg_op("newer", NULL), 0);
  assert_int_equal(cx_registry_prune(60.0, 1, 0), 1);
  assert_string_equal(cx_test_history_names(NULL, 0, buf, sizeof buf), "newer");
  /* Bad ages. */
  CX_ASSERT_ERR(-EINVAL, (int)cx_registry_prune(-1.0, 0, 0));
  CX_ASSERT_ERR(-EINVAL, (int)cx_registry_prune(NAN, 0, 0));
  CX_ASSERT_ERR(-EINVAL, (int)cx_registry_prune(-INFINITY, 0, 0));
  assert_string_equal(cx_test_history_names(NULL, 0, buf, sizeof buf), "newer");
}

static void test_clear(void **state) {
  (void)state;
  cx_registry_stats st;
  char buf[256];
  setup();
  finish(reg_op("gone", NULL), -EIO);
  cx_op *live = reg_op("still-running", NULL);
  char id[CX_ID_LEN + 1];
  snprintf(id, sizeof id, "%s", cx_op_id(live));
  cx_registry_clear();
  CX_ASSERT_OK(cx_registry_get_stats(&st));
  assert_int_equal(st.live, 0);
  assert_int_equal(st.history, 0);
  assert_int_equal(st.failed, 0);
  assert_true(st.average_duration == 0.0);
  assert_null(cx_registry_find(id));
  CX_ASSERT_ERR(-ENOENT, cx_registry_cancel(id, CX_REASON_MANUAL, NULL));
  /* The forgotten op keeps running, unregistered, and exits normally
   * without reappearing. */
  assert_int_equal(cx_op_status(live), CX_STATUS_RUNNING);
  assert_false(cx_op_is_cancelled(live));
  finish(live, 0);
  assert_string_equal(cx_test_history_names(NULL, 0, buf, sizeof buf), "");
  CX_ASSERT_OK(cx_registry_get_stats(&st));
  assert_int_equal(st.completed, 0);
  /* New ops register again. */
  finish(reg_op("after-clear", NULL), 0);
  assert_string_equal(cx_test_history_names(NULL, 0, buf, sizeof buf),
                      "after-clear");
}

/* ---------------------------------------------------------------------- */
/* snapshots */

/* A list stays valid after the ops exit, the caller drops its references,
 * and the registry forgets them (ASan checks the reads). */
static void test_list_is_owned_snapshot(void **state) {
  (void)state;
  cx_op_list l = {0}, h = {0};
  setup();
  cx_op *a = reg_op("snap-a", NULL);
  cx_op *b = reg_op("snap-b", NULL);
  CX_ASSERT_OK(cx_registry_list(NULL, &l));
  assert_int_equal(l.count, 2);
  finish(b, 0);
  finish(a, -EIO);
  CX_ASSERT_OK(cx_registry_history(NULL, 0, &h));
  cx_registry_clear();
  cx_registry_set_history_size(0);
  cx_registry_set_history_size(1000);
  /* The list is a snapshot of which ops were live; the ops themselves
   * show their current (final) state. */
  assert_string_equal(cx_op_name(l.ops[0]), "snap-a");
  assert_string_equal(cx_op_name(l.ops[1]), "snap-b");
  assert_int_equal(cx_op_status(l.ops[0]), CX_STATUS_FAILED);
  assert_int_equal(cx_op_status(l.ops[1]), CX_STATUS_COMPLETED);
  assert_non_null(cx_op_id(l.ops[0]));
  assert_int_equal(h.count, 2);
  assert_string_equal(cx_op_name(h.ops[0]), "snap-a");
  cx_op_list_free(&l);
  assert_null(l.ops);
  assert_int_equal(l.count, 0);
  cx_op_list_free(&h);
}

static void test_find_is_owned(void **state) {
  (void)state;
  setup();
  cx_op *a = reg_op("found", NULL);
  cx_op *f = cx_registry_find(cx_op_id(a));
  finish(a, 0);
  cx_registry_clear();
  assert_string_equal(cx_op_name(f), "found");
  assert_int_equal(cx_op_status(f), CX_STATUS_COMPLETED);
  cx_op_unref(f);
}

/* Listing from inside a cancel callback (no registry lock held while user
 * callbacks run). */
static int relist_cb(cx_token *t, void *p) {
  (void)t;
  cx_op_list l = {0};
  if (cx_registry_list(NULL, &l) == 0) {
    *(size_t *)p = l.count;
    cx_op_list_free(&l);
  }
  return 0;
}

static void test_cancel_callback_may_query(void **state) {
  (void)state;
  size_t seen = 0;
  setup();
  cx_op *a = reg_op("a", NULL);
  cx_op *b = reg_op("b", NULL);
  CX_ASSERT_OK(
      cx_token_on_cancel(cx_op_token(a), relist_cb, &seen, NULL, 0, NULL));
  assert_int_equal(cx_registry_cancel_all(NULL, CX_REASON_MANUAL, NULL), 2);
  assert_int_equal(seen, 2);
  finish(b, -ECANCELED);
  finish(a, -ECANCELED);
}

/* ---------------------------------------------------------------------- */
/* threads: each thread registers in a shard of its own */

typedef struct stepper {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int step; /* 1: register a1; 2: a1 done; 3: register a2; 4: a2 done;
               5: exit both; 6: exited */
  cx_op *a1, *a2;
} stepper;

static void stepper_wait(stepper *s, int step) {
  pthread_mutex_lock(&s->mu);
  while (s->step < step) pthread_cond_wait(&s->cv, &s->mu);
  pthread_mutex_unlock(&s->mu);
}

static void stepper_set(stepper *s, int step) {
  pthread_mutex_lock(&s->mu);
  s->step = step;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

static void *stepper_main(void *p) {
  stepper *s = p;
  stepper_wait(s, 1);
  s->a1 = make_op("a1", NULL, true);
  cx_op_enter(s->a1);
  stepper_set(s, 2);
  stepper_wait(s, 3);
  s->a2 = make_op("a2", NULL, true);
  cx_op_enter(s->a2);
  stepper_set(s, 4);
  stepper_wait(s, 5);
  cx_op_exit(s->a2, 0);
  cx_op_exit(s->a1, 0);
  stepper_set(s, 6);
  return NULL;
}

/* Ops registered on two threads are listed together, oldest first, and
 * found by id; the history takes both threads' exits, newest first. */
static void test_two_threads_interleaved(void **state) {
  (void)state;
  char buf[256];
  stepper s = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, NULL,
               NULL};
  pthread_t th;
  cx_op *m1, *f;
  setup();
  assert_int_equal(pthread_create(&th, NULL, stepper_main, &s), 0);
  stepper_set(&s, 1);
  stepper_wait(&s, 2);
  m1 = reg_op("m1", NULL);
  stepper_set(&s, 3);
  stepper_wait(&s, 4);
  assert_string_equal(cx_test_live_names(NULL, buf, sizeof buf), "a1,m1,a2");
  f = cx_registry_find(cx_op_id(s.a2));
  assert_ptr_equal(f, s.a2);
  cx_op_unref(f);
  assert_int_equal(live_count(), 3);
  stepper_set(&s, 5);
  stepper_wait(&s, 6);
  finish(m1, 0);
  assert_string_equal(cx_test_history_names(NULL, 0, buf, sizeof buf),
                      "m1,a1,a2");
  assert_string_equal(cx_test_live_names(NULL, buf, sizeof buf), "");
  pthread_join(th, NULL);
  cx_op_unref(s.a1);
  cx_op_unref(s.a2);
}

typedef struct burst {
  int thread;
  int count;
} burst;

static void *burst_main(void *p) {
  burst *b = p;
  char name[32];
  for (int i = 0; i < b->count; i++) {
    snprintf(name, sizeof name, "t%d-%03d", b->thread, i);
    cx_op *op = make_op(name, NULL, true);
    cx_op_enter(op);
    cx_op_exit(op, 0);
    cx_op_unref(op);
  }
  return NULL;
}

/* Exits on several threads (each gathering its finished ops before they
 * join the history) leave exactly the bound in the history, each
 * thread's newest first, and every exit counted. */
static void test_threads_history_bound(void **state) {
  (void)state;
  enum { THREADS = 3, EACH = 100, KEEP = 7 };
  pthread_t th[THREADS];
  burst b[THREADS];
  cx_registry_stats st;
  cx_op_list h = {0};
  int last[THREADS];
  setup();
  cx_registry_set_history_size(KEEP);
  for (int i = 0; i < THREADS; i++) {
    b[i] = (burst){i, EACH};
    assert_int_equal(pthread_create(&th[i], NULL, burst_main, &b[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
  CX_ASSERT_OK(cx_registry_get_stats(&st));
  assert_int_equal(st.completed, THREADS * EACH);
  assert_int_equal(st.history, KEEP);
  CX_ASSERT_OK(cx_registry_history(NULL, 0, &h));
  assert_int_equal(h.count, KEEP);
  for (int i = 0; i < THREADS; i++) last[i] = EACH;
  for (size_t i = 0; i < h.count; i++) {
    int t = -1, n = -1;
    assert_int_equal(sscanf(cx_op_name(h.ops[i]), "t%d-%d", &t, &n), 2);
    assert_true(t >= 0 && t < THREADS);
    assert_true(n < last[t]); /* newest first within a thread */
    last[t] = n;
  }
  cx_op_list_free(&h);
  cx_registry_set_history_size(1000);
}

/* Ops released (their partial result's destroy notify), on any thread. */
static atomic_int released_elsewhere;
static void count_release_elsewhere(void *p) {
  (void)p;
  atomic_fetch_add(&released_elsewhere, 1);
}

/* A thread that finishes @count watched ops, then, between the two waits
 * at @gate, 32 more (one batch): its own shard's flush. */
typedef struct elsewhere {
  int count;
  pthread_barrier_t gate;
} elsewhere;

static void *finish_elsewhere(void *p) {
  elsewhere *e = p;
  for (int i = 0; i < e->count; i++) {
    cx_op *op = reg_op("elsewhere", NULL);
    CX_ASSERT_OK(cx_op_set_partial_result(op, NULL, count_release_elsewhere));
    finish(op, 0);
  }
  pthread_barrier_wait(&e->gate);
  pthread_barrier_wait(&e->gate);
  for (int i = 0; i < 32; i++) finish(reg_op("again", NULL), 0);
  return NULL;
}

/* What lets the set-aside ops go in hand_back(). */
enum { BY_OWN_BATCH, BY_HISTORY_QUERY, BY_STATS };

/* Ops another thread made, pushed out of the history by this thread's
 * exits, are set aside for a thread of their own shard to free: more than
 * the fewer than 32 that their thread had not yet handed to the history
 * wait, at most 128 beyond those, none is listed, and their thread's next
 * batch (@by), a history query or a stats call frees them all. */
static void hand_back(int by) {
  /* This thread and the other must use different shards: threads take
   * slots in turn, shard = slot % 16 (under ctest each test runs in a
   * process of its own; run whole, the binary makes fewer than 15 threads
   * before these tests). */
  enum { KEEP = 300, MINE = 400, UNJOINED = KEEP % 32 };
  elsewhere e = {.count = KEEP};
  pthread_t th;
  cx_registry_stats st;
  cx_op_list h = {0};
  int waiting;
  setup();
  atomic_store(&released_elsewhere, 0);
  cx_registry_set_history_size(KEEP);
  assert_int_equal(pthread_barrier_init(&e.gate, NULL, 2), 0);
  assert_int_equal(pthread_create(&th, NULL, finish_elsewhere, &e), 0);
  pthread_barrier_wait(&e.gate);
  assert_int_equal(atomic_load(&released_elsewhere), 0); /* all kept */
  for (int i = 0; i < MINE; i++) finish(reg_op("mine", NULL), 0);
  waiting = KEEP - atomic_load(&released_elsewhere);
  assert_true(waiting > UNJOINED);        /* some were set aside */
  assert_true(waiting <= UNJOINED + 128); /* the bound */
  if (by == BY_HISTORY_QUERY) {
    CX_ASSERT_OK(cx_registry_history(NULL, 1, &h));
    cx_op_list_free(&h);
    assert_int_equal(atomic_load(&released_elsewhere), KEEP);
  } else if (by == BY_STATS) {
    CX_ASSERT_OK(cx_registry_get_stats(&st));
    assert_int_equal(atomic_load(&released_elsewhere), KEEP);
  }
  pthread_barrier_wait(&e.gate); /* its next batch */
  pthread_join(th, NULL);
  assert_int_equal(atomic_load(&released_elsewhere), KEEP);
  CX_ASSERT_OK(cx_registry_history(NULL, 0, &h));
  assert_int_equal(h.count, KEEP);
  for (size_t i = 0; i < h.count; i++)
    assert_string_equal(cx_op_name(h.ops[i]), i < 32 ? "again" : "mine");
  cx_op_list_free(&h);
  CX_ASSERT_OK(cx_registry_get_stats(&st));
  assert_int_equal(st.history, KEEP);
  assert_int_equal(st.completed, KEEP + MINE + 32);
  pthread_barrier_destroy(&e.gate);
  cx_registry_set_history_size(1000);
}

static void test_hand_back_own_batch(void **state) {
  (void)state;
  hand_back(BY_OWN_BATCH);
}

static void test_hand_back_history_query(void **state) {
  (void)state;
  hand_back(BY_HISTORY_QUERY);
}

static void test_hand_back_stats(void **state) {
  (void)state;
  hand_back(BY_STATS);
}

/* A thread that finishes 3000 watched ops, some named "seven", then says
 * so through @running. */
static void *churn_ops(void *p) {
  atomic_int *running = p;
  for (int i = 0; i < 3000; i++) {
    cx_op *op = reg_op(i % 7 == 0 ? "seven" : "churn", NULL);
    CX_ASSERT_OK(cx_op_set_partial_result(op, NULL, count_release_elsewhere));
    finish(op, 0);
  }
  atomic_fetch_sub(running, 1);
  return NULL;
}

/* Four threads finish ops into a short history (each trimming, and
 * setting aside, the others' ops) while a fifth queries it; a query made
 * after they all ended has let every op go but the kept ones, and lists
 * exactly the bound.  For the sanitizers. */
static void test_threads_churn_with_queries(void **state) {
  enum { THREADS = 4, KEEP = 50 };
  atomic_int running;
  pthread_t th[THREADS];
  cx_registry_stats st;
  cx_op_list h = {0};
  long queries = 0;
  (void)state;
  setup();
  atomic_store(&released_elsewhere, 0);
  atomic_init(&running, THREADS);
  cx_registry_set_history_size(KEEP);
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(pthread_create(&th[i], NULL, churn_ops, &running), 0);
  while (atomic_load(&running) > 0) {
    cx_op_filter f = CX_OP_FILTER_INIT;
    cx_op *found;
    f.name = "seven";
    CX_ASSERT_OK(cx_registry_history(&f, 5, &h));
    assert_true(h.count <= 5);
    if (h.count > 0) {
      found = cx_registry_find(cx_op_id(h.ops[0]));
      cx_op_unref(found); /* it may have fallen out meanwhile */
    }
    cx_op_list_free(&h);
    CX_ASSERT_OK(cx_registry_get_stats(&st));
    assert_true(st.history <= KEEP);
    queries++;
  }
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
  CX_ASSERT_OK(cx_registry_history(NULL, 0, &h));
  assert_int_equal(h.count, KEEP);
  cx_op_list_free(&h);
  assert_int_equal(atomic_load(&released_elsewhere), THREADS * 3000 - KEEP);
  assert_true(queries > 0);
  cx_registry_set_history_size(1000);
  assert_int_equal(atomic_load(&released_elsewhere), THREADS * 3000 - KEEP);
}

/* Threads that clear the registry, look an id up (the first lookup builds
 * the index by id) and finish registered ops into a short history, until
 * @stop. */
static void *keep_clearing(void *p) {
  atomic_bool *stop = p;
  while (!atomic_load(stop)) cx_registry_clear();
  return NULL;
}

static void *keep_looking_up(void *p) {
  atomic_bool *stop = p;
  while (!atomic_load(stop)) cx_op_unref(cx_registry_find("nobody"));
  return NULL;
}

static void *keep_finishing(void *p) {
  atomic_bool *stop = p;
  while (!atomic_load(stop)) finish(reg_op("busy", NULL), 0);
  return NULL;
}

/* A clear while the first lookup builds the index: every op the build
 * indexed leaves the index when it leaves the history (a review found ops
 * indexed after the clear, freed while still in the index, then written
 * through by the next clear: ASan's heap-use-after-free). */
static void test_threads_clear_during_index_build(void **state) {
  enum { FINISHERS = 3 };
  atomic_bool stop;
  pthread_t clearer, finder, fin[FINISHERS];
  struct timespec run = {0, 500 * 1000000L};
  (void)state;
  setup();
  atomic_init(&stop, false);
  cx_registry_set_history_size(40);
  assert_int_equal(pthread_create(&clearer, NULL, keep_clearing, &stop), 0);
  assert_int_equal(pthread_create(&finder, NULL, keep_looking_up, &stop), 0);
  for (int i = 0; i < FINISHERS; i++)
    assert_int_equal(pthread_create(&fin[i], NULL, keep_finishing, &stop), 0);
  nanosleep(&run, NULL);
  atomic_store(&stop, true);
  pthread_join(clearer, NULL);
  pthread_join(finder, NULL);
  for (int i = 0; i < FINISHERS; i++) pthread_join(fin[i], NULL);
  cx_registry_clear();
  assert_null(cx_registry_find("nobody"));
  finish(reg_op("after", NULL), 0);
  assert_int_equal(live_count(), 0);
  cx_registry_clear();
  cx_registry_set_history_size(1000);
}

/* Makers that each register and finish PER / 2 ops (into the history),
 * then register PER / 2 more and keep them running while the finders
 * look up the first and the last (their ids in @id). */
enum { LB_MAKERS = 4, LB_FINDERS = 3, LB_PER = 2000 };
typedef struct {
  pthread_barrier_t *made, *looked;
  char id[2][64];
} lb_maker;

static void *lb_make(void *p) {
  lb_maker *m = p;
  cx_op *ops[LB_PER / 2];
  for (int i = 0; i < LB_PER / 2; i++) {
    cx_op *op = reg_op("lb", NULL);
    if (i == 0) snprintf(m->id[0], sizeof m->id[0], "%s", cx_op_id(op));
    finish(op, 0);
  }
  for (int i = 0; i < LB_PER / 2; i++) ops[i] = reg_op("lb", NULL);
  snprintf(m->id[1], sizeof m->id[1], "%s", cx_op_id(ops[LB_PER / 2 - 1]));
  pthread_barrier_wait(m->made);
  pthread_barrier_wait(m->looked);
  for (int i = LB_PER / 2 - 1; i >= 0; i--) finish(ops[i], 0);
  return NULL;
}

typedef struct {
  pthread_barrier_t *go;
  atomic_bool *stop;
  lb_maker *makers;
  int index;
  long looked, missed;
} lb_finder;

/* Looks every maker's op up, again and again until @stop (once at least). */
static void *lb_find(void *p) {
  lb_finder *f = p;
  /* The first goes at once and builds the index (ms for 8 000 ops); the
   * others come while it does. */
  struct timespec from, now;
  pthread_barrier_wait(f->go);
  clock_gettime(CLOCK_MONOTONIC, &from); /* a spin: sleeps are ms here */
  do clock_gettime(CLOCK_MONOTONIC, &now);
  while ((now.tv_sec - from.tv_sec) * 1000000000L + now.tv_nsec - from.tv_nsec <
         f->index * 300 * 1000L);
  do {
    for (int i = 0; i < 2 * LB_MAKERS; i++) {
      cx_op *op = cx_registry_find(f->makers[i / 2].id[i % 2]);
      if (op == NULL) f->missed++;
      f->looked++;
      cx_op_unref(op);
    }
  } while (!atomic_load(f->stop));
  return NULL;
}

/* Lookups at once while the first of them builds the index by id: every
 * one finds every live op (a review found that the others saw the index
 * on and looked before the build had reached the op's shard: NULL, and
 * -ENOENT from cx_registry_cancel(), for a live op). */
static void test_threads_lookup_during_index_build(void **state) {
  (void)state;
  for (int round = 0; round < 10; round++) {
    pthread_barrier_t made, looked, go;
    pthread_t mt[LB_MAKERS], ft[LB_FINDERS];
    lb_maker m[LB_MAKERS];
    lb_finder f[LB_FINDERS];
    atomic_bool stop;
    struct timespec some = {0, 20 * 1000000L};
    setup(); /* the index is off: the next lookup builds it */
    cx_registry_set_history_size(LB_MAKERS * LB_PER);
    atomic_init(&stop, false);
    assert_int_equal(pthread_barrier_init(&made, NULL, LB_MAKERS + 1), 0);
    assert_int_equal(pthread_barrier_init(&looked, NULL, LB_MAKERS + 1), 0);
    assert_int_equal(pthread_barrier_init(&go, NULL, LB_FINDERS), 0);
    for (int i = 0; i < LB_MAKERS; i++) {
      m[i].made = &made;
      m[i].looked = &looked;
      assert_int_equal(pthread_create(&mt[i], NULL, lb_make, &m[i]), 0);
    }
    pthread_barrier_wait(&made);
    for (int i = 0; i < LB_FINDERS; i++) {
      f[i] = (lb_finder){.go = &go, .stop = &stop, .makers = m, .index = i};
      assert_int_equal(pthread_create(&ft[i], NULL, lb_find, &f[i]), 0);
    }
    nanosleep(&some, NULL);
    atomic_store(&stop, true);
    for (int i = 0; i < LB_FINDERS; i++) pthread_join(ft[i], NULL);
    pthread_barrier_wait(&looked);
    for (int i = 0; i < LB_MAKERS; i++) pthread_join(mt[i], NULL);
    for (int i = 0; i < LB_FINDERS; i++) {
      assert_true(f[i].looked >= 2 * LB_MAKERS);
      assert_int_equal(f[i].missed, 0);
    }
    pthread_barrier_destroy(&made);
    pthread_barrier_destroy(&looked);
    pthread_barrier_destroy(&go);
  }
  setup();
}

/* ---------------------------------------------------------------------- */

static const struct CMUnitTest tests[] = {
    CX_TEST("/registry/register/option", test_register_option),
    CX_TEST("/registry/register/default", test_register_default),
    CX_TEST("/registry/exit/moves-to-history", test_exit_moves_to_history),
    CX_TEST("/registry/find", test_find),
    CX_TEST("/registry/find/explicit-id", test_find_explicit_id),
    CX_TEST("/registry/find/explicit-duplicates",
            test_find_explicit_duplicates),
    CX_TEST("/registry/find/owned", test_find_is_owned),
    CX_TEST("/registry/list/oldest-first", test_list_all_oldest_first),
    CX_TEST("/registry/list/by-name", test_list_by_name),
    CX_TEST("/registry/list/by-status", test_list_by_status),
    CX_TEST("/registry/list/by-parent-and-children",
            test_list_by_parent_and_children),
    CX_TEST("/registry/list/by-pattern", test_list_by_pattern),
    CX_TEST("/registry/list/bad-args", test_list_bad_args),
    CX_TEST("/registry/list/owned-snapshot", test_list_is_owned_snapshot),
    CX_TEST("/registry/history/newest-first-limit",
            test_history_newest_first_limit),
    CX_TEST("/registry/history/size", test_history_size),
    CX_TEST("/registry/history/releases-without-query",
            test_history_releases_without_query),
    CX_TEST("/registry/history/default-size", test_history_default_size),
    CX_TEST("/registry/cancel/by-id", test_cancel_by_id),
    CX_TEST("/registry/cancel/by-id-cascades", test_cancel_by_id_cascades),
    CX_TEST("/registry/cancel/other-thread", test_cancel_other_thread),
    CX_TEST("/registry/cancel/all", test_cancel_all),
    CX_TEST("/registry/cancel/all-by-status-and-parent",
            test_cancel_all_by_status_and_parent),
    CX_TEST("/registry/cancel/callback-may-query",
            test_cancel_callback_may_query),
    CX_TEST("/registry/stats/mix", test_stats_mix),
    CX_TEST("/registry/stats/beyond-history", test_stats_beyond_history),
    CX_TEST("/registry/prune/count", test_prune_by_count),
    CX_TEST("/registry/prune/age", test_prune_by_age),
    CX_TEST("/registry/clear", test_clear),
    CX_TEST("/registry/threads/interleaved", test_two_threads_interleaved),
    CX_TEST("/registry/threads/history-bound", test_threads_history_bound),
    CX_TEST("/registry/threads/hand-back/own-batch", test_hand_back_own_batch),
    CX_TEST("/registry/threads/hand-back/history-query",
            test_hand_back_history_query),
    CX_TEST("/registry/threads/hand-back/stats", test_hand_back_stats),
    CX_TEST("/registry/threads/clear-during-index-build",
            test_threads_clear_during_index_build),
    CX_TEST("/registry/threads/lookup-during-index-build",
            test_threads_lookup_during_index_build),
    CX_TEST("/registry/threads/churn-with-queries",
            test_threads_churn_with_queries),
};

CX_TEST_MAIN("registry", tests)
