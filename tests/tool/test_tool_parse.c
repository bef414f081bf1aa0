/* tests/tool/test_tool_parse.c - the cancelable tool's parsers, compiled
 * in from tools/cancelable/: GNU timeout durations, signal names, the
 * source expression language (grammar, precedence, quoting, errors naming
 * the offending token, canonical round trip, nesting limit, and a
 * fuzz-style run of random expressions that must never crash), progress
 * lines, the status line, and util/cx_json's escaping.  Issue #7.
 * Issue #13 (defect 2): JSON strings are valid UTF-8 whatever the bytes
 * (each maximal ill-formed subpart becomes U+FFFD), text cut to a fixed
 * size is cut on a character boundary (util/cx_utf8), and a tool report
 * whose progress message is 300 bytes of multi-byte characters parses
 * with jansson, its message cut after a whole character.
 */
#include "cx_test.h"

#include <cancelable.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conditions.h"
#include "cxu_json.h"
#include "cxu_utf8.h"
#include "duration.h"
#include "expr.h"
#include "progress_channel.h"
#include "report.h"
#include "signames.h"
#include "statusline.h"
#include "triggers.h"

/* ---- Durations (as GNU timeout). */

static void test_duration_valid(void **state) {
  static const struct {
    const char *text;
    double seconds;
  } cases[] = {{"0", 0},     {"1", 1},     {"1.5", 1.5}, {".5", 0.5},
               {"2s", 2},    {"1.5m", 90}, {"2h", 7200}, {"0.5d", 43200},
               {"1e2", 100}, {" 3", 3},    {"0x10", 16}, {"0m", 0}};
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    double d = -1;
    CX_ASSERT_OK(duration_parse(cases[i].text, &d));
    assert_true(fabs(d - cases[i].seconds) < 1e-9);
  }
}

static void test_duration_infinite(void **state) {
  double d = 0;
  (void)state;
  CX_ASSERT_OK(duration_parse("inf", &d));
  assert_true(isinf(d));
  CX_ASSERT_OK(duration_parse("99999999999d", &d));
  assert_true(isinf(d));
}

/* A positive duration is never "no timeout": below the timer's step, down
 * to one that underflows a double, it is one step (coreutils 9.7). */
static void test_duration_tiny(void **state) {
  static const char *tiny[] = {"1e-10000", "1e-400m", "0x1p-2000",
                               "1e-320",   "1e-12",   "4e-10s"};
  double d;
  (void)state;
  for (size_t i = 0; i < sizeof tiny / sizeof tiny[0]; i++) {
    d = 0;
    CX_ASSERT_OK(duration_parse(tiny[i], &d));
    assert_true(d == DURATION_MIN_SECONDS);
  }
  /* A zero is still none, however it is written; 2 ns stays 2 ns. */
  CX_ASSERT_OK(duration_parse("0e-10000", &d));
  assert_true(d == 0);
  CX_ASSERT_OK(duration_parse("0.0s", &d));
  assert_true(d == 0);
  CX_ASSERT_OK(duration_parse("2e-9", &d));
  assert_true(d == 2e-9);
  /* A negative one that underflows is still negative. */
  CX_ASSERT_ERR(-EINVAL, duration_parse("-1e-10000", &d));
}

static void test_duration_invalid(void **state) {
  static const char *bad[] = {"",    "abc", "-1",    "1x", "1ss", "1 ",
                              "nan", "s",   "1.5.5", "-0", "1m2"};
  (void)state;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    double d = 42;
    CX_ASSERT_ERR(-EINVAL, duration_parse(bad[i], &d));
    assert_true(d == 42); /* untouched on error */
  }
  CX_ASSERT_ERR(-EINVAL, duration_parse(NULL, NULL));
}

/* ---- Signal names. */

static void test_signames(void **state) {
  char buf[16];
  (void)state;
  assert_int_equal(signame_parse("TERM"), SIGTERM);
  assert_int_equal(signame_parse("sigterm"), SIGTERM);
  assert_int_equal(signame_parse("SIGINT"), SIGINT);
  assert_int_equal(signame_parse("9"), SIGKILL);
  assert_int_equal(signame_parse("0"), 0);
  assert_int_equal(signame_parse("EXIT"), 0);
  assert_int_equal(signame_parse("RTMIN"), SIGRTMIN);
  assert_int_equal(signame_parse("rtmin+2"), SIGRTMIN + 2);
  assert_int_equal(signame_parse("RTMAX-1"), SIGRTMAX - 1);
  CX_ASSERT_ERR(-EINVAL, signame_parse("FOO"));
  CX_ASSERT_ERR(-EINVAL, signame_parse(""));
  CX_ASSERT_ERR(-EINVAL, signame_parse("999"));
  CX_ASSERT_ERR(-EINVAL, signame_parse("RTMIN+999"));
  assert_string_equal(signame_name(SIGTERM, buf, sizeof buf), "TERM");
  assert_string_equal(signame_name(SIGRTMIN + 1, buf, sizeof buf), "RTMIN+1");
  /* GNU's sig2str() names, which timeout --verbose prints. */
  assert_string_equal(signame_name(SIGRTMIN, buf, sizeof buf), "RTMIN");
  assert_string_equal(signame_name(SIGRTMAX, buf, sizeof buf), "RTMAX");
  assert_string_equal(signame_name(SIGRTMAX - 1, buf, sizeof buf), "RTMAX-1");
  assert_string_equal(signame_name(SIGIO, buf, sizeof buf), "POLL");
  assert_string_equal(signame_name(SIGABRT, buf, sizeof buf), "ABRT");
  assert_string_equal(signame_name(SIGCHLD, buf, sizeof buf), "CHLD");
  assert_string_equal(signame_name(0, buf, sizeof buf), "0");
  assert_int_equal(signame_parse(signame_name(SIGRTMAX - 2, buf, sizeof buf)),
                   SIGRTMAX - 2);
}

