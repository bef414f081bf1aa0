/* tests/unit/test_misc.c - versions, status/reason names, error names and
 * descriptions, and the log handler (silent by default; a handler receives
 * level, message and operation id).  Issue #2.
 */
#include "cx_test.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cancelable.h>

/* ---------------------------------------------------------------------- */
/* versions */

static void test_version_matches_header(void **state) {
  (void)state;
  assert_int_equal(cx_version(), CX_VERSION_HEX);
  assert_non_null(cx_version_string());
  assert_string_equal(cx_version_string(), CX_VERSION_STRING);

  char expected[64];
  snprintf(expected, sizeof expected, "%d.%d.%d", CX_VERSION_MAJOR,
           CX_VERSION_MINOR, CX_VERSION_PATCH);
  assert_string_equal(cx_version_string(), expected);
  assert_int_equal(CX_VERSION_HEX, (CX_VERSION_MAJOR << 16) |
                                       (CX_VERSION_MINOR << 8) |
                                       CX_VERSION_PATCH);
}

static void test_version_at_least(void **state) {
  (void)state;
  assert_true(CX_VERSION_AT_LEAST(0, 0, 0));
  assert_true(CX_VERSION_AT_LEAST(CX_VERSION_MAJOR, CX_VERSION_MINOR,
                                  CX_VERSION_PATCH));
  assert_false(CX_VERSION_AT_LEAST(CX_VERSION_MAJOR, CX_VERSION_MINOR,
                                   CX_VERSION_PATCH + 1));
  assert_false(CX_VERSION_AT_LEAST(CX_VERSION_MAJOR, CX_VERSION_MINOR + 1, 0));
  assert_false(CX_VERSION_AT_LEAST(CX_VERSION_MAJOR + 1, 0, 0));
}

/* ---------------------------------------------------------------------- */
/* status and reason names */

static void test_names_status(void **state) {
  (void)state;
  assert_string_equal(cx_status_name(CX_STATUS_PENDING), "pending");
  assert_string_equal(cx_status_name(CX_STATUS_RUNNING), "running");
  assert_string_equal(cx_status_name(CX_STATUS_COMPLETED), "completed");
  assert_string_equal(cx_status_name(CX_STATUS_CANCELLED), "cancelled");
  assert_string_equal(cx_status_name(CX_STATUS_FAILED), "failed");
  assert_string_equal(cx_status_name(CX_STATUS_SHIELDED), "shielded");
  assert_string_equal(cx_status_name((cx_status)6), "unknown");
  assert_string_equal(cx_status_name((cx_status)1000), "unknown");
  assert_string_equal(cx_status_name((cx_status)-1), "unknown");
}

/* Issue 17 item 9: status predicates. */
static void test_status_predicates(void **state) {
  (void)state;
  static const struct {
    cx_status status;
    bool terminal, success, cancelled;
  } rows[] = {
      {CX_STATUS_PENDING, false, false, false},
      {CX_STATUS_RUNNING, false, false, false},
      {CX_STATUS_SHIELDED, false, false, false},
      {CX_STATUS_COMPLETED, true, true, false},
      {CX_STATUS_CANCELLED, true, false, true},
      {CX_STATUS_FAILED, true, false, false},
      {(cx_status)1000, false, false, false},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    assert_int_equal(cx_status_is_terminal(rows[i].status), rows[i].terminal);
    assert_int_equal(cx_status_is_success(rows[i].status), rows[i].success);
    assert_int_equal(cx_status_is_cancelled(rows[i].status), rows[i].cancelled);
  }
}

static void test_names_reason(void **state) {
  (void)state;
  assert_string_equal(cx_reason_name(CX_REASON_NONE), "none");
  assert_string_equal(cx_reason_name(CX_REASON_TIMEOUT), "timeout");
  assert_string_equal(cx_reason_name(CX_REASON_MANUAL), "manual");
  assert_string_equal(cx_reason_name(CX_REASON_SIGNAL), "signal");
  assert_string_equal(cx_reason_name(CX_REASON_CONDITION), "condition");
  assert_string_equal(cx_reason_name(CX_REASON_PARENT), "parent");
  assert_string_equal(cx_reason_name(CX_REASON_ERROR), "error");
  assert_string_equal(cx_reason_name((cx_reason)7), "unknown");
  assert_string_equal(cx_reason_name((cx_reason)-1), "unknown");
  assert_string_equal(cx_reason_name((cx_reason)INT_MAX), "unknown");
}

