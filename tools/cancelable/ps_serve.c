/* tools/cancelable/ps_serve.c - `cancelable ps --nats=URL --serve[=ADDR]`:
 * the HTTP dashboard in aggregate mode (cancelable/http.h's
 * cx_http_source), fed by libcancelable-nats: each GET /api/ops is a
 * cx_nats_list(), each POST a cx_nats_cancel().  Needs both adapters
 * (CX_TOOL_HAVE_NATS and CX_TOOL_HAVE_HTTP); neither library links the
 * other, this file is the only place they meet. */
#include "ps_serve.h"

#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tool.h"

#if defined(CX_TOOL_HAVE_NATS) && defined(CX_TOOL_HAVE_HTTP)
#include <cancelable/http.h>

#include "cxu_json.h"

#define CANCEL_MESSAGE "from the dashboard"

typedef struct aggregate {
  cx_nats *nats;
  double wait; /* seconds each listing and cancel collects answers */
} aggregate;

/* Whether @needle occurs in @hay, ASCII letters compared without case
 * (as the registry's name_contains). */
static bool contains_nocase(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay != '\0'; hay++)
    if (strncasecmp(hay, needle, n) == 0) return true;
  return n == 0;
}

/* Whether @o passes @f (as cx_registry_list() filters; the HTTP adapter
 * sets no age, time or predicate field). */
static bool matches(const cx_op_filter *f, const cx_nats_op_info *o) {
  if (f->status >= 0 && (int)o->status != f->status) return false;
  if (f->name != NULL && (o->name == NULL || strcmp(f->name, o->name) != 0))
    return false;
  if (f->name_pattern != NULL &&
      (o->name == NULL || fnmatch(f->name_pattern, o->name, 0) != 0))
    return false;
  if (f->name_contains != NULL &&
      (o->name == NULL || !contains_nocase(o->name, f->name_contains)))
    return false;
  if (f->parent_id != NULL &&
      (o->parent_id == NULL || strcmp(f->parent_id, o->parent_id) != 0) &&
      (o->remote_parent_id == NULL ||
       strcmp(f->parent_id, o->remote_parent_id) != 0))
    return false;
  return true;
}

static int list_ops(void *data, const cx_op_filter *f, char **json) {
  aggregate *a = data;
  cx_nats_op_list l;
  cxu_json j;
  int rc = cx_nats_list(a->nats, a->wait, &l);
  if (rc != 0) return rc;
  cxu_json_init(&j);
  cxu_json_object_begin(&j);
  cxu_json_key(&j, "live");
  cxu_json_array_begin(&j);
  for (size_t i = 0; i < l.count; i++)
    if (matches(f, &l.ops[i])) ps_put_op_json(&j, &l.ops[i]);
  cxu_json_array_end(&j);
  cxu_json_key(&j, "history");
  cxu_json_array_begin(&j);
  cxu_json_array_end(&j);
  cxu_json_object_end(&j);
  cx_nats_op_list_free(&l);
  if ((rc = cxu_json_error(&j)) != 0) {
    cxu_json_free(&j);
    return rc;
  }
  *json = j.buf;
  return 0;
}

static long cancel_ops(void *data, const char *id, const cx_op_filter *f) {
  aggregate *a = data;
  return cx_nats_cancel(a->nats, id, id != NULL ? NULL : f, CANCEL_MESSAGE,
                        a->wait, NULL);
}

int ps_serve(cx_nats *nats, double wait, const serve_address *addr,
             bool allow_cancel) {
  aggregate a = {nats, wait};
  cx_http_source source = {list_ops, cancel_ops, &a};
  serve_server *server = NULL;
  sigset_t stop;
  int sig;
  /* The signals that end the serving, taken by sigwait() alone (the
   * server's threads start with every signal blocked). */
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  if (serve_start(addr, allow_cancel, &source, stdout, &server) != 0)
    return EXIT_TOOL_ERROR;
  while (sigwait(&stop, &sig) != 0) continue;
  serve_stop(server);
  return 0;
}

#elif defined(CX_TOOL_HAVE_NATS)

int ps_serve(cx_nats *nats, double wait, const serve_address *addr,
             bool allow_cancel) {
  (void)nats, (void)wait, (void)addr, (void)allow_cancel;
  fprintf(stderr,
          "cancelable ps: --serve needs libcancelable-http, which this "
          "build lacks (install libmicrohttpd-dev and build again)\n");
  return EXIT_TOOL_ERROR;
}

#endif
