/* adapters/http/src/http.c - libcancelable-http (cancelable/http.h): the
 * registry's JSON API served by libmicrohttpd from a thread of its own, on
 * a socket this file binds (so errors are errno values and port 0 works).
 * Every response is built in memory first (the registry's locks are
 * released before MHD writes a byte). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cancelable.h>
#include <cancelable/http.h>

#include "cxu_json.h"
#include "dashboard_html.h"
#include "feed.h"

#define MAX_TOKEN 256
#define DEFAULT_CLIENTS 64
#define OVERFLOW_SECONDS 5 /* the timeout of a connection above max_clients */
#define MAX_URI 8192       /* a longer request target: 414 */
#define MAX_HEADERS 8192   /* more bytes of request headers: 431 */
/* MHD's memory per connection: room for both (MHD answers its own 414
 * and 431, in HTML, to a request that does not fit). */
#define MEMORY_LIMIT 32768
#define CANCEL_MESSAGE "cancelled over HTTP"
#define FEED_FRAMES 1024       /* events kept for Last-Event-ID resumes */
#define HEARTBEAT_SECONDS 10.0 /* a comment frame when nothing happens */
#define ALLOW_GET "GET, HEAD"  /* the methods of the read endpoints */
#define ALLOW_POST "POST"      /* those of the cancel endpoints */

struct cx_http_server {
  struct MHD_Daemon *daemon;
  feed *feed;
  int fd;
  unsigned port;
  char address[INET6_ADDRSTRLEN];
  bool allow_cancel;
  char token[MAX_TOKEN + 1];
  bool aggregate;        /* source is set: aggregate mode */
  cx_http_source source; /* (aggregate mode) the ops of other processes */
  unsigned max_clients;  /* connections served */
  atomic_uint clients;   /* connections admitted (at most max_clients) */
};

/* The socket context of an admitted connection (NULL: one above
 * max_clients, which gets a 503). */
static char admitted;

/* ---- responses */

/* Queues @r (then released) with @code, of @type, with the headers every
 * response has; NULL @r (out of memory) closes the connection. */
static enum MHD_Result send_response(struct MHD_Connection *c, unsigned code,
                                     struct MHD_Response *r, const char *type) {
  enum MHD_Result rc;
  if (r == NULL) return MHD_NO;
  MHD_add_response_header(r, "Content-Type", type);
  MHD_add_response_header(r, "Cache-Control", "no-store");
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  rc = MHD_queue_response(c, code, r);
  MHD_destroy_response(r);
  return rc;
}

/* Queues @body (malloc'd, taken) as the response with @code, with the
 * headers of @extra (name, value, ..., NULL; nullable). */
static enum MHD_Result reply_with(struct MHD_Connection *c, unsigned code,
                                  char *body, const char *const *extra) {
  struct MHD_Response *r;
  if (body == NULL) {
    static const char oom[] = "{\"error\":\"out of memory\"}";
    r = MHD_create_response_from_buffer(sizeof oom - 1, (void *)oom,
                                        MHD_RESPMEM_PERSISTENT);
    code = MHD_HTTP_SERVICE_UNAVAILABLE;
  } else {
    r = MHD_create_response_from_buffer(strlen(body), body,
                                        MHD_RESPMEM_MUST_FREE);
  }
  if (r == NULL) {
    free(body);
    return MHD_NO;
  }
  if (code == MHD_HTTP_UNAUTHORIZED)
    MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
  for (; extra != NULL && extra[0] != NULL; extra += 2)
    MHD_add_response_header(r, extra[0], extra[1]);
  return send_response(c, code, r, "application/json");
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code,
                             char *body) {
  return reply_with(c, code, body, NULL);
}

/* A one-key object {"KEY": VALUE} where VALUE is a string or a count. */
static char *json_object1(const char *key, const char *text, long long n) {
  cxu_json j;
  cxu_json_init(&j);
  cxu_json_object_begin(&j);
  cxu_json_key(&j, key);
  if (text != NULL)
    cxu_json_string(&j, text);
  else
    cxu_json_int(&j, n);
  cxu_json_object_end(&j);
  if (cxu_json_error(&j) != 0) {
    cxu_json_free(&j);
    return NULL;
  }
  return j.buf;
}