/* The enum values are part of the ABI: explicit and append-only. */
static void test_names_values_stable(void **state) {
  (void)state;
  assert_int_equal(CX_STATUS_PENDING, 0);
  assert_int_equal(CX_STATUS_RUNNING, 1);
  assert_int_equal(CX_STATUS_COMPLETED, 2);
  assert_int_equal(CX_STATUS_CANCELLED, 3);
  assert_int_equal(CX_STATUS_FAILED, 4);
  assert_int_equal(CX_STATUS_SHIELDED, 5);
  assert_int_equal(CX_REASON_NONE, 0);
  assert_int_equal(CX_REASON_TIMEOUT, 1);
  assert_int_equal(CX_REASON_MANUAL, 2);
  assert_int_equal(CX_REASON_SIGNAL, 3);
  assert_int_equal(CX_REASON_CONDITION, 4);
  assert_int_equal(CX_REASON_PARENT, 5);
  assert_int_equal(CX_REASON_ERROR, 6);
}

/* ---------------------------------------------------------------------- */
/* cx_strerror / cx_err_name */

static void test_err_name_known(void **state) {
  (void)state;
  assert_string_equal(cx_err_name(0), "OK");
  assert_string_equal(cx_err_name(-ECANCELED), "ECANCELED");
  assert_string_equal(cx_err_name(-ETIMEDOUT), "ETIMEDOUT");
  assert_string_equal(cx_err_name(-EINVAL), "EINVAL");
  assert_string_equal(cx_err_name(-ENOMEM), "ENOMEM");
  assert_string_equal(cx_err_name(-EPERM), "EPERM");
  assert_string_equal(cx_err_name(-EBUSY), "EBUSY");
  assert_string_equal(cx_err_name(-ENOENT), "ENOENT");
  assert_string_equal(cx_err_name(-EMFILE), "EMFILE");
  assert_string_equal(cx_err_name(-ESRCH), "ESRCH");
  assert_string_equal(cx_err_name(-EPROTOTYPE), "EPROTOTYPE");
}

static void test_err_name_positive_is_negated(void **state) {
  (void)state;
  assert_string_equal(cx_err_name(ECANCELED), "ECANCELED");
  assert_string_equal(cx_err_name(ETIMEDOUT), "ETIMEDOUT");
  assert_string_equal(cx_err_name(EINVAL), cx_err_name(-EINVAL));
}

static void test_err_name_unknown(void **state) {
  (void)state;
  assert_string_equal(cx_err_name(-99999), "UNKNOWN");
  assert_string_equal(cx_err_name(99999), "UNKNOWN");
  /* INT_MIN cannot be negated: must not be undefined behaviour. */
  assert_string_equal(cx_err_name(INT_MIN), "UNKNOWN");
  assert_string_equal(cx_err_name(INT_MAX), "UNKNOWN");
}

static void test_strerror_known(void **state) {
  (void)state;
  assert_string_equal(cx_strerror(0), "success");
  const int codes[] = {-ECANCELED, -ETIMEDOUT, -EINVAL, -ENOMEM,
                       -EPERM,     -EBUSY,     -ENOENT, -EMFILE};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    const char *s = cx_strerror(codes[i]);
    assert_non_null(s);
    assert_true(s[0] != '\0');
    assert_string_not_equal(s, "unknown error");
    assert_string_not_equal(s, "success");
    /* positive is treated as its negation */
    assert_string_equal(cx_strerror(-codes[i]), s);
  }
  /* distinct codes, distinct texts */
  assert_string_not_equal(cx_strerror(-ECANCELED), cx_strerror(-ETIMEDOUT));
  assert_string_not_equal(cx_strerror(-EINVAL), cx_strerror(-ENOMEM));
}

static void test_strerror_unknown(void **state) {
  (void)state;
  assert_string_equal(cx_strerror(-99999), "unknown error");
  assert_string_equal(cx_strerror(99999), "unknown error");
  assert_string_equal(cx_strerror(INT_MIN), "unknown error");
  assert_string_equal(cx_strerror(INT_MAX), "unknown error");
}

