/* tests/unit/test_fork.c - the library after fork(): the child can create
 * operations with timeouts and they fire (the timer restarts lazily), even
 * when the parent's timer thread was busy at the fork; waits and cancels
 * work; the signal-safe helper can be prepared again; ids differ between
 * parent and children; tokens' pollable fds are close-on-exec and really
 * closed across exec; and forks while other threads keep timers, links,
 * cascades, the registry and progress busy (issue 13) leave a child in
 * which all of them work.  Issue #2.
 */
#include "cx_test.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cancelable.h>

/* ThreadSanitizer cannot start threads in the child of a multi-threaded
 * fork ("not supported. Dying"): tests whose child needs the library's
 * threads are skipped under it.  The others still run. */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

/* AddressSanitizer's allocator (GCC 12's and clang 14's libsanitizer)
 * takes no lock around fork(): a fork while another thread is inside
 * malloc leaves the child's malloc locked for good (seen: the child's main
 * thread parked in SizeClassAllocator64::GetFromAllocator, about one fork
 * in a hundred under load).  LLVM 18 locks the allocator at fork; glibc's
 * malloc always has.  The test that forks while threads allocate is
 * skipped under it; the others fork with no thread inside malloc. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#define SKIP_UNDER_TSAN()                                  \
  do {                                                     \
    if (UNDER_TSAN) {                                      \
      print_message(                                       \
          "skipped: ThreadSanitizer cannot start threads " \
          "in a forked child\n");                          \
      skip();                                              \
    }                                                      \
  } while (0)

/* ---------------------------------------------------------------------- */
/* helpers */

/* Wait for @pid at most @seconds; kill it when it overstays.  Returns its
 * exit status, or -1 (timed out), or -2 (killed by a signal). */
static int wait_child(pid_t pid, double seconds) {
  double end = cx_test_now() + seconds;
  for (;;) {
    int st = 0;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(st)) return WEXITSTATUS(st);
      print_error("child killed by signal %d\n", WTERMSIG(st));
      return -2;
    }
    if (r < 0 && errno != EINTR) return -3;
    if (cx_test_now() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      print_error("child did not finish within %.0f s\n", seconds);
      return -1;
    }
    cx_test_sleep(0.005);
  }
}

/* Fork, run @fn in the child and exit with its result. */
static int run_in_child(int (*fn)(void), double seconds) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) return -4;
  if (pid == 0) _exit(fn());
  return wait_child(pid, seconds);
}

/* Child: an op with a 0.2 s timeout fires within 10 s. */
static int child_timeout_fires(void) {
  cx_op *op = NULL;
  if (cx_op_with_timeout(&op, NULL, 0.2, "child") != 0) return 10;
  if (cx_op_enter(op) != 0) return 11;
  int r = cx_token_wait(cx_op_token(op), 10.0);
  if (r != 0) return 12;
  if (cx_op_cancel_reason(op) != CX_REASON_TIMEOUT) return 13;
  if (cx_sleep(op, 5.0) != -ECANCELED) return 14;
  if (cx_op_exit(op, -ECANCELED) != 0) return 15;
  if (cx_op_status(op) != CX_STATUS_CANCELLED) return 16;
  cx_op_unref(op);
  /* and a second one, after the first */
  if (cx_op_with_timeout(&op, NULL, 0.1, "child-2") != 0) return 17;
  if (cx_op_enter(op) != 0) return 18;
  if (cx_sleep(NULL, 10.0) != -ECANCELED) return 19;
  cx_op_exit(op, -ECANCELED);
  cx_op_unref(op);
  return 0;
}