static enum MHD_Result fail(struct MHD_Connection *c, unsigned code,
                            const char *message) {
  return reply(c, code, json_object1("error", message, 0));
}

/* 405, with the Allow header RFC 9110 asks for: @allow lists the methods
 * the path takes. */
static enum MHD_Result not_allowed(struct MHD_Connection *c,
                                   const char *allow) {
  const char *extra[] = {"Allow", allow, NULL};
  char message[64];
  snprintf(message, sizeof message, "use %s", allow);
  return reply_with(c, MHD_HTTP_METHOD_NOT_ALLOWED,
                    json_object1("error", message, 0), extra);
}

/* ---- requests */

/* Whether the Host header names this server (DNS rebinding defence). */
static bool host_ok(const cx_http_server *s, struct MHD_Connection *c) {
  const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
  const char *names[] = {"127.0.0.1", "localhost", "[::1]", s->address};
  char want[INET6_ADDRSTRLEN + 16];
  if (host == NULL) return false;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    bool v6 = strchr(names[i], ':') != NULL && names[i][0] != '[';
    snprintf(want, sizeof want, v6 ? "[%s]:%u" : "%s:%u", names[i], s->port);
    if (strcasecmp(host, want) == 0) return true;
    /* Clients leave out port 80. */
    if (s->port == 80 && strchr(want, ':') != NULL &&
        strncasecmp(host, want, strlen(want) - 3) == 0 &&
        host[strlen(want) - 3] == '\0')
      return true;
  }
  return false;
}

/* Compares without an early exit, so the time does not tell how much of
 * the token matched. */
static bool same_secret(const char *given, const char *want) {
  size_t n = strlen(want), m = strlen(given);
  unsigned char diff = (unsigned char)(n != m);
  for (size_t i = 0; i < n; i++)
    diff |= (unsigned char)(want[i] ^ (i < m ? given[i] : 0));
  return diff == 0;
}

static bool authorized(const cx_http_server *s, struct MHD_Connection *c) {
  const char *auth =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
  static const char prefix[] = "Bearer ";
  if (auth == NULL || strncasecmp(auth, prefix, sizeof prefix - 1) != 0)
    return false;
  return same_secret(auth + sizeof prefix - 1, s->token);
}

/* Counts the query arguments that are not filters, or have no value. */
static enum MHD_Result count_bad_arg(void *cls, enum MHD_ValueKind kind,
                                     const char *key, const char *value) {
  static const char *const known[] = {"status", "name", "pattern", "contains",
                                      "parent"};
  bool ok = false;
  (void)kind;
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    ok = ok || strcmp(key, known[i]) == 0;
  if (!ok || value == NULL || value[0] == '\0') ++*(int *)cls;
  return MHD_YES;
}

/* Reads the filters of the query string into @f.  Returns false for an
 * unknown argument (a misspelt filter must not widen a cancel to every
 * op), one without a value, or a status that names none.  Sets *@any when
 * at least one was given. */
static bool read_filter(struct MHD_Connection *c, cx_op_filter *f, bool *any) {
  const char *status =
      MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "status");
  int bad = 0;
  MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, count_bad_arg, &bad);
  if (bad != 0) return false;
  f->name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
  f->name_pattern =
      MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "pattern");
  f->name_contains =
      MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "contains");
  f->parent_id =
      MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "parent");
  *any = status != NULL || f->name != NULL || f->name_pattern != NULL ||
         f->name_contains != NULL || f->parent_id != NULL;
  if (status == NULL) return true;
  for (int st = CX_STATUS_PENDING; st <= CX_STATUS_SHIELDED; st++)
    if (strcmp(status, cx_status_name((cx_status)st)) == 0) {
      f->status = st;
      return true;
    }
  return false;
}

