/* src/op/op_sources.c - the sources an op runs from its enter to its exit:
 * attaching them, ops made with one source, and combined ops. */
#include "op/op.h"
#include "runtime/sync.h"
#include "sources/condition.h"
#include "sources/sources.h"

int cx_op_add_source(cx_op *op, cx_source *src) {
  cx__stripe *s;
  int rc = 0;
  if (op == NULL || src == NULL || src->owned) return -EINVAL;
  s = cx__stripe_for(op);
  pthread_mutex_lock(&s->mu);
  if (atomic_load(&op->status) != CX_STATUS_PENDING)
    rc = -EBUSY;
  else
    cx__sources_append(&op->sources, src);
  pthread_mutex_unlock(&s->mu);
  return rc;
}

/* Creates an op named @name and attaches @src; frees @src on failure. */
static int op_with_source(cx_op **out, cx_source *src, const char *name) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  int rc;
  o.name = name;
  rc = cx_op_create(out, &o);
  if (rc == 0) rc = cx_op_add_source(*out, src);
  if (rc != 0) {
    cx_op_unref(*out);
    *out = NULL;
    cx_source_free(src);
  }
  return rc;
}

int cx_op_with_signal(cx_op **out, const int *signals, size_t count,
                      const char *name) {
  cx_source *src;
  int rc;
  if (out == NULL) return -EINVAL;
  *out = NULL;
  rc = cx_source_signal(signals, count, &src);
  return rc != 0 ? rc : op_with_source(out, src, name);
}

int cx_op_with_condition(cx_op **out, cx_predicate_fn predicate,
                         void *user_data, void (*destroy)(void *),
                         double interval, const char *name) {
  cx_source *src;
  int rc;
  if (out == NULL) return -EINVAL;
  *out = NULL;
  /* Without a destroy notify first, so that a failure below leaves the user
   * data with the caller, as documented. */
  rc = cx_source_condition(predicate, user_data, NULL, interval, name, &src);
  if (rc != 0) return rc;
  rc = op_with_source(out, src, name);
  if (rc == 0) cx__condition_adopt_destroy(src, destroy);
  return rc;
}

int cx_op_combine(cx_op **out, cx_op *const *ops, size_t count,
                  const char *name) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  int rc;
  if (out == NULL) return -EINVAL;
  *out = NULL;
  if (ops == NULL || count == 0) return -EINVAL;
  for (size_t i = 0; i < count; i++)
    if (ops[i] == NULL) return -EINVAL;
  o.name = name != NULL ? name : "combined";
  rc = cx_op_create(out, &o);
  for (size_t i = 0; rc == 0 && i < count; i++)
    rc = cx_token_link((*out)->token, ops[i]->token, CX_LINK_PRESERVE_REASON);
  if (rc != 0) {
    cx_op_unref(*out);
    *out = NULL;
  }
  return rc;
}
