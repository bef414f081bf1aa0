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

#endif /* CX_REGISTRY_INTERNAL_H */
