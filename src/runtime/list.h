/* src/runtime/list.h - the library's intrusive doubly linked lists, as the
 * Linux kernel's list_head/hlist and libuv's queue.h: a node is embedded in
 * the object, and cx__container_of() finds the object again.  Nothing here
 * locks: the owner of a list guards it.
 *
 * cx__list: circular with a sentinel head (two pointers), O(1) append,
 *   remove and "move everything to another head"; a head must be
 *   initialised (cx__list_init) before use, and a removed node is
 *   self-linked, so cx__list_linked() tells whether it is in a list.
 * cx__hlist: a one-pointer head for lists that are never appended to at
 *   the tail (many heads, few nodes: a token's children, a signal's
 *   watchers); a zeroed head is empty. */
#ifndef CX_RUNTIME_LIST_H
#define CX_RUNTIME_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/compiler.h"

typedef struct cx__list {
  struct cx__list *prev, *next;
} cx__list;

/* Makes @head (or a node) an empty list (a node: not in any list). */
static inline void cx__list_init(cx__list *head) {
  head->prev = head->next = head;
}

static inline bool cx__list_empty(const cx__list *head) {
  return head->next == head;
}

/* Whether @node is in a list (it was initialised or removed otherwise). */
static inline bool cx__list_linked(const cx__list *node) {
  return node->next != node;
}

/* Appends @node at the tail of @head. */
static inline void cx__list_append(cx__list *head, cx__list *node) {
  node->prev = head->prev;
  node->next = head;
  head->prev->next = node;
  head->prev = node;
}

/* Unlinks @node from its list and leaves it self-linked. */
static inline void cx__list_remove(cx__list *node) {
  node->prev->next = node->next;
  node->next->prev = node->prev;
  cx__list_init(node);
}

/* Moves every node of @from, in order, to the tail of @to; @from ends
 * empty. */
static inline void cx__list_move_all(cx__list *from, cx__list *to) {
  if (cx__list_empty(from)) return;
  from->next->prev = to->prev;
  to->prev->next = from->next;
  from->prev->next = to;
  to->prev = from->prev;
  cx__list_init(from);
}

/* The first node, or NULL when empty. */
static inline cx__list *cx__list_first(const cx__list *head) {
  return cx__list_empty(head) ? NULL : head->next;
}

/* The node after @node in @head, or NULL at the end. */
static inline cx__list *cx__list_next(const cx__list *head,
                                      const cx__list *node) {
  return node->next == head ? NULL : node->next;
}

/* Iterates @pos (a cx__list *) over @head; the body must not remove @pos
 * (use cx__list_first() in a loop for that). */
#define cx__list_for_each(pos, head) \
  for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)

typedef struct cx__hlist_node {
  struct cx__hlist_node *next;
  struct cx__hlist_node **pprev; /* the pointer that points here; NULL
                                    when not in a list */
} cx__hlist_node;

typedef struct cx__hlist {
  cx__hlist_node *first;
} cx__hlist;

/* Puts @node first in @head. */
static inline void cx__hlist_push(cx__hlist *head, cx__hlist_node *node) {
  node->next = head->first;
  if (head->first != NULL) head->first->pprev = &node->next;
  head->first = node;
  node->pprev = &head->first;
}

/* Unlinks @node (in a list) and marks it unlinked. */
static inline void cx__hlist_remove(cx__hlist_node *node) {
  *node->pprev = node->next;
  if (node->next != NULL) node->next->pprev = node->pprev;
  node->next = NULL;
  node->pprev = NULL;
}

static inline bool cx__hlist_linked(const cx__hlist_node *node) {
  return node->pprev != NULL;
}

#endif /* CX_RUNTIME_LIST_H */
