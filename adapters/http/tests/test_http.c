/* adapters/http/tests/test_http.c - libcancelable-http against a real
 * client (libcurl) on 127.0.0.1: every endpoint and filter, the JSON read
 * back strictly (jansson), cancelling with and without the bearer token,
 * cancelling disabled, a wrong Host header, unknown paths and ids, wrong
 * methods, bad options, and stopping with a client connected. */
#include "cx_test.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cancelable.h>
#include <cancelable/http.h>

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

static size_t collect_nothing(char *data, size_t size, size_t n, void *user) {
  (void)data;
  (void)user;
  return size * n;
}

/* Makes a request; returns the HTTP status, the response's header lines in
 * *@head unless NULL (free()), and the body parsed as JSON into *@json
 * when @json is not NULL (the test fails on JSON that jansson refuses). */
static long request_head(const cx_http_server *s, const char *method,
                         const char *path, const char *token, const char *host,
                         json_t **json, char **head) {
  CURL *c = curl_easy_init();
  struct curl_slist *headers = NULL;
  char *url, line[512];
  body b = {NULL, 0}, h = {NULL, 0};
  long code = 0;
  assert_non_null(c);
  assert_true(asprintf(&url, "http://127.0.0.1:%u%s", cx_http_port(s), path) >
              0);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  if (strcmp(method, "POST") == 0) curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
  if (token != NULL) {
    snprintf(line, sizeof line, "Authorization: Bearer %s", token);
    headers = curl_slist_append(headers, line);
  }
  if (host != NULL) {
    snprintf(line, sizeof line, "Host: %s", host);
    headers = curl_slist_append(headers, line);
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  assert_int_equal(curl_easy_perform(c), CURLE_OK);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  free(url);
  if (head != NULL)
    *head = h.text;
  else
    free(h.text);
  if (json != NULL) {
    json_error_t err;
    *json =
        json_loads(b.text != NULL ? b.text : "", JSON_REJECT_DUPLICATES, &err);
    if (*json == NULL) fail_msg("bad JSON from %s: %s", path, err.text);
  }
  free(b.text);
  return code;
}

static long request(const cx_http_server *s, const char *method,
                    const char *path, const char *token, const char *host,
                    json_t **json) {
  return request_head(s, method, path, token, host, json, NULL);
}

/* The number of elements of the array @key of @o. */
static size_t count_of(json_t *o, const char *key) {
  json_t *a = json_object_get(o, key);
  assert_true(json_is_array(a));
  return json_array_size(a);
}

/* A registered op with the explicit id @id (nullable), entered. */
static cx_op *registered_op_id(const char *name, const char *id,
                               cx_op *parent) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_op *op;
  o.name = name;
  o.id = id;
  o.parent = parent;
  o.register_op = true;
  CX_ASSERT_OK(cx_op_create(&op, &o));
  CX_ASSERT_OK(cx_op_enter(op));
  return op;
}

static cx_op *registered_op(const char *name, cx_op *parent) {
  return registered_op_id(name, NULL, parent);
}

static cx_http_server *start(bool allow_cancel) {
  cx_http_options o = CX_HTTP_OPTIONS_INIT;
  cx_http_server *s;
  o.allow_cancel = allow_cancel;
  CX_ASSERT_OK(cx_http_start(&o, &s));
  assert_true(cx_http_port(s) > 0);
  return s;
}

static void test_read_endpoints(void **state) {
  (void)state;
  cx_http_server *s = start(false);
  cx_op *root = registered_op("root", NULL);
  cx_op *job = registered_op("job-1", root);
  json_t *j;
  char path[256];
  assert_int_equal(request(s, "GET", "/api/ops", NULL, NULL, &j), 200);
  assert_int_equal(count_of(j, "live"), 2);
  json_decref(j);
  assert_int_equal(request(s, "GET", "/api/ops?pattern=job-*", NULL, NULL, &j),
                   200);
  assert_int_equal(count_of(j, "live"), 1);
  json_decref(j);
  /* The reference's name filter: a case-insensitive substring. */
  assert_int_equal(request(s, "GET", "/api/ops?contains=JOB", NULL, NULL, &j),
                   200);
  assert_int_equal(count_of(j, "live"), 1);
  json_decref(j);
  assert_int_equal(request(s, "GET", "/api/ops?contains=O", NULL, NULL, &j),
                   200);
  assert_int_equal(count_of(j, "live"), 2);
  json_decref(j);
  snprintf(path, sizeof path, "/api/ops?parent=%s", cx_op_id(root));
  assert_int_equal(request(s, "GET", path, NULL, NULL, &j), 200);
  assert_int_equal(count_of(j, "live"), 1);
  json_decref(j);
  assert_int_equal(
      request(s, "GET", "/api/ops?status=completed", NULL, NULL, &j), 200);
  assert_int_equal(count_of(j, "live"), 0);
  json_decref(j);
  assert_int_equal(request(s, "GET", "/api/ops?status=bogus", NULL, NULL, &j),
                   400);
  json_decref(j);
  /* The op's last progress report (what a page opened mid-job shows). */
  cx_meta *m = cx_meta_new();
  assert_non_null(m);
  CX_ASSERT_OK(cx_meta_set_int(m, CX_PROGRESS_CURRENT, 30));
  CX_ASSERT_OK(cx_meta_set_int(m, CX_PROGRESS_TOTAL, 120));
  CX_ASSERT_OK(cx_report_progress(job, "a quarter", m));
  cx_meta_free(m);
  snprintf(path, sizeof path, "/api/ops/%s", cx_op_id(job));
  assert_int_equal(request(s, "GET", path, NULL, NULL, &j), 200);
  assert_string_equal(json_string_value(json_object_get(j, "name")), "job-1");
  json_t *p = json_object_get(j, "progress");
  assert_string_equal(json_string_value(json_object_get(p, "message")),
                      "a quarter");
  assert_int_equal(json_integer_value(json_object_get(p, "current")), 30);
  assert_true(json_number_value(json_object_get(p, "percent")) == 25.0);
  assert_int_equal(json_integer_value(json_object_get(p, "reports")), 1);
  json_decref(j);
  assert_int_equal(request(s, "GET", "/api/ops/nope", NULL, NULL, &j), 404);
  json_decref(j);
  CX_ASSERT_OK(cx_op_exit(job, 0));
  assert_int_equal(request(s, "GET", "/api/history?name=job-1", NULL, NULL, &j),
                   200);
  assert_true(count_of(j, "history") >= 1);
  json_decref(j);
  assert_int_equal(request(s, "GET", "/api/stats", NULL, NULL, &j), 200);
  assert_true(json_integer_value(json_object_get(j, "live")) >= 1);
  assert_true(json_is_object(json_object_get(j, "live_by_status")));
  json_int_t manual = json_integer_value(
      json_object_get(json_object_get(j, "cancelled_by_reason"), "manual"));
  json_decref(j);
  /* A cancelled op counts under its reason. */
  cx_op *gone = registered_op("gone", root);
  assert_true(cx_op_cancel(gone, CX_REASON_MANUAL, "enough"));
  CX_ASSERT_OK(cx_op_exit(gone, -ECANCELED));
  cx_op_unref(gone);
  assert_int_equal(request(s, "GET", "/api/stats", NULL, NULL, &j), 200);
  json_t *by = json_object_get(j, "cancelled_by_reason");
  assert_int_equal(json_integer_value(json_object_get(by, "manual")),
                   manual + 1);
  assert_true(json_is_integer(json_object_get(by, "timeout")));
  json_decref(j);
  CX_ASSERT_OK(cx_op_exit(root, 0));
  cx_op_unref(job);
  cx_op_unref(root);
  cx_http_stop(s);
}