/* ---- Expressions. */

/* Parses @text and returns its canonical form (static buffer). */
static const char *canon(const char *text) {
  static char out[1024];
  expr_node *n = NULL;
  expr_error err;
  char *s;
  int rc = expr_parse(text, &n, &err);
  if (rc != 0) {
    snprintf(out, sizeof out, "error %d col %zu at '%s': %s", rc, err.column,
             err.token, err.message);
    return out;
  }
  s = expr_format(n);
  assert_non_null(s);
  snprintf(out, sizeof out, "%s", s);
  free(s);
  expr_free(n);
  return out;
}

static void test_expr_leaves(void **state) {
  (void)state;
  assert_string_equal(canon("timeout:1.5m"), "timeout:90");
  assert_string_equal(canon("after:2"), "after:2"); /* as written */
  assert_string_equal(canon("AFTER:1m"), "after:60");
  assert_string_equal(canon("signal"), "signal:INT,TERM");
  assert_string_equal(canon("signal:hup,SIGUSR1,15"), "signal:HUP,USR1,TERM");
  assert_string_equal(canon("file:/tmp/x"), "file:\"/tmp/x\"");
  assert_string_equal(canon("cond:'test -f done'"), "cond:\"test -f done\"");
  assert_string_equal(canon("until:true"), "cond:\"true\"");
  assert_string_equal(canon("memory:90"), "memory:90");
  assert_string_equal(canon("mem:12.5%"), "memory:12.5");
  assert_string_equal(canon("cpu:100"), "cpu:100");
  assert_string_equal(canon("disk:95"), "disk:95");
  assert_string_equal(canon("disk:95,/var"), "disk:95,\"/var\"");
  assert_string_equal(canon("count:1000"), "count:1000");
  assert_string_equal(canon("progress:50%"), "progress:50");
  assert_string_equal(canon("TIMEOUT:3"), "timeout:3");
}

static void test_expr_precedence(void **state) {
  (void)state;
  assert_string_equal(canon("timeout:1 OR timeout:2 AND timeout:3"),
                      "(timeout:1 OR (timeout:2 AND timeout:3))");
  assert_string_equal(canon("timeout:1 and timeout:2 or timeout:3"),
                      "((timeout:1 AND timeout:2) OR timeout:3)");
  assert_string_equal(canon("(timeout:1 || timeout:2) && timeout:3"),
                      "((timeout:1 OR timeout:2) AND timeout:3)");
  assert_string_equal(canon("timeout:1|timeout:2&timeout:3"),
                      "(timeout:1 OR (timeout:2 AND timeout:3))");
  assert_string_equal(canon("((((timeout:1))))"), "timeout:1");
  assert_string_equal(canon("timeout:1 OR timeout:2 OR timeout:3"),
                      "(timeout:1 OR timeout:2 OR timeout:3)");
}

/* The seed: "(timeout OR signal) OR (minimum time AND target
 * count)" in one option, and the brief's example. */
static void test_expr_seed(void **state) {
  (void)state;
  assert_string_equal(
      canon("(timeout:300 OR signal:TERM) OR (after:60 AND count:1000)"),
      "((timeout:300 OR signal:TERM) OR (after:60 AND count:1000))");
  assert_string_equal(
      canon("(timeout:300 OR signal:TERM) OR (timeout:60 AND "
            "cond:'test -f done')"),
      "((timeout:300 OR signal:TERM) OR (timeout:60 AND cond:\"test -f "
      "done\"))");
}

static void test_expr_quoting(void **state) {
  (void)state;
  assert_string_equal(canon("cond:\"echo \\\"a\\\" \\\\ b\""),
                      "cond:\"echo \\\"a\\\" \\\\ b\"");
  assert_string_equal(canon("file:/tmp/a\\ b"), "file:\"/tmp/a b\"");
  assert_string_equal(canon("file:'/tmp/(x) AND y'"),
                      "file:\"/tmp/(x) AND y\"");
  assert_string_equal(canon("cond:'a'\"b\"c"), "cond:\"abc\"");
  /* A quoted keyword is a word, not an operator (so: an unknown kind). */
  assert_non_null(strstr(canon("timeout:1 'OR' timeout:2"), "expected AND"));
}

static void test_expr_round_trip_quotes(void **state) {
  const char *texts[] = {"cond:'it''s'", "file:\"a\\\\b\\\"c\"", "cond:'x:y:z'",
                         "disk:1,'/a,b'"};
  (void)state;
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    char first[1024];
    snprintf(first, sizeof first, "%s", canon(texts[i]));
    assert_null(strstr(first, "error"));
    assert_string_equal(canon(first), first);
  }
}

