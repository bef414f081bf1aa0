/* src/token/token_signal.c - cancelling a token from a signal handler: the
 * claim is atomics only, the rest of the cancel (waking waiters, running
 * callbacks) is finished by the deferred-completion thread. */
#include "base/base.h"
#include "runtime/compiler.h"
#include "runtime/deferred.h"
#include "token/token.h"

/* On the completion thread: the rest of a cancel claimed in a handler. */
static void complete(cx__deferred_item *item) {
  cx_token *t = cx__container_of(item, cx_token, deferred);
  cx__token_record_late_time(t);
  cx__token_finish_claimed(t); /* consumes the reference */
}

int cx_signal_safe_prepare(void) { return cx__deferred_prepare(complete); }

int cx_token_cancel_signal_safe(cx_token *t, cx_reason reason) {
  if (t == NULL || !cx__reason_valid(reason)) return -EINVAL;
  if (!cx__deferred_ready()) return -ESRCH;
  if (!cx__token_claim(t, reason, cx__msg_signal, false, NULL, false)) return 0;
  cx_token_ref(t); /* released by the completion thread */
  cx__deferred_post(&t->deferred);
  return 1;
}
