/* src/run/thread.c - carrying the current op to other threads: adoption
 * (thread pools) and cx_thread_create (run_in_thread). */
#include <cancelable/run.h>

#include "op/op.h"
#include "runtime/alloc.h"

/* The layout behind the opaque cx_adoption. */
typedef struct adoption {
  cx__frame frame;
  cx_op *op; /* owned ref, or NULL */
} adoption;

_Static_assert(sizeof(adoption) <= sizeof(cx_adoption),
               "cx_adoption is too small");

int cx_current_adopt(cx_op *op, cx_adoption *saved) {
  adoption *a = (adoption *)(void *)saved;
  if (saved == NULL) return -EINVAL;
  if (cx__current_reserve() != 0) return -ENOMEM;
  a->op = cx_op_ref(op);
  cx__current_push(&a->frame, op, true);
  return 0;
}

int cx_current_restore(cx_adoption *saved) {
  adoption *a = (adoption *)(void *)saved;
  if (saved == NULL) return -EINVAL;
  if (!cx__current_pop(&a->frame)) return -EPERM;
  cx_op_unref(a->op);
  a->op = NULL;
  return 0;
}

typedef struct start_ctx {
  void *(*start)(void *);
  void *arg;
  cx_op *op; /* owned ref */
} start_ctx;

static void *trampoline(void *p) {
  start_ctx ctx = *(start_ctx *)p;
  cx_adoption saved;
  void *rv;
  cx__free(p);
  cx_current_adopt(ctx.op, &saved);
  cx_op_unref(ctx.op); /* the adoption holds its own reference */
  rv = ctx.start(ctx.arg);
  cx_current_restore(&saved);
  return rv;
}

int cx_thread_create(pthread_t *thread, const pthread_attr_t *attr,
                     void *(*start)(void *), void *arg) {
  start_ctx *ctx;
  int rc;
  if (thread == NULL || start == NULL) return -EINVAL;
  ctx = cx__malloc(sizeof *ctx);
  if (ctx == NULL) return -ENOMEM;
  ctx->start = start;
  ctx->arg = arg;
  ctx->op = cx_op_ref(cx__current_scope()); /* a shield's, inside one */
  rc = pthread_create(thread, attr, trampoline, ctx);
  if (rc != 0) {
    cx_op_unref(ctx->op);
    cx__free(ctx);
    return -rc;
  }
  return 0;
}
