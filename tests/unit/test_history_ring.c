/* tests/unit/test_history_ring.c - the registry's history ring
 * (src/registry/history.c) against a plain model: batches of several
 * shards merged newest first by end time, a record never passing one of
 * its own shard; the oldest taken out; filtered in order; grown while its
 * records wrap around the end of the ring, and refusing to grow (nothing
 * changed) when memory or size_t runs out.  The ring never reads its ops:
 * they are tagged numbers here.
 */
#include "cx_test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/registry.h"
#include "runtime/alloc.h"

enum { MODEL_MAX = 4096 };

/* The model: records newest first in a plain array. */
typedef struct model {
  cx__history_rec r[MODEL_MAX];
  size_t n;
} model;

static cx_op *tag(uintptr_t n) { return (cx_op *)(n << 4); }

/* The model's merge: each batch record, newest first, goes before the
 * first record that is not newer or is of its own shard, searched from
 * where the previous one went (as the history's list did before the ring). */
static void model_merge(model *m, const cx__history_rec *b, size_t k) {
  size_t at = 0;
  for (size_t j = 0; j < k; j++) {
    while (at < m->n && m->r[at].end > b[j].end && m->r[at].shard != b[j].shard)
      at++;
    memmove(&m->r[at + 1], &m->r[at], (m->n - at) * sizeof m->r[0]);
    m->r[at++] = b[j];
    m->n++;
  }
}

static void assert_same(cx__history *h, const model *m) {
  assert_int_equal(h->count, m->n);
  for (size_t i = 0; i < m->n; i++)
    assert_ptr_equal(cx__history_op(h, i), m->r[i].op);
}

static void merge_both(cx__history *h, model *m, const cx__history_rec *b,
                       size_t k) {
  assert_true(cx__history_reserve(h, k));
  assert_true(cx__history_room(h) >= k);
  cx__history_merge(h, b, k);
  model_merge(m, b, k);
  assert_same(h, m);
}

/* Two shards' batches interleave by end time; at equal times the batch's
 * record goes first (it joined last); a record never passes one of its own
 * shard, even an older one (exit order within a shard). */
static void test_merge_order(void **state) {
  cx__history h = CX__HISTORY_INIT;
  cx__history_rec a[] = {{tag(3), 30, 0}, {tag(2), 20, 0}, {tag(1), 10, 0}};
  cx__history_rec b[] = {{tag(13), 35, 1}, {tag(12), 20, 1}, {tag(11), 5, 1}};
  cx__history_rec c[] = {{tag(4), 1, 0}}; /* older than all, shard 0 */
  const uintptr_t want[] = {13, 3, 12, 2, 1, 11};
  (void)state;
  assert_true(cx__history_reserve(&h, 3));
  cx__history_merge(&h, a, 3);
  assert_true(cx__history_reserve(&h, 3));
  cx__history_merge(&h, b, 3);
  assert_int_equal(h.count, 6);
  for (size_t i = 0; i < 6; i++)
    assert_ptr_equal(cx__history_op(&h, i), tag(want[i]));
  assert_true(cx__history_reserve(&h, 1));
  cx__history_merge(&h, c, 1);
  /* Stops at shard 0's newest (3), below shard 1's 13. */
  assert_ptr_equal(cx__history_op(&h, 0), tag(13));
  assert_ptr_equal(cx__history_op(&h, 1), tag(4));
  assert_ptr_equal(cx__history_op(&h, 2), tag(3));
  assert_ptr_equal(cx__history_pop_oldest(&h).op, tag(11));
  assert_int_equal(h.count, 6);
  cx__free(h.ring);
}

/* Random batches of four shards (each shard's end times never falling),
 * the oldest taken out to a random bound: the ring's head goes round many
 * times and it grows while wrapped; it always equals the model. */
