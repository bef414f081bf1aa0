/* cancelable/progress.h - progress reporting and streams.
 *
 * An op reports progress (a message and typed metadata); the report reaches
 * the op's own progress callbacks, then every ancestor's, innermost first
 * (async callbacks get it on a thread of their own, latest only).
 * Reporting with no progress callback anywhere in the process costs one
 * atomic load.  The standard metadata keys are those of the reference
 * library: progress (percent), current, total, rate (items/s), eta (s),
 * phase.
 *
 * Since: 0.1
 */
#ifndef CANCELABLE_PROGRESS_H
#define CANCELABLE_PROGRESS_H

#include <cancelable/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Standard metadata keys. */
#define CX_PROGRESS_PERCENT "progress" /* double, 0..100 */
#define CX_PROGRESS_CURRENT                                            \
  "current"                       /* number, items (or bytes...) done: \
                                     an integer or a double */
#define CX_PROGRESS_TOTAL "total" /* number, items in all */
#define CX_PROGRESS_RATE "rate"   /* double, items per second */
#define CX_PROGRESS_ETA "eta"     /* double, seconds left */
#define CX_PROGRESS_PHASE "phase" /* string */
/* Keys of a stream's reports (the reference's stream metadata). */
#define CX_PROGRESS_COUNT "count" /* integer, items a stream received */
#define CX_PROGRESS_LATEST_ITEM                \
  "latest_item" /* string, the stream's latest \
                   item as format_item wrote   \
                   it (only with one) */

/* A progress callback.  @op_id is the reporting op's id (NULL only when
 * it could not be made, out of memory, as cx_op_id()); @metadata is never
 * NULL (maybe empty).  All three are valid only during the call.  Added
 * with cx_op_on_progress(), it runs on the reporting thread with no
 * library lock held, so it may block (write to a database or a socket, as
 * the reference's examples do) — at the cost of blocking the work that
 * reports; added with cx_op_on_progress_async(), it runs on a delivery
 * thread of its own and blocking costs the work nothing.  A non-zero
 * return is a failure: it is logged and the other callbacks still run. */
typedef int (*cx_progress_fn)(const char *op_id, const char *message,
                              const cx_meta *metadata, void *user_data);

/* cx_op_on_progress: add a progress callback to @op (several may be added;
 * they run in registration order).
 * @op, @fn: (not nullable).  @user_data: (nullable).
 * @destroy: (nullable) called with @user_data when the op is freed.
 * Returns: 0.  Errors: -EINVAL NULL argument; -ENOMEM (then @destroy is
 *   not called).
 * Thread-safety: any thread, also while reports are delivered (a callback
 *   added during a delivery gets the next report).
 * Since: 0.1 */
CX_EXPORT int cx_op_on_progress(cx_op *op, cx_progress_fn fn, void *user_data,
                                void (*destroy)(void *));

/* cx_op_on_progress_async: add a progress callback to @op that runs off
 * the reporting thread, for callbacks that may be slow (a database, an
 * HTTP API): the reference library's "async progress".  It receives the
 * same reports as a cx_op_on_progress() callback of @op would (@op's own
 * and those that bubble up from its descendants, @op_id naming the
 * reporter; after throttling; the last withheld report at exit), but a
 * report only leaves a copy of its message and metadata in the callback's
 * queue and returns: the work never waits for the callback.
 *
 * Latest only: the queue holds one report per reporting op, the latest —
 * a newer report replaces that op's report not yet delivered, as a
 * conflated channel (a Kotlin CONFLATED channel, a latest-value watch)
 * does, and the event stream does with progress.  So a callback slower
 * than the reports sees each op's reports in order but only some of them
 * (its "current" values keep growing), and always each op's last report,
 * even when that call comes after @op exited or was freed.  Reports of
 * different ops are delivered in the order of their latest report.  The
 * queue never holds more than one report per op that reports to it.
 *
 * Callback runs on: a delivery thread of this callback alone (a small
 * stack, every signal blocked, no current op), one call at a time, never
 * on the reporting thread.  The thread starts with the first report (the
 * reporting thread pays for its creation, tens of microseconds, once) and
 * ends after 2 s without reports or once @op is freed and every queued
 * report is delivered, so a slow callback delays no other callback, and a
 * callback that has nothing to do costs no thread.
 *
 * @op: (not nullable) the op whose reports (and descendants') it gets.
 * @fn: (not nullable) the callback; a non-zero return is logged.
 * @user_data: (nullable) passed to @fn and @destroy.
 * @destroy: (nullable) called once with @user_data after the last call of
 *   @fn: @op's free does not wait for a call in progress or for the
 *   reports still queued; they are delivered after it, and @destroy runs
 *   on the delivery thread then (on the freeing thread when nothing was
 *   left to deliver).  Until @destroy runs, @user_data must stay valid.
 * Returns: 0.
 * Errors: -EINVAL NULL @op or @fn; -ENOMEM.  On error nothing is added
 *   and @destroy is not called.  A delivery thread that cannot be started
 *   is logged (a warning), and the report waits for the next one (or the
 *   op's free, which tries once more).
 * Thread-safety: any thread, also from inside a callback.
 * Async-signal-safe: no.
 * May be called from inside a callback: yes.  @fn may report progress
 *   (queued as any report) and add callbacks; it must not wait for its
 *   own later calls, which start after it returns.  An @fn that never
 *   returns keeps its thread and @user_data, and delays nothing else.
 * fork(): a child delivers the reports made in it, on a thread of its own
 *   started by its first report; reports queued in the parent at the fork
 *   are delivered by the parent only.
 * Since: 0.1 */