static void expect_error(const char *text, size_t column, const char *token,
                         const char *message_part) {
  expr_node *n = (expr_node *)1;
  expr_error err;
  int rc = expr_parse(text, &n, &err);
  if (rc != -EINVAL || err.column != column || strcmp(err.token, token) != 0 ||
      strstr(err.message, message_part) == NULL)
    fail_msg("'%s': rc %d column %zu token '%s' message '%s'", text, rc,
             err.column, err.token, err.message);
  assert_null(n);
}

static void test_expr_errors(void **state) {
  (void)state;
  expect_error("", 1, "end of expression", "empty");
  expect_error("   ", 4, "end of expression", "empty");
  expect_error("timeout:1 AND AND x", 15, "AND", "expected a source");
  expect_error("tmeout:5", 1, "tmeout:5", "unknown source kind 'tmeout'");
  expect_error("(timeout:1 OR timeout:2", 24, "end of expression",
               "expected ')'");
  expect_error("timeout:1)", 10, ")", "without a matching");
  expect_error("timeout:1 timeout:2", 11, "timeout:2", "expected AND, OR");
  expect_error("timeout:abc", 1, "timeout:abc", "invalid duration 'abc'");
  expect_error("timeout:0", 1, "timeout:0", "> 0");
  expect_error("timeout", 1, "timeout", "needs an argument");
  expect_error("signal:FOO", 1, "signal:FOO", "unknown signal 'FOO'");
  expect_error("signal:KILL", 1, "signal:KILL", "cannot be caught");
  expect_error("signal:INT,,TERM", 1, "signal:INT,,TERM", "bad signal list");
  expect_error("memory:0", 1, "memory:0", "invalid percentage");
  expect_error("cpu:101", 1, "cpu:101", "invalid percentage");
  expect_error("count:0", 1, "count:0", "invalid count");
  expect_error("count:1.5", 1, "count:1.5", "invalid count");
  expect_error("file:", 1, "file:", "needs a path");
  expect_error("cond:''", 1, "cond:''", "needs a shell command");
  expect_error("disk:50,", 1, "disk:50,", "a path after");
  expect_error("timeout:1 OR cond:'unterminated", 19, "'",
               "unterminated quote");
  expect_error("file:x\\", 7, "\\", "backslash");
  expect_error("()", 2, ")", "expected a source");
  expect_error("timeout:1 OR", 13, "end of expression", "expected a source");
  expect_error(":5", 1, ":5", "unknown source kind");
}

static void test_expr_nesting_limit(void **state) {
  char text[EXPR_MAX_DEPTH * 2 + 32];
  expr_node *n = NULL;
  expr_error err;
  size_t k = 0;
  (void)state;
  for (int i = 0; i < EXPR_MAX_DEPTH; i++) text[k++] = '(';
  k += (size_t)sprintf(text + k, "timeout:1");
  for (int i = 0; i < EXPR_MAX_DEPTH; i++) text[k++] = ')';
  text[k] = '\0';
  CX_ASSERT_OK(expr_parse(text, &n, &err));
  expr_free(n);
  /* One more level is refused, and a huge one does not blow the stack. */
  memmove(text + 1, text, k + 1);
  text[0] = '(';
  strcat(text, ")");
  CX_ASSERT_ERR(-EINVAL, expr_parse(text, &n, &err));
  assert_non_null(strstr(err.message, "nested deeper"));
  {
    size_t big = 100000;
    char *deep = malloc(big + 1);
    assert_non_null(deep);
    memset(deep, '(', big);
    deep[big] = '\0';
    CX_ASSERT_ERR(-EINVAL, expr_parse(deep, &n, &err));
    free(deep);
  }
}

/* Issue #13 (found by fuzz/fuzz_expr.c): the canonical form parenthesises
 * every group, so a tree whose groups nest deeper than the parentheses of
 * its text (a top-level group, an AND inside an OR) gave a canonical form
 * that the parser refused.  Such trees are refused up front now; up to
 * EXPR_MAX_DEPTH groups, the canonical form parses back to itself. */
static void test_expr_canonical_depth(void **state) {
  char *text = malloc(64 * 40);
  char first[4096];
  (void)state;
  assert_non_null(text);
  /* Nested ORs with parentheses around all but the top-level group. */
  for (int groups = EXPR_MAX_DEPTH; groups <= EXPR_MAX_DEPTH + 1; groups++) {
    size_t k = (size_t)sprintf(text, "timeout:1 OR ");
    for (int i = 1; i < groups; i++)
      k += (size_t)sprintf(text + k, "(timeout:1 OR ");
    k += (size_t)sprintf(text + k, "timeout:1");
    for (int i = 1; i < groups; i++) text[k++] = ')';
    text[k] = '\0';
    snprintf(first, sizeof first, "%s", canon(text));
    if (groups <= EXPR_MAX_DEPTH)
      assert_string_equal(canon(first), first);
    else
      assert_non_null(strstr(first, "groups nested deeper than 32"));
  }
  /* An AND inside an OR at each level of parentheses: two groups each. */
  for (int levels = EXPR_MAX_DEPTH / 2; levels <= EXPR_MAX_DEPTH / 2 + 1;
       levels++) {
    size_t k = 0;
    for (int i = 0; i < levels; i++)
      k += (size_t)sprintf(text + k, "%stimeout:1 OR timeout:1 AND ",
                           i > 0 ? "(" : "");
    k += (size_t)sprintf(text + k, "timeout:1");
    for (int i = 1; i < levels; i++) text[k++] = ')';
    text[k] = '\0';
    snprintf(first, sizeof first, "%s", canon(text));
    if (levels <= EXPR_MAX_DEPTH / 2)
      assert_string_equal(canon(first), first);
    else
      assert_non_null(strstr(first, "groups nested deeper than 32"));
  }
  free(text);
}

