/* cancelable/nats.h - libcancelable-nats: cancel operations across processes
 * and machines over NATS (an optional adapter, on libnats; link with
 * `pkg-config --libs cancelable-nats`, or the CMake target cancelable::nats).
 *
 * A process attaches to a NATS server (or cluster) under a node name.  Any
 * attached process may then cancel ops of every node by id, name pattern,
 * parent id or status, and learns how many ops each node cancelled (as
 * Celery's broadcast revoke with replies).  A cancel is also kept in a
 * JetStream key-value bucket for a time to live: a node that was
 * disconnected applies the cancels it missed when it reconnects, and an op
 * that starts later and matches a live entry is cancelled as it starts (a
 * revoke before start, as Celery's revoked list and Temporal's durable
 * cancel requests).  An op may be the child of an op of another process: a
 * small context string (cx_nats_context()) carries the parent's id, node
 * and remaining time, the way gRPC carries grpc-timeout, in a NATS header
 * (CX_NATS_CONTEXT_HEADER), an environment variable (CX_NATS_CONTEXT_ENV)
 * or any other transport; cx_nats_op_create() makes the child, which
 * inherits the deadline and is cancelled with reason PARENT when the
 * remote parent is cancelled or ends.
 *
 * What it reaches: the ops of the registry (cancelable/registry.h).
 * Attaching makes registration the default (cx_registry_set_default(true));
 * an op created with register_op false after that is out of reach.
 *
 * A remote cancel has reason MANUAL (PARENT for a remote parent's cascade),
 * the message "cancelled from node NODE: MESSAGE" (or "cancelled from node
 * NODE" without one), and, once cancelled, the metadata "cancelled_by"
 * "nats" and "cancelled_by_node" NODE.
 *
 * Subjects and buckets, for a prefix P (default "cancelable"):
 *   P.cancel      cancel requests, answered by every node on the reply
 *                 subject with headers Cx-Node and Cx-Cancelled;
 *   P.ps          listing requests (cx_nats_list()), answered by every
 *                 node with its live ops;
 *   P.evt.NODE    every op's lifecycle events (cancelable/events.h), one
 *                 message each, progress at most every 0.25 s per op:
 *                 lines KEY=VALUE (%-escaped values) kind, seq, time, id,
 *                 name, parent, status, reason, error, message, progress
 *                 (the report's metadata as JSON); NODE is the node name
 *                 with '.', '*' and '>' made '_'; a burst of more
 *                 than 65536 events waiting to be published loses the
 *                 newest, and a "gap" event says how many (lost=N);
 *   P_ops         the key-value bucket of the latest snapshot of each
 *                 live registered op, key NODE.ID (bytes outside
 *                 A-Z a-z 0-9 - _ / as =XX), value as a P.ps answer's
 *                 block; deleted when the op exits, aged out by the
 *                 bucket's TTL when its node dies;
 *   P_cancels     the key-value bucket of live cancel requests (its TTL is
 *                 set by the first node that creates it).
 * One dashboard for every node: the HTTP adapter's aggregate mode
 * (cx_http_options.source in cancelable/http.h) takes a list and a cancel
 * callback; fed with cx_nats_list() and cx_nats_cancel() it shows and
 * cancels the ops of every node (`cancelable ps --nats=URL --serve` does
 * it; neither library links the other).
 * The network is all libnats's: connection, reconnection, buffering while
 * disconnected, JetStream.  Nothing local waits for the server: the
 * library's threads (libnats's and one of the adapter's) do the network;
 * timeouts, signals and the registry work with or without a server.  Those
 * threads block every signal (they start with all blocked), so a signal
 * sent to the process reaches only the application's threads.
 *
 * Every function may be called from any thread.  None is
 * async-signal-safe. */
#ifndef CANCELABLE_NATS_H
#define CANCELABLE_NATS_H

#include <stdbool.h>
#include <stddef.h>

#include <cancelable/common.h>
#include <cancelable/op.h>
#include <cancelable/registry.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CX_BUILDING_ADAPTER)
#define CX_NATS_EXPORT __attribute__((visibility("default")))
#else
#define CX_NATS_EXPORT
#endif

/* The NATS message header that carries a context string. */
#define CX_NATS_CONTEXT_HEADER "Cancelable-Context"
/* The environment variable that carries a context string to a command
 * (`cancelable run --nats` sets it). */
#define CX_NATS_CONTEXT_ENV "CANCELABLE_CONTEXT"
/* A context's absolute deadline is believed only while it agrees with its
 * relative timeout within this many seconds (the clocks' skew). */
#define CX_NATS_MAX_SKEW 1.0

