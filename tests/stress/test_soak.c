/* tests/stress/test_soak.c - a randomized multi-threaded soak (issue 13,
 * "keep the attacks"): threads build trees of tokens and of operations,
 * publish them in a shared table, and every thread cancels, links,
 * reports progress, queries and cancels through the registry at random.
 * Invariants, checked as it runs:
 *  - when any cancel returns, on any thread, every descendant of the
 *    cancelled node is cancelled (token trees: a DAG with random extra
 *    links; op trees: every child still RUNNING);
 *  - a token's callbacks run after its whole subtree is cancelled, and
 *    exactly once iff it is cancelled (checked when the tree is freed);
 *  - a link is refused (-ELOOP) exactly when it would close a cycle, also
 *    through tokens cancelled before the link;
 *  - a cancel made from inside a callback returns with its subtree
 *    cancelled too;
 *  - every op ends in exactly one final status, its status callbacks fire
 *    once, and a cancel after exit is refused.
 * Runs CX_SOAK_SECONDS seconds (default 2); CI runs a minute of it under
 * TSan and under ASan (`scripts/soak.sh`). */
#include "cx_test.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cancelable.h>

enum { THREADS = 6, SLOTS = 32, NODES = 12, OPS = 6 };

/* Checks for the soak's threads (cmocka's asserts belong to the main
 * thread): print where and abort, so that a failure is never lost. */
#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                 \
    }                                                                          \
  } while (0)

static unsigned rnd(unsigned *s) {
  *s = *s * 1103515245u + 12345u;
  return (*s >> 16) & 0x7fff;
}

/* ---- token trees */

typedef struct tnode {
  cx_token *token;
  struct ttree *tree;
  int index;
  atomic_int runs; /* callback runs */
  atomic_bool bad; /* a callback saw a live descendant */
} tnode;

typedef struct ttree {
  atomic_int refs;
  tnode nodes[NODES];
  /* reach[i] bit j: j is a descendant of i (immutable once published). */
  uint32_t reach[NODES];
} ttree;

/* Whether every descendant of node @i is cancelled. */
static bool subtree_cancelled(const ttree *tr, int i) {
  for (int j = 0; j < NODES; j++)
    if ((tr->reach[i] >> j & 1) && !cx_token_is_cancelled(tr->nodes[j].token))
      return false;
  return true;
}

static int on_node_cancel(cx_token *t, void *user_data) {
  tnode *n = user_data;
  ttree *tr = n->tree;
  (void)t;
  if (!subtree_cancelled(tr, n->index)) atomic_store(&n->bad, true);
  if (n->index % 4 == 1) {
    /* A cancel from inside a callback: its subtree too is cancelled when
     * it returns. */
    int k = (n->index * 5 + 2) % NODES;
    cx_token_cancel(tr->nodes[k].token, CX_REASON_MANUAL, "from callback");
    if (!subtree_cancelled(tr, k)) atomic_store(&n->bad, true);
  }
  atomic_fetch_add(&n->runs, 1);
  return 0;
}

/* Closes reach[] under the edge parent -> child. */
static void add_edge(ttree *tr, int parent, int child) {
  uint32_t below = tr->reach[child] | (1u << child);
  for (int i = 0; i < NODES; i++)
    if (i == parent || (tr->reach[i] >> parent & 1)) tr->reach[i] |= below;
}

