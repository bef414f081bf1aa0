/* tools/cancelable/serve.h - `cancelable run --serve[=ADDR]`: the run's
 * operation over HTTP (libcancelable-http: its dashboard, JSON API, event
 * stream and metrics), when the tool was built with that adapter. */
#ifndef CANCELABLE_TOOL_SERVE_H
#define CANCELABLE_TOOL_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Where to listen, parsed from --serve's argument. */
typedef struct serve_address {
  char host[64]; /* an IPv4 or IPv6 address, without brackets */
  unsigned port; /* 0: a free one */
} serve_address;

/* serve_parse_address: parse ADDR: "" or NULL (127.0.0.1, a free port),
 * "PORT", "HOST", "HOST:PORT", "[IPV6]" or "[IPV6]:PORT".  HOST must be a
 * numeric address (no name lookup) and not a wildcard (0.0.0.0, ::),
 * which the server's Host check would make answer no one.
 * Returns: 0, or -EINVAL (then @out is unchanged). */
int serve_parse_address(const char *spec, serve_address *out);

typedef struct serve_server serve_server;
struct cx_http_source; /* cancelable/http.h, when the tool has it */

/* serve_start: serve the registry (or, with @source, aggregate mode: the
 * ops @source gives, `cancelable ps --serve`) on @addr and print the
 * dashboard's URL on @say (with "#token=..." when @allow_cancel).
 * Returns: 0, -ENOTSUP when the tool was built without the HTTP adapter
 *   (said on stderr), or the error of cx_http_start() (said on stderr). */
int serve_start(const serve_address *addr, bool allow_cancel,
                const struct cx_http_source *source, FILE *say,
                serve_server **out);

/* serve_stop: stop serving (NULL: nothing). */
void serve_stop(serve_server *server);

#endif /* CANCELABLE_TOOL_SERVE_H */
