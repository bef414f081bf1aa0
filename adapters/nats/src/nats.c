/* adapters/nats/src/nats.c - attach and detach: the libnats connection
 * (retried in the background, reconnected forever), the subscription to
 * cancel requests, the event subscriber that cancels ops starting under a
 * live request, and the worker thread that reads the bucket after each
 * (re)connection and stores and publishes what the event thread queues. */
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nats_internal.h"

/* Events queued for publishing before the newest are dropped (and a gap
 * event says how many).  The default 1024 lost events whenever a node
 * cancelled more than about 500 ops at once (bench/nats.sh, 10 workers of
 * 1000 ops: 11 000 to 14 000 of the 20 000 cancelled and exited events
 * arrived).  A linked queue: memory is taken only while a burst waits. */
#define EVENT_QUEUE 65536

/* ---- The cache of live requests (for ops that start later). */

void nats_remember(cx_nats *n, const nreq *r) {
  nreq *c = nreq_dup(r);
  if (c == NULL) return; /* out of memory: ops starting later are not revoked */
  pthread_mutex_lock(&n->mu);
  nreq **p = &n->live;
  while (*p != NULL && strcmp((*p)->key, r->key) != 0) p = &(*p)->next;
  if (*p != NULL) {
    nreq *old = *p;
    c->next = old->next;
    nreq_clear(old);
    free(old);
  } else {
    c->next = NULL;
  }
  *p = c;
  pthread_mutex_unlock(&n->mu);
}

static void free_list(nreq *r) {
  while (r != NULL) {
    nreq *next = r->next;
    nreq_clear(r);
    free(r);
    r = next;
  }
}

static void prune_locked(cx_nats *n, double now) {
  nreq **p = &n->live;
  while (*p != NULL) {
    if ((*p)->expires <= now) {
      nreq *dead = *p;
      *p = dead->next;
      nreq_clear(dead);
      free(dead);
    } else {
      p = &(*p)->next;
    }
  }
}

/* A copy of the first live request that selects @op, or NULL. */
static nreq *find_live(cx_nats *n, const nop *op) {
  nreq *found = NULL;
  pthread_mutex_lock(&n->mu);
  prune_locked(n, cx_now());
  for (nreq *r = n->live; r != NULL && found == NULL; r = r->next)
    if (nreq_matches(r, op)) found = nreq_dup(r);
  pthread_mutex_unlock(&n->mu);
  return found;
}

/* ---- Applying a request to the local registry. */

long nats_apply(cx_nats *n, const nreq *r) {
  long count = 0;
  if (r->id != NULL) {
    cx_op *op = cx_registry_find(r->id);
    if (op != NULL) {
      char *remote = nats_remote_parent(n, r->id);
      nop o = {cx_op_id(op), cx_op_name(op), cx_op_parent_id(op), remote,
               (int)cx_op_status(op)};
      if (nreq_matches(r, &o)) count += nreq_cancel_op(r, op);
      free(remote);
      cx_op_unref(op);
    }
    return count;
  }
  cx_op_filter f = CX_OP_FILTER_INIT;
  f.status = r->status;
  f.parent_id = r->parent;
  f.name = r->name;
  f.name_pattern = r->pattern;
  cx_op_list list = {NULL, 0};
  if (cx_registry_list(&f, &list) == 0) {
    for (size_t i = 0; i < list.count; i++)
      count += nreq_cancel_op(r, list.ops[i]);
    cx_op_list_free(&list);
  }
  if (r->parent != NULL) count += nats_cancel_remote_children(n, r);
  return count;
}

/* ---- Events: an op that starts under a live request starts cancelled;
 * an exported op's end cascades to its remote children. */

static void on_event(const cx_event *e, void *user_data) {
  cx_nats *n = user_data;
  if (e->kind == CX_EVENT_ENTERED) {
    char *remote = nats_remote_parent(n, e->op_id);
    nop o = {e->op_id, e->name, e->parent_id, remote, (int)e->status};
    nreq *r = find_live(n, &o);
    free(remote);
    cx_op *op = r != NULL ? cx_registry_find(e->op_id) : NULL;
    if (op != NULL) (void)nreq_cancel_op(r, op);
    cx_op_unref(op);
    if (r != NULL) {
      nreq_clear(r);
      free(r);
    }
  } else if (e->kind == CX_EVENT_CANCELLED || e->kind == CX_EVENT_EXITED) {
    nats_op_ended(n, e);
  }
  nats_publish_event(n, e);
}

/* ---- The connection's callbacks (libnats's callback thread). */

static void wake(cx_nats *n, bool resync, bool ready) {
  pthread_mutex_lock(&n->mu);
  if (resync) n->resync = true;
  n->ready = ready;
  pthread_cond_broadcast(&n->cv);
  pthread_mutex_unlock(&n->mu);
}

static void on_connected(natsConnection *nc, void *closure) {
  (void)nc;
  wake(closure, true, false);
}