static ttree *ttree_make(unsigned *seed) {
  ttree *tr = calloc(1, sizeof *tr);
  CHECK(NULL != tr);
  atomic_init(&tr->refs, 1);
  for (int i = 0; i < NODES; i++) {
    tnode *n = &tr->nodes[i];
    n->tree = tr;
    n->index = i;
    if (i == 0) {
      n->token = cx_token_new();
      CHECK(NULL != n->token);
    } else {
      int parent = (int)(rnd(seed) % (unsigned)i);
      CHECK((cx_token_new_child(&n->token, tr->nodes[parent].token,
                                rnd(seed) & 1 ? CX_LINK_PRESERVE_REASON : 0)) ==
            0);
      add_edge(tr, parent, i);
    }
  }
  /* Sometimes a node is cancelled first: a cycle through a cancelled token
   * is a cycle too. */
  if (rnd(seed) % 3 == 0)
    cx_token_cancel(tr->nodes[rnd(seed) % NODES].token, CX_REASON_MANUAL, NULL);
  /* Extra links, any direction: refused exactly when they close a cycle. */
  for (int k = 0; k < 4; k++) {
    int a = (int)(rnd(seed) % NODES), b = (int)(rnd(seed) % NODES);
    int rc;
    if (a == b) continue;
    rc = cx_token_link(tr->nodes[b].token, tr->nodes[a].token, 0);
    if (tr->reach[b] >> a & 1) {
      CHECK((rc) == -ELOOP);
    } else {
      CHECK((rc) == 0);
      add_edge(tr, a, b);
    }
  }
  for (int i = 0; i < NODES; i++) {
    /* 1: it was cancelled already, and the callback ran at once. */
    int rc = cx_token_on_cancel(tr->nodes[i].token, on_node_cancel,
                                &tr->nodes[i], NULL, 0, NULL);
    CHECK(rc == 0 || (rc == 1 && cx_token_is_cancelled(tr->nodes[i].token)));
  }
  return tr;
}

static void ttree_unref(ttree *tr) {
  if (atomic_fetch_sub(&tr->refs, 1) != 1) return;
  for (int i = 0; i < NODES; i++) {
    tnode *n = &tr->nodes[i];
    int runs = atomic_load(&n->runs);
    CHECK((runs) == (cx_token_is_cancelled(n->token) ? 1 : 0));
    CHECK(!atomic_load(&n->bad));
    cx_token_unref(n->token);
  }
  free(tr);
}

static void ttree_cancel_some(ttree *tr, unsigned *seed) {
  int i = (int)(rnd(seed) % NODES);
  cx_token_cancel(tr->nodes[i].token, CX_REASON_MANUAL, "soak");
  for (int j = 0; j < NODES; j++)
    if (tr->reach[i] >> j & 1) CHECK(cx_token_is_cancelled(tr->nodes[j].token));
}

/* ---- the shared table */

static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static ttree *table[SLOTS];    /* guarded by table_mu */
static cx_op *op_table[SLOTS]; /* guarded by table_mu: running roots */

static void publish_tree(ttree *tr, unsigned *seed) {
  ttree *old;
  int slot = (int)(rnd(seed) % SLOTS);
  atomic_fetch_add(&tr->refs, 1);
  pthread_mutex_lock(&table_mu);
  old = table[slot];
  table[slot] = tr;
  pthread_mutex_unlock(&table_mu);
  if (old != NULL) ttree_unref(old);
}

static ttree *take_tree(unsigned *seed) {
  ttree *tr;
  pthread_mutex_lock(&table_mu);
  tr = table[rnd(seed) % SLOTS];
  if (tr != NULL) atomic_fetch_add(&tr->refs, 1);
  pthread_mutex_unlock(&table_mu);
  return tr;
}

static cx_op *take_op(unsigned *seed) {
  cx_op *op;
  pthread_mutex_lock(&table_mu);
  op = cx_op_ref(op_table[rnd(seed) % SLOTS]);
  pthread_mutex_unlock(&table_mu);
  return op;
}

static void set_op_slot(int slot, cx_op *op) {
  cx_op *old;
  pthread_mutex_lock(&table_mu);
  old = op_table[slot];
  op_table[slot] = cx_op_ref(op);
  pthread_mutex_unlock(&table_mu);
  cx_op_unref(old);
}

/* ---- op trees */

typedef struct op_events {
  atomic_int count;
} op_events;

static void on_event(cx_op *op, void *user_data) {
  (void)op;
  atomic_fetch_add(&((op_events *)user_data)->count, 1);
}

/* Cancels a published op and checks its running children. */
static void cancel_op_checked(cx_op *op, unsigned *seed) {
  cx_op_list kids = {NULL, 0};
  cx_op_cancel(op, rnd(seed) & 1 ? CX_REASON_MANUAL : CX_REASON_ERROR, "soak");
  if (cx_op_status(op) != CX_STATUS_RUNNING) return;
  if (cx_registry_children(cx_op_id(op), &kids) != 0) return;
  for (size_t i = 0; i < kids.count; i++) {
    /* Still running after the parent's cancel returned: reached by it. */
    if (cx_op_status(kids.ops[i]) == CX_STATUS_RUNNING)
      CHECK(cx_op_is_cancelled(kids.ops[i]));
  }
  cx_op_list_free(&kids);
}

