/* src/sources/source.c - the list of sources of an operation. */
#include "sources/sources.h"

int cx__op_add_source(cx_op *op, cx__source *src) {
  cx__stripe *s = cx__stripe_for(op);
  int rc = 0;
  pthread_mutex_lock(&s->mu);
  if (atomic_load(&op->status) != CX_STATUS_PENDING) {
    rc = -EBUSY;
  } else {
    cx__source **tail = &op->sources;
    while (*tail != NULL) tail = &(*tail)->next;
    src->op = op;
    src->next = NULL;
    *tail = src;
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}

int cx__sources_start(cx_op *op, int64_t now) {
  for (cx__source *src = op->sources; src != NULL; src = src->next) {
    int rc = src->ops->start(src, now);
    if (rc != 0) {
      for (cx__source *s = op->sources; s != src; s = s->next)
        s->ops->stop(s);
      return rc;
    }
  }
  return 0;
}

void cx__sources_stop(cx_op *op) {
  for (cx__source *src = op->sources; src != NULL; src = src->next)
    src->ops->stop(src);
}

void cx__sources_free(cx_op *op) {
  cx__source *src = op->sources;
  op->sources = NULL;
  while (src != NULL) {
    cx__source *next = src->next;
    src->ops->destroy(src);
    src = next;
  }
}

int64_t cx__sources_deadline(const cx_op *op) {
  int64_t best = CX__NO_DEADLINE;
  for (const cx__source *src = op->sources; src != NULL; src = src->next) {
    if (src->ops->deadline != NULL) {
      int64_t d = src->ops->deadline(src);
      if (d < best) best = d;
    }
  }
  return best;
}
