/* tests/install/consumer.c - a program built against the *installed*
 * libcancelable (through pkg-config and through find_package), as a user
 * would: public header only, shared or static library.
 */
#include <cancelable.h>
#include <stdio.h>

int main(void) {
  cx_token *token = cx_token_new();
  if (token == NULL) {
    fprintf(stderr, "consumer: cx_token_new failed\n");
    return 1;
  }
  if (cx_token_check(token) != 0 || cx_token_is_cancelled(token)) {
    fprintf(stderr, "consumer: a new token is already cancelled\n");
    return 1;
  }
  if (!cx_token_cancel(token, CX_REASON_MANUAL, "installed")) {
    fprintf(stderr, "consumer: cx_token_cancel returned false\n");
    return 1;
  }
  int rc = cx_token_check(token);
  if (rc != -ECANCELED) {
    fprintf(stderr, "consumer: cx_token_check gave %s, not ECANCELED\n",
            cx_err_name(rc));
    return 1;
  }
  printf("consumer: token %s cancelled (%s)\n",
         cx_reason_name(cx_token_cancel_reason(token)), cx_err_name(rc));
  cx_token_unref(token);

  if (cx_version() != CX_VERSION_HEX) {
    fprintf(stderr, "consumer: library %s does not match header %s\n",
            cx_version_string(), CX_VERSION_STRING);
    return 1;
  }
  printf("consumer: libcancelable %s (header %s)\n", cx_version_string(),
         CX_VERSION_STRING);
  printf("consumer: ok\n");
  return 0;
}
