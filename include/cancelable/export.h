/* cancelable/export.h - symbol visibility for libcancelable.
 *
 * CX_EXPORT marks every public function.  When the library itself is built
 * (CX_BUILDING defined by the build system) it exports the symbol; a user
 * linking the static library defines CX_STATIC (the pkg-config file for the
 * static library does so).  Modelled on libuv's UV_EXTERN and curl's
 * CURL_EXTERN.
 *
 * Since: 0.1
 */
#ifndef CANCELABLE_EXPORT_H
#define CANCELABLE_EXPORT_H

#if defined(CX_STATIC)
#define CX_EXPORT
#elif defined(CX_BUILDING) && defined(__GNUC__)
#define CX_EXPORT __attribute__((visibility("default")))
#else
#define CX_EXPORT
#endif

/* CX_DEPRECATED(version, msg): marks a declaration deprecated since
 * `version`; the compiler prints `msg`.  Declarations are deprecated, never
 * deleted, within a major version. */
#if defined(__GNUC__)
#define CX_DEPRECATED(version, msg) \
  __attribute__((deprecated("since " #version ": " msg)))
#else
#define CX_DEPRECATED(version, msg)
#endif

#endif /* CANCELABLE_EXPORT_H */
