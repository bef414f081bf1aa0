/* src/op/op_tree.c - the operation hierarchy: each op's list of live
 * children (no references: a child unlinks itself in O(1) when it exits or
 * is freed), introspection, and shields. */
#include <math.h>

#include "op/op.h"
#include "runtime/alloc.h"
#include "runtime/list.h"
#include "runtime/sync.h"
#include "sources/sources.h"

void cx__op_tree_attach(cx_op *child) {
  cx_op *parent = child->parent;
  cx__stripe *s = cx__stripe_for(parent);
  pthread_mutex_lock(&s->mu);
  cx__list_append(&parent->children, &child->sibling);
  parent->child_count++;
  atomic_store_explicit(&child->in_parent, true, memory_order_relaxed);
  pthread_mutex_unlock(&s->mu);
}

void cx__op_tree_detach(cx_op *child) {
  cx_op *parent = child->parent;
  cx__stripe *s;
  /* Out of the list already (its exit, before it is freed): false is
   * final, so no lock is needed to see it (the acquire pairs with the
   * store under the lock). */
  if (parent == NULL ||
      !atomic_load_explicit(&child->in_parent, memory_order_acquire))
    return;
  s = cx__stripe_for(parent);
  pthread_mutex_lock(&s->mu);
  if (atomic_load_explicit(&child->in_parent, memory_order_relaxed)) {
    cx__list_remove(&child->sibling);
    parent->child_count--;
    atomic_store_explicit(&child->in_parent, false, memory_order_release);
  }
  pthread_mutex_unlock(&s->mu);
}

size_t cx_op_child_count(const cx_op *op) {
  cx__stripe *s;
  size_t n;
  if (op == NULL) return 0;
  s = cx__stripe_for(op);
  pthread_mutex_lock(&s->mu);
  n = op->child_count;
  pthread_mutex_unlock(&s->mu);
  return n;
}

cx_op *cx_op_parent(const cx_op *op) { return op ? op->parent : NULL; }

/* Snapshots the children of @op (each referenced) into a new array. */
static int snapshot(cx_op *op, cx_op ***out, size_t *count) {
  cx__stripe *s = cx__stripe_for(op);
  cx_op **kids = NULL;
  size_t n = 0;
  for (;;) {
    size_t want;
    pthread_mutex_lock(&s->mu);
    want = op->child_count;
    if (want <= n) {
      size_t i = 0;
      cx__list *node;
      cx__list_for_each(node, &op->children) {
        cx_op *c = cx__container_of(node, cx_op, sibling);
        /* A child whose count reached 0 is being freed: skip it. */
        uint32_t r = atomic_load(&c->refs);
        while (r != 0 && !atomic_compare_exchange_weak(&c->refs, &r, r + 1)) {
        }
        if (r != 0) kids[i++] = c;
      }
      pthread_mutex_unlock(&s->mu);
      *out = kids;
      *count = i;
      return 0;
    }
    pthread_mutex_unlock(&s->mu);
    cx__free(kids);
    n = want + 8;
    kids = cx__malloc(n * sizeof *kids);
    if (kids == NULL) return -ENOMEM;
  }
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