/* Aggregate mode: the source's list, with "aggregate":true put first. */
static enum MHD_Result get_source_list(cx_http_server *s,
                                       struct MHD_Connection *c,
                                       const cx_op_filter *f) {
  static const char mark[] = "{\"aggregate\":true,";
  char *json = NULL, *out;
  int rc = s->source.list(s->source.data, f, &json);
  if (rc < 0) {
    free(json);
    return fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, cx_strerror(rc));
  }
  const char *body = json != NULL ? json + strspn(json, " \t\r\n") : "";
  if (body[0] != '{') {
    free(json);
    return fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "bad JSON from the source");
  }
  body += 1 + strspn(body + 1, " \t\r\n");
  out = malloc(sizeof mark + strlen(body));
  if (out != NULL) {
    memcpy(out, mark, sizeof mark - 1);
    /* "{}" becomes {"aggregate":true} */
    strcpy(out + sizeof mark - 1 - (body[0] == '}'), body);
  }
  free(json);
  return reply(c, MHD_HTTP_OK, out);
}

static enum MHD_Result get_list(cx_http_server *s, struct MHD_Connection *c,
                                bool history) {
  cx_op_filter f = CX_OP_FILTER_INIT;
  char *json = NULL;
  bool any;
  if (!read_filter(c, &f, &any))
    return fail(c, 400, "bad filter (status, name, pattern, parent)");
  if (s->aggregate) return get_source_list(s, c, &f);
  if (cx_registry_to_json(&f, history, &json) != 0) return reply(c, 503, NULL);
  return reply(c, MHD_HTTP_OK, json);
}

static enum MHD_Result get_op(struct MHD_Connection *c, const char *id) {
  cx_op *op = cx_registry_find(id);
  char *json = NULL;
  int rc;
  if (op == NULL) return fail(c, MHD_HTTP_NOT_FOUND, "no live op with this id");
  rc = cx_op_to_json(op, &json);
  cx_op_unref(op);
  return rc == 0 ? reply(c, MHD_HTTP_OK, json) : reply(c, 503, NULL);
}

static enum MHD_Result get_stats(struct MHD_Connection *c) {
  cx_registry_stats st;
  char *json = NULL;
  cx_registry_get_stats(&st);
  if (cx_registry_stats_to_json(&st, &json) != 0) return reply(c, 503, NULL);
  return reply(c, MHD_HTTP_OK, json);
}