static void test_errors(void **state) {
  (void)state;
  cx_http_server *s = start(false);
  json_t *j;
  assert_int_equal(request(s, "GET", "/nothing", NULL, NULL, &j), 404);
  assert_non_null(json_object_get(j, "error"));
  json_decref(j);
  /* 405 says which methods the path takes (RFC 9110, 15.5.6). */
  char *head;
  assert_int_equal(request_head(s, "DELETE", "/api/ops", NULL, NULL, &j, &head),
                   405);
  assert_non_null(strcasestr(head, "\nAllow: GET, HEAD\r\n"));
  assert_non_null(json_object_get(j, "error"));
  free(head);
  json_decref(j);
  assert_int_equal(request_head(s, "GET", "/api/cancel", NULL, NULL, &j, &head),
                   405);
  assert_non_null(strcasestr(head, "\nAllow: POST\r\n"));
  free(head);
  json_decref(j);
  /* DNS rebinding: a page of evil.example served from our address. */
  assert_int_equal(request(s, "GET", "/api/ops", NULL, "evil.example", &j),
                   403);
  json_decref(j);
  /* A body is refused before it is read. */
  {
    CURL *c = curl_easy_init();
    char url[128];
    long code = 0;
    snprintf(url, sizeof url, "http://127.0.0.1:%u/api/ops", cx_http_port(s));
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x=1");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_nothing);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    assert_int_equal(code, 413);
  }
  /* Any case for the host name. */
  char host[64];
  snprintf(host, sizeof host, "LOCALHOST:%u", cx_http_port(s));
  assert_int_equal(request(s, "GET", "/api/stats", NULL, host, &j), 200);
  json_decref(j);
  /* Read-only by default: no POST. */
  assert_null(cx_http_token(s));
  assert_int_equal(request(s, "POST", "/api/cancel?name=x", "t", NULL, &j),
                   403);
  json_decref(j);
  cx_http_stop(s);
}

static void test_cancel(void **state) {
  (void)state;
  cx_http_server *s = start(true);
  const char *token = cx_http_token(s);
  cx_op *a = registered_op("cancel-me", NULL);
  cx_op *b = registered_op("batch-1", NULL);
  cx_op *c = registered_op("batch-2", NULL);
  char path[256];
  json_t *j;
  assert_non_null(token);
  assert_int_equal(strlen(token), 64);
  snprintf(path, sizeof path, "/api/ops/%s/cancel", cx_op_id(a));
  assert_int_equal(request(s, "POST", path, NULL, NULL, &j), 401);
  json_decref(j);
  assert_int_equal(request(s, "POST", path, "wrong", NULL, &j), 401);
  json_decref(j);
  assert_false(cx_op_is_cancelled(a));
  assert_int_equal(request(s, "POST", path, token, NULL, &j), 200);
  assert_int_equal(json_integer_value(json_object_get(j, "cancelled")), 1);
  json_decref(j);
  assert_true(cx_op_is_cancelled(a));
  assert_int_equal(cx_op_cancel_reason(a), CX_REASON_MANUAL);
  assert_int_equal(request(s, "POST", path, token, NULL, &j), 200);
  assert_int_equal(json_integer_value(json_object_get(j, "cancelled")), 0);
  json_decref(j);
  assert_int_equal(request(s, "POST", "/api/ops/nope/cancel", token, NULL, &j),
                   404);
  json_decref(j);
  assert_int_equal(request(s, "POST", "/api/cancel", token, NULL, &j), 400);
  json_decref(j);
  /* A misspelt filter is refused, never widened to every op. */
  assert_int_equal(
      request(s, "POST", "/api/cancel?pattern=batch-*&nmae=x", token, NULL, &j),
      400);
  json_decref(j);
  assert_false(cx_op_is_cancelled(b));
  assert_int_equal(
      request(s, "POST", "/api/cancel?pattern=batch-*", token, NULL, &j), 200);
  assert_int_equal(json_integer_value(json_object_get(j, "cancelled")), 2);
  json_decref(j);
  assert_true(cx_op_is_cancelled(b) && cx_op_is_cancelled(c));
  cx_op *ops[] = {a, b, c};
  for (int i = 2; i >= 0; i--) { /* innermost first */
    CX_ASSERT_OK(cx_op_exit(ops[i], -ECANCELED));
    cx_op_unref(ops[i]);
  }
  cx_http_stop(s);
}

