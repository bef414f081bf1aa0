/* src/progress/stream_open.c - a stream with an op of its own (the
 * reference's cancelable_stream()): made and entered at the open, exited
 * when the stream tells its consumer it has ended, or at its free. */
#include <math.h>

#include <cancelable/progress.h>

#include "base/base.h"
#include "op/op.h"
#include "progress/stream.h"

/* The stream's op: name, parent, timeout, and a token of its own that
 * follows the caller's (so the caller's token is never spent). */
static int make_op(const cx_stream_options *o, cx_op **out) {
  cx_op_options oo = CX_OP_OPTIONS_INIT;
  int rc;
  oo.name = o->name != NULL ? o->name : "stream";
  oo.parent = o->parent;
  oo.timeout = o->timeout;
  rc = cx_op_create(out, &oo);
  if (rc != 0 || o->token == NULL) return rc;
  rc = cx_token_link(cx_op_token(*out), o->token, CX_LINK_PRESERVE_REASON);
  if (rc != 0) {
    cx_op_unref(*out);
    *out = NULL;
  }
  return rc;
}

int cx_stream_open(cx_stream **out, cx_stream_next_fn next, void *state,
                   const cx_stream_options *opts) {
  cx_stream_options defaults = CX_STREAM_OPTIONS_INIT;
  cx_op *op = NULL;
  int rc;
  if (out != NULL) *out = NULL;
  if (opts == NULL) opts = &defaults;
  if (next == NULL || out == NULL || !cx__stream_options_valid(opts) ||
      !(isfinite(opts->timeout) && opts->timeout >= 0))
    return -EINVAL;
  rc = make_op(opts, &op);
  if (rc == 0) rc = cx__stream_alloc(op, op, next, state, opts, out);
  cx_op_unref(op); /* the stream holds its own reference */
  if (rc != 0) return rc;
  rc = cx_op_enter(op);
  if (rc != 0) {
    cx_stream_free(*out); /* not owning the op yet: nothing to exit */
    *out = NULL;
    return rc;
  }
  (*out)->owns_op = true;
  return 0;
}

void cx__stream_exit_op(cx_stream *s) {
  int rc;
  if (!s->owns_op || s->op_exited || !s->ended) return;
  rc = cx_op_exit(s->op, s->outcome);
  if (rc == 0) {
    s->op_exited = true;
    return;
  }
  cx__log(CX_LOG_WARNING, cx_op_id(s->op),
          "stream '%s' could not exit its op (%s): exit the ops entered "
          "inside it first",
          cx_op_name(s->op), cx_err_name(rc));
}
