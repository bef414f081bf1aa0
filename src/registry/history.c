/* src/registry/history.c - the registry's history of finished ops: a ring
 * of records, newest first, each an op's reference with a copy of its end
 * time and shard.
 *
 * Why records and not the ops' own list nodes: a flush merges a shard's
 * batch among the newest entries, which are mostly ops another thread
 * finished an instant ago, and a trim unlinks the oldest.  Walking and
 * relinking the ops' nodes made every flush read and write cache lines
 * that the other CPU had just written, under the history's lock; with
 * the records the merge moves a few contiguous lines of the ring instead
 * (docs/benchmarks.md, X7).
 *
 * Every function here runs under the caller's history lock, never
 * allocates except cx__history_reserve(), and never releases a reference
 * (ops leaving are handed back to the caller). */
#include <stddef.h>
#include <stdint.h>

#include "registry/registry.h"
#include "runtime/alloc.h"

/* The ring's first capacity, in records (1.5 KB). */
enum { MIN_CAPACITY = 64 };

/* The record at logical index @i (0 the newest; from -cap to count); the
 * capacity is a power of two. */
static cx__history_rec *at(cx__history *h, ptrdiff_t i) {
  return &h->ring[(h->head + (size_t)i) & (h->cap - 1)];
}

bool cx__history_reserve(cx__history *h, size_t extra) {
  size_t need, cap;
  cx__history_rec *ring;
  if (extra > SIZE_MAX - h->count) return false;
  need = h->count + extra;
  if (need <= h->cap) return true;
  for (cap = h->cap > MIN_CAPACITY ? h->cap : MIN_CAPACITY; cap < need;
       cap *= 2)
    if (cap > SIZE_MAX / 2 / sizeof *ring) return false;
  ring = cx__malloc(cap * sizeof *ring);
  if (ring == NULL) return false;
  for (size_t i = 0; i < h->count; i++) ring[i] = *at(h, (ptrdiff_t)i);
  cx__free(h->ring);
  h->ring = ring;
  h->cap = cap;
  h->head = 0;
  return true;
}

size_t cx__history_room(const cx__history *h) { return h->cap - h->count; }

/* Writes the merged sequence from logical index -@k on: the output is
 * never ahead of the history's record it reads next (w = i - k + b with
 * b <= k batch records taken, so w < i until the batch is all out). */
void cx__history_merge(cx__history *h, const cx__history_rec *batch, size_t k) {
  size_t i = 0, b = 0;
  ptrdiff_t w = -(ptrdiff_t)k;
  if (k == 0) return;
  while (b < k) {
    cx__history_rec *next = i < h->count ? at(h, (ptrdiff_t)i) : NULL;
    if (next != NULL && next->end > batch[b].end &&
        next->shard != batch[b].shard) {
      *at(h, w++) = *next;
      i++;
    } else {
      *at(h, w++) = batch[b++];
    }
  }
  h->head = (size_t)(at(h, -(ptrdiff_t)k) - h->ring);
  h->count += k;
}

cx_op *cx__history_op(cx__history *h, size_t i) {
  return at(h, (ptrdiff_t)i)->op;
}

cx__history_rec cx__history_pop_oldest(cx__history *h) {
  cx__history_rec none = {NULL, 0, 0};
  if (h->count == 0) return none;
  return *at(h, (ptrdiff_t)--h->count);
}

size_t cx__history_filter(cx__history *h, cx__history_keep_fn keep, void *ctx) {
  size_t w = 0, n = h->count;
  for (size_t i = 0; i < n; i++) {
    cx__history_rec *r = at(h, (ptrdiff_t)i);
    if (keep(r->op, i, ctx)) *at(h, (ptrdiff_t)w++) = *r;
  }
  h->count = w;
  return n - w;
}