/* Ids are percent-encoded in paths: any id can be addressed, '/' and
 * "/cancel" included. */
static void test_encoded_ids(void **state) {
  (void)state;
  cx_http_server *s = start(true);
  const char *token = cx_http_token(s);
  cx_op *a = registered_op_id("a", "jobs/2024/a b%?", NULL);
  cx_op *b = registered_op_id("b", "x/cancel", NULL);
  json_t *j;
  char *head;
  assert_int_equal(
      request(s, "GET", "/api/ops/jobs%2F2024%2Fa%20b%25%3F", NULL, NULL, &j),
      200);
  assert_string_equal(json_string_value(json_object_get(j, "id")),
                      "jobs/2024/a b%?");
  json_decref(j);
  /* An id ending in "/cancel" is an op, not the cancel endpoint. */
  assert_int_equal(request(s, "GET", "/api/ops/x%2fcancel", NULL, NULL, &j),
                   200);
  assert_string_equal(json_string_value(json_object_get(j, "name")), "b");
  json_decref(j);
  assert_int_equal(request_head(s, "GET", "/api/ops/x%2Fcancel/cancel", NULL,
                                NULL, &j, &head),
                   405);
  assert_non_null(strcasestr(head, "\nAllow: POST\r\n"));
  free(head);
  json_decref(j);
  assert_int_equal(
      request(s, "POST", "/api/ops/x%2Fcancel/cancel", token, NULL, &j), 200);
  assert_int_equal(json_integer_value(json_object_get(j, "cancelled")), 1);
  json_decref(j);
  assert_true(cx_op_is_cancelled(b));
  assert_false(cx_op_is_cancelled(a));
  assert_int_equal(
      request(s, "POST", "/api/ops/jobs%2F2024%2Fa%20b%25%3F/cancel", token,
              NULL, &j),
      200);
  json_decref(j);
  assert_true(cx_op_is_cancelled(a));
  /* A raw '/' separates segments: no such path. */
  assert_int_equal(request(s, "GET", "/api/ops/jobs/2024", NULL, NULL, &j),
                   404);
  json_decref(j);
  /* Escapes that do not decode, or decode to NUL. */
  const char *bad[] = {"/api/ops/%zz", "/api/ops/a%2", "/api/ops/a%00b",
                       "/api/ops/%"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(request(s, "GET", bad[i], NULL, NULL, &j), 400);
    assert_non_null(json_object_get(j, "error"));
    json_decref(j);
  }
  CX_ASSERT_OK(cx_op_exit(b, -ECANCELED));
  CX_ASSERT_OK(cx_op_exit(a, -ECANCELED));
  cx_op_unref(b);
  cx_op_unref(a);
  cx_http_stop(s);
}

/* A request target or header block too large: 414 or 431 with a JSON
 * error up to the connection's memory; libmicrohttpd's own beyond it. */
static void test_too_large(void **state) {
  (void)state;
  cx_http_server *s = start(false);
  size_t n = 9000;
  char *path = malloc(n + 1), *head;
  json_t *j;
  CURL *c;
  struct curl_slist *headers = NULL;
  char url[64];
  long code = 0;
  memset(path, 'a', n);
  memcpy(path, "/api/ops?", 9);
  path[n] = '\0';
  assert_int_equal(request(s, "GET", path, NULL, NULL, &j), 414);
  assert_string_equal(json_string_value(json_object_get(j, "error")),
                      "request target too long");
  json_decref(j);
  /* Just under the limits: served. */
  path[8000] = '\0';
  memcpy(path, "/nothing/", 9);
  assert_int_equal(request(s, "GET", path, NULL, NULL, &j), 404);
  json_decref(j);
  /* Headers: 9000 bytes of them. */
  head = malloc(n + 16);
  memcpy(head, "X-Big: ", 7);
  memset(head + 7, 'b', n - 7);
  head[n] = '\0';
  c = curl_easy_init();
  snprintf(url, sizeof url, "http://127.0.0.1:%u/api/stats", cx_http_port(s));
  headers = curl_slist_append(headers, head);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  body b = {NULL, 0};
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
  assert_int_equal(curl_easy_perform(c), CURLE_OK);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  assert_int_equal(code, 431);
  assert_non_null(strstr(b.text, "\"error\":\"request headers too large\""));
  free(b.text);
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  free(head);
  /* Beyond what a connection may hold: libmicrohttpd answers itself. */
  n = 40000;
  free(path);
  path = malloc(n + 1);
  memset(path, 'a', n);
  memcpy(path, "/api/ops?", 9);
  path[n] = '\0';
  assert_int_equal(request(s, "GET", path, NULL, NULL, NULL), 414);
  free(path);
  cx_http_stop(s);
}

/* A program with more than FD_SETSIZE descriptors open is still served
 * (libmicrohttpd polls with poll(), not select()). */
static void test_many_fds(void **state) {
  (void)state;
  struct rlimit lim;
  int fds[1100], n = 0;
  json_t *j;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &lim), 0);
  if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < 1200) skip();
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < 1200) {
    lim.rlim_cur = 1200;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
  }
  for (; n < 1100; n++) assert_true((fds[n] = dup(0)) >= 0);
  cx_http_server *s = start(false);
  assert_int_equal(request(s, "GET", "/api/stats", NULL, NULL, &j), 200);
  json_decref(j);
  cx_http_stop(s);
  while (n > 0) close(fds[--n]);
}

static void test_options(void **state) {
  (void)state;
  cx_http_options o = CX_HTTP_OPTIONS_INIT;
  cx_http_server *s = (cx_http_server *)&o, *t;
  o.port = 70000;
  CX_ASSERT_ERR(-EINVAL, cx_http_start(&o, &s));
  assert_null(s);
  o.port = 0;
  o.address = "not-an-address";
  CX_ASSERT_ERR(-EINVAL, cx_http_start(&o, &s));
  o.address = NULL;
  o.token = "";
  CX_ASSERT_ERR(-EINVAL, cx_http_start(&o, &s));
  o.token = "has space";
  CX_ASSERT_ERR(-EINVAL, cx_http_start(&o, &s));
  CX_ASSERT_ERR(-EINVAL, cx_http_start(NULL, NULL));
  /* A given token; the port taken: -EADDRINUSE. */
  o.token = "s3cret";
  o.allow_cancel = true;
  CX_ASSERT_OK(cx_http_start(&o, &s));
  assert_string_equal(cx_http_token(s), "s3cret");
  o.port = cx_http_port(s);
  CX_ASSERT_ERR(-EADDRINUSE, cx_http_start(&o, &t));
  cx_http_stop(s);
  cx_http_stop(NULL);
}

