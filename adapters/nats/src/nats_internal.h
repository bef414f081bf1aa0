/* adapters/nats/src/nats_internal.h - the pieces of libcancelable-nats:
 * cancel requests (request.c), the connection and its worker (nats.c). */
#ifndef CX_NATS_INTERNAL_H
#define CX_NATS_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include <nats/nats.h>

#include <cancelable.h>
#include <cancelable/nats.h>

/* A cancel request, as sent on P.cancel and kept in the bucket. */
typedef struct nreq {
  char *key;         /* unique: the bucket key */
  char *id;          /* (nullable) one op's id */
  char *name;        /* (nullable) exact name */
  char *pattern;     /* (nullable) fnmatch(3) pattern */
  char *parent;      /* (nullable) the parent id (local or remote) */
  int status;        /* a cx_status or -1 */
  cx_reason reason;  /* MANUAL, or PARENT for a remote parent's cascade */
  char *from;        /* the requesting node */
  char *message;     /* (nullable) */
  double expires;    /* cx_now() when it stops applying (local cache) */
  struct nreq *next; /* in the cache */
} nreq;

/* The fields of a live op that a request is matched against. */
typedef struct nop {
  const char *id, *name, *parent, *remote_parent;
  int status;
} nop;

/* Writes "KEY=VALUE\n" with @value %-escaped (nothing for NULL). */
void nats_put_field(FILE *f, const char *key, const char *value);
/* The @n bytes at @s unescaped (NUL-terminated, malloc'd); NULL out of
 * memory, or for a malformed escape (then *@bad is set). */
char *nats_unescape(const char *s, size_t n, bool *bad);

/* Text form (lines KEY=VALUE, values %-escaped).  Returns 0, -ENOMEM. */
int nreq_encode(const nreq *r, char **out);
/* Parses @len bytes; -EPROTO when malformed (then *@r is clean), -ENOMEM. */
int nreq_decode(const char *data, int len, nreq *r);
void nreq_clear(nreq *r);
nreq *nreq_dup(const nreq *r);
/* Whether @r selects @op. */
bool nreq_matches(const nreq *r, const nop *op);
/* Cancels @op as @r asks: true when this call cancelled it. */
bool nreq_cancel_op(const nreq *r, cx_op *op);

struct cx_nats {
  char *node, *prefix, *subject, *ps_subject, *wildcard, *bucket;
  char *ops_bucket;  /* P_ops: the snapshots of live ops */
  char *evt_subject; /* P.evt.NODE (NODE made a subject token) */
  double ttl;
  double snapshot_ttl;
  double next_snapshot;       /* cx_now() of the next refresh (the worker's) */
  kvStore *ops_kv;            /* the worker's */
  struct nthrottle *throttle; /* the event thread's */
  struct nkey *deletes;       /* snapshot keys to delete (under mu) */
  natsOptions *opts;
  natsConnection *nc;
  natsSubscription *sub;
  cx_subscription *events;
  pthread_t worker;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool resync, stop, ready, closed, sub_done, worker_started;
  jsCtx *js;           /* the worker's */
  kvStore *kv;         /* set once by the worker (under mu) */
  nreq *live;          /* cache of live requests (under mu) */
  nreq *outbox;        /* requests the worker stores and publishes (under mu) */
  struct nlink *links; /* remote children and exported parents (under mu) */
};

/* The worker thread (worker.c). */
void *nats_worker(void *arg);
/* Queues @r (transfer full) for the worker to store and publish. */
void nats_post(cx_nats *n, nreq *r);
/* A fresh request key (the NUID of a libnats inbox); NULL out of memory. */
char *nats_new_key(void);

/* The subscriber of P.* (cancel.c): cancel requests and listings. */
void nats_on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
                     void *closure);

/* Writes @op's block (id, name, parent, remote_parent, status, elapsed,
 * then an empty line) (list.c). */
void nats_put_op(FILE *f, cx_nats *n, cx_op *op);
/* Answers a listing request on P.ps (list.c). */
void nats_answer_list(cx_nats *n, natsConnection *nc, natsMsg *msg);

/* Events and snapshots (publish.c). */
/* "P.evt.NODE" with NODE's '.', '*', '>' made '_'; NULL out of memory. */
char *nats_event_subject(const char *prefix, const char *node);
/* The event thread: publishes @e (progress at most every 0.25 s per op);
 * an exit queues the deletion of the op's snapshot. */
void nats_publish_event(cx_nats *n, const cx_event *e);
/* The worker: refreshes the snapshots when due and deletes the queued
 * ones; returns the seconds until the next refresh. */
double nats_snapshots(cx_nats *n);
void nats_publish_free(cx_nats *n);

/* Remote hierarchies (context.c).  Each takes mu. */
/* The remote parent id of the local op @op_id (a copy, free() it), or
 * NULL. */
char *nats_remote_parent(cx_nats *n, const char *op_id);
/* Cancels the local children of the remote parent @r->parent. */
long nats_cancel_remote_children(cx_nats *n, const nreq *r);
/* An op's CANCELLED or EXITED event: cascades when it was exported. */
void nats_op_ended(cx_nats *n, const cx_event *e);
/* At detach, once no event comes: cascades for the exported ops that
 * were cancelled or ended (their events may have been discarded). */
void nats_links_flush(cx_nats *n);
void nats_links_free(cx_nats *n);

/* Applies @r to this process's live ops; returns how many it cancelled. */
long nats_apply(cx_nats *n, const nreq *r);
/* Keeps a copy of @r in the cache until @r->expires (replaces the same
 * key).  Under no lock; takes mu. */
void nats_remember(cx_nats *n, const nreq *r);

#endif /* CX_NATS_INTERNAL_H */