/* Builds the library sources for @text and frees them: wide groups go
 * through nested composites (the library takes 64 at most).  A disk limit
 * on a path that does not exist (random concatenations make some) is
 * refused with -ENOENT, and nothing is left behind. */
static void build_and_free(const char *text) {
  expr_node *n;
  expr_error err;
  source_set *set = source_set_new(1.0, 0.0);
  cx_source *src = NULL;
  char msg[200];
  int rc;
  assert_non_null(set);
  CX_ASSERT_OK(expr_parse(text, &n, &err));
  rc = source_set_build(set, n, &src, msg, sizeof msg);
  if (rc == -ENOENT && strstr(text, "disk:") != NULL) {
    assert_null(src);
  } else {
    CX_ASSERT_OK(rc);
    assert_non_null(src);
  }
  cx_source_free(src);
  expr_free(n);
  source_set_free(set);
}

static void test_expr_build_wide(void **state) {
  char *text = malloc(200 * 16);
  size_t k = 0;
  (void)state;
  assert_non_null(text);
  for (int i = 0; i < 200; i++)
    k += (size_t)sprintf(text + k, "%stimeout:%d", i ? " OR " : "", i + 1);
  build_and_free(text);
  for (size_t i = 0; i + 1 < k; i++)
    if (memcmp(text + i, "OR", 2) == 0) memcpy(text + i, "&&", 2);
  build_and_free(text);
  free(text);
}

/* A tiny deterministic PRNG (xorshift64*), seedable from CX_FUZZ_SEED. */
static uint64_t rng_state;

static uint64_t rng(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * UINT64_C(2685821657736338717);
}

/* A random expression made of plausible tokens and random bytes. */
static void random_expression(char *buf, size_t size) {
  static const char *pieces[] = {"(",
                                 ")",
                                 " AND ",
                                 " OR ",
                                 "&&",
                                 "||",
                                 "&",
                                 "|",
                                 "timeout:1",
                                 "after:0.5m",
                                 "signal",
                                 "signal:TERM",
                                 "signal:HUP,USR2",
                                 "file:/tmp/x",
                                 "cond:'true'",
                                 "until:\"a b\"",
                                 "memory:90",
                                 "cpu:50%",
                                 "disk:99,/",
                                 "count:3",
                                 "progress:100",
                                 "timeout:",
                                 "tmeout:1",
                                 "'",
                                 "\"",
                                 "\\",
                                 " ",
                                 "and",
                                 "or",
                                 ":",
                                 ",",
                                 "signal:KILL",
                                 "count:0",
                                 "x",
                                 "timeout:1e400",
                                 "cond:'(a)'",
                                 "disk:50,",
                                 "\t",
                                 "%"};
  size_t k = 0, n = 1 + rng() % 24;
  for (size_t i = 0; i < n; i++) {
    const char *p;
    char raw[2];
    if (rng() % 8 == 0) {
      raw[0] = (char)(1 + rng() % 255);
      raw[1] = '\0';
      p = raw;
    } else {
      p = pieces[rng() % (sizeof pieces / sizeof pieces[0])];
    }
    if (k + strlen(p) + 1 >= size) break;
    memcpy(buf + k, p, strlen(p));
    k += strlen(p);
  }
  buf[k] = '\0';
}

static void test_expr_fuzz(void **state) {
  const char *seed = getenv("CX_FUZZ_SEED");
  int iterations = 20000, parsed = 0;
  (void)state;
  rng_state = seed != NULL ? strtoull(seed, NULL, 10) : 0x9e3779b97f4a7c15u;
  if (rng_state == 0) rng_state = 1;
  for (int i = 0; i < iterations; i++) {
    char text[512], first[1024];
    expr_node *n = NULL;
    expr_error err;
    int rc;
    random_expression(text, sizeof text);
    rc = expr_parse(text, &n, &err);
    if (rc != 0) {
      /* Every error names a column inside the text (or just past it). */
      assert_int_equal(rc, -EINVAL);
      assert_null(n);
      assert_true(err.column >= 1 && err.column <= strlen(text) + 1);
      assert_true(err.message[0] != '\0');
      continue;
    }
    parsed++;
    {
      char *s = expr_format(n);
      assert_non_null(s);
      snprintf(first, sizeof first, "%s", s);
      free(s);
    }
    expr_free(n);
    /* The canonical form parses back to itself. */
    assert_string_equal(canon(first), first);
    if (i % 16 == 0) build_and_free(first);
  }
  /* The generator is meant to produce some valid expressions. */
  assert_true(parsed > iterations / 100);
}

/* ---- Progress lines. */

static void check_line(const char *line, double percent, int64_t current,
                       int64_t total, const char *message) {
  cx_meta *m = cx_meta_new();
  const char *msg = NULL;
  double d;
  int64_t v;
  assert_true(progress_parse_line(line, m, &msg));
  if (isnan(percent))
    assert_int_equal(cx_meta_type_of(m, "progress"), CX_META_NONE);
  else
    assert_true(cx_meta_get_double(m, "progress", &d) == 0 && d == percent);
  if (current < 0)
    assert_int_equal(cx_meta_type_of(m, "current"), CX_META_NONE);
  else
    assert_true(cx_meta_get_int(m, "current", &v) == 0 && v == current);
  if (total < 0)
    assert_int_equal(cx_meta_type_of(m, "total"), CX_META_NONE);
  else
    assert_true(cx_meta_get_int(m, "total", &v) == 0 && v == total);
  assert_string_equal(msg, message);
  cx_meta_free(m);
}

