/* adapters/nats/src/context.c - remote hierarchies: the context string
 * (parent id, node, remaining time as grpc-timeout, absolute deadline as
 * information), the children made from one, and the links the adapter
 * keeps: a local child's remote parent, and the ops whose context was
 * given out, whose end cascades. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nats_internal.h"

typedef struct nlink {
  char *op_id;  /* the local op */
  char *parent; /* its remote parent's id; NULL: an exported op */
  cx_op *op;    /* a reference */
  struct nlink *next;
} nlink;

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- The links. */

static void free_link(nlink *l) {
  cx_op_unref(l->op);
  free(l->op_id);
  free(l->parent);
  free(l);
}

static int add_link(cx_nats *n, const char *op_id, const char *parent,
                    cx_op *op) {
  nlink *l = calloc(1, sizeof(*l));
  if (l == NULL) return -ENOMEM;
  l->op_id = strdup(op_id);
  l->parent = parent != NULL ? strdup(parent) : NULL;
  if (l->op_id == NULL || (parent != NULL && l->parent == NULL)) {
    free_link(l);
    return -ENOMEM;
  }
  l->op = cx_op_ref(op);
  pthread_mutex_lock(&n->mu);
  l->next = n->links;
  n->links = l;
  pthread_mutex_unlock(&n->mu);
  return 0;
}

char *nats_remote_parent(cx_nats *n, const char *op_id) {
  char *parent = NULL;
  pthread_mutex_lock(&n->mu);
  for (nlink *l = n->links; l != NULL; l = l->next)
    if (l->parent != NULL && strcmp(l->op_id, op_id) == 0) {
      parent = strdup(l->parent);
      break;
    }
  pthread_mutex_unlock(&n->mu);
  return parent;
}

long nats_cancel_remote_children(cx_nats *n, const nreq *r) {
  size_t count = 0, i = 0;
  pthread_mutex_lock(&n->mu);
  for (nlink *l = n->links; l != NULL; l = l->next)
    count += l->parent != NULL && strcmp(l->parent, r->parent) == 0;
  cx_op **ops = count > 0 ? calloc(count, sizeof(*ops)) : NULL;
  for (nlink *l = n->links; ops != NULL && l != NULL; l = l->next)
    if (l->parent != NULL && strcmp(l->parent, r->parent) == 0)
      ops[i++] = cx_op_ref(l->op);
  pthread_mutex_unlock(&n->mu);
  long cancelled = 0;
  for (size_t k = 0; k < i; k++) {
    nop o = {cx_op_id(ops[k]), cx_op_name(ops[k]), NULL, r->parent,
             (int)cx_op_status(ops[k])};
    if (nreq_matches(r, &o)) cancelled += nreq_cancel_op(r, ops[k]);
    cx_op_unref(ops[k]);
  }
  free(ops);
  return cancelled;
}

/* Takes the link of @op_id (exported when @exported) out of the list. */
static nlink *take_link(cx_nats *n, const char *op_id, bool exported) {
  pthread_mutex_lock(&n->mu);
  nlink **p = &n->links, *found = NULL;
  for (; *p != NULL; p = &(*p)->next)
    if ((((*p)->parent == NULL) == exported) &&
        strcmp((*p)->op_id, op_id) == 0) {
      found = *p;
      *p = found->next;
      break;
    }
  pthread_mutex_unlock(&n->mu);
  return found;
}

static void cascade(cx_nats *n, const char *op_id, const char *what) {
  nreq r;
  memset(&r, 0, sizeof(r));
  r.status = -1;
  r.reason = CX_REASON_PARENT;
  r.key = nats_new_key();
  r.parent = strdup(op_id);
  r.from = strdup(n->node);
  r.message = strdup(what);
  nreq *q = r.key && r.parent && r.from && r.message ? nreq_dup(&r) : NULL;
  nreq_clear(&r);
  if (q != NULL)
    nats_post(n, q); /* out of memory: the children keep the deadline */
}

static bool exported(cx_nats *n, const char *op_id) {
  bool found = false;
  pthread_mutex_lock(&n->mu);
  for (nlink *l = n->links; l != NULL && !found; l = l->next)
    found = l->parent == NULL && strcmp(l->op_id, op_id) == 0;
  pthread_mutex_unlock(&n->mu);
  return found;
}

