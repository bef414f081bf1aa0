/* tests/common/cx_test_stream.c - the stream tests' iterator. */
#include "cx_test_stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cx_test.h"

int cx_test_freed[CX_TEST_MAX_ITEMS];
int cx_test_total_freed;

cx_test_iter cx_test_iter_new(int end) {
  cx_test_iter it = {0, end, -1, 0, 0, NULL, -1};
  return it;
}

void cx_test_item_free(void *item) {
  int v = *(int *)item;
  assert_true(v >= 0 && v < CX_TEST_MAX_ITEMS);
  cx_test_freed[v]++;
  cx_test_total_freed++;
  free(item);
}

int cx_test_next_int(void *state, void **item) {
  cx_test_iter *it = state;
  it->calls++;
  if (it->fail_at >= 0 && it->next == it->fail_at) return it->error;
  if (it->next >= it->end) return 0;
  int *p = malloc(sizeof *p);
  if (p == NULL) return -ENOMEM;
  *p = it->next++;
  if (it->cancel != NULL && *p == it->cancel_at)
    cx_token_cancel(it->cancel, CX_REASON_MANUAL, "enough");
  *item = p;
  return 1;
}

int cx_test_reset_freed(void **state) {
  (void)state;
  memset(cx_test_freed, 0, sizeof cx_test_freed);
  cx_test_total_freed = 0;
  return 0;
}
