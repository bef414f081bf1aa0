/* adapters/nats/tests/test_nats.c - libcancelable-nats against a real
 * nats-server (started on 127.0.0.1, a free port, JetStream in a temporary
 * folder, stopped by its pid) and other processes (nats_peer).  Each test
 * that needs the server skips when nats-server is not installed. */
#include "cx_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <signal.h>

#include <nats/nats.h>

#include <cancelable.h>
#include <cancelable/nats.h>

#include "nats_testlib.h"

#ifndef CX_NATS_PEER
#error "CX_NATS_PEER: the path of nats_peer"
#endif

#define NEED_SERVER()                   \
  do {                                  \
    if (nsrv_program() == NULL) skip(); \
  } while (0)

static cx_nats *attach_to(const char *url, const char *node, double wait) {
  cx_nats_options o = CX_NATS_OPTIONS_INIT;
  o.servers = url;
  o.node = node;
  o.reconnect_wait = wait;
  cx_nats *n = NULL;
  CX_ASSERT_OK(cx_nats_attach(&o, &n));
  assert_non_null(n);
  return n;
}

/* Starts `nats_peer op URL NODE NAME TIMEOUT WAIT`, reads its id. */
static void start_op_peer(peer *p, const char *url, const char *node,
                          const char *name, const char *timeout,
                          const char *wait, char *id, size_t size) {
  char *argv[] = {CX_NATS_PEER, "op",         (char *)url,
                  (char *)node, (char *)name, (char *)timeout,
                  (char *)wait, NULL};
  char line[256];
  peer_start(p, argv);
  assert_true(peer_line(p, line, sizeof(line), cx_test_patience(30)));
  assert_true(strncmp(line, "ready ", 6) == 0);
  size_t len = strnlen(line + 6, size - 1);
  memcpy(id, line + 6, len);
  id[len] = '\0';
}

/* The peer's "cancelled ..." line: asserts the reason and the node. */
static void expect_cancelled(peer *p, const char *reason, const char *node,
                             double seconds) {
  char line[512], want[256];
  assert_true(peer_line(p, line, sizeof(line), seconds));
  snprintf(want, sizeof(want), "cancelled %s ", reason);
  if (strncmp(line, want, strlen(want)) != 0) fail_msg("peer said: %s", line);
  snprintf(want, sizeof(want), " %s|", node);
  if (strstr(line, want) == NULL)
    fail_msg("peer said: %s (wanted node %s)", line, node);
  assert_int_equal(peer_finish(p, 20), 0);
}

static long count_of(const cx_nats_answer *a, const char *node) {
  for (size_t i = 0; i < a->count; i++)
    if (strcmp(a->nodes[i].node, node) == 0) return a->nodes[i].cancelled;
  return -1;
}

static void test_bad_options(void **state) {
  (void)state;
  cx_nats *n = (cx_nats *)1;
  cx_nats_options o = CX_NATS_OPTIONS_INIT;
  o.prefix = "a.b";
  CX_ASSERT_ERR(-EINVAL, cx_nats_attach(&o, &n));
  assert_null(n);
  o = (cx_nats_options)CX_NATS_OPTIONS_INIT;
  o.node = "has space";
  CX_ASSERT_ERR(-EINVAL, cx_nats_attach(&o, &n));
  o = (cx_nats_options)CX_NATS_OPTIONS_INIT;
  o.reconnect_wait = -1;
  CX_ASSERT_ERR(-EINVAL, cx_nats_attach(&o, &n));
  o = (cx_nats_options)CX_NATS_OPTIONS_INIT;
  o.size = 1;
  CX_ASSERT_ERR(-EINVAL, cx_nats_attach(&o, &n));
  CX_ASSERT_ERR(-EINVAL, cx_nats_attach(NULL, NULL));
}

