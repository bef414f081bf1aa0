/* src/token/token_link.c - linked tokens: a target is cancelled when any of
 * its sources is.  A link belongs to its target (freed with it) and sits in
 * its source's doubly linked list of children, so unlinking is O(1).  The
 * cascade claims each live target under the source's lock (one atomic
 * compare-and-swap per target, no reference taken) and queues on the
 * per-thread work list the ones with something to finish: no recursion.  A
 * target that another thread claimed first goes on this thread's help stack, so
 * that its children are claimed before this cancel returns (token.h). */
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/sync.h"
#include "token/token.h"

/* uthash allocates through the library's hook and never aborts. */
#define HASH_NONFATAL_OOM 1
#define uthash_malloc(sz) cx__malloc(sz)
#define uthash_free(ptr, sz) cx__free(ptr)
#define uthash_nonfatal_oom(obj) (visit_oom = true)
#include <uthash.h>

/* ---- the help stack: tokens claimed by others (or earlier by this
 * thread) whose children this thread's cascade phase must claim too.  A
 * few entries live in the thread's storage; more grow a heap array, freed
 * whenever the stack empties. */
#define HELP_INLINE 32
static _Thread_local cx_token *help_inline[HELP_INLINE];
static _Thread_local cx_token **help_heap;
static _Thread_local size_t help_len, help_cap;

bool cx__token_help_push(cx_token *t) {
  cx_token **items = help_heap != NULL ? help_heap : help_inline;
  size_t cap = help_heap != NULL ? help_cap : HELP_INLINE;
  if (help_len == cap) {
    cx_token **grown = cx__malloc(2 * cap * sizeof *grown);
    if (grown == NULL) return false;
    memcpy(grown, items, help_len * sizeof *grown);
    cx__free(help_heap);
    help_heap = items = grown;
    help_cap = 2 * cap;
  }
  items[help_len++] = t;
  return true;
}

cx_token *cx__token_help_pop(void) {
  cx_token *t;
  if (help_len == 0) return NULL;
  t = (help_heap != NULL ? help_heap : help_inline)[--help_len];
  if (help_len == 0 && help_heap != NULL) {
    cx__free(help_heap);
    help_heap = NULL;
  }
  return t;
}

/* The head of a token's children once its cascade took them: the list is
 * left as it was, and is never read or written again (no link is added to
 * a cancelled token's list: link_attach() checks under the lock), so an
 * unlink leaves its link be. */
static cx__hlist_node children_taken;
#define CHILDREN_TAKEN (&children_taken)

/* Links @target to @source with a fresh @link (both exts made).  With
 * @embedded, @link lies in the block of @target, a child token made just
 * now and not yet shared with any other thread, so its stack of links
 * takes the push without an atomic read-modify-write.  Returns true when
 * @source was already cancelled and this call claimed @target: the caller
 * then finishes that cancel (cx__token_finish_claimed), with no lock
 * held. */
static inline bool link_attach(cx__link *link, cx_token *target,
                               cx__token_ext *text, cx_token *source,
                               cx__token_ext *sext, unsigned flags,
                               bool embedded) {
  link->sibling.next = NULL;
  link->sibling.pprev = NULL;
  cx__token_ref(source);
  link->source = source;
  link->source_ext = sext;
  link->target = target;
  link->flags = flags;
  link->embedded = embedded;

  /* Push on the target's stack of links (taken whole at unlink). */
  link->next_of_target =
      atomic_load_explicit(&text->links, memory_order_relaxed);
  if (embedded)
    atomic_store_explicit(&text->links, link, memory_order_relaxed);
  else
    while (!atomic_compare_exchange_weak(&text->links, &link->next_of_target,
                                         link)) {
    }

  cx__lock_acquire(&sext->lock);
  cx__token_mark(source, CX__HAS_CHILDREN); /* before the check */
  if (atomic_load(&source->state) != CX__CANCELLED) {
    /* Live or claimed: the source's cascade runs after we unlock. */
    cx__hlist_push(&sext->children, &link->sibling);
    cx__lock_release(&sext->lock);
    return false;
  }
  cx__lock_release(&sext->lock);
  /* Already cancelled: its cascade may be over, so cancel here. */
  return cx__token_claim(
      target,
      (flags & CX_LINK_PRESERVE_REASON) ? (cx_reason)source->reason
                                        : CX_REASON_PARENT,
      NULL, false, source, (flags & CX_LINK_PRESERVE_REASON) != 0);
}

