/* src/runtime/quiesce.c - see quiesce.h: the services, round after round,
 * until a round finds them all idle with nothing done since the last. */
#include <stdbool.h>
#include <string.h>

#include "runtime/deferred.h"
#include "runtime/fork.h"
#include "runtime/quiesce.h"
#include "runtime/signals.h"
#include "runtime/timer.h"
#include "runtime/workers.h"

/* What each service has done so far (counts that only grow). */
typedef struct done {
  uint64_t fires, jobs, completions, rounds;
} done;

int cx__quiesce(int64_t deadline) {
  done before, now;
  bool first = true;
  cx__after_fork_resume(); /* in a fork child: jobs and timers to resume */
  for (;;) {
    int rc;
    /* Each call returns once its service is idle, with its count as of
     * then.  Counts equal to the last round's mean that no service did
     * anything in between, so all were idle together at the end of that
     * round, with nothing queued: nothing is left to hand on. */
    if ((rc = cx__timer_quiesce(deadline, &now.fires)) != 0 ||
        (rc = cx__workers_quiesce(deadline, &now.jobs)) != 0 ||
        (rc = cx__deferred_quiesce(deadline, &now.completions)) != 0 ||
        (rc = cx__signals_quiesce(deadline, &now.rounds)) != 0)
      return rc;
    if (!first && memcmp(&before, &now, sizeof now) == 0) return 0;
    before = now;
    first = false;
  }
}
