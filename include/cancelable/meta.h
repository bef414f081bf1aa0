/* cancelable/meta.h - typed key/value metadata.
 *
 * A cx_meta is a small ordered dictionary whose keys are strings and whose
 * values are strings, 64-bit integers, doubles or booleans.  Operations carry
 * one (their metadata) and progress reports will carry one.  A cx_meta is a
 * plain value owned by whoever created it: it is NOT thread-safe; share it
 * between threads only read-only, or copy it.
 *
 * Since: 0.1
 */
#ifndef CANCELABLE_META_H
#define CANCELABLE_META_H

#include <cancelable/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The type of one value. */
typedef enum cx_meta_type {
  CX_META_NONE = 0, /* no such key */
  CX_META_STRING = 1,
  CX_META_INT = 2,
  CX_META_DOUBLE = 3,
  CX_META_BOOL = 4
} cx_meta_type;

/* cx_meta_new: an empty dictionary.
 * Returns: (transfer full) the dictionary, or NULL when out of memory; free
 *   with cx_meta_free().
 * Thread-safety: any thread.  Since: 0.1 */
CX_EXPORT cx_meta *cx_meta_new(void);

/* cx_meta_free: free a dictionary and its keys and values.
 * @meta: (nullable) NULL is a no-op.
 * Thread-safety: not with other calls on the same dictionary.
 * Since: 0.1 */
CX_EXPORT void cx_meta_free(cx_meta *meta);

/* cx_meta_copy: a deep copy.
 * @meta: (nullable) NULL gives a new empty dictionary.
 * Returns: (transfer full) the copy, or NULL when out of memory.
 * Thread-safety: concurrent readers of @meta are fine.  Since: 0.1 */
CX_EXPORT cx_meta *cx_meta_copy(const cx_meta *meta);

/* cx_meta_set_string / _int / _double / _bool: set @key to a value,
 * replacing any value (of any type) it had and keeping its position; a new
 * key is appended.  Key and string value are copied.
 * @meta: (not nullable).  @key: (not nullable) non-empty.
 * @value: for strings (not nullable).
 * Returns: 0.  Doubles may be NaN or infinite: they are stored as given.
 * Errors: -EINVAL NULL @meta, NULL or empty @key, NULL string @value;
 *   -ENOMEM.  On error nothing changes.
 * Thread-safety: not with other calls on the same dictionary.
 * Since: 0.1 */
CX_EXPORT int cx_meta_set_string(cx_meta *meta, const char *key,
                                 const char *value);
/* See cx_meta_set_string().  Since: 0.1 */
CX_EXPORT int cx_meta_set_int(cx_meta *meta, const char *key, int64_t value);
/* See cx_meta_set_string().  Since: 0.1 */
CX_EXPORT int cx_meta_set_double(cx_meta *meta, const char *key, double value);
/* See cx_meta_set_string().  Since: 0.1 */
CX_EXPORT int cx_meta_set_bool(cx_meta *meta, const char *key, bool value);

/* cx_meta_remove: remove @key.
 * Returns: 0 removed.  Errors: -ENOENT no such key; -EINVAL NULL argument.
 * Thread-safety: not with other calls on the same dictionary.
 * Since: 0.1 */
CX_EXPORT int cx_meta_remove(cx_meta *meta, const char *key);

/* cx_meta_type_of: the type of @key's value.
 * Returns: its type, or CX_META_NONE when absent (or for NULL arguments).
 * Thread-safety: concurrent readers are fine.  Since: 0.1 */
CX_EXPORT cx_meta_type cx_meta_type_of(const cx_meta *meta, const char *key);

/* cx_meta_get_string / _int / _double / _bool: read @key.
 * @out: (not nullable) receives the value; for strings (transfer none),
 *   valid until the key is changed or the dictionary freed.
 * Returns: 0.
 * Errors: -ENOENT no such key; -EPROTOTYPE the value has another type
 *   (cx_meta_get_double also accepts an integer value and converts it);
 *   -EINVAL NULL argument.  On error @out is unchanged.
 * Thread-safety: concurrent readers are fine.  Since: 0.1 */
CX_EXPORT int cx_meta_get_string(const cx_meta *meta, const char *key,
                                 const char **out);
/* See cx_meta_get_string().  Since: 0.1 */
CX_EXPORT int cx_meta_get_int(const cx_meta *meta, const char *key,
                              int64_t *out);
/* See cx_meta_get_string().  Since: 0.1 */
CX_EXPORT int cx_meta_get_double(const cx_meta *meta, const char *key,
                                 double *out);
/* See cx_meta_get_string().  Since: 0.1 */
CX_EXPORT int cx_meta_get_bool(const cx_meta *meta, const char *key, bool *out);

/* cx_meta_string_or / _int_or / _double_or / _bool_or: @key's value, or
 * @fallback when there is none of that type (absent key, another type,
 * NULL @meta or @key), as Python's dict.get(key, default).  The double
 * getter also accepts an integer value and converts it.
 * Returns: the value; for strings (transfer none), valid until the key is
 *   changed or the dictionary freed (or @fallback).
 * Thread-safety: concurrent readers are fine.  Async-signal-safe: no.
 * Since: 0.1 */
CX_EXPORT const char *cx_meta_string_or(const cx_meta *meta, const char *key,
                                        const char *fallback);
/* See cx_meta_string_or().  Since: 0.1 */
CX_EXPORT int64_t cx_meta_int_or(const cx_meta *meta, const char *key,
                                 int64_t fallback);
/* See cx_meta_string_or().  Since: 0.1 */
CX_EXPORT double cx_meta_double_or(const cx_meta *meta, const char *key,
                                   double fallback);
/* See cx_meta_string_or().  Since: 0.1 */
CX_EXPORT bool cx_meta_bool_or(const cx_meta *meta, const char *key,
                               bool fallback);

/* cx_meta_count: the number of keys (0 for NULL).
 * Thread-safety: concurrent readers are fine.  Since: 0.1 */
CX_EXPORT size_t cx_meta_count(const cx_meta *meta);

/* cx_meta_key_at: the key at position @index (insertion order), for
 * iteration with cx_meta_count().
 * Returns: (transfer none) the key, or NULL when @index is out of range.
 * Thread-safety: concurrent readers are fine.  Since: 0.1 */
CX_EXPORT const char *cx_meta_key_at(const cx_meta *meta, size_t index);

/* cx_meta_to_json: @meta as the text of one JSON object, keys in insertion
 * order: strings as strings (valid UTF-8 whatever bytes they hold: each
 * ill-formed sequence becomes U+FFFD, as the registry's export does),
 * integers and doubles as numbers (NaN and infinities as null, the decimal
 * point a '.' in any locale), booleans as true/false.
 * @meta: (nullable) NULL gives "{}".
 * Returns: (transfer full) the NUL-terminated text, to free with free(); or
 *   NULL when memory is exhausted.
 * Thread-safety: concurrent readers are fine.  Since: 0.1 */
CX_EXPORT char *cx_meta_to_json(const cx_meta *meta);

#ifdef __cplusplus
}
#endif

#endif /* CANCELABLE_META_H */