/* ---- cycle check: a link source -> target closes a cycle when @target is
 * already something @source follows, directly or not.  Walks up from
 * @source through the sources of its links and its cause (a cancelled
 * token holds the one whose cascade reached it, and its links stay until
 * it is freed or its op exits: both are references), each token visited
 * once (a uthash set), under the cascade lock so that no other link is
 * made meanwhile. */
typedef struct visit {
  const cx_token *token;
  UT_hash_handle hh;
} visit;
static _Thread_local bool visit_oom;

/* Marks @t visited: 1 new, 0 seen before, -ENOMEM. */
static int visit_add(visit **set, const cx_token *t) {
  visit *v;
  HASH_FIND_PTR(*set, &t, v);
  if (v != NULL) return 0;
  if ((v = cx__malloc(sizeof *v)) == NULL) return -ENOMEM;
  v->token = t;
  visit_oom = false;
  HASH_ADD_PTR(*set, token, v);
  if (visit_oom) {
    cx__free(v);
    return -ENOMEM;
  }
  return 1;
}

/* The walk's stack of referenced tokens. */
typedef struct walk {
  cx_token **items;
  size_t len, cap;
} walk;

static int walk_push(walk *w, cx_token *t) {
  if (w->len == w->cap) {
    size_t n = w->cap != 0 ? 2 * w->cap : 16;
    cx_token **grown = cx__realloc(w->items, n * sizeof *grown);
    if (grown == NULL) return -ENOMEM;
    w->items = grown;
    w->cap = n;
  }
  w->items[w->len++] = t;
  return 0;
}

/* Pushes what @t follows (with references): its links' sources, read
 * under its lock (cx__token_unlink_all takes the stack under it too), and
 * its cause.  0 or -ENOMEM. */
static int push_sources(walk *w, cx_token *t) {
  cx__token_ext *ext = cx__token_ext_of(t);
  cx_token *left = NULL; /* a reference to drop once unlocked */
  int rc = 0;
  if (ext == NULL) return 0;
  cx__lock_acquire(&ext->lock);
  for (cx__link *l = atomic_load(&ext->links); l != NULL;
       l = l->next_of_target) {
    cx__token_ref(l->source); /* the link holds one: never 0 here */
    if ((rc = walk_push(w, l->source)) != 0) {
      left = l->source;
      break;
    }
  }
  cx__lock_release(&ext->lock);
  if (left != NULL) cx__token_unref(left);
  /* The cause is written before the release that publishes CANCELLED. */
  if (rc == 0 && cx_token_is_cancelled(t) && ext->cause != NULL) {
    cx__token_ref(ext->cause);
    if ((rc = walk_push(w, ext->cause)) != 0) cx__token_unref(ext->cause);
  }
  return rc;
}

/* Whether @target is among what @source follows, directly or not: 1, 0,
 * or -ENOMEM.  The caller holds the cascade lock and defers frees. */
static int follows(cx_token *source, const cx_token *target) {
  walk w = {NULL, 0, 0};
  visit *set = NULL, *v, *tmp;
  int rc = push_sources(&w, source);
  while (rc == 0 && w.len > 0) {
    cx_token *t = w.items[--w.len];
    if (t == target) {
      rc = 1;
    } else if ((rc = visit_add(&set, t)) == 1) {
      rc = push_sources(&w, t);
    }
    cx__token_unref(t);
  }
  while (w.len > 0) cx__token_unref(w.items[--w.len]);
  cx__free(w.items);
  HASH_ITER(hh, set, v, tmp) {
    HASH_DEL(set, v);
    cx__free(v);
  }
  return rc;
}