static void test_cancel_by_id(void **state) {
  (void)state;
  NEED_SERVER();
  nsrv s;
  nsrv_init(&s);
  nsrv_start(&s);
  peer p;
  char id[128];
  start_op_peer(&p, s.url, "worker-a", "job", "0", "0.1", id, sizeof(id));
  cx_nats *n = attach_to(s.url, "ctl", 0.1);
  CX_ASSERT_OK(cx_nats_wait_ready(n, cx_test_patience(20)));
  /* Bad requests change nothing. */
  cx_op_filter empty = CX_OP_FILTER_INIT;
  CX_ASSERT_ERR(-EINVAL, cx_nats_cancel(n, NULL, &empty, NULL, 0, NULL));
  CX_ASSERT_ERR(-EINVAL, cx_nats_cancel(n, NULL, NULL, NULL, 0, NULL));
  CX_ASSERT_ERR(-EINVAL, cx_nats_cancel(n, id, &empty, NULL, 0, NULL));
  /* A field a request cannot carry would widen the cancel: refused. */
  cx_op_filter wide = CX_OP_FILTER_INIT;
  wide.name = "job";
  wide.name_contains = "jo";
  CX_ASSERT_ERR(-EINVAL, (int)cx_nats_cancel(n, NULL, &wide, NULL, 0, NULL));
  wide.name_contains = NULL;
  wide.min_age = 60.0;
  CX_ASSERT_ERR(-EINVAL, (int)cx_nats_cancel(n, NULL, &wide, NULL, 0, NULL));
  cx_nats_answer a;
  long total = cx_nats_cancel(n, id, NULL, "stop now", 1.5, &a);
  assert_int_equal(total, 1);
  assert_int_equal(count_of(&a, "worker-a"), 1);
  assert_int_equal(count_of(&a, "ctl"), 0);
  assert_true(a.stored);
  cx_nats_answer_free(&a);
  expect_cancelled(&p, "manual", "ctl", cx_test_patience(20));
  cx_nats_detach(n);
  nsrv_cleanup(&s);
}

static void test_cancel_by_pattern(void **state) {
  (void)state;
  NEED_SERVER();
  nsrv s;
  nsrv_init(&s);
  nsrv_start(&s);
  cx_nats *n = attach_to(s.url, "ctl", 0.1);
  CX_ASSERT_OK(cx_nats_wait_ready(n, cx_test_patience(20)));
  peer p1, p2, other;
  char id[128];
  start_op_peer(&p1, s.url, "w1", "batch-a-1", "0", "0.1", id, sizeof(id));
  start_op_peer(&p2, s.url, "w2", "batch-a-2", "0", "0.1", id, sizeof(id));
  start_op_peer(&other, s.url, "w3", "batch-b-1", "3", "0.1", id, sizeof(id));
  cx_op *mine = cx_test_entered_op("batch-a-local", NULL, 0);
  CX_ASSERT_OK(cx_op_exit(mine, 0)); /* ended: not counted */
  cx_op_filter f = CX_OP_FILTER_INIT;
  f.name_pattern = "batch-a-*";
  cx_nats_answer a;
  long total = cx_nats_cancel(n, NULL, &f, NULL, 1.5, &a);
  assert_int_equal(total, 2);
  assert_int_equal(count_of(&a, "w1"), 1);
  assert_int_equal(count_of(&a, "w2"), 1);
  assert_int_equal(count_of(&a, "w3"), 0);
  cx_nats_answer_free(&a);
  expect_cancelled(&p1, "manual", "ctl", cx_test_patience(20));
  expect_cancelled(&p2, "manual", "ctl", cx_test_patience(20));
  /* The other op ends by its own timeout. */
  expect_cancelled(&other, "timeout", "-", cx_test_patience(20));
  cx_op_unref(mine);
  cx_nats_detach(n);
  nsrv_cleanup(&s);
}

