/* adapters/nats/tests/test_aggregate.c - the HTTP dashboard's aggregate
 * mode fed by NATS (`cancelable ps --nats=URL --serve-cancel`): a real
 * nats-server (127.0.0.1, a free port, JetStream in a temporary folder,
 * stopped by its pid), two worker processes (nats_peer) with a live op
 * each, the tool serving, and libcurl as the client.  Skips when
 * nats-server is not installed. */
#include "cx_test.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include <cancelable.h>

#include "nats_testlib.h"

#ifndef CX_NATS_PEER
#error "CX_NATS_PEER: the path of nats_peer"
#endif
#ifndef CX_TOOL
#error "CX_TOOL: the path of the cancelable tool"
#endif

typedef struct body {
  char *text;
  size_t len;
} body;

static size_t collect(char *data, size_t size, size_t n, void *user) {
  body *b = user;
  char *p = realloc(b->text, b->len + size * n + 1);
  if (p == NULL) return 0;
  memcpy(p + b->len, data, size * n);
  b->len += size * n;
  p[b->len] = '\0';
  b->text = p;
  return size * n;
}

/* @method @url (with the bearer @token unless NULL); the status, and the
 * body in *@text (free()). */
static long request(const char *method, const char *url, const char *token,
                    char **text) {
  CURL *c = curl_easy_init();
  struct curl_slist *headers = NULL;
  char line[512];
  body b = {NULL, 0};
  long code = 0;
  assert_non_null(c);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  if (strcmp(method, "POST") == 0) curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
  if (token != NULL) {
    snprintf(line, sizeof line, "Authorization: Bearer %s", token);
    headers = curl_slist_append(headers, line);
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  assert_int_equal(curl_easy_perform(c), CURLE_OK);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  *text = b.text != NULL ? b.text : strdup("");
  return code;
}

/* Copies @n bytes of @src (at most @size - 1) into @dst, NUL-ended. */
static void copy(char *dst, size_t size, const char *src, size_t n) {
  if (n > size - 1) n = size - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

/* Starts `nats_peer op URL NODE NAME 0 0.1`; its op's id into @id. */
static void start_worker(peer *p, const char *url, const char *node,
                         const char *name, char *id, size_t size) {
  char *argv[] = {CX_NATS_PEER, "op", (char *)url, (char *)node,
                  (char *)name, "0",  "0.1",       NULL};
  char line[256];
  peer_start(p, argv);
  assert_true(peer_line(p, line, sizeof line, cx_test_patience(30)));
  assert_true(strncmp(line, "ready ", 6) == 0);
  copy(id, size, line + 6, strlen(line + 6));
}

/* The worker's "cancelled manual ..." line, then its exit. */
static void expect_cancelled(peer *p) {
  char line[512];
  assert_true(peer_line(p, line, sizeof line, cx_test_patience(20)));
  if (strncmp(line, "cancelled manual ", 17) != 0)
    fail_msg("worker said: %s", line);
  if (strstr(line, "from the dashboard") == NULL)
    fail_msg("worker said: %s (no dashboard message)", line);
  assert_int_equal(peer_finish(p, 20), 0);
}

/* Reads the tool's "... dashboard at http://HOST:PORT/#token=TOKEN" line:
 * the base URL (without the '/') into @base, the token into @token. */
static void read_dashboard_url(peer *tool, char *base, size_t bsize,
                               char *token, size_t tsize) {
  char line[512];
  assert_true(peer_line(tool, line, sizeof line, cx_test_patience(30)));
  const char *http = strstr(line, "http://");
  const char *hash = strstr(line, "/#token=");
  if (http == NULL || hash == NULL) fail_msg("tool said: %s", line);
  copy(base, bsize, http, (size_t)(hash - http));
  copy(token, tsize, hash + 8, strlen(hash + 8));
}

/* Polls GET /api/ops until it holds both ops with their nodes. */
static void wait_both_listed(const char *base, const char *id1,
                             const char *id2) {
  char url[256], want[4][192];
  snprintf(url, sizeof url, "%s/api/ops", base);
  snprintf(want[0], sizeof want[0], "\"id\":\"%s\"", id1);
  snprintf(want[1], sizeof want[1], "\"id\":\"%s\"", id2);
  snprintf(want[2], sizeof want[2], "\"node\":\"agg-w1\"");
  snprintf(want[3], sizeof want[3], "\"node\":\"agg-w2\"");
  double stop = cx_now() + cx_test_patience(30);
  char *text = NULL;
  while (cx_now() < stop) {
    free(text);
    assert_int_equal(request("GET", url, NULL, &text), 200);
    assert_true(strncmp(text, "{\"aggregate\":true,", 18) == 0);
    bool all = true;
    for (int i = 0; i < 4; i++) all = all && strstr(text, want[i]) != NULL;
    if (all) {
      free(text);
      return;
    }
    cx_test_sleep(0.2);
  }
  fail_msg("/api/ops never listed both ops: %s", text);
}

/* The page and its script have the node column. */
static void check_page(const char *base) {
  char url[256], *text;
  snprintf(url, sizeof url, "%s/", base);
  assert_int_equal(request("GET", url, NULL, &text), 200);
  assert_non_null(strstr(text, "<th class=\"node\" hidden>node</th>"));
  free(text);
  snprintf(url, sizeof url, "%s/dashboard.js", base);
  assert_int_equal(request("GET", url, NULL, &text), 200);
  assert_non_null(strstr(text, "all.aggregate === true"));
  assert_non_null(strstr(text, "cell(tr, o.node, \"node\")"));
  free(text);
}

static void test_aggregate_dashboard(void **state) {
  (void)state;
  if (nsrv_program() == NULL) skip();
  nsrv s;
  nsrv_init(&s);
  nsrv_start(&s);
  peer w1, w2, tool;
  char id1[128], id2[128], base[128], token[300], url[512], *text;
  start_worker(&w1, s.url, "agg-w1", "job-a", id1, sizeof id1);
  start_worker(&w2, s.url, "agg-w2", "job-b", id2, sizeof id2);
  char nats_arg[96];
  snprintf(nats_arg, sizeof nats_arg, "--nats=%s", s.url);
  char *argv[] = {CX_TOOL,          "ps",         nats_arg,
                  "--serve-cancel", "--wait=0.5", NULL};
  peer_start(&tool, argv);
  read_dashboard_url(&tool, base, sizeof base, token, sizeof token);
  wait_both_listed(base, id1, id2);
  check_page(base);
  /* A filter the source applies. */
  snprintf(url, sizeof url, "%s/api/ops?pattern=job-b", base);
  assert_int_equal(request("GET", url, NULL, &text), 200);
  assert_non_null(strstr(text, id2));
  assert_null(strstr(text, id1));
  free(text);
  /* Without the token: refused, nothing cancelled. */
  snprintf(url, sizeof url, "%s/api/ops/%s/cancel", base, id1);
  assert_int_equal(request("POST", url, NULL, &text), 401);
  free(text);
  /* By id: the op of the other process is cancelled through NATS. */
  assert_int_equal(request("POST", url, token, &text), 200);
  assert_string_equal(text, "{\"cancelled\":1}");
  free(text);
  expect_cancelled(&w1);
  /* An id no node has: 404. */
  snprintf(url, sizeof url, "%s/api/ops/no-such-op/cancel", base);
  assert_int_equal(request("POST", url, token, &text), 404);
  free(text);
  /* By pattern. */
  snprintf(url, sizeof url, "%s/api/cancel?pattern=job-*", base);
  assert_int_equal(request("POST", url, token, &text), 200);
  assert_string_equal(text, "{\"cancelled\":1}");
  free(text);
  expect_cancelled(&w2);
  kill(tool.pid, SIGTERM);
  assert_int_equal(peer_finish(&tool, 20), 0);
  nsrv_cleanup(&s);
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/nats/aggregate/dashboard", test_aggregate_dashboard),
};

CX_TEST_MAIN("nats-aggregate", tests)