/* cx_strerror is thread-safe: no shared static buffer. */
static void *strerror_thread(void *arg) {
  (void)arg;
  intptr_t bad = 0;
  for (int i = 0; i < 20000; i++) {
    const char *a = cx_strerror(-ECANCELED);
    const char *b = cx_strerror(-ETIMEDOUT);
    if (a == NULL || b == NULL || strcmp(a, b) == 0) bad++;
  }
  return (void *)bad;
}

static void test_strerror_threads(void **state) {
  (void)state;
  const char *canc = cx_strerror(-ECANCELED);
  char saved[256];
  snprintf(saved, sizeof saved, "%s", canc);
  pthread_t th[4];
  for (int i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&th[i], NULL, strerror_thread, NULL), 0);
  for (int i = 0; i < 4; i++) {
    void *r;
    pthread_join(th[i], &r);
    assert_int_equal((intptr_t)r, 0);
  }
  assert_string_equal(cx_strerror(-ECANCELED), saved);
}

/* ---------------------------------------------------------------------- */
/* log handler */

#define MAX_LOGS 256

typedef struct log_entry {
  cx_log_level level;
  char op_id[160];
  int has_op_id;
  char message[512];
} log_entry;

typedef struct log_capture {
  pthread_mutex_t mu;
  int count;
  int bad_user_data;
  int null_message;
  int trailing_newline;
  log_entry entries[MAX_LOGS];
} log_capture;

static log_capture g_cap = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void capture_reset(void) {
  pthread_mutex_lock(&g_cap.mu);
  g_cap.count = 0;
  g_cap.bad_user_data = 0;
  g_cap.null_message = 0;
  g_cap.trailing_newline = 0;
  pthread_mutex_unlock(&g_cap.mu);
}

static int capture_count(void) {
  pthread_mutex_lock(&g_cap.mu);
  int n = g_cap.count;
  pthread_mutex_unlock(&g_cap.mu);
  return n;
}

static void capture_handler(cx_log_level level, const char *op_id,
                            const char *message, void *user_data) {
  pthread_mutex_lock(&g_cap.mu);
  if (user_data != &g_cap) g_cap.bad_user_data++;
  if (message == NULL) {
    g_cap.null_message++;
  } else {
    size_t n = strlen(message);
    if (n > 0 && message[n - 1] == '\n') g_cap.trailing_newline++;
  }
  if (g_cap.count < MAX_LOGS) {
    log_entry *e = &g_cap.entries[g_cap.count];
    e->level = level;
    e->has_op_id = op_id != NULL;
    snprintf(e->op_id, sizeof e->op_id, "%s", op_id ? op_id : "");
    snprintf(e->message, sizeof e->message, "%s", message ? message : "");
  }
  g_cap.count++;
  pthread_mutex_unlock(&g_cap.mu);
}

static int failing_callback(cx_token *token, void *user_data) {
  (void)token;
  (void)user_data;
  return -EIO;
}

/* Things that make the library want to log: failing callbacks, cancels,
 * operations that fail, bad input. */
static void provoke_logging(void) {
  cx_token *t = cx_token_new();
  if (t) {
    cx_token_on_cancel(t, failing_callback, NULL, NULL, 0, NULL);
    cx_token_cancel(t, CX_REASON_MANUAL, "provoked");
    cx_token_on_cancel(t, failing_callback, NULL, NULL, 0, NULL);
    cx_token_unref(t);
  }
  cx_op *op = NULL;
  if (cx_op_create(&op, NULL) == 0) {
    cx_op_enter(op);
    cx_token_on_cancel(cx_op_token(op), failing_callback, NULL, NULL, 0, NULL);
    cx_op_cancel(op, CX_REASON_ERROR, "provoked");
    cx_op_exit(op, -EIO);
    cx_op_exit(op, 0);
    cx_op_enter(op);
    cx_op_unref(op);
  }
  if (cx_op_create(&op, NULL) == 0) {
    cx_op_enter(op);
    cx_op_exit(op, -EIO);
    cx_op_unref(op);
  }
  cx_op_enter(NULL);
  cx_op_exit(NULL, 0);
  cx_token_cancel(NULL, CX_REASON_MANUAL, NULL);
  cx_sleep(NULL, -1.0);
}

