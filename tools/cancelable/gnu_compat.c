/* tools/cancelable/gnu_compat.c - GNU coreutils' quoting of names in
 * messages (gnulib's quote(), locale_quoting_style) and its check of the
 * standard streams at exit (close_stdout()), for `cancelable timeout`. */
#include "gnu_compat.h"

#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wchar.h>
#include <wctype.h>

/* The character classes of the environment's locale (the tool itself stays
 * in the C locale: only the quoting looks at it), or 0. */
static locale_t env_ctype(void) {
  static locale_t loc;
  static bool done;
  if (!done) {
    done = true;
    loc = newlocale(LC_CTYPE_MASK, "", (locale_t)0);
  }
  return loc;
}

/* The letter of a C escape for @c (\n: 'n'), or 0. */
static char escape_letter(unsigned char c) {
  switch (c) {
    case '\a':
      return 'a';
    case '\b':
      return 'b';
    case '\f':
      return 'f';
    case '\n':
      return 'n';
    case '\r':
      return 'r';
    case '\t':
      return 't';
    case '\v':
      return 'v';
    case '\\':
      return '\\';
    default:
      return 0;
  }
}

/* Writes @n bytes of @s as octal escapes at @p; returns the new end. */
static char *octal(char *p, const char *s, size_t n) {
  for (size_t k = 0; k < n; k++) {
    unsigned char c = (unsigned char)s[k];
    *p++ = '\\';
    *p++ = (char)('0' + (c >> 6));
    *p++ = (char)('0' + ((c >> 3) & 7));
    *p++ = (char)('0' + (c & 7));
  }
  return p;
}

char *gnu_quote(const char *arg) {
  locale_t loc = env_ctype(), old = (locale_t)0;
  bool utf8 = loc != (locale_t)0 &&
              strcasecmp(nl_langinfo_l(CODESET, loc), "UTF-8") == 0;
  const char *left = utf8 ? "\xe2\x80\x98" : "'";
  const char *right = utf8 ? "\xe2\x80\x99" : "'";
  size_t len = strlen(arg), rlen = strlen(right), i = 0;
  mbstate_t st;
  /* Every byte takes at most 4 ("\303"), plus the quotes and the NUL. */
  char *out = malloc(4 * len + strlen(left) + rlen + 1), *p = out;
  if (out == NULL) return NULL;
  if (loc != (locale_t)0) old = uselocale(loc);
  memset(&st, 0, sizeof st);
  p = stpcpy(p, left);
  while (i < len) {
    char letter = escape_letter((unsigned char)arg[i]);
    wchar_t w;
    size_t n;
    if (letter != 0) {
      *p++ = '\\';
      *p++ = letter;
      i++;
      continue;
    }
    if (strncmp(arg + i, right, rlen) == 0) *p++ = '\\'; /* then as is */
    n = mbrtowc(&w, arg + i, len - i, &st);
    if (n == (size_t)-1 || n == (size_t)-2 || n == 0 || !iswprint(w)) {
      /* Not a printable character: its bytes (one of a bad sequence). */
      if (n == (size_t)-1 || n == 0) n = 1;
      if (n == (size_t)-2) n = len - i;
      memset(&st, 0, sizeof st);
      p = octal(p, arg + i, n);
    } else {
      memcpy(p, arg + i, n);
      p += n;
    }
    i += n;
  }
  strcpy(p, right);
  if (loc != (locale_t)0) uselocale(old);
  return out;
}

/* gnulib's close_stream(): false (errno 0 when only an earlier write had
 * failed) if a write to @f failed or closing it failed for another reason
 * than a descriptor that was never open. */
static bool close_stream(FILE *f) {
  bool pending = __fpending(f) != 0;
  bool earlier = ferror(f) != 0;
  bool failed = fclose(f) != 0;
  if (earlier || (failed && (pending || errno != EBADF))) {
    if (!failed) errno = 0;
    return false;
  }
  return true;
}

bool gnu_close_std(const char *prog) {
  if (!close_stream(stdout)) {
    if (errno != 0)
      fprintf(stderr, "%s: write error: %s\n", prog, strerror(errno));
    else
      fprintf(stderr, "%s: write error\n", prog);
    return false;
  }
  /* Standard error is not closed: the library may still log on it while
   * the process exits.  It is unbuffered: its error flag says it all. */
  return ferror(stderr) == 0;
}