void nats_op_ended(cx_nats *n, const cx_event *e) {
  nlink *l = take_link(n, e->op_id, true);
  if (l != NULL) {
    cascade(n, e->op_id,
            e->kind == CX_EVENT_CANCELLED || e->status == CX_STATUS_CANCELLED
                ? "cancelled"
                : "ended");
    free_link(l);
  }
  if (e->kind == CX_EVENT_EXITED) {
    l = take_link(n, e->op_id, false);
    if (l != NULL) free_link(l);
  }
}

void nats_links_flush(cx_nats *n) {
  for (;;) {
    nlink *l = NULL;
    pthread_mutex_lock(&n->mu);
    for (nlink **p = &n->links; *p != NULL; p = &(*p)->next)
      if ((*p)->parent == NULL &&
          (cx_op_is_cancelled((*p)->op) ||
           cx_op_status((*p)->op) != CX_STATUS_RUNNING)) {
        l = *p;
        *p = l->next;
        break;
      }
    pthread_mutex_unlock(&n->mu);
    if (l == NULL) return;
    cascade(n, l->op_id, cx_op_is_cancelled(l->op) ? "cancelled" : "ended");
    free_link(l);
  }
}

void nats_links_free(cx_nats *n) {
  while (n->links != NULL) {
    nlink *l = n->links;
    n->links = l->next;
    free_link(l);
  }
}

/* ---- The string. */

static void put_escaped(FILE *f, const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
        (*p >= '0' && *p <= '9') || strchr("-_.:/", *p) != NULL)
      fputc(*p, f);
    else
      fprintf(f, "%%%02X", *p);
  }
}

/* @seconds in grpc-timeout form: at most 8 digits, the finest unit that
 * fits, rounded up. */
static void put_timeout(FILE *f, double seconds) {
  static const struct {
    char unit;
    double per_second;
  } units[] = {{'n', 1e9}, {'u', 1e6},      {'m', 1e3},
               {'S', 1.0}, {'M', 1 / 60.0}, {'H', 1 / 3600.0}};
  for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
    double v = ceil(seconds * units[i].per_second);
    if (v <= 99999999.0 || i + 1 == sizeof(units) / sizeof(units[0])) {
      fprintf(f, ";timeout=%.0f%c", v < 99999999.0 ? v : 99999999.0,
              units[i].unit);
      return;
    }
  }
}

int cx_nats_context(cx_nats *n, cx_op *op, char **out) {
  if (out != NULL) *out = NULL;
  if (n == NULL || op == NULL || out == NULL ||
      (cx_op_status(op) != CX_STATUS_RUNNING &&
       cx_op_status(op) != CX_STATUS_SHIELDED))
    return -EINVAL;
  const char *id = cx_op_id(op);
  if (id == NULL) return -ENOMEM;
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (f == NULL) return -ENOMEM;
  fputs("v1;parent=", f);
  put_escaped(f, id);
  fputs(";node=", f);
  put_escaped(f, n->node);
  double left = cx_op_remaining(op);
  if (isfinite(left)) {
    put_timeout(f, left);
    fprintf(f, ";deadline=%.3f", wall_now() + left);
  }
  if (fclose(f) != 0 || text == NULL) {
    free(text);
    return -ENOMEM;
  }
  if (!exported(n, id) && add_link(n, id, NULL, op) != 0) {
    free(text);
    return -ENOMEM;
  }
  *out = text;
  return 0;
}

/* A parsed context. */
typedef struct nctx {
  char *parent, *node;
  double timeout;  /* seconds, or INFINITY */
  double deadline; /* wall seconds, or NAN */
} nctx;

static int parse_timeout(const char *v, size_t n, double *out) {
  static const char units[] = "HMSmun";
  static const double seconds[] = {3600, 60, 1, 1e-3, 1e-6, 1e-9};
  if (n < 2 || n > 9) return -EINVAL;
  const char *u = strchr(units, v[n - 1]);
  if (u == NULL || v[n - 1] == '\0') return -EINVAL;
  double x = 0;
  for (size_t i = 0; i + 1 < n; i++) {
    if (v[i] < '0' || v[i] > '9') return -EINVAL;
    x = x * 10 + (v[i] - '0');
  }
  *out = x * seconds[u - units];
  return 0;
}

static char *unescape(const char *s, size_t n) {
  char *v = malloc(n + 1), *o = v;
  for (size_t i = 0; v != NULL && i < n; i++) {
    unsigned hi, lo;
    if (s[i] != '%') {
      *o++ = s[i];
    } else if (i + 2 < n && sscanf(s + i + 1, "%1x%1x", &hi, &lo) == 2 &&
               (hi | lo) != 0) {
      *o++ = (char)(hi * 16 + lo);
      i += 2;
    } else {
      free(v);
      return NULL;
    }
  }
  if (v != NULL) *o = '\0';
  return v;
}