int cx_token_link(cx_token *target, cx_token *source, unsigned flags) {
  cx__token_ext *text, *sext;
  cx__link *link;
  bool claimed = false, deferring;
  int rc;
  if (target == NULL || source == NULL || target == source ||
      (flags & ~CX_LINK_PRESERVE_REASON))
    return -EINVAL;
  if ((text = cx__token_ext_get(target)) == NULL ||
      (sext = cx__token_ext_get(source)) == NULL ||
      (link = cx__block_alloc(sizeof *link)) == NULL)
    return -ENOMEM;
  cx__cascade_lock();
  deferring = cx__token_defer_frees_begin(); /* no user code under it */
  /* A token that nothing ever followed (no `has` bit for children: set by
   * every link, never cleared) cannot be among @source's ancestors: a new
   * token linked below a deep chain costs no walk. */
  rc = (atomic_load(&target->has) & CX__HAS_CHILDREN) ? follows(source, target)
                                                      : 0;
  if (rc == 0)
    claimed = link_attach(link, target, text, source, sext, flags, false);
  cx__cascade_unlock();
  cx__token_defer_frees_end(deferring);
  if (claimed) cx__token_finish_claimed(cx_token_ref(target));
  if (rc == 0) return 0;
  cx__block_free(link, sizeof *link);
  return rc == 1 ? -ELOOP : rc;
}

/* Claims taken by one cascade whose `has` is still to read: one fence
 * publishes a batch (cx__cascade_publish_fence). */
enum { CASCADE_BATCH = 32 };

/* Finishes a batch of claims of cx__token_cascade() (under the source's
 * lock): a claimed target that someone waits on, watches or listens to
 * goes on the work list with a reference of its own.  One whose count
 * reached 0 meanwhile is being freed: nobody holds it to wait on it, and
 * its free (which needs the source's lock) frees its callbacks. */
static void settle_batch(cx_token **batch, size_t n) {
  if (n == 0) return;
  cx__cascade_publish_fence();
  for (size_t i = 0; i < n; i++) {
    cx_token *target = batch[i];
    if (CX__LIKELY(atomic_load(&target->has) == 0)) continue;
    if (cx__token_try_ref(target) != NULL) cx__token_queue(target);
  }
}

/* Links read ahead of their claims (gather_links), a number found by
 * measuring: cancelling 10^6 child ops, 8 gives 25 ns per child against 37
 * for a walk that claims as it goes (32 gives 27-31 and 4 gives 27), and
 * 10^5 token children in one run of memory cost 10-11 ns against 9-10
 * (32 cost 12-15). */
enum { GATHER = 8 };

/* Takes up to GATHER links from *@node on into @links; *@node is where
 * the next call starts.  A claim is a locked RMW, which no later load may
 * pass: a walk that claimed as it went waited for each next link in turn,
 * where a short run of plain loads lets the core fetch several.  Returns
 * how many. */
static size_t gather_links(cx__hlist_node **node, cx__link **links) {
  size_t m = 0;
  for (; *node != NULL && m < GATHER; *node = (*node)->next)
    links[m++] = cx__container_of(*node, cx__link, sibling);
  return m;
}

/* One cascade under way (cx__token_cascade), under its source's lock. */
typedef struct cascade_walk {
  cx_token *source; /* claimed and published: reason and time final */
  cx_reason own;    /* its reason */
  double time;      /* its cancel time */
  cx_token *batch[CASCADE_BATCH]; /* claimed, `has` still to read */
  size_t n;
  uint32_t cause_refs; /* claims made: references owed to source */
  bool unhelped;       /* a claimed target could not be helped */
  cx_token *dead;      /* targets whose last reference was ours */
} cascade_walk;

/* Cascades to the target of @link. */
static void cascade_to(cascade_walk *w, const cx__link *link) {
  cx_token *target = link->target;
  bool preserve = (link->flags & CX_LINK_PRESERVE_REASON) != 0;
  /* A target whose count reached 0 is being freed: skip it. */
  if (atomic_load_explicit(&target->refs, memory_order_relaxed) == 0) return;
  if (cx__token_claim_cascaded(target, preserve ? w->own : CX_REASON_PARENT,
                               w->source, preserve, w->time)) {
    w->cause_refs++; /* ext->cause */
    w->batch[w->n++] = target;
    if (w->n == CASCADE_BATCH) {
      settle_batch(w->batch, w->n);
      w->n = 0;
    }
    return;
  }
  if (!(atomic_load(&target->has) & CX__HAS_CHILDREN) &&
      atomic_load(&target->state) == CX__CANCELLED)
    return; /* cancelled before, by someone else: nothing below it */
  /* Claimed by another thread, whose cascade may not have run yet (or
   * earlier by this one), or not yet published: before returning, wait
   * until it reads as cancelled and claim its children too. */
  if ((target = cx__token_try_ref(target)) == NULL) return;
  if (cx__token_help_push(target)) return; /* with our reference */
  w->unhelped = true;
  if (atomic_fetch_sub(&target->refs, 1) == 1) {
    /* We held the last reference: free it once unlocked (it is in no
     * work list, so pending_next is ours). */
    target->pending_next = w->dead;
    w->dead = target;
  }
}

