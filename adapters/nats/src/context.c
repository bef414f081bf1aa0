/* adapters/nats/src/context.c - remote hierarchies (filled in with the
 * context string). */
#include <stdlib.h>

#include "nats_internal.h"

char *nats_remote_parent(cx_nats *n, const char *op_id) {
  (void)n;
  (void)op_id;
  return NULL;
}

long nats_cancel_remote_children(cx_nats *n, const nreq *r) {
  (void)n;
  (void)r;
  return 0;
}

void nats_op_ended(cx_nats *n, const cx_event *e) {
  (void)n;
  (void)e;
}

void nats_links_free(cx_nats *n) { (void)n; }