/* Appends printf-style text to *@buf (NULL after an allocation failure). */
static void appendf(char **buf, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void appendf(char **buf, size_t *len, const char *fmt, ...) {
  va_list ap;
  char *more = NULL, *grown;
  int n;
  if (*buf == NULL) return;
  va_start(ap, fmt);
  n = vasprintf(&more, fmt, ap);
  va_end(ap);
  grown = n < 0 ? NULL : realloc(*buf, *len + (size_t)n + 1);
  if (grown == NULL) {
    free(*buf);
    free(more);
    *buf = NULL;
    return;
  }
  memcpy(grown + *len, more, (size_t)n + 1);
  *len += (size_t)n;
  *buf = grown;
  free(more);
}

/* GET /metrics, the Prometheus text format: the registry's gauges and
 * totals, and what this server's event feed counted since it started. */
static enum MHD_Result get_metrics(cx_http_server *s,
                                   struct MHD_Connection *c) {
  cx_registry_stats st;
  feed_counts fc;
  size_t len = 0;
  char *out = calloc(1, 1);
  cx_registry_get_stats(&st);
  feed_get_counts(s->feed, &fc);
  appendf(&out, &len,
          "# HELP cancelable_ops_live Live registered operations."
          "\n# TYPE cancelable_ops_live gauge\n");
  for (int i = CX_STATUS_PENDING; i <= CX_STATUS_SHIELDED; i++)
    appendf(&out, &len, "cancelable_ops_live{status=\"%s\"} %zu\n",
            cx_status_name((cx_status)i), st.live_by_status[i]);
  appendf(&out, &len,
          "# HELP cancelable_ops_finished_total Registered operations "
          "finished since the start (or cx_registry_clear()).\n"
          "# TYPE cancelable_ops_finished_total counter\n"
          "cancelable_ops_finished_total{status=\"completed\"} %" PRIu64
          "\n"
          "cancelable_ops_finished_total{status=\"cancelled\"} %" PRIu64
          "\n"
          "cancelable_ops_finished_total{status=\"failed\"} %" PRIu64
          "\n"
          "# HELP cancelable_op_duration_seconds Time from enter to exit of "
          "completed registered operations.\n"
          "# TYPE cancelable_op_duration_seconds summary\n"
          "cancelable_op_duration_seconds_sum %.9g\n"
          "cancelable_op_duration_seconds_count %" PRIu64 "\n",
          st.completed, st.cancelled, st.failed,
          st.average_duration * (double)st.completed, st.completed);
  appendf(&out, &len,
          "# HELP cancelable_op_exits_total Operations that exited since "
          "this server started, by final status and cancel reason.\n"
          "# TYPE cancelable_op_exits_total counter\n");
  for (int st_i = CX_STATUS_COMPLETED; st_i <= CX_STATUS_FAILED; st_i++)
    for (int r = CX_REASON_NONE; r <= CX_REASON_ERROR; r++)
      if (fc.exited[st_i][r] != 0)
        appendf(&out, &len,
                "cancelable_op_exits_total{status=\"%s\",reason=\"%s\"} "
                "%" PRIu64 "\n",
                cx_status_name((cx_status)st_i), cx_reason_name((cx_reason)r),
                fc.exited[st_i][r]);
  appendf(&out, &len,
          "# HELP cancelable_progress_reports_total Progress events since "
          "this server started (a lagging feed coalesces some).\n"
          "# TYPE cancelable_progress_reports_total counter\n"
          "cancelable_progress_reports_total %" PRIu64
          "\n"
          "# HELP cancelable_events_lost_total Events this server's feed "
          "lost to a full queue.\n"
          "# TYPE cancelable_events_lost_total counter\n"
          "cancelable_events_lost_total %" PRIu64 "\n",
          fc.progress, fc.lost);
  if (out == NULL) return reply(c, 503, NULL);
  return send_response(
      c, MHD_HTTP_OK,
      MHD_create_response_from_buffer(len, out, MHD_RESPMEM_MUST_FREE),
      "text/plain; version=0.0.4; charset=utf-8");
}

/* The dashboard: a page, its style and its script, compiled in (the
 * script reads the bearer token from the URL's fragment, which no request
 * carries).  No inline script or style, so the policy allows only this
 * server's own files: an injected <script> or style attribute does not
 * run. */
static enum MHD_Result get_dashboard(struct MHD_Connection *c, const char *text,
                                     size_t len, const char *type) {
  struct MHD_Response *r = MHD_create_response_from_buffer(
      len, (void *)text, MHD_RESPMEM_PERSISTENT);
  if (r != NULL)
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; script-src 'self'; "
                            "style-src 'self'; connect-src 'self'; "
                            "img-src data:; base-uri 'none'; "
                            "form-action 'none'; frame-ancestors 'none'");
  return send_response(c, MHD_HTTP_OK, r, type);
}

static ssize_t read_events(void *cls, uint64_t pos, char *buf, size_t max) {
  ssize_t n = feed_read(cls, buf, max, HEARTBEAT_SECONDS);
  (void)pos;
  return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
}

/* Server-Sent Events: each op event as a frame whose id is its seq; with
 * Last-Event-ID, exactly the events after it when they are still kept,
 * else a "reset" frame first. */
static enum MHD_Result get_events(cx_http_server *s, struct MHD_Connection *c) {
  const char *last =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
  unsigned long long last_id = 0;
  struct MHD_Response *r;
  feed_reader *reader;
  if (last != NULL) {
    char *end;
    errno = 0;
    last_id = strtoull(last, &end, 10);
    if (errno != 0 || end == last || *end != '\0' || last[0] == '-')
      return fail(c, 400, "bad Last-Event-ID");
  }
  reader = feed_reader_new(s->feed, last != NULL, last_id);
  if (reader == NULL) return reply(c, 503, NULL);
  /* 16 KiB blocks (allocated with the response): a burst of events goes
   * out in fewer copies and writes than with 4 KiB (bench/http.c H2: one
   * client received 30-90 % of the feed's events instead of 10-25 %). */
  r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, read_events,
                                        reader, feed_reader_free);
  if (r == NULL) feed_reader_free(reader);
  return send_response(c, MHD_HTTP_OK, r, "text/event-stream");
}

