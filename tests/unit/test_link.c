/* tests/unit/test_link.c - linked tokens: reason PARENT and its message,
 * PRESERVE_REASON, several sources, one source feeding many tokens, an
 * already-cancelled source, bad input, a 100 000-deep chain cancelled
 * (and freed) without stack overflow, and linking racing a cancel.
 * Issue #2.
 */
#include "cx_test.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cancelable.h>

enum { DEEP = 100000 };

static int count_cb(cx_token *token, void *user_data) {
  (void)token;
  atomic_fetch_add((atomic_int *)user_data, 1);
  return 0;
}

/* Run @fn(@arg) on a thread with a small stack, so that recursion over a
 * deep chain overflows deterministically instead of depending on the main
 * thread's 8 MiB. */
static void run_on_small_stack(void *(*fn)(void *), void *arg) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_t th;
  assert_int_equal(pthread_create(&th, &attr, fn, arg), 0);
  pthread_attr_destroy(&attr);
  pthread_join(th, NULL);
}

static void test_link_parent_reason_and_message(void **state) {
  (void)state;
  cx_token *src = cx_token_new(), *t = cx_token_new();
  CX_ASSERT_OK(cx_token_link(t, src, 0));
  assert_false(cx_token_is_cancelled(t));
  assert_true(cx_token_cancel(src, CX_REASON_TIMEOUT, "too slow"));
  assert_true(cx_token_is_cancelled(t));
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_PARENT);
  assert_string_equal(cx_token_cancel_message(t),
                      "parent cancelled (timeout): too slow");
  assert_true(cx_token_cancel_time(t) > 0.0);
  /* the linked token was cancelled by the link: a later cancel loses */
  assert_false(cx_token_cancel(t, CX_REASON_MANUAL, "late"));
  cx_token_unref(t);
  cx_token_unref(src);
}

static void test_link_parent_message_empty(void **state) {
  (void)state;
  cx_token *src = cx_token_new(), *t = cx_token_new();
  CX_ASSERT_OK(cx_token_link(t, src, 0));
  cx_token_cancel(src, CX_REASON_MANUAL, NULL);
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_PARENT);
  assert_non_null(cx_token_cancel_message(t));
  assert_non_null(
      strstr(cx_token_cancel_message(t), "parent cancelled (manual)"));
  cx_token_unref(t);
  cx_token_unref(src);
}

static void test_link_preserve_reason(void **state) {
  (void)state;
  cx_token *src = cx_token_new(), *t = cx_token_new();
  CX_ASSERT_OK(cx_token_link(t, src, CX_LINK_PRESERVE_REASON));
  cx_token_cancel(src, CX_REASON_SIGNAL, "SIGINT");
  assert_true(cx_token_is_cancelled(t));
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_SIGNAL);
  assert_string_equal(cx_token_cancel_message(t), "SIGINT");
  cx_token_unref(t);
  cx_token_unref(src);
}

static void test_link_does_not_flow_back(void **state) {
  (void)state;
  cx_token *src = cx_token_new(), *t = cx_token_new();
  CX_ASSERT_OK(cx_token_link(t, src, 0));
  assert_true(cx_token_cancel(t, CX_REASON_MANUAL, "child only"));
  assert_false(cx_token_is_cancelled(src));
  /* the source cancelling later does not change the child */
  assert_true(cx_token_cancel(src, CX_REASON_TIMEOUT, NULL));
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_MANUAL);
  assert_string_equal(cx_token_cancel_message(t), "child only");
  cx_token_unref(t);
  cx_token_unref(src);
}

static void test_link_multiple_sources(void **state) {
  (void)state;
  cx_token *a = cx_token_new(), *b = cx_token_new(), *c = cx_token_new();
  cx_token *t = cx_token_new();
  atomic_int calls = 0;
  CX_ASSERT_OK(cx_token_on_cancel(t, count_cb, &calls, NULL, 0, NULL));
  CX_ASSERT_OK(cx_token_link(t, a, 0));
  CX_ASSERT_OK(cx_token_link(t, b, 0));
  CX_ASSERT_OK(cx_token_link(t, c, CX_LINK_PRESERVE_REASON));
  cx_token_cancel(b, CX_REASON_CONDITION, "b fired");
  assert_true(cx_token_is_cancelled(t));
  assert_false(cx_token_is_cancelled(a));
  assert_false(cx_token_is_cancelled(c));
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_PARENT);
  assert_string_equal(cx_token_cancel_message(t),
                      "parent cancelled (condition): b fired");
  /* the first wins */
  cx_token_cancel(a, CX_REASON_TIMEOUT, "a fired");
  cx_token_cancel(c, CX_REASON_SIGNAL, "c fired");
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_PARENT);
  assert_string_equal(cx_token_cancel_message(t),
                      "parent cancelled (condition): b fired");
  assert_int_equal(atomic_load(&calls), 1);
  cx_token_unref(t);
  cx_token_unref(a);
  cx_token_unref(b);
  cx_token_unref(c);
}

