/* src/base/base.h - what every layer above the runtime shares: reason
 * checks, the log, and metadata merging. */
#ifndef CX_BASE_H
#define CX_BASE_H

#include <stdbool.h>

#include <cancelable/common.h>
#include <cancelable/log.h>
#include <cancelable/meta.h>

/* Whether @reason is one a cancel may give (not NONE, not out of range). */
static inline bool cx__reason_valid(cx_reason reason) {
  return reason > CX_REASON_NONE && reason <= CX_REASON_ERROR;
}

/* ---- logging (log.c) */
bool cx__log_enabled(cx_log_level level);
void cx__log(cx_log_level level, const char *op_id, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ---- metadata (meta.c) */
/* Makes @to hold exactly @from's keys and values (@from nullable: empty).
 * When both have the same keys in the same order and the same string
 * values, only the other values are written, with no allocation (a
 * progress report that updates a queued one).  0 or -ENOMEM (then @to
 * unchanged). */
int cx__meta_assign(cx_meta *to, const cx_meta *from);
/* Copies every key of @from into @to.  0 or -ENOMEM (then @to unchanged). */
int cx__meta_merge(cx_meta *to, const cx_meta *from);
/* Writes @meta as a JSON object into @j, keys in order; NULL as an empty
 * object (meta_json.c). */
struct cxu_json;
void cx__meta_write_json(struct cxu_json *j, const cx_meta *meta);
/* Writes the fields of a progress report (progress_json.c): "message",
 * "percent" and the other standard keys as numbers or null, "phase",
 * "metadata"; the caller
 * opens and closes the object.  @message, @meta: (nullable). */
void cx__progress_write_fields(struct cxu_json *j, const char *message,
                               const cx_meta *meta);

#endif /* CX_BASE_H */