/* Make sure the parent's timer thread runs and has something armed. */
static cx_op *parent_arm_timer(void) {
  cx_op *fired = NULL;
  CX_ASSERT_OK(cx_op_with_timeout(&fired, NULL, 0.05, "parent-warmup"));
  CX_ASSERT_OK(cx_op_enter(fired));
  CX_ASSERT_OK(cx_token_wait(cx_op_token(fired), 10.0));
  CX_ASSERT_OK(cx_op_exit(fired, -ECANCELED));
  cx_op_unref(fired);
  cx_op *armed = NULL;
  CX_ASSERT_OK(cx_op_with_timeout(&armed, NULL, 3600.0, "parent-armed"));
  CX_ASSERT_OK(cx_op_enter(armed));
  return armed;
}

/* ---------------------------------------------------------------------- */

static void test_fork_child_timeout_fires(void **state) {
  (void)state;
  SKIP_UNDER_TSAN();
  cx_op *armed = parent_arm_timer();
  assert_int_equal(run_in_child(child_timeout_fires, 30.0), 0);
  /* the parent's timer is unaffected */
  assert_false(cx_op_is_cancelled(armed));
  CX_ASSERT_OK(cx_op_exit(armed, 0));
  cx_op_unref(armed);
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_with_timeout(&op, NULL, 0.1, "parent-after"));
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_token_wait(cx_op_token(op), 10.0));
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
}

/* Child: the timer had never started in the parent. */
static void test_fork_child_timeout_fresh(void **state) {
  (void)state;
  SKIP_UNDER_TSAN();
  assert_int_equal(run_in_child(child_timeout_fires, 30.0), 0);
}

/* Child: the virtual clock works too. */
static int child_virtual_clock(void) {
  if (cx_clock_use_virtual() != 0) return 20;
  cx_op *op = NULL;
  if (cx_op_with_timeout(&op, NULL, 5.0, "v") != 0) return 21;
  if (cx_op_enter(op) != 0) return 22;
  if (cx_clock_advance(4.0) != 0) return 23;
  if (cx_op_is_cancelled(op)) return 24;
  if (cx_clock_advance(2.0) != 0) return 25;
  if (!cx_op_is_cancelled(op)) return 26;
  cx_op_exit(op, -ECANCELED);
  cx_op_unref(op);
  cx_clock_use_real();
  return 0;
}

static void test_fork_child_virtual_clock(void **state) {
  (void)state;
  SKIP_UNDER_TSAN();
  cx_op *armed = parent_arm_timer();
  assert_int_equal(run_in_child(child_virtual_clock, 30.0), 0);
  CX_ASSERT_OK(cx_op_exit(armed, 0));
  cx_op_unref(armed);
}

/* Child: a cancel from another thread wakes a wait. */
static void *child_canceller(void *p) {
  cx_test_sleep(0.1);
  cx_op_cancel(p, CX_REASON_MANUAL, "child thread");
  return NULL;
}

static int child_wait_and_cancel(void) {
  cx_op *op = NULL;
  if (cx_op_create(&op, NULL) != 0) return 30;
  if (cx_op_enter(op) != 0) return 31;
  pthread_t th;
  if (pthread_create(&th, NULL, child_canceller, op) != 0) return 32;
  int r = cx_sleep(op, 20.0);
  pthread_join(th, NULL);
  if (r != -ECANCELED) return 33;
  if (cx_op_exit(op, -ECANCELED) != 0) return 36;
  cx_op_unref(op);
  /* outside any op: a token's fd becomes readable once cancelled */
  cx_token *t = cx_token_new();
  int fd = cx_token_fd(t);
  if (fd < 0) return 34;
  cx_token_cancel(t, CX_REASON_MANUAL, NULL);
  if (cx_wait_fd(NULL, fd, POLLIN, 5.0) <= 0) return 35;
  cx_token_unref(t);
  return 0;
}

static void test_fork_child_wait_and_cancel(void **state) {
  (void)state;
  SKIP_UNDER_TSAN();
  cx_op *armed = parent_arm_timer();
  assert_int_equal(run_in_child(child_wait_and_cancel, 30.0), 0);
  CX_ASSERT_OK(cx_op_exit(armed, 0));
  cx_op_unref(armed);
}

