/* adapters/nats/src/publish.c - what a node tells the others without
 * being asked: its ops' lifecycle events on P.evt.NODE (progress
 * throttled per op) and the latest snapshot of each live op in the P_ops
 * bucket, refreshed by the worker so that a dead node's snapshots age
 * out with the bucket's TTL. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "nats_internal.h"

/* Seconds between two progress events of one op. */
#define PROGRESS_INTERVAL 0.25

/* The last progress event published for an op (the event thread's). */
typedef struct nthrottle {
  char *id;
  double last;
  UT_hash_handle hh;
} nthrottle;

/* A snapshot key to delete (the worker's queue). */
typedef struct nkey {
  char *key;
  struct nkey *next;
} nkey;

char *nats_event_subject(const char *prefix, const char *node) {
  char *s = NULL;
  if (asprintf(&s, "%s.evt.%s", prefix, node) < 0) return NULL;
  for (char *p = s + strlen(prefix) + 5; *p; p++)
    if (*p == '.' || *p == '*' || *p == '>') *p = '_';
  return s;
}

/* NODE.ID with the bytes a key may not hold as =XX. */
static char *snapshot_key(const char *node, const char *id) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (f == NULL) return NULL;
  for (int part = 0; part < 2; part++) {
    const unsigned char *p = (const unsigned char *)(part ? id : node);
    for (; *p; p++) {
      if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '/')
        fputc(*p, f);
      else
        fprintf(f, "=%02X", *p);
    }
    if (part == 0) fputc('.', f);
  }
  if (fclose(f) != 0) {
    free(text);
    return NULL;
  }
  return text;
}

/* Whether a progress event of @id may go now (and notes it). */
static bool progress_due(cx_nats *n, const char *id) {
  nthrottle *t = NULL;
  double now = cx_now();
  HASH_FIND_STR(n->throttle, id, t);
  if (t != NULL) {
    if (now - t->last < PROGRESS_INTERVAL) return false;
    t->last = now;
    return true;
  }
  t = calloc(1, sizeof(*t));
  if (t == NULL || (t->id = strdup(id)) == NULL) {
    free(t);
    return true; /* out of memory: not throttled */
  }
  t->last = now;
  HASH_ADD_KEYPTR(hh, n->throttle, t->id, strlen(t->id), t);
  return true;
}

static void forget(cx_nats *n, const char *id) {
  nthrottle *t = NULL;
  HASH_FIND_STR(n->throttle, id, t);
  if (t == NULL) return;
  HASH_DEL(n->throttle, t);
  free(t->id);
  free(t);
}

static void queue_delete(cx_nats *n, const char *id) {
  nkey *k = calloc(1, sizeof(*k));
  if (k == NULL || (k->key = snapshot_key(n->node, id)) == NULL) {
    free(k);
    return; /* the snapshot ages out */
  }
  pthread_mutex_lock(&n->mu);
  k->next = n->deletes;
  n->deletes = k;
  pthread_cond_broadcast(&n->cv); /* the worker deletes it now */
  pthread_mutex_unlock(&n->mu);
}

static char *event_text(const cx_event *e) {
  char *text = NULL, *progress = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (f == NULL) return NULL;
  nats_put_field(f, "kind", cx_event_kind_name(e->kind));
  fprintf(f, "seq=%llu\ntime=%.6f\n", (unsigned long long)e->seq, e->time);
  nats_put_field(f, "id", e->op_id);
  nats_put_field(f, "name", e->name);
  nats_put_field(f, "parent", e->parent_id);
  nats_put_field(f, "status", cx_status_name(e->status));
  if (e->reason != CX_REASON_NONE)
    nats_put_field(f, "reason", cx_reason_name(e->reason));
  if (e->error != 0) nats_put_field(f, "error", cx_err_name(e->error));
  nats_put_field(f, "message", e->message);
  if (e->metadata != NULL && (progress = cx_meta_to_json(e->metadata)))
    nats_put_field(f, "progress", progress);
  if (e->kind == CX_EVENT_GAP)
    fprintf(f, "lost=%llu\n", (unsigned long long)e->lost);
  free(progress);
  if (fclose(f) != 0) {
    free(text);
    return NULL;
  }
  return text;
}