/* A chain of OPS ops entered on this thread, published, worked on, ended
 * innermost first; each must end once with one status callback. */
static void run_op_chain(unsigned *seed) {
  cx_op *ops[OPS];
  op_events ev[OPS];
  int slot = (int)(rnd(seed) % SLOTS);
  for (int i = 0; i < OPS; i++) {
    cx_op_options o = CX_OP_OPTIONS_INIT;
    o.parent = i > 0 ? ops[i - 1] : NULL;
    o.register_op = true;
    o.name = i == 0 ? "soak-root" : "soak-child";
    if (rnd(seed) % 4 == 0) o.timeout = 0.0005 * (1 + rnd(seed) % 8);
    CHECK((cx_op_create(&ops[i], &o)) == 0);
    atomic_init(&ev[i].count, 0);
    for (cx_op_event e = CX_OP_ON_COMPLETE; e <= CX_OP_ON_ERROR; e++)
      CHECK((cx_op_on(ops[i], e, on_event, &ev[i], NULL)) == 0);
    CHECK((cx_op_enter(ops[i])) == 0);
  }
  set_op_slot(slot, ops[0]);
  for (int step = 0; step < 20; step++) {
    cx_meta *m = cx_meta_new();
    if (m != NULL) {
      cx_meta_set_int(m, "current", step);
      cx_meta_set_int(m, "total", 20);
    }
    cx_report_progress(ops[OPS - 1], "step", m);
    cx_meta_free(m);
    if (cx_check(NULL) != 0) break;
  }
  for (int i = OPS - 1; i >= 0; i--) {
    int rc =
        rnd(seed) % 3 == 0 ? -EIO : (cx_check(ops[i]) != 0 ? -ECANCELED : 0);
    cx_status st;
    CHECK((cx_op_exit(ops[i], rc)) == 0);
    st = cx_op_status(ops[i]);
    CHECK(st == CX_STATUS_COMPLETED || st == CX_STATUS_CANCELLED ||
          st == CX_STATUS_FAILED);
    CHECK((atomic_load(&ev[i].count)) == (1));
    CHECK(!cx_op_cancel(ops[i], CX_REASON_MANUAL, NULL));
  }
  for (int i = 0; i < OPS; i++) cx_op_unref(ops[i]);
}

/* ---- the threads */

static double soak_until;

static void *soak_thread(void *arg) {
  unsigned seed = (unsigned)(uintptr_t)arg * 7919u + 1;
  while (cx_test_now() < soak_until) {
    unsigned what = rnd(&seed) % 10;
    if (what < 3) {
      ttree *tr = ttree_make(&seed);
      publish_tree(tr, &seed);
      ttree_unref(tr);
    } else if (what < 6) {
      ttree *tr = take_tree(&seed);
      if (tr != NULL) {
        ttree_cancel_some(tr, &seed);
        ttree_unref(tr);
      }
    } else if (what < 8) {
      run_op_chain(&seed);
    } else if (what < 9) {
      cx_op *op = take_op(&seed);
      if (op != NULL) cancel_op_checked(op, &seed);
      cx_op_unref(op);
    } else {
      cx_op_filter f = CX_OP_FILTER_INIT;
      f.name_pattern = "soak-*";
      cx_registry_cancel_all(&f, CX_REASON_MANUAL, "sweep");
    }
  }
  return NULL;
}

static void test_soak(void **state) {
  pthread_t th[THREADS];
  const char *env = getenv("CX_SOAK_SECONDS");
  double seconds = env != NULL ? atof(env) : 2.0;
  (void)state;
  cx_registry_set_history_size(64);
  soak_until = cx_test_now() + seconds;
  for (uintptr_t i = 0; i < THREADS; i++)
    assert_int_equal(pthread_create(&th[i], NULL, soak_thread, (void *)i), 0);
  for (int i = 0; i < THREADS; i++)
    assert_true(cx_test_join_within(th[i], seconds + 120, NULL));
  for (int i = 0; i < SLOTS; i++) {
    if (table[i] != NULL) ttree_unref(table[i]);
    cx_op_unref(op_table[i]);
    table[i] = NULL;
    op_table[i] = NULL;
  }
  cx_registry_clear();
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/stress/soak", test_soak),
};

CX_TEST_MAIN("soak", tests)
