/* src/runtime/blocks.c - per-thread caches of freed small blocks, for the
 * objects made and dropped on hot paths (tokens, links, callback nodes,
 * operations, sources).  The fast paths are inline in alloc.h.
 *
 * glibc's own per-thread cache costs about 130 instructions for a
 * malloc/free pair (its free checks the chunk, and a multi-threaded process
 * takes the slower paths); these caches cost about a dozen.  Blocks are
 * grouped by size in classes CX__BLOCK_GRAIN bytes apart, and every block of
 * a class has the class's full size, so any block of a class can serve any
 * size of it.  A thread keeps at most CX__BLOCK_DEPTH blocks of a class and
 * hands the rest to free(), so a thread that frees what others made holds a
 * bounded amount; its cache is emptied when it exits.  Under the sanitizers
 * nothing is cached (alloc.h). */
#include <pthread.h>
#include <stdlib.h>

#include "runtime/alloc.h"

#if defined(CX__NO_BLOCK_CACHE)
#include <sanitizer/common_interface_defs.h>
#include <stdio.h>
/* From the sanitizers' allocator interface (clang ships its header, gcc 12
 * only the runtime): the size a live heap block was allocated with. */
size_t __sanitizer_get_allocated_size(const volatile void *p);
#endif

_Thread_local cx__block_cache cx__blocks;

#if defined(CX__NO_BLOCK_CACHE)

void *cx__block_alloc_slow(size_t size) { return cx__malloc(size); }
void cx__block_free_slow(void *ptr, size_t size) {
  /* A block freed with another size than it was made with is a bug of
   * ours that the cache would hide (a class too small for a later user):
   * under the sanitizers, which track each block's size, stop on it. */
  if (ptr != NULL && __sanitizer_get_allocated_size(ptr) != size) {
    fprintf(stderr, "cancelable: block of %zu bytes freed as %zu\n",
            __sanitizer_get_allocated_size(ptr), size);
    __sanitizer_print_stack_trace();
    abort();
  }
  free(ptr);
}
#else

static _Thread_local bool closed; /* the exit flush ran: no more caching */
static pthread_key_t exit_key;
static bool have_exit_key; /* written once, under exit_key_once */
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static size_t class_size(size_t k) {
  return k * CX__BLOCK_GRAIN + CX__BLOCK_GRAIN / 2; /* see cx__block_class */
}

static void cache_flush(void) {
  for (size_t k = 0; k < CX__BLOCK_CLASSES; k++) {
    cx__block *b = cx__blocks.head[k];
    while (b != NULL) {
      cx__block *next = b->next;
      free(b);
      b = next;
    }
    cx__blocks.head[k] = NULL;
    cx__blocks.count[k] = 0;
  }
}

/* Runs at thread exit (pthread key destructor). */
static void cache_close(void *arg) {
  (void)arg;
  cx__blocks.ready = false;
  closed = true;
  cache_flush();
}

static void make_exit_key(void) {
  /* Without the key threads do not cache: blocks go straight to free(). */
  have_exit_key = pthread_key_create(&exit_key, cache_close) == 0;
}

/* Arranges for this thread's cache to be emptied at its exit; false when
 * that cannot be arranged. */
static bool cache_open(void) {
  if (closed) return false;
  pthread_once(&exit_key_once, make_exit_key);
  if (!have_exit_key || pthread_setspecific(exit_key, &cx__blocks) != 0)
    return false;
  cx__blocks.ready = true;
  return true;
}

void *cx__block_alloc_slow(size_t size) {
  size_t k = cx__block_class(size);
  cx__block *b;
  if (k >= CX__BLOCK_CLASSES) return cx__malloc(size);
  if (cx__alloc_failing()) return NULL;
  if ((b = cx__blocks.head[k]) == NULL) return malloc(class_size(k));
  cx__blocks.head[k] = b->next;
  cx__blocks.count[k]--;
  return b;
}

void cx__block_free_slow(void *ptr, size_t size) {
  size_t k = cx__block_class(size);
  cx__block *b = ptr;
  if (ptr == NULL) return;
  if (k >= CX__BLOCK_CLASSES || cx__blocks.count[k] >= CX__BLOCK_DEPTH ||
      (!cx__blocks.ready && !cache_open())) {
    free(ptr);
    return;
  }
  b->next = cx__blocks.head[k];
  cx__blocks.head[k] = b;
  cx__blocks.count[k]++;
}

#endif