static int parse_field(nctx *c, const char *f, size_t n) {
  const char *eq = memchr(f, '=', n);
  if (eq == NULL) return -EINVAL;
  size_t k = (size_t)(eq - f), vn = n - k - 1;
  const char *v = eq + 1;
  char **dst = k == 6 && memcmp(f, "parent", 6) == 0 ? &c->parent
               : k == 4 && memcmp(f, "node", 4) == 0 ? &c->node
                                                     : NULL;
  if (dst != NULL) {
    if (*dst != NULL || vn == 0) return -EINVAL;
    *dst = unescape(v, vn);
    return *dst != NULL ? 0 : -EINVAL;
  }
  if (k == 7 && memcmp(f, "timeout", 7) == 0)
    return parse_timeout(v, vn, &c->timeout);
  if (k == 8 && memcmp(f, "deadline", 8) == 0) {
    char buf[32], *end;
    if (vn == 0 || vn >= sizeof(buf)) return -EINVAL;
    memcpy(buf, v, vn);
    buf[vn] = '\0';
    c->deadline = strtod(buf, &end);
    return *end == '\0' && isfinite(c->deadline) ? 0 : -EINVAL;
  }
  return 0; /* a field of a later version: ignored */
}

static int parse_context(const char *s, nctx *c) {
  memset(c, 0, sizeof(*c));
  c->timeout = INFINITY;
  c->deadline = NAN;
  if (strncmp(s, "v1;", 3) != 0) return -EINVAL;
  int err = 0;
  for (const char *p = s + 3; err == 0 && *p != '\0';) {
    size_t n = strcspn(p, ";");
    err = parse_field(c, p, n);
    p += n + (p[n] == ';');
  }
  if (err == 0 && (c->parent == NULL || c->node == NULL)) err = -EINVAL;
  if (err != 0) {
    free(c->parent);
    free(c->node);
  }
  return err;
}

/* The child's time left: the relative timeout, shortened by the absolute
 * deadline when the two agree within the skew limit. */
static double inherited(const nctx *c) {
  if (!isfinite(c->timeout) || isnan(c->deadline)) return c->timeout;
  double by_clock = c->deadline - wall_now();
  if (fabs(by_clock - c->timeout) > CX_NATS_MAX_SKEW) return c->timeout;
  return by_clock < c->timeout ? by_clock : c->timeout;
}

static int create_child(const nctx *c, const cx_op_options *opts, cx_op **out) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  if (opts != NULL) {
    if (opts->size < sizeof(cx_op_options)) return -EINVAL;
    o = *opts;
  }
  o.register_op = true;
  double left = inherited(c);
  cx_meta *m = o.metadata != NULL ? cx_meta_copy(o.metadata) : cx_meta_new();
  int err = m == NULL ? -ENOMEM : 0;
  if (err == 0) err = cx_meta_set_string(m, "remote_parent_id", c->parent);
  if (err == 0) err = cx_meta_set_string(m, "remote_parent_node", c->node);
  o.metadata = m;
  if (err == 0) err = cx_op_create(out, &o);
  if (err == 0 && isfinite(left) && (o.timeout == 0 || left < o.timeout)) {
    err = cx_op_add_timeout_cause(*out, left > 1e-9 ? left : 1e-9,
                                  "remote parent's deadline");
    if (err != 0) {
      cx_op_unref(*out);
      *out = NULL;
    }
  }
  cx_meta_free(m);
  return err;
}

int cx_nats_op_create(cx_nats *n, const char *context,
                      const cx_op_options *opts, cx_op **out) {
  if (out == NULL) return -EINVAL;
  *out = NULL;
  nctx c;
  if (context == NULL || parse_context(context, &c) != 0) return -EINVAL;
  int err = create_child(&c, opts, out);
  const char *id = err == 0 ? cx_op_id(*out) : NULL;
  if (err == 0 && id == NULL) err = -ENOMEM;
  if (err == 0 && n != NULL) err = add_link(n, id, c.parent, *out);
  if (err != 0 && *out != NULL) {
    cx_op_unref(*out);
    *out = NULL;
  }
  free(c.parent);
  free(c.node);
  return err;
}