static void test_server_down_at_attach(void **state) {
  (void)state;
  NEED_SERVER();
  nsrv s;
  nsrv_init(&s); /* not started */
  double t0 = cx_test_now();
  cx_nats *n = attach_to(s.url, "late-node", 0.1);
  assert_true(cx_test_now() - t0 < 1.0); /* attach does not wait */
  assert_false(cx_nats_connected(n));
  cx_op_filter f = CX_OP_FILTER_INIT;
  f.name = "x";
  CX_ASSERT_ERR(-ENOTCONN, cx_nats_cancel(n, NULL, &f, NULL, 0, NULL));
  CX_ASSERT_ERR(-ETIMEDOUT, cx_nats_wait_ready(n, 0.2));
  /* Local timeouts still fire on time. */
  t0 = cx_test_now(); /* before the op's timer starts */
  cx_op *t = cx_test_entered_op("local-timeout", NULL, 0.2);
  CX_ASSERT_OK(cx_token_wait(cx_op_token(t), cx_test_patience(10)));
  double took = cx_test_now() - t0;
  assert_true(took >= 0.19 && took < 10.0);
  assert_int_equal(cx_op_cancel_reason(t), CX_REASON_TIMEOUT);
  CX_ASSERT_OK(cx_op_exit(t, -ECANCELED));
  cx_op_unref(t);
  /* Once the server starts, a remote cancel reaches this process. */
  cx_op *op = cx_test_entered_op("late-job", NULL, 0);
  nsrv_start(&s);
  CX_ASSERT_OK(cx_nats_wait_ready(n, cx_test_patience(20)));
  assert_true(cx_nats_connected(n));
  char *argv[] = {CX_NATS_PEER, "cancel", s.url, "remote-ctl",
                  "pattern",    "late-*", "1.5", NULL};
  peer c;
  char line[256];
  peer_start(&c, argv);
  bool saw = false;
  while (peer_line(&c, line, sizeof(line), cx_test_patience(30)))
    saw |= strcmp(line, "node late-node 1") == 0;
  assert_int_equal(peer_finish(&c, 20), 0);
  assert_true(saw);
  assert_true(cx_op_is_cancelled(op));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_MANUAL);
  assert_string_equal(cx_op_cancel_message(op),
                      "cancelled from node remote-ctl: test");
  cx_meta *m = cx_op_metadata(op);
  const char *by = NULL;
  CX_ASSERT_OK(cx_meta_get_string(m, "cancelled_by_node", &by));
  assert_string_equal(by, "remote-ctl");
  CX_ASSERT_OK(cx_meta_get_string(m, "cancelled_by", &by));
  assert_string_equal(by, "nats");
  cx_meta_free(m);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  cx_nats_detach(n);
  nsrv_cleanup(&s);
}

/* Restarts the server of @s once @n saw it go, and waits for @n's
 * reconnection. */
static void restart_server(nsrv *s, cx_nats *n) {
  nsrv_stop(s);
  double end = cx_test_now() + cx_test_patience(20);
  while (n != NULL && cx_nats_connected(n) && cx_test_now() < end)
    cx_test_sleep(0.02);
  nsrv_start(s);
  if (n != NULL) CX_ASSERT_OK(cx_nats_wait_ready(n, cx_test_patience(30)));
}

static cx_nats *ready_ctl(const nsrv *s, double ttl) {
  cx_nats_options o = CX_NATS_OPTIONS_INIT;
  o.servers = s->url;
  o.node = "ctl";
  o.reconnect_wait = 0.1;
  o.cancel_ttl = ttl;
  cx_nats *n = NULL;
  CX_ASSERT_OK(cx_nats_attach(&o, &n));
  CX_ASSERT_OK(cx_nats_wait_ready(n, cx_test_patience(20)));
  return n;
}

static long cancel_pattern(cx_nats *n, const char *pattern, double wait,
                           cx_nats_answer *a) {
  cx_op_filter f = CX_OP_FILTER_INIT;
  f.name_pattern = pattern;
  return cx_nats_cancel(n, NULL, &f, NULL, wait, a);
}

/* A cancel sent while the target is disconnected (its broadcast missed)
 * is applied from the bucket when it reconnects. */
static void test_missed_on_reconnect(void **state) {
  (void)state;
  NEED_SERVER();
  nsrv s;
  nsrv_init(&s);
  nsrv_start(&s);
  peer p;
  char id[128];
  /* The target retries only every 5 s: it is still away when the cancel
   * goes out. */
  start_op_peer(&p, s.url, "w-miss", "miss-1", "0", "5", id, sizeof(id));
  cx_nats *n = ready_ctl(&s, 0);
  restart_server(&s, n);
  cx_nats_answer a;
  assert_int_equal(cancel_pattern(n, "miss-*", 0.5, &a), 0);
  assert_true(a.stored);
  assert_int_equal(count_of(&a, "w-miss"), -1); /* it did not hear it */
  cx_nats_answer_free(&a);
  expect_cancelled(&p, "manual", "ctl", cx_test_patience(30));
  cx_nats_detach(n);
  nsrv_cleanup(&s);
}

