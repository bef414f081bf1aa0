/* src/run/blocking.c - run a blocking call until cancelled (tokio's
 * run_until_cancelled): the call runs on a detached thread of its own, the
 * caller waits for whichever comes first, its end or the cancel. */
#include <pthread.h>
#include <stdatomic.h>

#include <cancelable/op.h>
#include <cancelable/run.h>
#include <cancelable/token.h>

#include "op/op.h"
#include "runtime/alloc.h"

/* One call, shared by the caller and the call's thread. */
typedef struct blocking_call {
  _Atomic unsigned refs; /* (atomic) the caller's and the thread's */
  _Atomic bool done;     /* (atomic) set (release) once result is written */
  int result;            /* written by the thread before done */
  cx_blocking_fn fn;     /* immutable */
  void *arg;             /* immutable */
  void (*destroy)(void *);
  cx_token *wake; /* immutable (owned): follows the watched token, and the
                     thread cancels it when the call has returned */
} blocking_call;

static void call_unref(blocking_call *c) {
  if (atomic_fetch_sub(&c->refs, 1) != 1) return;
  cx_token_unref(c->wake);
  cx__free(c);
}

static void *call_main(void *p) {
  blocking_call *c = p;
  int rc = c->fn(c->arg);
  if (c->destroy != NULL) c->destroy(c->arg);
  c->result = rc;
  atomic_store_explicit(&c->done, true, memory_order_release);
  /* Wakes the caller if it still waits; nothing if the watched token's
   * cancel got there first. */
  cx_token_cancel(c->wake, CX_REASON_MANUAL, "call returned");
  call_unref(c);
  return NULL;
}

/* Starts @c's thread, detached.  0 or a negative errno. */
static int start_detached(blocking_call *c) {
  pthread_attr_t attr;
  pthread_t th;
  int rc = pthread_attr_init(&attr);
  if (rc != 0) return -rc;
  rc = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (rc == 0) rc = pthread_create(&th, &attr, call_main, c);
  pthread_attr_destroy(&attr);
  return -rc;
}

int cx_token_run_until_cancelled(cx_token *token, cx_blocking_fn fn, void *arg,
                                 void (*destroy)(void *)) {
  blocking_call *c;
  int rc;
  if (token == NULL || fn == NULL) return -EINVAL;
  if (cx_token_is_cancelled(token)) {
    rc = -ECANCELED;
    goto not_started;
  }
  c = cx__malloc(sizeof *c);
  if (c == NULL) {
    rc = -ENOMEM;
    goto not_started;
  }
  atomic_init(&c->refs, 2);
  atomic_init(&c->done, false);
  c->result = 0;
  c->fn = fn;
  c->arg = arg;
  c->destroy = destroy;
  rc = cx_token_new_child(&c->wake, token, 0);
  if (rc == 0) rc = start_detached(c);
  if (rc != 0) {
    cx_token_unref(c->wake);
    cx__free(c);
    goto not_started;
  }
  cx_token_wait(c->wake, CX_FOREVER);
  rc = atomic_load_explicit(&c->done, memory_order_acquire) ? c->result
                                                            : -ECANCELED;
  call_unref(c);
  return rc;

not_started:
  if (destroy != NULL) destroy(arg);
  return rc;
}

int cx_run_until_cancelled(cx_op *op, cx_blocking_fn fn, void *arg,
                           void (*destroy)(void *)) {
  if (op == NULL) op = cx__current_scope(); /* a shield's, inside one */
  if (op == NULL) return -EINVAL;
  return cx_token_run_until_cancelled(cx_op_token(op), fn, arg, destroy);
}
