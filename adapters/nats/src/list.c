/* adapters/nats/src/list.c - the live ops of every node: each node answers
 * a request on P.ps with a block of KEY=VALUE lines per op (values
 * %-escaped, blocks ended by an empty line) and a Cx-Node header. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nats_internal.h"

#define MAX_OPS 2000

void nats_put_op(FILE *f, cx_nats *n, cx_op *op) {
  char *remote = nats_remote_parent(n, cx_op_id(op));
  nats_put_field(f, "id", cx_op_id(op));
  nats_put_field(f, "name", cx_op_name(op));
  nats_put_field(f, "parent", cx_op_parent_id(op));
  nats_put_field(f, "remote_parent", remote);
  fprintf(f, "status=%d\nelapsed=%.3f\n\n", (int)cx_op_status(op),
          cx_op_elapsed(op));
  free(remote);
}

void nats_answer_list(cx_nats *n, natsConnection *nc, natsMsg *msg) {
  const char *reply = natsMsg_GetReply(msg);
  cx_op_list list = {NULL, 0};
  char *text = NULL;
  size_t len = 0;
  if (reply == NULL || cx_registry_list(NULL, &list) != 0) return;
  FILE *f = open_memstream(&text, &len);
  for (size_t i = 0; f != NULL && i < list.count && i < MAX_OPS; i++)
    nats_put_op(f, n, list.ops[i]);
  cx_op_list_free(&list);
  natsMsg *m = NULL;
  if (f != NULL && fclose(f) == 0 && text != NULL &&
      natsMsg_Create(&m, reply, NULL, text, (int)len) == NATS_OK &&
      natsMsgHeader_Set(m, "Cx-Node", n->node) == NATS_OK)
    (void)natsConnection_PublishMsg(nc, m);
  natsMsg_Destroy(m);
  free(text);
}

void cx_nats_op_list_free(cx_nats_op_list *l) {
  if (l == NULL) return;
  for (size_t i = 0; i < l->count; i++) {
    free(l->ops[i].node);
    free(l->ops[i].id);
    free(l->ops[i].name);
    free(l->ops[i].parent_id);
    free(l->ops[i].remote_parent_id);
  }
  free(l->ops);
  memset(l, 0, sizeof(*l));
}

/* Sets one field of @info from a line; ignores unknown keys. */
static int set_field(cx_nats_op_info *info, const char *line, size_t n) {
  const char *eq = memchr(line, '=', n);
  if (eq == NULL) return -EPROTO;
  size_t k = (size_t)(eq - line);
  bool bad = false;
  char *v = nats_unescape(eq + 1, n - k - 1, &bad);
  if (v == NULL) return bad ? -EPROTO : -ENOMEM;
  char **dst = k == 2 && memcmp(line, "id", 2) == 0       ? &info->id
               : k == 4 && memcmp(line, "name", 4) == 0   ? &info->name
               : k == 6 && memcmp(line, "parent", 6) == 0 ? &info->parent_id
               : k == 13 && memcmp(line, "remote_parent", 13) == 0
                   ? &info->remote_parent_id
                   : NULL;
  if (dst != NULL) {
    free(*dst);
    *dst = v;
    return 0;
  }
  if (k == 6 && memcmp(line, "status", 6) == 0)
    info->status = (cx_status)atoi(v);
  else if (k == 7 && memcmp(line, "elapsed", 7) == 0)
    info->elapsed = atof(v);
  free(v);
  return 0;
}

static int push(cx_nats_op_list *l, const cx_nats_op_info *info) {
  cx_nats_op_info *grown = realloc(l->ops, (l->count + 1) * sizeof(*grown));
  if (grown == NULL) return -ENOMEM;
  l->ops = grown;
  l->ops[l->count++] = *info;
  return 0;
}

static void clear_info(cx_nats_op_info *info) {
  free(info->node);
  free(info->id);
  free(info->name);
  free(info->parent_id);
  free(info->remote_parent_id);
  memset(info, 0, sizeof(*info));
}

/* Adds the ops of one answer. */
static int add_answer(cx_nats_op_list *l, natsMsg *m) {
  const char *node = NULL;
  if (natsMsgHeader_Get(m, "Cx-Node", &node) != NATS_OK) return 0;
  l->nodes++;
  const char *p = natsMsg_GetData(m);
  const char *end = p + (p != NULL ? natsMsg_GetDataLength(m) : 0);
  cx_nats_op_info info;
  memset(&info, 0, sizeof(info));
  int err = 0;
  while (err == 0 && p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL) break;
    if (nl > p) {
      err = set_field(&info, p, (size_t)(nl - p));
    } else if (info.id != NULL) {
      info.node = strdup(node);
      err = info.node != NULL ? push(l, &info) : -ENOMEM;
      if (err == 0) memset(&info, 0, sizeof(info));
    }
    p = nl + 1;
  }
  clear_info(&info);
  return err == -EPROTO ? 0 : err;
}

int cx_nats_list(cx_nats *n, double wait, cx_nats_op_list *out) {
  if (out != NULL) memset(out, 0, sizeof(*out));
  if (n == NULL || out == NULL || isnan(wait) || wait <= 0 || wait > 60)
    return -EINVAL;
  if (!cx_nats_connected(n)) return -ENOTCONN;
  natsInbox *inbox = NULL;
  natsSubscription *sub = NULL;
  natsStatus s = natsInbox_Create(&inbox);
  if (s == NATS_OK) s = natsConnection_SubscribeSync(&sub, n->nc, inbox);
  if (s == NATS_OK)
    s = natsConnection_PublishRequest(n->nc, n->ps_subject, inbox, "", 0);
  int err = s == NATS_OK ? 0 : s == NATS_NO_MEMORY ? -ENOMEM : -EIO;
  double stop = cx_now() + wait;
  while (err == 0 && cx_now() < stop) {
    natsMsg *m = NULL;
    int64_t ms = (int64_t)ceil((stop - cx_now()) * 1000.0);
    if (natsSubscription_NextMsg(&m, sub, ms > 0 ? ms : 1) != NATS_OK) continue;
    err = add_answer(out, m);
    natsMsg_Destroy(m);
  }
  natsSubscription_Destroy(sub);
  natsInbox_Destroy(inbox);
  if (err != 0) cx_nats_op_list_free(out);
  return err;
}
