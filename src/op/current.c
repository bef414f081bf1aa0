/* src/op/current.c - the per-thread stack of current operations.
 *
 * An array in the thread's storage (a few entries inline, more on the
 * heap), never linked through the frames themselves: a frame may lie on a
 * stack that is gone by the time the thread exits, and the exit handler
 * must still find every op left inside.  An entry's key is the frame
 * (inside the op for an op's own enter, caller storage for an adoption);
 * keys are compared, never read.
 *
 * Thread exit (docs/guide.md, "Thread exit"): a pthread key's destructor ends
 * every op the thread left entered, innermost first, as FAILED with
 * -EOWNERDEAD unless it was cancelled (then CANCELLED), stops their
 * sources, drops what adoptions held, and releases an open shield's handle.
 * The key is set when a thread first pushes, so a thread that never enters
 * an op pays nothing at exit. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "op/op.h"
#include "runtime/compiler.h"

typedef struct entry {
  const cx__frame *key;
  cx_op *op;
  bool adopted; /* an adoption's: holds a reference, ends nothing */
} entry;

#define INLINE_ENTRIES 8
static _Thread_local entry inline_entries[INLINE_ENTRIES];
static _Thread_local entry *heap_entries; /* NULL: inline_entries */
static _Thread_local size_t depth, heap_cap;
static _Thread_local bool exit_hooked;

static pthread_key_t exit_key;
static bool have_exit_key; /* written once, under exit_key_once */
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static entry *entries(void) {
  return heap_entries != NULL ? heap_entries : inline_entries;
}

static size_t capacity(void) {
  return heap_entries != NULL ? heap_cap : INLINE_ENTRIES;
}

/* Ends what the exiting thread left on its stack (pthread key destructor). */
static void thread_exit(void *unused) {
  (void)unused;
  while (depth > 0) {
    entry e = entries()[depth - 1];
    if (e.adopted) {
      depth--;
      cx_op_unref(e.op);
    } else {
      cx__op_end_abandoned(e.op); /* pops it */
    }
  }
  free(heap_entries);
  heap_entries = NULL;
  heap_cap = 0;
  exit_hooked = false;
}

static void make_exit_key(void) {
  have_exit_key = pthread_key_create(&exit_key, thread_exit) == 0;
}

/* Has the thread's exit call thread_exit() (once per thread). */
static void hook_exit(void) {
  pthread_once(&exit_key_once, make_exit_key);
  if (have_exit_key && pthread_setspecific(exit_key, &depth) == 0)
    exit_hooked = true;
}

int cx__current_reserve(void) {
  size_t cap = capacity();
  entry *grown;
  if (!exit_hooked) hook_exit();
  if (CX__LIKELY(depth < cap)) return 0;
  /* Plain malloc: the thread-exit handler frees it, after the library's
   * own per-thread caches may be gone. */
  grown = malloc(2 * cap * sizeof *grown);
  if (grown == NULL) return -ENOMEM;
  memcpy(grown, entries(), depth * sizeof *grown);
  free(heap_entries);
  heap_entries = grown;
  heap_cap = 2 * cap;
  return 0;
}

void cx__current_push(const cx__frame *frame, cx_op *op, bool adopted) {
  entry *e = &entries()[depth++]; /* reserved by the caller */
  e->key = frame;
  e->op = op;
  e->adopted = adopted;
}

bool cx__current_pop(const cx__frame *frame) {
  if (!cx__current_is_top(frame)) return false;
  depth--;
  return true;
}

cx_op *cx__current_top_own(void) {
  entry *e;
  if (depth == 0) return NULL;
  e = &entries()[depth - 1];
  return e->adopted ? NULL : e->op;
}

size_t cx__current_depth(void) { return depth; }

cx_op *cx__current_scope(void) {
  return depth > 0 ? entries()[depth - 1].op : NULL;
}

/* A shield holds back cancellation only: the op the work runs for (its
 * context, progress, callbacks) is the one it encloses (its parent,
 * immutable since before its enter), past nested shields. */
cx_op *cx_current(void) {
  cx_op *op = cx__current_scope();
  while (op != NULL && op->is_shield) op = op->parent;
  return op;
}

bool cx__current_is_top(const cx__frame *frame) {
  return depth > 0 && entries()[depth - 1].key == frame;
}
