/* cancelable/version.h - compile-time and run-time version of libcancelable.
 *
 * ABI policy: from 1.0 on, within one major version the ABI only grows.
 * Functions, enum values and option-struct fields are appended, never
 * renumbered, removed or changed in meaning; option structs carry a `size`
 * field so that an older caller's shorter struct keeps working.  The shared
 * library's SONAME carries the major version.  Before 1.0 a minor release
 * may change the API (0.2 renamed and reordered calls to one convention,
 * see common.h), so the SONAME carries the minor too
 * (libcancelable.so.0.2).
 *
 * Since: 0.1
 */
#ifndef CANCELABLE_VERSION_H
#define CANCELABLE_VERSION_H

#include <cancelable/export.h>

#define CX_VERSION_MAJOR 0
#define CX_VERSION_MINOR 2
#define CX_VERSION_PATCH 0
#define CX_VERSION_STRING "0.2.0"

/* CX_VERSION_HEX: 0xMMmmpp, for numeric comparisons. */
#define CX_VERSION_HEX \
  ((CX_VERSION_MAJOR << 16) | (CX_VERSION_MINOR << 8) | (CX_VERSION_PATCH))

/* CX_VERSION_AT_LEAST(x, y, z): true when the headers are version x.y.z or
 * newer. */
#define CX_VERSION_AT_LEAST(x, y, z) \
  (CX_VERSION_HEX >= (((x) << 16) | ((y) << 8) | (z)))

#ifdef __cplusplus
extern "C" {
#endif

/* cx_version: the version of the library actually loaded, as CX_VERSION_HEX
 * would spell it.  Compare with CX_VERSION_HEX to detect a header/library
 * mismatch.
 * Returns: 0xMMmmpp.
 * Thread-safety: any thread.  Async-signal-safe: yes.
 * Since: 0.1 */
CX_EXPORT unsigned cx_version(void);

/* cx_version_string: the loaded library's version as "MAJOR.MINOR.PATCH".
 * Returns: (transfer none) a static string, never NULL.
 * Thread-safety: any thread.  Async-signal-safe: yes.
 * Since: 0.1 */
CX_EXPORT const char *cx_version_string(void);

#ifdef __cplusplus
}
#endif

#endif /* CANCELABLE_VERSION_H */
