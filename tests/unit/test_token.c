/* tests/unit/test_token.c - cancellation tokens: create/ref/unref, the
 * first cancel wins, reason/message/time/id (UUID v4, unique), check, wait
 * with a timeout, the level-triggered close-on-exec pollable fd, running out
 * of descriptors, and bad input.  Issue #2.
 */
#include "cx_test.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cancelable.h>

/* ---------------------------------------------------------------------- */
/* helpers */

static bool is_lower_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx", y in [89ab], lower-case hex. */
static bool is_uuid_v4(const char *s) {
  if (s == NULL || strlen(s) != CX_ID_LEN) return false;
  for (int i = 0; i < CX_ID_LEN; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (!is_lower_hex(s[i])) {
      return false;
    }
  }
  return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

static int poll_readable(int fd, int timeout_ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  int r = poll(&p, 1, timeout_ms);
  if (r < 0) return -errno;
  return r == 1 && (p.revents & POLLIN) ? 1 : 0;
}

/* ---------------------------------------------------------------------- */
/* create / ref / unref */

static void test_token_new_is_live(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  assert_non_null(t);
  assert_false(cx_token_is_cancelled(t));
  CX_ASSERT_OK(cx_token_check(t));
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_NONE);
  assert_null(cx_token_cancel_message(t));
  assert_true(cx_token_cancel_time(t) == 0.0);
  assert_true(is_uuid_v4(cx_token_id(t)));
  cx_token_unref(t);
}

static void test_token_ref_unref(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  assert_non_null(t);
  assert_ptr_equal(cx_token_ref(t), t);
  assert_ptr_equal(cx_token_ref(t), t);
  cx_token_unref(t);
  cx_token_unref(t);
  /* still alive with the last reference: fully usable */
  assert_true(cx_token_cancel(t, CX_REASON_MANUAL, "still alive"));
  assert_string_equal(cx_token_cancel_message(t), "still alive");
  cx_token_unref(t);
  assert_null(cx_token_ref(NULL));
  cx_token_unref(NULL);
}

/* A reference taken on one thread and dropped on another. */
static void *unref_thread(void *arg) {
  cx_token *t = arg;
  cx_token_cancel(t, CX_REASON_MANUAL, "from thread");
  cx_token_unref(t);
  return NULL;
}

static void test_token_ref_across_threads(void **state) {
  (void)state;
  for (int i = 0; i < 200; i++) {
    cx_token *t = cx_token_new();
    assert_non_null(t);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, unref_thread, cx_token_ref(t)),
                     0);
    assert_false(cx_token_check(t) == -EINVAL);
    pthread_join(th, NULL);
    assert_true(cx_token_is_cancelled(t));
    cx_token_unref(t);
  }
}

/* ---------------------------------------------------------------------- */
/* cancel */

static void test_token_cancel_first_wins(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  double before = cx_test_wall_now();
  assert_true(cx_token_cancel(t, CX_REASON_MANUAL, "first"));
  double after = cx_test_wall_now();
  double when = cx_token_cancel_time(t);

  assert_false(cx_token_cancel(t, CX_REASON_TIMEOUT, "second"));
  assert_false(cx_token_cancel(t, CX_REASON_SIGNAL, NULL));
  assert_true(cx_token_is_cancelled(t));
  CX_ASSERT_ERR(-ECANCELED, cx_token_check(t));
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_MANUAL);
  assert_string_equal(cx_token_cancel_message(t), "first");
  assert_true(cx_token_cancel_time(t) == when);
  /* wall clock, between the two reads (1 s slack for clock granularity) */
  assert_true(when >= before - 1.0 && when <= after + 1.0);
  cx_token_unref(t);
}

