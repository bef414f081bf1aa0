/* src/core/token_signal.c - cancelling a token from a signal handler: the
 * claim is atomics only, the rest of the cancel (waking waiters, running
 * callbacks) is finished by the deferred-completion thread. */
#include "core/core.h"

int cx_signal_safe_prepare(void) { return cx__deferred_prepare(); }

int cx_token_cancel_signal_safe(cx_token *t, cx_reason reason) {
  if (t == NULL || !cx__reason_valid(reason)) return -EINVAL;
  if (!cx__deferred_ready()) return -ESRCH;
  if (!cx__token_claim(t, reason, cx__msg_signal, false, NULL, false)) return 0;
  cx_token_ref(t); /* released by the completion thread */
  cx__deferred_post(t);
  return 1;
}
