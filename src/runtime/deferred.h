/* src/runtime/deferred.h - the deferred-completion thread: finishes, off
 * the signal handler, work that a handler could only begin (the
 * signal-safe cancel).  The runtime knows nothing of what it completes: an
 * item is a link inside the caller's object, handed back to the completion
 * function given at prepare. */
#ifndef CX_RUNTIME_DEFERRED_H
#define CX_RUNTIME_DEFERRED_H

#include <stdbool.h>
#include <stdint.h>

/* A link embedded in the object to complete. */
typedef struct cx__deferred_item {
  struct cx__deferred_item *next; /* owned by the queue while posted */
} cx__deferred_item;

/* Runs on the completion thread for each posted item, oldest last. */
typedef void (*cx__deferred_fn)(cx__deferred_item *item);

/* Starts the completion thread (once) that passes each posted item to
 * @complete; every caller must pass the same function.  Returns 0, -EINVAL
 * (another function), or the errno of the pipe or thread. */
int cx__deferred_prepare(cx__deferred_fn complete);
/* Async-signal-safe: queues @item.  Returns 0 or -ESRCH when not
 * prepared. */
int cx__deferred_post(cx__deferred_item *item);
/* Whether cx__deferred_prepare() has succeeded.  Async-signal-safe. */
bool cx__deferred_ready(void);
/* Waits until every item posted so far has been completed, at most until
 * @deadline (monotonic ns, CX__NO_DEADLINE: none); for cx__quiesce()
 * (runtime/quiesce.h).  Stores in *@finished (nullable) how many items
 * have been completed, a count that only grows.  Returns 0, -ETIMEDOUT,
 * or -EDEADLK on the completion thread.  Not async-signal-safe. */
int cx__deferred_quiesce(int64_t deadline, uint64_t *finished);

#endif /* CX_RUNTIME_DEFERRED_H */
