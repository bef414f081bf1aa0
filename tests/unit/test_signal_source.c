/* tests/unit/test_signal_source.c - the signal source (issue #3), with real
 * signals sent to the process: kill(), raise() and pthread_kill() from
 * several threads, to watching and non-watching threads; ops entered on
 * any thread; reason SIGNAL and a message naming the signal and its number
 * ("received signal SIGTERM (15)"); several ops watching one signal all
 * cancelled, ops watching another one untouched; no signals given means
 * SIGINT and SIGTERM; the previous disposition (handler, flags and mask,
 * including a custom SA_SIGINFO handler and SIG_IGN) restored exactly when
 * the last watcher stops and not before; nothing delivered after exit;
 * invalid numbers (0, -1, 65+, SIGKILL, SIGSTOP, > 64 signals) -> -EINVAL.
 * "Nothing happened" is checked once the dispatcher is done with every
 * signal the library's handler took (cx_test_quiesce(): linked with the
 * static library).
 */
#include "cx_test.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cancelable.h>

/* ---------------------------------------------------------------------- */
/* helpers */

static cx_op *signal_op(const int *signals, size_t count, const char *name) {
  cx_source *s = NULL;
  cx_op *op = NULL;
  cx_op_options o = CX_OP_OPTIONS_INIT;
  o.name = name;
  CX_ASSERT_OK(cx_source_signal(&s, signals, count));
  CX_ASSERT_OK(cx_op_create(&op, &o));
  CX_ASSERT_OK(cx_op_add_source(op, s));
  return op;
}

static struct sigaction get_action(int signo) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  assert_int_equal(sigaction(signo, NULL, &sa), 0);
  return sa;
}

/* glibc adds SA_RESTORER (kernel-internal: where the handler returns to)
 * to every sigaction() it makes, so a disposition never set (flags 0) comes
 * back with it once anybody re-installs it: not a user-visible difference. */
#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif
#define USER_FLAGS(f) ((f) & ~SA_RESTORER)

/* ThreadSanitizer's sigaction() interceptor installs every disposition with
 * a full mask and, for SIG_DFL and SIG_IGN, reports the kernel's copy; the
 * mask of those two has no effect anyway (no handler runs), so under TSan
 * it is not compared for them. */
#if defined(__SANITIZE_THREAD__)
#define CX_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CX_TSAN 1
#endif
#endif

static bool same_action(const struct sigaction *a, const struct sigaction *b) {
  if (USER_FLAGS(a->sa_flags) != USER_FLAGS(b->sa_flags)) return false;
  if (a->sa_flags & SA_SIGINFO) {
    if (a->sa_sigaction != b->sa_sigaction) return false;
  } else if (a->sa_handler != b->sa_handler) {
    return false;
  }
#ifdef CX_TSAN
  if (!(a->sa_flags & SA_SIGINFO) &&
      (a->sa_handler == SIG_DFL || a->sa_handler == SIG_IGN))
    return true;
#endif
  for (int s = 1; s <= SIGRTMAX; s++)
    if (sigismember(&a->sa_mask, s) != sigismember(&b->sa_mask, s))
      return false;
  return true;
}

static void assert_same_action(const struct sigaction *a,
                               const struct sigaction *b) {
  if (!same_action(a, b)) {
    char ma[80] = "", mb[80] = "";
    for (int s = 1; s <= SIGRTMAX && s < 80; s++) {
      ma[s - 1] = sigismember(&a->sa_mask, s) ? '1' : '0';
      mb[s - 1] = sigismember(&b->sa_mask, s) ? '1' : '0';
    }
    print_error(
        "dispositions differ: same handler %d, flags %#x/%#x,\n"
        "  masks %s\n        %s\n",
        a->sa_handler == b->sa_handler, (unsigned)a->sa_flags,
        (unsigned)b->sa_flags, ma, mb);
    fail();
  }
}