static void test_progress_lines(void **state) {
  cx_meta *m = cx_meta_new();
  const char *msg;
  (void)state;
  check_line("42%", 42, -1, -1, "");
  check_line("42.5% hashing /usr", 42.5, -1, -1, "hashing /usr");
  check_line("120/1000 files", NAN, 120, 1000, "files");
  check_line("120 lines read", NAN, 120, -1, "lines read");
  check_line("50% 5/10 halfway", 50, 5, 10, "halfway");
  check_line("phase two", NAN, -1, -1, "phase two");
  check_line("  7/7", NAN, 7, 7, "");
  check_line("%", NAN, -1, -1, "%");
  check_line("1/x done", NAN, -1, -1, "1/x done");
  assert_false(progress_parse_line("", m, &msg));
  assert_false(progress_parse_line("   ", m, &msg));
  cx_meta_free(m);
}

/* ---- Status line. */

static void test_statusline_format(void **state) {
  cx_op *op;
  progress_state st;
  char buf[256];
  (void)state;
  CX_ASSERT_OK(cx_op_with_timeout(&op, NULL, 100, "t"));
  CX_ASSERT_OK(cx_op_enter(op));
  progress_state_init(&st, NULL);
  st.percent = 50;
  st.current = 5;
  st.total = 10;
  snprintf(st.message, sizeof st.message, "half\033[31m");
  statusline_format(buf, sizeof buf, 200, op, &st);
  assert_non_null(strstr(buf, "left]"));
  assert_non_null(strstr(buf, "[##########..........]"));
  assert_non_null(strstr(buf, " 50.0%"));
  assert_non_null(strstr(buf, "5/10"));
  assert_non_null(strstr(buf, "half?[31m")); /* ESC made harmless */
  assert_null(strstr(buf, "ETA"));
  st.eta = 75;
  statusline_format(buf, sizeof buf, 200, op, &st);
  assert_non_null(strstr(buf, " | ETA 1m15s]"));
  statusline_format(buf, sizeof buf, 10, op, &st);
  assert_int_equal(strlen(buf), 10);
  /* Without percent or total: one blank between the parts. */
  progress_state_init(&st, NULL);
  st.current = 7;
  snprintf(st.message, sizeof st.message, "items");
  statusline_format(buf, sizeof buf, 200, op, &st);
  assert_non_null(strstr(buf, "left] 7 items"));
  assert_null(strstr(buf, "  "));
  /* Nothing reported: no trailing blank. */
  progress_state_init(&st, NULL);
  statusline_format(buf, sizeof buf, 200, op, &st);
  assert_int_equal(buf[strlen(buf) - 1], ']');
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
}

/* ---- util/cx_json. */

static void test_json_escaping(void **state) {
  cxu_json j;
  char all[40];
  (void)state;
  for (int i = 0; i < 31; i++) all[i] = (char)(i + 1); /* 0x01..0x1f */
  all[31] = 0x7f;
  memcpy(all + 32, "\"\\/\xc3\xa9", 5); /* " \ / e-acute */
  cxu_json_init(&j);
  cxu_json_object_begin(&j);
  cxu_json_key(&j, "k\n");
  cxu_json_string_n(&j, all, 37);
  cxu_json_key(&j, "nul");
  cxu_json_string_n(&j, "a\0b", 3);
  cxu_json_key(&j, "n");
  cxu_json_array_begin(&j);
  cxu_json_int(&j, -5);
  cxu_json_double(&j, 0.25);
  cxu_json_double(&j, NAN);
  cxu_json_bool(&j, true);
  cxu_json_null(&j);
  cxu_json_string(&j, NULL);
  cxu_json_array_end(&j);
  cxu_json_object_end(&j);
  CX_ASSERT_OK(cxu_json_error(&j));
  assert_string_equal(
      j.buf,
      "{\"k\\n\":\"\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t"
      "\\n\\u000b\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014"
      "\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d"
      "\\u001e\\u001f\\u007f\\\"\\\\/\xc3\xa9\",\"nul\":\"a\\u0000b\","
      "\"n\":[-5,0.25,null,true,null,null]}");
  assert_int_equal(j.len, strlen(j.buf));
  cxu_json_free(&j);
}

