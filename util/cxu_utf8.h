/* util/cxu_utf8.h - strict UTF-8 decoding and cutting text on character
 * boundaries (no-guarantee internal helper: see util/README.md; not public
 * API, not exported).
 *
 * Well-formed UTF-8 is what Unicode's table 3-7 allows: no overlong forms,
 * no surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no truncated
 * sequence.  Ill-formed input is split into "maximal subparts", each of
 * which a decoder replaces with one U+FFFD (Unicode chapter 3, "U+FFFD
 * Substitution of Maximal Subparts"; the WHATWG Encoding Standard decodes
 * the same way).  Thread-safe (no state).
 */
#ifndef CXU_UTF8_H
#define CXU_UTF8_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* The bytes of U+FFFD REPLACEMENT CHARACTER in UTF-8. */
#define CX__UTF8_REPLACEMENT "\xef\xbf\xbd"

/* cxu_utf8_next: the length of the sequence at the start of @s, of which
 * @n > 0 bytes are available.
 * @valid: receives true when those bytes are a well-formed character (1
 *   to 4 bytes), false when they are the maximal subpart of an ill-formed
 *   sequence (1 to 3 bytes) that stands for one U+FFFD.
 * Returns: 1..4, never more than @n. */
size_t cxu_utf8_next(const char *s, size_t n, bool *valid);

/* cxu_utf8_cut: where to cut @s, of which @n bytes are kept, so that the
 * text does not end inside a character: @n, less the bytes of a
 * well-formed but incomplete sequence at the end (the start of a character
 * whose last bytes were cut off).  Other ill-formed bytes stay (a JSON
 * writer replaces them).  Use it when text is cut to a fixed size.
 * Returns: a length <= @n. */
size_t cxu_utf8_cut(const char *s, size_t n);

/* cxu_utf8_vsnprintf / cxu_utf8_snprintf: vsnprintf() into @buf (@size >
 * 0 bytes), except that text that does not fit is cut on a character
 * boundary (cxu_utf8_cut()) instead of in the middle of a character.
 * Returns: the length of the text left in @buf (0 on an encoding error). */
size_t cxu_utf8_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
size_t cxu_utf8_snprintf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* CXU_UTF8_H */
