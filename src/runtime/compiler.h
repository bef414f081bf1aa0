/* src/runtime/compiler.h - compiler hints and helpers shared by every layer. */
#ifndef CX_RUNTIME_COMPILER_H
#define CX_RUNTIME_COMPILER_H

#include <stddef.h>

#include "cx_config.h"

/* Branch hint for the hot paths: the expected case is laid out straight. */
#if defined(__GNUC__) || defined(__clang__)
#define CX__LIKELY(x) __builtin_expect(!!(x), 1)
#else
#define CX__LIKELY(x) (x)
#endif

/* The object of type @type whose member @member is at @ptr (as the Linux
 * kernel's and libuv's container_of). */
#define cx__container_of(ptr, type, member) \
  ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif /* CX_RUNTIME_COMPILER_H */