static void expect_signal_message(cx_op *op, const char *name, int signo) {
  char num[16];
  const char *msg = cx_op_cancel_message(op);
  assert_non_null(msg);
  snprintf(num, sizeof num, "(%d)", signo);
  if (name != NULL && strstr(msg, name) == NULL) {
    print_error("message '%s' does not name %s\n", msg, name);
    fail();
  }
  if (strstr(msg, num) == NULL) {
    print_error("message '%s' does not give the number %s\n", msg, num);
    fail();
  }
}

/* A previous handler installed by the "application".  Lock-free atomics:
 * async-signal-safe, and the handler may run on any thread. */
static atomic_int app_hits[65];

static void app_handler(int signo, siginfo_t *info, void *ctx) {
  (void)info;
  (void)ctx;
  if (signo > 0 && signo < 65) atomic_fetch_add(&app_hits[signo], 1);
}

static struct sigaction install_app_handler(int signo) {
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = app_handler;
  sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGHUP);
  sigaddset(&sa.sa_mask, SIGUSR2);
  sigaddset(&sa.sa_mask, SIGRTMIN + 3);
  assert_int_equal(sigaction(signo, &sa, &old), 0);
  return old;
}

/* ---------------------------------------------------------------------- */
/* delivery */

static void test_raise_cancels(void **state) {
  (void)state;
  int sig = SIGUSR1;
  cx_op *op = signal_op(&sig, 1, "raise");
  CX_ASSERT_OK(cx_op_enter(op));
  assert_false(cx_op_is_cancelled(op));
  assert_int_equal(raise(SIGUSR1), 0);
  CX_ASSERT_OK(cx_token_wait(cx_op_token(op), 10));
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_SIGNAL);
  expect_signal_message(op, "SIGUSR1", SIGUSR1);
  char exact[64];
  snprintf(exact, sizeof exact, "received signal SIGUSR1 (%d)", SIGUSR1);
  assert_string_equal(cx_op_cancel_message(op), exact);
  CX_ASSERT_ERR(-ECANCELED, cx_check(op));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  assert_int_equal(cx_op_status(op), CX_STATUS_CANCELLED);
  assert_int_equal(cx_op_cancel_reason(op), CX_REASON_SIGNAL);
  cx_op_unref(op);
}

typedef struct watcher {
  cx_op *op;
  pthread_t thread;
  atomic_bool entered;
  int sleep_rc;
  double cancelled_after;
} watcher;

/* Enters the op on its own thread and sleeps until it is cancelled. */
static void *watcher_main(void *arg) {
  watcher *w = arg;
  CX_ASSERT_OK(cx_op_enter(w->op));
  atomic_store(&w->entered, true);
  w->sleep_rc = cx_sleep(w->op, 30.0);
  CX_ASSERT_OK(cx_op_exit(w->op, w->sleep_rc));
  return NULL;
}

static void start_watcher(watcher *w, cx_op *op) {
  w->op = op;
  atomic_store(&w->entered, false);
  assert_int_equal(pthread_create(&w->thread, NULL, watcher_main, w), 0);
  double t0 = cx_test_now();
  while (!atomic_load(&w->entered) && cx_test_now() - t0 < 10)
    cx_test_sleep(0.001);
  assert_true(atomic_load(&w->entered));
}

enum {
  BY_KILL,
  BY_RAISE,
  BY_PTHREAD_KILL_OTHER,
  BY_PTHREAD_KILL_WATCHER,
  BY_PTHREAD_KILL_MAIN
};

typedef struct sender {
  int how;
  int signo;
  pthread_t target;
} sender;

static void *sender_main(void *arg) {
  sender *s = arg;
  switch (s->how) {
    case BY_KILL:
      assert_int_equal(kill(getpid(), s->signo), 0);
      break;
    case BY_RAISE:
      assert_int_equal(raise(s->signo), 0);
      break;
    default:
      assert_int_equal(pthread_kill(s->target, s->signo), 0);
      break;
  }
  return NULL;
}

/* A thread that sleeps (signals unblocked) until told to stop. */
static atomic_bool bystander_stop;
static void *bystander_main(void *arg) {
  (void)arg;
  while (!atomic_load(&bystander_stop)) cx_test_sleep(0.001);
  return NULL;
}

