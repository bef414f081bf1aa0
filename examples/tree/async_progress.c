/* examples/tree/async_progress.c - pattern: "Async Progress Reporting".
 *
 *   async def async_progress_handler(op_id, msg, meta):
 *       await db.update_job_progress(op_id, meta['progress'])
 *   async with Cancelable(name="job") as cancel:
 *       cancel.on_progress(async_progress_handler)
 *       await process_job()
 *
 * The handler "updates a database" in 50 ms per call.  Added with
 * cx_op_on_progress_async(), it runs on a delivery thread of its own: the
 * job reports each of its 2000 items at full speed, the handler sees the
 * latest report each time it is ready (the others are coalesced), and it
 * always sees the last one ("2000/2000"), also after the job has exited.
 */
#include <cancelable.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <time.h>

typedef struct database {
  int updates;       /* calls of the handler */
  int64_t last_item; /* the item count of the latest update */
  sem_t closed;      /* posted by destroy: no call will follow */
} database;

static int update_job_progress(const char *op_id, const char *message,
                               const cx_meta *metadata, void *user_data) {
  database *db = user_data;
  struct timespec write_time = {0, 50 * 1000 * 1000};
  (void)op_id;
  (void)message;
  nanosleep(&write_time, NULL); /* the slow write */
  cx_meta_get_int(metadata, CX_PROGRESS_CURRENT, &db->last_item);
  db->updates++;
  return 0;
}

static void database_closed(void *user_data) {
  sem_post(&((database *)user_data)->closed);
}

int main(void) {
  enum { TOTAL = 2000 };
  database db = {0, 0, {{0}}};
  cx_op_options o = CX_OP_OPTIONS_INIT;
  cx_op *job = NULL;
  double started, took;
  int rc = 0;
  sem_init(&db.closed, 0, 0);
  o.name = "job";
  if (cx_op_create(&job, &o) != 0) return 1;
  if (cx_op_on_progress_async(job, update_job_progress, &db, database_closed) !=
      0)
    return 1;
  cx_op_enter(job);
  started = cx_now();
  for (int i = 1; i <= TOTAL && rc == 0; i++) {
    cx_meta *m = cx_meta_new();
    rc = cx_check(job); /* the work of item i would be here */
    cx_meta_set_int(m, CX_PROGRESS_CURRENT, i);
    cx_meta_set_int(m, CX_PROGRESS_TOTAL, TOTAL);
    cx_report_progress(job, "processing", m);
    cx_meta_free(m);
  }
  took = cx_now() - started;
  cx_op_exit(job, rc);
  cx_op_unref(job); /* the handler may still be writing: that is fine */
  sem_wait(&db.closed);
  printf("job: %d reports in %.3f s\n", TOTAL, took);
  printf("database: %s updates, last item %lld\n",
         db.updates < TOTAL ? "fewer" : "as many", (long long)db.last_item);
  /* The reports did not wait for the 50 ms writes: 2000 of them would
   * have taken 100 s. */
  if (took > 10.0 || db.last_item != TOTAL || db.updates < 1) {
    printf("example: FAIL\n");
    return 1;
  }
  printf("example: ok\n");
  return 0;
}
