/* src/progress/last.c - the op's last progress report, kept for those who
 * read the op from outside its callbacks: cx_op_last_progress(),
 * cx_op_to_json() and the registry's export (the HTTP adapter), the tool's
 * report. */
#include <stdlib.h>
#include <string.h>

#include <cancelable/progress.h>

#include "base/base.h"
#include "progress/progress.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/sync.h"
#include "util/cxu_json.h"

struct cx__progress_last {
  char *message;    /* owned; grown, never shrunk */
  size_t cap;       /* bytes allocated for message */
  cx_meta *meta;    /* owned */
  uint64_t reports; /* reports kept so far */
  int64_t at_ns;    /* monotonic time of the last one */
};

/* Frees @l and what it holds (NULL: nothing). */
static void last_free(struct cx__progress_last *l) {
  if (l == NULL) return;
  cx__free(l->message);
  cx_meta_free(l->meta);
  cx__free(l);
}

/* Makes @l's message buffer hold @n bytes (under the stripe). */
static int reserve(struct cx__progress_last *l, size_t n) {
  char *grown;
  if (n <= l->cap) return 0;
  grown = cx__realloc(l->message, n);
  if (grown == NULL) return -ENOMEM;
  l->message = grown;
  l->cap = n;
  return 0;
}

/* A complete first report for @op (not yet visible), or NULL when out of
 * memory. */
static struct cx__progress_last *first_report(const char *message,
                                              const cx_meta *meta,
                                              int64_t now) {
  struct cx__progress_last *l = cx__calloc(1, sizeof *l);
  if (l == NULL) return NULL;
  l->message = cx__strdup(message);
  l->meta = cx_meta_copy(meta);
  if (l->message == NULL || l->meta == NULL) {
    last_free(l);
    return NULL;
  }
  l->cap = strlen(message) + 1;
  l->reports = 1;
  l->at_ns = now;
  return l;
}

int cx__progress_keep(cx_op *op, const char *message, const cx_meta *meta) {
  struct cx__progress_last *fresh = NULL, *l;
  cx__stripe *s = cx__stripe_for(op);
  size_t n = strlen(message) + 1;
  int64_t now = cx__now_coarse_ns(); /* shown to people: a tick is fine */
  int rc = 0;
  /* The record appears whole, once: readers never see a partial one, and
   * it stays until the op is destroyed (so a non-NULL peek stays true). */
  if (atomic_load_explicit(&op->last_report, memory_order_acquire) == NULL &&
      (fresh = first_report(message, meta, now)) == NULL)
    return -ENOMEM;
  pthread_mutex_lock(&s->mu);
  l = atomic_load_explicit(&op->last_report, memory_order_relaxed);
  if (l == NULL) {
    atomic_store_explicit(&op->last_report, fresh, memory_order_release);
    fresh = NULL;
  } else if ((rc = reserve(l, n)) == 0 &&
             (rc = cx__meta_assign(l->meta, meta)) == 0) {
    /* In place: no allocation while the keys and strings stay the same. */
    memcpy(l->message, message, n);
    l->reports++;
    l->at_ns = now;
  }
  pthread_mutex_unlock(&s->mu);
  last_free(fresh); /* lost the race to be first: the other one is kept */
  return rc;
}

void cx__progress_last_free(cx_op *op) {
  struct cx__progress_last *l = atomic_load(&op->last_report);
  atomic_store(&op->last_report, NULL);
  last_free(l);
}

int cx_op_last_progress(const cx_op *op, cx_progress_snapshot *out) {
  const struct cx__progress_last *l;
  cx__stripe *s;
  char *m = NULL;
  cx_meta *copy = NULL;
  int rc = 0;
  if (out != NULL) memset(out, 0, sizeof *out);
  if (op == NULL || out == NULL) return -EINVAL;
  s = cx__stripe_for(op);
  pthread_mutex_lock(&s->mu);
  l = atomic_load_explicit(&op->last_report, memory_order_relaxed);
  if (l == NULL) {
    rc = -ENOENT;
  } else {
    /* Copies under the stripe: a concurrent report writes the fields. */
    m = cx__strdup(l->message); /* from malloc(): free() frees it */
    copy = cx_meta_copy(l->meta);
    out->reports = l->reports;
    out->elapsed = op->start_mono != 0 && l->at_ns > op->start_mono
                       ? (double)(l->at_ns - op->start_mono) / 1e9
                       : 0.0;
    if (m == NULL || copy == NULL) rc = -ENOMEM;
  }
  pthread_mutex_unlock(&s->mu);
  if (rc != 0) {
    free(m);
    cx_meta_free(copy);
    memset(out, 0, sizeof *out);
    return rc;
  }
  out->message = m;
  out->metadata = copy;
  return 0;
}

void cx_progress_snapshot_clear(cx_progress_snapshot *snapshot) {
  if (snapshot == NULL) return;
  free(snapshot->message);
  cx_meta_free(snapshot->metadata);
  memset(snapshot, 0, sizeof *snapshot);
}

int cx_op_progress_to_json(const cx_op *op, char **out) {
  cx_progress_snapshot snap;
  cxu_json j;
  int rc;
  if (out != NULL) *out = NULL;
  if (op == NULL || out == NULL) return -EINVAL;
  rc = cx_op_last_progress(op, &snap);
  if (rc != 0 && rc != -ENOENT) return rc;
  cxu_json_init(&j);
  if (rc == -ENOENT) {
    cxu_json_null(&j);
  } else {
    cxu_json_object_begin(&j);
    cx__progress_write_fields(&j, snap.message, snap.metadata);
    cxu_json_key(&j, "reports");
    cxu_json_int(&j, (int64_t)snap.reports);
    cxu_json_key(&j, "elapsed");
    cxu_json_double(&j, snap.elapsed);
    cxu_json_object_end(&j);
  }
  cx_progress_snapshot_clear(&snap);
  rc = cxu_json_error(&j);
  if (rc == 0 && j.buf == NULL) rc = -ENOMEM;
  if (rc == 0) {
    *out = j.buf; /* from malloc(): the caller frees it */
    j.buf = NULL;
  }
  cxu_json_free(&j);
  return rc;
}