/* Aggregate mode: the source's cancel of @id or (NULL @id) by @f. */
static enum MHD_Result source_cancel(cx_http_server *s,
                                     struct MHD_Connection *c, const char *id,
                                     const cx_op_filter *f) {
  long n = s->source.cancel(s->source.data, id, f);
  if (n < 0) return fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, cx_strerror((int)n));
  if (n == 0 && id != NULL)
    return fail(c, MHD_HTTP_NOT_FOUND, "no live op with this id");
  return reply(c, MHD_HTTP_OK, json_object1("cancelled", NULL, n));
}

static enum MHD_Result post_cancel_one(cx_http_server *s,
                                       struct MHD_Connection *c,
                                       const char *id) {
  int rc;
  if (s->aggregate) return source_cancel(s, c, id, NULL);
  rc = cx_registry_cancel(id, CX_REASON_MANUAL, CANCEL_MESSAGE);
  if (rc == -ENOENT)
    return fail(c, MHD_HTTP_NOT_FOUND, "no live op with this id");
  if (rc < 0) return fail(c, 400, cx_strerror(rc));
  return reply(c, MHD_HTTP_OK, json_object1("cancelled", NULL, rc));
}

static enum MHD_Result post_cancel_all(cx_http_server *s,
                                       struct MHD_Connection *c) {
  cx_op_filter f = CX_OP_FILTER_INIT;
  bool any;
  long n;
  if (!read_filter(c, &f, &any))
    return fail(c, 400, "bad filter (status, name, pattern, parent)");
  if (!any) return fail(c, 400, "a filter is required");
  if (s->aggregate) return source_cancel(s, c, NULL, &f);
  n = cx_registry_cancel_all(&f, CX_REASON_MANUAL, CANCEL_MESSAGE);
  if (n < 0)
    return n == -ENOMEM ? reply(c, 503, NULL) : fail(c, 400, "bad filter");
  return reply(c, MHD_HTTP_OK, json_object1("cancelled", NULL, n));
}

/* The value of the hex digit @ch, or -1. */
static int hex_value(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* Decodes the @n percent-encoded bytes at @in into @out (@size bytes, NUL
 * ended); false on a bad escape, an encoded NUL, or no room. */
static bool percent_decode(const char *in, size_t n, char *out, size_t size) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++, k++) {
    char ch = in[i];
    if (k + 1 >= size) return false;
    if (ch == '%') {
      int hi = i + 2 < n ? hex_value(in[i + 1]) : -1;
      int lo = hi >= 0 ? hex_value(in[i + 2]) : -1;
      if (lo < 0 || (hi == 0 && lo == 0)) return false;
      ch = (char)(hi * 16 + lo);
      i += 2;
    }
    out[k] = ch;
  }
  out[k] = '\0';
  return true;
}

enum { NOT_OP_PATH, OP_PATH, BAD_OP_PATH };

/* Whether the raw (still percent-encoded) @path is "/api/ops/ID" followed
 * by @suffix ("" or "/cancel"): the ID is one segment, decoded into @id
 * (so an id with '/' is addressed as %2F); BAD_OP_PATH when it does not
 * decode. */
static int op_path(const char *path, const char *suffix, char *id,
                   size_t size) {
  static const char prefix[] = "/api/ops/";
  size_t n;
  if (strncmp(path, prefix, sizeof prefix - 1) != 0) return NOT_OP_PATH;
  path += sizeof prefix - 1;
  n = strcspn(path, "/");
  if (n == 0 || strcmp(path + n, suffix) != 0) return NOT_OP_PATH;
  return percent_decode(path, n, id, size) ? OP_PATH : BAD_OP_PATH;
}