static void test_json_misuse(void **state) {
  cxu_json j;
  (void)state;
  cxu_json_init(&j);
  cxu_json_object_begin(&j);
  cxu_json_int(&j, 1); /* a value without a key */
  CX_ASSERT_ERR(-EINVAL, cxu_json_error(&j));
  cxu_json_free(&j);
  cxu_json_init(&j);
  cxu_json_array_begin(&j);
  cxu_json_object_end(&j); /* mismatched */
  CX_ASSERT_ERR(-EINVAL, cxu_json_error(&j));
  cxu_json_free(&j);
  cxu_json_init(&j);
  for (int i = 0; i < CXU_JSON_MAX_DEPTH + 1; i++) cxu_json_array_begin(&j);
  CX_ASSERT_ERR(-EINVAL, cxu_json_error(&j));
  cxu_json_free(&j);
  /* A second top-level value would make "[]1" or "1 2": not JSON (issue
   * #13, found by fuzz/fuzz_json.c). */
  cxu_json_init(&j);
  cxu_json_array_begin(&j);
  cxu_json_array_end(&j);
  CX_ASSERT_OK(cxu_json_error(&j));
  cxu_json_int(&j, 1);
  CX_ASSERT_ERR(-EINVAL, cxu_json_error(&j));
  assert_string_equal(j.buf, "[]");
  cxu_json_free(&j);
  cxu_json_init(&j);
  cxu_json_null(&j);
  cxu_json_object_begin(&j);
  CX_ASSERT_ERR(-EINVAL, cxu_json_error(&j));
  assert_string_equal(j.buf, "null");
  cxu_json_free(&j);
}

static void test_json_grows(void **state) {
  cxu_json j;
  (void)state;
  cxu_json_init(&j);
  cxu_json_array_begin(&j);
  for (int i = 0; i < 10000; i++) cxu_json_string(&j, "0123456789");
  cxu_json_array_end(&j);
  CX_ASSERT_OK(cxu_json_error(&j));
  assert_int_equal(j.len, 2 + 10000 * 13 - 1);
  cxu_json_free(&j);
}

/* The JSON text of one string value written by cxu_json_string_n(). */
static char *json_of(const char *s, size_t n) {
  cxu_json j;
  char *text;
  cxu_json_init(&j);
  cxu_json_string_n(&j, s, n);
  CX_ASSERT_OK(cxu_json_error(&j));
  text = strdup(j.buf);
  assert_non_null(text);
  cxu_json_free(&j);
  return text;
}

#define FFFD CX__UTF8_REPLACEMENT

static void test_json_utf8_valid(void **state) {
  /* One to four bytes, and the edges of each range: U+0080, U+07FF,
   * U+0800, U+D7FF (below the surrogates), U+E000 (above them), U+FFFD,
   * U+FFFF, U+10000, U+10FFFF. */
  static const char *valid[] = {
      "\xc2\x80",
      "\xdf\xbf",
      "\xe0\xa0\x80",
      "\xed\x9f\xbf",
      "\xee\x80\x80",
      "\xef\xbf\xbd",
      "\xef\xbf\xbf",
      "\xf0\x90\x80\x80",
      "\xf4\x8f\xbf\xbf",
      "caf\xc3\xa9 \xe6\xbc\xa2\xe5\xad\x97 \xf0\x9f\x98\x80"};
  (void)state;
  for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
    char want[64], *got = json_of(valid[i], strlen(valid[i]));
    snprintf(want, sizeof want, "\"%s\"", valid[i]);
    assert_string_equal(got, want);
    free(got);
  }
}

static void test_json_utf8_invalid(void **state) {
  /* Each maximal subpart of an ill-formed sequence becomes one U+FFFD
   * (Unicode 15, section 3.9, tables 3-8 to 3-11). */
  static const struct {
    const char *in, *out;
  } cases[] = {
      /* stray continuation bytes */
      {"\x80", FFFD},
      {"a\xbf\xbf", "a" FFFD FFFD},
      /* bytes that never start a character: C0, C1, F5..FF */
      {"\xc0\xaf", FFFD FFFD},
      {"\xc1\xbf", FFFD FFFD},
      {"\xf5\x80\x80\x80", FFFD FFFD FFFD FFFD},
      {"\xfe\xff", FFFD FFFD},
      /* overlong forms of three and four bytes */
      {"\xe0\x80\xaf", FFFD FFFD FFFD},
      {"\xe0\x9f\xbf", FFFD FFFD FFFD},
      {"\xf0\x80\x80\xaf", FFFD FFFD FFFD FFFD},
      {"\xf0\x8f\xbf\xbf", FFFD FFFD FFFD FFFD},
      /* surrogates U+D800 and U+DFFF, and a CESU-8 pair */
      {"\xed\xa0\x80", FFFD FFFD FFFD},
      {"\xed\xbf\xbf", FFFD FFFD FFFD},
      {"\xed\xa0\xbd\xed\xb8\x80", FFFD FFFD FFFD FFFD FFFD FFFD},
      /* above U+10FFFF */
      {"\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD},
      /* truncated: at the end, before ASCII, before another character */
      {"\xc3", FFFD},
      {"\xe2\x82", FFFD},
      {"\xf0\x9f\x98", FFFD},
      {"\xe2\x82x", FFFD "x"},
      {"\xf0\x9f\x98\xc3\xa9", FFFD "\xc3\xa9"},
      {"\xe2\"", FFFD "\\\""},
      /* Unicode's example: 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64 */
      {"\x61\xf1\x80\x80\xe1\x80\xc2\x62\x80\x63\x80\xbf\x64",
       "a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d"},
  };
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char want[64], *got = json_of(cases[i].in, strlen(cases[i].in));
    snprintf(want, sizeof want, "\"%s\"", cases[i].out);
    if (strcmp(got, want) != 0) fail_msg("case %zu: got %s", i, got);
    free(got);
  }
}

/* Keys go through the same writer; jansson (strict: it refuses invalid
 * UTF-8) reads the whole object back. */