/* Options for cx_nats_attach().  Initialise with CX_NATS_OPTIONS_INIT. */
typedef struct cx_nats_options {
  size_t size;           /* sizeof(cx_nats_options) */
  const char *servers;   /* (nullable) server URLs, comma-separated;
                            NULL: "nats://127.0.0.1:4222" */
  const char *node;      /* (nullable) this process's node name (1..127
                            bytes, no spaces); NULL: "HOSTNAME:PID" */
  const char *prefix;    /* (nullable) subject prefix (1..64 of
                            A-Z a-z 0-9 - _); NULL: "cancelable" */
  double reconnect_wait; /* seconds between connection attempts, > 0;
                            0: 0.5 */
  double cancel_ttl;     /* seconds a cancel request is kept in the bucket
                            when this node creates it, > 0; 0: 3600 */
  double snapshot_ttl;   /* seconds an op's snapshot lives in P_ops when
                            this node creates that bucket (each node
                            refreshes its snapshots every third of the
                            bucket's TTL, so a dead node's age out); 0: 30 */
} cx_nats_options;

#define CX_NATS_OPTIONS_INIT \
  { sizeof(cx_nats_options), NULL, NULL, NULL, 0.0, 0.0, 0.0 }

typedef struct cx_nats cx_nats;

/* cx_nats_attach: attach this process to NATS.  Makes one connection
 * attempt, then returns: a refused connection (no server) returns at
 * once, a host that does not answer at all after the connect timeout (the
 * larger of 2 s and reconnect_wait).  When the server cannot be reached
 * the connection is made in the background, retried every reconnect_wait
 * seconds forever, and so after every disconnect; each (re)connection
 * applies the stored cancels.
 * @opts: (nullable) NULL for the defaults.
 * @out: (not nullable) receives the handle (transfer full:
 *   cx_nats_detach()).
 * Returns: 0.  Errors: -EINVAL bad options (size, node, prefix, a
 *   negative or NaN time); -ENOMEM; -EAGAIN a thread could not be started;
 *   -EIO libnats refused the options (a malformed URL).  On error *@out
 *   is NULL and nothing changes.
 * Since: 0.1 */
CX_NATS_EXPORT int cx_nats_attach(const cx_nats_options *opts, cx_nats **out);

/* cx_nats_detach: close the connection, stop the adapter's threads and
 * free the handle.  Remote cancels no longer reach this process; its ops
 * are untouched.
 * @nats: (nullable).  Since: 0.1 */
CX_NATS_EXPORT void cx_nats_detach(cx_nats *nats);

/* cx_nats_node: the node name.
 * Returns: (transfer none) valid until cx_nats_detach().  Since: 0.1 */
CX_NATS_EXPORT const char *cx_nats_node(const cx_nats *nats);

/* cx_nats_connected: whether the connection is up now.  Since: 0.1 */
CX_NATS_EXPORT bool cx_nats_connected(const cx_nats *nats);

/* cx_nats_wait_ready: wait until connected and the stored cancels have
 * been applied (after attach or the last reconnection).
 * @timeout: seconds, as every blocking call (CX_FOREVER: no limit).
 * Returns: 0.  Errors: -ETIMEDOUT; -EINVAL NULL @nats or NaN @timeout.
 * Since: 0.1 */
CX_NATS_EXPORT int cx_nats_wait_ready(cx_nats *nats, double timeout);

/* One node's answer to a remote cancel. */
typedef struct cx_nats_count {
  char *node;     /* the node's name */
  long cancelled; /* ops it cancelled (0 when none matched) */
} cx_nats_count;

/* The answers to a remote cancel. */
typedef struct cx_nats_answer {
  cx_nats_count *nodes; /* in the order they came */
  size_t count;
  bool stored; /* the request was kept in the bucket */
} cx_nats_answer;

/* cx_nats_answer_free: free the answers; @answer is left empty.
 * @answer: (nullable).  Since: 0.1 */
CX_NATS_EXPORT void cx_nats_answer_free(cx_nats_answer *answer);

/* cx_nats_cancel: cancel, on every node (this one included), the live ops
 * with @id or matching @filter; the request is stored in the bucket (for
 * its TTL) so that nodes disconnected now and ops started later are
 * cancelled too.
 * @id: (nullable) one op's id; @filter: (nullable) as for
 *   cx_registry_cancel_all(); at least one of them, and not both.  A
 *   filter must name something (status, parent, name or pattern) and set
 *   none of the fields a request does not carry (name_contains, min_age,
 *   max_age, since, match: -EINVAL rather than a wider cancel).
 * @message: (nullable) copied into the cancel message.
 * @wait: seconds to collect the answers (0: none; at most 60).
 * @out: (nullable) receives the answers (cx_nats_answer_free()).
 * Returns: the total count of ops cancelled in the answers.
 * Errors: -EINVAL bad arguments; -ENOTCONN not connected now (nothing is
 *   sent); -EIO libnats failed to send; -ENOMEM.
 * Since: 0.1 */
