/* tests/common/cx_test_quiesce.c - cx_test_quiesce() and cx_test_advance()
 * (see cx_test.h).  Apart from cx_test.c: it calls the library's internal
 * cx__quiesce(), so only the executables that use it (linked with
 * cancelable_static) pull this object out of cx_test_common. */
#include <errno.h>
#include <stdlib.h>

#include <cancelable.h>

#include "cx_test.h"
#include "runtime/clock.h"
#include "runtime/quiesce.h"

/* Generous: only a service thread that never becomes idle (a blocked
 * predicate, a callback that hangs) takes this long. */
#define QUIESCE_LIMIT 60.0

void cx_test_quiesce_at(const char *file, int line) {
  int64_t limit = (int64_t)(QUIESCE_LIMIT * 1e9);
  int rc = cx__quiesce(cx__mono_ns() + limit);
  if (rc == 0) return;
  print_error("cx_test_quiesce: %s (%d): %s\n",
              rc == -ETIMEDOUT ? "a service thread stayed busy for 60 s"
                               : "called from a service thread",
              rc, cx_err_name(rc));
  _fail(file, line);
}

void cx_test_advance_at(double seconds, const char *file, int line) {
  cx_test_assert_err(0, cx_clock_advance(seconds), file, line);
  cx_test_quiesce_at(file, line);
}
