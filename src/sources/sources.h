/* src/sources/sources.h - internal source interface.  A source is attached
 * to an op before enter, started at enter and stopped at exit; after stop()
 * returns, none of its callbacks runs any more. */
#ifndef CX_SOURCES_H
#define CX_SOURCES_H

#include "core/core.h"

typedef struct cx__source_ops {
  const char *name;
  /* Starts watching; triggers by cancelling op->token.  @now is the enter
   * time (cx__now_ns()).  0 or a negative errno (then nothing runs). */
  int (*start)(cx__source *src, int64_t now);
  /* Stops; waits for a trigger running on another thread. */
  void (*stop)(cx__source *src);
  /* Frees the source (stopped or never started). */
  void (*destroy)(cx__source *src);
  /* The deadline it imposes once started, or CX__NO_DEADLINE. */
  int64_t (*deadline)(const cx__source *src);
} cx__source_ops;

struct cx__source {
  const cx__source_ops *ops;
  cx__source *next; /* in op->sources */
  cx_op *op;        /* not owned: the op owns the source */
};

/* Attaches @src to a PENDING @op.  0, or -EBUSY when entered. */
int cx__op_add_source(cx_op *op, cx__source *src);
/* Starts every source of @op at @now; on failure stops those started. */
int cx__sources_start(cx_op *op, int64_t now);
void cx__sources_stop(cx_op *op);
void cx__sources_free(cx_op *op);
/* Earliest deadline of the started sources. */
int64_t cx__sources_deadline(const cx_op *op);

/* Timeout source: cancels with reason TIMEOUT @ns after start. */
int cx__timeout_source_new(int64_t ns, cx__source **out);

#endif /* CX_SOURCES_H */
