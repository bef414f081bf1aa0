/* src/runtime/workers.h - the pool of condition workers. */
#ifndef CX_RUNTIME_WORKERS_H
#define CX_RUNTIME_WORKERS_H

#include <stdbool.h>
#include <stdint.h>

/* ---- condition workers (workers.c): a lazily grown pool that runs user
 * predicates off the timer thread (at most 4 at once), and urgent jobs
 * (condvar wakes), which never wait behind predicates: they have their own
 * queue, served first, and get a new thread when none is idle. */
typedef struct cx__job cx__job;
typedef void (*cx__job_fn)(cx__job *job);
struct cx__job {
  cx__job *next;     /* guarded by the pool lock: queue link */
  cx__job *run_next; /* guarded by the pool lock: running-list link */
  cx__job_fn run;
  int state;   /* guarded by the pool lock: CX__JOB_* */
  bool again;  /* guarded by the pool lock: submitted while running */
  bool urgent; /* immutable */
  bool resume; /* immutable: submit again in a fork child if the fork
                  dropped it (queued or running in the parent) */
};
enum { CX__JOB_IDLE = 0, CX__JOB_QUEUED, CX__JOB_RUNNING };
/* @urgent: a short job that must not wait behind slow ones.  @resume: see
 * struct cx__job. */
void cx__job_init(cx__job *job, cx__job_fn run, bool urgent, bool resume);
/* Queues @job.  A job already queued stays queued once; a job that is
 * running is queued again when its run returns, so no submit is lost.
 * 0 or -EAGAIN/-ENOMEM when no worker can be started. */
int cx__job_submit(cx__job *job);
/* Dequeues @job, or waits until its run has returned (not when called from
 * that run itself). */
void cx__job_cancel(cx__job *job);
/* Waits until no job is queued or running (cx__quiesce(): runtime/quiesce.h),
 * at most until @deadline (monotonic ns, CX__NO_DEADLINE: none).  Stores in
 * *@finished (nullable) how many job runs have finished so far, a count
 * that only grows.  Returns 0, -ETIMEDOUT, or -EDEADLK from a job. */
int cx__workers_quiesce(int64_t deadline, uint64_t *finished);

#endif /* CX_RUNTIME_WORKERS_H */