/* Child: the signal-safe helper is prepared again and works. */
static cx_token *volatile g_sig_token;
static void on_sigusr1(int sig) {
  (void)sig;
  int saved = errno;
  cx_token_cancel_signal_safe(g_sig_token, CX_REASON_SIGNAL);
  errno = saved;
}

static atomic_int g_child_cb;
static int child_cb(cx_token *t, void *p) {
  (void)t;
  (void)p;
  atomic_fetch_add(&g_child_cb, 1);
  return 0;
}

static int child_signal_safe(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigusr1;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGUSR1, &sa, NULL) != 0) return 42;
  if (cx_signal_safe_prepare() != 0) return 40;
  /* one signal at a time, each waited for: every wakeup must reach this
   * process's helper thread; varied gaps after preparing */
  const double gaps[5] = {0.0, 0.00001, 0.00005, 0.0002, 0.001};
  for (int i = 0; i < 5; i++) {
    atomic_store(&g_child_cb, 0);
    cx_token *t = cx_token_new();
    if (cx_token_on_cancel(t, child_cb, NULL, NULL, 0, NULL) != 0) return 41;
    g_sig_token = t;
    if (gaps[i] > 0) cx_test_sleep(gaps[i]);
    raise(SIGUSR1);
    if (!cx_token_is_cancelled(t)) return 43;
    double end = cx_test_now() + 5.0;
    while (atomic_load(&g_child_cb) == 0 && cx_test_now() < end)
      cx_test_sleep(0.002);
    if (atomic_load(&g_child_cb) != 1) return 44;
    g_sig_token = NULL;
    cx_token_unref(t);
  }
  return 0;
}

static void test_fork_child_signal_safe(void **state) {
  (void)state;
  SKIP_UNDER_TSAN();
  CX_ASSERT_OK(cx_signal_safe_prepare());
  /* One round trip through the parent's helper thread first, so that it
   * has started and sleeps before the first fork: a thread still starting
   * holds allocator locks (AddressSanitizer's among them), and a fork then
   * hands the child those locks held forever. */
  {
    cx_token *t = cx_token_new();
    double end = cx_test_now() + 30.0;
    atomic_store(&g_child_cb, 0);
    CX_ASSERT_OK(cx_token_on_cancel(t, child_cb, NULL, NULL, 0, NULL));
    assert_int_equal(cx_token_cancel_signal_safe(t, CX_REASON_SIGNAL), 1);
    while (atomic_load(&g_child_cb) == 0 && cx_test_now() < end)
      cx_test_sleep(0.002);
    assert_int_equal(atomic_load(&g_child_cb), 1);
    cx_token_unref(t);
  }
  /* several children: a child whose wakeups could reach the parent's
   * helper thread would fail only now and then */
  for (int i = 0; i < 10; i++) {
    int r = run_in_child(child_signal_safe, 30.0);
    if (r != 0) fail_msg("child %d returned %d", i, r);
  }
}

/* ---------------------------------------------------------------------- */
/* ids after fork */

static int g_id_pipe = -1;

static int child_write_id(void) {
  cx_token *t = cx_token_new();
  if (t == NULL) return 50;
  char buf[CX_ID_LEN + 1];
  const char *id = cx_token_id(t); /* NULL when out of memory */
  if (id == NULL) return 54;
  memcpy(buf, id, CX_ID_LEN + 1);
  cx_op *op = NULL;
  if (cx_op_create(&op, NULL) != 0) return 51;
  if ((id = cx_op_id(op)) == NULL) return 55;
  if (write(g_id_pipe, buf, CX_ID_LEN) != CX_ID_LEN) return 52;
  if (write(g_id_pipe, id, CX_ID_LEN) != CX_ID_LEN) return 53;
  cx_op_unref(op);
  cx_token_unref(t);
  return 0;
}