/* The body of a GET (free()), its status in *@code and its header lines
 * in *@head unless NULL (free()). */
static char *get_text_head(const cx_http_server *s, const char *path,
                           long *code, char **head) {
  CURL *c = curl_easy_init();
  char url[256];
  body b = {NULL, 0}, h = {NULL, 0};
  assert_non_null(c);
  snprintf(url, sizeof url, "http://127.0.0.1:%u%s", cx_http_port(s), path);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  assert_int_equal(curl_easy_perform(c), CURLE_OK);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
  curl_easy_cleanup(c);
  if (head != NULL)
    *head = h.text;
  else
    free(h.text);
  return b.text;
}

/* The body of a GET (free()), and its status in *@code. */
static char *get_text(const cx_http_server *s, const char *path, long *code) {
  return get_text_head(s, path, code, NULL);
}

/* /metrics: the registry's gauges and totals, and the exits the server
 * saw by status and reason, in the Prometheus text format. */
static void test_metrics(void **state) {
  (void)state;
  cx_http_server *s = start(false);
  cx_op *live = registered_op("live", NULL);
  cx_op *gone = registered_op("gone", live);
  long code = 0;
  char *text;
  double t0 = cx_test_now();
  assert_true(cx_op_cancel(gone, CX_REASON_MANUAL, "x"));
  CX_ASSERT_OK(cx_op_exit(gone, -ECANCELED));
  /* The feed counts the exit once its delivery thread got it. */
  for (;;) {
    text = get_text(s, "/metrics", &code);
    assert_int_equal(code, 200);
    if (strstr(text,
               "cancelable_op_exits_total{status=\"cancelled\","
               "reason=\"manual\"} 1\n") != NULL ||
        cx_test_now() - t0 > 10)
      break;
    free(text);
    cx_test_sleep(0.01);
  }
  assert_non_null(strstr(text, "# TYPE cancelable_ops_live gauge\n"));
  assert_non_null(strstr(text, "cancelable_ops_live{status=\"running\"} 1\n"));
  assert_non_null(
      strstr(text, "cancelable_ops_finished_total{status=\"cancelled\"} 1\n"));
  /* The duration summary counts COMPLETED ops only (a cancelled op's
   * duration says when it was stopped). */
  assert_non_null(strstr(text, "cancelable_op_duration_seconds_count 0\n"));
  assert_non_null(strstr(text,
                         "cancelable_op_exits_total{status=\"cancelled\","
                         "reason=\"manual\"} 1\n"));
  free(text);
  CX_ASSERT_OK(cx_op_exit(live, 0));
  cx_op_unref(gone);
  cx_op_unref(live);
  cx_http_stop(s);
}

/* The dashboard: a page whose script and style are files of their own,
 * under a policy that runs no inline script or style. */
static void test_dashboard(void **state) {
  (void)state;
  cx_http_server *s = start(false);
  struct {
    const char *path, *type, *needle;
  } files[] = {
      {"/", "text/html; charset=utf-8", "<script src=\"/dashboard.js\">"},
      {"/dashboard.css", "text/css; charset=utf-8", "#error"},
      {"/dashboard.js", "text/javascript; charset=utf-8", "EventSource"},
  };
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    long code = 0;
    char *head, *text = get_text_head(s, files[i].path, &code, &head), want[96];
    assert_int_equal(code, 200);
    snprintf(want, sizeof want, "\nContent-Type: %s\r\n", files[i].type);
    assert_non_null(strcasestr(head, want));
    assert_non_null(strstr(text, files[i].needle));
    if (i == 0) {
      const char *csp = strcasestr(head, "\nContent-Security-Policy: ");
      assert_non_null(csp);
      assert_non_null(strstr(csp, "script-src 'self';"));
      assert_non_null(strstr(csp, "style-src 'self';"));
      assert_null(strstr(head, "unsafe-inline"));
      assert_null(strstr(text, "<script>")); /* no inline script */
      assert_null(strstr(text, "<style"));
      assert_null(strstr(text, "style="));
    }
    free(head);
    free(text);
  }
  cx_http_stop(s);
}

/* ---- /api/events */

typedef struct sse {
  const cx_http_server *server;
  const char *last_id; /* (nullable) Last-Event-ID */
  int want;            /* frames to read before hanging up */
  body text;
  int frames;
  atomic_bool done;
} sse;

static pthread_mutex_t x_mu = PTHREAD_MUTEX_INITIALIZER; /* sse.frames */

static size_t sse_collect(char *data, size_t size, size_t n, void *user) {
  sse *x = user;
  int frames = 0;
  if (collect(data, size, n, &x->text) != size * n) return 0;
  for (const char *p = x->text.text; (p = strstr(p, "\n\n")) != NULL; p += 2)
    frames++;
  pthread_mutex_lock(&x_mu);
  x->frames = frames;
  pthread_mutex_unlock(&x_mu);
  return frames >= x->want ? 0 : size * n; /* 0: hang up */
}

static void *sse_read(void *p) {
  sse *x = p;
  CURL *c = curl_easy_init();
  struct curl_slist *headers = NULL;
  char url[128], line[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/api/events",
           cx_http_port(x->server));
  if (x->last_id != NULL) {
    snprintf(line, sizeof line, "Last-Event-ID: %s", x->last_id);
    headers = curl_slist_append(headers, line);
  }
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sse_collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_perform(c); /* ends when we hang up, or the server stops */
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  atomic_store(&x->done, true);
  return NULL;
}

