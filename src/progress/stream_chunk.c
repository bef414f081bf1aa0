/* src/progress/stream_chunk.c - chunked streams: the next k items at once.
 * While a chunk is filled, the items the stream would free (evicted from
 * the ring of the last K, or not kept at all) are held back instead, and
 * freed when the chunk is released: at the next call or the free. */
#include <stdint.h>

#include <cancelable/progress.h>

#include "progress/stream.h"
#include "runtime/alloc.h"

/* Makes room for chunks of @k; the old arrays stay on failure. */
static int reserve(cx_stream *s, size_t k) {
  void **chunk, **held;
  if (k <= s->chunk_cap) return 0;
  if (k > SIZE_MAX / sizeof(void *)) return -ENOMEM;
  chunk = cx__malloc(k * sizeof(void *));
  held = cx__malloc(k * sizeof(void *));
  if (chunk == NULL || held == NULL) {
    cx__free(chunk);
    cx__free(held);
    return -ENOMEM;
  }
  /* The previous chunk stays readable until it is released. */
  for (size_t i = 0; i < s->chunk_cap; i++) chunk[i] = s->chunk[i];
  for (size_t i = 0; i < s->held_len; i++) held[i] = s->held[i];
  cx__free(s->chunk);
  cx__free(s->held);
  s->chunk = chunk;
  s->held = held;
  s->chunk_cap = k;
  return 0;
}

int cx_stream_next_chunk(cx_stream *s, size_t k, void *const **items,
                         size_t *count) {
  size_t n = 0;
  int rc = 1;
  if (s == NULL || k == 0 || items == NULL || count == NULL) return -EINVAL;
  if (reserve(s, k) != 0) return -ENOMEM;
  cx__stream_release(s);
  s->holding = true; /* each receive frees at most one item: k fit */
  while (n < k && (rc = cx__stream_receive(s, &s->chunk[n])) == 1) n++;
  s->holding = false;
  if (n == 0) {
    cx__stream_exit_op(s);
    return rc;
  }
  *items = s->chunk;
  *count = n;
  return 1;
}
