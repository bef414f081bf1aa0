/* src/sources/source.c - the source object: custom sources, start/stop with
 * the "no trigger after stop" rule, and the op's list of sources. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/compiler.h"
#include "runtime/list.h"
#include "runtime/sync.h"
#include "sources/sources.h"

_Static_assert(sizeof(struct cx_source) % _Alignof(max_align_t) == 0,
               "the state after a source is aligned for any type");

/* Fills a zeroed @src. */
static void source_init(cx_source *src, const cx_source_ops *ops,
                        void *user_data, cx_reason reason) {
  src->ops = *ops;
  src->user_data = user_data;
  src->reason = reason;
  atomic_init(&src->state, CX__SRC_IDLE);
  atomic_init(&src->triggered, false);
  atomic_init(&src->inflight, 0);
  atomic_init(&src->winner, NULL);
}

cx_source *cx__source_alloc(const cx_source_ops *ops, void *user_data,
                            cx_reason reason, const char *name,
                            bool copy_name) {
  cx_source *src = cx__block_alloc(sizeof *src);
  if (src == NULL) return NULL;
  memset(src, 0, sizeof *src);
  src->name = copy_name ? cx__strdup(name) : name;
  src->name_owned = copy_name;
  if (src->name == NULL) {
    cx__block_free(src, sizeof *src);
    return NULL;
  }
  source_init(src, ops, user_data, reason);
  return src;
}

cx_source *cx__source_alloc_with_state(const cx_source_ops *ops,
                                       size_t state_size, cx_reason reason,
                                       const char *name) {
  size_t size = sizeof(cx_source) + state_size;
  cx_source *src;
  if (state_size > UINT16_MAX) return NULL;
  src = cx__block_alloc(size);
  if (src == NULL) return NULL;
  memset(src, 0, size);
  src->name = name;
  src->state_size = (uint16_t)state_size;
  source_init(src, ops, src + 1, reason);
  return src;
}

int cx_source_new(cx_source **out, const cx_source_ops *ops, void *user_data,
                  cx_reason reason, const char *name) {
  if (out != NULL) *out = NULL;
  if (ops == NULL || out == NULL || ops->size < sizeof(cx_source_ops) ||
      ops->start == NULL || ops->stop == NULL || !cx__reason_valid(reason))
    return -EINVAL;
  *out = name != NULL
             ? cx__source_alloc(ops, user_data, reason, name, true)
             : cx__source_alloc(ops, user_data, reason, "custom", false);
  return *out != NULL ? 0 : -ENOMEM;
}

void cx_source_free(cx_source *src) {
  if (src == NULL) return;
  if (src->ops.destroy != NULL) src->ops.destroy(src->user_data);
  if (src->name_owned) cx__free((char *)src->name);
  cx__block_free(src, sizeof *src + src->state_size);
}

int cx_source_set_name(cx_source *src, const char *name) {
  char *copy;
  if (src == NULL || name == NULL || name[0] == '\0') return -EINVAL;
  if (src->owned) return -EBUSY; /* others may read it from now on */
  copy = cx__strdup(name);
  if (copy == NULL) return -ENOMEM;
  if (src->name_owned) cx__free((char *)src->name);
  src->name = copy;
  src->name_owned = true;
  return 0;
}

char *cx__source_fired_path(const cx_source *src) {
  const cx_source *s;
  size_t len = 0, at = 0;
  char *path;
  for (s = src; s != NULL; s = atomic_load(&s->winner))
    len += strlen(s->name) + 1;
  path = cx__malloc(len);
  if (path == NULL) return NULL;
  for (s = src; s != NULL; s = atomic_load(&s->winner)) {
    size_t n = strlen(s->name);
    if (at > 0) path[at++] = '/';
    memcpy(path + at, s->name, n);
    at += n;
  }
  path[at] = '\0';
  return path;
}

/* Cancels @src's host, naming the path of sources that fired (without
 * the name when out of memory: never without the cancel). */
static void cancel_host(const cx_source *src, cx_reason reason,
                        const char *message) {
  char *path = cx__source_fired_path(src);
  cx__token_cancel_from(src->host->token, reason, message, path);
  cx__free(path);
}

