/* tests/stress/test_registry_stress.c - the registry under load, issue #6:
 * 8 threads enter and exit registered ops (some with children and
 * timeouts), query (list with filters, children, history, find, stats),
 * cancel by id and by pattern, prune and resize the history, all at once,
 * for CX_STRESS_SECONDS seconds (default 3; CI: 20).  Run under TSan (no
 * report) and ASan (no leak, no use after free); at the end the totals must add
 * up and nothing is left live.  A second test also races cx_registry_clear().
 */
#include "cx_test.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cancelable.h>

#define THREADS 8

static double stress_seconds(double fallback) {
  const char *s = getenv("CX_STRESS_SECONDS");
  if (s != NULL && *s != '\0') {
    char *end;
    double v = strtod(s, &end);
    if (end != s && v > 0 && v < 3600) return v;
  }
  return fallback;
}

typedef struct shared {
  atomic_bool stop;
  bool with_clear;
  atomic_long exits;     /* registered ops that exited */
  atomic_long completed; /* ... as COMPLETED */
  atomic_long cancelled; /* ... as CANCELLED */
  atomic_long failed;    /* ... as FAILED */
  atomic_long cancels;   /* successful cancels by id or pattern */
  atomic_long queries;
  atomic_long errors; /* unexpected return codes */
} shared;

typedef struct worker {
  shared *sh;
  int index;
  unsigned seed;
} worker;

static unsigned next_rand(unsigned *s) {
  *s = *s * 1103515245u + 12345u;
  return (*s >> 16) & 0x7fff;
}

static void count_exit(shared *sh, cx_op *op) {
  atomic_fetch_add(&sh->exits, 1);
  switch (cx_op_status(op)) {
    case CX_STATUS_COMPLETED:
      atomic_fetch_add(&sh->completed, 1);
      break;
    case CX_STATUS_CANCELLED:
      atomic_fetch_add(&sh->cancelled, 1);
      break;
    case CX_STATUS_FAILED:
      atomic_fetch_add(&sh->failed, 1);
      break;
    default:
      atomic_fetch_add(&sh->errors, 1);
      break;
  }
}

static void error_if(shared *sh, bool bad) {
  if (bad) atomic_fetch_add(&sh->errors, 1);
}

/* Reads every field of every op of a list (what a monitor does). */
static void touch_list(shared *sh, cx_op_list *l) {
  for (size_t i = 0; i < l->count; i++) {
    cx_op *op = l->ops[i];
    error_if(sh, cx_op_id(op) == NULL || cx_op_name(op) == NULL);
    (void)cx_op_status(op);
    (void)cx_op_elapsed(op);
    (void)cx_op_parent_id(op);
    (void)cx_op_cancel_reason(op);
    cx_meta *m = cx_op_metadata(op);
    cx_meta_free(m);
  }
}

