/* src/token/token_timeout.c - tokens that cancel themselves after a delay
 * (cx_token_with_timeout): the token and its timer in one block, so a
 * timeout scope costs one allocation and one timer, as Go's
 * context.WithTimeout or .NET's CancellationTokenSource(TimeSpan). */
#include <float.h>
#include <math.h>
#include <stddef.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "runtime/compiler.h"
#include "runtime/timer.h"
#include "token/token.h"

/* A timed token: the token first, so the block is freed through it; no
 * ext until something needs one (token.h), so 56 bytes in all.  The delay
 * for the message is the timer's `seconds` (a float: the message gives it
 * to 7 significant digits). */
typedef struct timed_token {
  struct cx_token token;
  cx__timer timer;
} timed_token;

_Static_assert(sizeof(timed_token) <= 56,
               "a timed token fills a 64-byte malloc chunk");

/* A timed token with the caller's message (cx_token_with_timeout_cause):
 * its timer's `seconds` is 0, which no delay gives (at least the smallest
 * positive float, see make()), and marks the variant. */
typedef struct caused_token {
  timed_token timed;
  char *cause; /* immutable (owned) */
} caused_token;

static bool has_cause(const timed_token *tt) { return tt->timer.seconds == 0; }

static timed_token *timed_of(cx__timer *timer) {
  return cx__container_of(timer, timed_token, timer);
}

/* Runs on the timer thread.  The owner's last unref may be freeing the
 * token at this moment: it disarms first, which waits for this function to
 * return, so the reference taken here is either refused or keeps the token
 * alive until we are done. */
static void fire(cx__timer *timer) {
  timed_token *tt = timed_of(timer);
  char msg[64];
  if (cx__token_try_ref(&tt->token) == NULL) return;
  if (has_cause(tt)) {
    cx_token_cancel(&tt->token, CX_REASON_TIMEOUT, ((caused_token *)tt)->cause);
    cx_token_unref(&tt->token);
    return;
  }
  cx__format_timeout_message((int64_t)((double)tt->timer.seconds * 1e9 + 0.5),
                             msg, sizeof msg);
  cx_token_cancel(&tt->token, CX_REASON_TIMEOUT, msg);
  cx_token_unref(&tt->token);
}

/* Makes a timed token; @cause: (nullable) copied. */
static int make(cx_token **out, double seconds, const char *cause) {
  timed_token *tt;
  size_t size = cause != NULL ? sizeof(caused_token) : sizeof(timed_token);
  char *copy = NULL;
  int64_t ns;
  int rc;
  if (out == NULL || cx__duration_to_ns(seconds, &ns) != 0) return -EINVAL;
  if (cause != NULL && (copy = cx__strdup(cause)) == NULL) return -ENOMEM;
  tt = cx__block_alloc(size);
  if (tt == NULL) {
    cx__free(copy);
    return -ENOMEM;
  }
  cx__token_init(&tt->token, CX__KIND_TIMED, NULL);
  cx__timer_init(&tt->timer, fire);
  /* A positive delay that rounds to 0.0f (1e-46 s) must not read as the
   * caused variant: the smallest positive float instead. */
  tt->timer.seconds = copy != NULL ? 0.0f : fmaxf((float)seconds, FLT_TRUE_MIN);
  if (copy != NULL) ((caused_token *)tt)->cause = copy;
  rc = cx__timer_arm(&tt->timer, cx__add_saturated(cx__now_ns(), ns));
  if (rc != 0) {
    cx__free(copy);
    cx__block_free(tt, size);
    return rc;
  }
  *out = &tt->token;
  return 0;
}

int cx_token_with_timeout(cx_token **out, double seconds) {
  if (out != NULL) *out = NULL;
  return make(out, seconds, NULL);
}

int cx_token_with_timeout_cause(cx_token **out, double seconds,
                                const char *message) {
  if (out != NULL) *out = NULL;
  if (message == NULL) return -EINVAL;
  return make(out, seconds, message);
}

void cx__token_free_timed(cx_token *t) {
  timed_token *tt = (timed_token *)t;
  cx__timer_disarm(&tt->timer); /* waits for a fire() in progress */
  if (has_cause(tt)) {
    cx__free(((caused_token *)tt)->cause);
    cx__block_free(tt, sizeof(caused_token));
    return;
  }
  cx__block_free(tt, sizeof *tt);
}
