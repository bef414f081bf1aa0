/* src/runtime/alloc.h - every allocation of the library, and the per-thread
 * block caches. */
#ifndef CX_RUNTIME_ALLOC_H
#define CX_RUNTIME_ALLOC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "runtime/compiler.h"

/* Allocation (alloc.c): every allocation of the library goes here, so
 * that a test can make the Nth one fail. */
void *cx__malloc(size_t size);
void *cx__calloc(size_t count, size_t size);
void *cx__realloc(void *ptr, size_t size);
char *cx__strdup(const char *s);
void cx__free(void *ptr);
/* Testing hook: make the allocation @n calls from now (0 = the next) fail,
 * and every one after it while @sticky; -1 disables.  Allocations on any
 * thread count, each once (a compare-and-swap).  In sanitizer builds the
 * environment variable CX_ALLOC_FAIL arms it too, for the allocation-failure
 * sweep (alloc.c, docs/internals.md); calling this turns that off. */
void cx__alloc_fail_after(long n, bool sticky);
/* Whether this allocation must fail (the testing hook); counts it. */
bool cx__alloc_should_fail(void);
extern _Atomic long cx__alloc_fail_countdown; /* (atomic) -1: hook off */
static inline bool cx__alloc_failing(void) {
  return atomic_load_explicit(&cx__alloc_fail_countdown,
                              memory_order_relaxed) >= 0 &&
         cx__alloc_should_fail();
}
/* Per-thread caches of small blocks (blocks.c), for objects made and freed
 * on hot paths.  A block from cx__block_alloc(size) must be freed with
 * cx__block_free(ptr, size) with the same @size, never with cx__free();
 * any thread may free it.  cx__block_alloc follows the testing hook.  The
 * fast paths are inline (sizes are constants at every call, so the class
 * is too).  Under AddressSanitizer or ThreadSanitizer nothing is cached:
 * every block is a malloc() of its exact size, so a use after free or an
 * overflow is still reported, and LeakSanitizer sees every block. */
enum {
  CX__BLOCK_GRAIN = 16,   /* bytes between size classes */
  CX__BLOCK_CLASSES = 24, /* blocks up to 376 bytes are cached */
  CX__BLOCK_DEPTH = 64    /* cached blocks per class and thread */
};
/* The largest size cx__block_alloc() caches (the last class's). */
#define CX__BLOCK_CACHED_MAX \
  ((CX__BLOCK_CLASSES - 1) * CX__BLOCK_GRAIN + CX__BLOCK_GRAIN / 2)
typedef struct cx__block {
  struct cx__block *next;
} cx__block;
typedef struct cx__block_cache {
  cx__block *head[CX__BLOCK_CLASSES];
  unsigned char count[CX__BLOCK_CLASSES];
  bool ready; /* the thread-exit flush is arranged and has not run */
} cx__block_cache;
extern _Thread_local cx__block_cache cx__blocks;
void *cx__block_alloc_slow(size_t size);
void cx__block_free_slow(void *ptr, size_t size);

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CX__NO_BLOCK_CACHE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CX__NO_BLOCK_CACHE 1
#endif
#endif

/* Class k holds blocks of k * 16 + 8 bytes: glibc (like other dlmalloc
 * descendants) gives a request of n bytes a chunk of n + 8 rounded up to
 * 16, so these sizes use their chunks whole (a 56-byte block costs 64
 * bytes, a 64-byte one 80). */
static inline size_t cx__block_class(size_t size) {
  return (size + CX__BLOCK_GRAIN / 2 - 1) / CX__BLOCK_GRAIN;
}

static inline void *cx__block_alloc(size_t size) {
#if !defined(CX__NO_BLOCK_CACHE)
  size_t k = cx__block_class(size);
  cx__block *b;
  if (k < CX__BLOCK_CLASSES && (b = cx__blocks.head[k]) != NULL &&
      atomic_load_explicit(&cx__alloc_fail_countdown, memory_order_relaxed) <
          0) {
    cx__blocks.head[k] = b->next;
    cx__blocks.count[k]--;
    return b;
  }
#endif
  return cx__block_alloc_slow(size);
}

static inline void cx__block_free(void *ptr, size_t size) {
#if !defined(CX__NO_BLOCK_CACHE)
  size_t k = cx__block_class(size);
  if (ptr != NULL && k < CX__BLOCK_CLASSES && cx__blocks.ready &&
      cx__blocks.count[k] < CX__BLOCK_DEPTH) {
    cx__block *b = ptr;
    b->next = cx__blocks.head[k];
    cx__blocks.head[k] = b;
    cx__blocks.count[k]++;
    return;
  }
#endif
  cx__block_free_slow(ptr, size);
}

#endif /* CX_RUNTIME_ALLOC_H */