static void test_from_threads(void **state) {
  (void)state;
  pthread_t bystander;
  atomic_store(&bystander_stop, false);
  assert_int_equal(pthread_create(&bystander, NULL, bystander_main, NULL), 0);
  for (int how = BY_KILL; how <= BY_PTHREAD_KILL_MAIN; how++) {
    int sig = how % 2 ? SIGUSR2 : SIGUSR1;
    watcher w;
    memset(&w, 0, sizeof w);
    start_watcher(&w, signal_op(&sig, 1, "threaded"));
    sender s = {how, sig, pthread_self()};
    if (how == BY_PTHREAD_KILL_OTHER) s.target = bystander;
    if (how == BY_PTHREAD_KILL_WATCHER) s.target = w.thread;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, sender_main, &s), 0);
    pthread_join(t, NULL);
    pthread_join(w.thread, NULL);
    CX_ASSERT_ERR(-ECANCELED, w.sleep_rc);
    assert_int_equal(cx_op_status(w.op), CX_STATUS_CANCELLED);
    assert_int_equal(cx_op_cancel_reason(w.op), CX_REASON_SIGNAL);
    expect_signal_message(w.op, sig == SIGUSR1 ? "SIGUSR1" : "SIGUSR2", sig);
    cx_op_unref(w.op);
  }
  atomic_store(&bystander_stop, true);
  pthread_join(bystander, NULL);
}

static void test_several_watchers(void **state) {
  (void)state;
  enum { N = 6 };
  int usr1 = SIGUSR1, both[] = {SIGHUP, SIGUSR1}, usr2 = SIGUSR2;
  watcher w[N], other;
  memset(w, 0, sizeof w);
  memset(&other, 0, sizeof other);
  for (int i = 0; i < N; i++)
    start_watcher(&w[i], i % 2 ? signal_op(both, 2, "both")
                               : signal_op(&usr1, 1, "usr1"));
  start_watcher(&other, signal_op(&usr2, 1, "usr2"));
  /* two more on this thread, nested */
  cx_op *outer = signal_op(&usr1, 1, "outer"),
        *inner = signal_op(both, 2, "inner");
  CX_ASSERT_OK(cx_op_enter(outer));
  CX_ASSERT_OK(cx_op_enter(inner));

  /* one signal, from another thread */
  sender s = {BY_KILL, SIGUSR1, pthread_self()};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, sender_main, &s), 0);
  pthread_join(t, NULL);
  for (int i = 0; i < N; i++) {
    pthread_join(w[i].thread, NULL);
    CX_ASSERT_ERR(-ECANCELED, w[i].sleep_rc);
    assert_int_equal(cx_op_cancel_reason(w[i].op), CX_REASON_SIGNAL);
    expect_signal_message(w[i].op, "SIGUSR1", SIGUSR1);
    cx_op_unref(w[i].op);
  }
  CX_ASSERT_OK(cx_token_wait(cx_op_token(inner), 10));
  CX_ASSERT_OK(cx_token_wait(cx_op_token(outer), 10));
  expect_signal_message(inner, "SIGUSR1", SIGUSR1);
  expect_signal_message(outer, "SIGUSR1", SIGUSR1);
  CX_ASSERT_OK(cx_op_exit(inner, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(outer, -ECANCELED));
  cx_op_unref(inner);
  cx_op_unref(outer);

  /* the SIGUSR2 watcher was not touched (the dispatcher is done) */
  cx_test_quiesce();
  assert_false(cx_op_is_cancelled(other.op));
  assert_int_equal(kill(getpid(), SIGUSR2), 0);
  pthread_join(other.thread, NULL);
  assert_int_equal(cx_op_cancel_reason(other.op), CX_REASON_SIGNAL);
  expect_signal_message(other.op, "SIGUSR2", SIGUSR2);
  cx_op_unref(other.op);
}

typedef struct storm {
  int signo;
  int count;
} storm;

static void *storm_main(void *arg) {
  storm *s = arg;
  for (int i = 0; i < s->count; i++) {
    if (i % 2)
      raise(s->signo);
    else
      kill(getpid(), s->signo);
  }
  return NULL;
}