static void on_disconnected(natsConnection *nc, void *closure) {
  (void)nc;
  wake(closure, false, false);
}

static void on_closed(natsConnection *nc, void *closure) {
  cx_nats *n = closure;
  (void)nc;
  pthread_mutex_lock(&n->mu);
  n->closed = true;
  pthread_cond_broadcast(&n->cv);
  pthread_mutex_unlock(&n->mu);
}

static void on_sub_complete(void *closure) {
  cx_nats *n = closure;
  pthread_mutex_lock(&n->mu);
  n->sub_done = true;
  pthread_cond_broadcast(&n->cv);
  pthread_mutex_unlock(&n->mu);
}

/* ---- Options. */

static bool good_prefix(const char *p) {
  size_t len = strlen(p);
  if (len == 0 || len > 64) return false;
  for (; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
      return false;
  return true;
}

static bool good_node(const char *s) {
  size_t len = strlen(s);
  if (len == 0 || len > 127) return false;
  for (; *s; s++)
    if ((unsigned char)*s <= 0x20 || *s == 0x7f) return false;
  return true;
}

static bool good_seconds(double s) { return !isnan(s) && s >= 0 && s <= 1e9; }

static int check_options(const cx_nats_options *o) {
  if (o->size < sizeof(cx_nats_options) ||
      (o->node != NULL && !good_node(o->node)) ||
      (o->prefix != NULL && !good_prefix(o->prefix)) ||
      !good_seconds(o->reconnect_wait) || !good_seconds(o->cancel_ttl) ||
      !good_seconds(o->snapshot_ttl) ||
      (o->servers != NULL && o->servers[0] == '\0'))
    return -EINVAL;
  return 0;
}

static char *default_node(void) {
  char host[HOST_NAME_MAX + 1] = "localhost";
  (void)gethostname(host, sizeof(host));
  host[HOST_NAME_MAX] = '\0';
  for (char *p = host; *p; p++)
    if ((unsigned char)*p <= 0x20) *p = '_';
  char *node = NULL;
  if (asprintf(&node, "%s:%ld", host, (long)getpid()) < 0) return NULL;
  return node;
}

static int make_names(cx_nats *n, const cx_nats_options *o) {
  const char *prefix = o->prefix != NULL ? o->prefix : "cancelable";
  n->node = o->node != NULL ? strdup(o->node) : default_node();
  n->prefix = strdup(prefix);
  if (asprintf(&n->subject, "%s.cancel", prefix) < 0) n->subject = NULL;
  if (asprintf(&n->bucket, "%s_cancels", prefix) < 0) n->bucket = NULL;
  if (asprintf(&n->ps_subject, "%s.ps", prefix) < 0) n->ps_subject = NULL;
  if (asprintf(&n->wildcard, "%s.*", prefix) < 0) n->wildcard = NULL;
  n->ttl = o->cancel_ttl > 0 ? o->cancel_ttl : 3600.0;
  n->snapshot_ttl = o->snapshot_ttl > 0 ? o->snapshot_ttl : 30.0;
  if (asprintf(&n->ops_bucket, "%s_ops", prefix) < 0) n->ops_bucket = NULL;
  n->evt_subject = nats_event_subject(prefix, n->node);
  return n->node && n->prefix && n->subject && n->bucket && n->ps_subject &&
                 n->wildcard && n->ops_bucket && n->evt_subject
             ? 0
             : -ENOMEM;
}

static int make_nats_options(cx_nats *n, const cx_nats_options *o) {
  double wait = o->reconnect_wait > 0 ? o->reconnect_wait : 0.5;
  int64_t ms = (int64_t)ceil(wait * 1000.0);
  natsOptions *no = NULL;
  natsStatus s = natsOptions_Create(&no);
  if (s == NATS_OK)
    s = natsOptions_SetURL(
        no, o->servers != NULL ? o->servers : "nats://127.0.0.1:4222");
  if (s == NATS_OK) s = natsOptions_SetName(no, n->node);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(no, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(no, ms);
  if (s == NATS_OK) s = natsOptions_SetTimeout(no, ms < 2000 ? 2000 : ms);
  if (s == NATS_OK)
    s = natsOptions_SetRetryOnFailedConnect(no, true, on_connected, n);
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(no, on_connected, n);
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(no, on_disconnected, n);
  if (s == NATS_OK) s = natsOptions_SetClosedCB(no, on_closed, n);
  n->opts = no;
  if (s == NATS_NO_MEMORY) return -ENOMEM;
  return s == NATS_OK ? 0 : -EIO;
}

/* ---- Attach and detach. */

static void free_handle(cx_nats *n) {
  nats_publish_free(n); /* takes mu: first */
  free_list(n->live);
  free_list(n->outbox);
  nats_links_free(n);
  if (n->kv != NULL) kvStore_Destroy(n->kv);
  if (n->js != NULL) jsCtx_Destroy(n->js);
  natsOptions_Destroy(n->opts);
  pthread_cond_destroy(&n->cv);
  pthread_mutex_destroy(&n->mu);
  free(n->node);
  free(n->prefix);
  free(n->subject);
  free(n->bucket);
  free(n->ps_subject);
  free(n->wildcard);
  free(n->ops_bucket);
  free(n->evt_subject);
  free(n);
}

static int start_connection(cx_nats *n) {
  natsStatus s = natsConnection_Connect(&n->nc, n->opts);
  if (s == NATS_OK)
    wake(n, true, false);
  else if (s != NATS_NOT_YET_CONNECTED)
    return s == NATS_NO_MEMORY ? -ENOMEM : -EIO;
  s = natsConnection_Subscribe(&n->sub, n->nc, n->wildcard, nats_on_request, n);
  if (s == NATS_OK)
    s = natsSubscription_SetOnCompleteCB(n->sub, on_sub_complete, n);
  return s == NATS_OK ? 0 : s == NATS_NO_MEMORY ? -ENOMEM : -EIO;
}

/* Waits (under mu) until *@flag, at most @seconds. */
static void wait_flag_locked(cx_nats *n, const bool *flag, double seconds) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += (time_t)seconds;
  while (!*flag)
    if (pthread_cond_timedwait(&n->cv, &n->mu, &ts) != 0) break;
}

static void disconnect(cx_nats *n) {
  if (n->sub != NULL) {
    if (natsSubscription_Unsubscribe(n->sub) != NATS_OK)
      n->sub_done = true; /* already closed: no callback runs */
    pthread_mutex_lock(&n->mu);
    wait_flag_locked(n, &n->sub_done, 10);
    pthread_mutex_unlock(&n->mu);
    natsSubscription_Destroy(n->sub);
  }
  if (n->nc != NULL) {
    natsConnection_Close(n->nc);
    pthread_mutex_lock(&n->mu);
    wait_flag_locked(n, &n->closed, 10);
    pthread_mutex_unlock(&n->mu);
    natsConnection_Destroy(n->nc);
  }
}

int cx_nats_attach(const cx_nats_options *opts, cx_nats **out) {
  cx_nats_options defaults = CX_NATS_OPTIONS_INIT;
  if (out == NULL) return -EINVAL;
  *out = NULL;
  if (opts == NULL) opts = &defaults;
  int err = check_options(opts);
  if (err != 0) return err;
  cx_nats *n = calloc(1, sizeof(*n));
  if (n == NULL) return -ENOMEM;
  pthread_mutex_init(&n->mu, NULL);
  pthread_cond_init(&n->cv, NULL);
  err = make_names(n, opts);
  if (err == 0) err = make_nats_options(n, opts);
  if (err != 0) {
    free_handle(n);
    return err;
  }
  /* The callbacks only set flags: the worker, started once the handle is
   * whole, does the rest.  The event subscriber publishes on the
   * connection: it comes after it. */
  /* The client's threads and the worker block every signal, as the
   * library's own threads do: a signal sent to the process is the
   * application's to handle (a tool that blocks one on its thread to take
   * it back must not see it land on ours). */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  err = start_connection(n);
  if (err == 0)
    err = cx_events_subscribe(&n->events, on_event, n, NULL, EVENT_QUEUE);
  if (err == 0 && pthread_create(&n->worker, NULL, nats_worker, n) != 0)
    err = -EAGAIN;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  n->worker_started = err == 0;
  if (err != 0) {
    cx_nats_detach(n);
    return err;
  }
  cx_registry_set_default(true);
  *out = n;
  return 0;
}

void cx_nats_detach(cx_nats *n) {
  if (n == NULL) return;
  if (n->events != NULL) cx_events_unsubscribe(n->events);
  if (n->worker_started) nats_links_flush(n);
  pthread_mutex_lock(&n->mu);
  n->stop = true;
  pthread_cond_broadcast(&n->cv);
  pthread_mutex_unlock(&n->mu);
  if (n->worker_started) pthread_join(n->worker, NULL);
  disconnect(n);
  free_handle(n);
}

const char *cx_nats_node(const cx_nats *n) {
  return n != NULL ? n->node : NULL;
}

bool cx_nats_connected(const cx_nats *n) {
  return n != NULL && n->nc != NULL &&
         natsConnection_Status(n->nc) == NATS_CONN_STATUS_CONNECTED;
}

int cx_nats_wait_ready(cx_nats *n, double timeout) {
  if (n == NULL || isnan(timeout)) return -EINVAL;
  double end = timeout < 0 || isinf(timeout) ? INFINITY : cx_now() + timeout;
  pthread_mutex_lock(&n->mu);
  while (!n->ready && !n->stop) {
    double left = end - cx_now();
    if (left <= 0) break;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double step = left < 0.05 ? left : 0.05; /* cx_now() may be virtual */
    ts.tv_nsec += (long)(step * 1e9);
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&n->cv, &n->mu, &ts);
  }
  bool ready = n->ready;
  pthread_mutex_unlock(&n->mu);
  return ready ? 0 : -ETIMEDOUT;
}
