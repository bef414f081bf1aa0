/* tools/cancelable/triggers.c - builds the library's sources from parsed
 * expressions and options: timeouts, signals, conditions, resources, the
 * tool's own progress watchers (count:N, progress:PCT), and any-of / all-of
 * composites for OR / AND groups. */
#include "triggers.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conditions.h"

/* The most sub-sources one library composite takes. */
#define COMPOSITE_MAX 64

/* A count:N or progress:PCT source. */
typedef struct watcher {
  leaf_kind kind;
  double target;
  cx_source *source; /* (not owned) valid while the op lives */
} watcher;

struct source_set {
  double interval;
  double sustain;          /* seconds over a resource threshold before firing */
  cond_shutdown *shutdown; /* created with the first shell condition */
  watcher **watchers;      /* (owned array; the watchers are owned by their
                              sources) */
  size_t nwatchers;
  cx_source **resources; /* (owned array of borrowed sources) */
  size_t nresources;
};

source_set *source_set_new(double interval, double sustain) {
  source_set *set = calloc(1, sizeof *set);
  if (set != NULL) {
    set->interval = interval;
    set->sustain = sustain;
  }
  return set;
}

void source_set_free(source_set *set) {
  if (set == NULL) return;
  cond_shutdown_free(set->shutdown);
  free(set->watchers);
  free(set->resources);
  free(set);
}

void source_set_shutdown(source_set *set) {
  if (set != NULL) cond_shutdown_trigger(set->shutdown);
}

/* Appends @item to a growable pointer array. */
static int push(void ***array, size_t *count, void *item) {
  void **a = realloc(*array, (*count + 1) * sizeof *a);
  if (a == NULL) return -ENOMEM;
  a[(*count)++] = item;
  *array = a;
  return 0;
}

static int watcher_start(cx_source *source, void *user_data) {
  (void)source;
  (void)user_data;
  return 0;
}

static void watcher_stop(cx_source *source, void *user_data) {
  (void)source;
  (void)user_data;
}

static int new_watcher(source_set *set, const expr_leaf *leaf,
                       cx_source **out) {
  static const cx_source_ops ops = {sizeof(cx_source_ops), watcher_start,
                                    watcher_stop, free};
  watcher *w = calloc(1, sizeof *w);
  int rc;
  if (w == NULL) return -ENOMEM;
  w->kind = leaf->kind;
  w->target = leaf->value;
  rc = cx_source_new(out, &ops, w, CX_REASON_CONDITION,
                     expr_leaf_kind_name(leaf->kind));
  if (rc != 0) {
    free(w);
    return rc;
  }
  w->source = *out;
  rc = push((void ***)&set->watchers, &set->nwatchers, w);
  if (rc != 0) {
    cx_source_free(*out); /* frees @w */
    *out = NULL;
  }
  return rc;
}

void source_set_progress(source_set *set, double percent, int64_t current) {
  char msg[128];
  for (size_t i = 0; set != NULL && i < set->nwatchers; i++) {
    const watcher *w = set->watchers[i];
    if (w->kind == LEAF_COUNT && current >= 0 && (double)current >= w->target) {
      snprintf(msg, sizeof msg, "progress count %" PRId64 " reached %.0f",
               current, w->target);
      cx_source_trigger(w->source, msg);
    } else if (w->kind == LEAF_PROGRESS && !isnan(percent) &&
               percent >= w->target) {
      snprintf(msg, sizeof msg, "progress %.1f%% reached %g%%", percent,
               w->target);
      cx_source_trigger(w->source, msg);
    }
  }
}

bool source_set_resource_fired(const source_set *set) {
  for (size_t i = 0; set != NULL && i < set->nresources; i++)
    if (cx_source_triggered(set->resources[i])) return true;
  return false;
}

static int new_resource(source_set *set, const expr_leaf *leaf,
                        cx_source **out) {
  cx_resource_limits limits = CX_RESOURCE_LIMITS_INIT;
  int rc;
  limits.interval = set->interval;
  limits.sustain = set->sustain;
  if (leaf->kind == LEAF_MEMORY) limits.memory_percent = leaf->value;
  if (leaf->kind == LEAF_CPU) limits.cpu_percent = leaf->value;
  if (leaf->kind == LEAF_DISK) {
    limits.disk_percent = leaf->value;
    limits.disk_path = leaf->text;
  }
  rc = cx_source_resource(out, &limits);
  if (rc != 0) return rc;
  rc = push((void ***)&set->resources, &set->nresources, *out);
  if (rc != 0) {
    cx_source_free(*out);
    *out = NULL;
  }
  return rc;
}

