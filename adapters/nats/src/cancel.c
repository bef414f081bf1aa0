/* adapters/nats/src/cancel.c - remote cancel: the request sent to every
 * node (stored in the bucket first), each node's answer with its count,
 * and the subscriber that applies requests and answers. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nats_internal.h"

#define HEADER_NODE "Cx-Node"
#define HEADER_COUNT "Cx-Cancelled"

static void answer(natsConnection *nc, const cx_nats *n, const char *reply,
                   long count) {
  natsMsg *m = NULL;
  char text[32];
  snprintf(text, sizeof(text), "%ld", count);
  if (natsMsg_Create(&m, reply, NULL, NULL, 0) != NATS_OK) return;
  if (natsMsgHeader_Set(m, HEADER_NODE, n->node) == NATS_OK &&
      natsMsgHeader_Set(m, HEADER_COUNT, text) == NATS_OK)
    (void)natsConnection_PublishMsg(nc, m);
  natsMsg_Destroy(m);
}

void nats_on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
                     void *closure) {
  cx_nats *n = closure;
  nreq r;
  (void)sub;
  if (strcmp(natsMsg_GetSubject(msg), n->ps_subject) == 0) {
    nats_answer_list(n, nc, msg);
  } else if (strcmp(natsMsg_GetSubject(msg), n->subject) == 0 &&
             nreq_decode(natsMsg_GetData(msg), natsMsg_GetDataLength(msg),
                         &r) == 0) {
    pthread_mutex_lock(&n->mu);
    r.expires = cx_now() + n->ttl;
    pthread_mutex_unlock(&n->mu);
    nats_remember(n, &r);
    long count = nats_apply(n, &r);
    if (natsMsg_GetReply(msg) != NULL)
      answer(nc, n, natsMsg_GetReply(msg), count);
    nreq_clear(&r);
  }
  natsMsg_Destroy(msg);
}

void cx_nats_answer_free(cx_nats_answer *a) {
  if (a == NULL) return;
  for (size_t i = 0; i < a->count; i++) free(a->nodes[i].node);
  free(a->nodes);
  memset(a, 0, sizeof(*a));
}

static int add_answer(cx_nats_answer *a, natsMsg *m, long *total) {
  const char *node = NULL, *count = NULL;
  if (natsMsgHeader_Get(m, HEADER_NODE, &node) != NATS_OK ||
      natsMsgHeader_Get(m, HEADER_COUNT, &count) != NATS_OK)
    return 0; /* not an answer: ignored */
  char *end;
  long c = strtol(count, &end, 10);
  if (*end != '\0' || c < 0) return 0;
  /* Any node may answer anything: the sum saturates. */
  *total = c > LONG_MAX - *total ? LONG_MAX : *total + c;
  if (a == NULL) return 0;
  cx_nats_count *grown = realloc(a->nodes, (a->count + 1) * sizeof(*grown));
  if (grown == NULL) return -ENOMEM;
  a->nodes = grown;
  a->nodes[a->count].node = strdup(node);
  if (a->nodes[a->count].node == NULL) return -ENOMEM;
  a->nodes[a->count++].cancelled = c;
  return 0;
}

/* Reads answers on @sub until @wait seconds have passed. */
static int collect(natsSubscription *sub, double wait, cx_nats_answer *a,
                   long *total) {
  double end = cx_now() + wait;
  for (;;) {
    double left = end - cx_now();
    if (left <= 0) return 0;
    natsMsg *m = NULL;
    int64_t ms = (int64_t)ceil(left * 1000.0);
    if (natsSubscription_NextMsg(&m, sub, ms > 0 ? ms : 1) != NATS_OK)
      continue; /* a timeout: the loop ends on its own */
    int err = add_answer(a, m, total);
    natsMsg_Destroy(m);
    if (err != 0) return err;
  }
}

