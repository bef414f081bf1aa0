/* tests/stress/test_stress.c - races, meant to be run under ThreadSanitizer
 * and AddressSanitizer as well as plain: 8 threads racing cancel, register
 * and unregister 100 000 times on one token (swapped for a fresh one every
 * few milliseconds so that the race stays live); many threads linking,
 * waiting and cancelling on one tree of tokens; a tree of operations whose
 * waiters are woken by a root cancel; timeouts racing work on many threads.
 * Invariants are checked with plain (non-atomic) user data so that a missing
 * happens-before edge in the library shows up as a TSan report.  Issue #2.
 */
#include "cx_test.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cancelable.h>

enum { THREADS = 8 };

static unsigned next_rand(unsigned *s) {
  *s = *s * 1103515245u + 12345u;
  return (*s >> 16) & 0x7fff;
}

static bool join_within(pthread_t th, double seconds) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  double end = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + seconds;
  ts.tv_sec = (time_t)end;
  ts.tv_nsec = (long)((end - (double)ts.tv_sec) * 1e9);
  return pthread_timedjoin_np(th, NULL, &ts) == 0;
}

/* ---------------------------------------------------------------------- */
/* 1. cancel / register / unregister on one token */

enum { CB_ITERATIONS = 100000 }; /* per thread */

typedef struct reg {
  int ran;         /* plain: written by the callback */
  int destroyed;   /* plain: written by destroy */
  atomic_int refs; /* the worker's and the library's (destroy) */
} reg;

typedef struct cb_shared {
  pthread_mutex_t mu;
  cx_token *current; /* guarded by mu */
  atomic_int done_workers;
  atomic_long tokens;      /* tokens created */
  atomic_long cancel_wins; /* cancels that returned true */
  atomic_long registered;  /* registrations that will get a destroy */
  atomic_long destroys;
  atomic_long errors;
  atomic_long running_seen; /* nowait returned RUNNING */
  atomic_long ran_at_once;
} cb_shared;

static cb_shared g_cb;

static void reg_release(reg *r) {
  if (atomic_fetch_sub(&r->refs, 1) == 1) free(r);
}

static int reg_cb(cx_token *token, void *user_data) {
  (void)token;
  reg *r = user_data;
  /* some callbacks take a while, so that unregister meets them running */
  if (((uintptr_t)r >> 4) % 8 == 0)
    for (volatile int k = 0; k < 20000; k++) {
    }
  r->ran++;
  return 0;
}

static void reg_destroy(void *user_data) {
  reg *r = user_data;
  if (r->destroyed != 0 || r->ran > 1) atomic_fetch_add(&g_cb.errors, 1);
  r->destroyed++;
  atomic_fetch_add(&g_cb.destroys, 1);
  reg_release(r);
}

static cx_token *current_token(void) {
  pthread_mutex_lock(&g_cb.mu);
  cx_token *t = cx_token_ref(g_cb.current);
  pthread_mutex_unlock(&g_cb.mu);
  return t;
}