static void test_concurrent_senders(void **state) {
  (void)state;
  enum { OPS = 8, SENDERS = 4 };
  int usr1 = SIGUSR1;
  /* signals still in flight after the last watcher exits reach this */
  struct sigaction original = install_app_handler(SIGUSR1);
  struct sigaction before = get_action(SIGUSR1);
  for (int round = 0; round < 5; round++) {
    watcher w[OPS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < OPS; i++)
      start_watcher(&w[i], signal_op(&usr1, 1, "storm"));
    pthread_t t[SENDERS];
    storm s = {SIGUSR1, 20};
    for (int i = 0; i < SENDERS; i++)
      assert_int_equal(pthread_create(&t[i], NULL, storm_main, &s), 0);
    for (int i = 0; i < SENDERS; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < OPS; i++) {
      pthread_join(w[i].thread, NULL);
      assert_int_equal(cx_op_status(w[i].op), CX_STATUS_CANCELLED);
      assert_int_equal(cx_op_cancel_reason(w[i].op), CX_REASON_SIGNAL);
      cx_op_unref(w[i].op);
    }
  }
  struct sigaction after = get_action(SIGUSR1);
  assert_same_action(&before, &after);
  assert_int_equal(sigaction(SIGUSR1, &original, NULL), 0);
}

static void test_default_int_and_term(void **state) {
  (void)state;
  struct sigaction int_before = get_action(SIGINT);
  struct sigaction term_before = get_action(SIGTERM);
  const int pairs[2] = {SIGTERM, SIGINT};
  for (int i = 0; i < 2; i++) {
    cx_op *op = signal_op(NULL, 0, "default");
    CX_ASSERT_OK(cx_op_enter(op));
    /* both are watched while the op runs */
    struct sigaction a = get_action(SIGINT), b = get_action(SIGTERM);
    assert_false(same_action(&a, &int_before));
    assert_false(same_action(&b, &term_before));
    assert_int_equal(raise(pairs[i]), 0);
    CX_ASSERT_OK(cx_token_wait(cx_op_token(op), 10));
    assert_int_equal(cx_op_cancel_reason(op), CX_REASON_SIGNAL);
    expect_signal_message(op, i == 0 ? "SIGTERM" : "SIGINT", pairs[i]);
    CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
    cx_op_unref(op);
    struct sigaction c = get_action(SIGINT), d = get_action(SIGTERM);
    assert_same_action(&c, &int_before);
    assert_same_action(&d, &term_before);
  }
  /* the factory's default too */
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_with_signal(&op, NULL, NULL, 0, "factory-default"));
  CX_ASSERT_OK(cx_op_enter(op));
  assert_int_equal(raise(SIGINT), 0);
  CX_ASSERT_OK(cx_token_wait(cx_op_token(op), 10));
  expect_signal_message(op, "SIGINT", SIGINT);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
}

static void test_several_signals_one_op(void **state) {
  (void)state;
  int sigs[] = {SIGUSR1, SIGUSR2, SIGHUP};
  cx_op *op = signal_op(sigs, 3, "three");
  CX_ASSERT_OK(cx_op_enter(op));
  assert_int_equal(raise(SIGUSR2), 0);
  CX_ASSERT_OK(cx_token_wait(cx_op_token(op), 10));
  expect_signal_message(op, "SIGUSR2", SIGUSR2);
  /* a second signal changes nothing (once dispatched) */
  assert_int_equal(raise(SIGHUP), 0);
  cx_test_quiesce();
  expect_signal_message(op, "SIGUSR2", SIGUSR2);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  /* the same signal listed twice */
  int dup[] = {SIGUSR1, SIGUSR1};
  struct sigaction before = get_action(SIGUSR1);
  op = signal_op(dup, 2, "dup");
  CX_ASSERT_OK(cx_op_enter(op));
  assert_int_equal(raise(SIGUSR1), 0);
  CX_ASSERT_OK(cx_token_wait(cx_op_token(op), 10));
  expect_signal_message(op, "SIGUSR1", SIGUSR1);
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  struct sigaction after = get_action(SIGUSR1);
  assert_same_action(&before, &after);
}