static int build(cx_nats *n, const char *id, const cx_op_filter *f,
                 const char *message, nreq *r) {
  memset(r, 0, sizeof(*r));
  r->status = f != NULL ? f->status : -1;
  r->reason = CX_REASON_MANUAL;
  r->key = nats_new_key();
  r->from = strdup(n->node);
  bool ok = r->key != NULL && r->from != NULL;
  ok &= id == NULL || (r->id = strdup(id)) != NULL;
  ok &= message == NULL || (r->message = strdup(message)) != NULL;
  if (f != NULL) {
    ok &= f->name == NULL || (r->name = strdup(f->name)) != NULL;
    ok &= f->name_pattern == NULL ||
          (r->pattern = strdup(f->name_pattern)) != NULL;
    ok &= f->parent_id == NULL || (r->parent = strdup(f->parent_id)) != NULL;
  }
  if (!ok) nreq_clear(r);
  return ok ? 0 : -ENOMEM;
}

static int check_request(const char *id, const cx_op_filter *f, double wait) {
  if ((id == NULL) == (f == NULL) || isnan(wait) || wait < 0 || wait > 60)
    return -EINVAL;
  if (id != NULL) return id[0] != '\0' ? 0 : -EINVAL;
  if (f->size < sizeof(cx_op_filter) || f->status < -1 ||
      f->status > CX_STATUS_SHIELDED)
    return -EINVAL;
  /* Fields a request does not carry: dropping them would widen the cancel
   * on the receiving side. */
  if (f->name_contains != NULL || f->min_age != 0 || f->max_age != 0 ||
      f->since != 0 || f->match != NULL)
    return -EINVAL;
  bool names = f->status >= 0 || f->parent_id != NULL || f->name != NULL ||
               f->name_pattern != NULL;
  return names ? 0 : -EINVAL;
}

/* Stores and publishes @text; subscribes to the answers first. */
static int publish_request(cx_nats *n, const nreq *r, const char *text,
                           double wait, cx_nats_answer *a, long *total) {
  int len = (int)strlen(text);
  pthread_mutex_lock(&n->mu);
  kvStore *kv = n->kv;
  pthread_mutex_unlock(&n->mu);
  if (kv != NULL && kvStore_Put(NULL, kv, r->key, text, len) == NATS_OK &&
      a != NULL)
    a->stored = true;
  natsInbox *inbox = NULL;
  natsSubscription *sub = NULL;
  natsStatus s = NATS_OK;
  if (wait > 0) {
    s = natsInbox_Create(&inbox);
    if (s == NATS_OK) s = natsConnection_SubscribeSync(&sub, n->nc, inbox);
  }
  if (s == NATS_OK && inbox != NULL)
    s = natsConnection_PublishRequest(n->nc, n->subject, inbox, text, len);
  else if (s == NATS_OK)
    s = natsConnection_Publish(n->nc, n->subject, text, len);
  if (s == NATS_OK) s = natsConnection_Flush(n->nc);
  int err = s == NATS_OK ? 0 : s == NATS_NO_MEMORY ? -ENOMEM : -EIO;
  if (err == 0 && sub != NULL) err = collect(sub, wait, a, total);
  natsSubscription_Destroy(sub);
  natsInbox_Destroy(inbox);
  return err;
}

long cx_nats_cancel(cx_nats *n, const char *id, const cx_op_filter *filter,
                    const char *message, double wait, cx_nats_answer *out) {
  if (out != NULL) memset(out, 0, sizeof(*out));
  if (n == NULL) return -EINVAL;
  int err = check_request(id, filter, wait);
  if (err != 0) return err;
  if (!cx_nats_connected(n)) return -ENOTCONN;
  nreq r;
  char *text = NULL;
  err = build(n, id, filter, message, &r);
  if (err == 0) err = nreq_encode(&r, &text);
  long total = 0;
  if (err == 0) err = publish_request(n, &r, text, wait, out, &total);
  free(text);
  nreq_clear(&r);
  if (err != 0) {
    cx_nats_answer_free(out);
    return err;
  }
  return total;
}