static void *cb_worker(void *p) {
  unsigned seed = (unsigned)(uintptr_t)p * 7919u + 1;
  for (int i = 0; i < CB_ITERATIONS; i++) {
    cx_token *t = current_token();
    reg *r = calloc(1, sizeof *r);
    atomic_init(&r->refs, 2);
    unsigned flags =
        (next_rand(&seed) % 4 == 0) ? CX_CALLBACK_NO_RUN_IF_CANCELLED : 0;
    cx_callback *h = NULL;
    int rc = cx_token_on_cancel(t, reg_cb, r, reg_destroy, flags, &h);
    if (rc == 0) {
      atomic_fetch_add(&g_cb.registered, 1);
      unsigned spin = next_rand(&seed) % 64;
      for (volatile unsigned k = 0; k < spin; k++) {
      }
      if (next_rand(&seed) % 200 == 0) {
        /* swap in a fresh token, then cancel this one while the other
         * threads are registering on and unregistering from it */
        bool swapped = false;
        pthread_mutex_lock(&g_cb.mu);
        if (g_cb.current == t) {
          g_cb.current = cx_token_new();
          atomic_fetch_add(&g_cb.tokens, 1);
          swapped = true;
        }
        pthread_mutex_unlock(&g_cb.mu);
        if (cx_token_cancel(t, CX_REASON_MANUAL, "worker"))
          atomic_fetch_add(&g_cb.cancel_wins, 1);
        if (swapped) cx_token_unref(t); /* the slot's reference */
      }
      if (next_rand(&seed) % 2) {
        int u = cx_callback_unregister(h);
        /* the callback has returned: its write is visible (TSan) */
        if (u == CX_CALLBACK_REMOVED && r->ran != 0)
          atomic_fetch_add(&g_cb.errors, 1);
        else if (u == CX_CALLBACK_RAN && r->ran != 1)
          atomic_fetch_add(&g_cb.errors, 1);
        else if (u != CX_CALLBACK_REMOVED && u != CX_CALLBACK_RAN)
          atomic_fetch_add(&g_cb.errors, 1);
      } else {
        int u = cx_callback_unregister_nowait(h);
        if (u == CX_CALLBACK_REMOVED && r->ran != 0)
          atomic_fetch_add(&g_cb.errors, 1);
        else if (u == CX_CALLBACK_RAN && r->ran != 1)
          atomic_fetch_add(&g_cb.errors, 1);
        else if (u == CX_CALLBACK_RUNNING)
          atomic_fetch_add(&g_cb.running_seen, 1);
        else if (u < 0)
          atomic_fetch_add(&g_cb.errors, 1);
      }
      reg_release(r);
    } else if (rc == 1) {
      /* ran at once in this thread, destroy ran too */
      atomic_fetch_add(&g_cb.registered, 1);
      atomic_fetch_add(&g_cb.ran_at_once, 1);
      if (h != NULL) atomic_fetch_add(&g_cb.errors, 1);
      reg_release(r);
    } else if (rc == -ECANCELED && flags) {
      if (h != NULL) atomic_fetch_add(&g_cb.errors, 1);
      /* nothing ran and destroy will never run: both refs are ours */
      if (r->ran != 0 || r->destroyed != 0) atomic_fetch_add(&g_cb.errors, 1);
      free(r);
    } else {
      atomic_fetch_add(&g_cb.errors, 1);
      free(r);
    }
    cx_token_unref(t);
  }
  atomic_fetch_add(&g_cb.done_workers, 1);
  return NULL;
}

static void test_stress_callbacks_race(void **state) {
  (void)state;
  memset(&g_cb, 0, sizeof g_cb);
  pthread_mutex_init(&g_cb.mu, NULL);
  g_cb.current = cx_token_new();
  atomic_store(&g_cb.tokens, 1);
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(
        pthread_create(&th[i], NULL, cb_worker, (void *)(uintptr_t)i), 0);
  /* also swap in fresh tokens and cancel the old ones from here */
  double end = cx_test_now() + 240.0;
  while (atomic_load(&g_cb.done_workers) < THREADS && cx_test_now() < end) {
    cx_test_sleep(0.01);
    cx_token *fresh = cx_token_new();
    atomic_fetch_add(&g_cb.tokens, 1);
    pthread_mutex_lock(&g_cb.mu);
    cx_token *old = g_cb.current;
    g_cb.current = fresh;
    pthread_mutex_unlock(&g_cb.mu);
    if (cx_token_cancel(old, CX_REASON_MANUAL, "swap"))
      atomic_fetch_add(&g_cb.cancel_wins, 1);
    cx_token_unref(old);
  }
  for (int i = 0; i < THREADS; i++) assert_true(join_within(th[i], 60.0));
  if (cx_token_cancel(g_cb.current, CX_REASON_MANUAL, "last"))
    atomic_fetch_add(&g_cb.cancel_wins, 1);
  cx_token_unref(g_cb.current);
  g_cb.current = NULL;
  pthread_mutex_destroy(&g_cb.mu);

  print_message(
      "tokens %ld, registered %ld, ran at once %ld, "
      "nowait running %ld\n",
      (long)atomic_load(&g_cb.tokens), (long)atomic_load(&g_cb.registered),
      (long)atomic_load(&g_cb.ran_at_once),
      (long)atomic_load(&g_cb.running_seen));
  /* every token cancelled exactly once */
  assert_int_equal(atomic_load(&g_cb.cancel_wins), atomic_load(&g_cb.tokens));
  /* every registration destroyed exactly once */
  assert_int_equal(atomic_load(&g_cb.destroys), atomic_load(&g_cb.registered));
  assert_int_equal(atomic_load(&g_cb.errors), 0);
  /* the race really happened both ways */
  assert_true(atomic_load(&g_cb.ran_at_once) > 0);
  assert_true(atomic_load(&g_cb.tokens) > 100);
  assert_true(atomic_load(&g_cb.registered) > atomic_load(&g_cb.ran_at_once));
}

