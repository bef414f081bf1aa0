/* src/sources/timeout.c - the timeout source: one timer of the timer
 * service, armed at enter, disarmed at exit. */
#include <stddef.h>
#include <stdio.h>

#include "sources/sources.h"

typedef struct timeout_source {
  cx__source base;
  cx__timer timer;
  int64_t duration; /* ns, immutable */
  int64_t deadline; /* set at start, before arming */
} timeout_source;

static timeout_source *from_timer(cx__timer *t) {
  return (timeout_source *)((char *)t - offsetof(timeout_source, timer));
}

static void fire(cx__timer *t) {
  timeout_source *ts = from_timer(t);
  char msg[64];
  snprintf(msg, sizeof msg, "timed out after %g s",
           (double)ts->duration / 1e9);
  cx_token_cancel(ts->base.op->token, CX_REASON_TIMEOUT, msg);
}

static int start(cx__source *src, int64_t now) {
  timeout_source *ts = (timeout_source *)src;
  ts->deadline = now + ts->duration;
  return cx__timer_arm(&ts->timer, ts->deadline);
}

static void stop(cx__source *src) {
  cx__timer_disarm(&((timeout_source *)src)->timer);
}

static void destroy(cx__source *src) { cx__free(src); }

static int64_t deadline(const cx__source *src) {
  return ((const timeout_source *)src)->deadline;
}

static const cx__source_ops timeout_ops = {"timeout", start, stop, destroy,
                                           deadline};

int cx__timeout_source_new(int64_t ns, cx__source **out) {
  timeout_source *ts = cx__calloc(1, sizeof *ts);
  if (ts == NULL) return -ENOMEM;
  ts->base.ops = &timeout_ops;
  ts->duration = ns;
  ts->deadline = CX__NO_DEADLINE;
  cx__timer_init(&ts->timer, fire);
  *out = &ts->base;
  return 0;
}
