/* tools/cancelable/triggers.h - turns parsed sources (expr.h) into the
 * library's cx_source objects, and keeps what the tool needs to know about
 * them afterwards: which kind fired, and the progress watchers that
 * count:N and progress:PCT sources need. */
#ifndef CANCELABLE_TOOL_TRIGGERS_H
#define CANCELABLE_TOOL_TRIGGERS_H

#include <cancelable.h>
#include <stdbool.h>
#include <stdint.h>

#include "expr.h"

typedef struct source_set source_set;

/* source_set_new: bookkeeping for the sources of one run.
 * @interval: seconds between condition checks (file, cond, resources).
 * @sustain: seconds a resource must stay over its threshold (memory, cpu,
 *   disk) before its source fires; 0: at once.
 * Returns: (transfer full) the set, or NULL when out of memory. */
source_set *source_set_new(double interval, double sustain);

/* source_set_free: free the set, after the op owning its sources was
 * freed.  @set: (nullable). */
void source_set_free(source_set *set);

/* source_set_build: build the source for an expression tree (a leaf, or an
 * any-of / all-of composite of its children).
 * @out: receives the source (transfer full).
 * @err, @size: receive a message on failure.
 * Returns: 0 or a negative errno. */
int source_set_build(source_set *set, const expr_node *node, cx_source **out,
                     char *err, size_t size);

/* source_set_leaf: as source_set_build() for one leaf. */
int source_set_leaf(source_set *set, const expr_leaf *leaf, cx_source **out,
                    char *err, size_t size);

/* source_set_progress: feed a progress report to the count:N and
 * progress:PCT sources (they trigger when it reaches their target).
 * @percent: NaN when unknown.  @current: -1 when unknown.
 * Call only while the op owning the sources is alive. */
void source_set_progress(source_set *set, double percent, int64_t current);

/* source_set_resource_fired: whether one of the resource sources (memory,
 * cpu, disk) has triggered.  Call only while the op is alive. */
bool source_set_resource_fired(const source_set *set);

/* source_set_shutdown: stop shell-command conditions still running; call
 * before cx_op_exit() so that it never waits for a hung check. */
void source_set_shutdown(source_set *set);

#endif /* CANCELABLE_TOOL_TRIGGERS_H */
