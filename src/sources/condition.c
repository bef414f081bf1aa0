/* src/sources/condition.c - the condition source: a timer of the timer
 * service paces the checks, a condition worker runs the user's predicate
 * (so a slow predicate never delays other timeouts), and the check re-arms
 * the timer until the predicate is met or the source stops.  The first
 * check is due at start (the timer is armed for "now"), as the reference's
 * ConditionSource checks before its first sleep. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>

#include "base/base.h"
#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/compiler.h"
#include "runtime/sync.h"
#include "runtime/timer.h"
#include "runtime/workers.h"
#include "sources/condition.h"
#include "sources/sources.h"
#include "util/cxu_utf8.h"

struct cx__condition {
  cx_source *source;
  cx__timer timer;
  cx__job job;
  cx_predicate_fn predicate;
  void *user_data;
  void (*destroy)(void *);
  int64_t interval;     /* ns, immutable */
  bool stopped;         /* guarded by the stripe of this struct */
  unsigned long checks; /* touched only by the running job */
  unsigned long errors; /* touched only by the running job */
  /* (nullable) the trigger message, for sources built on this one */
  const char *(*describe)(void *user_data);
  /* (nullable) forgets what past checks saw, at each start */
  void (*restart)(void *user_data);
};

void cx__condition_adopt_destroy(cx_source *src, void (*destroy)(void *)) {
  ((cx__condition *)src->user_data)->destroy = destroy;
}

void cx__condition_set_describe(cx_source *src,
                                const char *(*describe)(void *)) {
  ((cx__condition *)src->user_data)->describe = describe;
}

void cx__condition_set_restart(cx_source *src, void (*restart)(void *)) {
  ((cx__condition *)src->user_data)->restart = restart;
}

static void on_timer(cx__timer *t) {
  cx__condition *c = cx__container_of(t, cx__condition, timer);
  cx__stripe *s = cx__stripe_for(c);
  pthread_mutex_lock(&s->mu);
  if (!c->stopped && cx__job_submit(&c->job) != 0)
    cx__timer_arm(&c->timer,
                  cx__add_saturated(cx__now_ns(), c->interval)); /* try later */
  pthread_mutex_unlock(&s->mu);
}

static void check(cx__job *job) {
  cx__condition *c = cx__container_of(job, cx__condition, job);
  cx__stripe *s;
  int rc = c->predicate(c->user_data);
  c->checks++;
  if (rc > 0) {
    char msg[256];
    if (c->describe != NULL)
      cxu_utf8_snprintf(msg, sizeof msg, "%s", c->describe(c->user_data));
    else
      cxu_utf8_snprintf(msg, sizeof msg, "condition '%s' met after %lu check%s",
                        c->source->name, c->checks, c->checks == 1 ? "" : "s");
    cx__source_fire(c->source, c->source->reason, msg);
    return;
  }
  if (rc < 0) {
    c->errors++;
    cx__log(CX_LOG_WARNING, cx__source_owner_id(c->source),
            "condition '%s' failed (%d), error %lu; polling goes on",
            c->source->name, rc, c->errors);
  }
  s = cx__stripe_for(c);
  pthread_mutex_lock(&s->mu);
  if (!c->stopped)
    cx__timer_arm(&c->timer, cx__add_saturated(cx__now_ns(), c->interval));
  pthread_mutex_unlock(&s->mu);
}

static int start(cx_source *src, void *user_data) {
  cx__condition *c = user_data;
  cx__stripe *s = cx__stripe_for(c);
  int rc;
  (void)src;
  /* No check runs now: the last stop waited for it, and none is armed. */
  if (c->restart != NULL) c->restart(c->user_data);
  pthread_mutex_lock(&s->mu);
  c->stopped = false;
  c->checks = c->errors = 0;
  rc = cx__timer_arm(&c->timer, cx__now_ns()); /* the first check: now */
  pthread_mutex_unlock(&s->mu);
  return rc;
}

static void stop(cx_source *src, void *user_data) {
  cx__condition *c = user_data;
  cx__stripe *s = cx__stripe_for(c);
  (void)src;
  pthread_mutex_lock(&s->mu);
  c->stopped = true;
  pthread_mutex_unlock(&s->mu);
  /* From here nothing re-arms or resubmits (both paths look at `stopped`
   * under the stripe before arming); undo what is in flight.  The disarm
   * also waits for an on_timer() running on the timer thread. */
  cx__timer_disarm(&c->timer);
  cx__job_cancel(&c->job);
}

static void destroy(void *user_data) {
  cx__condition *c = user_data;
  if (c->destroy != NULL) c->destroy(c->user_data);
  cx__free(c);
}

static const cx_source_ops condition_ops = {sizeof(cx_source_ops), start, stop,
                                            destroy};

int cx__condition_interval_ns(double interval, int64_t *ns) {
  if (interval == 0) interval = CX_CONDITION_INTERVAL_DEFAULT;
  if (!(isfinite(interval) && interval > 0) ||
      cx__duration_to_ns(interval, ns) != 0)
    return -EINVAL;
  return 0;
}

int cx__condition_new(cx_predicate_fn predicate, void *user_data,
                      void (*destroy_fn)(void *), double interval,
                      const char *name, cx_source **out) {
  cx__condition *c;
  int64_t ns;
  if (out != NULL) *out = NULL;
  if (predicate == NULL || out == NULL ||
      cx__condition_interval_ns(interval, &ns) != 0)
    return -EINVAL;
  c = cx__calloc(1, sizeof *c);
  if (c == NULL) return -ENOMEM;
  c->predicate = predicate;
  c->user_data = user_data;
  c->interval = ns;
  cx__timer_init(&c->timer, on_timer);
  cx__job_init(&c->job, check, false, true);
  c->source = cx__source_alloc(&condition_ops, c, CX_REASON_CONDITION,
                               name != NULL ? name : "condition", name != NULL);
  if (c->source == NULL) {
    cx__free(c);
    return -ENOMEM;
  }
  /* Set last: on error above the caller keeps @user_data. */
  c->destroy = destroy_fn;
  *out = c->source;
  return 0;
}

int cx_source_condition(cx_source **out, cx_predicate_fn predicate,
                        void *user_data, void (*destroy_fn)(void *),
                        double interval, const char *name) {
  return cx__condition_new(predicate, user_data, destroy_fn, interval, name,
                           out);
}