CX_EXPORT int cx_op_on_progress_async(cx_op *op, cx_progress_fn fn,
                                      void *user_data, void (*destroy)(void *));

/* cx_report_progress: report progress of @op.  Standard keys missing from
 * @metadata are filled in: "rate" (items per second since enter) when it
 * has "current"; also "progress" (percent) and "eta" (seconds left at that
 * rate) when it has "total" as well.  "current" and "total" may be
 * integers or doubles (a non-finite one is ignored; a total of 0 or less
 * is unknown).  Keys the caller gave are kept.  For the standard report,
 * cx_op_progress() does it in one call.
 * Reports closer together than the op's minimum interval are not delivered,
 * except that the last one withheld is delivered when the op exits.
 * @op: (nullable) NULL means the current op (none: nothing happens).
 * @message: (nullable) copied for the delivery; NULL means "".
 * @metadata: (nullable) not modified; copied when filled in or withheld.
 * Returns: 0 (also when throttled or nobody listens).
 * Errors: -ENOMEM: the report was neither kept (cx_op_last_progress())
 *   nor delivered; or, when only an async callback could not get its copy
 *   of the report, the others still got it.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT int cx_report_progress(cx_op *op, const char *message,
                                 const cx_meta *metadata);

/* cx_op_progress: the standard progress report in one call, as the
 * reference's report_progress(message, {"current": ..., "total": ...}):
 * cx_report_progress(@op, @message, m) with m holding "current" =
 * @current and, when @total > 0, "total" = @total; so "rate", and with a
 * total "progress" (percent) and "eta", are filled in as there.  A whole
 * number goes in as an integer (readable with cx_meta_get_int()), any
 * other as a double (cx_meta_get_double() reads both).  Delivered,
 * throttled, kept and bubbled exactly as cx_report_progress().
 * @op: (nullable) NULL means the current op (none: nothing happens).
 * @message: (nullable) copied for the delivery; NULL means "".
 * @current: items (bytes, ...) done: finite and >= 0.
 * @total: items in all: finite and >= 0; 0 means unknown (no percent,
 *   no eta).
 * Returns: 0 (also when throttled or nobody listens; with nobody
 *   listening it costs one atomic load, nothing is allocated).
 * Errors: -EINVAL NaN, infinite or negative @current or @total (nothing
 *   is reported); -ENOMEM as cx_report_progress().
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.2 */
CX_EXPORT int cx_op_progress(cx_op *op, const char *message, double current,
                             double total);

/* cx_op_progress_phase: cx_op_progress() with the standard key "phase"
 * set to @phase as well.
 * @phase: (nullable) copied; NULL sets no phase.
 * Other arguments, returns and errors: as cx_op_progress().
 * Thread-safety: any thread.  Async-signal-safe: no.
 * Since: 0.2 */
CX_EXPORT int cx_op_progress_phase(cx_op *op, const char *message,
                                   double current, double total,
                                   const char *phase);

/* cx_op_set_progress_interval: deliver at most one report of @op per
 * @seconds (throttling for UIs); 0 turns throttling off (the default).
 * @seconds: >= 0 and finite.
 * Returns: 0.  Errors: -EINVAL NULL @op or bad @seconds.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT int cx_op_set_progress_interval(cx_op *op, double seconds);

/* ---- The last report, and reports as JSON (for UIs, logs, the HTTP
 * adapter and the tool's report). */