/* What the URI log callback saw of a request, before MHD decodes it. */
typedef struct request {
  bool answered;     /* on_request() has queued the response */
  size_t target_len; /* the request target's length, query included */
  char path[];       /* its path, still percent-encoded ("" when the
                        target is longer than MAX_URI) */
} request;

static enum MHD_Result route(cx_http_server *s, struct MHD_Connection *c,
                             const char *url, const char *raw,
                             const char *method) {
  bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
             strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
  bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
  char id[256];
  int cancel_one = op_path(raw, "/cancel", id, sizeof id), get_one;
  if (!host_ok(s, c)) return fail(c, MHD_HTTP_FORBIDDEN, "bad Host header");
  if (cancel_one != NOT_OP_PATH || strcmp(url, "/api/cancel") == 0) {
    if (!post) return not_allowed(c, ALLOW_POST);
    if (!s->allow_cancel)
      return fail(c, MHD_HTTP_FORBIDDEN, "cancelling is not enabled");
    if (!authorized(s, c))
      return fail(c, MHD_HTTP_UNAUTHORIZED, "missing or wrong bearer token");
    if (cancel_one == BAD_OP_PATH)
      return fail(c, 400, "bad percent-encoding in the id");
    return cancel_one == OP_PATH ? post_cancel_one(s, c, id)
                                 : post_cancel_all(s, c);
  }
  if (strcmp(url, "/metrics") == 0)
    return get ? get_metrics(s, c) : not_allowed(c, ALLOW_GET);
  if (strcmp(url, "/") == 0)
    return get ? get_dashboard(c, dashboard_html, sizeof dashboard_html - 1,
                               "text/html; charset=utf-8")
               : not_allowed(c, ALLOW_GET);
  if (strcmp(url, "/dashboard.css") == 0)
    return get ? get_dashboard(c, dashboard_css, sizeof dashboard_css - 1,
                               "text/css; charset=utf-8")
               : not_allowed(c, ALLOW_GET);
  if (strcmp(url, "/dashboard.js") == 0)
    return get ? get_dashboard(c, dashboard_js, sizeof dashboard_js - 1,
                               "text/javascript; charset=utf-8")
               : not_allowed(c, ALLOW_GET);
  if (strcmp(url, "/api/events") == 0)
    return get ? get_events(s, c) : not_allowed(c, ALLOW_GET);
  get_one = op_path(raw, "", id, sizeof id);
  if (strcmp(url, "/api/ops") == 0 || strcmp(url, "/api/history") == 0 ||
      strcmp(url, "/api/stats") == 0 || get_one != NOT_OP_PATH) {
    if (!get) return not_allowed(c, ALLOW_GET);
    if (strcmp(url, "/api/ops") == 0) return get_list(s, c, false);
    if (strcmp(url, "/api/history") == 0) return get_list(s, c, true);
    if (strcmp(url, "/api/stats") == 0) return get_stats(c);
    if (get_one == BAD_OP_PATH)
      return fail(c, 400, "bad percent-encoding in the id");
    return get_op(c, id);
  }
  return fail(c, MHD_HTTP_NOT_FOUND, "no such path");
}

/* Whether @c was admitted (one of the first max_clients connections). */
static bool is_admitted(struct MHD_Connection *c) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci != NULL && ci->socket_context == &admitted;
}

/* The req_cls of a request whose record could not be allocated, before
 * and after its answer. */
static char no_memory, no_memory_answered;

/* MHD_OPTION_URI_LOG_CALLBACK: the request target as it came, before MHD
 * decodes the path; the record becomes the request's req_cls. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
  size_t len = uri != NULL ? strlen(uri) : 0;
  size_t path = len > MAX_URI ? 0 : strcspn(uri != NULL ? uri : "", "?");
  request *rq = malloc(sizeof *rq + path + 1);
  (void)cls;
  (void)c;
  if (rq == NULL) return &no_memory;
  rq->answered = false;
  rq->target_len = len;
  if (path != 0) memcpy(rq->path, uri, path);
  rq->path[path] = '\0';
  return rq;
}

/* MHD_OPTION_NOTIFY_COMPLETED: frees the record. */
static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)c;
  (void)toe;
  if (*req_cls != &no_memory && *req_cls != &no_memory_answered) free(*req_cls);
  *req_cls = NULL;
}

