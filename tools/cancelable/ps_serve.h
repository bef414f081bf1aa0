/* tools/cancelable/ps_serve.h - `cancelable ps --nats=URL --serve`: one
 * dashboard for the ops of every node (the HTTP adapter's aggregate mode
 * fed by the NATS adapter), when the tool has both adapters. */
#ifndef CANCELABLE_TOOL_PS_SERVE_H
#define CANCELABLE_TOOL_PS_SERVE_H

#include <stdbool.h>

#include "serve.h"

#ifdef CX_TOOL_HAVE_NATS
#include <cancelable/nats.h>

#include "cxu_json.h"

/* ps_put_op_json: @o as the JSON object `ps --json` and the aggregate
 * dashboard show: {"node","id","name","status","parent_id",
 * "remote_parent_id","elapsed"}. */
void ps_put_op_json(cxu_json *j, const cx_nats_op_info *o);

/* ps_serve: serve the aggregate dashboard on @addr (its URL printed on
 * stdout) until SIGINT, SIGTERM or SIGHUP; each listing and cancel
 * collects answers for @wait seconds; with @allow_cancel the page may
 * cancel (through cx_nats_cancel(), so on any node).
 * Returns: the exit status: 0 after a signal; 125 when the server could
 *   not start or the tool lacks the HTTP adapter (said on stderr). */
int ps_serve(cx_nats *nats, double wait, const serve_address *addr,
             bool allow_cancel);
#endif

#endif /* CANCELABLE_TOOL_PS_SERVE_H */
