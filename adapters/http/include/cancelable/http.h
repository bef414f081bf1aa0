/* cancelable/http.h - libcancelable-http: the operation registry over HTTP
 * (an optional adapter, on libmicrohttpd; link with `pkg-config --libs
 * cancelable-http`, or the CMake target cancelable::http).
 *
 * A small JSON API in the spirit of Go's /debug/requests or Celery Flower's,
 * embedded in the program whose operations it shows.  It shows the ops of
 * the registry (cancelable/registry.h): those created with
 * cx_op_options.register_op, or all after cx_registry_set_default(true);
 * /api/events streams every op.
 *
 *   GET  /                   the dashboard: a self-contained page (no CDN,
 *                            no web font) showing running ops as a tree
 *                            (status, elapsed, progress bar, rate, ETA,
 *                            last message), recent history and statistics,
 *                            updated live from /api/events; with
 *                            "#token=TOKEN" in its URL it shows a cancel
 *                            button per op, and a refused cancel's error;
 *                            its style and script are
 *                            /dashboard.css and /dashboard.js (compiled
 *                            in), so its Content-Security-Policy allows
 *                            no inline script or style
 *   GET  /api/ops            live ops (cx_registry_to_json(): "live", with
 *                            "history" empty); filters in the query string:
 *                            status=running|completed|..., name=EXACT,
 *                            pattern=GLOB, contains=TEXT (a
 *                            case-insensitive substring of the name;
 *                            refused by an aggregate source that cannot
 *                            carry it to a cancel), parent=ID (an unknown
 *                            or empty
 *                            argument is a 400, here and on POSTs)
 *   GET  /api/history        the same with the history of finished ops
 *   GET  /api/ops/{id}       one op, live or in the history
 *                            (cx_op_to_json()), 404 if none
 *   GET  /api/stats          cx_registry_get_stats() as JSON
 *                            (cx_registry_stats_to_json())
 *   GET  /api/events         Server-Sent Events: every op's events
 *                            (cancelable/events.h) as JSON, the frame id
 *                            its seq; with Last-Event-ID, exactly the
 *                            frames after that event while it is among
 *                            the last 1024 kept, else an "event: reset"
 *                            frame first (a client that falls 1024 behind
 *                            gets one too; seqs start again when the
 *                            program does, and an id of an earlier run
 *                            that matches a kept frame resumes there); a
 *                            comment heartbeat every 10 s
 *   GET  /metrics            the Prometheus text format: live registered
 *                            ops by status, finished totals by status,
 *                            duration sum and count (the registry's), and
 *                            since the server started: exits by status and
 *                            reason, progress events, events lost
 *   POST /api/ops/{id}/cancel    cancel one live op (reason MANUAL)
 *   POST /api/cancel?FILTERS     cancel every live op matching (at least
 *                                one filter is required)
 *
 * Safety, by default: it listens on 127.0.0.1 only; it is read-only unless
 * the program sets cx_http_options.allow_cancel, and then a POST needs
 * "Authorization: Bearer TOKEN" (a random 256-bit token unless the program
 * gives one; compared in constant time); the Host header must name this
 * server (127.0.0.1, localhost, [::1] or the bound address, with the
 * port unless it is 80; any case), which defeats DNS rebinding, so a
 * wildcard address (0.0.0.0, ::) serves only clients that name it; no
 * CORS headers are sent; request bodies are refused (413) before any byte
 * is read.  The {id} of a path is percent-encoded (as JavaScript's
 * encodeURIComponent() does), so any id can be addressed: "a/b" as
 * /api/ops/a%2Fb.
 * Errors: 400 bad filter or id escape, 401 missing or wrong token, 403 bad
 * Host or cancelling disabled, 404 unknown path or id, 405 wrong method
 * (with an Allow header: "GET, HEAD" or "POST"), 413 a body, 414 a request
 * target over 8 KiB, 431 request headers over 8 KiB in all, 503 out of
 * memory or more clients than max_clients; each with {"error": "..."}.
 * The exception: a request line and headers that do not fit in the 32 KiB
 * a connection may use at all get libmicrohttpd's own 414 or 431, whose
 * body is a line of HTML (libmicrohttpd has no hook for it).
 * Responses are built before they are written: no library lock is held
 * while writing to a socket; each connection has its own thread, so a
 * slow client delays nobody else, and max_clients bounds them.
 *
 * Aggregate mode: with cx_http_options.source the list and the cancels
 * come from the program instead of this process's registry, so that one
 * dashboard shows and cancels the ops of many processes (`cancelable ps
 * --nats=URL --serve` feeds it from libcancelable-nats: cx_nats_list() and
 * cx_nats_cancel()).  GET /api/ops and /api/history then answer the
 * source's list, each op with a "node" (the page shows a node column, and
 * polls every 2 s, the event stream being this process's), and "aggregate":
 * true; the POSTs call the source's cancel; /api/ops/{id}, /api/stats,
 * /api/events and /metrics still describe this process alone.  This
 * library does not link any transport: the source is two callbacks.
 *
 * Every function may be called from any thread. */