static void test_token_cancel_each_reason(void **state) {
  (void)state;
  const cx_reason reasons[] = {CX_REASON_TIMEOUT, CX_REASON_MANUAL,
                               CX_REASON_SIGNAL,  CX_REASON_CONDITION,
                               CX_REASON_PARENT,  CX_REASON_ERROR};
  for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
    cx_token *t = cx_token_new();
    assert_true(cx_token_cancel(t, reasons[i], cx_reason_name(reasons[i])));
    assert_int_equal(cx_token_cancel_reason(t), reasons[i]);
    assert_string_equal(cx_token_cancel_message(t), cx_reason_name(reasons[i]));
    cx_token_unref(t);
  }
}

static void test_token_cancel_message_copied(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  char buf[32];
  snprintf(buf, sizeof buf, "transient");
  assert_true(cx_token_cancel(t, CX_REASON_ERROR, buf));
  memset(buf, 'Z', sizeof buf - 1);
  assert_string_equal(cx_token_cancel_message(t), "transient");
  cx_token_unref(t);
}

static void test_token_cancel_null_message(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  assert_true(cx_token_cancel(t, CX_REASON_MANUAL, NULL));
  assert_non_null(cx_token_cancel_message(t));
  assert_string_equal(cx_token_cancel_message(t), "");
  cx_token_unref(t);
}

static void test_token_cancel_bad_input(void **state) {
  (void)state;
  assert_false(cx_token_cancel(NULL, CX_REASON_MANUAL, "x"));
  cx_token *t = cx_token_new();
  assert_false(cx_token_cancel(t, CX_REASON_NONE, "none"));
  assert_false(cx_token_cancel(t, (cx_reason)7, "out of range"));
  assert_false(cx_token_cancel(t, (cx_reason)-1, "negative"));
  /* nothing changed */
  assert_false(cx_token_is_cancelled(t));
  CX_ASSERT_OK(cx_token_check(t));
  assert_int_equal(cx_token_cancel_reason(t), CX_REASON_NONE);
  assert_null(cx_token_cancel_message(t));
  assert_true(cx_token_cancel_time(t) == 0.0);
  /* and the next good cancel still wins */
  assert_true(cx_token_cancel(t, CX_REASON_MANUAL, "good"));
  assert_string_equal(cx_token_cancel_message(t), "good");
  cx_token_unref(t);
}

static void test_token_null_accessors(void **state) {
  (void)state;
  assert_false(cx_token_is_cancelled(NULL));
  CX_ASSERT_ERR(-EINVAL, cx_token_check(NULL));
  assert_int_equal(cx_token_cancel_reason(NULL), CX_REASON_NONE);
  assert_null(cx_token_cancel_message(NULL));
  assert_true(cx_token_cancel_time(NULL) == 0.0);
  assert_null(cx_token_id(NULL));
  CX_ASSERT_ERR(-EINVAL, cx_token_wait(NULL, 0.0));
  CX_ASSERT_ERR(-EINVAL, cx_token_fd(NULL));
}

/* Several threads cancel at once: exactly one wins, and every thread then
 * sees the winner's reason and message. */
typedef struct race_arg {
  cx_token *token;
  atomic_int *go;
  int index;
  bool won;
  bool cancelled_after; /* is_cancelled() right after cancel returned */
  char seen[64];
} race_arg;

static void *race_cancel(void *p) {
  race_arg *a = p;
  while (!atomic_load(a->go)) {
  }
  char msg[32];
  snprintf(msg, sizeof msg, "thread-%d", a->index);
  a->won = cx_token_cancel(a->token, CX_REASON_MANUAL, msg);
  a->cancelled_after = cx_token_is_cancelled(a->token);
  const char *m = cx_token_cancel_message(a->token);
  snprintf(a->seen, sizeof a->seen, "%s", m ? m : "(null)");
  return NULL;
}

