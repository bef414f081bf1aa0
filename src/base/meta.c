/* src/base/meta.c - typed key/value metadata: an ordered array, small
 * enough that linear lookup beats hashing. */
#include <string.h>

#include "base/base.h"
#include "runtime/alloc.h"

typedef struct entry {
  char *key;
  cx_meta_type type;
  union {
    char *s;
    int64_t i;
    double d;
    bool b;
  } v;
} entry;

struct cx_meta {
  entry *items;
  size_t count, capacity;
};

cx_meta *cx_meta_new(void) { return cx__calloc(1, sizeof(cx_meta)); }

static void entry_clear(entry *e) {
  cx__free(e->key);
  if (e->type == CX_META_STRING) cx__free(e->v.s);
}

void cx_meta_free(cx_meta *m) {
  if (m == NULL) return;
  for (size_t i = 0; i < m->count; i++) entry_clear(&m->items[i]);
  cx__free(m->items);
  cx__free(m);
}

static entry *find(const cx_meta *m, const char *key) {
  for (size_t i = 0; i < m->count; i++)
    if (strcmp(m->items[i].key, key) == 0) return &m->items[i];
  return NULL;
}

/* Sets @key to @value (its string, if any, already copied and owned). */
static int set(cx_meta *m, const char *key, const entry *value) {
  entry *e;
  if (m == NULL || key == NULL || key[0] == '\0') return -EINVAL;
  e = find(m, key);
  if (e != NULL) {
    if (e->type == CX_META_STRING) cx__free(e->v.s);
    e->type = value->type;
    e->v = value->v;
    return 0;
  }
  if (m->count == m->capacity) {
    size_t cap = m->capacity ? m->capacity * 2 : 4;
    entry *items = cx__realloc(m->items, cap * sizeof *items);
    if (items == NULL) return -ENOMEM;
    m->items = items;
    m->capacity = cap;
  }
  e = &m->items[m->count];
  e->key = cx__strdup(key);
  if (e->key == NULL) return -ENOMEM;
  e->type = value->type;
  e->v = value->v;
  m->count++;
  return 0;
}

int cx_meta_set_string(cx_meta *m, const char *key, const char *value) {
  entry e;
  int rc;
  if (value == NULL) return -EINVAL;
  e.type = CX_META_STRING;
  e.v.s = cx__strdup(value);
  if (e.v.s == NULL) return -ENOMEM;
  rc = set(m, key, &e);
  if (rc != 0) cx__free(e.v.s);
  return rc;
}

int cx_meta_set_int(cx_meta *m, const char *key, int64_t value) {
  entry e = {NULL, CX_META_INT, {.i = value}};
  return set(m, key, &e);
}

int cx_meta_set_double(cx_meta *m, const char *key, double value) {
  entry e = {NULL, CX_META_DOUBLE, {.d = value}};
  return set(m, key, &e);
}

int cx_meta_set_bool(cx_meta *m, const char *key, bool value) {
  entry e = {NULL, CX_META_BOOL, {.b = value}};
  return set(m, key, &e);
}

int cx_meta_remove(cx_meta *m, const char *key) {
  entry *e;
  if (m == NULL || key == NULL) return -EINVAL;
  e = find(m, key);
  if (e == NULL) return -ENOENT;
  entry_clear(e);
  memmove(e, e + 1, (size_t)(&m->items[m->count] - (e + 1)) * sizeof *e);
  m->count--;
  return 0;
}

cx_meta_type cx_meta_type_of(const cx_meta *m, const char *key) {
  const entry *e;
  if (m == NULL || key == NULL) return CX_META_NONE;
  e = find(m, key);
  return e != NULL ? e->type : CX_META_NONE;
}

/* Finds @key with @type; 0, -ENOENT, -EPROTOTYPE or -EINVAL. */
static int get(const cx_meta *m, const char *key, const void *out,
               cx_meta_type type, const entry **found) {
  const entry *e;
  if (m == NULL || key == NULL || out == NULL) return -EINVAL;
  e = find(m, key);
  if (e == NULL) return -ENOENT;
  if (e->type != type) return -EPROTOTYPE;
  *found = e;
  return 0;
}

int cx_meta_get_string(const cx_meta *m, const char *key, const char **out) {
  const entry *e;
  int rc = get(m, key, out, CX_META_STRING, &e);
  if (rc == 0) *out = e->v.s;
  return rc;
}

int cx_meta_get_int(const cx_meta *m, const char *key, int64_t *out) {
  const entry *e;
  int rc = get(m, key, out, CX_META_INT, &e);
  if (rc == 0) *out = e->v.i;
  return rc;
}