#ifndef CANCELABLE_HTTP_H
#define CANCELABLE_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <cancelable/registry.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CX_BUILDING_ADAPTER)
#define CX_HTTP_EXPORT __attribute__((visibility("default")))
#else
#define CX_HTTP_EXPORT
#endif

/* Where aggregate mode (above) takes its ops from.  Both callbacks run on
 * the request's thread, possibly on several at once, and may block (a
 * slow one delays only its client). */
typedef struct cx_http_source {
  /* list: the live ops matching @filter (never NULL; its status is -1 for
   * any), as JSON in /api/ops's shape: {"live":[OP...]}, each OP as
   * cx_registry_to_json() writes it (the page needs "id", "name",
   * "status") plus "node", the process it runs in; the server adds
   * "aggregate":true (the page then shows the node column).
   * @json: receives a NUL-terminated string (transfer full: free()).
   * Returns 0, or a negative errno (then the request gets 503 with
   * cx_strerror() as its error). */
  int (*list)(void *data, const cx_op_filter *filter, char **json);
  /* cancel: cancel the op with @id on every node, or (@id NULL) every op
   * matching @filter (never NULL, and it names something).  Returns how
   * many were cancelled (0 for an id: the request gets 404), or a
   * negative errno (503 with cx_strerror()). */
  long (*cancel)(void *data, const char *id, const cx_op_filter *filter);
  void *data; /* (nullable) passed to both, owned by the program; it must
                 outlive the server */
} cx_http_source;

/* Options for cx_http_start().  Initialise with CX_HTTP_OPTIONS_INIT. */
typedef struct cx_http_options {
  size_t size;          /* sizeof(cx_http_options) */
  const char *address;  /* (nullable) IPv4 or IPv6 address to listen on;
                           NULL: "127.0.0.1" */
  unsigned port;        /* TCP port; 0 picks a free one (cx_http_port()) */
  bool allow_cancel;    /* enable the POST endpoints (default false) */
  const char *token;    /* (nullable) the bearer token POSTs need (copied,
                           1..256 printable characters); NULL: a random one
                           (cx_http_token()) */
  unsigned max_clients; /* connections served at once (0: 64); up to
                           max_clients / 4 + 4 more are answered 503
                           {"error": "too many clients"} (with
                           Retry-After: 1) and closed, and libmicrohttpd
                           closes any beyond those unanswered */
  const cx_http_source *source; /* (nullable) aggregate mode (copied; both
                                   callbacks required); NULL: this
                                   process's registry.  Since 0.1; a size
                                   that ends before it means NULL */
} cx_http_options;

#define CX_HTTP_OPTIONS_INIT \
  { sizeof(cx_http_options), NULL, 0, false, NULL, 0, NULL }

typedef struct cx_http_server cx_http_server;

/* cx_http_start: start serving on a thread of the server's own.
 * @opts: (nullable) NULL for the defaults.
 * @out: (not nullable) receives the server (transfer full: cx_http_stop()).
 * Returns: 0.  Errors: -EINVAL bad options (size, address, port above
 *   65535, token, a source without both callbacks); -EADDRINUSE or
 *   another errno when the socket cannot be bound; -ENOMEM.  On error
 *   *@out is NULL.
 * Thread-safety: any thread.  Since: 0.1 */
CX_HTTP_EXPORT int cx_http_start(const cx_http_options *opts,
                                 cx_http_server **out);

/* cx_http_port: the TCP port the server listens on.
 * Thread-safety: any thread.  Since: 0.1 */
CX_HTTP_EXPORT unsigned cx_http_port(const cx_http_server *server);

/* cx_http_token: the bearer token POSTs need, or NULL when cancelling is
 * not allowed.
 * Returns: (transfer none) valid until cx_http_stop().
 * Thread-safety: any thread.  Since: 0.1 */
CX_HTTP_EXPORT const char *cx_http_token(const cx_http_server *server);

/* cx_http_stop: close the socket, end the connections (clients see them
 * closed) and free the server.  Returns when no request runs any more.
 * @server: (nullable).  Thread-safety: any thread but a request's.
 * Since: 0.1 */
CX_HTTP_EXPORT void cx_http_stop(cx_http_server *server);

#ifdef __cplusplus
}
#endif

#endif /* CANCELABLE_HTTP_H */
