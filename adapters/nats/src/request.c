/* adapters/nats/src/request.c - cancel requests: their text form (the
 * body of a P.cancel message and the value of a bucket entry), matching
 * against an op, and the cancel itself with its context. */
#include <fnmatch.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nats_internal.h"

/* Bytes written as they are; the others as %XX. */
static bool plain(unsigned char c) {
  return c > 0x20 && c != '%' && c != '=' && c != 0x7f;
}

void nats_put_field(FILE *f, const char *key, const char *value) {
  if (value == NULL) return;
  fprintf(f, "%s=", key);
  for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
    if (plain(*p))
      fputc(*p, f);
    else
      fprintf(f, "%%%02X", *p);
  }
  fputc('\n', f);
}

int nreq_encode(const nreq *r, char **out) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (f == NULL) return -ENOMEM;
  nats_put_field(f, "key", r->key);
  nats_put_field(f, "id", r->id);
  nats_put_field(f, "name", r->name);
  nats_put_field(f, "pattern", r->pattern);
  nats_put_field(f, "parent", r->parent);
  fprintf(f, "status=%d\nreason=%d\n", r->status, (int)r->reason);
  nats_put_field(f, "from", r->from);
  nats_put_field(f, "message", r->message);
  if (fclose(f) != 0 || text == NULL) {
    free(text);
    return -ENOMEM;
  }
  *out = text;
  return 0;
}

static int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* The value of @n bytes at @s, unescaped; NULL out of memory or for a
 * malformed escape (*@bad set). */
char *nats_unescape(const char *s, size_t n, bool *bad) {
  char *v = malloc(n + 1), *o = v;
  if (v == NULL) return NULL;
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '%') {
      *o++ = s[i];
      continue;
    }
    if (i + 2 >= n || hex(s[i + 1]) < 0 || hex(s[i + 2]) < 0 ||
        (hex(s[i + 1]) == 0 && hex(s[i + 2]) == 0)) {
      *bad = true;
      free(v);
      return NULL;
    }
    *o++ = (char)(hex(s[i + 1]) * 16 + hex(s[i + 2]));
    i += 2;
  }
  *o = '\0';
  return v;
}

static char **slot(nreq *r, const char *key, size_t klen) {
  static const struct {
    const char *name;
    size_t off;
  } fields[] = {
      {"key", offsetof(nreq, key)},        {"id", offsetof(nreq, id)},
      {"name", offsetof(nreq, name)},      {"pattern", offsetof(nreq, pattern)},
      {"parent", offsetof(nreq, parent)},  {"from", offsetof(nreq, from)},
      {"message", offsetof(nreq, message)}};
  for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
    if (strlen(fields[i].name) == klen &&
        memcmp(fields[i].name, key, klen) == 0)
      return (char **)((char *)r + fields[i].off);
  return NULL;
}

static int set_number(nreq *r, const char *key, size_t klen, const char *v,
                      size_t vlen) {
  char buf[16];
  if (vlen == 0 || vlen >= sizeof(buf)) return -EPROTO;
  memcpy(buf, v, vlen);
  buf[vlen] = '\0';
  char *end;
  long x = strtol(buf, &end, 10);
  if (*end != '\0') return -EPROTO;
  if (klen == 6 && memcmp(key, "status", 6) == 0 && x >= -1 &&
      x <= CX_STATUS_SHIELDED)
    r->status = (int)x;
  else if (klen == 6 && memcmp(key, "reason", 6) == 0 &&
           (x == CX_REASON_MANUAL || x == CX_REASON_PARENT))
    r->reason = (cx_reason)x;
  else
    return -EPROTO;
  return 0;
}

/* The longest field a request may carry (escaped): ids, names, patterns
 * and messages come from any process on the bus, and a pattern is matched
 * against every live op (fnmatch backtracks). */
#define NREQ_FIELD_MAX 1024