int cx_meta_get_double(const cx_meta *m, const char *key, double *out) {
  const entry *e;
  int rc = get(m, key, out, CX_META_DOUBLE, &e);
  if (rc == -EPROTOTYPE && get(m, key, out, CX_META_INT, &e) == 0) {
    *out = (double)e->v.i;
    return 0;
  }
  if (rc == 0) *out = e->v.d;
  return rc;
}

int cx_meta_get_bool(const cx_meta *m, const char *key, bool *out) {
  const entry *e;
  int rc = get(m, key, out, CX_META_BOOL, &e);
  if (rc == 0) *out = e->v.b;
  return rc;
}

/* The getters with a default: the getter's value, else @fallback (a
 * failed getter leaves its output unchanged). */
const char *cx_meta_string_or(const cx_meta *m, const char *key,
                              const char *fallback) {
  (void)cx_meta_get_string(m, key, &fallback);
  return fallback;
}

int64_t cx_meta_int_or(const cx_meta *m, const char *key, int64_t fallback) {
  (void)cx_meta_get_int(m, key, &fallback);
  return fallback;
}

double cx_meta_double_or(const cx_meta *m, const char *key, double fallback) {
  (void)cx_meta_get_double(m, key, &fallback);
  return fallback;
}

bool cx_meta_bool_or(const cx_meta *m, const char *key, bool fallback) {
  (void)cx_meta_get_bool(m, key, &fallback);
  return fallback;
}

size_t cx_meta_count(const cx_meta *m) { return m != NULL ? m->count : 0; }

const char *cx_meta_key_at(const cx_meta *m, size_t index) {
  if (m == NULL || index >= m->count) return NULL;
  return m->items[index].key;
}

/* Copies the value of @src into @dst (deep). */
static int set_from(cx_meta *dst, const entry *src) {
  switch (src->type) {
    case CX_META_STRING:
      return cx_meta_set_string(dst, src->key, src->v.s);
    case CX_META_INT:
      return cx_meta_set_int(dst, src->key, src->v.i);
    case CX_META_DOUBLE:
      return cx_meta_set_double(dst, src->key, src->v.d);
    case CX_META_BOOL:
      return cx_meta_set_bool(dst, src->key, src->v.b);
    case CX_META_NONE:
      break;
  }
  return -EINVAL;
}

cx_meta *cx_meta_copy(const cx_meta *m) {
  cx_meta *copy = cx_meta_new();
  if (copy == NULL || m == NULL) return copy;
  for (size_t i = 0; i < m->count; i++) {
    if (set_from(copy, &m->items[i]) != 0) {
      cx_meta_free(copy);
      return NULL;
    }
  }
  return copy;
}

int cx__meta_assign(cx_meta *to, const cx_meta *from) {
  size_t n = from != NULL ? from->count : 0;
  bool same = to->count == n;
  /* In place when the keys are the same, in the same order, and every
   * string value too: nothing to allocate, so nothing can fail midway. */
  for (size_t i = 0; same && i < n; i++) {
    const entry *f = &from->items[i], *t = &to->items[i];
    same = strcmp(t->key, f->key) == 0 &&
           (f->type != CX_META_STRING ||
            (t->type == CX_META_STRING && strcmp(t->v.s, f->v.s) == 0));
  }
  if (same) {
    for (size_t i = 0; i < n; i++) {
      const entry *f = &from->items[i];
      entry *t = &to->items[i];
      if (f->type == CX_META_STRING) continue; /* equal already */
      if (t->type == CX_META_STRING) cx__free(t->v.s);
      t->type = f->type;
      t->v = f->v;
    }
    return 0;
  }
  {
    cx_meta *copy = cx_meta_copy(from), tmp;
    if (copy == NULL) return -ENOMEM;
    tmp = *to;
    *to = *copy;
    *copy = tmp;
    cx_meta_free(copy);
  }
  return 0;
}

int cx__meta_merge(cx_meta *to, const cx_meta *from) {
  cx_meta *work = cx_meta_copy(to);
  if (work == NULL) return -ENOMEM;
  for (size_t i = 0; i < from->count; i++) {
    if (set_from(work, &from->items[i]) != 0) {
      cx_meta_free(work);
      return -ENOMEM;
    }
  }
  /* Swap contents so that @to changes only on success. */
  {
    cx_meta tmp = *to;
    *to = *work;
    *work = tmp;
  }
  cx_meta_free(work);
  return 0;
}
