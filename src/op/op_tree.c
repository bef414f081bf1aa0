/* src/op/op_tree.c - the operation hierarchy: each op's live children,
 * in hubs, one per thread slot (op.h: no lock, token or count shared by
 * children made on two threads), with no references (a child unlinks
 * itself in O(1) when it exits or is freed), introspection, and
 * shields. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "op/op.h"
#include "runtime/alloc.h"
#include "runtime/list.h"
#include "runtime/sync.h"
#include "runtime/thread.h"
#include "sources/sources.h"

/* ---- hubs: each thread slot's share of an op's children (op.h) */

static cx__op_hub *hub_at(const cx_op *op, unsigned slot) {
  cx__op_hubs *t = atomic_load_explicit(&op->hubs, memory_order_acquire);
  return t != NULL ? atomic_load_explicit(&t->slot[slot], memory_order_acquire)
                   : NULL;
}

/* Installs @fresh (with its token made) as @parent's hub @slot unless
 * another thread did first; the hub in place.  @table: a spare table for
 * a parent without one (used or left to the caller to free).  Under the
 * parent's stripe, which orders a new table's pin with the parent's
 * status (a table made before the exit's status is pinned, and that exit
 * unpins it; a table made after sees the final status) and a new hub's
 * mode with the exit's switch to central counting. */
static cx__op_hub *hub_install(cx_op *parent, unsigned slot, cx__op_hub *fresh,
                               cx__op_hubs **table) {
  cx__stripe *s = cx__stripe_for(parent);
  cx__op_hubs *t;
  cx__op_hub *h;
  int status;
  pthread_mutex_lock(&s->mu);
  t = atomic_load_explicit(&parent->hubs, memory_order_relaxed);
  if (t == NULL) {
    t = *table;
    *table = NULL;
    status = atomic_load_explicit(&parent->status, memory_order_relaxed);
    if (status == CX_STATUS_RUNNING || status == CX_STATUS_SHIELDED)
      cx_op_ref(parent); /* the pin */
    else
      atomic_init(&t->central_mode, true);
    atomic_store_explicit(&parent->hubs, t, memory_order_release);
  }
  h = atomic_load_explicit(&t->slot[slot], memory_order_relaxed);
  if (h == NULL) {
    h = fresh;
    h->central = atomic_load_explicit(&t->central_mode, memory_order_relaxed);
    atomic_store_explicit(&t->slot[slot], h, memory_order_release);
  }
  pthread_mutex_unlock(&s->mu);
  return h;
}

/* @parent's hub @slot, made if need be; NULL when out of memory. */
static cx__op_hub *hub_get(cx_op *parent, unsigned slot) {
  cx__op_hub *h = hub_at(parent, slot), *fresh;
  cx__op_hubs *table = NULL;
  if (h != NULL) return h;
  fresh = cx__block_alloc(sizeof *fresh);
  if (fresh == NULL) return NULL;
  memset(fresh, 0, sizeof *fresh);
  cx__list_init(&fresh->children);
  if (cx_token_new_child(&fresh->token, parent->token, 0) != 0 ||
      (atomic_load(&parent->hubs) == NULL &&
       (table = cx__calloc(1, sizeof *table)) == NULL)) {
    cx_token_unref(fresh->token);
    cx__block_free(fresh, sizeof *fresh);
    return NULL;
  }
  h = hub_install(parent, slot, fresh, &table);
  cx__free(table); /* another thread's came first */
  if (h != fresh) {
    cx_token_unref(fresh->token);
    cx__block_free(fresh, sizeof *fresh);
  }
  return h;
}

static cx__op_hub *hub_of(const cx_op *child) {
  return hub_at(child->parent, child->hub_slot);
}

/* Counts a child of @parent made (@made) or freed in @h: in its counts
 * while it counts locally, else in the table's central count, where the
 * first child takes a reference on @parent and the last drops it (the
 * caller of a make holds one already).  Whether it counted locally. */
static bool count(cx_op *parent, cx__op_hub *h, bool made) {
  cx__op_hubs *t = atomic_load_explicit(&parent->hubs, memory_order_acquire);
  bool local;
  cx__lock_acquire(&h->lock);
  local = !h->central;
  if (local) {
    if (made)
      h->made++;
    else
      h->freed++;
  }
  cx__lock_release(&h->lock);
  if (local) return true;
  if (made) {
    if (atomic_fetch_add(&t->central, 1) == 0) cx_op_ref(parent);
  } else if (atomic_fetch_sub(&t->central, 1) == 1) {
    cx_op_unref(parent);
  }
  return false;
}