static int new_command(source_set *set, const expr_leaf *leaf,
                       cx_source **out) {
  if (set->shutdown == NULL) set->shutdown = cond_shutdown_new();
  if (set->shutdown == NULL) return -ENOMEM;
  return cond_source_command(leaf->text, set->interval, set->shutdown, out);
}

/* Why @leaf's source could not be made, naming its argument: the disk
 * source's path (statvfs() failed: the system's word for it), the file or
 * the command. */
static void describe_error(const expr_leaf *leaf, int rc, char *err,
                           size_t size) {
  const char *kind = expr_leaf_kind_name(leaf->kind);
  if (leaf->kind == LEAF_DISK)
    snprintf(err, size, "cannot create the disk source for '%s': %s",
             leaf->text != NULL ? leaf->text : "/", strerror(-rc));
  else if (leaf->text != NULL)
    snprintf(err, size, "cannot create the %s source for '%s': %s", kind,
             leaf->text, cx_strerror(rc));
  else
    snprintf(err, size, "cannot create the %s source: %s", kind,
             cx_strerror(rc));
}

/* Names a timeout by the keyword written and its duration ("timeout:300",
 * "after:60"), so that the report's cancel_source tells a hard timeout
 * from a minimum time.  Out of memory it keeps the default name. */
static void name_timeout(cx_source *src, const expr_leaf *leaf) {
  char name[48];
  snprintf(name, sizeof name, "%s:%g", expr_leaf_name(leaf), leaf->value);
  (void)cx_source_set_name(src, name);
}

int source_set_leaf(source_set *set, const expr_leaf *leaf, cx_source **out,
                    char *err, size_t size) {
  int rc = -EINVAL;
  *out = NULL;
  switch (leaf->kind) {
    case LEAF_TIMEOUT:
      rc = cx_source_timeout(out, leaf->value);
      if (rc == 0) name_timeout(*out, leaf);
      break;
    case LEAF_SIGNAL:
      rc = cx_source_signal(out, leaf->signals, leaf->nsignals);
      break;
    case LEAF_FILE:
      rc = cond_source_file(leaf->text, set->interval, out);
      break;
    case LEAF_COND:
      rc = new_command(set, leaf, out);
      break;
    case LEAF_MEMORY:
    case LEAF_CPU:
    case LEAF_DISK:
      rc = new_resource(set, leaf, out);
      break;
    case LEAF_COUNT:
    case LEAF_PROGRESS:
      rc = new_watcher(set, leaf, out);
      break;
  }
  if (rc != 0) describe_error(leaf, rc, err, size);
  return rc;
}

/* Combines @n sources into one with any-of (OR) or all-of (AND), nesting
 * composites when there are more than the library takes at once.  On
 * success the sources are owned by the result; on error they are freed. */
static int combine(bool all, cx_source **srcs, size_t n, cx_source **out) {
  int rc = 0;
  while (n > 1 && rc == 0) {
    size_t groups = (n + COMPOSITE_MAX - 1) / COMPOSITE_MAX, done = 0;
    for (size_t g = 0; g < groups && rc == 0; g++) {
      size_t k = n - done < COMPOSITE_MAX ? n - done : COMPOSITE_MAX;
      cx_source *c;
      rc = all ? cx_source_all_of(&c, srcs + done, k)
               : cx_source_any_of(&c, srcs + done, k);
      if (rc != 0) {
        for (size_t i = done; i < n; i++) cx_source_free(srcs[i]);
        for (size_t i = 0; i < g; i++) cx_source_free(srcs[i]);
        return rc;
      }
      srcs[g] = c;
      done += k;
    }
    n = groups;
  }
  *out = srcs[0];
  return rc;
}

int source_set_build(source_set *set, const expr_node *node, cx_source **out,
                     char *err, size_t size) {
  cx_source **srcs;
  int rc = 0;
  size_t built = 0;
  *out = NULL;
  if (node->kind == EXPR_LEAF)
    return source_set_leaf(set, &node->leaf, out, err, size);
  srcs = calloc(node->count, sizeof *srcs);
  if (srcs == NULL) {
    snprintf(err, size, "out of memory");
    return -ENOMEM;
  }
  for (; built < node->count && rc == 0; built++)
    rc = source_set_build(set, node->children[built], &srcs[built], err, size);
  if (rc != 0) {
    for (size_t i = 0; i + 1 < built; i++) cx_source_free(srcs[i]);
  } else {
    rc = combine(node->kind == EXPR_AND, srcs, node->count, out);
    if (rc != 0)
      snprintf(err, size, "cannot combine sources: %s", cx_strerror(rc));
  }
  free(srcs);
  return rc;
}