static void test_fork_ids_differ(void **state) {
  (void)state;
  /* the parent's generator is warm */
  cx_token *warm = cx_token_new();
  cx_token_unref(warm);
  int p[2];
  assert_int_equal(pipe(p), 0);
  g_id_pipe = p[1];
  /* two children forked from the same parent state */
  assert_int_equal(run_in_child(child_write_id, 30.0), 0);
  assert_int_equal(run_in_child(child_write_id, 30.0), 0);
  close(p[1]);
  char ids[4][CX_ID_LEN + 1];
  memset(ids, 0, sizeof ids);
  for (int i = 0; i < 4; i++)
    assert_int_equal(read(p[0], ids[i], CX_ID_LEN), CX_ID_LEN);
  close(p[0]);
  cx_token *t = cx_token_new();
  char mine[CX_ID_LEN + 1];
  memcpy(mine, cx_token_id(t), CX_ID_LEN + 1);
  cx_token_unref(t);
  /* child 1 vs child 2, and each vs the parent's next id */
  assert_string_not_equal(ids[0], ids[2]);
  assert_string_not_equal(ids[1], ids[3]);
  for (int i = 0; i < 4; i++) assert_string_not_equal(ids[i], mine);
}

/* ---------------------------------------------------------------------- */
/* close-on-exec */

static void test_fork_token_fd_cloexec(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  int fd = cx_token_fd(t);
  assert_true(fd >= 0);
  assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  /* really closed in an exec'd program */
  char script[128];
  snprintf(script, sizeof script,
           "if [ -e /proc/$$/fd/%d ]; then exit 1; else exit 0; fi", fd);
  fflush(stdout);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", script, (char *)NULL);
    _exit(127);
  }
  assert_int_equal(wait_child(pid, 30.0), 0);
  cx_token_unref(t);
}

static int g_inherited_fd = -1;
static int child_check_inherited_fd(void) {
  return fcntl(g_inherited_fd, F_GETFD) >= 0 ? 0 : 60;
}

static void test_fork_token_fd_inherited(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  g_inherited_fd = cx_token_fd(t);
  assert_true(g_inherited_fd >= 0);
  assert_int_equal(run_in_child(child_check_inherited_fd, 30.0), 0);
  cx_token_unref(t);
}

/* Returns once the parent's timer thread has fired a timer, so that it is
 * past its start: a thread still starting holds AddressSanitizer's
 * allocator and thread-registry locks, and a fork then hands the child
 * those locks held forever (the child's new timer thread never runs; seen
 * once in three CI runs of inherited-timeout-fires). */
static void parent_timer_started(void) {
  cx_token *t = NULL;
  CX_ASSERT_OK(cx_token_with_timeout(&t, 0.001));
  CX_ASSERT_OK(cx_token_wait(t, 30.0));
  cx_token_unref(t);
}

/* Child: a timeout entered BEFORE the fork fires in the child too (the
 * timer thread restarts at the first wait, not only at the next arm). */
static cx_op *g_inherited_op;
static int child_inherited_timeout_fires(void) {
  double t0 = cx_test_now();
  int r = cx_sleep(g_inherited_op, 10.0);
  if (r != -ECANCELED) return 70;
  if (cx_test_now() - t0 > 5.0) return 71;
  if (cx_op_cancel_reason(g_inherited_op) != CX_REASON_TIMEOUT) return 72;
  return 0;
}

static void test_fork_inherited_timeout_fires(void **state) {
  (void)state;
  SKIP_UNDER_TSAN();
  parent_timer_started();
  CX_ASSERT_OK(cx_op_with_timeout(&g_inherited_op, NULL, 0.3, "inherited"));
  CX_ASSERT_OK(cx_op_enter(g_inherited_op));
  assert_int_equal(run_in_child(child_inherited_timeout_fires, 30.0), 0);
  CX_ASSERT_OK(cx_op_exit(g_inherited_op, 0));
  cx_op_unref(g_inherited_op);
}