const char *cx_source_name(const cx_source *src) {
  return src ? src->name : NULL;
}

cx_reason cx_source_reason(const cx_source *src) {
  return src ? src->reason : CX_REASON_NONE;
}

bool cx_source_triggered(const cx_source *src) {
  return src != NULL && atomic_load(&src->triggered);
}

/* Ends an in-flight trigger and wakes a stop() waiting for it.  Once the
 * count reaches 0 the stopping thread may free @src, so nothing of it is
 * read after the decrement (the stripe is found before). */
static void inflight_done(cx_source *src) {
  cx__stripe *s = cx__stripe_for(src);
  if (atomic_fetch_sub(&src->inflight, 1) == 1) {
    pthread_mutex_lock(&s->mu);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
  }
}

static void wait_inflight(cx_source *src) {
  cx__stripe *s;
  /* The state left STARTED (seq_cst) before this load: a trigger that
   * slips in later sees it and backs out, so 0 here is final. */
  if (atomic_load(&src->inflight) == 0) return;
  s = cx__stripe_for(src);
  pthread_mutex_lock(&s->mu);
  while (atomic_load(&src->inflight) > 0) pthread_cond_wait(&s->cond, &s->mu);
  pthread_mutex_unlock(&s->mu);
}

bool cx__source_fire(cx_source *src, cx_reason reason, const char *message) {
  /* seq_cst pairs with stop(): either we see STOPPED or it sees us. */
  atomic_fetch_add(&src->inflight, 1);
  if (atomic_load(&src->state) != CX__SRC_STARTED) {
    inflight_done(src);
    return false;
  }
  atomic_store(&src->triggered, true);
  if (src->parent != NULL)
    cx__composite_child_fired(src->parent, src, reason, message);
  else
    cancel_host(src, reason, message);
  inflight_done(src);
  return true;
}

bool cx_source_trigger(cx_source *src, const char *message) {
  if (src == NULL) return false;
  return cx__source_fire(src, src->reason, message);
}

int cx__source_start(cx_source *src, const cx__source_host *host) {
  int rc;
  src->host = host;
  atomic_store(&src->triggered, false);
  atomic_store(&src->state, CX__SRC_STARTED);
  rc = src->ops.start(src, src->user_data);
  if (rc != 0) {
    atomic_store(&src->state, CX__SRC_IDLE);
    wait_inflight(src);
  }
  return rc;
}

void cx__source_stop(cx_source *src) {
  int expected = CX__SRC_STARTED;
  if (!atomic_compare_exchange_strong(&src->state, &expected, CX__SRC_STOPPED))
    return;
  src->ops.stop(src, src->user_data);
  wait_inflight(src);
}

int64_t cx__source_deadline(const cx_source *src) {
  return src->deadline != NULL ? src->deadline(src) : CX__NO_DEADLINE;
}

/* ---- lists of sources */

static cx_source *source_of(const cx__list *node) {
  return cx__container_of(node, cx_source, node);
}

void cx__sources_append(cx__list *list, cx_source *src) {
  cx__list_append(list, &src->node);
  src->owned = true;
}

int cx__sources_start(const cx__list *list, const cx__source_host *host) {
  cx__list *node, *undo;
  cx__list_for_each(node, list) {
    int rc = cx__source_start(source_of(node), host);
    if (rc != 0) {
      for (undo = list->next; undo != node; undo = undo->next)
        cx__source_stop(source_of(undo));
      return rc;
    }
  }
  return 0;
}

void cx__sources_stop(const cx__list *list) {
  cx__list *node;
  cx__list_for_each(node, list) cx__source_stop(source_of(node));
}

void cx__sources_free(cx__list *list) {
  cx__list *node;
  while ((node = cx__list_first(list)) != NULL) {
    cx__list_remove(node);
    cx_source_free(source_of(node));
  }
}

int64_t cx__sources_deadline(const cx__list *list) {
  int64_t best = CX__NO_DEADLINE;
  cx__list *node;
  cx__list_for_each(node, list) {
    int64_t d = cx__source_deadline(source_of(node));
    if (d < best) best = d;
  }
  return best;
}