int cx__op_tree_join(cx_op *child, cx_op *parent) {
  unsigned slot;
  cx__op_hub *h;
  if (parent == NULL) return 0;
  slot = cx__thread_slot() % CX__OP_HUBS;
  h = hub_get(parent, slot);
  if (h == NULL) return -ENOMEM;
  count(parent, h, true);
  child->parent = parent;
  child->hub_slot = (uint8_t)slot;
  child->in_hub = true;
  return 0;
}

cx_token *cx__op_tree_parent_token(const cx_op *child) {
  return hub_of(child)->token;
}

void cx__op_tree_attach(cx_op *child) {
  cx__op_hub *h = hub_of(child);
  cx__lock_acquire(&h->lock);
  cx__list_append(&h->children, &child->sibling);
  h->live++;
  atomic_store_explicit(&child->in_parent, true, memory_order_relaxed);
  cx__lock_release(&h->lock);
}

void cx__op_tree_detach(cx_op *child) {
  cx__op_hub *h;
  /* Out of the list already (its exit, before it is freed): false is
   * final, so no lock is needed to see it (the acquire pairs with the
   * store under the lock). */
  if (!child->in_hub ||
      !atomic_load_explicit(&child->in_parent, memory_order_acquire))
    return;
  h = hub_of(child);
  cx__lock_acquire(&h->lock);
  if (atomic_load_explicit(&child->in_parent, memory_order_relaxed)) {
    cx__list_remove(&child->sibling);
    h->live--;
    atomic_store_explicit(&child->in_parent, false, memory_order_release);
  }
  cx__lock_release(&h->lock);
}

void cx__op_tree_leave(cx_op *child) {
  cx_op *parent = child->parent;
  cx__op_hub *h;
  if (!child->in_hub) {
    cx_op_unref(parent); /* a shield's, or none */
    return;
  }
  /* The freeing thread's own hub keeps the count on its cache line (the
   * registry's history frees other threads' children). */
  h = hub_at(parent, cx__thread_slot() % CX__OP_HUBS);
  /* Counted centrally, the last child's unref of the parent checks for a
   * forgotten exit (cx_op_unref); counted locally, the check is made here,
   * as that unref made it before hubs.  The parent is this thread's
   * innermost op by its own enter when the check runs: alive. */
  if (count(parent, h != NULL ? h : hub_of(child), false) &&
      cx__current_is_top(&parent->frame)) /* reads nothing of @parent */
    cx__op_check_forgotten(parent);
}

/* A bias on the central count while the nets are summed into it. */
#define SUMMING_BIAS ((int64_t)1 << 62)

void cx__op_tree_unpin(cx_op *op) {
  cx__op_hubs *t = atomic_load_explicit(&op->hubs, memory_order_acquire);
  cx__stripe *s;
  bool was_local;
  if (t == NULL) return;
  s = cx__stripe_for(op);
  pthread_mutex_lock(&s->mu);
  was_local = !atomic_load_explicit(&t->central_mode, memory_order_relaxed);
  if (was_local) {
    /* Nothing counts centrally while the table is pinned: the bias goes
     * in before any hub made from now on (under this lock, central) can
     * count there. */
    atomic_store(&t->central, SUMMING_BIAS);
    atomic_store_explicit(&t->central_mode, true, memory_order_relaxed);
  }
  pthread_mutex_unlock(&s->mu);
  if (!was_local) return;
  for (unsigned i = 0; i < CX__OP_HUBS; i++) {
    cx__op_hub *h = atomic_load_explicit(&t->slot[i], memory_order_acquire);
    if (h == NULL) continue;
    cx__lock_acquire(&h->lock);
    atomic_fetch_add(&t->central, (int64_t)(h->made - h->freed));
    h->central = true;
    cx__lock_release(&h->lock);
  }
  /* No child left: the pin goes now (never the last reference: the
   * caller holds one); else with the last child. */
  if (atomic_fetch_sub(&t->central, SUMMING_BIAS) == SUMMING_BIAS)
    cx_op_unref(op);
}

bool cx__op_tree_pinned(const cx_op *op) {
  cx__op_hubs *t = atomic_load_explicit(&op->hubs, memory_order_acquire);
  return t != NULL &&
         !atomic_load_explicit(&t->central_mode, memory_order_relaxed);
}

/* The sum over @op's hubs of @field (guarded by each hub's lock). */
static uint64_t sum_hubs(const cx_op *op, size_t field) {
  uint64_t sum = 0;
  for (unsigned i = 0; i < CX__OP_HUBS; i++) {
    cx__op_hub *h = hub_at(op, i);
    if (h == NULL) continue;
    cx__lock_acquire(&h->lock);
    sum += *(const uint64_t *)((const char *)h + field);
    cx__lock_release(&h->lock);
  }
  return sum;
}

