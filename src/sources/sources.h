/* src/sources/sources.h - internal structure of sources.  Every source kind,
 * built-in or custom, is a cx_source with a cx_source_ops; built-ins keep
 * their state in user_data and may add a deadline hook. */
#ifndef CX_SOURCES_H
#define CX_SOURCES_H

#include <cancelable/source.h>

#include "core/core.h"

enum { CX__SRC_IDLE = 0, CX__SRC_STARTED = 1, CX__SRC_STOPPED = 2 };

struct cx_source {
  cx_source_ops ops;      /* immutable copy */
  void *user_data;        /* immutable */
  cx_reason reason;       /* immutable; NONE for composites */
  const char *name;       /* immutable (owned when name_owned) */
  bool name_owned;        /* immutable */
  cx_source *parent;      /* immutable once owned: composite or NULL */
  cx_source *next;        /* in op->sources; guarded by the op's stripe */
  cx_op *op;              /* set before start: the op it cancels */
  bool owned;             /* guarded by the owner: given away */
  _Atomic int state;      /* (atomic) CX__SRC_* */
  _Atomic bool triggered; /* (atomic) */
  _Atomic int inflight;   /* (atomic) triggers being delivered */
  /* (nullable) the deadline the source imposes once started. */
  int64_t (*deadline)(const cx_source *src);
};

/* Allocates a source without validating (for built-ins).  @name is copied
 * when @copy_name, else it must be a static string. */
cx_source *cx__source_alloc(const cx_source_ops *ops, void *user_data,
                            cx_reason reason, const char *name, bool copy_name);
/* Starts @src for @op; 0 or the start error. */
int cx__source_start(cx_source *src, cx_op *op);
/* Stops @src: no trigger is delivered after it returns. */
void cx__source_stop(cx_source *src);
/* Delivers a trigger with an explicit reason (composites). */
bool cx__source_fire(cx_source *src, cx_reason reason, const char *message);
/* Earliest deadline of @src (CX__NO_DEADLINE when none). */
int64_t cx__source_deadline(const cx_source *src);

/* The op's list (op.c calls these). */
/* Appends @src (not owned yet) to the list: under the op's stripe, or
 * before the op is shared. */
void cx__sources_append(cx_op *op, cx_source *src);
int cx__sources_start(cx_op *op);
void cx__sources_stop(cx_op *op);
void cx__sources_free(cx_op *op);
int64_t cx__sources_deadline(const cx_op *op);

#endif /* CX_SOURCES_H */