static void test_token_cancel_race_one_winner(void **state) {
  (void)state;
  for (int round = 0; round < 50; round++) {
    cx_token *t = cx_token_new();
    atomic_int go = 0;
    race_arg args[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
      args[i] = (race_arg){.token = t, .go = &go, .index = i};
      assert_int_equal(pthread_create(&th[i], NULL, race_cancel, &args[i]), 0);
    }
    atomic_store(&go, 1);
    int winners = 0, winner = -1;
    for (int i = 0; i < 4; i++) {
      pthread_join(th[i], NULL);
      if (args[i].won) {
        winners++;
        winner = i;
      }
    }
    assert_int_equal(winners, 1);
    char expect[32];
    snprintf(expect, sizeof expect, "thread-%d", winner);
    assert_string_equal(cx_token_cancel_message(t), expect);
    /* a cancel that returned false found the token already cancelled:
     * it reads as cancelled, with the winner's message */
    for (int i = 0; i < 4; i++) {
      assert_true(args[i].cancelled_after);
      assert_string_equal(args[i].seen, expect);
    }
    cx_token_unref(t);
  }
}

/* ---------------------------------------------------------------------- */
/* ids */

static void test_token_id_uuid_v4(void **state) {
  (void)state;
  for (int i = 0; i < 1000; i++) {
    cx_token *t = cx_token_new();
    const char *id = cx_token_id(t);
    if (!is_uuid_v4(id)) print_error("not a UUID v4: '%s'\n", id);
    assert_true(is_uuid_v4(id));
    /* stable */
    assert_ptr_equal(cx_token_id(t), id);
    cx_token_cancel(t, CX_REASON_MANUAL, NULL);
    assert_string_equal(cx_token_id(t), id);
    cx_token_unref(t);
  }
}

static int cmp_ids(const void *a, const void *b) {
  return memcmp(a, b, CX_ID_LEN + 1);
}

static void test_token_id_unique(void **state) {
  (void)state;
  enum { N = 100000 };
  char(*ids)[CX_ID_LEN + 1] = malloc(sizeof(*ids) * N);
  assert_non_null(ids);
  for (int i = 0; i < N; i++) {
    cx_token *t = cx_token_new();
    assert_non_null(t);
    const char *id = cx_token_id(t); /* NULL when out of memory */
    assert_non_null(id);
    memcpy(ids[i], id, CX_ID_LEN + 1);
    cx_token_unref(t);
  }
  qsort(ids, N, sizeof(*ids), cmp_ids);
  int dups = 0;
  for (int i = 1; i < N; i++)
    if (memcmp(ids[i - 1], ids[i], CX_ID_LEN + 1) == 0) dups++;
  free(ids);
  assert_int_equal(dups, 0);
}

/* Per-thread generators must not produce the same sequence. */
enum { ID_THREADS = 4, IDS_PER_THREAD = 10000 };

static void *make_ids(void *p) {
  char(*ids)[CX_ID_LEN + 1] = p;
  for (int i = 0; i < IDS_PER_THREAD; i++) {
    cx_token *t = cx_token_new();
    const char *id = t != NULL ? cx_token_id(t) : NULL; /* out of memory */
    if (id == NULL)
      memset(ids[i], 0, CX_ID_LEN + 1); /* fails the test */
    else
      memcpy(ids[i], id, CX_ID_LEN + 1);
    cx_token_unref(t);
  }
  return NULL;
}

static void test_token_id_unique_across_threads(void **state) {
  (void)state;
  const int n = ID_THREADS * IDS_PER_THREAD;
  char(*ids)[CX_ID_LEN + 1] = malloc(sizeof(*ids) * (size_t)n);
  assert_non_null(ids);
  pthread_t th[ID_THREADS];
  for (int i = 0; i < ID_THREADS; i++)
    assert_int_equal(
        pthread_create(&th[i], NULL, make_ids, ids + i * IDS_PER_THREAD), 0);
  for (int i = 0; i < ID_THREADS; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < n; i++) assert_true(is_uuid_v4(ids[i]));
  qsort(ids, (size_t)n, sizeof(*ids), cmp_ids);
  int dups = 0;
  for (int i = 1; i < n; i++)
    if (memcmp(ids[i - 1], ids[i], CX_ID_LEN + 1) == 0) dups++;
  free(ids);
  assert_int_equal(dups, 0);
}