/* An op that starts under a live stored cancel starts cancelled. */
static void test_revoke_before_start(void **state) {
  (void)state;
  NEED_SERVER();
  nsrv s;
  nsrv_init(&s);
  nsrv_start(&s);
  cx_nats *n = ready_ctl(&s, 0);
  cx_nats_answer a;
  assert_int_equal(cancel_pattern(n, "later-*", 0.3, &a), 0);
  assert_true(a.stored);
  cx_nats_answer_free(&a);
  peer p;
  char id[128];
  start_op_peer(&p, s.url, "w-later", "later-1", "0", "0.1", id, sizeof(id));
  expect_cancelled(&p, "manual", "ctl", cx_test_patience(20));
  /* Here too: an op of this process entered now is revoked at once. */
  cx_op *op = cx_test_entered_op("later-2", NULL, 0);
  CX_ASSERT_OK(cx_token_wait(cx_op_token(op), cx_test_patience(10)));
  assert_string_equal(cx_op_cancel_message(op), "cancelled from node ctl");
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  cx_nats_detach(n);
  nsrv_cleanup(&s);
}

/* A restarted server still has the stored cancels (file storage). */
static void test_server_restart_keeps(void **state) {
  (void)state;
  NEED_SERVER();
  nsrv s;
  nsrv_init(&s);
  nsrv_start(&s);
  cx_nats *n = ready_ctl(&s, 0);
  cx_nats_answer a;
  assert_int_equal(cancel_pattern(n, "restart-*", 0, &a), 0);
  assert_true(a.stored);
  cx_nats_answer_free(&a);
  cx_nats_detach(n);
  restart_server(&s, NULL);
  peer p;
  char id[128];
  start_op_peer(&p, s.url, "w-restart", "restart-1", "0", "0.1", id,
                sizeof(id));
  expect_cancelled(&p, "manual", "ctl", cx_test_patience(20));
  nsrv_cleanup(&s);
}

/* A stored cancel stops applying after the bucket's TTL. */
static void test_stored_cancel_expires(void **state) {
  (void)state;
  NEED_SERVER();
  nsrv s;
  nsrv_init(&s);
  nsrv_start(&s);
  cx_nats *n = ready_ctl(&s, 1.0);
  cx_nats_answer a;
  assert_int_equal(cancel_pattern(n, "ttl-*", 0, &a), 0);
  assert_true(a.stored);
  cx_nats_answer_free(&a);
  cx_test_sleep(2.5);
  peer p;
  char id[128];
  start_op_peer(&p, s.url, "w-ttl", "ttl-1", "1.5", "0.1", id, sizeof(id));
  expect_cancelled(&p, "timeout", "-", cx_test_patience(20));
  /* Nor here: the local copy expired as well. */
  cx_op *op = cx_test_entered_op("ttl-2", NULL, 0);
  cx_test_sleep(0.3);
  assert_false(cx_op_is_cancelled(op));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
  cx_nats_detach(n);
  nsrv_cleanup(&s);
}

/* ---- Hierarchies across processes. */

static void test_context_string(void **state) {
  (void)state;
  nsrv s;
  nsrv_init(&s); /* never started: contexts need no server */
  cx_nats *n = attach_to(s.url, "here", 0.1);
  cx_op *root = cx_test_entered_op("root", NULL, 10);
  char *ctx = NULL;
  CX_ASSERT_OK(cx_nats_context(n, root, &ctx));
  char want[256];
  snprintf(want, sizeof(want),
           "v1;parent=%s;node=here;timeout=", cx_op_id(root));
  assert_true(strncmp(ctx, want, strlen(want)) == 0);
  assert_non_null(strstr(ctx, ";deadline="));
  cx_op *child = NULL;
  CX_ASSERT_OK(cx_nats_op_create(n, ctx, NULL, &child));
  CX_ASSERT_OK(cx_op_enter(child));
  double left = cx_op_remaining(child);
  assert_true(left > 8.0 && left <= 10.0);
  cx_meta *m = cx_op_metadata(child);
  const char *v = NULL;
  CX_ASSERT_OK(cx_meta_get_string(m, "remote_parent_id", &v));
  assert_string_equal(v, cx_op_id(root));
  CX_ASSERT_OK(cx_meta_get_string(m, "remote_parent_node", &v));
  assert_string_equal(v, "here");
  cx_meta_free(m);
  CX_ASSERT_OK(cx_op_exit(child, 0));
  cx_op_unref(child);
  free(ctx);
  static const char *bad[] = {"",
                              "v2;parent=a;node=b",
                              "v1;node=b",
                              "v1;parent=a",
                              "v1;parent=a;node=b;timeout=12",
                              "v1;parent=a;node=b;timeout=123456789m",
                              "v1;parent=a;node=b;timeout=5x",
                              "v1;parent=a;node=b;deadline=soon",
                              "v1;parent=a%zz;node=b"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    child = (cx_op *)1;
    CX_ASSERT_ERR(-EINVAL, cx_nats_op_create(n, bad[i], NULL, &child));
    assert_null(child);
  }
  CX_ASSERT_ERR(-EINVAL, cx_nats_context(n, NULL, &ctx));
  CX_ASSERT_OK(cx_op_exit(root, 0));
  CX_ASSERT_ERR(-EINVAL, cx_nats_context(n, root, &ctx)); /* not running */
  cx_op_unref(root);
  cx_nats_detach(n);
  nsrv_cleanup(&s);
}