static void test_realtime_signals(void **state) {
  (void)state;
  int rts[] = {SIGRTMIN + 1, SIGRTMAX};
  for (int i = 0; i < 2; i++) {
    cx_op *op = signal_op(&rts[i], 1, "rt");
    struct sigaction before = get_action(rts[i]);
    CX_ASSERT_OK(cx_op_enter(op));
    assert_int_equal(raise(rts[i]), 0);
    CX_ASSERT_OK(cx_token_wait(cx_op_token(op), 10));
    assert_int_equal(cx_op_cancel_reason(op), CX_REASON_SIGNAL);
    expect_signal_message(op, NULL, rts[i]);
    CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
    cx_op_unref(op);
    struct sigaction after = get_action(rts[i]);
    assert_same_action(&before, &after);
  }
}

/* The message names the signal for the common ones listed by signal(7). */
static void check_named(const int *sigs, const char *const *names, size_t n) {
  for (size_t i = 0; i < n; i++) {
    cx_op *op = signal_op(&sigs[i], 1, "named");
    CX_ASSERT_OK(cx_op_enter(op));
    assert_int_equal(raise(sigs[i]), 0);
    CX_ASSERT_OK(cx_token_wait(cx_op_token(op), 10));
    assert_int_equal(cx_op_cancel_reason(op), CX_REASON_SIGNAL);
    expect_signal_message(op, names[i], sigs[i]);
    CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
    cx_op_unref(op);
  }
}

static void test_message_names_common(void **state) {
  (void)state;
  const int sigs[] = {SIGHUP,  SIGQUIT,  SIGALRM, SIGPIPE,
                      SIGCHLD, SIGWINCH, SIGUSR1, SIGUSR2};
  const char *const names[] = {"SIGHUP",  "SIGQUIT",  "SIGALRM", "SIGPIPE",
                               "SIGCHLD", "SIGWINCH", "SIGUSR1", "SIGUSR2"};
  check_named(sigs, names, sizeof sigs / sizeof sigs[0]);
}

static void test_message_names_others(void **state) {
  (void)state;
  const int sigs[] = {SIGURG,  SIGPROF, SIGVTALRM, SIGCONT,
                      SIGTSTP, SIGTTIN, SIGTTOU,   SIGXFSZ};
  const char *const names[] = {"SIGURG",  "SIGPROF", "SIGVTALRM", "SIGCONT",
                               "SIGTSTP", "SIGTTIN", "SIGTTOU",   "SIGXFSZ"};
  check_named(sigs, names, sizeof sigs / sizeof sigs[0]);
}

/* ---------------------------------------------------------------------- */
/* dispositions */

static void test_restore_default(void **state) {
  (void)state;
  int sig = SIGUSR1;
  struct sigaction before = get_action(SIGUSR1);
  cx_op *op = signal_op(&sig, 1, "restore");
  /* creating the source installs nothing */
  struct sigaction created = get_action(SIGUSR1);
  assert_same_action(&created, &before);
  CX_ASSERT_OK(cx_op_enter(op));
  struct sigaction during = get_action(SIGUSR1);
  assert_false(same_action(&during, &before));
  CX_ASSERT_OK(cx_op_exit(op, 0));
  assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
  struct sigaction after = get_action(SIGUSR1);
  assert_same_action(&after, &before);
  cx_op_unref(op);
}

