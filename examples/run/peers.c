/* examples/run/peers.c - what the peers' users asked for and got, in C
 * (issue #21).  Each part prints what it saw and asserts it; the program
 * ends with "example: ok".
 *
 * guard: tokio's CancellationToken::drop_guard(): a function starts a
 *   background thread tied to a token and leaves by an error path; the
 *   guard cancels the token on the way out, so the thread stops.
 * cause: Go's context.WithTimeoutCause(): a fetch whose budget runs out
 *   says which budget it was, and its step's message carries it.
 * until: tokio's run_until_cancelled(): a lookup that cannot be
 *   interrupted is given up when its op times out; it finishes in the
 *   background and its argument is freed then.
 * detached: Go's context.WithoutCancel(): a job is cancelled; its audit
 *   record, a detached child, still gets written, under the job's id.
 * deadline: Trio's cancel_scope.deadline / .NET's CancelAfter(): a
 *   download's idle budget of 0.5 s is extended after each chunk; when the
 *   chunks stop coming, the deadline passes.
 */
#include <cancelable.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
         cx_token_cancel_message(stop) != NULL ? cx_token_cancel_message(stop)
                                               : "-");
  EXPECT(cx_token_is_cancelled(stop));
  EXPECT(strcmp(cx_token_cancel_message(stop), "scope exited") == 0);
  cx_token_unref(stop);
}

/* ---- cause */

static void part_cause(void) {
  cx_op *fetch = NULL, *step = NULL;
  cx_op_options o = CX_OP_OPTIONS_INIT;
  int rc;
  o.name = "fetch";
  cx_op_create(&fetch, &o);
  cx_op_add_timeout_cause(fetch, 0.05, "backend budget (50 ms) spent");
  cx_op_enter(fetch);
  o.name = "step";
  o.parent = fetch;
  cx_op_create(&step, &o);
  cx_op_enter(step);
  rc = cx_sleep(step, 30.0); /* the slow backend */
  cx_op_exit(step, rc);
  cx_op_exit(fetch, rc);
  printf(
      "cause: fetch %s, reason %s: %s\n", cx_status_name(cx_op_status(fetch)),
      cx_reason_name(cx_op_cancel_reason(fetch)), cx_op_cancel_message(fetch));
  printf("cause: step: %s\n", cx_op_cancel_message(step));
  EXPECT(rc == -ECANCELED);
  EXPECT(cx_op_cancel_reason(fetch) == CX_REASON_TIMEOUT);
  EXPECT(strcmp(cx_op_cancel_message(fetch), "backend budget (50 ms) spent") ==
         0);
  cx_op_unref(step);
  cx_op_unref(fetch);
}

/* ---- until */

typedef struct lookup {
  const char *host;
  cx_token *finished; /* cancelled when the lookup's argument is freed */
} lookup;

/* A call with no timeout of its own: 0.3 s, whatever happens. */
static int slow_lookup(void *p) {
  lookup *l = p;
  struct timespec ts = {0, 300 * 1000 * 1000};
  while (nanosleep(&ts, &ts) != 0) {
  }
  return l->host[0] != '\0' ? 0 : -ENOENT;
}

static void lookup_free(void *p) {
  lookup *l = p;
  cx_token_cancel(l->finished, CX_REASON_MANUAL, "lookup freed");
  cx_token_unref(l->finished);
  free(l);
}

static void part_until(void) {
  cx_op *op = NULL;
  cx_token *finished = cx_token_new();
  lookup *l = malloc(sizeof *l);
  double t0;
  int rc;
  if (l == NULL) abort();
  l->host = "example.org";
  l->finished = cx_token_ref(finished);
  cx_op_with_timeout(&op, NULL, 0.05, "resolve");
  cx_op_enter(op);
  t0 = cx_now();
  rc = cx_run_until_cancelled(op, slow_lookup, l, lookup_free); /* owns l */
  printf("until: resolve gave up after %s (%s); the lookup goes on\n",
         cx_now() - t0 < 0.25 ? "< 0.25 s" : "too long", cx_err_name(rc));
  cx_op_exit(op, rc);
  EXPECT(rc == -ECANCELED);
  EXPECT(cx_token_wait(finished, 30.0) == 0);
  printf("until: the lookup finished in the background: %s\n",
         cx_token_cancel_message(finished));
  cx_token_unref(finished);
  cx_op_unref(op);
}

/* ---- detached */

static void part_detached(void) {
  cx_op *job = NULL, *audit = NULL;
  cx_op_options o = CX_OP_OPTIONS_INIT;
  int rc;
  o.name = "job";
  cx_op_create(&job, &o);
  cx_op_enter(job);
  cx_op_cancel(job, CX_REASON_SIGNAL, "SIGTERM");
  /* The cancel is in; the audit must still be written (5 s at most). */
  o.name = "audit";
  o.parent = job;
  o.detached = true;
  o.timeout = 5.0;
  cx_op_create(&audit, &o); /* or cx_op_without_cancel(&audit, job, ...) */
  cx_op_enter(audit);
  rc = cx_sleep(audit, 0.01); /* writing the record */
  cx_op_exit(audit, rc);
  cx_op_exit(job, -ECANCELED);
  printf("detached: job %s; audit %s, parent %s\n",
         cx_status_name(cx_op_status(job)), cx_status_name(cx_op_status(audit)),
         strcmp(cx_op_parent_id(audit), cx_op_id(job)) == 0 ? "job" : "?");
  EXPECT(rc == 0);
  EXPECT(cx_op_status(audit) == CX_STATUS_COMPLETED);
  cx_op_unref(audit);
  cx_op_unref(job);
}

/* ---- deadline */

static void part_deadline(void) {
  cx_op *op = NULL;
  int rc = 0, chunks = 0;
  cx_op_options o = CX_OP_OPTIONS_INIT;
  o.name = "download";
  cx_op_create(&op, &o);
  cx_op_enter(op);
  cx_op_cancel_after(op, 0.5); /* idle budget, movable */
  for (; rc == 0; chunks++) {
    /* Chunks come every 0.01 s for a while, then the peer goes silent. */
    rc = cx_sleep(op, chunks < 10 ? 0.01 : 30.0);
    if (rc == 0) cx_op_cancel_after(op, 0.5); /* progress: extend */
  }
  cx_op_exit(op, rc);
  printf("deadline: download %s after %d chunks: %s\n",
         cx_status_name(cx_op_status(op)), chunks - 1,
         cx_op_cancel_message(op));
  EXPECT(chunks - 1 == 10);
  EXPECT(cx_op_cancel_reason(op) == CX_REASON_TIMEOUT);
  cx_op_unref(op);
}

int main(void) {
  part_guard();
  part_cause();
  part_until();
  part_detached();
  part_deadline();
  printf(ok ? "example: ok\n" : "example: FAILED\n");
  return ok ? 0 : 1;
}
