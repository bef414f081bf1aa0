/* src/runtime/thread.h - service threads, and a small number for each
 * thread. */
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

/* ---- thread slots (thread.c) */
/* A small number of the calling thread, given at its first call: 0 to the
 * first thread that asks, 1 to the next, and so on (wrapping at 2^16), so
 * that the first few threads taken modulo N land on distinct shares of a
 * sharded structure (the registry's shards, an op's hubs).  Never fails;
 * no lock; not async-signal-safe on a thread's first call. */
unsigned cx__thread_slot(void);

#endif /* CX_RUNTIME_THREAD_H */