static void test_restore_custom_handler(void **state) {
  (void)state;
  int usr1 = SIGUSR1, usr1_hup[] = {SIGUSR1, SIGHUP};
  struct sigaction original = install_app_handler(SIGUSR1);
  struct sigaction app = get_action(SIGUSR1);
  struct sigaction hup_before = get_action(SIGHUP);
  atomic_store(&app_hits[SIGUSR1], 0);

  cx_op *a = signal_op(&usr1, 1, "a"), *b = signal_op(usr1_hup, 2, "b");
  watcher wb;
  memset(&wb, 0, sizeof wb);
  CX_ASSERT_OK(cx_op_enter(a));
  start_watcher(&wb, b); /* on another thread */
  struct sigaction during = get_action(SIGUSR1);
  assert_false(same_action(&during, &app));

  /* the first watcher stops: not restored yet (b still watches) */
  CX_ASSERT_OK(cx_op_exit(a, 0));
  struct sigaction still = get_action(SIGUSR1);
  assert_false(same_action(&still, &app));
  assert_int_equal(raise(SIGUSR1), 0);
  pthread_join(wb.thread, NULL);
  CX_ASSERT_ERR(-ECANCELED, wb.sleep_rc);
  expect_signal_message(b, "SIGUSR1", SIGUSR1);
  assert_false(cx_op_is_cancelled(a)); /* exited before the signal */
  assert_int_equal(cx_op_status(a), CX_STATUS_COMPLETED);

  /* the last watcher stopped: exactly the application's handler again */
  struct sigaction after = get_action(SIGUSR1);
  assert_same_action(&after, &app);
  struct sigaction hup_after = get_action(SIGHUP);
  assert_same_action(&hup_after, &hup_before);
  /* and it is the one that runs now */
  int hits = atomic_load(&app_hits[SIGUSR1]);
  assert_int_equal(raise(SIGUSR1), 0);
  assert_int_equal(atomic_load(&app_hits[SIGUSR1]), hits + 1);
  cx_test_quiesce(); /* had the library taken it, it is dispatched */
  assert_false(cx_op_is_cancelled(a));
  cx_op_unref(a);
  cx_op_unref(b);
  assert_int_equal(sigaction(SIGUSR1, &original, NULL), 0);
}

static void test_restore_ignored(void **state) {
  (void)state;
  struct sigaction ign, original;
  memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  sigaddset(&ign.sa_mask, SIGINT);
  assert_int_equal(sigaction(SIGUSR2, &ign, &original), 0);
  struct sigaction before = get_action(SIGUSR2);
  int sig = SIGUSR2;
  cx_op *op = signal_op(&sig, 1, "ignored-before");
  CX_ASSERT_OK(cx_op_enter(op));
  /* watched now, even though the process ignored it before */
  assert_int_equal(raise(SIGUSR2), 0);
  CX_ASSERT_OK(cx_token_wait(cx_op_token(op), 10));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  struct sigaction after = get_action(SIGUSR2);
  assert_same_action(&after, &before);
  assert_true(after.sa_handler == SIG_IGN);
  assert_int_equal(raise(SIGUSR2), 0); /* ignored: we survive */
  cx_op_unref(op);
  assert_int_equal(sigaction(SIGUSR2, &original, NULL), 0);
}

static void test_nothing_after_exit(void **state) {
  (void)state;
  int sig = SIGUSR1;
  struct sigaction original = install_app_handler(SIGUSR1);
  atomic_store(&app_hits[SIGUSR1], 0);
  for (int i = 0; i < 20; i++) {
    cx_op *op = signal_op(&sig, 1, "after-exit");
    CX_ASSERT_OK(cx_op_enter(op));
    CX_ASSERT_OK(cx_op_exit(op, 0));
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    cx_test_quiesce(); /* had the library taken it, it is dispatched */
    assert_false(cx_op_is_cancelled(op));
    assert_int_equal(cx_op_status(op), CX_STATUS_COMPLETED);
    assert_int_equal(cx_op_cancel_reason(op), CX_REASON_NONE);
    cx_op_unref(op);
  }
  /* every signal went to the application's handler */
  double t0 = cx_test_now();
  while (atomic_load(&app_hits[SIGUSR1]) < 20 && cx_test_now() - t0 < 10)
    cx_test_sleep(0.001);
  assert_int_equal(atomic_load(&app_hits[SIGUSR1]), 20);
  assert_int_equal(sigaction(SIGUSR1, &original, NULL), 0);
}