/* ---------------------------------------------------------------------- */
/* 2. linking, waiting and cancelling on one tree of tokens */

enum { TREE_MAX = 20000 };

typedef struct tree {
  cx_token *nodes[TREE_MAX];
  atomic_int calls[TREE_MAX];
  atomic_int count;     /* published nodes */
  pthread_mutex_t grow; /* serialises appends */
  atomic_int root_cancelled;
  atomic_long errors;
  atomic_long waits_woken;
} tree;

static tree *g_tree;

static int tree_cb(cx_token *token, void *user_data) {
  (void)token;
  atomic_fetch_add((atomic_int *)user_data, 1);
  return 0;
}

static void *tree_linker(void *p) {
  unsigned seed = (unsigned)(uintptr_t)p * 31u + 7;
  for (;;) {
    int n = atomic_load(&g_tree->count);
    if (n >= TREE_MAX) break;
    cx_token *t = cx_token_new();
    int parent = (int)(next_rand(&seed) % (unsigned)n);
    pthread_mutex_lock(&g_tree->grow);
    int idx = atomic_load(&g_tree->count);
    if (idx >= TREE_MAX) {
      pthread_mutex_unlock(&g_tree->grow);
      cx_token_unref(t);
      break;
    }
    if (cx_token_on_cancel(t, tree_cb, &g_tree->calls[idx], NULL, 0, NULL) != 0)
      atomic_fetch_add(&g_tree->errors, 1);
    g_tree->nodes[idx] = t;
    atomic_store(&g_tree->count, idx + 1);
    pthread_mutex_unlock(&g_tree->grow);
    /* link after publishing: waiters may already be on it */
    if (cx_token_link(
            t, g_tree->nodes[parent],
            (next_rand(&seed) % 3 == 0) ? CX_LINK_PRESERVE_REASON : 0) != 0)
      atomic_fetch_add(&g_tree->errors, 1);
    /* a second parent now and then */
    if (next_rand(&seed) % 5 == 0) {
      int other = (int)(next_rand(&seed) % (unsigned)(idx + 1));
      if (other != idx && cx_token_link(t, g_tree->nodes[other], 0) != 0)
        atomic_fetch_add(&g_tree->errors, 1);
    }
  }
  return NULL;
}

static void *tree_waiter(void *p) {
  unsigned seed = (unsigned)(uintptr_t)p * 131u + 3;
  while (!atomic_load(&g_tree->root_cancelled)) {
    int n = atomic_load(&g_tree->count);
    cx_token *t = g_tree->nodes[next_rand(&seed) % (unsigned)n];
    int r = cx_token_wait(t, 0.002);
    if (r == 0)
      atomic_fetch_add(&g_tree->waits_woken, 1);
    else if (r != -ETIMEDOUT)
      atomic_fetch_add(&g_tree->errors, 1);
  }
  /* after the root cancel every node is (or soon becomes) cancelled */
  for (int k = 0; k < 200; k++) {
    int n = atomic_load(&g_tree->count);
    cx_token *t = g_tree->nodes[next_rand(&seed) % (unsigned)n];
    if (cx_token_wait(t, 30.0) != 0) atomic_fetch_add(&g_tree->errors, 1);
  }
  return NULL;
}

static void *tree_canceller(void *p) {
  unsigned seed = (unsigned)(uintptr_t)p * 17u + 11;
  while (atomic_load(&g_tree->count) < TREE_MAX / 2) {
    int n = atomic_load(&g_tree->count);
    if (n > 1 && next_rand(&seed) % 50 == 0)
      cx_token_cancel(g_tree->nodes[1 + next_rand(&seed) % (unsigned)(n - 1)],
                      CX_REASON_CONDITION, "branch");
    cx_test_sleep(0.0002);
  }
  return NULL;
}

