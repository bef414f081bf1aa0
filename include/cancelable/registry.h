/* cancelable/registry.h - the operation registry.
 *
 * A process-wide, thread-safe table of live operations and a bounded
 * history of finished ones, for monitoring, debugging and cancelling work
 * from elsewhere in the program (the reference's OperationRegistry).  An op
 * registers on enter when its options ask for it (cx_op_options.register_op)
 * or when cx_registry_set_default(true) made that the default; it leaves the
 * live table on exit and enters the history (default 1000 entries), which
 * keeps its final context.
 *
 * Everything a query returns is the caller's: references to ops (release
 * with cx_op_list_free()), never a pointer a concurrent exit can free.
 *
 * Since: 0.1
 */
#ifndef CANCELABLE_REGISTRY_H
#define CANCELABLE_REGISTRY_H

#include <cancelable/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A caller's predicate for cx_op_filter.match: true keeps @op.  Runs on
 * the calling thread of the query, with no library lock held (the query
 * takes a snapshot of references first), so it may call any function of
 * the library, the registry's included; @op stays valid during the call.
 * Since: 0.1 */
typedef bool (*cx_op_match_fn)(cx_op *op, void *user_data);

/* A filter for queries and bulk cancels; initialise with
 * CX_OP_FILTER_INIT (matches everything).  An op matches when it passes
 * every field that is set.  Ages and times are on the library's clock
 * (cx_now(): monotonic, virtual in tests), so a step of the wall clock
 * moves none of them.  A filter from an older build (a smaller @size that
 * still covers the fields up to @name_pattern) is read with the fields it
 * lacks left at their defaults. */
typedef struct cx_op_filter {
  size_t size;               /* sizeof(cx_op_filter) */
  int status;                /* a cx_status, or -1 for any */
  const char *parent_id;     /* (nullable) only children of this id */
  const char *name;          /* (nullable) exact name */
  const char *name_pattern;  /* (nullable) shell-style glob (fnmatch(3)) */
  const char *name_contains; /* (nullable) a case-insensitive substring
                                of the name (ASCII case folding; the
                                reference's name_pattern); "" matches all */
  double min_age;       /* seconds since the op started: at least this (0: no
                           lower bound) */
  double max_age;       /* seconds since the op started: at most this (0 or
                           +infinity: no upper bound) */
  double since;         /* a cx_now() time: only ops that ended at or after it
                           (the reference's history since); live ops, which
                           have not ended, match.  0: no bound */
  cx_op_match_fn match; /* (nullable) the caller's predicate, applied
                           last */
  void *match_data;     /* (nullable) passed to @match; the caller's */
} cx_op_filter;

/* Initialiser for cx_op_filter: everything matches. */
#define CX_OP_FILTER_INIT                                                  \
  {                                                                        \
    sizeof(cx_op_filter), -1, NULL, NULL, NULL, NULL, 0.0, 0.0, 0.0, NULL, \
        NULL                                                               \
  }

/* A list of op references returned by a query. */
typedef struct cx_op_list {
  cx_op **ops; /* (transfer full) each referenced */
  size_t count;
} cx_op_list;

/* cx_op_list_free: release every op of @list and its array; @list is left
 * empty.  @list: (nullable).  Since: 0.1 */
CX_EXPORT void cx_op_list_free(cx_op_list *list);