static void test_log_silent_by_default(void **state) {
  (void)state;
  cx_log_set_handler(NULL, CX_LOG_DEBUG, NULL);
  char path[] = "/tmp/cx_test_stderr_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  unlink(path);
  fflush(stderr);
  int saved = dup(2);
  assert_true(saved >= 0);
  assert_true(dup2(fd, 2) >= 0);

  provoke_logging();

  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  off_t size = lseek(fd, 0, SEEK_END);
  char buf[512] = {0};
  if (size > 0) {
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    (void)n;
    print_error("library wrote to stderr: %s\n", buf);
  }
  close(fd);
  assert_int_equal(size, 0);
}

static void test_log_handler_receives_failure(void **state) {
  (void)state;
  capture_reset();
  cx_log_set_handler(capture_handler, CX_LOG_DEBUG, &g_cap);

  cx_token *t = cx_token_new();
  assert_non_null(t);
  CX_ASSERT_OK(cx_token_on_cancel(t, failing_callback, NULL, NULL, 0, NULL));
  int before = capture_count();
  assert_true(cx_token_cancel(t, CX_REASON_MANUAL, "x"));
  int after = capture_count();
  cx_token_unref(t);
  cx_log_set_handler(NULL, CX_LOG_DEBUG, NULL);

  /* The failing callback is logged (token.h: "it is logged"). */
  assert_true(after > before);
  assert_int_equal(g_cap.bad_user_data, 0);
  assert_int_equal(g_cap.null_message, 0);
  assert_int_equal(g_cap.trailing_newline, 0);
  int found = 0;
  for (int i = before; i < after && i < MAX_LOGS; i++) {
    assert_in_range(g_cap.entries[i].level, CX_LOG_DEBUG, CX_LOG_ERROR);
    assert_true(g_cap.entries[i].message[0] != '\0');
    if (g_cap.entries[i].level >= CX_LOG_WARNING) found = 1;
  }
  /* A failure is not debug chatter. */
  assert_true(found);
}

static void test_log_handler_receives_op_id(void **state) {
  (void)state;
  capture_reset();
  cx_log_set_handler(capture_handler, CX_LOG_DEBUG, &g_cap);

  cx_op_options o = CX_OP_OPTIONS_INIT;
  o.id = "log-correlation-id-42";
  o.name = "logged";
  cx_op *op = NULL;
  CX_ASSERT_OK(cx_op_create(&op, &o));
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_token_on_cancel(cx_op_token(op), failing_callback, NULL, NULL,
                                  0, NULL));
  cx_op_cancel(op, CX_REASON_MANUAL, "stop");
  CX_ASSERT_OK(cx_op_exit(op, -ECANCELED));
  cx_op_unref(op);
  cx_log_set_handler(NULL, CX_LOG_DEBUG, NULL);

  int n = capture_count();
  assert_true(n > 0);
  int found = 0;
  for (int i = 0; i < n && i < MAX_LOGS; i++)
    if (g_cap.entries[i].has_op_id &&
        strcmp(g_cap.entries[i].op_id, "log-correlation-id-42") == 0)
      found = 1;
  if (!found) {
    for (int i = 0; i < n && i < MAX_LOGS; i++)
      print_error(
          "log[%d] level=%d op_id=%s msg=%s\n", i, g_cap.entries[i].level,
          g_cap.entries[i].has_op_id ? g_cap.entries[i].op_id : "(null)",
          g_cap.entries[i].message);
  }
  assert_true(found);
}

static void test_log_min_level_filters(void **state) {
  (void)state;
  /* First find the level of the failing-callback message. */
  capture_reset();
  cx_log_set_handler(capture_handler, CX_LOG_DEBUG, &g_cap);
  provoke_logging();
  int n = capture_count();
  assert_true(n > 0);
  cx_log_level max = CX_LOG_DEBUG;
  for (int i = 0; i < n && i < MAX_LOGS; i++)
    if (g_cap.entries[i].level > max) max = g_cap.entries[i].level;

  /* With min_level = max, only messages >= max arrive, and some do. */
  capture_reset();
  cx_log_set_handler(capture_handler, max, &g_cap);
  provoke_logging();
  n = capture_count();
  assert_true(n > 0);
  for (int i = 0; i < n && i < MAX_LOGS; i++)
    assert_true(g_cap.entries[i].level >= max);

  /* Above every level seen: nothing arrives. */
  if (max < CX_LOG_ERROR) {
    capture_reset();
    cx_log_set_handler(capture_handler, (cx_log_level)(max + 1), &g_cap);
    provoke_logging();
    assert_int_equal(capture_count(), 0);
  }
  cx_log_set_handler(NULL, CX_LOG_DEBUG, NULL);
}