static void test_link_preserve_via_second_source(void **state) {
  (void)state;
  cx_token *a = cx_token_new(), *b = cx_token_new(), *t = cx_token_new();
  CX_ASSERT_OK(cx_token_link(t, a, 0));
  CX_ASSERT_OK(cx_token_link(t, b, CX_LINK_PRESERVE_REASON));
  cx_token_cancel(b, CX_REASON_ERROR, "disk full");
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_ERROR);
  assert_string_equal(cx_token_cancel_message(t), "disk full");
  cx_token_unref(t);
  cx_token_unref(a);
  cx_token_unref(b);
}

static void test_link_one_source_many_tokens(void **state) {
  (void)state;
  enum { N = 1000 };
  cx_token *src = cx_token_new();
  cx_token **ts = calloc(N, sizeof *ts);
  atomic_int calls = 0;
  for (int i = 0; i < N; i++) {
    ts[i] = cx_token_new();
    CX_ASSERT_OK(
        cx_token_link(ts[i], src, (i % 2) ? CX_LINK_PRESERVE_REASON : 0));
    CX_ASSERT_OK(cx_token_on_cancel(ts[i], count_cb, &calls, NULL, 0, NULL));
  }
  /* free some before the cancel: their links go away with them */
  for (int i = 0; i < N; i += 4) {
    cx_token_unref(ts[i]);
    ts[i] = NULL;
  }
  cx_token_cancel(src, CX_REASON_MANUAL, "all");
  int live = 0;
  for (int i = 0; i < N; i++) {
    if (ts[i] == NULL) continue;
    live++;
    assert_true(cx_token_is_cancelled(ts[i]));
    assert_int_equal(cx_token_cancel_reason(ts[i]),
                     (i % 2) ? CX_REASON_MANUAL : CX_REASON_PARENT);
    cx_token_unref(ts[i]);
  }
  assert_int_equal(atomic_load(&calls), live);
  free(ts);
  cx_token_unref(src);
}

static void test_link_already_cancelled_source(void **state) {
  (void)state;
  cx_token *src = cx_token_new(), *t = cx_token_new(), *p = cx_token_new();
  cx_token_cancel(src, CX_REASON_TIMEOUT, "earlier");
  atomic_int calls = 0;
  CX_ASSERT_OK(cx_token_on_cancel(t, count_cb, &calls, NULL, 0, NULL));
  CX_ASSERT_OK(cx_token_link(t, src, 0));
  /* cancelled at once, callbacks run before link returns */
  assert_true(cx_token_is_cancelled(t));
  assert_int_equal(atomic_load(&calls), 1);
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_PARENT);
  assert_string_equal(cx_token_cancel_message(t),
                      "parent cancelled (timeout): earlier");

  CX_ASSERT_OK(cx_token_link(p, src, CX_LINK_PRESERVE_REASON));
  assert_int_equal(cx_token_cancel_reason(p), CX_REASON_TIMEOUT);
  assert_string_equal(cx_token_cancel_message(p), "earlier");
  cx_token_unref(t);
  cx_token_unref(p);
  cx_token_unref(src);
}

static void test_link_to_cancelled_token_is_harmless(void **state) {
  (void)state;
  cx_token *src = cx_token_new(), *t = cx_token_new();
  cx_token_cancel(t, CX_REASON_MANUAL, "mine");
  CX_ASSERT_OK(cx_token_link(t, src, 0));
  cx_token_cancel(src, CX_REASON_TIMEOUT, NULL);
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_MANUAL);
  assert_string_equal(cx_token_cancel_message(t), "mine");
  cx_token_unref(t);
  cx_token_unref(src);
}

static void test_link_bad_input(void **state) {
  (void)state;
  cx_token *src = cx_token_new(), *t = cx_token_new();
  CX_ASSERT_ERR(-EINVAL, cx_token_link(NULL, src, 0));
  CX_ASSERT_ERR(-EINVAL, cx_token_link(t, NULL, 0));
  CX_ASSERT_ERR(-EINVAL, cx_token_link(t, t, 0));
  CX_ASSERT_ERR(-EINVAL, cx_token_link(t, src, 1u << 9));
  /* nothing changed: no link was made by the failed calls */
  assert_false(cx_token_is_cancelled(t));
  cx_token_cancel(src, CX_REASON_MANUAL, NULL);
  assert_false(cx_token_is_cancelled(t));
  assert_true(cx_token_is_cancelled(src));
  cx_token_unref(t);
  cx_token_unref(src);
}

