/* src/sources/condition.h - the condition source, shared with the resource
 * source built on it. */
#ifndef CX_CONDITION_H
#define CX_CONDITION_H

#include "sources/sources.h"

typedef struct cx__condition cx__condition;

int cx__condition_new(cx_predicate_fn predicate, void *user_data,
                      void (*destroy)(void *), double interval,
                      const char *name, cx_source **out);

/* Makes the trigger message @describe(user_data) instead of the default. */
void cx__condition_set_describe(cx_source *src,
                                const char *(*describe)(void *));

/* Sets the destroy notify of a condition's user data after creation. */
void cx__condition_adopt_destroy(cx_source *src, void (*destroy)(void *));

#endif /* CX_CONDITION_H */