static void enter_exit(const char *name) {
  cx_op *op = registered_op(name, NULL);
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
}

/* Waits until the server's feed has the event whose seq is @last_id: a
 * client resuming from it gets a frame, not a reset (the feed has it once
 * its delivery thread handed it over). */
static void wait_resumable(const cx_http_server *s, const char *last_id) {
  double t0 = cx_test_now();
  for (;;) {
    sse probe = {.server = s, .last_id = last_id, .want = 1};
    bool resumed;
    sse_read(&probe);
    resumed =
        probe.text.text != NULL && strncmp(probe.text.text, "id: ", 4) == 0;
    free(probe.text.text);
    if (resumed) return;
    assert_true(cx_test_now() - t0 < 10);
    cx_test_sleep(0.01);
  }
}

/* The seq of the last EXITED event of an op named "a". */
static void watch_a(const cx_event *e, void *user_data) {
  if (e->kind == CX_EVENT_EXITED && strcmp(e->name, "a") == 0)
    atomic_store((_Atomic uint64_t *)user_data, e->seq);
}

/* Resuming from Last-Event-ID gives exactly the events after it. */
static void test_events_resume(void **state) {
  (void)state;
  cx_http_server *s = start(false);
  _Atomic uint64_t a_exit = 0;
  cx_subscription *sub;
  char last[32], want[64];
  double t0 = cx_test_now();
  sse x = {.server = s, .last_id = last, .want = 2};
  CX_ASSERT_OK(cx_events_subscribe(&sub, watch_a, &a_exit, NULL, 0));
  enter_exit("a");
  while (atomic_load(&a_exit) == 0 && cx_test_now() - t0 < 10)
    cx_test_sleep(0.005);
  CX_ASSERT_OK(cx_events_unsubscribe(sub));
  enter_exit("b"); /* the two events after a's exit */
  snprintf(last, sizeof last, "%llu", (unsigned long long)atomic_load(&a_exit));
  wait_resumable(s, last); /* the feed has a's exit */
  sse_read(&x);
  assert_int_equal(x.frames, 2);
  snprintf(want, sizeof want, "id: %llu\nevent: entered\ndata: {",
           (unsigned long long)atomic_load(&a_exit) + 1);
  assert_non_null(strstr(x.text.text, want));
  snprintf(want, sizeof want, "id: %llu\nevent: exited\n",
           (unsigned long long)atomic_load(&a_exit) + 2);
  assert_non_null(strstr(x.text.text, want));
  assert_non_null(strstr(x.text.text, "\"name\":\"b\""));
  assert_null(strstr(x.text.text, "\"name\":\"a\""));
  free(x.text.text);
  cx_http_stop(s);
}

/* The highest seq seen. */
static void watch_max(const cx_event *e, void *user_data) {
  _Atomic uint64_t *max = user_data;
  if (e->seq > atomic_load(max)) atomic_store(max, e->seq);
}

/* Resuming from an event that left the ring: a reset frame first. */
static void test_events_reset(void **state) {
  (void)state;
  cx_http_server *s = start(false);
  _Atomic uint64_t max = 0;
  cx_subscription *sub;
  char probe_id[32];
  double t0 = cx_test_now();
  sse x = {.server = s, .last_id = "1", .want = 1};
  CX_ASSERT_OK(cx_events_subscribe(&sub, watch_max, &max, NULL, 4096));
  for (int i = 0; i < 700; i++) enter_exit("many"); /* 1400 > 1024 kept */
  while (atomic_load(&max) < 1400 && cx_test_now() - t0 < 10)
    cx_test_sleep(0.005);
  CX_ASSERT_OK(cx_events_unsubscribe(sub));
  /* The server's feed has the last events. */
  snprintf(probe_id, sizeof probe_id, "%llu",
           (unsigned long long)atomic_load(&max) - 1);
  wait_resumable(s, probe_id);
  sse_read(&x);
  assert_true(strncmp(x.text.text, "event: reset\n", 13) == 0);
  free(x.text.text);
  cx_http_stop(s);
}

/* A live client gets events made after it connected. */
static void test_events_live(void **state) {
  (void)state;
  cx_http_server *s = start(false);
  sse x = {.server = s, .want = 2};
  pthread_t th;
  double t0 = cx_test_now();
  assert_int_equal(pthread_create(&th, NULL, sse_read, &x), 0);
  while (!atomic_load(&x.done) && cx_test_now() - t0 < 10) {
    enter_exit("live");
    cx_test_sleep(0.02);
  }
  assert_true(cx_test_join_within(th, 10, NULL));
  /* At least the two asked for: the ops keep coming until the client has
   * them, and one write may carry several frames. */
  assert_true(x.frames >= 2);
  assert_non_null(strstr(x.text.text, "event: entered\n"));
  assert_non_null(strstr(x.text.text, "\"name\":\"live\""));
  /* Not cancelled: null, as in /api/ops, not "none". */
  assert_non_null(strstr(x.text.text, "\"reason\":null"));
  assert_null(strstr(x.text.text, "\"reason\":\"none\""));
  free(x.text.text);
  cx_http_stop(s);
}

/* Stopping the server with a client waiting for events ends its stream. */
static void test_events_stop(void **state) {
  (void)state;
  cx_http_server *s = start(false);
  sse x = {.server = s, .want = 1000};
  pthread_t th;
  double t0 = cx_test_now();
  assert_int_equal(pthread_create(&th, NULL, sse_read, &x), 0);
  /* Connected and streaming once a frame came through. */
  for (;;) {
    enter_exit("before-stop");
    cx_test_sleep(0.02);
    pthread_mutex_lock(&x_mu);
    int got = x.frames;
    pthread_mutex_unlock(&x_mu);
    if (got > 0) break;
    assert_true(cx_test_now() - t0 < 10);
  }
  t0 = cx_test_now();
  cx_http_stop(s);
  assert_true(cx_test_now() - t0 < 10);
  assert_true(cx_test_join_within(th, 10, NULL));
  free(x.text.text);
}