static void test_stress_token_tree(void **state) {
  (void)state;
  g_tree = calloc(1, sizeof *g_tree);
  assert_non_null(g_tree);
  pthread_mutex_init(&g_tree->grow, NULL);
  g_tree->nodes[0] = cx_token_new();
  CX_ASSERT_OK(cx_token_on_cancel(g_tree->nodes[0], tree_cb, &g_tree->calls[0],
                                  NULL, 0, NULL));
  atomic_store(&g_tree->count, 1);

  enum { LINKERS = 3, WAITERS = 3, CANCELLERS = 2 };
  pthread_t linkers[LINKERS], waiters[WAITERS], cancellers[CANCELLERS];
  for (int i = 0; i < LINKERS; i++)
    assert_int_equal(
        pthread_create(&linkers[i], NULL, tree_linker, (void *)(uintptr_t)i),
        0);
  for (int i = 0; i < WAITERS; i++)
    assert_int_equal(
        pthread_create(&waiters[i], NULL, tree_waiter, (void *)(uintptr_t)i),
        0);
  for (int i = 0; i < CANCELLERS; i++)
    assert_int_equal(pthread_create(&cancellers[i], NULL, tree_canceller,
                                    (void *)(uintptr_t)i),
                     0);
  /* cancel the root while the tree is still growing */
  double end = cx_test_now() + 120.0;
  while (atomic_load(&g_tree->count) < TREE_MAX * 2 / 3 && cx_test_now() < end)
    cx_test_sleep(0.001);
  assert_true(cx_token_cancel(g_tree->nodes[0], CX_REASON_MANUAL, "root"));
  atomic_store(&g_tree->root_cancelled, 1);

  for (int i = 0; i < LINKERS; i++) assert_true(join_within(linkers[i], 120));
  for (int i = 0; i < CANCELLERS; i++)
    assert_true(join_within(cancellers[i], 120));
  for (int i = 0; i < WAITERS; i++) assert_true(join_within(waiters[i], 120));

  int n = atomic_load(&g_tree->count);
  assert_int_equal(n, TREE_MAX);
  int not_cancelled = 0, bad_calls = 0;
  for (int i = 0; i < n; i++) {
    if (!cx_token_is_cancelled(g_tree->nodes[i])) not_cancelled++;
    if (atomic_load(&g_tree->calls[i]) != 1) bad_calls++;
    cx_reason r = cx_token_cancel_reason(g_tree->nodes[i]);
    if (r == CX_REASON_PARENT &&
        strncmp(cx_token_cancel_message(g_tree->nodes[i]), "parent cancelled (",
                18) != 0)
      atomic_fetch_add(&g_tree->errors, 1);
  }
  assert_int_equal(not_cancelled, 0);
  assert_int_equal(bad_calls, 0);
  assert_int_equal(atomic_load(&g_tree->errors), 0);
  for (int i = n - 1; i >= 0; i--) cx_token_unref(g_tree->nodes[i]);
  pthread_mutex_destroy(&g_tree->grow);
  free(g_tree);
  g_tree = NULL;
}

/* ---------------------------------------------------------------------- */
/* 3. a tree of operations: waiters in every cancellation point woken by the
 * root cancel; children created concurrently (some after the cancel) */

typedef struct op_tree {
  cx_op *root;
  atomic_int started;
  atomic_long errors;
  atomic_long cancelled;
} op_tree;

static op_tree g_ot;

static void *op_worker(void *p) {
  unsigned seed = (unsigned)(uintptr_t)p * 97u + 5;
  for (int k = 0; k < 40; k++) {
    cx_op_options o = CX_OP_OPTIONS_INIT;
    o.parent = g_ot.root;
    o.name = "worker";
    cx_op *mid = NULL;
    if (cx_op_create(&mid, &o) != 0 || cx_op_enter(mid) != 0) {
      atomic_fetch_add(&g_ot.errors, 1);
      return NULL;
    }
    o.parent = mid;
    o.name = "leaf";
    cx_op *leaf = NULL;
    if (cx_op_create(&leaf, &o) != 0 || cx_op_enter(leaf) != 0) {
      atomic_fetch_add(&g_ot.errors, 1);
      return NULL;
    }
    atomic_fetch_add(&g_ot.started, 1);
    int r;
    switch (next_rand(&seed) % 3) {
      case 0:
        r = cx_sleep(NULL, 0.001 * (next_rand(&seed) % 5));
        break;
      case 1:
        r = cx_poll(NULL, NULL, 0, 0.001 * (next_rand(&seed) % 5));
        if (r == -ETIMEDOUT) r = 0;
        break;
      default:
        r = cx_check(NULL);
        break;
    }
    if (r != 0 && r != -ECANCELED) atomic_fetch_add(&g_ot.errors, 1);
    if (cx_op_exit(leaf, r) != 0) atomic_fetch_add(&g_ot.errors, 1);
    if (cx_op_exit(mid, cx_check(mid)) != 0) atomic_fetch_add(&g_ot.errors, 1);
    if (r == -ECANCELED) {
      atomic_fetch_add(&g_ot.cancelled, 1);
      if (cx_op_status(leaf) != CX_STATUS_CANCELLED ||
          cx_op_cancel_reason(leaf) != CX_REASON_PARENT)
        atomic_fetch_add(&g_ot.errors, 1);
    }
    cx_op_unref(leaf);
    cx_op_unref(mid);
  }
  /* after the cancel: a long sleep ends at once */
  cx_op_options o = CX_OP_OPTIONS_INIT;
  o.parent = g_ot.root;
  cx_op *last = NULL;
  if (cx_op_create(&last, &o) != 0 || cx_op_enter(last) != 0) {
    atomic_fetch_add(&g_ot.errors, 1);
    return NULL;
  }
  int r = cx_sleep(last, 60.0);
  if (r != -ECANCELED) atomic_fetch_add(&g_ot.errors, 1);
  cx_op_exit(last, r);
  cx_op_unref(last);
  return NULL;
}