/* Parent cancels its copy after the fork: the child's copy stays live and
 * its pollable fd does not turn readable (the child got its own fd). */
static cx_token *g_shared_fd_token;
static int g_sync[2] = {-1, -1};
static int child_fd_not_shared(void) {
  char c;
  int fd = cx_token_fd(g_shared_fd_token);
  struct pollfd p;
  if (fd < 0) return 80;
  if (read(g_sync[0], &c, 1) != 1) return 81; /* parent has cancelled */
  if (cx_token_is_cancelled(g_shared_fd_token)) return 82;
  p.fd = fd;
  p.events = POLLIN;
  p.revents = 0;
  if (poll(&p, 1, 200) != 0) return 83; /* not readable */
  return 0;
}

static void test_fork_token_fd_not_shared(void **state) {
  (void)state;
  pid_t pid;
  g_shared_fd_token = cx_token_new();
  assert_true(cx_token_fd(g_shared_fd_token) >= 0);
  assert_int_equal(pipe(g_sync), 0);
  fflush(stdout);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) _exit(child_fd_not_shared());
  cx_token_cancel(g_shared_fd_token, CX_REASON_MANUAL, "parent only");
  assert_int_equal(write(g_sync[1], "x", 1), 1);
  assert_int_equal(wait_child(pid, 30.0), 0);
  close(g_sync[0]);
  close(g_sync[1]);
  cx_token_unref(g_shared_fd_token);
}

/* A condition predicate is running on a worker at the moment of the fork:
 * in the child the check is submitted again (the condition still
 * triggers) and exiting the op does not wait for the parent's worker. */
static atomic_int g_pred_calls;
static atomic_int g_pred_in;
static int slow_predicate(void *p) {
  (void)p;
  atomic_fetch_add(&g_pred_calls, 1);
  atomic_store(&g_pred_in, 1);
  cx_test_sleep(0.3);
  atomic_store(&g_pred_in, 0);
  return getpid() == (pid_t)(intptr_t)p ? 0 : 1; /* met in the child */
}

static cx_op *g_cond_op;
static int child_condition_resumes(void) {
  int r = cx_token_wait(cx_op_token(g_cond_op), 10.0); /* resumes workers */
  if (r != 0) return 90;
  if (cx_op_cancel_reason(g_cond_op) != CX_REASON_CONDITION) return 91;
  if (cx_op_exit(g_cond_op, -ECANCELED) != 0) return 92; /* no hang */
  return 0;
}

static void test_fork_condition_in_flight(void **state) {
  (void)state;
  SKIP_UNDER_TSAN();
  CX_ASSERT_OK(cx_op_with_condition(&g_cond_op, NULL, slow_predicate,
                                    (void *)(intptr_t)getpid(), NULL, 0.05,
                                    "in-flight"));
  CX_ASSERT_OK(cx_op_enter(g_cond_op));
  double end = cx_test_now() + 10.0;
  while (!atomic_load(&g_pred_in) && cx_test_now() < end) cx_test_sleep(0.005);
  assert_true(atomic_load(&g_pred_in)); /* the fork lands inside a check */
  assert_int_equal(run_in_child(child_condition_resumes, 30.0), 0);
  CX_ASSERT_OK(cx_op_exit(g_cond_op, 0));
  cx_op_unref(g_cond_op);
}

/* ---------------------------------------------------------------------- */
/* fork while other threads keep the library busy */

static atomic_int g_stop;

/* Busy with every lock a fork must not copy held: timers, links and
 * cascades (the cascade lock), the registry, progress. */