static int decode_line(nreq *r, const char *line, size_t n) {
  const char *eq = memchr(line, '=', n);
  if (eq == NULL) return -EPROTO;
  size_t klen = (size_t)(eq - line), vlen = n - klen - 1;
  if (vlen > NREQ_FIELD_MAX) return -EPROTO;
  char **dst = slot(r, line, klen);
  if (dst == NULL) return set_number(r, line, klen, eq + 1, vlen);
  if (*dst != NULL) return -EPROTO;
  bool bad = false;
  *dst = nats_unescape(eq + 1, vlen, &bad);
  return *dst != NULL ? 0 : bad ? -EPROTO : -ENOMEM;
}

int nreq_decode(const char *data, int len, nreq *r) {
  memset(r, 0, sizeof(*r));
  r->status = -1;
  r->reason = CX_REASON_MANUAL;
  int err = 0;
  const char *p = data, *end = data + (len > 0 ? len : 0);
  while (err == 0 && p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL) {
      err = -EPROTO;
      break;
    }
    err = decode_line(r, p, (size_t)(nl - p));
    p = nl + 1;
  }
  bool selects = r->id != NULL || r->name != NULL || r->pattern != NULL ||
                 r->parent != NULL || r->status >= 0;
  if (err == 0 && (r->key == NULL || r->from == NULL || !selects))
    err = -EPROTO;
  if (err != 0) nreq_clear(r);
  return err;
}

void nreq_clear(nreq *r) {
  free(r->key);
  free(r->id);
  free(r->name);
  free(r->pattern);
  free(r->parent);
  free(r->from);
  free(r->message);
  memset(r, 0, sizeof(*r));
}

static bool dup_field(char **dst, const char *src) {
  *dst = src != NULL ? strdup(src) : NULL;
  return src == NULL || *dst != NULL;
}

nreq *nreq_dup(const nreq *r) {
  nreq *c = calloc(1, sizeof(*c));
  if (c == NULL) return NULL;
  *c = *r;
  c->next = NULL;
  /* Every field is copied (or NULL) even after a failure, so that
   * nreq_clear() frees exactly what was made. */
  bool ok = dup_field(&c->key, r->key);
  ok = dup_field(&c->id, r->id) && ok;
  ok = dup_field(&c->name, r->name) && ok;
  ok = dup_field(&c->pattern, r->pattern) && ok;
  ok = dup_field(&c->parent, r->parent) && ok;
  ok = dup_field(&c->from, r->from) && ok;
  ok = dup_field(&c->message, r->message) && ok;
  if (!ok) {
    nreq_clear(c);
    free(c);
    return NULL;
  }
  return c;
}

static bool same(const char *want, const char *have) {
  return want == NULL || (have != NULL && strcmp(want, have) == 0);
}

bool nreq_matches(const nreq *r, const nop *op) {
  if (!same(r->id, op->id) || !same(r->name, op->name)) return false;
  if (r->pattern != NULL &&
      (op->name == NULL || fnmatch(r->pattern, op->name, 0) != 0))
    return false;
  if (r->parent != NULL && !same(r->parent, op->parent) &&
      !same(r->parent, op->remote_parent))
    return false;
  return r->status < 0 || r->status == op->status;
}

bool nreq_cancel_op(const nreq *r, cx_op *op) {
  char *msg = NULL;
  int n;
  if (r->reason == CX_REASON_PARENT)
    n = asprintf(&msg, "remote parent operation %s on node %s %s",
                 r->parent != NULL ? r->parent : "?", r->from,
                 r->message != NULL ? r->message : "cancelled");
  else if (r->message != NULL && r->message[0] != '\0')
    n = asprintf(&msg, "cancelled from node %s: %s", r->from, r->message);
  else
    n = asprintf(&msg, "cancelled from node %s", r->from);
  if (n < 0) msg = NULL; /* the cancel still goes, without its message */
  /* The metadata goes first, so that the work sees it with the cancel;
   * an op cancelled meanwhile by something else keeps its own reason and
   * message (the metadata then names the node that asked as well). */
  if (!cx_op_is_cancelled(op)) {
    cx_meta *m = cx_meta_new();
    if (m != NULL && cx_meta_set_string(m, "cancelled_by", "nats") == 0 &&
        cx_meta_set_string(m, "cancelled_by_node", r->from) == 0)
      (void)cx_op_update_metadata(op, m);
    cx_meta_free(m);
  }
  bool done = cx_op_cancel(op, r->reason, msg);
  free(msg);
  return done;
}
