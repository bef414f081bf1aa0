/* src/sources/timeout.c - the timeout source: one timer of the timer
 * service, armed at start (enter), disarmed at stop (exit). */
#include <stddef.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/compiler.h"
#include "runtime/timer.h"
#include "sources/sources.h"

typedef struct timeout_state {
  cx_source *source;
  cx__timer timer;
  int64_t duration;         /* ns, immutable */
  char *cause;              /* immutable (owned): the caller's message, or
                               NULL for "timed out after N s" */
  _Atomic int64_t deadline; /* (atomic) set at start */
} timeout_state;

static void fire(cx__timer *t) {
  timeout_state *ts = cx__container_of(t, timeout_state, timer);
  char msg[64];
  if (ts->cause != NULL) {
    cx__source_fire(ts->source, CX_REASON_TIMEOUT, ts->cause);
    return;
  }
  cx__format_timeout_message(ts->duration, msg, sizeof msg);
  cx__source_fire(ts->source, CX_REASON_TIMEOUT, msg);
}

static int start(cx_source *src, void *user_data) {
  timeout_state *ts = user_data;
  /* The host (an op's enter) read the clock just before starting its
   * sources (on this thread): count from that instant, and save a read. */
  int64_t now =
      src->host->start_mono != 0 ? src->host->start_mono : cx__now_ns();
  int64_t deadline = cx__add_saturated(now, ts->duration);
  atomic_store(&ts->deadline, deadline);
  return cx__timer_arm(&ts->timer, deadline);
}

static void stop(cx_source *src, void *user_data) {
  (void)src;
  cx__timer_disarm(&((timeout_state *)user_data)->timer);
}

static int64_t deadline(const cx_source *src) {
  const timeout_state *ts = src->user_data;
  if (atomic_load(&src->state) != CX__SRC_STARTED) return CX__NO_DEADLINE;
  return atomic_load(&ts->deadline);
}

/* The state lies in the source's block: only what it owns is freed. */
static void destroy(void *user_data) {
  cx__free(((timeout_state *)user_data)->cause);
}

static const cx_source_ops timeout_ops = {sizeof(cx_source_ops), start, stop,
                                          destroy};

/* A timeout source, with its state in its block; @cause: (nullable) the
 * message instead of the generic one, copied. */
static int make(double seconds, const char *cause, cx_source **out) {
  timeout_state *ts;
  cx_source *src;
  char *copy = NULL;
  int64_t ns;
  if (out == NULL || cx__duration_to_ns(seconds, &ns) != 0) return -EINVAL;
  if (cause != NULL && (copy = cx__strdup(cause)) == NULL) return -ENOMEM;
  src = cx__source_alloc_with_state(&timeout_ops, sizeof *ts, CX_REASON_TIMEOUT,
                                    "timeout");
  if (src == NULL) {
    cx__free(copy);
    return -ENOMEM;
  }
  ts = src->user_data;
  ts->source = src;
  ts->cause = copy;
  ts->duration = ns;
  atomic_init(&ts->deadline, CX__NO_DEADLINE);
  cx__timer_init(&ts->timer, fire);
  src->deadline = deadline;
  *out = src;
  return 0;
}

int cx_source_timeout(cx_source **out, double seconds) {
  if (out != NULL) *out = NULL;
  return make(seconds, NULL, out);
}

int cx_source_timeout_cause(cx_source **out, double seconds,
                            const char *message) {
  if (out != NULL) *out = NULL;
  if (message == NULL) return -EINVAL;
  return make(seconds, message, out);
}