void nats_publish_event(cx_nats *n, const cx_event *e) {
  if (e->kind == CX_EVENT_PROGRESS && !progress_due(n, e->op_id)) return;
  if (e->kind == CX_EVENT_EXITED) {
    forget(n, e->op_id);
    queue_delete(n, e->op_id);
  }
  char *text = event_text(e);
  if (text == NULL) return; /* out of memory: this event is not told */
  /* Buffered by libnats (also while disconnected, up to its reconnect
   * buffer): never waits for the server. */
  (void)natsConnection_Publish(n->nc, n->evt_subject, text, (int)strlen(text));
  free(text);
}

/* ---- Snapshots (the worker). */

static kvStore *open_ops_bucket(cx_nats *n) {
  if (n->ops_kv != NULL || n->js == NULL) return n->ops_kv;
  if (js_KeyValue(&n->ops_kv, n->js, n->ops_bucket) == NATS_OK)
    return n->ops_kv;
  kvConfig cfg;
  kvConfig_Init(&cfg);
  cfg.Bucket = n->ops_bucket;
  cfg.History = 1;
  cfg.TTL = (int64_t)(n->snapshot_ttl * 1e9);
  cfg.StorageType = js_MemoryStorage; /* snapshots need not outlive it */
  if (js_CreateKeyValue(&n->ops_kv, n->js, &cfg) != NATS_OK) n->ops_kv = NULL;
  kvStatus *st = NULL;
  if (n->ops_kv != NULL && kvStore_Status(&st, n->ops_kv) == NATS_OK) {
    if (kvStatus_TTL(st) > 0) n->snapshot_ttl = (double)kvStatus_TTL(st) / 1e9;
    kvStatus_Destroy(st);
  }
  return n->ops_kv;
}

static void put_snapshot(cx_nats *n, kvStore *kv, cx_op *op) {
  char *key = snapshot_key(n->node, cx_op_id(op)), *text = NULL;
  size_t len = 0;
  FILE *f = key != NULL ? open_memstream(&text, &len) : NULL;
  if (f != NULL) {
    nats_put_op(f, n, op);
    if (fclose(f) == 0 && text != NULL)
      (void)kvStore_Put(NULL, kv, key, text, (int)len);
  }
  free(text);
  free(key);
}

static void delete_queued(cx_nats *n, kvStore *kv) {
  pthread_mutex_lock(&n->mu);
  nkey *k = n->deletes;
  n->deletes = NULL;
  pthread_mutex_unlock(&n->mu);
  while (k != NULL) {
    nkey *next = k->next;
    if (kv != NULL) (void)kvStore_Delete(kv, k->key);
    free(k->key);
    free(k);
    k = next;
  }
}

double nats_snapshots(cx_nats *n) {
  static const double never = 1.0;
  if (natsConnection_Status(n->nc) != NATS_CONN_STATUS_CONNECTED) {
    delete_queued(n, NULL); /* those snapshots age out instead */
    return never;
  }
  kvStore *kv = open_ops_bucket(n);
  delete_queued(n, kv);
  if (kv == NULL) return never;
  double every = n->snapshot_ttl / 3;
  if (cx_now() < n->next_snapshot) return n->next_snapshot - cx_now();
  cx_op_list list = {NULL, 0};
  if (cx_registry_list(NULL, &list) == 0) {
    for (size_t i = 0; i < list.count; i++) put_snapshot(n, kv, list.ops[i]);
    cx_op_list_free(&list);
  }
  n->next_snapshot = cx_now() + every;
  return every;
}

void nats_publish_free(cx_nats *n) {
  nthrottle *t, *tmp;
  HASH_ITER(hh, n->throttle, t, tmp) {
    HASH_DEL(n->throttle, t);
    free(t->id);
    free(t);
  }
  delete_queued(n, NULL);
  if (n->ops_kv != NULL) kvStore_Destroy(n->ops_kv);
}
