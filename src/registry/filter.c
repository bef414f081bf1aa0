/* src/registry/filter.c - what an op filter (cx_op_filter) checks.  A
 * query checks the cheap fields (status, parent, names) under the
 * registry's lock while it copies references out; the late ones (ages,
 * end time, the caller's predicate) after, with no lock held, so the
 * predicate may call anything. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include <fnmatch.h>

#include "registry/registry.h"
#include "runtime/clock.h"

/* The size of the filter of the first release, which stopped at
 * name_pattern. */
#define FILTER_SIZE_0_1 offsetof(cx_op_filter, name_contains)

static bool age_valid(double age) { return age >= 0; /* not NaN */ }

static int validate(const cx_op_filter *f) {
  if (f->status < -1 || f->status > CX_STATUS_SHIELDED) return -EINVAL;
  if (!age_valid(f->min_age) || !age_valid(f->max_age)) return -EINVAL;
  if (f->max_age > 0 && f->min_age > f->max_age) return -EINVAL;
  if (isnan(f->since)) return -EINVAL;
  return 0;
}

int cx__filter_prepare(const cx_op_filter *in, cx_op_filter *out) {
  static const cx_op_filter all = CX_OP_FILTER_INIT;
  *out = all;
  if (in == NULL) return 0;
  if (in->size < FILTER_SIZE_0_1) return -EINVAL;
  memcpy(out, in, in->size < sizeof *out ? in->size : sizeof *out);
  out->size = sizeof *out;
  return validate(out);
}

static char fold(char c) {
  return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Whether @needle occurs in @hay, ASCII letters compared without case. */
static bool contains_nocase(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  do {
    size_t i = 0;
    /* A NUL of @hay differs from every byte left in @needle. */
    while (i < n && fold(hay[i]) == fold(needle[i])) i++;
    if (i == n) return true;
  } while (*hay++ != '\0');
  return false;
}

static bool parent_is(cx_op *op, const char *parent_id) {
  const char *pid = op->parent != NULL ? cx__op_id(op->parent) : NULL;
  return pid != NULL && strcmp(pid, parent_id) == 0;
}

bool cx__filter_match_early(const cx_op_filter *f, cx_op *op) {
  if (f->status >= 0 && atomic_load(&op->status) != f->status) return false;
  if (f->parent_id != NULL && !parent_is(op, f->parent_id)) return false;
  if (f->name != NULL && strcmp(op->name, f->name) != 0) return false;
  if (f->name_pattern != NULL && fnmatch(f->name_pattern, op->name, 0) != 0)
    return false;
  if (f->name_contains != NULL && !contains_nocase(op->name, f->name_contains))
    return false;
  return true;
}

bool cx__filter_has_late(const cx_op_filter *f) {
  return f->min_age > 0 || (f->max_age > 0 && f->max_age < INFINITY) ||
         f->since != 0 || f->match != NULL;
}

static bool times_match(const cx_op_filter *f, cx_op *op, int64_t now) {
  int64_t start, end;
  double age;
  cx__op_mono_times(op, &start, &end);
  age = (double)(now - start) / 1e9;
  if (f->min_age > 0 && !(age >= f->min_age)) return false;
  if (f->max_age > 0 && !(age <= f->max_age)) return false;
  if (f->since != 0 && end != 0 && !((double)end / 1e9 >= f->since))
    return false;
  return true;
}

bool cx__filter_match_late(const cx_op_filter *f, cx_op *op, int64_t now) {
  if (!times_match(f, op, now)) return false;
  return f->match == NULL || f->match(op, f->match_data);
}
