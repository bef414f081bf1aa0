/* src/runtime/alloc.c - the one allocation hook of the library. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/alloc.h"

_Atomic long cx__alloc_fail_countdown = -1; /* (atomic) -1: never fail */
static _Atomic bool fail_sticky;            /* (atomic) */

bool cx__alloc_should_fail(void) {
  long n =
      atomic_load_explicit(&cx__alloc_fail_countdown, memory_order_relaxed);
  if (n < 0) return false;
  if (n == 0) {
    if (!atomic_load_explicit(&fail_sticky, memory_order_relaxed))
      atomic_store(&cx__alloc_fail_countdown, -1);
    return true;
  }
  atomic_store(&cx__alloc_fail_countdown, n - 1);
  return false;
}

void cx__alloc_fail_after(long n, bool sticky) {
  atomic_store(&fail_sticky, sticky);
  atomic_store(&cx__alloc_fail_countdown, n);
}

static void *(*volatile clear)(void *, int, size_t) = memset;

void *cx__malloc(size_t size) {
  if (cx__alloc_failing()) return NULL;
  return malloc(size);
}

void *cx__calloc(size_t count, size_t size) {
  void *p;
  if (size != 0 && count > SIZE_MAX / size) return NULL;
  /* malloc + memset: glibc serves calloc outside its per-thread cache,
   * which costs more than clearing the few bytes we ask for.  The memset
   * goes through a volatile pointer, or compilers fuse the pair back into
   * calloc. */
  p = cx__malloc(count * size);
  if (p != NULL) clear(p, 0, count * size);
  return p;
}

void *cx__realloc(void *ptr, size_t size) {
  if (cx__alloc_failing()) return NULL;
  return realloc(ptr, size);
}

char *cx__strdup(const char *s) {
  size_t len = strlen(s) + 1;
  char *copy = cx__malloc(len);
  if (copy != NULL) memcpy(copy, s, len);
  return copy;
}

void cx__free(void *ptr) { free(ptr); }