/* The last progress report of an op, copied out. */
typedef struct cx_progress_snapshot {
  char *message;     /* (transfer full) free() it; never NULL after 0 */
  cx_meta *metadata; /* (transfer full) cx_meta_free() it; the standard
                        keys filled in as delivered */
  uint64_t reports;  /* reports of the op kept so far (throttled ones
                        included) */
  double elapsed;    /* seconds from the op's enter to the last report (to
                        within a clock tick, a few ms) */
} cx_progress_snapshot;

/* cx_op_last_progress: copy out @op's last progress report, the one
 * cx_report_progress() was given last (after filling in the standard keys;
 * also when throttling withheld it), kept before it is delivered, so that
 * a progress callback or event subscriber reading the op sees it.  Reports are
 * kept while anything follows progress in the process: a progress callback on
 * any op, an event subscriber (cancelable/events.h), or the registry (from the
 * first registered op on).  Before that, a report costs one atomic load and is
 * not kept.
 * @op: (not nullable).  @out: (not nullable) zeroed on every error.
 * Returns: 0.  Errors: -EINVAL NULL argument; -ENOENT no report kept;
 *   -ENOMEM.
 * Thread-safety: any thread, also while the op reports.  Since: 0.1 */
CX_EXPORT int cx_op_last_progress(const cx_op *op, cx_progress_snapshot *out);

/* cx_progress_snapshot_clear: free what @snapshot holds and zero it.
 * @snapshot: (nullable) NULL does nothing.  Since: 0.1 */
CX_EXPORT void cx_progress_snapshot_clear(cx_progress_snapshot *snapshot);

/* cx_progress_to_json: a progress report as the text of one JSON object:
 * {"message", "percent", "current", "total", "rate", "eta", "phase",
 *  "metadata": {...}} where "percent" is the standard key "progress" and
 * the others are their standard keys, as numbers (null when absent, not a
 * number, or NaN); "phase" is a string or null and "metadata" holds every
 * key in order.  For a progress callback that forwards reports to a
 * UI, a log or an API.  Valid UTF-8 whatever bytes @message and the
 * metadata hold (ill-formed sequences become U+FFFD, as in
 * cx_registry_to_json()).
 * @message, @metadata: (nullable) NULL message is "", NULL metadata {}.
 * Returns: (transfer full) a NUL-terminated string to free(), or NULL out
 *   of memory.
 * Thread-safety: any thread; @metadata must not change meanwhile.
 * Since: 0.1 */
CX_EXPORT char *cx_progress_to_json(const char *message,
                                    const cx_meta *metadata);

/* cx_op_progress_to_json: @op's last report (cx_op_last_progress()) as
 * cx_progress_to_json() writes it plus "reports" and "elapsed", or the
 * text "null" when none is kept: the "progress" field of cx_op_to_json().
 * @op: (not nullable).  @out: (not nullable) (transfer full: free()).
 * Returns: 0.  Errors: -EINVAL NULL argument; -ENOMEM.
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT int cx_op_progress_to_json(const cx_op *op, char **out);

/* ---- Streams.  A stream wraps a user iterator so that each item is a
 * cancellation point: items are counted, progress is reported every N
 * items, the last K items are kept, and on cancel, error or completion the
 * op's partial result is a cx_stream_result.  A stream works inside an op
 * of yours (cx_stream_new()) or makes and enters one of its own
 * (cx_stream_open(), the reference's cancelable_stream()); items come one
 * at a time (cx_stream_next()) or in chunks (cx_stream_next_chunk(), the
 * reference's chunked_cancelable_stream()).
 *
 *   cx_stream_options o = CX_STREAM_OPTIONS_INIT;
 *   o.timeout = 30.0;
 *   o.report_every = 100;
 *   cx_stream *s;
 *   void *item;
 *   int rc = cx_stream_open(&s, read_record, file, &o);
 *   if (rc == 0)
 *     while ((rc = cx_stream_next(s, &item)) == 1) use(item);
 *   // rc: 0 the end, -ECANCELED (timeout...), or the iterator's error;
 *   // cx_stream_op(s) has exited: its status, reason, partial result.
 *   cx_stream_free(s);
 */

/* A user iterator: store the next item in *@item and return 1, return 0 at
 * the end, or a negative errno on error.  The stream owns each item it
 * receives (see cx_stream_options.item_free). */
typedef int (*cx_stream_next_fn)(void *state, void **item);

/* A stream's progress callback: @count items received so far, @item the
 * latest (valid as the item cx_stream_next() hands out).  Runs on the
 * thread iterating, inside cx_stream_next() / cx_stream_next_chunk(),
 * after the progress report of the same item. */
typedef void (*cx_stream_progress_fn)(size_t count, const void *item,
                                      void *user_data);