static void test_log_handler_removed(void **state) {
  (void)state;
  capture_reset();
  cx_log_set_handler(capture_handler, CX_LOG_DEBUG, &g_cap);
  cx_log_set_handler(NULL, CX_LOG_DEBUG, NULL);
  provoke_logging();
  assert_int_equal(capture_count(), 0);
}

static char *read_stderr_of(void (*fn)(void)) {
  char path[] = "/tmp/cx_test_stderr_XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return NULL;
  unlink(path);
  fflush(stderr);
  int saved = dup(2);
  dup2(fd, 2);
  fn();
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  off_t size = lseek(fd, 0, SEEK_END);
  char *buf = calloc(1, (size_t)size + 1);
  lseek(fd, 0, SEEK_SET);
  if (buf && size > 0) {
    ssize_t got = read(fd, buf, (size_t)size);
    (void)got;
  }
  close(fd);
  return buf;
}

static void call_log_stderr(void) {
  cx_log_stderr(CX_LOG_WARNING, "op-1234", "hello world", NULL);
  cx_log_stderr(CX_LOG_ERROR, NULL, "no op here", NULL);
}

static void test_log_stderr_format(void **state) {
  (void)state;
  char *out = read_stderr_of(call_log_stderr);
  assert_non_null(out);
  /* "cancelable: LEVEL [op-id] message" lines */
  char *line2 = strchr(out, '\n');
  assert_non_null(line2);
  *line2++ = '\0';
  assert_true(strncmp(out, "cancelable: ", 12) == 0);
  assert_non_null(strcasestr(out, "warn"));
  assert_non_null(strstr(out, "op-1234"));
  assert_non_null(strstr(out, "hello world"));
  assert_true(strstr(out, "op-1234") < strstr(out, "hello world"));
  assert_true(strncmp(line2, "cancelable: ", 12) == 0);
  assert_non_null(strcasestr(line2, "error"));
  assert_non_null(strstr(line2, "no op here"));
  assert_null(strstr(line2, "(null)"));
  assert_true(line2[strlen(line2) - 1] == '\n');
  free(out);
}

static void test_log_stderr_as_handler(void **state) {
  (void)state;
  cx_log_set_handler(cx_log_stderr, CX_LOG_DEBUG, NULL);
  char *out = read_stderr_of(provoke_logging);
  cx_log_set_handler(NULL, CX_LOG_DEBUG, NULL);
  assert_non_null(out);
  assert_true(strncmp(out, "cancelable: ", 12) == 0);
  free(out);
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/misc/version/matches-header", test_version_matches_header),
    CX_TEST("/misc/version/at-least", test_version_at_least),
    CX_TEST("/misc/names/status", test_names_status),
    CX_TEST("/misc/status/predicates", test_status_predicates),
    CX_TEST("/misc/names/reason", test_names_reason),
    CX_TEST("/misc/names/values-stable", test_names_values_stable),
    CX_TEST("/misc/err-name/known", test_err_name_known),
    CX_TEST("/misc/err-name/positive-is-negated",
            test_err_name_positive_is_negated),
    CX_TEST("/misc/err-name/unknown", test_err_name_unknown),
    CX_TEST("/misc/strerror/known", test_strerror_known),
    CX_TEST("/misc/strerror/unknown", test_strerror_unknown),
    CX_TEST("/misc/strerror/threads", test_strerror_threads),
    CX_TEST("/misc/log/silent-by-default", test_log_silent_by_default),
    CX_TEST("/misc/log/handler-receives-failure",
            test_log_handler_receives_failure),
    CX_TEST("/misc/log/handler-receives-op-id",
            test_log_handler_receives_op_id),
    CX_TEST("/misc/log/min-level-filters", test_log_min_level_filters),
    CX_TEST("/misc/log/handler-removed", test_log_handler_removed),
    CX_TEST("/misc/log/stderr-format", test_log_stderr_format),
    CX_TEST("/misc/log/stderr-as-handler", test_log_stderr_as_handler),
};

CX_TEST_MAIN("misc", tests)