static void *busy_thread(void *p) {
  (void)p;
  while (!atomic_load(&g_stop)) {
    cx_op *op = NULL, *child = NULL;
    cx_op_options o = CX_OP_OPTIONS_INIT;
    o.timeout = 0.001;
    o.name = "busy";
    o.register_op = true;
    if (cx_op_create(&op, &o) != 0) continue;
    cx_op_enter(op);
    cx_token *t = cx_token_new();
    cx_token_link(t, cx_op_token(op), 0);
    o.parent = op;
    o.timeout = 0;
    if (cx_op_create(&child, &o) == 0) {
      cx_op_enter(child);
      cx_report_progress(child, "busy", NULL);
      cx_sleep(child, 0.002);
      cx_op_exit(child, cx_check(child));
      cx_op_unref(child);
    }
    cx_op_cancel(op, CX_REASON_MANUAL, NULL);
    cx_op_exit(op, cx_check(op));
    cx_token_unref(t);
    cx_op_unref(op);
  }
  return NULL;
}

/* Child of a busy parent: timeouts fire, and a cascade, a link and a
 * registered op work (no lock was copied held). */
static int child_busy_parent(void) {
  cx_token *root = cx_token_new(), *mid = NULL, *leaf = NULL;
  cx_op *op = NULL;
  cx_op_options o = CX_OP_OPTIONS_INIT;
  int r = child_timeout_fires();
  if (r != 0) return r;
  if (root == NULL || cx_token_new_child(&mid, root, 0) != 0) return 40;
  leaf = cx_token_new();
  if (leaf == NULL || cx_token_link(leaf, mid, 0) != 0) return 41;
  if (cx_token_link(root, leaf, 0) != -ELOOP) return 42;
  if (!cx_token_cancel(root, CX_REASON_MANUAL, NULL)) return 43;
  if (!cx_token_is_cancelled(leaf)) return 44;
  o.register_op = true;
  o.name = "in-child";
  if (cx_op_create(&op, &o) != 0 || cx_op_enter(op) != 0) return 45;
  if (cx_registry_find(cx_op_id(op)) != op) return 46;
  cx_op_unref(op); /* find's reference */
  if (cx_op_exit(op, 0) != 0) return 47;
  cx_op_unref(op);
  cx_token_unref(leaf);
  cx_token_unref(mid);
  cx_token_unref(root);
  return 0;
}

static void test_fork_under_load(void **state) {
  (void)state;
  SKIP_UNDER_TSAN();
  if (UNDER_ASAN) {
    print_message("skipped: AddressSanitizer's malloc is not fork-safe\n");
    skip();
  }
  atomic_store(&g_stop, 0);
  pthread_t th[2];
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&th[i], NULL, busy_thread, NULL), 0);
  cx_test_sleep(0.05);
  int failures = 0;
  for (int i = 0; i < 20; i++) {
    int r = run_in_child(child_busy_parent, 30.0);
    if (r != 0) {
      print_error("fork %d: child returned %d\n", i, r);
      failures++;
    }
  }
  atomic_store(&g_stop, 1);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  assert_int_equal(failures, 0);
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/fork/child/timeout-fires", test_fork_child_timeout_fires),
    CX_TEST("/fork/child/timeout-fresh", test_fork_child_timeout_fresh),
    CX_TEST("/fork/child/virtual-clock", test_fork_child_virtual_clock),
    CX_TEST("/fork/child/wait-and-cancel", test_fork_child_wait_and_cancel),
    CX_TEST("/fork/child/signal-safe", test_fork_child_signal_safe),
    CX_TEST("/fork/ids-differ", test_fork_ids_differ),
    CX_TEST("/fork/token-fd/cloexec", test_fork_token_fd_cloexec),
    CX_TEST("/fork/token-fd/inherited", test_fork_token_fd_inherited),
    CX_TEST("/fork/token-fd/not-shared", test_fork_token_fd_not_shared),
    CX_TEST("/fork/child/inherited-timeout-fires",
            test_fork_inherited_timeout_fires),
    CX_TEST("/fork/child/condition-in-flight", test_fork_condition_in_flight),
    CX_TEST("/fork/under-load", test_fork_under_load),
};

CX_TEST_MAIN("fork", tests)
