/* examples/sources/stage_gates.c - the seed's "Multi-Stage Completion
 * Gates": three stages run on their own threads and each raises a flag
 * when done; a condition source per stage, combined with all-of, ends the
 * pipeline's wait only once all three stages have finished.  Issue #3.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cancelable.h>

#define STAGES 3

typedef struct stage {
  int number;
  double seconds; /* how long the stage works */
  atomic_bool done;
} stage;

static void check(bool ok, const char *what) {
  if (!ok) {
    printf("check failed: %s\nexample: FAIL\n", what);
    exit(1);
  }
}

static int stage_complete(void *user_data) {
  stage *s = user_data;
  return atomic_load(&s->done);
}

static pthread_mutex_t print_mu = PTHREAD_MUTEX_INITIALIZER;

static void *run_stage(void *arg) {
  stage *s = arg;
  struct timespec ts = {0, (long)(s->seconds * 1e9)};
  nanosleep(&ts, NULL);
  pthread_mutex_lock(&print_mu);
  printf("stage %d done\n", s->number);
  fflush(stdout);
  pthread_mutex_unlock(&print_mu);
  atomic_store(&s->done, true);
  return NULL;
}

int main(void) {
  stage stages[STAGES] = {{1, 0.05, false}, {2, 0.15, false}, {3, 0.3, false}};
  cx_source *gates[STAGES], *all;
  pthread_t threads[STAGES];
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_op *pipeline;
  char name[32];

  for (int i = 0; i < STAGES; i++) {
    snprintf(name, sizeof name, "stage%d_complete", i + 1);
    check(cx_source_condition(&gates[i], stage_complete, &stages[i], NULL, 0.02,
                              name) == 0,
          "condition");
  }
  check(cx_source_all_of(&all, gates, STAGES) == 0, "all_of");
  o.name = "pipeline";
  o.timeout = 10.0; /* safety net */
  check(cx_op_create(&pipeline, &o) == 0, "create");
  check(cx_op_add_source(pipeline, all) == 0, "add");
  check(cx_op_enter(pipeline) == 0, "enter");
  for (int i = 0; i < STAGES; i++)
    check(pthread_create(&threads[i], NULL, run_stage, &stages[i]) == 0,
          "thread");

  /* Wait for the gates; count how often we saw the pipeline still open
   * after some (not all) stages had finished. */
  int open_with_some_done = 0, rc;
  while ((rc = cx_sleep(pipeline, 0.01)) == 0) {
    int done = 0;
    for (int i = 0; i < STAGES; i++) done += atomic_load(&stages[i].done);
    if (done > 0 && done < STAGES) open_with_some_done++;
  }
  /* When the gates close every stage must be done. */
  int done_at_cancel = 0;
  for (int i = 0; i < STAGES; i++)
    done_at_cancel += atomic_load(&stages[i].done);
  cx_op_exit(pipeline, rc);
  for (int i = 0; i < STAGES; i++) pthread_join(threads[i], NULL);

  printf("pipeline %s after %.2f s (%s): %s\n",
         cx_status_name(cx_op_status(pipeline)), cx_op_elapsed(pipeline),
         cx_reason_name(cx_op_cancel_reason(pipeline)),
         cx_op_cancel_message(pipeline));
  check(rc == -ECANCELED, "ended by the gates");
  check(done_at_cancel == STAGES, "all stages done when the gates closed");
  check(open_with_some_done > 0, "still open while only some were done");
  check(cx_op_cancel_reason(pipeline) == CX_REASON_CONDITION,
        "reason condition");
  check(strncmp(cx_op_cancel_message(pipeline),
                "all 3 sources triggered (the last: ", 35) == 0,
        "all-of message");
  cx_op_unref(pipeline);
  printf("example: ok\n");
  return 0;
}
