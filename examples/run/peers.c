/* examples/run/peers.c - what the peers' users asked for and got, in C
 * (issue #21).  Each part prints what it saw and asserts it; the program
 * ends with "example: ok".
 *
 * guard: tokio's CancellationToken::drop_guard(): a function starts a
 *   background thread tied to a token and leaves by an error path; the
 *   guard cancels the token on the way out, so the thread stops.
 */
#include <cancelable.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static int ok = 1;

#define EXPECT(cond)                                             \
  do {                                                           \
    if (!(cond)) {                                               \
      fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); \
      ok = 0;                                                    \
    }                                                            \
  } while (0)

/* ---- guard */

/* Background work: waits (up to 30 s) for its token, as a poller would. */
static void *background(void *p) {
  cx_token *t = p;
  cx_token_wait(t, 30.0);
  return NULL;
}

/* Starts background work, then fails half-way: the guard still stops it.
 * With GCC/Clang the macro ends the guard on every return; elsewhere the
 * portable pair does the same by hand. */
static int load_config(cx_token *stop, pthread_t *th) {
#if defined(__GNUC__) || defined(__clang__)
  CX_CANCEL_ON_EXIT(stop);
  if (pthread_create(th, NULL, background, stop) != 0) return -EAGAIN;
  return -EINVAL; /* parsing fails: an early error return */
#else
  cx_cancel_guard guard;
  int rc = -EINVAL;
  cx_guard_init(&guard, stop);
  if (pthread_create(th, NULL, background, stop) != 0) rc = -EAGAIN;
  cx_guard_end(&guard);
  return rc;
#endif
}

static void part_guard(void) {
  cx_token *stop = cx_token_new();
  pthread_t th;
  int rc = load_config(stop, &th);
  if (rc != -EAGAIN) pthread_join(th, NULL);
  printf("guard: load_config returned %s; background token %s (%s)\n",
         cx_err_name(rc), cx_token_is_cancelled(stop) ? "cancelled" : "live",
         cx_token_message(stop) != NULL ? cx_token_message(stop) : "-");
  EXPECT(cx_token_is_cancelled(stop));
  EXPECT(strcmp(cx_token_message(stop), "scope exited") == 0);
  cx_token_unref(stop);
}

int main(void) {
  part_guard();
  printf(ok ? "example: ok\n" : "example: FAILED\n");
  return ok ? 0 : 1;
}