/* ---------------------------------------------------------------------- */
/* wait */

static void test_token_wait_timeout(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  double t0 = cx_test_now();
  CX_ASSERT_ERR(-ETIMEDOUT, cx_token_wait(t, 0.2));
  double dt = cx_test_now() - t0;
  assert_true(dt >= 0.15);
  assert_true(dt < 10.0);
  /* 0 only checks */
  t0 = cx_test_now();
  CX_ASSERT_ERR(-ETIMEDOUT, cx_token_wait(t, 0.0));
  assert_true(cx_test_now() - t0 < 2.0);
  cx_token_unref(t);
}

static void test_token_wait_already_cancelled(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  cx_token_cancel(t, CX_REASON_MANUAL, NULL);
  CX_ASSERT_OK(cx_token_wait(t, 0.0));
  CX_ASSERT_OK(cx_token_wait(t, 5.0));
  CX_ASSERT_OK(cx_token_wait(t, CX_FOREVER));
  CX_ASSERT_OK(cx_token_wait(t, INFINITY));
  cx_token_unref(t);
}

static void test_token_wait_bad_input(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  CX_ASSERT_ERR(-EINVAL, cx_token_wait(t, NAN));
  CX_ASSERT_ERR(-EINVAL, cx_token_wait(NULL, 1.0));
  CX_ASSERT_ERR(-EINVAL, cx_token_wait(NULL, CX_FOREVER));
  assert_false(cx_token_is_cancelled(t));
  cx_token_unref(t);
}

typedef struct delayed_cancel {
  cx_token *token;
  double delay;
} delayed_cancel;

static void *cancel_later(void *p) {
  delayed_cancel *d = p;
  cx_test_sleep(d->delay);
  cx_token_cancel(d->token, CX_REASON_MANUAL, "later");
  return NULL;
}

static void test_token_wait_woken_by_cancel(void **state) {
  (void)state;
  const double timeouts[] = {CX_FOREVER, -5.0, INFINITY, 60.0};
  for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
    cx_token *t = cx_token_new();
    delayed_cancel d = {t, 0.1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, cancel_later, &d), 0);
    double t0 = cx_test_now();
    CX_ASSERT_OK(cx_token_wait(t, timeouts[i]));
    assert_true(cx_test_now() - t0 < 20.0);
    assert_true(cx_token_is_cancelled(t));
    assert_string_equal(cx_token_cancel_message(t), "later");
    pthread_join(th, NULL);
    cx_token_unref(t);
  }
}

typedef struct waiter_arg {
  cx_token *token;
  int result;
} waiter_arg;

static void *wait_forever(void *p) {
  waiter_arg *w = p;
  w->result = cx_token_wait(w->token, CX_FOREVER);
  return NULL;
}

static void test_token_wait_many_waiters(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  enum { W = 6 };
  waiter_arg w[W];
  pthread_t th[W];
  for (int i = 0; i < W; i++) {
    w[i] = (waiter_arg){t, 1};
    assert_int_equal(pthread_create(&th[i], NULL, wait_forever, &w[i]), 0);
  }
  cx_test_sleep(0.1);
  assert_true(cx_token_cancel(t, CX_REASON_MANUAL, NULL));
  for (int i = 0; i < W; i++) {
    assert_true(cx_test_join_within(th[i], 20.0, NULL));
    CX_ASSERT_OK(w[i].result);
  }
  cx_token_unref(t);
}

/* ---------------------------------------------------------------------- */
/* pollable fd */