static void do_queries(worker *w) {
  shared *sh = w->sh;
  cx_op_filter f = CX_OP_FILTER_INIT;
  cx_op_list l = {0};
  char pattern[32];
  unsigned r = next_rand(&w->seed);
  atomic_fetch_add(&sh->queries, 1);
  switch (r % 10) {
    case 0:
      error_if(sh, cx_registry_list(NULL, &l) != 0);
      break;
    case 1:
      f.status = CX_STATUS_RUNNING;
      error_if(sh, cx_registry_list(&f, &l) != 0);
      break;
    case 2:
      snprintf(pattern, sizeof pattern, "w%u-*", next_rand(&w->seed) % THREADS);
      f.name_pattern = pattern;
      error_if(sh, cx_registry_list(&f, &l) != 0);
      break;
    case 3:
      error_if(sh, cx_registry_history(NULL, 20, &l) != 0);
      break;
    case 4:
      f.status = CX_STATUS_CANCELLED;
      f.name_pattern = "w*-child";
      error_if(sh, cx_registry_history(&f, 0, &l) != 0);
      break;
    case 5: {
      /* Children of some live op. */
      cx_op_list all = {0};
      error_if(sh, cx_registry_list(NULL, &all) != 0);
      if (all.count > 0) {
        cx_op *p = all.ops[next_rand(&w->seed) % all.count];
        error_if(sh, cx_registry_children(cx_op_id(p), &l) != 0);
      }
      cx_op_list_free(&all);
      break;
    }
    case 6: {
      cx_registry_stats st;
      error_if(sh, cx_registry_get_stats(&st) != 0);
      error_if(sh, st.history > 1000);
      break;
    }
    case 7: {
      /* Find ops by id, live or finished. */
      cx_op_list h = {0};
      error_if(sh, cx_registry_history(NULL, 5, &h) != 0);
      for (size_t i = 0; i < h.count; i++) {
        cx_op *op = cx_registry_find(cx_op_id(h.ops[i]));
        /* May have been pruned meanwhile: NULL is fine. */
        if (op != NULL) {
          error_if(sh, strcmp(cx_op_id(op), cx_op_id(h.ops[i])) != 0);
          cx_op_unref(op);
        }
      }
      cx_op_list_free(&h);
      break;
    }
    case 8:
      if (next_rand(&w->seed) % 4 == 0)
        error_if(sh, cx_registry_prune(0.5, 0, 0) < 0);
      else
        error_if(sh, cx_registry_prune(0, 200, 0) < 0);
      break;
    default:
      cx_registry_set_history_size(next_rand(&w->seed) % 2 ? 100 : 1000);
      break;
  }
  touch_list(sh, &l);
  cx_op_list_free(&l);
}

static void do_cancels(worker *w) {
  shared *sh = w->sh;
  unsigned r = next_rand(&w->seed);
  if (r % 3 == 0) {
    /* By pattern: another thread's ops. */
    cx_op_filter f = CX_OP_FILTER_INIT;
    char pattern[32];
    snprintf(pattern, sizeof pattern, "w%u-*", next_rand(&w->seed) % THREADS);
    f.name_pattern = pattern;
    long n = cx_registry_cancel_all(&f, CX_REASON_MANUAL, "by pattern");
    error_if(sh, n < 0);
    if (n > 0) atomic_fetch_add(&sh->cancels, n);
  } else {
    /* By id: a random live op. */
    cx_op_list l = {0};
    error_if(sh, cx_registry_list(NULL, &l) != 0);
    if (l.count > 0) {
      cx_op *op = l.ops[next_rand(&w->seed) % l.count];
      int rc = cx_registry_cancel(cx_op_id(op), CX_REASON_MANUAL, "by id");
      /* It may have exited (or been cleared) meanwhile. */
      error_if(sh, rc != 0 && rc != 1 && rc != -ENOENT);
      if (rc == 1) atomic_fetch_add(&sh->cancels, 1);
    }
    cx_op_list_free(&l);
  }
}

/* One unit of work: a registered op, maybe with a registered child and a
 * timeout, that sleeps a little (a cancellation point) and ends in one of
 * the three ways. */
static void do_work(worker *w, long seq) {
  shared *sh = w->sh;
  cx_op_options o = CX_OP_OPTIONS_INIT;
  char name[32], child_name[32];
  cx_op *op = NULL, *child = NULL;
  unsigned r = next_rand(&w->seed);
  int rc;
  snprintf(name, sizeof name, "w%d-%ld", w->index, seq);
  o.name = name;
  o.register_op = true;
  if (r % 5 == 0) o.timeout = 0.001 * (1 + next_rand(&w->seed) % 3);
  if (cx_op_create(&op, &o) != 0 || cx_op_enter(op) != 0) {
    atomic_fetch_add(&sh->errors, 1);
    cx_op_unref(op);
    return;
  }
  if (r % 3 == 0) {
    cx_op_options co = CX_OP_OPTIONS_INIT;
    snprintf(child_name, sizeof child_name, "w%d-child", w->index);
    co.name = child_name;
    co.parent = op;
    co.register_op = true;
    if (cx_op_create(&child, &co) != 0 || cx_op_enter(child) != 0) {
      atomic_fetch_add(&sh->errors, 1);
      cx_op_unref(child);
      child = NULL;
    }
  }
  if (child != NULL) {
    cx_meta *m = cx_meta_new();
    if (m != NULL) {
      cx_meta_set_double(m, "progress", 50.0);
      cx_op_update_metadata(child, m);
      cx_meta_free(m);
    }
    rc = cx_sleep(child, 0.0005 * (next_rand(&w->seed) % 4));
    cx_op_exit(child, rc);
    count_exit(sh, child);
    cx_op_unref(child);
  }
  rc = cx_sleep(op, 0.0005 * (next_rand(&w->seed) % 4));
  if (rc == 0 && next_rand(&w->seed) % 7 == 0) rc = -EIO;
  error_if(sh, cx_op_exit(op, rc) != 0);
  count_exit(sh, op);
  cx_op_unref(op);
}