/* The link holds a reference on the source: the source outlives our
 * reference, and cancelling it through another path still cascades. */
static void test_link_holds_source(void **state) {
  (void)state;
  cx_token *src = cx_token_new(), *t = cx_token_new();
  cx_token *outer = cx_token_new();
  CX_ASSERT_OK(cx_token_link(src, outer, 0));
  CX_ASSERT_OK(cx_token_link(t, src, 0));
  cx_token_unref(src); /* the link of t keeps it */
  cx_token_cancel(outer, CX_REASON_MANUAL, "outer");
  assert_true(cx_token_is_cancelled(t));
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_PARENT);
  /* message names the origin: outer's reason and message */
  assert_string_equal(cx_token_cancel_message(t),
                      "parent cancelled (manual): outer");
  cx_token_unref(t);
  cx_token_unref(outer);
}

/* A linked token freed before its source is cancelled: no use after free
 * (ASan), and the source's other links still work. */
static void test_link_child_freed_first(void **state) {
  (void)state;
  cx_token *src = cx_token_new();
  cx_token *a = cx_token_new(), *b = cx_token_new();
  CX_ASSERT_OK(cx_token_link(a, src, 0));
  CX_ASSERT_OK(cx_token_link(b, src, 0));
  cx_token_unref(a);
  cx_token_cancel(src, CX_REASON_MANUAL, NULL);
  assert_true(cx_token_is_cancelled(b));
  cx_token_unref(b);
  cx_token_unref(src);
}

/* Diamond: d follows b and c, which both follow a. */
static void test_link_diamond(void **state) {
  (void)state;
  cx_token *a = cx_token_new(), *b = cx_token_new(), *c = cx_token_new(),
           *d = cx_token_new();
  CX_ASSERT_OK(cx_token_link(b, a, 0));
  CX_ASSERT_OK(cx_token_link(c, a, 0));
  CX_ASSERT_OK(cx_token_link(d, b, 0));
  CX_ASSERT_OK(cx_token_link(d, c, 0));
  atomic_int calls = 0;
  CX_ASSERT_OK(cx_token_on_cancel(d, count_cb, &calls, NULL, 0, NULL));
  cx_token_cancel(a, CX_REASON_MANUAL, "top");
  assert_int_equal(atomic_load(&calls), 1);
  assert_int_equal(cx_token_cancel_reason(d), CX_REASON_PARENT);
  assert_string_equal(cx_token_cancel_message(d),
                      "parent cancelled (manual): top");
  cx_token_unref(d);
  cx_token_unref(c);
  cx_token_unref(b);
  cx_token_unref(a);
}

/* ---------------------------------------------------------------------- */
/* a 100 000-deep chain */

typedef struct chain {
  cx_token **t;
  atomic_int calls;
  unsigned flags;
  bool cancelled;
} chain;

static void build_chain(chain *c, unsigned flags) {
  c->t = calloc(DEEP, sizeof *c->t);
  assert_non_null(c->t);
  atomic_store(&c->calls, 0);
  c->flags = flags;
  for (int i = 0; i < DEEP; i++) {
    c->t[i] = cx_token_new();
    assert_non_null(c->t[i]);
    if (i > 0) CX_ASSERT_OK(cx_token_link(c->t[i], c->t[i - 1], flags));
    if (i % 1000 == 999)
      CX_ASSERT_OK(
          cx_token_on_cancel(c->t[i], count_cb, &c->calls, NULL, 0, NULL));
  }
}

static void *cancel_root(void *p) {
  chain *c = p;
  c->cancelled = cx_token_cancel(c->t[0], CX_REASON_MANUAL, "root");
  return NULL;
}

static void test_link_deep_chain_cancel(void **state) {
  (void)state;
  chain c;
  build_chain(&c, 0);
  run_on_small_stack(cancel_root, &c);
  assert_true(c.cancelled);
  for (int i = 1; i < DEEP; i++) {
    if (!cx_token_is_cancelled(c.t[i])) fail_msg("token %d not cancelled", i);
    if (cx_token_cancel_reason(c.t[i]) != CX_REASON_PARENT)
      fail_msg("token %d reason %d", i, cx_token_cancel_reason(c.t[i]));
  }
  assert_int_equal(atomic_load(&c.calls), DEEP / 1000);
  /* names the token where the cancellation started */
  assert_string_equal(cx_token_cancel_message(c.t[DEEP - 1]),
                      "parent cancelled (manual): root");
  for (int i = DEEP - 1; i >= 0; i--) cx_token_unref(c.t[i]);
  free(c.t);
}