static void test_token_fd_basics(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  int fd = cx_token_fd(t);
  assert_true(fd >= 0);
  assert_int_equal(cx_token_fd(t), fd); /* same descriptor every call */
  int fdflags = fcntl(fd, F_GETFD);
  assert_true(fdflags >= 0);
  assert_true(fdflags & FD_CLOEXEC);
  int flflags = fcntl(fd, F_GETFL);
  assert_true(flflags >= 0);
  assert_true(flflags & O_NONBLOCK);

  assert_int_equal(poll_readable(fd, 0), 0);
  assert_int_equal(poll_readable(fd, 50), 0);
  cx_token_cancel(t, CX_REASON_MANUAL, NULL);
  /* level-triggered: readable for every poll, for good */
  for (int i = 0; i < 10; i++) assert_int_equal(poll_readable(fd, 0), 1);
  assert_int_equal(cx_token_fd(t), fd);
  cx_token_unref(t);
}

static void test_token_fd_after_cancel(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  cx_token_cancel(t, CX_REASON_MANUAL, NULL);
  int fd = cx_token_fd(t);
  assert_true(fd >= 0);
  assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  assert_int_equal(poll_readable(fd, 0), 1);
  assert_int_equal(poll_readable(fd, 0), 1);
  cx_token_unref(t);
}

static void test_token_fd_closed_on_free(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  int fd = cx_token_fd(t);
  assert_true(fd >= 0);
  cx_token_unref(t);
  errno = 0;
  assert_int_equal(fcntl(fd, F_GETFD), -1);
  assert_int_equal(errno, EBADF);
}

/* No fd is created unless asked for. */
static int count_open_fds(void) {
  int n = 0;
  for (int fd = 0; fd < 4096; fd++)
    if (fcntl(fd, F_GETFD) != -1) n++;
  return n;
}

static void test_token_fd_lazy(void **state) {
  (void)state;
  /* warm up whatever the library starts once */
  cx_token *w = cx_token_new();
  cx_token_cancel(w, CX_REASON_MANUAL, NULL);
  cx_token_unref(w);
  int before = count_open_fds();
  cx_token *ts[200];
  for (int i = 0; i < 200; i++) {
    ts[i] = cx_token_new();
    assert_non_null(ts[i]);
    cx_token_wait(ts[i], 0.0);
  }
  assert_int_equal(count_open_fds(), before);
  for (int i = 0; i < 100; i++) cx_token_cancel(ts[i], CX_REASON_MANUAL, 0);
  assert_int_equal(count_open_fds(), before);
  for (int i = 0; i < 200; i++) cx_token_unref(ts[i]);
}

typedef struct fd_poller {
  int fd;
  int result;
} fd_poller;

static void *poll_fd_thread(void *p) {
  fd_poller *f = p;
  f->result = poll_readable(f->fd, 30000);
  return NULL;
}

static void test_token_fd_every_poller(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  int fd = cx_token_fd(t);
  assert_true(fd >= 0);
  enum { P = 4 };
  fd_poller f[P];
  pthread_t th[P];
  for (int i = 0; i < P; i++) {
    f[i] = (fd_poller){fd, -1};
    assert_int_equal(pthread_create(&th[i], NULL, poll_fd_thread, &f[i]), 0);
  }
  cx_test_sleep(0.1);
  cx_token_cancel(t, CX_REASON_MANUAL, NULL);
  for (int i = 0; i < P; i++) {
    assert_true(cx_test_join_within(th[i], 20.0, NULL));
    assert_int_equal(f[i].result, 1);
  }
  /* and a poller that arrives afterwards */
  fd_poller late = {fd, -1};
  poll_fd_thread(&late);
  assert_int_equal(late.result, 1);
  cx_token_unref(t);
}

/* Lower the descriptor limit to a little above what is open and fill every
 * remaining slot; returns how many descriptors were taken into @held. */
enum { MAX_HELD = 70000 };

static int exhaust_fds(struct rlimit *old, int *held) {
  if (getrlimit(RLIMIT_NOFILE, old) != 0) return -1;
  int highest = 0;
  for (int fd = 0; fd < 65536 && (rlim_t)fd < old->rlim_cur; fd++)
    if (fcntl(fd, F_GETFD) != -1) highest = fd;
  struct rlimit low = *old;
  low.rlim_cur = (rlim_t)highest + 1 + 32;
  if (setrlimit(RLIMIT_NOFILE, &low) != 0) return -1;
  int n = 0;
  for (;;) {
    int d = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (d < 0) break;
    if (n == MAX_HELD) {
      close(d);
      break;
    }
    held[n++] = d;
  }
  return n;
}