static void test_pending_op_installs_nothing(void **state) {
  (void)state;
  /* an op created and freed without being entered touches no disposition */
  struct sigaction before = get_action(SIGUSR2);
  int sig = SIGUSR2;
  cx_op *op = signal_op(&sig, 1, "never-entered");
  struct sigaction mid = get_action(SIGUSR2);
  assert_same_action(&mid, &before);
  cx_op_unref(op);
  /* a source freed by hand too */
  cx_source *s;
  CX_ASSERT_OK(cx_source_signal(&s, &sig, 1));
  cx_source_free(s);
  struct sigaction after = get_action(SIGUSR2);
  assert_same_action(&after, &before);
}

/* ---------------------------------------------------------------------- */
/* bad input */

static void test_invalid(void **state) {
  (void)state;
  const int bad[] = {0, -1, -15, 65, 66, 1000, SIGRTMAX + 1, SIGKILL, SIGSTOP};
  cx_source *s;
  cx_op *op;
  struct sigaction usr1_before = get_action(SIGUSR1);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    s = (cx_source *)&s;
    CX_ASSERT_ERR(-EINVAL, cx_source_signal(&s, &bad[i], 1));
    assert_null(s);
    op = (cx_op *)&op;
    CX_ASSERT_ERR(-EINVAL, cx_op_with_signal(&op, NULL, &bad[i], 1, "bad"));
    assert_null(op);
    /* one bad number among good ones */
    int mixed[] = {SIGUSR1, bad[i], SIGUSR2};
    CX_ASSERT_ERR(-EINVAL, cx_source_signal(&s, mixed, 3));
  }
  CX_ASSERT_ERR(-EINVAL, cx_source_signal(&s, NULL, 1));
  int usr1 = SIGUSR1;
  CX_ASSERT_ERR(-EINVAL, cx_source_signal(NULL, &usr1, 1));
  CX_ASSERT_ERR(-EINVAL, cx_op_with_signal(NULL, NULL, &usr1, 1, "x"));
  /* at most 64 signals */
  int many[65];
  for (int i = 0; i < 65; i++) many[i] = SIGUSR1;
  CX_ASSERT_ERR(-EINVAL, cx_source_signal(&s, many, 65));
  CX_ASSERT_OK(cx_source_signal(&s, many, 64));
  cx_source_free(s);
  /* the boundaries that are valid */
  int edges[] = {1, SIGRTMAX};
  CX_ASSERT_OK(cx_source_signal(&s, edges, 2));
  cx_source_free(s);
  /* nothing was installed by any of this */
  struct sigaction usr1_after = get_action(SIGUSR1);
  assert_same_action(&usr1_after, &usr1_before);
}

/* Fault signals are refused: a handler that returns re-runs the fault. */
static void test_fault_signals_refused(void **state) {
  (void)state;
  const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS};
  for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
    cx_source *src = (cx_source *)&src;
    CX_ASSERT_ERR(-EINVAL, cx_source_signal(&src, &faults[i], 1));
    assert_null(src);
  }
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/signal/raise/reason-and-message", test_raise_cancels),
    CX_TEST("/signal/from-threads", test_from_threads),
    CX_TEST("/signal/several-watchers", test_several_watchers),
    CX_TEST("/signal/concurrent-senders", test_concurrent_senders),
    CX_TEST("/signal/default/int-and-term", test_default_int_and_term),
    CX_TEST("/signal/several-signals-one-op", test_several_signals_one_op),
    CX_TEST("/signal/realtime", test_realtime_signals),
    CX_TEST("/signal/message/names-common", test_message_names_common),
    CX_TEST("/signal/message/names-others", test_message_names_others),
    CX_TEST("/signal/restore/default", test_restore_default),
    CX_TEST("/signal/restore/custom-handler", test_restore_custom_handler),
    CX_TEST("/signal/restore/ignored", test_restore_ignored),
    CX_TEST("/signal/nothing-after-exit", test_nothing_after_exit),
    CX_TEST("/signal/pending-op-installs-nothing",
            test_pending_op_installs_nothing),
    CX_TEST("/signal/invalid", test_invalid),
    CX_TEST("/signal/invalid/faults", test_fault_signals_refused),
};

CX_TEST_MAIN("signal", tests)