static void test_link_deep_chain_preserve(void **state) {
  (void)state;
  chain c;
  build_chain(&c, CX_LINK_PRESERVE_REASON);
  run_on_small_stack(cancel_root, &c);
  assert_true(c.cancelled);
  assert_int_equal(cx_token_cancel_reason(c.t[DEEP - 1]), CX_REASON_MANUAL);
  assert_string_equal(cx_token_cancel_message(c.t[DEEP - 1]), "root");
  assert_int_equal(atomic_load(&c.calls), DEEP / 1000);
  for (int i = DEEP - 1; i >= 0; i--) cx_token_unref(c.t[i]);
  free(c.t);
}

/* Each link holds a reference on its source, so dropping our references
 * root first leaves the whole chain hanging off the last token: its unref
 * frees 100 000 tokens in a row, which must not recurse either. */
static void *unref_root_first(void *p) {
  chain *c = p;
  for (int i = 0; i < DEEP; i++) cx_token_unref(c->t[i]);
  return NULL;
}

static void test_link_deep_chain_free(void **state) {
  (void)state;
  chain c;
  build_chain(&c, 0);
  run_on_small_stack(unref_root_first, &c);
  free(c.t);
}

/* Linking to a source while another thread cancels it: the linked token
 * always ends up cancelled (by the cascade or at once by the link). */
typedef struct link_race {
  cx_token *src;
  atomic_int go;
} link_race;

static void *race_cancel_src(void *p) {
  link_race *r = p;
  while (!atomic_load(&r->go)) {
  }
  cx_token_cancel(r->src, CX_REASON_MANUAL, "race");
  return NULL;
}

static void test_link_race_with_cancel(void **state) {
  (void)state;
  for (int round = 0; round < 300; round++) {
    link_race r = {cx_token_new(), 0};
    cx_token *t = cx_token_new();
    atomic_int calls = 0;
    CX_ASSERT_OK(cx_token_on_cancel(t, count_cb, &calls, NULL, 0, NULL));
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, race_cancel_src, &r), 0);
    atomic_store(&r.go, 1);
    CX_ASSERT_OK(cx_token_link(t, r.src, 0));
    pthread_join(th, NULL);
    assert_true(cx_token_is_cancelled(t));
    assert_int_equal(cx_token_cancel_reason(t), CX_REASON_PARENT);
    assert_int_equal(atomic_load(&calls), 1);
    cx_token_unref(t);
    cx_token_unref(r.src);
  }
}

/* cx_token_wait and the pollable fd of a linked token wake up. */
static void test_link_wakes_waiters(void **state) {
  (void)state;
  cx_token *src = cx_token_new(), *t = cx_token_new();
  CX_ASSERT_OK(cx_token_link(t, src, 0));
  int fd = cx_token_fd(t);
  assert_true(fd >= 0);
  CX_ASSERT_ERR(-ETIMEDOUT, cx_token_wait(t, 0.0));
  cx_token_cancel(src, CX_REASON_MANUAL, NULL);
  CX_ASSERT_OK(cx_token_wait(t, 5.0));
  struct pollfd p = {.fd = fd, .events = POLLIN};
  assert_int_equal(poll(&p, 1, 0), 1);
  cx_token_unref(t);
  cx_token_unref(src);
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/link/parent/reason-and-message",
            test_link_parent_reason_and_message),
    CX_TEST("/link/parent/message-empty", test_link_parent_message_empty),
    CX_TEST("/link/preserve-reason", test_link_preserve_reason),
    CX_TEST("/link/does-not-flow-back", test_link_does_not_flow_back),
    CX_TEST("/link/multiple-sources", test_link_multiple_sources),
    CX_TEST("/link/multiple-sources/preserve-on-one",
            test_link_preserve_via_second_source),
    CX_TEST("/link/one-source-many-tokens", test_link_one_source_many_tokens),
    CX_TEST("/link/already-cancelled-source",
            test_link_already_cancelled_source),
    CX_TEST("/link/already-cancelled-token",
            test_link_to_cancelled_token_is_harmless),
    CX_TEST("/link/bad-input", test_link_bad_input),
    CX_TEST("/link/holds-source", test_link_holds_source),
    CX_TEST("/link/child-freed-first", test_link_child_freed_first),
    CX_TEST("/link/diamond", test_link_diamond),
    CX_TEST("/link/deep-chain/cancel", test_link_deep_chain_cancel),
    CX_TEST("/link/deep-chain/preserve", test_link_deep_chain_preserve),
    CX_TEST("/link/deep-chain/free", test_link_deep_chain_free),
    CX_TEST("/link/race-with-cancel", test_link_race_with_cancel),
    CX_TEST("/link/wakes-waiters", test_link_wakes_waiters),
};

CX_TEST_MAIN("link", tests)