/* The time a child made from @ctx has left once entered. */
static double left_from(const char *ctx) {
  cx_op *child = NULL;
  CX_ASSERT_OK(cx_nats_op_create(NULL, ctx, NULL, &child));
  CX_ASSERT_OK(cx_op_enter(child));
  double left = cx_op_remaining(child);
  CX_ASSERT_OK(cx_op_exit(child, 0));
  cx_op_unref(child);
  return left;
}

/* A deadline that disagrees with the relative timeout by more than the
 * skew limit is ignored; one that agrees takes off the transit time. */
static void test_skewed_deadline(void **state) {
  (void)state;
  char ctx[256];
  double now = cx_test_wall_now();
  snprintf(ctx, sizeof(ctx), "v1;parent=p;node=far;timeout=3S;deadline=%.3f",
           now + 100);
  double left = left_from(ctx);
  assert_true(left > 2.5 && left <= 3.0);
  snprintf(ctx, sizeof(ctx), "v1;parent=p;node=far;timeout=3S;deadline=%.3f",
           now - 100);
  left = left_from(ctx);
  assert_true(left > 2.5 && left <= 3.0);
  snprintf(ctx, sizeof(ctx), "v1;parent=p;node=far;timeout=3000m;deadline=%.3f",
           now + 2.5);
  left = left_from(ctx);
  /* %.3f may round the deadline up by half a millisecond. */
  assert_true(left > 2.0 && left <= 2.501);
  /* And the skewed one times out by the relative time. */
  snprintf(ctx, sizeof(ctx), "v1;parent=p;node=far;timeout=300m;deadline=%.3f",
           now - 1000);
  cx_op *child = NULL;
  CX_ASSERT_OK(cx_nats_op_create(NULL, ctx, NULL, &child));
  CX_ASSERT_OK(cx_op_enter(child));
  assert_false(cx_op_is_cancelled(child));
  CX_ASSERT_OK(cx_token_wait(cx_op_token(child), cx_test_patience(10)));
  assert_int_equal(cx_op_cancel_reason(child), CX_REASON_TIMEOUT);
  assert_string_equal(cx_op_cancel_message(child), "remote parent's deadline");
  assert_true(cx_op_elapsed(child) >= 0.25);
  CX_ASSERT_OK(cx_op_exit(child, -ECANCELED));
  cx_op_unref(child);
}

/* The "cancelled ..." line of op @name among the next lines of @p. */
static void read_cancel_lines(peer *p, const char *names[2],
                              char lines[2][512]) {
  int got = 0;
  char line[512];
  while (got < 2 && peer_line(p, line, sizeof(line), cx_test_patience(30))) {
    char reason[32], name[128];
    double elapsed;
    if (sscanf(line, "cancelled %31s %lf %127s", reason, &elapsed, name) != 3)
      continue;
    for (int i = 0; i < 2; i++)
      if (strcmp(name, names[i]) == 0) {
        snprintf(lines[i], 512, "%s", line);
        got++;
      }
  }
  assert_int_equal(got, 2);
}

/* Starts the middle process of a chain (the test is the root): it makes
 * its op "mid" from @ctx and starts the leaf ("mid-child"). */
static void start_chain(peer *p, const nsrv *s, const char *ctx) {
  char env_ctx[512];
  snprintf(env_ctx, sizeof(env_ctx), "%s=%s", CX_NATS_CONTEXT_ENV, ctx);
  char *env[] = {env_ctx, "NATS_PEER_SPAWN=leaf-node", NULL};
  char *argv[] = {CX_NATS_PEER, "op", (char *)s->url, "mid-node",
                  "mid",        "0",  "0.1",          NULL};
  char line[256];
  peer_start_env(p, argv, env);
  for (int i = 0; i < 2; i++) {
    assert_true(peer_line(p, line, sizeof(line), cx_test_patience(30)));
    assert_true(strncmp(line, "ready ", 6) == 0);
  }
}