static void release_fds(const struct rlimit *old, int *held, int n) {
  while (n > 0) close(held[--n]);
  setrlimit(RLIMIT_NOFILE, old);
}

static void test_token_fd_emfile(void **state) {
  (void)state;
  cx_token *t = cx_token_new();
  assert_non_null(t);
  /* warm up the library's own lazily created descriptors, if any */
  cx_token *w = cx_token_new();
  assert_true(cx_token_fd(w) >= 0);
  cx_token_cancel(w, CX_REASON_MANUAL, NULL);
  cx_token_unref(w);

  struct rlimit old;
  static int held[MAX_HELD];
  int nheld = exhaust_fds(&old, held);
  assert_true(nheld >= 0 && nheld < MAX_HELD);
  int r = cx_token_fd(t);
  int r_again = cx_token_fd(t);
  bool live = !cx_token_is_cancelled(t);
  int wr = cx_token_wait(t, 0.0);
  /* let two descriptors go (a pipe needs two) */
  if (nheld > 0) close(held[--nheld]);
  if (nheld > 0) close(held[--nheld]);
  int r2 = cx_token_fd(t);
  release_fds(&old, held, nheld);

  assert_true(r == -EMFILE || r == -ENFILE);
  assert_true(r_again == -EMFILE || r_again == -ENFILE);
  /* the token keeps working without a descriptor */
  assert_true(live);
  CX_ASSERT_ERR(-ETIMEDOUT, wr);
  /* a later call tries again and succeeds */
  assert_true(r2 >= 0);
  assert_true(fcntl(r2, F_GETFD) & FD_CLOEXEC);
  assert_int_equal(cx_token_fd(t), r2);
  assert_int_equal(poll_readable(r2, 0), 0);
  assert_true(cx_token_cancel(t, CX_REASON_MANUAL, NULL));
  CX_ASSERT_OK(cx_token_wait(t, 1.0));
  assert_int_equal(poll_readable(r2, 0), 1);
  cx_token_unref(t);
}

/* Cancel, wait and callbacks all work while no descriptor can be made. */
static int count_cb(cx_token *token, void *user_data) {
  (void)token;
  (*(int *)user_data)++;
  return 0;
}

static void *wait_thread(void *p);

static void test_token_fd_emfile_then_cancel(void **state) {
  (void)state;
  cx_token *w = cx_token_new();
  assert_true(cx_token_fd(w) >= 0);
  cx_token_unref(w);
  cx_token *t = cx_token_new();
  int calls = 0;
  CX_ASSERT_OK(cx_token_on_cancel(t, count_cb, &calls, NULL, 0, NULL));
  waiter_arg wa = {t, 1};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, wait_thread, &wa), 0);

  struct rlimit old;
  static int held[MAX_HELD];
  int nheld = exhaust_fds(&old, held);
  assert_true(nheld >= 0 && nheld < MAX_HELD);
  int r = cx_token_fd(t);
  bool won = cx_token_cancel(t, CX_REASON_MANUAL, "no fds");
  int wr = cx_token_wait(t, 1.0);
  bool joined = cx_test_join_within(th, 20.0, NULL);
  release_fds(&old, held, nheld);

  assert_true(r == -EMFILE || r == -ENFILE);
  assert_true(won);
  CX_ASSERT_OK(wr);
  assert_true(joined);
  CX_ASSERT_OK(wa.result);
  assert_int_equal(calls, 1);
  /* a descriptor created now is readable at once */
  int fd = cx_token_fd(t);
  assert_true(fd >= 0);
  assert_int_equal(poll_readable(fd, 0), 1);
  cx_token_unref(t);
}

static void *wait_thread(void *p) {
  waiter_arg *w = p;
  w->result = cx_token_wait(w->token, 30.0);
  return NULL;
}

