/* src/sources/composite.c - any-of (OR) and all-of (AND) composites.  A
 * composite starts and stops its sub-sources with itself; sub-sources report
 * to it instead of cancelling the op.  All-of remembers which sub-sources
 * have triggered since start in a bit mask (hence at most 64). */
#include <stdio.h>
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/sync.h"
#include "sources/sources.h"
#include "util/cxu_utf8.h"

#define MAX_CHILDREN 64

typedef struct composite {
  cx_source *self;
  cx_source **kids; /* (owned) */
  size_t count;
  bool all;
  uint64_t mask; /* guarded by self's stripe */
  bool fired;    /* guarded by self's stripe */
} composite;

static int start(cx_source *src, void *user_data) {
  composite *c = user_data;
  cx__stripe *s = cx__stripe_for(src);
  pthread_mutex_lock(&s->mu);
  c->mask = 0;
  c->fired = false;
  atomic_store(&src->winner, NULL);
  pthread_mutex_unlock(&s->mu);
  for (size_t i = 0; i < c->count; i++) {
    int rc = cx__source_start(c->kids[i], src->host);
    if (rc != 0) {
      while (i-- > 0) cx__source_stop(c->kids[i]);
      return rc;
    }
  }
  return 0;
}

static void stop(cx_source *src, void *user_data) {
  composite *c = user_data;
  (void)src;
  for (size_t i = 0; i < c->count; i++) cx__source_stop(c->kids[i]);
}

static void destroy(void *user_data) {
  composite *c = user_data;
  for (size_t i = 0; i < c->count; i++) cx_source_free(c->kids[i]);
  cx__free(c->kids);
  cx__free(c);
}

static int64_t deadline(const cx_source *src) {
  const composite *c = src->user_data;
  int64_t best = c->all ? INT64_MIN : CX__NO_DEADLINE;
  for (size_t i = 0; i < c->count; i++) {
    int64_t d = cx__source_deadline(c->kids[i]);
    if (c->all ? d > best : d < best) best = d;
  }
  return best;
}

/* Fires the outermost any-of @src with "MESSAGE (the first: PATH)". */
static void any_of_fire(cx_source *src, cx_reason reason, const char *message,
                        const char *path) {
  size_t len;
  char *text;
  if (message == NULL) message = "";
  len = strlen(message) + strlen(path) + sizeof " (the first: )";
  text = cx__malloc(len);
  if (text != NULL) snprintf(text, len, "%s (the first: %s)", message, path);
  cx__source_fire(src, reason, text != NULL ? text : message);
  cx__free(text);
}

void cx__composite_child_fired(cx_source *src, cx_source *child,
                               cx_reason reason, const char *message) {
  composite *c = src->user_data;
  cx__stripe *s = cx__stripe_for(src);
  bool fire = false;
  char text[160], *path;
  size_t index = 0;
  while (c->kids[index] != child) index++;
  pthread_mutex_lock(&s->mu);
  if (!c->fired) {
    c->mask |= UINT64_C(1) << index;
    if (!c->all || c->mask == (c->count == 64 ? UINT64_MAX
                                              : (UINT64_C(1) << c->count) - 1))
      fire = c->fired = true;
  }
  if (fire) atomic_store(&src->winner, child); /* named by the cancel */
  pthread_mutex_unlock(&s->mu);
  if (!fire) return;
  if (c->all) {
    cxu_utf8_snprintf(text, sizeof text,
                      "all %zu sources triggered (the last: %s)", c->count,
                      child->name);
    message = text;
  } else if (src->parent == NULL && c->count > 1) {
    /* The outermost any-of of several says which member fired (the path
     * down nested composites), once. */
    path = cx__source_fired_path(child);
    if (path != NULL) {
      any_of_fire(src, reason, message, path);
      cx__free(path);
      return;
    }
  }
  cx__source_fire(src, reason, message);
}

static const cx_source_ops composite_ops = {sizeof(cx_source_ops), start, stop,
                                            destroy};

static int make(cx_source *const *sources, size_t count, bool all,
                cx_source **out) {
  composite *c;
  if (out != NULL) *out = NULL;
  if (sources == NULL || out == NULL || count == 0 || count > MAX_CHILDREN)
    return -EINVAL;
  for (size_t i = 0; i < count; i++) {
    if (sources[i] == NULL || sources[i]->owned) return -EINVAL;
    for (size_t j = 0; j < i; j++)
      if (sources[j] == sources[i]) return -EINVAL;
  }
  c = cx__calloc(1, sizeof *c);
  if (c == NULL) return -ENOMEM;
  c->kids = cx__calloc(count, sizeof *c->kids);
  c->self = c->kids ? cx__source_alloc(&composite_ops, c, CX_REASON_NONE,
                                       all ? "all_of" : "any_of", false)
                    : NULL;
  if (c->self == NULL) {
    cx__free(c->kids);
    cx__free(c);
    return -ENOMEM;
  }
  c->count = count;
  c->all = all;
  for (size_t i = 0; i < count; i++) {
    c->kids[i] = sources[i];
    sources[i]->owned = true;
    sources[i]->parent = c->self;
  }
  c->self->deadline = deadline;
  *out = c->self;
  return 0;
}

int cx_source_any_of(cx_source **out, cx_source *const *sources, size_t count) {
  return make(sources, count, false, out);
}

int cx_source_all_of(cx_source **out, cx_source *const *sources, size_t count) {
  return make(sources, count, true, out);
}
