/* src/progress/stream.h - the stream object, shared by stream.c (items one
 * by one), stream_chunk.c (chunks) and stream_open.c (a stream with an op
 * of its own). */
#ifndef CX_PROGRESS_STREAM_H
#define CX_PROGRESS_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include <cancelable/progress.h>

struct cx_stream {
  cx_op *op;    /* owned ref: reports and the partial result go to it */
  cx_op *scope; /* owned ref: its cancellation ends the stream (inside a
                   shield, the shield's handle; else op) */
  cx_stream_next_fn next;
  void *state;
  cx_stream_options opts;
  void **ring;  /* keep_last slots */
  size_t head;  /* index of the oldest kept item */
  size_t kept;  /* items in the ring */
  size_t count; /* items received */
  void *unkept; /* with keep_last 0: the item handed out last,
                   freed at the next call */
  bool ended;
  bool stored;    /* the partial result is on the op */
  bool completed; /* once ended: the iterator reached its end */
  int outcome;    /* once ended: what every later call returns
                     (0 completed, -ECANCELED, the error) */
  /* Chunks (stream_chunk.c): while a chunk is handed out, the items it
   * holds that the stream would free are held back until the next call. */
  void **chunk; /* (owned) chunk_cap slots: the chunk handed out */
  void **held;  /* (owned) chunk_cap slots: items to free later */
  size_t chunk_cap;
  size_t held_len;
  bool holding; /* frees go to held (set while a chunk is filled) */
  /* A stream of cx_stream_open(): it exits its op once. */
  bool owns_op;
  bool op_exited;
};

/* Allocates a stream over @op (entered or current) and @scope, both
 * referenced; @opts already checked.  0 or -ENOMEM. */
int cx__stream_alloc(cx_op *op, cx_op *scope, cx_stream_next_fn next,
                     void *state, const cx_stream_options *opts,
                     cx_stream **out);

/* Whether @opts is valid for any stream (size, total). */
bool cx__stream_options_valid(const cx_stream_options *opts);

/* Receives one item into *@item: 1, or the outcome once ended (0, the
 * cancel, the iterator's error), which it stores. */
int cx__stream_receive(cx_stream *s, void **item);

/* Frees the item handed out last when none are kept, and the items held
 * back for the previous chunk. */
void cx__stream_release(cx_stream *s);

/* A stream of cx_stream_open() that has ended: exits its op with the
 * outcome (once; logged when refused).  Nothing for other streams. */
void cx__stream_exit_op(cx_stream *s);

#endif /* CX_PROGRESS_STREAM_H */