bool cx__op_tree_has_children(cx_op *op) {
  /* Every freed count first, then every made count: both only grow, so
   * the difference is at least the children alive between the two scans
   * (a child made and freed during them cannot make it look empty). */
  uint64_t freed = sum_hubs(op, offsetof(cx__op_hub, freed));
  return sum_hubs(op, offsetof(cx__op_hub, made)) > freed;
}

void cx__op_tree_free_hubs(cx_op *op) {
  cx__op_hubs *t = atomic_load_explicit(&op->hubs, memory_order_acquire);
  if (t == NULL) return;
  for (unsigned i = 0; i < CX__OP_HUBS; i++) {
    cx__op_hub *h = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
    if (h == NULL) continue;
    cx_token_unref(h->token);
    cx__block_free(h, sizeof *h);
  }
  cx__free(t);
}

size_t cx_op_child_count(const cx_op *op) {
  return op != NULL ? (size_t)sum_hubs(op, offsetof(cx__op_hub, live)) : 0;
}

cx_op *cx_op_parent(const cx_op *op) { return op ? op->parent : NULL; }

/* Appends the children of @h (each referenced) to @kids, which has room
 * for @cap; false (nothing appended) when they do not fit. */
static bool snapshot_hub(cx__op_hub *h, cx_op **kids, size_t cap, size_t *n) {
  cx__list *node;
  cx__lock_acquire(&h->lock);
  if (h->live > cap - *n) {
    cx__lock_release(&h->lock);
    return false;
  }
  cx__list_for_each(node, &h->children) {
    cx_op *c = cx__container_of(node, cx_op, sibling);
    /* A child whose count reached 0 is being freed: skip it. */
    uint32_t r = atomic_load(&c->refs);
    while (r != 0 && !atomic_compare_exchange_weak(&c->refs, &r, r + 1)) {
    }
    if (r != 0) kids[(*n)++] = c;
  }
  cx__lock_release(&h->lock);
  return true;
}

/* Snapshots the children of @op (each referenced) into a new array, hub
 * by hub (not one instant across them). */
static int snapshot(cx_op *op, cx_op ***out, size_t *count) {
  cx_op **kids = NULL;
  size_t cap = 0, n = 0;
  for (unsigned i = 0; i < CX__OP_HUBS; i++) {
    cx__op_hub *h = hub_at(op, i);
    while (h != NULL && !snapshot_hub(h, kids, cap, &n)) {
      cx_op **grown;
      cap = 2 * cap + 16;
      grown = cx__malloc(cap * sizeof *grown);
      if (grown == NULL) {
        while (n > 0) cx_op_unref(kids[--n]);
        cx__free(kids);
        return -ENOMEM;
      }
      if (n > 0) memcpy(grown, kids, n * sizeof *grown);
      cx__free(kids);
      kids = grown;
    }
  }
  *out = kids;
  *count = n;
  return 0;
}

int cx_op_visit_children(cx_op *op, cx_op_visit_fn fn, void *user_data) {
  cx_op **kids;
  size_t n, i;
  int rc;
  if (op == NULL || fn == NULL) return -EINVAL;
  rc = snapshot(op, &kids, &n);
  if (rc != 0) return rc;
  for (i = 0; i < n && rc == 0; i++) rc = fn(kids[i], user_data);
  for (i = 0; i < n; i++) cx_op_unref(kids[i]);
  cx__free(kids);
  return rc;
}

/* ---- shields */

int cx_shield_begin(cx_op **out, cx_op *enclosing, double timeout) {
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_op *shield;
  int rc;
  if (out == NULL) return -EINVAL;
  *out = NULL;
  if (timeout != 0 && !(isfinite(timeout) && timeout > 0)) return -EINVAL;
  /* Nested in a shield: the shield is what it encloses. */
  if (enclosing == NULL) enclosing = cx__current_scope();
  o.name = "shield";
  o.timeout = timeout;
  rc = cx_op_create(&shield, &o);
  if (rc != 0) return rc;
  /* Parent for context and progress only: no link, no deadline. */
  shield->parent = cx_op_ref(enclosing);
  shield->is_shield = true;
  rc = cx_op_enter(shield);
  if (rc != 0) {
    cx_op_unref(shield);
    return rc;
  }
  *out = shield;
  return 0;
}

int cx_shield_end(cx_op *shield) {
  int rc;
  if (shield == NULL || !shield->is_shield ||
      atomic_load(&shield->status) != CX_STATUS_SHIELDED)
    return -EINVAL;
  if (!cx__current_is_top(&shield->frame)) return -EPERM;
  rc = cx__shield_exit(shield,
                       cx_token_is_cancelled(shield->token) ? -ECANCELED : 0);
  if (rc != 0) return rc;
  return shield->parent != NULL && cx_token_is_cancelled(shield->parent->token)
             ? -ECANCELED
             : 0;
}
