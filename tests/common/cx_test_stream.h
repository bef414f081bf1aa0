/* tests/common/cx_test_stream.h - an iterator for the stream tests: heap
 * ints next .. end-1, with per-value counters of item_free, an error at a
 * given value and a token cancelled while a given value is handed out. */
#ifndef CX_TEST_STREAM_H
#define CX_TEST_STREAM_H

#include <cancelable.h>

#define CX_TEST_MAX_ITEMS 4096

typedef struct cx_test_iter {
  int next;         /* next value */
  int end;          /* values up to end-1 */
  int fail_at;      /* return error when next == fail_at (-1: never) */
  int error;        /* a negative errno */
  int calls;        /* how often the iterator was called */
  cx_token *cancel; /* (nullable) cancelled when handing out cancel_at */
  int cancel_at;
} cx_test_iter;

/* Per value: how often cx_test_item_free() freed it; and in all. */
extern int cx_test_freed[CX_TEST_MAX_ITEMS];
extern int cx_test_total_freed;

/* An iterator over 0 .. @end-1, no error, no cancel. */
cx_test_iter cx_test_iter_new(int end);
/* The cx_stream_next_fn over a cx_test_iter. */
int cx_test_next_int(void *state, void **item);
/* The item_free of the items: counts, then frees. */
void cx_test_item_free(void *item);
/* cmocka setup: zeroes the counters. */
int cx_test_reset_freed(void **state);

#endif /* CX_TEST_STREAM_H */
