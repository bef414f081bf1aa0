/* adapters/nats/src/worker.c - the adapter's worker thread: after each
 * (re)connection it opens (or creates) the bucket of cancel requests and
 * applies every live entry (the cancels missed while disconnected); it
 * stores and publishes the requests other threads queue (a remote
 * parent's cascade); it drops expired requests from the cache. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nats_internal.h"

char *nats_new_key(void) {
  natsInbox *inbox = NULL;
  if (natsInbox_Create(&inbox) != NATS_OK) return NULL;
  const char *dot = strrchr(inbox, '.');
  char *key = strdup(dot != NULL ? dot + 1 : inbox);
  natsInbox_Destroy(inbox);
  return key;
}

void nats_post(cx_nats *n, nreq *r) {
  pthread_mutex_lock(&n->mu);
  r->next = n->outbox;
  n->outbox = r;
  pthread_cond_broadcast(&n->cv);
  pthread_mutex_unlock(&n->mu);
}

/* The bucket, opened or created with the configured TTL. */
static kvStore *open_bucket(cx_nats *n) {
  if (n->js == NULL) {
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 2000;
    if (natsConnection_JetStream(&n->js, n->nc, &jo) != NATS_OK) return NULL;
  }
  kvStore *kv = NULL;
  if (js_KeyValue(&kv, n->js, n->bucket) == NATS_OK) return kv;
  kvConfig cfg;
  kvConfig_Init(&cfg);
  cfg.Bucket = n->bucket;
  cfg.History = 1;
  cfg.TTL = (int64_t)(n->ttl * 1e9);
  cfg.StorageType = js_FileStorage;
  if (js_CreateKeyValue(&kv, n->js, &cfg) == NATS_OK) return kv;
  return NULL; /* no JetStream: cancels are broadcast only */
}

/* The bucket's TTL in seconds (the creator's), or the configured one. */
static double bucket_ttl(cx_nats *n, kvStore *kv) {
  kvStatus *st = NULL;
  double ttl = n->ttl;
  if (kvStore_Status(&st, kv) == NATS_OK) {
    int64_t ns = kvStatus_TTL(st);
    if (ns > 0) ttl = (double)ns / 1e9;
    kvStatus_Destroy(st);
  }
  return ttl;
}

static void apply_entry(cx_nats *n, kvEntry *e, double ttl) {
  nreq r;
  if (kvEntry_Operation(e) != kvOp_Put ||
      nreq_decode(kvEntry_Value(e), kvEntry_ValueLen(e), &r) != 0)
    return;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  double age =
      (double)now.tv_sec + now.tv_nsec / 1e9 - (double)kvEntry_Created(e) / 1e9;
  r.expires = cx_now() + ttl - (age > 0 ? age : 0);
  if (r.expires > cx_now()) {
    nats_remember(n, &r);
    (void)nats_apply(n, &r);
  }
  nreq_clear(&r);
}

static void resync(cx_nats *n) {
  pthread_mutex_lock(&n->mu);
  kvStore *kv = n->kv;
  pthread_mutex_unlock(&n->mu);
  if (kv == NULL) {
    kv = open_bucket(n);
    if (kv == NULL) return;
    pthread_mutex_lock(&n->mu);
    n->kv = kv;
    pthread_mutex_unlock(&n->mu);
  }
  double ttl = bucket_ttl(n, kv);
  pthread_mutex_lock(&n->mu);
  n->ttl = ttl;
  pthread_mutex_unlock(&n->mu);
  kvKeysList keys = {NULL, 0};
  if (kvStore_Keys(&keys, kv, NULL) != NATS_OK)
    return; /* NATS_NOT_FOUND: no entry */
  for (int i = 0; i < keys.Count; i++) {
    kvEntry *e = NULL;
    if (kvStore_Get(&e, kv, keys.Keys[i]) == NATS_OK) {
      apply_entry(n, e, ttl);
      kvEntry_Destroy(e);
    }
  }
  kvKeysList_Destroy(&keys);
}

/* Stores @r in the bucket (when there is one) and publishes it. */
static void store_and_publish(cx_nats *n, nreq *r) {
  char *text = NULL;
  if (nreq_encode(r, &text) != 0) return;
  int len = (int)strlen(text);
  pthread_mutex_lock(&n->mu);
  kvStore *kv = n->kv;
  pthread_mutex_unlock(&n->mu);
  if (kv != NULL) (void)kvStore_Put(NULL, kv, r->key, text, len);
  (void)natsConnection_Publish(n->nc, n->subject, text, len);
  free(text);
}

/* Waits (under mu) for work, at most @seconds (and at most 1 s). */
static void wait_work_locked(cx_nats *n, double seconds) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (!(seconds < 1.0)) seconds = 1.0;
  if (seconds < 0.01) seconds = 0.01;
  ts.tv_nsec += (long)(seconds * 1e9);
  ts.tv_sec += ts.tv_nsec / 1000000000L;
  ts.tv_nsec %= 1000000000L;
  if (!n->stop && !n->resync && n->outbox == NULL && n->deletes == NULL)
    pthread_cond_timedwait(&n->cv, &n->mu, &ts);
}

void *nats_worker(void *arg) {
  cx_nats *n = arg;
  double due = 1.0;
  pthread_mutex_lock(&n->mu);
  for (;;) {
    wait_work_locked(n, due);
    bool stopping = n->stop; /* what is queued still goes out */
    bool again = n->resync && !stopping;
    n->resync = false;
    nreq *out = n->outbox;
    n->outbox = NULL;
    pthread_mutex_unlock(&n->mu);
    if (again) resync(n);
    bool sent = out != NULL;
    while (out != NULL) {
      nreq *next = out->next;
      store_and_publish(n, out);
      nreq_clear(out);
      free(out);
      out = next;
    }
    if (sent) (void)natsConnection_FlushTimeout(n->nc, 1000);
    due = stopping ? 1.0 : nats_snapshots(n);
    pthread_mutex_lock(&n->mu);
    if (again && !n->resync &&
        natsConnection_Status(n->nc) == NATS_CONN_STATUS_CONNECTED)
      n->ready = true;
    pthread_cond_broadcast(&n->cv);
    if (stopping) break;
  }
  pthread_mutex_unlock(&n->mu);
  return NULL;
}