static void test_chain_cancel(void **state) {
  (void)state;
  NEED_SERVER();
  nsrv s;
  nsrv_init(&s);
  nsrv_start(&s);
  cx_nats *n = attach_to(s.url, "root-node", 0.1);
  CX_ASSERT_OK(cx_nats_wait_ready(n, cx_test_patience(20)));
  cx_op *root = cx_test_entered_op("root", NULL, 0);
  char *ctx = NULL;
  CX_ASSERT_OK(cx_nats_context(n, root, &ctx));
  peer p;
  start_chain(&p, &s, ctx);
  free(ctx);
  cx_test_sleep(0.3); /* the leaf is up: the cascade is not a revoke */
  assert_true(cx_op_cancel(root, CX_REASON_MANUAL, "stop"));
  const char *names[2] = {"mid", "mid-child"};
  char lines[2][512];
  read_cancel_lines(&p, names, lines);
  assert_true(strncmp(lines[0], "cancelled parent ", 17) == 0);
  assert_non_null(strstr(lines[0], " root-node|remote parent operation"));
  assert_true(strncmp(lines[1], "cancelled parent ", 17) == 0);
  assert_non_null(strstr(lines[1], " mid-node|remote parent operation"));
  assert_int_equal(peer_finish(&p, 20), 0);
  CX_ASSERT_OK(cx_op_exit(root, -ECANCELED));
  cx_op_unref(root);
  cx_nats_detach(n);
  nsrv_cleanup(&s);
}

static void test_chain_deadline(void **state) {
  (void)state;
  NEED_SERVER();
  nsrv s;
  nsrv_init(&s);
  nsrv_start(&s);
  cx_nats *n = attach_to(s.url, "root-node", 0.1);
  CX_ASSERT_OK(cx_nats_wait_ready(n, cx_test_patience(20)));
  /* 6 s: the chain's two processes must start and print "ready" first,
   * which took more than 2.5 s under ThreadSanitizer on a loaded machine. */
  cx_op *root = cx_test_entered_op("root", NULL, 6.0);
  double deadline = cx_test_wall_now() + cx_op_remaining(root);
  char *ctx = NULL;
  CX_ASSERT_OK(cx_nats_context(n, root, &ctx));
  peer p;
  start_chain(&p, &s, ctx);
  free(ctx);
  const char *names[2] = {"mid", "mid-child"};
  char lines[2][512];
  read_cancel_lines(&p, names, lines);
  for (int i = 0; i < 2; i++) {
    char reason[32], name[128];
    double elapsed, at;
    assert_int_equal(sscanf(lines[i], "cancelled %31s %lf %127s %lf", reason,
                            &elapsed, name, &at),
                     4);
    print_message("%s: cancelled (%s) %+.3f s from the root's deadline\n", name,
                  reason, at - deadline);
    if (at < deadline - 0.1 || at > deadline + 0.1)
      fail_msg("%s cancelled %.3f s from the root's deadline: %s", name,
               at - deadline, lines[i]);
  }
  assert_int_equal(peer_finish(&p, 20), 0);
  CX_ASSERT_OK(cx_token_wait(cx_op_token(root), cx_test_patience(10)));
  CX_ASSERT_OK(cx_op_exit(root, -ECANCELED));
  cx_op_unref(root);
  cx_nats_detach(n);
  nsrv_cleanup(&s);
}