/* Writes a short text for @item into @buf (@size bytes, NUL-terminated,
 * cut as snprintf() does): the "latest_item" of the stream's reports. */
typedef void (*cx_stream_format_fn)(const void *item, char *buf, size_t size);

/* Options for cx_stream_new() and cx_stream_open(); initialise with
 * CX_STREAM_OPTIONS_INIT.
 *
 * Reports: every @report_every items the stream reports progress to its
 * op (cx_report_progress(): message "N items", metadata "count" and
 * "current" = items received, "total" when given, "latest_item" when
 * @format_item is given; rate, percent and eta are filled in as for any
 * report) and then calls @on_progress (count, item).  With @report_every
 * 0 it reports nothing and calls @on_progress for every item (a per-item
 * callback costs no report). */
typedef struct cx_stream_options {
  size_t size;                   /* sizeof(cx_stream_options) */
  size_t report_every;           /* report progress every N items; 0: never
                                    (on_progress then runs every item) */
  size_t keep_last;              /* the last K items kept (the initialiser
                                    sets 1000); 0 keeps none */
  void (*item_free)(void *item); /* (nullable) frees an item the stream no
                                  longer keeps */
  int64_t total;                 /* total items, if known (for progress); 0 */
  cx_stream_progress_fn on_progress; /* (nullable) see above */
  void *user_data;                   /* (nullable) for on_progress */
  cx_stream_format_fn format_item;   /* (nullable) "latest_item" */
  /* For cx_stream_open() only (cx_stream_new() refuses them: the op is
   * yours there): */
  double timeout;   /* seconds from the open; 0: none */
  cx_token *token;  /* (nullable) cancels the stream's op (reason and
                       message preserved) without being cancelled by it;
                       a reference is kept while the op lives */
  const char *name; /* (nullable) the op's name, copied; default "stream" */
  cx_op *parent;    /* (nullable) the op's parent (cascade, deadline);
                       NULL: none */
} cx_stream_options;

/* Initialiser for cx_stream_options: keep 1000, no reports, no op
 * options. */
#define CX_STREAM_OPTIONS_INIT                                                \
  {                                                                           \
    sizeof(cx_stream_options), 0, 1000, NULL, 0, NULL, NULL, NULL, 0.0, NULL, \
        NULL, NULL                                                            \
  }

/* What a stream leaves as its op's partial result. */
typedef struct cx_stream_result {
  size_t count;      /* items received */
  void **items;      /* the last min(count, keep_last) items, oldest first
                        (owned by the result) */
  size_t item_count; /* number of entries in items */
  bool completed;    /* the iterator reached its end */
  int error;         /* 0, -ECANCELED, or the iterator's error */
} cx_stream_result;

/* A stream (opaque). */
typedef struct cx_stream cx_stream;

/* cx_stream_new: wrap @next over @state inside @op.
 * @op: (nullable) NULL means the current op (there must be one).
 * @next: (not nullable).  @state: (nullable) passed to @next.
 * @opts: (nullable) NULL means CX_STREAM_OPTIONS_INIT.
 * @out: (not nullable) receives the stream (transfer full:
 *   cx_stream_free()).
 * Returns: 0.  Errors: -EINVAL NULL @next/@out, no op, bad options
 *   (@size too small, negative @total, any of the cx_stream_open() only
 *   options set); -ENOMEM.  On error *@out is NULL.
 * Thread-safety: a stream is used by one thread at a time.  Since: 0.1 */
CX_EXPORT int cx_stream_new(cx_stream **out, cx_op *op, cx_stream_next_fn next,
                            void *state, const cx_stream_options *opts);