/* Adds the bytes of a header line to *@cls. */
static enum MHD_Result add_header_size(void *cls, enum MHD_ValueKind kind,
                                       const char *key, const char *value) {
  (void)kind;
  *(size_t *)cls += strlen(key) + (value != NULL ? strlen(value) : 0) + 4;
  return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls) {
  static const char *const busy[] = {"Retry-After", "1", "Connection", "close",
                                     NULL};
  request *rq;
  size_t header_bytes = 0;
  const char *length =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
  (void)version;
  (void)upload_data;
  if (*req_cls == NULL || *req_cls == &no_memory) { /* (not a request) */
    *req_cls = &no_memory_answered;
    return reply(c, 503, NULL);
  }
  rq = *req_cls == &no_memory_answered ? NULL : *req_cls;
  if (rq == NULL || rq->answered) {
    *upload_data_size = 0; /* answered on the first call: drop any body */
    return MHD_YES;
  }
  rq->answered = true;
  if (!is_admitted(c))
    return reply_with(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                      json_object1("error", "too many clients", 0), busy);
  if (rq->target_len > MAX_URI)
    return fail(c, MHD_HTTP_URI_TOO_LONG, "request target too long");
  MHD_get_connection_values(c, MHD_HEADER_KIND, add_header_size, &header_bytes);
  if (header_bytes > MAX_HEADERS)
    return fail(c, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
                "request headers too large");
  /* No endpoint takes a body: refuse one before reading a byte of it (a
   * client dripping a huge body would hold a connection slot). */
  if ((length != NULL && strcmp(length, "0") != 0) ||
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding") !=
          NULL)
    return fail(c, 413, "request bodies are not accepted");
  return route(cls, c, url, rq->path, method);
}

/* ---- the server */

/* Takes a client slot if one is free: a compare-and-swap, so that a
 * refused connection never holds a slot, even for a moment. */
static bool admit(cx_http_server *s) {
  unsigned n = atomic_load(&s->clients);
  while (n < s->max_clients)
    if (atomic_compare_exchange_weak(&s->clients, &n, n + 1)) return true;
  return false;
}

/* Counts connections: the first max_clients are admitted, the others are
 * answered 503 (MHD's own limit, a little higher, would close them
 * without a word) and get a short timeout. */
static void on_connection(void *cls, struct MHD_Connection *c,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode what) {
  cx_http_server *s = cls;
  if (what == MHD_CONNECTION_NOTIFY_CLOSED) {
    if (*socket_context == &admitted) atomic_fetch_sub(&s->clients, 1);
    *socket_context = NULL;
    return;
  }
  if (admit(s)) {
    *socket_context = &admitted;
    return;
  }
  *socket_context = NULL;
  MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT,
                            (unsigned)OVERFLOW_SECONDS);
}

/* Binds and listens on @address:@port; the socket, or -errno. */
static int listen_on(const char *address, unsigned port, bool *v6,
                     unsigned *bound) {
  struct sockaddr_storage ss;
  socklen_t len;
  int fd, one = 1;
  memset(&ss, 0, sizeof ss);
  *v6 = strchr(address, ':') != NULL;
  if (*v6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, address, &a->sin6_addr) != 1) return -EINVAL;
    len = sizeof *a;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, address, &a->sin_addr) != 1) return -EINVAL;
    len = sizeof *a;
  }
  fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 64) != 0 ||
      getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  *bound = ntohs(*v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                     : ((struct sockaddr_in *)&ss)->sin_port);
  return fd;
}

/* Whether @o has a source (a size from before the field: none). */
static bool has_source(const cx_http_options *o) {
  return o->size >= offsetof(cx_http_options, source) + sizeof o->source &&
         o->source != NULL;
}