/* A cancel made inside a callback of another cancel wakes the waiters of
 * its token at once (only its own callbacks wait for the outer loop): a
 * callback may cancel a worker's token and join the worker. */
static void *nested_waiter(void *p) {
  return (void *)(intptr_t)cx_token_wait((cx_token *)p, 20.0);
}

static int cancel_and_join(cx_token *outer, void *p) {
  pthread_t *th = p;
  void *rv = NULL;
  cx_token *worker_token = NULL;
  (void)outer;
  memcpy(&worker_token, (char *)p + sizeof(pthread_t), sizeof worker_token);
  cx_token_cancel(worker_token, CX_REASON_PARENT, "from a callback");
  pthread_join(*th, &rv); /* would hang if the wake were deferred */
  return (int)(intptr_t)rv;
}

static void test_token_cancel_nested_wakes_at_once(void **state) {
  (void)state;
  cx_token *outer = cx_token_new(), *worker = cx_token_new();
  char ctx[sizeof(pthread_t) + sizeof(cx_token *)];
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, nested_waiter, worker), 0);
  cx_test_sleep(0.1); /* let it block */
  memcpy(ctx, &th, sizeof th);
  memcpy(ctx + sizeof th, &worker, sizeof worker);
  CX_ASSERT_OK(cx_token_on_cancel(outer, cancel_and_join, ctx, NULL, 0, NULL));
  double t0 = cx_test_now();
  assert_true(cx_token_cancel(outer, CX_REASON_MANUAL, "go"));
  assert_true(cx_test_now() - t0 < 10.0);
  assert_true(cx_token_is_cancelled(worker));
  cx_token_unref(outer);
  cx_token_unref(worker);
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/token/new/live", test_token_new_is_live),
    CX_TEST("/token/ref/unref", test_token_ref_unref),
    CX_TEST("/token/ref/across-threads", test_token_ref_across_threads),
    CX_TEST("/token/cancel/first-wins", test_token_cancel_first_wins),
    CX_TEST("/token/cancel/nested-wakes-at-once",
            test_token_cancel_nested_wakes_at_once),
    CX_TEST("/token/cancel/each-reason", test_token_cancel_each_reason),
    CX_TEST("/token/cancel/message-copied", test_token_cancel_message_copied),
    CX_TEST("/token/cancel/null-message", test_token_cancel_null_message),
    CX_TEST("/token/cancel/bad-input", test_token_cancel_bad_input),
    CX_TEST("/token/cancel/race-one-winner", test_token_cancel_race_one_winner),
    CX_TEST("/token/null-accessors", test_token_null_accessors),
    CX_TEST("/token/id/uuid-v4", test_token_id_uuid_v4),
    CX_TEST("/token/id/unique", test_token_id_unique),
    CX_TEST("/token/id/unique-across-threads",
            test_token_id_unique_across_threads),
    CX_TEST("/token/wait/timeout", test_token_wait_timeout),
    CX_TEST("/token/wait/already-cancelled", test_token_wait_already_cancelled),
    CX_TEST("/token/wait/bad-input", test_token_wait_bad_input),
    CX_TEST("/token/wait/woken-by-cancel", test_token_wait_woken_by_cancel),
    CX_TEST("/token/wait/many-waiters", test_token_wait_many_waiters),
    CX_TEST("/token/fd/basics", test_token_fd_basics),
    CX_TEST("/token/fd/after-cancel", test_token_fd_after_cancel),
    CX_TEST("/token/fd/closed-on-free", test_token_fd_closed_on_free),
    CX_TEST("/token/fd/lazy", test_token_fd_lazy),
    CX_TEST("/token/fd/every-poller", test_token_fd_every_poller),
    CX_TEST("/token/fd/emfile", test_token_fd_emfile),
    CX_TEST("/token/fd/emfile-then-cancel", test_token_fd_emfile_then_cancel),
};

CX_TEST_MAIN("token", tests)
