/* src/run/run.c - run helpers: a fresh op per call (cx_run), an existing
 * shared op (cx_run_in), the current op (cx_with_current), scopes and
 * wrapped calls. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cancelable/registry.h>
#include <cancelable/run.h>
#include <cancelable/wait.h>

#include "op/op.h"
#include "runtime/alloc.h"

/* Builds the op described by @o (not entered). */
static int make_op(const cx_run_options *o, const char *name, cx_op **out) {
  cx_op_options oo = CX_OP_OPTIONS_INIT;
  cx_op *op;
  cx_source *src;
  int rc;
  oo.name = name;
  oo.timeout = o->timeout;
  oo.parent = o->parent;
  oo.register_op = o->register_op;
  rc = cx_op_create(&op, &oo);
  if (rc != 0) return rc;
  /* A token of its own that follows the caller's: the run's sources cancel
   * the run, never the caller's token (which later runs use again). */
  if (o->token != NULL)
    rc = cx_token_link(op->token, o->token, CX_LINK_PRESERVE_REASON);
  if (rc == 0 && o->watch_signals) {
    rc = cx_source_signal(&src, o->signals, o->signal_count);
    if (rc == 0 && (rc = cx_op_add_source(op, src)) != 0) cx_source_free(src);
  }
  if (rc == 0 && o->condition != NULL) {
    rc = cx_source_condition(&src, o->condition, o->condition_data, NULL,
                             o->condition_interval, name);
    if (rc == 0 && (rc = cx_op_add_source(op, src)) != 0) cx_source_free(src);
  }
  if (rc != 0) {
    cx_op_unref(op);
    return rc;
  }
  *out = op;
  return 0;
}

static int validate(const cx_run_options *o) {
  if (o->size < sizeof(cx_run_options)) return -EINVAL;
  if (o->timeout != 0 && !(isfinite(o->timeout) && o->timeout > 0))
    return -EINVAL;
  if (o->condition_interval != 0 &&
      !(isfinite(o->condition_interval) && o->condition_interval > 0))
    return -EINVAL;
  return 0;
}

static int run_named(const cx_run_options *opts, const char *name, cx_run_fn fn,
                     void *user_data, cx_op **out_op) {
  cx_run_options defaults = CX_RUN_OPTIONS_INIT;
  cx_op *op;
  int rc;
  if (out_op != NULL) *out_op = NULL;
  if (opts == NULL) opts = &defaults;
  if (fn == NULL) return -EINVAL;
  rc = validate(opts);
  if (rc == 0) rc = make_op(opts, name, &op);
  if (rc != 0) return rc;
  rc = cx_op_enter(op);
  if (rc != 0) {
    cx_op_unref(op);
    return rc;
  }
  rc = cx_check(op);
  if (rc == 0) rc = fn(op, user_data);
  cx_op_exit(op, rc);
  if (out_op != NULL)
    *out_op = op;
  else
    cx_op_unref(op);
  return rc;
}

int cx_run(const cx_run_options *opts, cx_run_fn fn, void *user_data,
           cx_op **out_op) {
  const char *name = opts != NULL && opts->name != NULL ? opts->name : "run";
  return run_named(opts, name, fn, user_data, out_op);
}

int cx_run_method(const char *type_name, const char *method_name,
                  const cx_run_options *opts, cx_run_fn fn, void *user_data,
                  cx_op **out_op) {
  char *name;
  size_t len;
  int rc;
  if (out_op != NULL) *out_op = NULL;
  if (type_name == NULL || method_name == NULL) return -EINVAL;
  len = strlen(type_name) + strlen(method_name) + 2;
  name = cx__malloc(len);
  if (name == NULL) return -ENOMEM;
  snprintf(name, len, "%s.%s", type_name, method_name);
  rc = run_named(opts, name, fn, user_data, out_op);
  cx__free(name);
  return rc;
}

int cx_run_in(cx_op *op, cx_run_fn fn, void *user_data) {
  cx_adoption saved;
  int rc;
  if (op == NULL || fn == NULL) return -EINVAL;
  if (atomic_load(&op->status) != CX_STATUS_RUNNING &&
      atomic_load(&op->status) != CX_STATUS_SHIELDED)
    return -EINVAL;
  if (cx_token_is_cancelled(op->token)) return -ECANCELED;
  if (cx__current_scope() == op) return fn(op, user_data);
  cx_current_adopt(op, &saved);
  rc = fn(op, user_data);
  cx_current_restore(&saved);
  return rc;
}

int cx_with_current(cx_run_fn fn, void *user_data) {
  if (fn == NULL) return -EINVAL;
  return fn(cx_current(), user_data);
}

cx_scope_state cx_scope_begin(cx_op *op, int *result) {
  cx_scope_state st = {op, result, 0, 0};
  int rc = cx_op_enter(op);
  if (rc == 0) {
    st.entered = 1;
    st.once = 1;
  }
  if (result != NULL) *result = rc;
  return st;
}

void cx_scope_end(cx_scope_state *st) {
  if (st != NULL && st->entered) {
    cx_op_exit(st->op, st->result != NULL ? *st->result : 0);
    st->entered = 0;
  }
}

cx_wrapped cx_wrap(cx_op *op, cx_run_fn fn) {
  cx_wrapped w;
  w.op = op;
  w.fn = fn;
  return w;
}

int cx_wrapped_call(const cx_wrapped *w, void *user_data) {
  cx_op *op;
  if (w == NULL || w->fn == NULL) return -EINVAL;
  if (cx_check(w->op) != 0) return -ECANCELED; /* NULL: a shield's too */
  op = w->op != NULL ? w->op : cx_current();
  return w->fn(op, user_data);
}