void cx__token_cascade(cx_token *t) {
  cx__token_ext *ext = cx__token_ext_of(t); /* made before HAS_CHILDREN */
  cascade_walk w; /* not zeroed whole: a chain cascades once per level */
  cx__link *links[GATHER];
  cx__hlist_node *node;
  size_t m;
  w.source = t;
  w.own = (cx_reason)t->reason;
  w.time = cx_token_cancel_time(t);
  w.n = 0;
  w.cause_refs = 0;
  w.unhelped = false;
  w.dead = NULL;
  cx__lock_acquire(&ext->lock);
  node = ext->children.first;
  if (node == CHILDREN_TAKEN) node = NULL; /* an earlier cascade's */
  ext->children.first = CHILDREN_TAKEN;
  /* No reference is taken on a target: while this lock is held none can
   * be freed (its free unlinks this link first, under this lock), and one
   * with nothing to finish is not touched once it is unlocked.  Nor is a
   * link written: the list is left as it was (CHILDREN_TAKEN), so a cascade
   * only reads the lines of the links. */
  while ((m = gather_links(&node, links)) != 0)
    for (size_t i = 0; i < m; i++) cascade_to(&w, links[i]);
  settle_batch(w.batch, w.n);
  /* The causes' references, before anything can drop one (above). */
  if (w.cause_refs != 0)
    atomic_fetch_add_explicit(&t->refs, w.cause_refs, memory_order_relaxed);
  cx__lock_release(&ext->lock);
  if (w.unhelped) cx__token_log_unhelped();
  while (w.dead != NULL) {
    cx_token *next = w.dead->pending_next;
    cx__token_destroy_dead(w.dead);
    w.dead = next;
  }
}

/* Unlinks and frees the chain of links @link (taken from a target). */
static void unlink_chain(cx__link *link) {
  while (link != NULL) {
    cx__link *next = link->next_of_target;
    cx_token *source = link->source;
    cx__token_ext *sext = link->source_ext;
    cx__lock_acquire(&sext->lock);
    if (sext->children.first != CHILDREN_TAKEN &&
        cx__hlist_linked(&link->sibling))
      cx__hlist_remove(&link->sibling);
    cx__lock_release(&sext->lock);
    cx__token_unref(source);
    /* @link is still there: an embedded one lies in its target's block,
     * and the target outlives this call (unlink_all: its owner holds a
     * reference; unlink_dead: its free is the one running, and frees the
     * source may start meanwhile are queued behind it). */
    if (!link->embedded) cx__block_free(link, sizeof *link);
    link = next;
  }
}

void cx__token_unlink_all(cx_token *t) {
  cx__token_ext *ext = cx__token_ext_of(t);
  cx__link *chain;
  if (ext == NULL) return;
  /* Under the token's lock: a cycle check may be reading the stack. */
  cx__lock_acquire(&ext->lock);
  chain = atomic_exchange(&ext->links, NULL);
  cx__lock_release(&ext->lock);
  unlink_chain(chain);
}

void cx__token_unlink_dead(cx__token_ext *ext) {
  /* No reference is left, so nobody can link into the token any more. */
  unlink_chain(atomic_load_explicit(&ext->links, memory_order_relaxed));
}

int cx_token_new_child(cx_token **out, cx_token *parent, unsigned flags) {
  cx__token_ext *pext;
  cx__child_token *c;
  if (out != NULL) *out = NULL;
  if (out == NULL || parent == NULL || (flags & ~CX_LINK_PRESERVE_REASON))
    return -EINVAL;
  if ((pext = cx__token_ext_get(parent)) == NULL ||
      (c = cx__block_alloc(sizeof *c)) == NULL)
    return -ENOMEM;
  cx__token_init(&c->plain.token, CX__KIND_CHILD, &c->plain.ext);
  /* The new token is ours alone until we return it. */
  if (link_attach(&c->link, &c->plain.token, &c->plain.ext, parent, pext, flags,
                  true))
    cx__token_finish_claimed(cx_token_ref(&c->plain.token));
  *out = &c->plain.token;
  return 0;
}