static void test_stress_op_tree(void **state) {
  (void)state;
  memset(&g_ot, 0, sizeof g_ot);
  cx_op_options o = CX_OP_OPTIONS_INIT;
  o.name = "root";
  CX_ASSERT_OK(cx_op_create(&g_ot.root, &o));
  CX_ASSERT_OK(cx_op_enter(g_ot.root));
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(
        pthread_create(&th[i], NULL, op_worker, (void *)(uintptr_t)i), 0);
  double end = cx_test_now() + 60.0;
  while (atomic_load(&g_ot.started) < THREADS * 10 && cx_test_now() < end)
    cx_test_sleep(0.001);
  assert_true(cx_op_cancel(g_ot.root, CX_REASON_MANUAL, "root"));
  for (int i = 0; i < THREADS; i++) assert_true(join_within(th[i], 120.0));
  CX_ASSERT_OK(cx_op_exit(g_ot.root, -ECANCELED));
  assert_int_equal(cx_op_status(g_ot.root), CX_STATUS_CANCELLED);
  cx_op_unref(g_ot.root);
  assert_int_equal(atomic_load(&g_ot.errors), 0);
  assert_true(atomic_load(&g_ot.cancelled) > 0);
}

/* ---------------------------------------------------------------------- */
/* 4. timeouts racing the work on many threads */

typedef struct to_stats {
  atomic_long errors;
  atomic_long timed_out;
  atomic_long completed;
} to_stats;

static to_stats g_to;

static void *timeout_worker(void *p) {
  unsigned seed = (unsigned)(uintptr_t)p * 13u + 1;
  for (int k = 0; k < 300; k++) {
    bool short_to = next_rand(&seed) % 2;
    cx_op *op = NULL;
    if (cx_op_with_timeout(&op, NULL, short_to ? 0.001 : 30.0, NULL) != 0) {
      atomic_fetch_add(&g_to.errors, 1);
      continue;
    }
    cx_op_enter(op);
    int r = cx_sleep(op, short_to ? 10.0 : 0.0005);
    cx_op_exit(op, r);
    if (short_to) {
      if (r != -ECANCELED || cx_op_status(op) != CX_STATUS_CANCELLED ||
          cx_op_cancel_reason(op) != CX_REASON_TIMEOUT)
        atomic_fetch_add(&g_to.errors, 1);
      else
        atomic_fetch_add(&g_to.timed_out, 1);
    } else {
      if (r != 0 || cx_op_status(op) != CX_STATUS_COMPLETED)
        atomic_fetch_add(&g_to.errors, 1);
      else
        atomic_fetch_add(&g_to.completed, 1);
    }
    cx_op_unref(op);
  }
  return NULL;
}

static void test_stress_timeouts(void **state) {
  (void)state;
  memset(&g_to, 0, sizeof g_to);
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(
        pthread_create(&th[i], NULL, timeout_worker, (void *)(uintptr_t)i), 0);
  for (int i = 0; i < THREADS; i++) assert_true(join_within(th[i], 200.0));
  assert_int_equal(atomic_load(&g_to.errors), 0);
  assert_int_equal(atomic_load(&g_to.timed_out) + atomic_load(&g_to.completed),
                   THREADS * 300);
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/stress/callbacks/cancel-register-unregister",
            test_stress_callbacks_race),
    CX_TEST("/stress/token-tree/link-wait-cancel", test_stress_token_tree),
    CX_TEST("/stress/op-tree/cascade", test_stress_op_tree),
    CX_TEST("/stress/timeouts", test_stress_timeouts),
};

CX_TEST_MAIN("stress", tests)
