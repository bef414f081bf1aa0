/* src/sources/condition.h - the condition source, shared with the resource
 * source built on it. */
#ifndef CX_CONDITION_H
#define CX_CONDITION_H

#include <stdint.h>

#include "sources/sources.h"

typedef struct cx__condition cx__condition;

/* Checks a check interval in seconds (0: CX_CONDITION_INTERVAL_DEFAULT)
 * and stores it in ns; 0 or -EINVAL (not finite, negative, too long). */
int cx__condition_interval_ns(double interval, int64_t *ns);

int cx__condition_new(cx_predicate_fn predicate, void *user_data,
                      void (*destroy)(void *), double interval,
                      const char *name, cx_source **out);

/* Makes the trigger message @describe(user_data) instead of the default. */
void cx__condition_set_describe(cx_source *src,
                                const char *(*describe)(void *));

/* Makes each start call @restart(user_data) first (no check runs then),
 * for predicates that keep state between checks. */
void cx__condition_set_restart(cx_source *src, void (*restart)(void *));

/* Sets the destroy notify of a condition's user data after creation. */
void cx__condition_adopt_destroy(cx_source *src, void (*destroy)(void *));

#endif /* CX_CONDITION_H */
