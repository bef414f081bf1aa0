/* tools/cancelable/bus.c - `run --nats`: attach, the op made from the
 * inherited context, the context passed on (see bus.h). */
#include "bus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef CX_TOOL_HAVE_NATS
#include <cancelable/nats.h>

struct bus {
  cx_nats *nats;
};

int bus_attach(const char *prog, const char *url, bus **out) {
  cx_nats_options o = CX_NATS_OPTIONS_INIT;
  bus *b = calloc(1, sizeof(*b));
  if (b == NULL) return -ENOMEM;
  o.servers = url;
  o.reconnect_wait = 0.2;
  int rc = cx_nats_attach(&o, &b->nats);
  if (rc != 0) {
    fprintf(stderr, "%s: cannot attach to NATS at '%s': %s\n", prog, url,
            cx_strerror(rc));
    free(b);
    return rc;
  }
  *out = b;
  return 0;
}

int bus_create_op(bus *b, const cx_op_options *opts, cx_op **out) {
  const char *context = getenv(CX_NATS_CONTEXT_ENV);
  if (context != NULL && *context != '\0')
    return cx_nats_op_create(b->nats, context, opts, out);
  return cx_op_create(out, opts);
}

int bus_export(bus *b, cx_op *op) {
  char *context = NULL;
  int rc = cx_nats_context(b->nats, op, &context);
  if (rc == 0 && setenv(CX_NATS_CONTEXT_ENV, context, 1) != 0) rc = -errno;
  free(context);
  return rc;
}

void bus_detach(bus *b) {
  if (b == NULL) return;
  cx_nats_detach(b->nats);
  free(b);
}

#else /* !CX_TOOL_HAVE_NATS */

int bus_attach(const char *prog, const char *url, bus **out) {
  (void)url;
  (void)out;
  fprintf(stderr,
          "%s: this cancelable was built without NATS support "
          "(libcancelable-nats: apt-get install libnats-dev, then rebuild)\n",
          prog);
  return -ENOTSUP;
}

int bus_create_op(bus *b, const cx_op_options *opts, cx_op **out) {
  (void)b;
  return cx_op_create(out, opts);
}

int bus_export(bus *b, cx_op *op) {
  (void)b;
  (void)op;
  return -ENOTSUP;
}

void bus_detach(bus *b) { (void)b; }

#endif
