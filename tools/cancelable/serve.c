/* tools/cancelable/serve.c - `cancelable run --serve[=ADDR]` on
 * libcancelable-http (CX_TOOL_HAVE_HTTP), or a clear error without it. */
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef CX_TOOL_HAVE_HTTP
#include <cancelable/http.h>
#include <pthread.h>
#endif

#define PROG "cancelable run"

/* A port number of 0..65535, all digits. */
static int parse_port(const char *s, unsigned *out) {
  char *end;
  unsigned long v;
  if (*s < '0' || *s > '9') return -EINVAL;
  errno = 0;
  v = strtoul(s, &end, 10);
  if (errno != 0 || *end != '\0' || v > 65535) return -EINVAL;
  *out = (unsigned)v;
  return 0;
}

/* Whether @host is a numeric IPv4 or IPv6 address. */
static bool numeric_host(const char *host) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, host, buf) == 1 ||
         inet_pton(AF_INET6, host, buf) == 1;
}

/* Whether @host (numeric) is the any-address, 0.0.0.0 or ::.  The server
 * answers only requests whose Host names its address, which no client
 * does with a wildcard: refused, the machine's own address works. */
static bool wildcard_host(const char *host) {
  unsigned char buf[sizeof(struct in6_addr)];
  static const unsigned char zero[sizeof(struct in6_addr)];
  if (inet_pton(AF_INET, host, buf) == 1) return memcmp(buf, zero, 4) == 0;
  return inet_pton(AF_INET6, host, buf) == 1 &&
         memcmp(buf, zero, sizeof zero) == 0;
}

int serve_parse_address(const char *spec, serve_address *out) {
  serve_address a = {"127.0.0.1", 0};
  const char *colon, *host = spec;
  size_t hostlen;
  if (spec == NULL || *spec == '\0') goto done;
  if (parse_port(spec, &a.port) == 0) goto done; /* "PORT" */
  if (*spec == '[') {                            /* "[V6]" or "[V6]:PORT" */
    const char *close = strchr(spec, ']');
    if (close == NULL || (close[1] != '\0' && close[1] != ':')) return -EINVAL;
    host = spec + 1;
    hostlen = (size_t)(close - host);
    colon = close[1] == ':' ? close + 1 : NULL;
  } else {
    colon = strrchr(spec, ':');
    if (colon != NULL && strchr(spec, ':') != colon) colon = NULL; /* V6 */
    hostlen = colon != NULL ? (size_t)(colon - spec) : strlen(spec);
  }
  if (hostlen == 0 || hostlen >= sizeof a.host) return -EINVAL;
  memcpy(a.host, host, hostlen);
  a.host[hostlen] = '\0';
  if (!numeric_host(a.host) || wildcard_host(a.host)) return -EINVAL;
  if (colon != NULL && parse_port(colon + 1, &a.port) != 0) return -EINVAL;
done:
  *out = a;
  return 0;
}

#ifdef CX_TOOL_HAVE_HTTP

struct serve_server {
  cx_http_server *http;
};

/* Starts the server with every signal blocked, so that its threads never
 * take the signals the tool forwards or waits for. */
static int start_blocked(const cx_http_options *o, cx_http_server **http) {
  sigset_t all, old;
  int rc;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  rc = cx_http_start(o, http);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return rc;
}

int serve_start(const serve_address *addr, bool allow_cancel,
                const struct cx_http_source *source, FILE *say,
                serve_server **out) {
  cx_http_options o = CX_HTTP_OPTIONS_INIT;
  serve_server *s = calloc(1, sizeof *s);
  bool v6 = strchr(addr->host, ':') != NULL;
  const char *prog = source != NULL ? "cancelable ps" : PROG;
  int rc;
  *out = NULL;
  if (s == NULL) return -ENOMEM;
  o.address = addr->host;
  o.port = addr->port;
  o.allow_cancel = allow_cancel;
  o.source = source;
  rc = start_blocked(&o, &s->http);
  if (rc != 0) {
    if (addr->port != 0)
      fprintf(stderr, "%s: cannot serve on %s%s%s:%u: %s\n", prog,
              v6 ? "[" : "", addr->host, v6 ? "]" : "", addr->port,
              strerror(-rc));
    else
      fprintf(stderr, "%s: cannot serve on %s: %s\n", prog, addr->host,
              strerror(-rc));
    free(s);
    return rc;
  }
  fprintf(say, "%s: dashboard at http://%s%s%s:%u/%s%s\n", prog, v6 ? "[" : "",
          addr->host, v6 ? "]" : "", cx_http_port(s->http),
          allow_cancel ? "#token=" : "",
          allow_cancel ? cx_http_token(s->http) : "");
  fflush(say);
  *out = s;
  return 0;
}

void serve_stop(serve_server *server) {
  if (server == NULL) return;
  cx_http_stop(server->http);
  free(server);
}

#else /* !CX_TOOL_HAVE_HTTP */

int serve_start(const serve_address *addr, bool allow_cancel,
                const struct cx_http_source *source, FILE *say,
                serve_server **out) {
  (void)addr, (void)allow_cancel, (void)source, (void)say;
  *out = NULL;
  fprintf(stderr, PROG
          ": --serve needs libcancelable-http, which this build lacks "
          "(install libmicrohttpd-dev and build again)\n");
  return -ENOTSUP;
}

void serve_stop(serve_server *server) { (void)server; }

#endif