CX_NATS_EXPORT long cx_nats_cancel(cx_nats *nats, const char *id,
                                   const cx_op_filter *filter,
                                   const char *message, double wait,
                                   cx_nats_answer *out);

/* ---- Hierarchies across processes.  A context string is
 * "v1;parent=ID;node=NODE[;timeout=T][;deadline=D]": the parent op's id
 * and node (%-escaped), T its remaining time in gRPC's grpc-timeout form
 * (at most 8 digits and a unit: H hours, M minutes, S seconds, m
 * milliseconds, u microseconds, n nanoseconds; absent without a
 * deadline) and D the same deadline as wall-clock seconds since the epoch,
 * information only: it is believed, to take off the time the string
 * spent in transit, only when it agrees with T within CX_NATS_MAX_SKEW
 * seconds; otherwise (clocks of two machines apart) it is ignored and T
 * counts from when the child is created. */

/* cx_nats_context: the context string of @op for its children in other
 * processes, to send in the CX_NATS_CONTEXT_HEADER header of a NATS
 * message, the CX_NATS_CONTEXT_ENV environment variable of a command, or
 * any other way.  From now on, when @op is cancelled or ends, its remote
 * children are cancelled (reason PARENT): the request is published and
 * stored as any remote cancel (so children that start later, or whose
 * node is disconnected then, get it too).
 * @nats: (not nullable).  @op: (not nullable) a running op (registered or
 *   not).
 * @out: (not nullable) receives the string (transfer full: free()).
 * Returns: 0.  Errors: -EINVAL NULL argument or @op not running; -ENOMEM.
 * Since: 0.1 */
CX_NATS_EXPORT int cx_nats_context(cx_nats *nats, cx_op *op, char **out);

/* cx_nats_op_create: cx_op_create() for a child of the remote op that
 * @context names: its timeout is the parent's remaining time (or
 * @opts->timeout when that is earlier), with the message "remote parent's
 * deadline" (counted from enter: enter soon after), its metadata has
 * "remote_parent_id" and "remote_parent_node", it is registered, and with
 * @nats it is cancelled with reason PARENT when the remote parent is
 * cancelled or ends (also when that happened before: a stored request
 * applies when it enters).
 * @nats: (nullable) without it only the deadline is inherited.
 * @context: (not nullable) as cx_nats_context() makes it.
 * @opts: (nullable) as for cx_op_create(); its parent is kept (a local
 *   parent as well), register_op is forced on.
 * @out: (not nullable) receives the op (transfer full: cx_op_unref()).
 * Returns: 0.  Errors: -EINVAL a malformed context, bad options or NULL
 *   argument; -ENOMEM.  On error *@out is NULL.
 * Since: 0.1 */
CX_NATS_EXPORT int cx_nats_op_create(cx_nats *nats, const char *context,
                                     const cx_op_options *opts, cx_op **out);

/* ---- Listing the live ops of every node. */

/* One live op of some node. */
typedef struct cx_nats_op_info {
  char *node;             /* the node it runs on */
  char *id;               /* its id */
  char *name;             /* its name */
  char *parent_id;        /* (nullable) its local parent's id */
  char *remote_parent_id; /* (nullable) its remote parent's id */
  cx_status status;
  double elapsed; /* seconds since it was entered */
} cx_nats_op_info;

/* The live ops of the nodes that answered. */
typedef struct cx_nats_op_list {
  cx_nats_op_info *ops; /* grouped by node, each node's oldest first */
  size_t count;
  size_t nodes; /* how many nodes answered (some may have no op) */
} cx_nats_op_list;

/* cx_nats_op_list_free: free @list's ops; it is left empty.
 * @list: (nullable).  Since: 0.1 */
CX_NATS_EXPORT void cx_nats_op_list_free(cx_nats_op_list *list);

/* cx_nats_list: ask every node (this one included) for its live
 * registered ops, collecting answers for @wait seconds.  A node answers
 * with at most 2000 ops (NATS's message size limit).
 * @wait: seconds, > 0 and at most 60.
 * @out: (not nullable) receives the list (cx_nats_op_list_free()).
 * Returns: 0.  Errors: -EINVAL; -ENOTCONN not connected now; -EIO;
 *   -ENOMEM.  On error @out is empty.
 * Since: 0.1 */
CX_NATS_EXPORT int cx_nats_list(cx_nats *nats, double wait,
                                cx_nats_op_list *out);

#ifdef __cplusplus
}
#endif

#endif /* CANCELABLE_NATS_H */