/* cx_stream_open: a stream with an op of its own, the reference's
 * cancelable_stream(): makes an op (named @opts->name, child of
 * @opts->parent, cancelled by @opts->token and by a timeout of
 * @opts->timeout seconds counted from now), enters it on the calling
 * thread (it is cx_current() while you iterate) and wraps @next in it as
 * cx_stream_new() does.
 *
 * Ownership and exit: the stream owns the op.  The op exits, on the
 * thread that opened it, when a call of cx_stream_next() or
 * cx_stream_next_chunk() returns the end or a failure other than bad
 * arguments: 0 -> COMPLETED; -ECANCELED -> CANCELLED with the first
 * trigger's reason (TIMEOUT, the token's, PARENT...); the iterator's
 * error -> FAILED with that error.  Freed before that, the stream exits
 * it with 0 (COMPLETED; its partial result says completed false): the
 * consumer stopping early is not a failure.  The partial result
 * (cx_stream_result) is stored before the exit.  cx_stream_op() gives the
 * op; it lives as long as the stream (cx_op_ref() it to read it after
 * cx_stream_free()).  Ops entered on the thread after the open must be
 * exited before the stream's op exits (cx_op_exit()'s rule); an exit
 * refused for that reason is logged (a warning) and tried again at
 * cx_stream_free().
 * @next: (not nullable).  @state: (nullable) passed to @next.
 * @opts: (nullable) NULL means CX_STREAM_OPTIONS_INIT.
 * @out: (not nullable) receives the stream (transfer full:
 *   cx_stream_free()).
 * Returns: 0 (also when @opts->token is already cancelled: the first
 *   call then returns -ECANCELED).
 * Errors: -EINVAL NULL @next or @out, @size too small, negative @total,
 *   a negative, NaN or infinite @timeout; -ENOMEM; an error of
 *   cx_op_enter().  On error nothing is made or entered, *@out is NULL
 *   and no reference to @opts->token is kept.
 * Thread-safety: the stream, and so every call on it, belongs to the
 *   thread that opened it.
 * Since: 0.2 */
CX_EXPORT int cx_stream_open(cx_stream **out, cx_stream_next_fn next,
                             void *state, const cx_stream_options *opts);

/* cx_stream_op: the op the stream works in (the one given to
 * cx_stream_new(), or cx_stream_open()'s own).
 * Returns: (transfer none) valid while the stream lives; NULL for NULL.
 * Thread-safety: any thread.  Since: 0.2 */
CX_EXPORT cx_op *cx_stream_op(const cx_stream *stream);

/* cx_stream_next: the next item (a cancellation point).
 * @item: (not nullable) receives the item (transfer none: the stream keeps
 *   it until it falls out of the last K, or frees it at once when it keeps
 *   none — so use it before the next call in that case).
 * Returns: 1 an item; 0 the end (the partial result is stored, completed).
 * Errors: -ECANCELED the op is cancelled (checked before each item; the
 *   partial result is stored); the iterator's negative errno (stored too);
 *   -EINVAL NULL argument; -ENOMEM.  Once a stream has ended, every later
 *   call returns the same outcome (0, -ECANCELED or the error).  A stream
 *   of cx_stream_open() exits its op when it returns anything but 1 or
 *   -EINVAL (see there).
 * Thread-safety: one thread at a time per stream.
 * Since: 0.1 */
CX_EXPORT int cx_stream_next(cx_stream *stream, void **item);

/* cx_stream_next_chunk: the next @k items at once (a cancellation point
 * before each), the reference's chunked_cancelable_stream(): 10 items in
 * chunks of 3 come as 3, 3, 3, 1.  A chunk shorter than @k comes only when
 * the stream ended while it was filled (the end, a cancel, an error): the
 * items received are never withheld, and the next call returns what ended
 * it, as cx_stream_next() would.  Items are counted, reported and kept
 * one by one as by cx_stream_next(), and the two calls may be mixed.
 * @k: items per chunk, at least 1 (it may change between calls).
 * @items: (not nullable) receives the chunk: an array of *@count items
 *   (transfer none: the array and the items stay valid until the next
 *   call on the stream or its free, whatever keep_last is).
 * @count: (not nullable) receives the number of items, 1..@k.
 * Returns: 1 a chunk; 0 the end.
 * Errors: as cx_stream_next(); -EINVAL also @k 0.  On -EINVAL and on
 *   -ENOMEM (the chunk's arrays could not grow) nothing is received and
 *   the stream is unchanged: the previous chunk stays valid.
 * Thread-safety: one thread at a time per stream (the opening thread for
 *   cx_stream_open()).
 * Since: 0.2 */
CX_EXPORT int cx_stream_next_chunk(cx_stream *stream, size_t k,
                                   void *const **items, size_t *count);

/* cx_stream_count: items received so far (0 for NULL).  Thread-safety: one
 * thread at a time per stream. Since: 0.1 */
CX_EXPORT size_t cx_stream_count(const cx_stream *stream);

/* cx_stream_free: free the stream.  If it has not ended, its partial result
 * is stored first (not completed, error 0).  Kept items move to the
 * result.  A stream of cx_stream_open() whose op has not exited yet exits
 * it with 0 (COMPLETED) and releases it.
 * @stream: (nullable) NULL is a no-op.  Thread-safety: one thread at a time per
 * stream. Since: 0.1 */
CX_EXPORT void cx_stream_free(cx_stream *stream);

#ifdef __cplusplus
}
#endif

#endif /* CANCELABLE_PROGRESS_H */
