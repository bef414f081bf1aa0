/* tests/unit/test_events.c - the event stream (cancelable/events.h): what
 * each event carries, sequence order, a slow subscriber that never slows
 * the work (progress coalesced, lifecycle events counted in a gap, never
 * lost silently), unsubscribing (also from inside the callback), and many
 * threads against two subscribers. */
#include "cx_test.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cancelable.h>

#define PROMPT 10.0 /* seconds: generous, for sanitizers on a busy machine */
#define MAX_SEEN 4096

/* What a subscriber saw (copied out of the events). */
typedef struct seen_event {
  cx_event_kind kind;
  uint64_t seq, lost;
  char op_id[CX_ID_LEN + 1], parent_id[CX_ID_LEN + 1], name[32], message[96];
  cx_status status;
  cx_reason reason;
  int64_t current; /* PROGRESS: metadata "current", or -1 */
} seen_event;

typedef struct log {
  pthread_mutex_t mu;
  pthread_cond_t changed;
  seen_event ev[MAX_SEEN];
  size_t n;
  bool gate_closed; /* the callback blocks on the first event until open */
  bool blocked;     /* it is blocked there */
  bool unsubscribe_inside;
  cx_subscription *sub;
  atomic_int destroyed;
} log_t;

static void log_init(log_t *l) {
  memset(l, 0, sizeof *l);
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->changed, NULL);
}

static void log_fini(log_t *l) {
  pthread_cond_destroy(&l->changed);
  pthread_mutex_destroy(&l->mu);
}

static void copy_str(char *to, size_t size, const char *s) {
  snprintf(to, size, "%s", s != NULL ? s : "");
}

static void record_event(const cx_event *e, void *user_data) {
  log_t *l = user_data;
  pthread_mutex_lock(&l->mu);
  if (l->n < MAX_SEEN) {
    seen_event *s = &l->ev[l->n];
    s->kind = e->kind;
    s->seq = e->seq;
    s->lost = e->lost;
    s->status = e->status;
    s->reason = e->reason;
    copy_str(s->op_id, sizeof s->op_id, e->op_id);
    copy_str(s->parent_id, sizeof s->parent_id, e->parent_id);
    copy_str(s->name, sizeof s->name, e->name);
    copy_str(s->message, sizeof s->message, e->message);
    if (e->metadata == NULL ||
        cx_meta_get_int(e->metadata, CX_PROGRESS_CURRENT, &s->current) != 0)
      s->current = -1;
    l->n++;
  }
  pthread_cond_broadcast(&l->changed);
  while (l->gate_closed) {
    l->blocked = true;
    pthread_cond_broadcast(&l->changed);
    pthread_cond_wait(&l->changed, &l->mu);
  }
  l->blocked = false;
  if (l->unsubscribe_inside) {
    l->unsubscribe_inside = false;
    pthread_mutex_unlock(&l->mu);
    CX_ASSERT_OK(cx_events_unsubscribe(l->sub));
    return;
  }
  pthread_mutex_unlock(&l->mu);
}

static void count_destroy(void *user_data) {
  atomic_fetch_add(&((log_t *)user_data)->destroyed, 1);
}

/* Waits until @l holds @n events (or the callback is blocked, for
 * @blocked); fails the test after PROMPT seconds. */
static void wait_for(log_t *l, size_t n, bool blocked) {
  double t0 = cx_test_now();
  pthread_mutex_lock(&l->mu);
  while ((l->n < n || (blocked && !l->blocked)) &&
         cx_test_now() - t0 < PROMPT) {
    pthread_mutex_unlock(&l->mu);
    cx_test_sleep(0.005);
    pthread_mutex_lock(&l->mu);
  }
  assert_true(l->n >= n);
  pthread_mutex_unlock(&l->mu);
}

static void open_gate(log_t *l) {
  pthread_mutex_lock(&l->mu);
  l->gate_closed = false;
  pthread_cond_broadcast(&l->changed);
  pthread_mutex_unlock(&l->mu);
}