/* cx_nats_list(): the live ops of every node. */
static void test_list(void **state) {
  (void)state;
  NEED_SERVER();
  nsrv s;
  nsrv_init(&s);
  nsrv_start(&s);
  cx_nats *n = ready_ctl(&s, 0);
  peer p;
  char id[128];
  start_op_peer(&p, s.url, "w-list", "listed 100%=x", "0", "0.1", id,
                sizeof(id));
  cx_op *mine = cx_test_entered_op("mine", NULL, 0);
  cx_nats_op_list l;
  CX_ASSERT_ERR(-EINVAL, cx_nats_list(n, 0, &l));
  CX_ASSERT_OK(cx_nats_list(n, 1.0, &l));
  assert_int_equal(l.nodes, 2);
  bool theirs = false, ours = false;
  for (size_t i = 0; i < l.count; i++) {
    const cx_nats_op_info *o = &l.ops[i];
    if (strcmp(o->id, id) == 0) {
      theirs = true;
      assert_string_equal(o->node, "w-list");
      assert_string_equal(o->name, "listed 100%=x");
      assert_int_equal(o->status, CX_STATUS_RUNNING);
    } else if (strcmp(o->id, cx_op_id(mine)) == 0) {
      ours = true;
      assert_string_equal(o->node, "ctl");
      assert_true(o->elapsed >= 0);
    }
  }
  assert_true(theirs && ours);
  cx_nats_op_list_free(&l);
  assert_int_equal(cx_nats_cancel(n, id, NULL, NULL, 1.0, NULL), 1);
  expect_cancelled(&p, "manual", "ctl", cx_test_patience(20));
  CX_ASSERT_OK(cx_op_exit(mine, 0));
  cx_op_unref(mine);
  cx_nats_detach(n);
  nsrv_cleanup(&s);
}

/* ---- Events and snapshots, read with libnats directly. */

static natsConnection *raw_connect(const nsrv *s) {
  natsConnection *nc = NULL;
  assert_int_equal(natsConnection_ConnectTo(&nc, s->url), NATS_OK);
  return nc;
}

/* The value of KEY in a message of KEY=VALUE lines (no escapes expected),
 * in @out; false when absent. */
static bool field(natsMsg *m, const char *key, char *out, size_t size) {
  char want[64];
  snprintf(want, sizeof(want), "%s=", key);
  const char *d = natsMsg_GetData(m), *end = d + natsMsg_GetDataLength(m);
  for (const char *p = d; p < end;) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
    if (n > strlen(want) && memcmp(p, want, strlen(want)) == 0) {
      snprintf(out, size, "%.*s", (int)(n - strlen(want)), p + strlen(want));
      return true;
    }
    p += n + 1;
  }
  return false;
}

static void test_events_published(void **state) {
  (void)state;
  NEED_SERVER();
  nsrv s;
  nsrv_init(&s);
  nsrv_start(&s);
  natsConnection *nc = raw_connect(&s);
  natsSubscription *sub = NULL;
  assert_int_equal(natsConnection_SubscribeSync(&sub, nc, "cancelable.evt.>"),
                   NATS_OK);
  assert_int_equal(natsConnection_Flush(nc), NATS_OK);
  cx_nats *n = ready_ctl(&s, 0);
  cx_op *op = cx_test_entered_op("evt-op", NULL, 0);
  cx_meta *m = cx_meta_new();
  for (int i = 1; i <= 20; i++) {
    CX_ASSERT_OK(cx_meta_set_int(m, "current", i));
    CX_ASSERT_OK(cx_report_progress(op, "step", m));
  }
  cx_meta_free(m);
  char id[128];
  snprintf(id, sizeof(id), "%s", cx_op_id(op));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  int entered = 0, progress = 0, exited = 0;
  double end = cx_test_now() + cx_test_patience(20);
  while (exited == 0 && cx_test_now() < end) {
    natsMsg *msg = NULL;
    if (natsSubscription_NextMsg(&msg, sub, 200) != NATS_OK) continue;
    char kind[32], got[128], status[32];
    assert_string_equal(natsMsg_GetSubject(msg), "cancelable.evt.ctl");
    if (field(msg, "id", got, sizeof(got)) && strcmp(got, id) == 0 &&
        field(msg, "kind", kind, sizeof(kind))) {
      entered += strcmp(kind, "entered") == 0;
      progress += strcmp(kind, "progress") == 0;
      if (strcmp(kind, "exited") == 0) {
        exited++;
        assert_true(field(msg, "status", status, sizeof(status)));
        assert_string_equal(status, "completed");
      }
    }
    natsMsg_Destroy(msg);
  }
  assert_int_equal(entered, 1);
  assert_int_equal(exited, 1);
  /* Throttled: 20 reports in a burst make one or two events. */
  assert_true(progress >= 1 && progress < 20);
  cx_op_unref(op);
  natsSubscription_Destroy(sub);
  natsConnection_Destroy(nc);
  cx_nats_detach(n);
  nsrv_cleanup(&s);
}