/* cx_registry_set_default: make registration the default for every op
 * (true) or only for ops that ask (false, the initial setting).
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT void cx_registry_set_default(bool register_all);

/* cx_registry_set_history_size: keep at most @count finished ops (the
 * oldest are dropped first; 0 keeps none).  Default 1000.  Queries, stats
 * and lookups always see exactly the newest @count.  To keep exits cheap,
 * finished ops join the history in small batches, one per shard of the
 * registry (16; each thread uses one): until its batch joins, a shard may
 * hold up to min(31, @count - 1) finished ops (their references, so their
 * destroy notifies wait) beyond @count.  An op that falls out of the
 * history while a thread of another shard's batch joins waits for its own
 * shard's next batch, so that a thread of that shard frees it (its memory
 * stays with that CPU); when 128 of a shard wait, the trimming thread
 * frees them instead.  A shard whose threads finish no more ops keeps
 * them until a call below.
 * cx_registry_history(), cx_registry_find(), cx_registry_cancel(),
 * cx_registry_get_stats(), cx_registry_prune(), cx_registry_clear() and
 * this call let all of them go (the live queries, cx_registry_list(),
 * cx_registry_children() and cx_registry_cancel_all(), do not).  Out of
 * memory for the history's records, it may keep fewer ops (the oldest,
 * or with no room at all the ones just finished, are released); when it
 * does, a warning is logged (cx_log_set_handler()).
 * Memory: the history's records take 24 bytes each, for up to the
 * largest @count set so far plus 32, rounded up to a power of two (48 KB
 * for the default 1000); never given back.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT void cx_registry_set_history_size(size_t count);

/* cx_registry_find: the live or finished op with @id.  When several
 * registered ops have that id (ids given in cx_op_options.id), the oldest
 * live one, else the one that finished last.
 * Returns: (transfer full) the op (cx_op_unref()), or NULL when no such op
 *   is registered or kept (or @id is NULL).
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT cx_op *cx_registry_find(const char *id);

/* cx_registry_list: the live ops matching @filter, oldest first.
 * @filter: (nullable) NULL matches all.  @out: (not nullable) receives the
 *   list (cx_op_list_free()).
 * Returns: 0.  Errors: -EINVAL NULL @out or a bad filter: a size too small,
 *   a status outside cx_status and not -1, a NaN or negative age, a
 *   @min_age above a bounded @max_age, a NaN @since; -ENOMEM (then @out is
 *   empty).  On error @filter's predicate is never called.
 * Thread-safety: any thread.  @filter's predicate runs on the calling
 *   thread with no library lock held, at most once per op that passed the other
 *   fields.  Since: 0.1 */
CX_EXPORT int cx_registry_list(const cx_op_filter *filter, cx_op_list *out);

/* cx_registry_children: the live children of the op with @parent_id (as
 * cx_registry_list() with that parent filter).
 * Returns/Errors: as cx_registry_list(); -EINVAL NULL @parent_id.
 * Since: 0.1 */
CX_EXPORT int cx_registry_children(const char *parent_id, cx_op_list *out);

/* cx_registry_history: finished ops matching @filter, newest first, at most
 * @newest (0: all kept).  The reference's get_history(limit, status,
 * since): set @filter's since to cx_now() - SECONDS for the ops that ended
 * in the last SECONDS.  @newest counts matching ops (after the predicate).
 * Returns/Errors: as cx_registry_list().  Since: 0.1 */
CX_EXPORT int cx_registry_history(const cx_op_filter *filter, size_t newest,
                                  cx_op_list *out);

/* cx_registry_cancel: cancel the live op with @id (the oldest, when several
 * have it).
 * @reason: not NONE.  @message: (nullable) copied.
 * Returns: 1 cancelled by this call, 0 it was already cancelled.
 * Errors: -ENOENT no live op with @id; -EINVAL NULL @id or bad reason.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT int cx_registry_cancel(const char *id, cx_reason reason,
                                 const char *message);

/* cx_registry_cancel_all: cancel every live op matching @filter: by
 * status, parent, name (exact, glob or substring), age (the reference's
 * cancel_all of ops older than N seconds: @filter.min_age = N) or the
 * caller's predicate (@filter.match).  The matching ops are taken as a
 * snapshot, the predicate decides on each with no lock held, then each
 * chosen op is cancelled; an op that starts meanwhile is not included.
 * @filter: (nullable) NULL matches all.  @reason: not NONE.
 * @message: (nullable) copied.
 * Returns: how many matching ops this call cancelled itself (>= 0): ops
 *   already cancelled, including descendants that an earlier cancel in the
 *   same call reached through their parent, are not counted.
 * Errors: -EINVAL bad reason or filter (as cx_registry_list()): nothing is
 *   cancelled; -ENOMEM: nothing is cancelled.
 * Thread-safety: any thread; the predicate as for cx_registry_list().
 * Since: 0.1 */
CX_EXPORT long cx_registry_cancel_all(const cx_op_filter *filter,
                                      cx_reason reason, const char *message);

/* Registry statistics.  The finished counts cover every registered op
 * that exited since the start (or cx_registry_clear()), also those the
 * history no longer keeps. */
