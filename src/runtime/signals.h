/* src/runtime/signals.h - the signal dispatcher. */
#ifndef CX_RUNTIME_SIGNALS_H
#define CX_RUNTIME_SIGNALS_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/list.h"

/* ---- signal dispatcher (signals.c) */
typedef struct cx__sigwatch cx__sigwatch;
typedef void (*cx__sigwatch_fn)(cx__sigwatch *w, int signo);
struct cx__sigwatch {
  cx__hlist_node node; /* in its signal's watchers; guarded by the
                          dispatcher lock */
  int signo;
  cx__sigwatch_fn fn; /* runs on the dispatcher thread */
  uint64_t seen;      /* guarded by the dispatcher lock */
  bool firing;        /* guarded by the dispatcher lock */
  bool watching;      /* guarded by the dispatcher lock */
};
/* Starts delivering @signo to @w->fn (installing the handler for the first
 * watcher).  0, -EINVAL, or the errno of the pipe/thread/sigaction. */
int cx__signal_watch(cx__sigwatch *w, int signo, cx__sigwatch_fn fn);
/* Stops; waits for a running @w->fn (not from the dispatcher thread).  The
 * last watcher of a signal restores its previous disposition. */
void cx__signal_unwatch(cx__sigwatch *w);
/* Whether @signo may be watched. */
bool cx__signal_valid(int signo);
/* Waits until every signal that has reached the library's handler has
 * been dispatched (its watchers' fns have returned), at most until
 * @deadline (monotonic ns, CX__NO_DEADLINE: none); for cx__quiesce()
 * (runtime/quiesce.h).  Stores in *@finished (nullable) how many rounds
 * the dispatcher has finished, a count that only grows.  Returns 0,
 * -ETIMEDOUT, or -EDEADLK on the dispatcher thread. */
int cx__signals_quiesce(int64_t deadline, uint64_t *finished);

#endif /* CX_RUNTIME_SIGNALS_H */