/* ---- raw sockets (clients that behave as no library would let them) */

/* A TCP connection to @s; a receive buffer of @rcvbuf bytes unless 0. */
static int raw_connect(const cx_http_server *s, int rcvbuf) {
  struct sockaddr_in a = {.sin_family = AF_INET};
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  if (rcvbuf != 0)
    assert_int_equal(
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
  a.sin_port = htons((uint16_t)cx_http_port(s));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  return fd;
}

/* Sends a GET of @path on @fd. */
static void raw_get(int fd, const cx_http_server *s, const char *path) {
  char req[512];
  int n =
      snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n",
               path, cx_http_port(s));
  assert_int_equal(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
}

/* Reads the response head from @fd into @buf (the bytes after it are
 * lost); returns the status, 0 when the connection closed first. */
static int raw_head(int fd, char *buf, size_t size) {
  size_t len = 0;
  double t0 = cx_test_now();
  buf[0] = '\0';
  while (strstr(buf, "\r\n\r\n") == NULL) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ssize_t n;
    assert_true(cx_test_now() - t0 < 20);
    if (poll(&p, 1, 100) <= 0) continue;
    n = recv(fd, buf + len, size - 1 - len, 0);
    if (n <= 0) return 0;
    len += (size_t)n;
    buf[len] = '\0';
    assert_true(len < size - 1);
  }
  return atoi(buf + strlen("HTTP/1.1 "));
}

/* Above max_clients a client gets a 503 with a JSON error, not a reset;
 * a slot that frees admits the next one. */
static void test_max_clients(void **state) {
  (void)state;
  cx_http_options o = CX_HTTP_OPTIONS_INIT;
  cx_http_server *s;
  char buf[4096], *head;
  int fds[2];
  json_t *j;
  double t0;
  o.max_clients = 2;
  CX_ASSERT_OK(cx_http_start(&o, &s));
  for (int i = 0; i < 2; i++) { /* two event streams hold both slots */
    fds[i] = raw_connect(s, 0);
    raw_get(fds[i], s, "/api/events");
    assert_int_equal(raw_head(fds[i], buf, sizeof buf), 200);
  }
  for (int i = 0; i < 3; i++) { /* a refused client takes no slot */
    assert_int_equal(
        request_head(s, "GET", "/api/stats", NULL, NULL, &j, &head), 503);
    assert_string_equal(json_string_value(json_object_get(j, "error")),
                        "too many clients");
    assert_non_null(strcasestr(head, "\nRetry-After: 1\r\n"));
    assert_non_null(strcasestr(head, "\nConnection: close\r\n"));
    json_decref(j);
    free(head);
  }
  /* A slot frees once the server notices the hang-up: when it next writes
   * an event to that stream. */
  close(fds[0]);
  t0 = cx_test_now();
  for (;;) {
    long code;
    enter_exit("wake-the-stream");
    code = request(s, "GET", "/api/stats", NULL, NULL, &j);
    json_decref(j);
    if (code == 200) break;
    assert_int_equal(code, 503);
    assert_true(cx_test_now() - t0 < 10);
    cx_test_sleep(0.02);
  }
  close(fds[1]);
  cx_http_stop(s);
}

/* ---- a crowd on /api/events */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SLOW_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SLOW_BUILD 1
#endif
#endif
#ifdef SLOW_BUILD
#define CROWD_SLACK 4.0 /* sanitizers slow every thread down */
#else
#define CROWD_SLACK 1.0
#endif

enum { READERS = 99, BURSTS = 5 };
#define BURST_SECONDS 0.2 /* of progress reports at full speed */
#define IDLE_SECONDS 0.3  /* between bursts */

/* The clients that read: one thread polls every socket and keeps, for
 * each, the highest frame id seen. */
typedef struct crowd {
  int fds[READERS];
  _Atomic uint64_t max_id[READERS];
  atomic_bool stop;
  atomic_int closed; /* streams the server ended */
} crowd;

/* Parses the "id: N" lines of the stream bytes @data of client @i; @line
 * holds the start of a line cut by the previous read. */
static void crowd_scan(crowd *cw, int i, const char *data, size_t n, char *line,
                       size_t *len) {
  for (size_t k = 0; k < n; k++) {
    if (data[k] != '\n') {
      if (*len < 63) line[(*len)++] = data[k];
      continue;
    }
    line[*len] = '\0';
    if (strncmp(line, "id: ", 4) == 0) {
      uint64_t id = strtoull(line + 4, NULL, 10);
      if (id > atomic_load(&cw->max_id[i])) atomic_store(&cw->max_id[i], id);
    }
    *len = 0;
  }
}