typedef struct cx_registry_stats {
  size_t live;              /* live ops */
  size_t live_by_status[6]; /* indexed by cx_status */
  uint64_t completed;       /* finished ops by final status */
  uint64_t cancelled;
  uint64_t failed;
  double average_duration; /* seconds from enter to exit, averaged over the
                              COMPLETED ops only (as the reference: a
                              cancelled or failed op's duration says when
                              it was stopped, not how long the work takes);
                              0 when none completed */
  size_t history;          /* entries kept */
  uint64_t cancelled_by_reason[8]; /* the CANCELLED ops by the reason of
                                      their cancel, indexed by cx_reason
                                      (NONE stays 0; room for reasons
                                      appended later) */
} cx_registry_stats;

/* cx_registry_get_stats: a snapshot of the statistics.
 * Returns: 0.  Errors: -EINVAL NULL @out.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT int cx_registry_get_stats(cx_registry_stats *out);

/* Flags of cx_registry_prune(). */
#define CX_PRUNE_KEEP_FAILED             \
  0x1u /* never drop FAILED entries (the \
          reference's keep_failed) */

/* cx_registry_prune: drop history entries that ended more than
 * @max_age_seconds ago (on the library's clock, cx_now(); 0 or +infinity:
 * no age limit) and those beyond the newest @max_count (0: no count
 * limit).  With CX_PRUNE_KEEP_FAILED in @flags, FAILED entries stay
 * whatever their age or rank (they still count among the newest
 * @max_count).  The reference's cleanup_completed(older_than,
 * keep_failed).  The statistics are not changed.
 * @flags: 0 or CX_PRUNE_KEEP_FAILED.
 * Returns: the number dropped.  Errors: -EINVAL negative or NaN age, or an
 *   unknown flag (nothing is dropped); -ENOMEM (nothing is dropped).
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT long cx_registry_prune(double max_age_seconds, size_t max_count,
                                 unsigned flags);

/* cx_registry_clear: forget every live op (they stay running, unregistered)
 * and the history, and reset the statistics.  For tests.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT void cx_registry_clear(void);

/* cx_registry_to_json: a JSON snapshot
 * {"live":[OP...],"history":[OP...],"stats":{...}} where OP is
 * {"id","name","status","parent_id","reason","message","start_time",
 *  "end_time","elapsed","error","error_code","metadata":{...},
 *  "progress":{...}} (times in seconds, wall clock for start/end; "error"
 * is the errno name such as "EIO"; "progress" is the op's last report as
 * cx_op_progress_to_json() writes it; absent values are null) and "stats"
 * holds cx_registry_stats: "live", "live_by_status":{STATUS:N...},
 * "completed", "cancelled", "failed", "cancelled_by_reason":{REASON:N...},
 * "average_duration", "history".  Field names are
 * stable.  The text is valid UTF-8 whatever bytes names, messages and metadata
 * hold: each ill-formed sequence in them (its maximal subpart, as Unicode
 * defines it) is written as U+FFFD.
 * @filter: (nullable) applied to both lists.
 * @include_history: false leaves "history" empty.
 * @out: (not nullable) receives a NUL-terminated string (transfer full:
 *   free() it).
 * Returns: 0.  Errors: -EINVAL; -ENOMEM.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT int cx_registry_to_json(const cx_op_filter *filter,
                                  bool include_history, char **out);

/* cx_registry_stats_to_json: @stats as the JSON object that
 * cx_registry_to_json() writes under "stats": {"live", "live_by_status":
 * {STATUS:N...}, "completed", "cancelled", "failed", "cancelled_by_reason":
 * {REASON:N...}, "average_duration", "history"} (status and reason names
 * as cx_status_name() and cx_reason_name() give them; average_duration in
 * seconds).  Field names are stable.
 * @stats: (not nullable) as cx_registry_get_stats() filled it; read only.
 * @out: (not nullable) receives a NUL-terminated string (transfer full:
 *   free() it); NULL on error.
 * Returns: 0.  Errors: -EINVAL a NULL argument; -ENOMEM.
 * Thread-safety: any thread (it reads only @stats).  Since: 0.2 */
CX_EXPORT int cx_registry_stats_to_json(const cx_registry_stats *stats,
                                        char **out);

/* cx_op_to_json: the JSON object of one op, as in cx_registry_to_json().
 * @op: (not nullable).  @out: (not nullable) (transfer full: free()).
 * Returns: 0.  Errors: -EINVAL; -ENOMEM.
 * Since: 0.1 */
CX_EXPORT int cx_op_to_json(const cx_op *op, char **out);

#ifdef __cplusplus
}
#endif

#endif /* CANCELABLE_REGISTRY_H */
