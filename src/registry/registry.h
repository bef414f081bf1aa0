/* src/registry/registry.h - what the registry's files share. */
#ifndef CX_REGISTRY_INTERNAL_H
#define CX_REGISTRY_INTERNAL_H

#include <stdint.h>

#include <cancelable/registry.h>

#include "op/events.h"
#include "op/op.h"

/* Op filters (filter.c). */
/* Checks @in (NULL: match all) and copies it into @out, the fields an
 * older build's smaller filter lacks at their defaults.  0 or -EINVAL. */
int cx__filter_prepare(const cx_op_filter *in, cx_op_filter *out);
/* The fields a query checks while it holds the registry lock: status,
 * parent, names (no user code). */
bool cx__filter_match_early(const cx_op_filter *f, cx_op *op);
/* Whether @f has fields checked after the snapshot. */
bool cx__filter_has_late(const cx_op_filter *f);
/* Those fields, with no library lock held: ages and end time against
 * @now (cx__now_ns()), then the caller's predicate. */
bool cx__filter_match_late(const cx_op_filter *f, cx_op *op, int64_t now);

/* The history of finished ops (history.c): a ring of records, newest
 * first, each holding a reference of the registry's.  Every function runs
 * under the registry's history lock (the caller's). */
typedef struct cx__history_rec {
  cx_op *op;      /* a reference */
  int64_t end;    /* op->end_mono, copied at the flush */
  uint32_t shard; /* op->reg_shard, copied likewise */
} cx__history_rec;

typedef struct cx__history {
  cx__history_rec *ring; /* cap records (a power of two), or NULL */
  size_t cap, head;      /* head: the newest record's index in ring */
  size_t count;
} cx__history;

#define CX__HISTORY_INIT \
  { NULL, 0, 0, 0 }

/* Grows the ring so that @extra more records fit (cx__malloc).  True when
 * they fit, false when memory (or size_t) ran out: nothing changed. */
bool cx__history_reserve(cx__history *h, size_t extra);
/* How many more records fit without growing. */
size_t cx__history_room(const cx__history *h);
/* Merges @batch (@k records of one shard, newest first) in by end time,
 * newest first; a record never passes one of its own shard (their order is
 * the order of exits).  @k must fit (cx__history_reserve()). */
void cx__history_merge(cx__history *h, const cx__history_rec *batch, size_t k);
/* The op of the @i-th newest record (@i < count); the reference stays. */
cx_op *cx__history_op(cx__history *h, size_t i);
/* Takes out the oldest record (its op's reference passes to the caller),
 * or returns one whose op is NULL when empty. */
cx__history_rec cx__history_pop_oldest(cx__history *h);
/* Whether to keep @op, the @rank-th newest; when not, the callback takes
 * over the record's reference. */
typedef bool (*cx__history_keep_fn)(cx_op *op, size_t rank, void *ctx);
/* Calls @keep on every record, newest first, and takes out those it did
 * not keep, the others keeping their order.  Returns how many went. */
size_t cx__history_filter(cx__history *h, cx__history_keep_fn keep, void *ctx);

#endif /* CX_REGISTRY_INTERNAL_H */