static void *crowd_read(void *p) {
  crowd *cw = p;
  struct pollfd pf[READERS];
  static char lines[READERS][64];
  size_t lens[READERS] = {0};
  char buf[65536];
  for (int i = 0; i < READERS; i++)
    pf[i] = (struct pollfd){.fd = cw->fds[i], .events = POLLIN};
  while (!atomic_load(&cw->stop)) {
    if (poll(pf, READERS, 50) <= 0) continue;
    for (int i = 0; i < READERS; i++) {
      ssize_t n;
      if ((pf[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      n = recv(pf[i].fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        crowd_scan(cw, i, buf, (size_t)n, lines[i], &lens[i]);
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        pf[i].fd = -1; /* ended: poll() skips it */
        atomic_fetch_add(&cw->closed, 1);
      }
    }
  }
  return NULL;
}

/* The reporter: bursts of progress reports at full speed, each followed
 * by an op named "mark" (whose exit marks the end of the burst) and a
 * pause. */
typedef struct reporter {
  int bursts;
  double rate;      /* reports per second during the bursts */
  double longest;   /* the longest single report (seconds, wall clock) */
  double blocked;   /* the longest time off the CPU and not runnable, in any
                       2 ms of reporting (seconds; a preemption is not
                       blocking); the longest report without schedstat */
  atomic_int marks; /* marks made */
  double mark_time[BURSTS]; /* when each was made */
} reporter;

/* The calling thread's time on a CPU and waiting for one (seconds), from
 * /proc/thread-self/schedstat; false without it. */
static bool sched_times(double *on_cpu, double *runnable) {
  FILE *f = fopen("/proc/thread-self/schedstat", "r");
  unsigned long long run = 0, wait = 0;
  bool ok = f != NULL && fscanf(f, "%llu %llu", &run, &wait) == 2;
  if (f != NULL) fclose(f);
  *on_cpu = (double)run / 1e9;
  *runnable = (double)wait / 1e9;
  return ok;
}

static void *report(void *p) {
  reporter *r = p;
  cx_op *op = registered_op("reporter", NULL);
  double busy = 0, cpu0, wait0, cpu, wait;
  bool sched = sched_times(&cpu0, &wait0);
  uint64_t reports = 0;
  char message[32];
  r->longest = r->blocked = 0;
  for (int k = 0; k < r->bursts; k++) {
    double t0 = cx_test_now(), now = t0, check = t0;
    sched = sched && sched_times(&cpu0, &wait0);
    snprintf(message, sizeof message, "burst-%d", k);
    while (now - t0 < BURST_SECONDS) {
      double before = now;
      cx_report_progress(op, message, NULL);
      now = cx_test_now();
      if (now - before > r->longest) r->longest = now - before;
      reports++;
      if (sched && now - check >= 0.002 && sched_times(&cpu, &wait)) {
        double off = (now - check) - (cpu - cpu0) - (wait - wait0);
        if (off > r->blocked) r->blocked = off;
        check = now;
        cpu0 = cpu;
        wait0 = wait;
      }
    }
    busy += now - t0;
    enter_exit("mark");
    r->mark_time[k] = cx_test_now();
    atomic_fetch_add(&r->marks, 1);
    cx_test_sleep(IDLE_SECONDS);
  }
  r->rate = (double)reports / busy;
  if (!sched) r->blocked = r->longest;
  CX_ASSERT_OK(cx_op_exit(op, 0));
  cx_op_unref(op);
  return NULL;
}

/* The seq of each EXITED event of an op named "mark", in order. */
typedef struct marks {
  _Atomic uint64_t seq[BURSTS];
  atomic_int n;
} marks;

static void watch_marks(const cx_event *e, void *user_data) {
  marks *m = user_data;
  if (e->kind == CX_EVENT_EXITED && strcmp(e->name, "mark") == 0) {
    int k = atomic_load(&m->n);
    if (k < BURSTS) {
      atomic_store(&m->seq[k], e->seq);
      atomic_store(&m->n, k + 1);
    }
  }
}

/* 99 clients on /api/events and one that never reads (a tiny receive
 * buffer): while a reporter reports progress at full speed, every reader
 * gets the events of each burst within 1 s of its end, the reporter is
 * not slowed down much and no report blocks; stopping the server with
 * them all connected is prompt. */
static void test_events_crowd(void **state) {
  (void)state;
  cx_http_options o = CX_HTTP_OPTIONS_INIT;
  cx_http_server *s;
  static crowd cw;
  reporter alone = {.bursts = 2}, crowded = {.bursts = BURSTS};
  marks m = {.n = 0};
  cx_subscription *sub;
  pthread_t reader, th;
  char head[4096];
  int stuck;
  double t0, worst = 0;
  o.max_clients = 128;
  CX_ASSERT_OK(cx_http_start(&o, &s));
  /* The reporter alone (the server's feed subscribed, no client). */
  report(&alone);
  /* The crowd, and one client that reads nothing. */
  memset(&cw, 0, sizeof cw);
  for (int i = 0; i < READERS; i++) {
    cw.fds[i] = raw_connect(s, 0);
    raw_get(cw.fds[i], s, "/api/events");
    assert_int_equal(raw_head(cw.fds[i], head, sizeof head), 200);
  }
  stuck = raw_connect(s, 1024);
  raw_get(stuck, s, "/api/events");
  assert_int_equal(pthread_create(&reader, NULL, crowd_read, &cw), 0);
  CX_ASSERT_OK(cx_events_subscribe(&sub, watch_marks, &m, NULL, 0));
  assert_int_equal(pthread_create(&th, NULL, report, &crowded), 0);
  for (int k = 0; k < BURSTS; k++) {
    int late;
    t0 = cx_test_now();
    while (atomic_load(&m.n) <= k) {
      assert_true(cx_test_now() - t0 < 10);
      cx_test_sleep(0.001);
    }
    while (atomic_load(&crowded.marks) <= k) cx_test_sleep(0.001);
    /* Every reader has the burst's end (or anything after it). */
    for (;;) {
      late = 0;
      for (int i = 0; i < READERS; i++)
        late += atomic_load(&cw.max_id[i]) < atomic_load(&m.seq[k]);
      if (late == 0) break;
      if (cx_test_now() - crowded.mark_time[k] > 1.0 * CROWD_SLACK)
        fail_msg("burst %d: %d of %d readers without its events after %.2f s",
                 k, late, READERS, cx_test_now() - crowded.mark_time[k]);
      cx_test_sleep(0.001);
    }
    if (cx_test_now() - crowded.mark_time[k] > worst)
      worst = cx_test_now() - crowded.mark_time[k];
  }
  assert_true(cx_test_join_within(th, 30, NULL));
  CX_ASSERT_OK(cx_events_unsubscribe(sub));
  print_message(
      "crowd: readers had each burst within %.3f s; reports/s "
      "alone %.0f, with %d clients %.0f; longest report %.1f ms, "
      "blocked at most %.1f ms\n",
      worst, alone.rate, READERS + 1, crowded.rate, crowded.longest * 1e3,
      crowded.blocked * 1e3);
  assert_true(crowded.rate > alone.rate / 20);
  assert_true(crowded.blocked < 0.1 * CROWD_SLACK);
  /* The one that never reads was sent what its buffer holds. */
  int unread = 0;
  assert_int_equal(ioctl(stuck, FIONREAD, &unread), 0);
  assert_true(unread > 0);
  /* Stopping with every client connected: prompt, and each stream ends. */
  t0 = cx_test_now();
  cx_http_stop(s);
  assert_true(cx_test_now() - t0 < 2 * CROWD_SLACK);
  while (atomic_load(&cw.closed) < READERS) {
    assert_true(cx_test_now() - t0 < 10);
    cx_test_sleep(0.01);
  }
  atomic_store(&cw.stop, true);
  assert_true(cx_test_join_within(reader, 10, NULL));
  for (int i = 0; i < READERS; i++) close(cw.fds[i]);
  close(stuck);
}

static int setup(void **state) {
  (void)state;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  curl_global_cleanup();
  return 0;
}

/* A fake source of other processes' ops, for aggregate mode. */
typedef struct fake_source {
  int list_error;       /* what list returns */
  char last_cancel[64]; /* "id ID" or "pattern P" */
  long cancelled;       /* what cancel returns */
} fake_source;

static int fake_list(void *data, const cx_op_filter *f, char **json) {
  fake_source *fs = data;
  if (fs->list_error != 0) return fs->list_error;
  *json = strdup(f->name_pattern != NULL
                     ? "{\"live\":[]}"
                     : " {\"live\":[{\"id\":\"a\",\"name\":\"x\","
                       "\"status\":\"running\",\"node\":\"n1\"}],"
                       "\"history\":[]}");
  return *json != NULL ? 0 : -ENOMEM;
}

static long fake_cancel(void *data, const char *id, const cx_op_filter *f) {
  fake_source *fs = data;
  snprintf(fs->last_cancel, sizeof fs->last_cancel, "%s %s",
           id != NULL ? "id" : "pattern", id != NULL ? id : f->name_pattern);
  return fs->cancelled;
}

/* Aggregate mode: the list and the cancels are the source's; the
 * registry of this process is not shown nor touched. */
static void test_aggregate(void **state) {
  (void)state;
  fake_source fs = {0, "", 2};
  cx_http_source src = {fake_list, fake_cancel, &fs};
  cx_http_source half = {fake_list, NULL, &fs};
  cx_http_options o = CX_HTTP_OPTIONS_INIT;
  cx_http_server *s = NULL;
  json_t *j = NULL;
  o.source = &half;
  CX_ASSERT_ERR(-EINVAL, cx_http_start(&o, &s));
  assert_null(s);
  o.source = &src;
  /* A caller built before the field: its size ends before it, no source. */
  o.size = offsetof(cx_http_options, source);
  CX_ASSERT_OK(cx_http_start(&o, &s));
  assert_int_equal(request(s, "GET", "/api/ops", NULL, NULL, &j), 200);
  assert_null(json_object_get(j, "aggregate"));
  json_decref(j);
  cx_http_stop(s);
  o.size = sizeof o;
  o.allow_cancel = true;
  CX_ASSERT_OK(cx_http_start(&o, &s));
  cx_op *local = registered_op("local-op", NULL);
  assert_int_equal(request(s, "GET", "/api/ops", NULL, NULL, &j), 200);
  assert_true(json_is_true(json_object_get(j, "aggregate")));
  json_t *op = json_array_get(json_object_get(j, "live"), 0);
  assert_string_equal(json_string_value(json_object_get(op, "node")), "n1");
  assert_int_equal(json_array_size(json_object_get(j, "live")), 1);
  json_decref(j);
  assert_int_equal(request(s, "GET", "/api/history?pattern=z*", NULL, NULL, &j),
                   200);
  assert_int_equal(json_array_size(json_object_get(j, "live")), 0);
  json_decref(j);
  assert_int_equal(
      request(s, "POST", "/api/ops/a%2Fb/cancel", cx_http_token(s), NULL, &j),
      200);
  assert_int_equal(json_integer_value(json_object_get(j, "cancelled")), 2);
  assert_string_equal(fs.last_cancel, "id a/b");
  json_decref(j);
  assert_int_equal(request(s, "POST", "/api/cancel?pattern=job-*",
                           cx_http_token(s), NULL, &j),
                   200);
  assert_string_equal(fs.last_cancel, "pattern job-*");
  json_decref(j);
  fs.cancelled = 0;
  assert_int_equal(
      request(s, "POST", "/api/ops/gone/cancel", cx_http_token(s), NULL, &j),
      404);
  json_decref(j);
  fs.cancelled = -ENOTCONN;
  assert_int_equal(
      request(s, "POST", "/api/ops/a/cancel", cx_http_token(s), NULL, &j), 503);
  json_decref(j);
  fs.list_error = -ENOTCONN;
  assert_int_equal(request(s, "GET", "/api/ops", NULL, NULL, &j), 503);
  json_decref(j);
  assert_false(cx_op_is_cancelled(local));
  cx_http_stop(s);
  cx_op_exit(local, 0);
  cx_op_unref(local);
}

static const struct CMUnitTest tests[] = {
    {"/http/read-endpoints", test_read_endpoints, setup, teardown, NULL},
    {"/http/errors", test_errors, setup, teardown, NULL},
    {"/http/cancel", test_cancel, setup, teardown, NULL},
    {"/http/options", test_options, setup, teardown, NULL},
    {"/http/encoded-ids", test_encoded_ids, setup, teardown, NULL},
    {"/http/too-large", test_too_large, setup, teardown, NULL},
    {"/http/many-fds", test_many_fds, setup, teardown, NULL},
    {"/http/metrics", test_metrics, setup, teardown, NULL},
    {"/http/dashboard", test_dashboard, setup, teardown, NULL},
    {"/http/events/resume", test_events_resume, setup, teardown, NULL},
    {"/http/events/reset", test_events_reset, setup, teardown, NULL},
    {"/http/events/live", test_events_live, setup, teardown, NULL},
    {"/http/events/stop", test_events_stop, setup, teardown, NULL},
    {"/http/max-clients", test_max_clients, setup, teardown, NULL},
    {"/http/events/crowd", test_events_crowd, setup, teardown, NULL},
    {"/http/aggregate", test_aggregate, setup, teardown, NULL},
};

CX_TEST_MAIN("http", tests)