/* Checks the options; 0 or -EINVAL. */
static int check_options(const cx_http_options *o) {
  if (o->size < offsetof(cx_http_options, source) || o->port > 65535)
    return -EINVAL;
  if (has_source(o) && (o->source->list == NULL || o->source->cancel == NULL))
    return -EINVAL;
  if (o->token != NULL) {
    size_t n = strlen(o->token);
    if (n == 0 || n > MAX_TOKEN) return -EINVAL;
    for (size_t i = 0; i < n; i++)
      if (o->token[i] <= ' ' || o->token[i] > '~') return -EINVAL;
  }
  return 0;
}

/* 256 random bits as 64 hex digits. */
static int random_token(char *out) {
  unsigned char bits[32];
  size_t got = 0;
  while (got < sizeof bits) {
    ssize_t n = getrandom(bits + got, sizeof bits - got, 0);
    if (n < 0 && errno != EINTR) return -errno;
    if (n > 0) got += (size_t)n;
  }
  for (size_t i = 0; i < sizeof bits; i++)
    snprintf(out + 2 * i, 3, "%02x", bits[i]);
  return 0;
}

/* MHD's connection limit: room above @max_clients for the 503s. */
static unsigned overflow_limit(unsigned max_clients) {
  unsigned extra = max_clients / 4 + 4;
  return max_clients > UINT_MAX - extra ? UINT_MAX : max_clients + extra;
}

int cx_http_start(const cx_http_options *opts, cx_http_server **out) {
  cx_http_options defaults = CX_HTTP_OPTIONS_INIT;
  cx_http_server *s;
  bool v6;
  int rc;
  if (out == NULL) return -EINVAL;
  *out = NULL;
  if (opts == NULL) opts = &defaults;
  if ((rc = check_options(opts)) != 0) return rc;
  s = calloc(1, sizeof *s);
  if (s == NULL) return -ENOMEM;
  snprintf(s->address, sizeof s->address, "%s",
           opts->address != NULL ? opts->address : "127.0.0.1");
  s->allow_cancel = opts->allow_cancel;
  s->aggregate = has_source(opts);
  if (s->aggregate) s->source = *opts->source;
  s->max_clients = opts->max_clients != 0 ? opts->max_clients : DEFAULT_CLIENTS;
  atomic_init(&s->clients, 0);
  if (opts->token != NULL)
    snprintf(s->token, sizeof s->token, "%s", opts->token);
  else if ((rc = random_token(s->token)) != 0)
    goto fail;
  if ((rc = feed_start(FEED_FRAMES, &s->feed)) != 0) goto fail;
  s->fd = listen_on(s->address, opts->port, &v6, &s->port);
  if (s->fd < 0) {
    rc = s->fd;
    goto fail;
  }
  s->daemon = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
          (v6 ? MHD_USE_IPv6 : 0) |
          /* select() would refuse a socket above FD_SETSIZE (1024) */
          (MHD_is_feature_supported(MHD_FEATURE_POLL) == MHD_YES ? MHD_USE_POLL
                                                                 : 0),
      0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, s->fd,
      MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
      MHD_OPTION_CONNECTION_LIMIT, overflow_limit(s->max_clients),
      MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL, MHD_OPTION_NOTIFY_COMPLETED,
      on_completed, NULL, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
      (size_t)MEMORY_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
      MHD_OPTION_END);
  if (s->daemon == NULL) {
    /* Not closed here: libmicrohttpd closes the socket on its failures
     * (a descriptor closed twice could be another thread's by then). */
    rc = -EAGAIN;
    goto fail;
  }
  *out = s;
  return 0;
fail:
  feed_free(s->feed);
  free(s);
  return rc;
}

unsigned cx_http_port(const cx_http_server *server) {
  return server != NULL ? server->port : 0;
}

const char *cx_http_token(const cx_http_server *server) {
  return server != NULL && server->allow_cancel ? server->token : NULL;
}

void cx_http_stop(cx_http_server *server) {
  if (server == NULL) return;
  feed_stop(server->feed);         /* event streams end */
  MHD_stop_daemon(server->daemon); /* closes the socket, joins clients */
  feed_free(server->feed);
  free(server);
}