static void report(cx_op *op, int64_t current) {
  cx_meta *m = cx_meta_new();
  assert_non_null(m);
  CX_ASSERT_OK(cx_meta_set_int(m, CX_PROGRESS_CURRENT, current));
  CX_ASSERT_OK(cx_report_progress(op, "step", m));
  cx_meta_free(m);
}

static void assert_seq_grows(const log_t *l) {
  for (size_t i = 1; i < l->n; i++)
    if (l->ev[i].kind != CX_EVENT_GAP && l->ev[i - 1].kind != CX_EVENT_GAP)
      assert_true(l->ev[i].seq > l->ev[i - 1].seq);
}

/* Every kind, with ids, names, parent, status, reason and message, in
 * sequence order (+1 per event: nothing else runs in this process). */
static void test_lifecycle(void **state) {
  (void)state;
  log_t l;
  cx_subscription *sub;
  log_init(&l);
  CX_ASSERT_OK(cx_events_subscribe(&sub, record_event, &l, count_destroy, 0));
  cx_op *root = cx_test_entered_op("root", NULL, 0);
  cx_op *job = cx_test_entered_op("job", root, 0);
  report(job, 7);
  assert_true(cx_op_cancel(job, CX_REASON_MANUAL, "stop"));
  CX_ASSERT_OK(cx_op_exit(job, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(root, 0));
  wait_for(&l, 6, false);
  CX_ASSERT_OK(cx_events_unsubscribe(sub));
  assert_int_equal(atomic_load(&l.destroyed), 1);
  assert_int_equal(l.n, 6);
  static const cx_event_kind kinds[] = {CX_EVENT_ENTERED,  CX_EVENT_ENTERED,
                                        CX_EVENT_PROGRESS, CX_EVENT_CANCELLED,
                                        CX_EVENT_EXITED,   CX_EVENT_EXITED};
  for (size_t i = 0; i < 6; i++) {
    assert_int_equal(l.ev[i].kind, kinds[i]);
    if (i > 0) assert_int_equal(l.ev[i].seq, l.ev[i - 1].seq + 1);
  }
  assert_string_equal(l.ev[0].name, "root");
  assert_string_equal(l.ev[0].op_id, cx_op_id(root));
  assert_string_equal(l.ev[0].parent_id, "");
  assert_string_equal(l.ev[1].name, "job");
  assert_string_equal(l.ev[1].parent_id, cx_op_id(root));
  assert_int_equal(l.ev[1].status, CX_STATUS_RUNNING);
  assert_int_equal(l.ev[2].current, 7);
  assert_string_equal(l.ev[2].message, "step");
  assert_int_equal(l.ev[3].reason, CX_REASON_MANUAL);
  assert_string_equal(l.ev[3].message, "stop");
  assert_string_equal(l.ev[4].op_id, cx_op_id(job));
  assert_int_equal(l.ev[4].status, CX_STATUS_CANCELLED);
  assert_int_equal(l.ev[4].reason, CX_REASON_MANUAL);
  assert_string_equal(l.ev[4].message, "stop");
  assert_int_equal(l.ev[5].status, CX_STATUS_COMPLETED);
  assert_string_equal(l.ev[5].message, "");
  cx_op_unref(job);
  cx_op_unref(root);
  log_fini(&l);
}

/* A subscriber stuck in its callback: the reporter goes on at full speed,
 * its progress events wait coalesced into the latest, and the lifecycle
 * events all arrive. */
static void test_slow_subscriber_coalesces(void **state) {
  (void)state;
  log_t l;
  cx_subscription *sub;
  log_init(&l);
  l.gate_closed = true;
  CX_ASSERT_OK(cx_events_subscribe(&sub, record_event, &l, NULL, 0));
  cx_op *op = cx_test_entered_op("busy", NULL, 0);
  wait_for(&l, 1, true); /* the callback holds the ENTERED event */
  for (int64_t i = 0; i < 5000; i++) report(op, i);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  open_gate(&l);
  wait_for(&l, 3, false);
  CX_ASSERT_OK(cx_events_unsubscribe(sub));
  assert_int_equal(l.n, 3);
  assert_int_equal(l.ev[0].kind, CX_EVENT_ENTERED);
  assert_int_equal(l.ev[1].kind, CX_EVENT_PROGRESS);
  assert_int_equal(l.ev[1].current, 4999); /* the latest */
  assert_int_equal(l.ev[2].kind, CX_EVENT_EXITED);
  assert_true(l.ev[2].seq > l.ev[1].seq);
  cx_op_unref(op);
  log_fini(&l);
}

/* A full queue drops new events and says how many in a GAP event, before
 * the next one delivered: nothing is lost silently. */
static void test_overflow_gap(void **state) {
  (void)state;
  log_t l;
  cx_subscription *sub;
  uint64_t delivered = 0, lost = 0;
  log_init(&l);
  l.gate_closed = true;
  CX_ASSERT_OK(cx_events_subscribe(&sub, record_event, &l, NULL, 4));
  cx_op *first = cx_test_entered_op("first", NULL, 0);
  wait_for(&l, 1, true);
  for (int i = 0; i < 10; i++) { /* 20 events, 4 fit */
    cx_op *op = cx_test_entered_op("many", NULL, 0);
    CX_ASSERT_OK(cx_op_exit(op, 0));
    cx_op_unref(op);
  }
  CX_ASSERT_OK(cx_op_exit(first, 0)); /* lost too: the queue is full */
  open_gate(&l);
  wait_for(&l, 6, false); /* first ENTERED, 4 queued, GAP */
  /* A later event still arrives, after the gap was reported. */
  cx_op *last = cx_test_entered_op("last", NULL, 0);
  wait_for(&l, 7, false);
  CX_ASSERT_OK(cx_events_unsubscribe(sub));
  for (size_t i = 0; i < l.n; i++) {
    if (l.ev[i].kind == CX_EVENT_GAP)
      lost += l.ev[i].lost;
    else
      delivered++;
  }
  /* The gap comes where the events were lost: after the 4 kept. */
  assert_int_equal(l.ev[5].kind, CX_EVENT_GAP);
  assert_int_equal(l.ev[5].lost, 17);
  assert_int_equal(delivered + lost, 1 + 20 + 1 + 1);
  assert_string_equal(l.ev[l.n - 1].name, "last");
  assert_seq_grows(&l);
  CX_ASSERT_OK(cx_op_exit(last, 0));
  cx_op_unref(last);
  cx_op_unref(first);
  log_fini(&l);
}

/* Unsubscribing from inside the callback: no wait, destroy runs once,
 * nothing is delivered afterwards. */
static void test_unsubscribe_inside(void **state) {
  (void)state;
  log_t l;
  log_init(&l);
  l.unsubscribe_inside = true;
  CX_ASSERT_OK(cx_events_subscribe(&l.sub, record_event, &l, count_destroy, 0));
  cx_op *op = cx_test_entered_op("once", NULL, 0);
  wait_for(&l, 1, false);
  double t0 = cx_test_now();
  while (atomic_load(&l.destroyed) == 0 && cx_test_now() - t0 < PROMPT)
    cx_test_sleep(0.005);
  assert_int_equal(atomic_load(&l.destroyed), 1);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_test_sleep(0.05);
  pthread_mutex_lock(&l.mu);
  assert_int_equal(l.n, 1);
  pthread_mutex_unlock(&l.mu);
  cx_op_unref(op);
  log_fini(&l);
}

static void test_bad_input(void **state) {
  (void)state;
  cx_subscription *sub = (cx_subscription *)&sub;
  CX_ASSERT_ERR(-EINVAL, cx_events_subscribe(&sub, NULL, NULL, NULL, 0));
  assert_null(sub);
  CX_ASSERT_ERR(-EINVAL,
                cx_events_subscribe(NULL, record_event, NULL, NULL, 0));
  CX_ASSERT_ERR(-EINVAL, cx_events_subscribe(&sub, record_event, NULL, NULL,
                                             ((size_t)1 << 20) + 1));
  CX_ASSERT_ERR(-EINVAL, cx_events_unsubscribe(NULL));
  assert_string_equal(cx_event_kind_name(CX_EVENT_GAP), "gap");
  assert_string_equal(cx_event_kind_name((cx_event_kind)99), "unknown");
}

/* Many threads make ops while two subscribers watch and a third comes and
 * goes: every subscriber sees sequence numbers grow, TSan-clean. */
typedef struct worker {
  atomic_bool *stop;
  int made;
} worker;

static void *make_ops(void *p) {
  worker *w = p;
  for (int i = 0; i < 300; i++) {
    cx_op *op = cx_test_entered_op("w", NULL, 0);
    report(op, i);
    if (i % 3 == 0) cx_op_cancel(op, CX_REASON_MANUAL, "x");
    cx_op_exit(op, i % 3 == 0 ? -ECANCELED : 0);
    cx_op_unref(op);
    w->made++;
  }
  return NULL;
}

static void *churn(void *p) {
  atomic_bool *stop = p;
  while (!atomic_load(stop)) {
    log_t *l = malloc(sizeof *l);
    cx_subscription *sub;
    assert_non_null(l);
    log_init(l);
    CX_ASSERT_OK(cx_events_subscribe(&sub, record_event, l, NULL, 64));
    cx_test_sleep(0.002);
    CX_ASSERT_OK(cx_events_unsubscribe(sub));
    log_fini(l);
    free(l);
  }
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  log_t *a = malloc(sizeof *a), *b = malloc(sizeof *b);
  cx_subscription *sa, *sb;
  atomic_bool stop = false;
  pthread_t th[4], ch;
  worker w[4];
  assert_non_null(a);
  assert_non_null(b);
  log_init(a);
  log_init(b);
  CX_ASSERT_OK(cx_events_subscribe(&sa, record_event, a, NULL, 0));
  CX_ASSERT_OK(cx_events_subscribe(&sb, record_event, b, NULL, 16));
  assert_int_equal(pthread_create(&ch, NULL, churn, &stop), 0);
  for (int i = 0; i < 4; i++) {
    w[i] = (worker){&stop, 0};
    assert_int_equal(pthread_create(&th[i], NULL, make_ops, &w[i]), 0);
  }
  for (int i = 0; i < 4; i++) assert_true(cx_test_join_within(th[i], 60, NULL));
  atomic_store(&stop, true);
  assert_true(cx_test_join_within(ch, PROMPT, NULL));
  /* Unsubscribing discards what is still queued: on a loaded machine the
   * delivery threads may not have run yet. */
  wait_for(a, 1, false);
  wait_for(b, 1, false);
  CX_ASSERT_OK(cx_events_unsubscribe(sa));
  CX_ASSERT_OK(cx_events_unsubscribe(sb));
  assert_true(a->n > 0);
  assert_true(b->n > 0);
  assert_seq_grows(a);
  assert_seq_grows(b);
  log_fini(a);
  log_fini(b);
  free(a);
  free(b);
}

/* A fork child has no subscription (no delivery thread): its ops make no
 * events, and the parent's handle can be unsubscribed there without a
 * hang; the parent's subscription goes on. */
static void test_fork(void **state) {
  (void)state;
  log_t l;
  cx_subscription *sub;
  int status;
  log_init(&l);
  CX_ASSERT_OK(cx_events_subscribe(&sub, record_event, &l, NULL, 0));
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    cx_op *op = cx_test_entered_op("child", NULL, 0);
    report(op, 1);
    int ok = cx_op_exit(op, 0) == 0 && cx_events_unsubscribe(sub) == 0;
    cx_op_unref(op);
    _exit(ok ? 0 : 1);
  }
  double t0 = cx_test_now();
  pid_t done;
  while ((done = waitpid(pid, &status, WNOHANG)) == 0 &&
         cx_test_now() - t0 < PROMPT)
    cx_test_sleep(0.01);
  if (done == 0) kill(pid, SIGKILL);
  assert_int_equal(done, pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  cx_op *op = cx_test_entered_op("parent", NULL, 0);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  wait_for(&l, 2, false);
  CX_ASSERT_OK(cx_events_unsubscribe(sub));
  assert_int_equal(l.n, 2);
  assert_string_equal(l.ev[0].name, "parent");
  cx_op_unref(op);
  log_fini(&l);
}

/* A waiter woken by a cancel may exit before the canceller's callbacks
 * run: each op still gets exactly one CANCELLED, before its EXITED. */
typedef struct sleeper {
  cx_op *op;
  atomic_bool in;
} sleeper;

static void *sleep_in_op(void *p) {
  sleeper *z = p;
  CX_ASSERT_OK(cx_op_enter(z->op));
  atomic_store(&z->in, true);
  int rc = cx_sleep(z->op, 30.0);
  CX_ASSERT_OK(cx_op_exit(z->op, rc));
  return NULL;
}

static int other_callback(cx_token *t, void *user_data) {
  (void)t;
  (void)user_data;
  return 0;
}

static void test_cancel_before_exit(void **state) {
  (void)state;
  log_t *l = malloc(sizeof *l);
  cx_subscription *sub;
  enum { N = 100 };
  assert_non_null(l);
  log_init(l);
  CX_ASSERT_OK(cx_events_subscribe(&sub, record_event, l, NULL, 4096));
  for (int i = 0; i < N; i++) {
    sleeper z = {.op = cx_test_op("sleeper", NULL, 0)};
    pthread_t th;
    cx_callback *cb;
    assert_int_equal(pthread_create(&th, NULL, sleep_in_op, &z), 0);
    while (!atomic_load(&z.in)) sched_yield();
    /* Another callback first, so the events' one runs later. */
    CX_ASSERT_OK(cx_token_on_cancel(cx_op_token(z.op), other_callback, NULL,
                                    NULL, 0, &cb));
    assert_true(cx_op_cancel(z.op, CX_REASON_MANUAL, "now"));
    assert_true(cx_test_join_within(th, PROMPT, NULL));
    cx_callback_unregister(cb);
    cx_op_unref(z.op);
  }
  wait_for(l, 3 * N, false);
  CX_ASSERT_OK(cx_events_unsubscribe(sub));
  assert_int_equal(l->n, 3 * N);
  for (size_t i = 0; i < l->n; i += 3) {
    assert_int_equal(l->ev[i].kind, CX_EVENT_ENTERED);
    assert_string_equal(l->ev[i + 1].op_id, l->ev[i].op_id);
    assert_int_equal(l->ev[i + 1].kind, CX_EVENT_CANCELLED);
    assert_string_equal(l->ev[i + 1].message, "now");
    assert_string_equal(l->ev[i + 2].op_id, l->ev[i].op_id);
    assert_int_equal(l->ev[i + 2].kind, CX_EVENT_EXITED);
  }
  log_fini(l);
  free(l);
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/events/lifecycle", test_lifecycle),
    CX_TEST("/events/slow-subscriber-coalesces",
            test_slow_subscriber_coalesces),
    CX_TEST("/events/overflow-gap", test_overflow_gap),
    CX_TEST("/events/unsubscribe-inside", test_unsubscribe_inside),
    CX_TEST("/events/bad-input", test_bad_input),
    CX_TEST("/events/threads", test_threads),
    CX_TEST("/events/fork", test_fork),
    CX_TEST("/events/cancel-before-exit", test_cancel_before_exit),
};

CX_TEST_MAIN("events", tests)