static void test_wraps_and_grows_like_the_model(void **state) {
  static model m;
  cx__history h = CX__HISTORY_INIT;
  int64_t clock[4] = {0, 0, 0, 0};
  uintptr_t next = 1;
  unsigned seed = 12345;
  (void)state;
  m.n = 0;
  for (int round = 0; round < 4000; round++) {
    cx__history_rec b[32];
    uint32_t shard = (uint32_t)(rand_r(&seed) % 4);
    size_t k = 1 + (size_t)rand_r(&seed) % 32;
    size_t bound = round < 2000 ? 40 + (size_t)round / 20 : 300;
    /* Oldest first in time, stored newest first. */
    for (size_t j = k; j-- > 0;) {
      clock[shard] += rand_r(&seed) % 3; /* equal times too */
      b[j] = (cx__history_rec){tag(next++), clock[shard], shard};
    }
    /* Another shard may run ahead: times cross between shards. */
    clock[(shard + 1) % 4] = clock[shard] - rand_r(&seed) % 40;
    merge_both(&h, &m, b, k);
    while (h.count > bound) {
      cx__history_rec r = cx__history_pop_oldest(&h);
      assert_ptr_equal(r.op, m.r[m.n - 1].op);
      assert_int_equal(r.end, m.r[m.n - 1].end);
      assert_int_equal(r.shard, m.r[m.n - 1].shard);
      m.n--;
    }
    assert_same(&h, &m);
  }
  assert_true(h.cap >= 300 + 32 && h.cap <= 1024);
  assert_int_equal(h.cap & (h.cap - 1), 0); /* a power of two */
  while (h.count > 0) assert_non_null(cx__history_pop_oldest(&h).op);
  assert_null(cx__history_pop_oldest(&h).op);
  cx__free(h.ring);
}

static bool keep_odd_rank_or_tag_mod3(cx_op *op, size_t rank, void *ctx) {
  size_t *calls = ctx;
  assert_int_equal(rank, (*calls)++);
  return rank % 2 == 1 || ((uintptr_t)op >> 4) % 3 == 0;
}

/* The filter sees every record newest first with its rank and keeps the
 * others in order, across the ring's end. */
static void test_filter_keeps_order(void **state) {
  static model m;
  cx__history h = CX__HISTORY_INIT;
  size_t calls = 0, kept = 0, went;
  (void)state;
  m.n = 0;
  for (uintptr_t i = 1; i <= 100; i++) { /* the head wraps (cap 64, 128) */
    cx__history_rec r = {tag(i), (int64_t)i, 0};
    merge_both(&h, &m, &r, 1);
    if (h.count > 50) cx__history_pop_oldest(&h), m.n--;
  }
  went = cx__history_filter(&h, keep_odd_rank_or_tag_mod3, &calls);
  assert_int_equal(went, 50 - h.count);
  assert_true(went > 0 && h.count > 0);
  assert_int_equal(calls, 50);
  for (size_t i = 0; i < m.n; i++)
    if (i % 2 == 1 || ((uintptr_t)m.r[i].op >> 4) % 3 == 0)
      m.r[kept++] = m.r[i];
  m.n = kept;
  assert_same(&h, &m);
  cx__free(h.ring);
}

/* Out of memory, or asked for more than size_t holds, the ring does not
 * grow and keeps what it had; it grows once memory is back. */
static void test_reserve_refused_changes_nothing(void **state) {
  static model m;
  cx__history h = CX__HISTORY_INIT;
  cx__history_rec *ring;
  size_t cap;
  (void)state;
  m.n = 0;
  cx__alloc_fail_after(0, false);
  assert_false(cx__history_reserve(&h, 1));
  cx__alloc_fail_after(-1, false);
  assert_null(h.ring);
  assert_int_equal(h.cap, 0);
  assert_int_equal(cx__history_room(&h), 0);
  for (uintptr_t i = 1; i <= 64; i++) {
    cx__history_rec r = {tag(i), (int64_t)i, (uint32_t)(i % 3)};
    merge_both(&h, &m, &r, 1);
  }
  ring = h.ring, cap = h.cap;
  assert_int_equal(cx__history_room(&h), 0);
  assert_false(cx__history_reserve(&h, SIZE_MAX));
  assert_false(cx__history_reserve(&h, SIZE_MAX / 2));
  cx__alloc_fail_after(0, false);
  assert_false(cx__history_reserve(&h, 1));
  cx__alloc_fail_after(-1, false);
  assert_ptr_equal(h.ring, ring);
  assert_int_equal(h.cap, cap);
  assert_same(&h, &m);
  assert_true(cx__history_reserve(&h, 1));
  assert_int_equal(h.cap, 128);
  assert_same(&h, &m);
  cx__free(h.ring);
}

static const struct CMUnitTest tests[] = {
    CX_TEST("/registry/ring/merge-order", test_merge_order),
    CX_TEST("/registry/ring/wraps-and-grows-like-the-model",
            test_wraps_and_grows_like_the_model),
    CX_TEST("/registry/ring/filter-keeps-order", test_filter_keeps_order),
    CX_TEST("/registry/ring/reserve-refused-changes-nothing",
            test_reserve_refused_changes_nothing),
};

CX_TEST_MAIN("history-ring", tests)
