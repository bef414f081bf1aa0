/* src/sources/sources.h - internal structure of sources.  Every source kind,
 * built-in or custom, is a cx_source with a cx_source_ops; built-ins keep
 * their state in user_data and may add a deadline hook.  Sources sit below
 * operations: a started source knows only its host (the token it cancels),
 * never the op that owns it. */
#ifndef CX_SOURCES_H
#define CX_SOURCES_H

#include <cancelable/source.h>

#include <stdbool.h>
#include <stdint.h>

#include "runtime/list.h"
#include "token/token.h"

enum { CX__SRC_IDLE = 0, CX__SRC_STARTED = 1, CX__SRC_STOPPED = 2 };

/* What started sources act on (an op embeds one; valid from the start of
 * its sources to their stop). */
typedef struct cx__source_host {
  cx_token *token;    /* what a trigger cancels */
  int64_t start_mono; /* cx__now_ns() when the sources were started (0:
                         unknown); timeouts count from it */
  /* (nullable) the owner's id, for logs; NULL when out of memory. */
  const char *(*id)(const struct cx__source_host *host);
} cx__source_host;

struct cx_source {
  cx_source_ops ops;           /* immutable copy */
  void *user_data;             /* immutable */
  cx_reason reason;            /* immutable; NONE for composites */
  const char *name;            /* immutable (owned when name_owned) */
  bool name_owned;             /* immutable */
  uint16_t state_size;         /* immutable: bytes of state after the
                                  source in its block (user_data points at
                                  them), 0 for a state of its own */
  cx_source *parent;           /* immutable once owned: composite or NULL */
  cx__list node;               /* in its owner's list; guarded by the owner */
  const cx__source_host *host; /* set before start: what it cancels */
  bool owned;                  /* guarded by the owner: given away */
  _Atomic int state;           /* (atomic) CX__SRC_* */
  _Atomic bool triggered;      /* (atomic) */
  _Atomic int inflight;        /* (atomic) triggers being delivered */
  struct cx_source *_Atomic winner; /* (atomic) a composite's: the member
                                       whose trigger fired it (NULL: not
                                       fired since start, or not one) */
  /* (nullable) the deadline the source imposes once started. */
  int64_t (*deadline)(const cx_source *src);
};

/* Allocates a source without validating (for built-ins).  @name is copied
 * when @copy_name, else it must be a static string. */
cx_source *cx__source_alloc(const cx_source_ops *ops, void *user_data,
                            cx_reason reason, const char *name, bool copy_name);
/* Allocates a source and @state_size (at most UINT16_MAX) zeroed bytes of
 * state for it in one block, user_data pointing at the state: one
 * allocation for a built-in source, freed with the source (its destroy
 * frees what the state owns, not the state).  @name must be a static
 * string.  NULL when out of memory. */
cx_source *cx__source_alloc_with_state(const cx_source_ops *ops,
                                       size_t state_size, cx_reason reason,
                                       const char *name);
/* Starts @src for @host; 0 or the start error. */
int cx__source_start(cx_source *src, const cx__source_host *host);
/* Stops @src: no trigger is delivered after it returns. */
void cx__source_stop(cx_source *src);
/* Delivers a trigger with an explicit reason (composites). */
bool cx__source_fire(cx_source *src, cx_reason reason, const char *message);
/* "NAME/MEMBER/.../LEAF": @src's name, then down the members that fired
 * each composite (cx_source.winner); (transfer full) NULL when out of
 * memory. */
char *cx__source_fired_path(const cx_source *src);
/* Earliest deadline of @src (CX__NO_DEADLINE when none). */
int64_t cx__source_deadline(const cx_source *src);

/* The id of @src's host for logs (NULL when not started or unknown). */
static inline const char *cx__source_owner_id(const cx_source *src) {
  const cx__source_host *h = src->host;
  return h != NULL && h->id != NULL ? h->id(h) : NULL;
}

/* A list of sources (an op's), linked through cx_source.node; the owner
 * guards it. */
/* Appends @src (not owned yet) to @list and marks it owned. */
void cx__sources_append(cx__list *list, cx_source *src);
/* Starts every source of @list for @host; on an error, stops those started
 * and returns it.  0 or the start error. */
int cx__sources_start(const cx__list *list, const cx__source_host *host);
/* Stops every source of @list. */
void cx__sources_stop(const cx__list *list);
/* Frees every source of @list and empties it. */
void cx__sources_free(cx__list *list);
/* The earliest deadline of @list's started sources (CX__NO_DEADLINE). */
int64_t cx__sources_deadline(const cx__list *list);
/* A composite's sub-source fired (composite.c). */
void cx__composite_child_fired(cx_source *composite, cx_source *child,
                               cx_reason reason, const char *message);

#endif /* CX_SOURCES_H */