/* Whether the P_ops bucket has a key ending in @id. */
static bool has_snapshot(kvStore *kv, const char *id) {
  kvKeysList keys = {NULL, 0};
  bool found = false;
  if (kvStore_Keys(&keys, kv, NULL) != NATS_OK) return false;
  for (int i = 0; i < keys.Count && !found; i++) {
    size_t kl = strlen(keys.Keys[i]), il = strlen(id);
    found = kl > il && strcmp(keys.Keys[i] + kl - il, id) == 0;
  }
  kvKeysList_Destroy(&keys);
  return found;
}

/* Snapshots of live ops are in P_ops; deleted on exit; a killed node's
 * age out with the bucket's TTL. */
static void test_snapshots(void **state) {
  (void)state;
  NEED_SERVER();
  nsrv s;
  nsrv_init(&s);
  nsrv_start(&s);
  cx_nats_options o = CX_NATS_OPTIONS_INIT;
  o.servers = s.url;
  o.node = "ctl";
  o.reconnect_wait = 0.1;
  o.snapshot_ttl = 1.5; /* this node makes the bucket */
  cx_nats *n = NULL;
  CX_ASSERT_OK(cx_nats_attach(&o, &n));
  CX_ASSERT_OK(cx_nats_wait_ready(n, cx_test_patience(20)));
  cx_op *mine = cx_test_entered_op("snap-mine", NULL, 0);
  peer p;
  char id[128];
  start_op_peer(&p, s.url, "w-snap", "snap-1", "0", "0.1", id, sizeof(id));
  natsConnection *nc = raw_connect(&s);
  jsCtx *js = NULL;
  kvStore *kv = NULL;
  assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
  double end = cx_test_now() + cx_test_patience(20);
  while (js_KeyValue(&kv, js, "cancelable_ops") != NATS_OK) {
    assert_true(cx_test_now() < end);
    cx_test_sleep(0.05);
  }
  while (!(has_snapshot(kv, id) && has_snapshot(kv, cx_op_id(mine))))
    assert_true(cx_test_now() < end), cx_test_sleep(0.05);
  /* Exit: deleted at once (well before the TTL). */
  char mine_id[128];
  snprintf(mine_id, sizeof(mine_id), "%s", cx_op_id(mine));
  CX_ASSERT_OK(cx_op_exit(mine, 0));
  double t0 = cx_test_now();
  while (has_snapshot(kv, mine_id))
    assert_true(cx_test_now() < end), cx_test_sleep(0.05);
  print_message("deleted %.3f s after exit\n", cx_test_now() - t0);
  /* A killed node: its snapshot ages out. */
  kill(p.pid, SIGKILL);
  assert_int_equal(peer_finish(&p, 10), -1);
  t0 = cx_test_now();
  while (has_snapshot(kv, id))
    assert_true(cx_test_now() < end), cx_test_sleep(0.1);
  double aged = cx_test_now() - t0;
  print_message("a killed node's snapshot aged out after %.3f s\n", aged);
  assert_true(aged <= 1.5 + 3.0); /* JetStream expires in sweeps */
  cx_op_unref(mine);
  kvStore_Destroy(kv);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  cx_nats_detach(n);
  nsrv_cleanup(&s);
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/nats/attach/bad-options", test_bad_options),
    CX_TEST("/nats/cancel/by-id", test_cancel_by_id),
    CX_TEST("/nats/cancel/by-pattern", test_cancel_by_pattern),
    CX_TEST("/nats/attach/server-down", test_server_down_at_attach),
    CX_TEST("/nats/stored/missed-on-reconnect", test_missed_on_reconnect),
    CX_TEST("/nats/stored/revoke-before-start", test_revoke_before_start),
    CX_TEST("/nats/stored/server-restart", test_server_restart_keeps),
    CX_TEST("/nats/stored/expires", test_stored_cancel_expires),
    CX_TEST("/nats/list/every-node", test_list),
    CX_TEST("/nats/events/published", test_events_published),
    CX_TEST("/nats/snapshots/live-and-aged-out", test_snapshots),
    CX_TEST("/nats/context/string", test_context_string),
    CX_TEST("/nats/context/skewed-deadline", test_skewed_deadline),
    CX_TEST("/nats/chain/cancel-root", test_chain_cancel),
    CX_TEST("/nats/chain/deadline", test_chain_deadline),
};

CX_TEST_MAIN("nats", tests)