static void *worker_main(void *p) {
  worker *w = p;
  shared *sh = w->sh;
  long seq = 0;
  while (!atomic_load(&sh->stop)) {
    unsigned r = next_rand(&w->seed) % 10;
    if (r < 5)
      do_work(w, seq++);
    else if (r < 8)
      do_queries(w);
    else
      do_cancels(w);
    if (sh->with_clear && next_rand(&w->seed) % 500 == 0) cx_registry_clear();
  }
  return NULL;
}

static void run_stress(double seconds, bool with_clear) {
  shared sh;
  worker w[THREADS];
  pthread_t th[THREADS];
  cx_registry_stats st;
  memset(&sh, 0, sizeof sh);
  atomic_init(&sh.stop, false);
  sh.with_clear = with_clear;
  cx_registry_clear();
  cx_registry_set_default(false);
  cx_registry_set_history_size(1000);
  for (int i = 0; i < THREADS; i++) {
    w[i].sh = &sh;
    w[i].index = i;
    w[i].seed = 0x9e3779b9u * (unsigned)(i + 1);
    assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
  }
  cx_test_sleep(seconds);
  atomic_store(&sh.stop, true);
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);

  printf(
      "# %.1f s: %ld exits (%ld completed, %ld cancelled, %ld failed), "
      "%ld cancels, %ld queries\n",
      seconds, atomic_load(&sh.exits), atomic_load(&sh.completed),
      atomic_load(&sh.cancelled), atomic_load(&sh.failed),
      atomic_load(&sh.cancels), atomic_load(&sh.queries));
  assert_int_equal(atomic_load(&sh.errors), 0);
  assert_true(atomic_load(&sh.exits) > 100);
  assert_true(atomic_load(&sh.queries) > 100);
  assert_true(atomic_load(&sh.cancels) > 0);

  CX_ASSERT_OK(cx_registry_get_stats(&st));
  assert_int_equal(st.live, 0);
  if (!with_clear) {
    /* Every registered op was counted exactly once, by outcome. */
    assert_int_equal(st.completed, (uint64_t)atomic_load(&sh.completed));
    assert_int_equal(st.cancelled, (uint64_t)atomic_load(&sh.cancelled));
    assert_int_equal(st.failed, (uint64_t)atomic_load(&sh.failed));
  }
  assert_true(st.history <= 1000);
  cx_registry_clear();
  cx_registry_set_history_size(1000);
}

static void test_registry_stress_mixed(void **state) {
  (void)state;
  run_stress(stress_seconds(3.0), false);
}

/* The same with cx_registry_clear() racing everything (a third of the
 * time, at least 1 s). */
static void test_registry_stress_clear(void **state) {
  (void)state;
  double s = stress_seconds(3.0) / 3;
  run_stress(s < 1.0 ? 1.0 : s, true);
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/stress/registry/mixed", test_registry_stress_mixed),
    CX_TEST("/stress/registry/clear-races", test_registry_stress_clear),
};

CX_TEST_MAIN("registry-stress", tests)
