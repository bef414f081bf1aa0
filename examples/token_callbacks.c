/* examples/token_callbacks.c - pattern: "Token Callbacks" and
 * "LinkedCancelationToken".
 *
 * 1. Register a cancel callback on a token; cancelling the token with
 *    "Timeout reached" runs it, and it prints the message and cleans up.
 *    The C form of:
 *
 *      token = CancelationToken()
 *      token.register_callback(on_cancel)
 *      await token.cancel("Timeout reached")
 *
 *    A callback unregistered before the cancel never runs.
 * 2. Registering on a token that is already cancelled runs the callback at
 *    once, unless CX_CALLBACK_NO_RUN_IF_CANCELLED asks not to.
 * 3. A linked token is cancelled when the token it follows is: with reason
 *    "parent", or with the original reason and message when asked to
 *    preserve them.
 */
#include <cancelable.h>
#include <stdio.h>
#include <stdlib.h>

/* Something the callback has to release. */
struct resources {
  int open_connections;
};

/* Runs once, on the thread that cancels the token. */
static int on_cancel(cx_token *token, void *user_data) {
  struct resources *res = user_data;
  printf("Cancelled: %s\n", cx_token_cancel_message(token));
  printf("cleanup: closing %d connections\n", res->open_connections);
  res->open_connections = 0;
  return 0; /* non-zero would be logged, and the other callbacks still run */
}

/* The destroy notify: the library no longer needs the user data. */
static void free_resources(void *user_data) {
  printf("cleanup: resources freed\n");
  free(user_data);
}

static int count_calls(cx_token *token, void *user_data) {
  (void)token;
  ++*(int *)user_data;
  return 0;
}

int main(void) {
  int ok = 1;

  /* 1. A callback and a cancel. */
  cx_token *token = cx_token_new();
  struct resources *res = malloc(sizeof *res);
  if (token == NULL || res == NULL) return 1;
  res->open_connections = 3;
  int rc = cx_token_on_cancel(token, on_cancel, res, free_resources, 0, NULL);
  if (rc != 0) {
    fprintf(stderr, "cx_token_on_cancel: %s\n", cx_strerror(rc));
    free(res);
    return 1;
  }
  bool first = cx_token_cancel(token, CX_REASON_MANUAL, "Timeout reached");
  bool again = cx_token_cancel(token, CX_REASON_MANUAL, "ignored");
  printf("first cancel won: %s, second cancel: %s\n", first ? "yes" : "no",
         again ? "yes" : "no");
  printf("token reason: %s, check: %s\n",
         cx_reason_name(cx_token_cancel_reason(token)),
         cx_err_name(cx_token_check(token)));
  ok &= first && !again && cx_token_check(token) == -ECANCELED;

  /* A callback removed before the cancel never runs.  With a handle,
   * unregistering also waits for a run in progress on another thread. */
  cx_token *other = cx_token_new();
  cx_callback *handle = NULL;
  int removed_calls = 0;
  if (other == NULL) return 1;
  cx_token_on_cancel(other, count_calls, &removed_calls, NULL, 0, &handle);
  rc = cx_callback_unregister(handle);
  cx_token_cancel(other, CX_REASON_MANUAL, "after unregister");
  printf("unregistered before cancel: %s, ran %d time(s)\n",
         rc == CX_CALLBACK_REMOVED ? "removed" : "not removed", removed_calls);
  ok &= rc == CX_CALLBACK_REMOVED && removed_calls == 0;
  cx_token_unref(other);

  /* 2. Registering on an already-cancelled token. */
  int calls = 0;
  rc = cx_token_on_cancel(token, count_calls, &calls, NULL, 0, NULL);
  printf("late registration: returned %d, callback ran %d time(s)\n", rc,
         calls);
  ok &= rc == 1 && calls == 1;
  rc = cx_token_on_cancel(token, count_calls, &calls, NULL,
                          CX_CALLBACK_NO_RUN_IF_CANCELLED, NULL);
  printf("late registration with NO_RUN_IF_CANCELLED: %s, ran %d time(s)\n",
         cx_err_name(rc), calls);
  ok &= rc == -ECANCELED && calls == 1;
  cx_token_unref(token);

  /* 3. Linked tokens. */
  cx_token *parent = cx_token_new();
  cx_token *child = cx_token_new();
  cx_token *same = cx_token_new();
  if (parent == NULL || child == NULL || same == NULL) return 1;
  cx_token_link(child, parent, 0);
  cx_token_link(same, parent, CX_LINK_PRESERVE_REASON);
  cx_token_cancel(parent, CX_REASON_MANUAL, "Parent cancelled");
  printf("child cancelled: %s\n", cx_token_is_cancelled(child) ? "yes" : "no");
  printf("child reason: %s\n", cx_reason_name(cx_token_cancel_reason(child)));
  printf("child message: %s\n", cx_token_cancel_message(child));
  printf("preserving link: reason %s, message: %s\n",
         cx_reason_name(cx_token_cancel_reason(same)),
         cx_token_cancel_message(same));
  ok &= cx_token_cancel_reason(child) == CX_REASON_PARENT &&
        cx_token_cancel_reason(same) == CX_REASON_MANUAL;
  cx_token_unref(same);
  cx_token_unref(child);
  cx_token_unref(parent);

  printf("example: %s\n", ok ? "ok" : "FAIL");
  return ok ? 0 : 1;
}