static void test_json_utf8_key_parses(void **state) {
  cxu_json j;
  json_error_t err;
  json_t *root;
  (void)state;
  cxu_json_init(&j);
  cxu_json_object_begin(&j);
  cxu_json_key(&j, "k\xff\xed\xa0\x80");
  cxu_json_string(&j, "v\xc3");
  cxu_json_object_end(&j);
  CX_ASSERT_OK(cxu_json_error(&j));
  root = json_loads(j.buf, 0, &err);
  if (root == NULL) fail_msg("%s: %s", j.buf, err.text);
  assert_string_equal(
      json_string_value(json_object_get(root, "k" FFFD FFFD FFFD FFFD)),
      "v" FFFD);
  json_decref(root);
  cxu_json_free(&j);
}

/* ---- util/cx_utf8: cutting on character boundaries. */

static void test_utf8_cut(void **state) {
  static const struct {
    const char *s;
    size_t n, want;
  } cases[] = {
      {"abc", 3, 3},
      {"abc", 0, 0},
      {"a\xc3\xa9", 3, 3},         /* whole */
      {"a\xc3\xa9", 2, 1},         /* half of e-acute */
      {"\xe2\x82\xac", 2, 0},      /* two thirds of the euro sign */
      {"\xe2\x82\xac", 1, 0},      /* a third */
      {"x\xf0\x9f\x98\x80", 4, 1}, /* three quarters of an emoji */
      {"x\xf0\x9f\x98\x80", 5, 5}, /* whole */
      {"\xff\xfe", 2, 2},          /* ill-formed: left for the writer */
      {"a\xe0\x80", 3, 3},         /* ill-formed, not a cut character */
      {"a\x80\x80\x80\x80", 5, 5}, /* stray continuation bytes */
      {"\xed\xa0", 2, 2},          /* the start of a surrogate */
  };
  char buf[8];
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    if (cxu_utf8_cut(cases[i].s, cases[i].n) != cases[i].want)
      fail_msg("case %zu: %zu, want %zu", i,
               cxu_utf8_cut(cases[i].s, cases[i].n), cases[i].want);
  /* 7 bytes fit in buf: "ab" and one euro sign (5), not half of the
   * second. */
  assert_int_equal(
      cxu_utf8_snprintf(buf, sizeof buf, "ab%s", "\xe2\x82\xac\xe2\x82\xac"),
      5);
  assert_string_equal(buf, "ab\xe2\x82\xac");
  assert_int_equal(cxu_utf8_snprintf(buf, sizeof buf, "%d", 42), 2);
  assert_string_equal(buf, "42");
}

/* ---- Progress messages in the report (issue #13, defect 2). */

/* @count copies of @ch. */
static char *repeat(const char *ch, size_t count) {
  size_t n = strlen(ch);
  char *s = malloc(n * count + 1);
  assert_non_null(s);
  for (size_t i = 0; i < count; i++) memcpy(s + i * n, ch, n);
  s[n * count] = '\0';
  return s;
}

/* A progress message of 300 bytes of four-byte characters: the status
 * line's copy keeps 255 bytes of it, which is 63 characters and 3 bytes of
 * the 64th, so it holds the 63 whole characters; the report (the library's
 * cx_op_progress_to_json(), issue 15) holds the whole message and parses. */
static void test_report_progress_message_cut(void **state) {
  char *msg = repeat("\xf0\x9f\x98\x80", 75),
       *want = repeat("\xf0\x9f\x98\x80", 63);
  char *argv[] = {(char *)"cmd\xff", NULL};
  supervise_result res;
  progress_state st;
  report_input in;
  json_error_t err;
  json_t *root;
  char *text;
  cx_op *op;
  (void)state;
  assert_int_equal(strlen(msg), 300);
  CX_ASSERT_OK(cx_op_create(&op, NULL));
  progress_state_init(&st, NULL);
  CX_ASSERT_OK(progress_attach(op, &st));
  CX_ASSERT_OK(cx_op_enter(op));
  CX_ASSERT_OK(cx_report_progress(op, msg, NULL));
  assert_string_equal(st.message, want);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  memset(&res, 0, sizeof res);
  memset(&in, 0, sizeof in);
  in.op = op;
  in.argv = argv;
  in.result = &res;
  text = report_json(&in);
  assert_non_null(text);
  root = json_loads(text, 0, &err);
  if (root == NULL) fail_msg("report does not parse: %s", err.text);
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(root, "progress"), "message")),
                      msg);
  assert_string_equal(
      json_string_value(json_array_get(json_object_get(root, "command"), 0)),
      "cmd" FFFD);
  json_decref(root);
  free(text);
  cx_op_unref(op);
  free(msg);
  free(want);
}

/* Whether @s ends after a whole character (cxu_utf8_cut() keeps it all). */
static bool ends_on_character(const char *s) {
  return cxu_utf8_cut(s, strlen(s)) == strlen(s);
}

/* Issue #13 (defect 2): the other places that cut text to a fixed size cut
 * on a character boundary: expression errors (64-byte token, 160-byte
 * message), the names of file and command conditions (300 bytes) and the
 * status line (the terminal's width). */
