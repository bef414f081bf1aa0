/* src/runtime/thread.h - service threads. */
#ifndef CX_RUNTIME_THREAD_H
#define CX_RUNTIME_THREAD_H

#include <pthread.h>

/* ---- service threads (thread.c) */
/* Starts a detached service thread with every signal blocked and a 256 KiB
 * stack.  @thread: (nullable) receives its id.  0 or -errno. */
int cx__thread_spawn(pthread_t *thread, void *(*main_fn)(void *), void *arg);
/* The same, joinable (the caller joins or detaches it). */
int cx__thread_spawn_joinable(pthread_t *thread, void *(*main_fn)(void *),
                              void *arg);

#endif /* CX_RUNTIME_THREAD_H */
