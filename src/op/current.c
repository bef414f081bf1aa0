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
#include <stdatomic.h>
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

/* The calling thread's stack: one thread-local object, so that each
 * function finds it with one thread-local address (a shared library's
 * thread-locals cost a __tls_get_addr() call each). */
typedef struct stack {
  entry *heap;  /* NULL: the entries are inline */
  size_t depth; /* entries in use */
  size_t cap;   /* the heap's capacity */
  bool hooked;  /* the thread's exit calls thread_exit() */
  entry inline_entries[INLINE_ENTRIES];
} stack;

static _Thread_local stack cur;

/* The calling thread's stack.  The empty asm makes the compiler keep the
 * address in a register: it otherwise recomputes a thread-local's address
 * (a call in a shared library) at each use. */
static inline stack *mine(void) {
  stack *s = &cur;
#if defined(__GNUC__)
  __asm__("" : "+r"(s));
#endif
  return s;
}

static pthread_key_t exit_key;
static bool have_exit_key; /* written once, under exit_key_once */
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static entry *entries(stack *s) {
  return s->heap != NULL ? s->heap : s->inline_entries;
}

static size_t capacity(const stack *s) {
  return s->heap != NULL ? s->cap : INLINE_ENTRIES;
}

/* The innermost entry of a non-empty stack. */
static entry *top(stack *s) { return &entries(s)[s->depth - 1]; }

/* Ends what the exiting thread left on its stack (pthread key destructor). */
static void thread_exit(void *unused) {
  stack *s = mine();
  (void)unused;
  while (s->depth > 0) {
    entry e = *top(s);
    if (e.adopted) {
      s->depth--;
      cx_op_unref(e.op);
    } else {
      cx__op_end_abandoned(e.op); /* pops it */
    }
  }
  free(s->heap);
  s->heap = NULL;
  s->cap = 0;
  s->hooked = false;
}

static void make_exit_key(void) {
  have_exit_key = pthread_key_create(&exit_key, thread_exit) == 0;
}

/* Has the thread's exit call thread_exit() (once per thread). */
static void hook_exit(stack *s) {
  pthread_once(&exit_key_once, make_exit_key);
  if (have_exit_key && pthread_setspecific(exit_key, s) == 0) s->hooked = true;
}

int cx__current_reserve(void) {
  stack *s = mine();
  size_t cap = capacity(s);
  entry *grown, *old;
  if (CX__LIKELY(s->hooked && s->depth < cap)) return 0;
  if (!s->hooked) hook_exit(s);
  if (s->depth < cap) return 0;
  /* Plain malloc: the thread-exit handler frees it, after the library's
   * own per-thread caches may be gone. */
  grown = malloc(2 * cap * sizeof *grown);
  if (grown == NULL) return -ENOMEM;
  memcpy(grown, entries(s), s->depth * sizeof *grown);
  old = s->heap;
  s->heap = grown;
  s->cap = 2 * cap;
  /* A signal handler reading the stack (cx_current() is async-signal-safe)
   * sees the new array before the old one is freed. */
  atomic_signal_fence(memory_order_seq_cst);
  free(old);
  return 0;
}

void cx__current_push(const cx__frame *frame, cx_op *op, bool adopted) {
  stack *s = mine();
  entry *e = &entries(s)[s->depth]; /* reserved by the caller */
  e->key = frame;
  e->op = op;
  e->adopted = adopted;
  /* The entry is whole before a signal handler can see it counted. */
  atomic_signal_fence(memory_order_seq_cst);
  s->depth++;
}

bool cx__current_pop(const cx__frame *frame) {
  stack *s = mine();
  if (s->depth == 0 || top(s)->key != frame) return false;
  s->depth--;
  return true;
}

cx_op *cx__current_top_own(void) {
  stack *s = mine();
  entry *e;
  if (s->depth == 0) return NULL;
  e = top(s);
  return e->adopted ? NULL : e->op;
}

size_t cx__current_depth(void) { return mine()->depth; }

cx_op *cx__current_scope(void) {
  stack *s = mine();
  return s->depth > 0 ? top(s)->op : NULL;
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
  stack *s = mine();
  return s->depth > 0 && top(s)->key == frame;
}