static void test_utf8_cut_everywhere(void **state) {
  char *e_acutes = repeat("\xc3\xa9", 100),
       *emojis = repeat("\xf0\x9f\x98\x80", 100);
  char text[512], want[512];
  expr_node *n = NULL;
  expr_error err;
  cx_source *src = NULL;
  cx_op *op;
  progress_state st;
  char buf[256];
  (void)state;
  snprintf(text, sizeof text, "timeout:%s", e_acutes);
  CX_ASSERT_ERR(-EINVAL, expr_parse(text, &n, &err));
  snprintf(want, sizeof want, "timeout:%.*s", 27 * 2, e_acutes);
  assert_string_equal(err.token, want);
  snprintf(want, sizeof want, "invalid duration '%.*s", 70 * 2, e_acutes);
  assert_string_equal(err.message, want);

  CX_ASSERT_OK(cond_source_file(emojis, 1.0, &src));
  snprintf(want, sizeof want, "file %.*s", 73 * 4, emojis);
  assert_string_equal(cx_source_name(src), want);
  cx_source_free(src);
  CX_ASSERT_OK(cond_source_command(emojis, 1.0, NULL, &src));
  snprintf(want, sizeof want, "until %.*s", 73 * 4, emojis);
  assert_string_equal(cx_source_name(src), want);
  cx_source_free(src);

  CX_ASSERT_OK(cx_op_with_timeout(&op, NULL, 100, "t"));
  CX_ASSERT_OK(cx_op_enter(op));
  progress_state_init(&st, NULL);
  snprintf(st.message, sizeof st.message, "%s", e_acutes);
  for (int width = 20; width < 80; width++) {
    statusline_format(buf, sizeof buf, width, op, &st);
    assert_true(strlen(buf) >= (size_t)width - 1);
    if (!ends_on_character(buf)) fail_msg("width %d: cut inside", width);
  }
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
  free(e_acutes);
  free(emojis);
}

/* A progress callback that keeps the last message in @user_data
 * (PROGRESS_LINE_MAX + 1 bytes). */
static int on_progress_record(const char *op_id, const char *message,
                              const cx_meta *metadata, void *user_data) {
  (void)op_id;
  (void)metadata;
  snprintf(user_data, PROGRESS_LINE_MAX + 1, "%s", message);
  return 0;
}

/* A line longer than PROGRESS_LINE_MAX (4096) is reported cut to its
 * first PROGRESS_LINE_MAX bytes: with three-byte characters, that is 1365
 * characters (4095 bytes), not 4096 bytes ending in a third of one. */
static void test_progress_overlong_line_cut(void **state) {
  char *line = repeat("\xe2\x82\xac", 2000);
  char *got = calloc(1, PROGRESS_LINE_MAX + 1);
  progress_reader r;
  int fds[2];
  cx_op *op;
  (void)state;
  assert_non_null(got);
  CX_ASSERT_OK(cx_op_create(&op, NULL));
  CX_ASSERT_OK(cx_op_on_progress(op, on_progress_record, got, NULL));
  CX_ASSERT_OK(cx_op_enter(op));
  assert_int_equal(pipe(fds), 0);
  assert_int_equal(write(fds[1], line, 6000), 6000);
  assert_int_equal(write(fds[1], "\n", 1), 1);
  close(fds[1]);
  progress_reader_init(&r, fds[0], op);
  assert_int_equal(progress_reader_read(&r), 1);
  progress_reader_finish(&r);
  assert_int_equal(strlen(got), 4095);
  assert_int_equal(memcmp(got, line, 4095), 0);
  close(fds[0]);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
  free(line);
  free(got);
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/tool/duration/valid", test_duration_valid),
    CX_TEST("/tool/duration/infinite", test_duration_infinite),
    CX_TEST("/tool/duration/invalid", test_duration_invalid),
    CX_TEST("/tool/duration/tiny", test_duration_tiny),
    CX_TEST("/tool/signames", test_signames),
    CX_TEST("/tool/expr/leaves", test_expr_leaves),
    CX_TEST("/tool/expr/precedence", test_expr_precedence),
    CX_TEST("/tool/expr/seed", test_expr_seed),
    CX_TEST("/tool/expr/quoting", test_expr_quoting),
    CX_TEST("/tool/expr/round-trip-quotes", test_expr_round_trip_quotes),
    CX_TEST("/tool/expr/errors", test_expr_errors),
    CX_TEST("/tool/expr/nesting-limit", test_expr_nesting_limit),
    CX_TEST("/tool/expr/canonical-depth", test_expr_canonical_depth),
    CX_TEST("/tool/expr/build-wide", test_expr_build_wide),
    CX_TEST("/tool/expr/fuzz", test_expr_fuzz),
    CX_TEST("/tool/progress/lines", test_progress_lines),
    CX_TEST("/tool/statusline/format", test_statusline_format),
    CX_TEST("/tool/json/escaping", test_json_escaping),
    CX_TEST("/tool/json/misuse", test_json_misuse),
    CX_TEST("/tool/json/grows", test_json_grows),
    CX_TEST("/tool/json/utf8-valid", test_json_utf8_valid),
    CX_TEST("/tool/json/utf8-invalid", test_json_utf8_invalid),
    CX_TEST("/tool/json/utf8-key-parses", test_json_utf8_key_parses),
    CX_TEST("/tool/utf8/cut", test_utf8_cut),
    CX_TEST("/tool/json/report-progress-message-cut",
            test_report_progress_message_cut),
    CX_TEST("/tool/progress/overlong-line-cut",
            test_progress_overlong_line_cut),
    CX_TEST("/tool/utf8/cut-everywhere", test_utf8_cut_everywhere),
};

CX_TEST_MAIN("tool", tests)
