/* src/runtime/workers.c - condition workers: a pool of up to MAX_WORKERS
 * threads, started on demand, that run jobs (user predicates) so that a
 * slow predicate never delays the timer service. */
#include <errno.h>
#include <signal.h>

#include "runtime/runtime.h"

#define MAX_WORKERS 4

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work = PTHREAD_COND_INITIALIZER; /* jobs queued */
static pthread_cond_t done = PTHREAD_COND_INITIALIZER; /* a job finished */
static cx__job *head, *tail;                           /* guarded by mu */
static int threads, idle;                              /* guarded by mu */
static _Thread_local cx__job *running_here;

static void *worker_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&mu);
  for (;;) {
    cx__job *job;
    while (head == NULL) {
      idle++;
      pthread_cond_wait(&work, &mu);
      idle--;
    }
    job = head;
    head = job->next;
    if (head == NULL) tail = NULL;
    job->next = NULL;
    job->state = CX__JOB_RUNNING;
    pthread_mutex_unlock(&mu);
    running_here = job;
    job->run(job);
    running_here = NULL;
    pthread_mutex_lock(&mu);
    if (job->state == CX__JOB_RUNNING) job->state = CX__JOB_IDLE;
    if (job->again && job->state == CX__JOB_IDLE) {
      /* Submitted while it ran: run it again. */
      job->again = false;
      job->state = CX__JOB_QUEUED;
      if (tail != NULL)
        tail->next = job;
      else
        head = job;
      tail = job;
    }
    pthread_cond_broadcast(&done);
  }
  return NULL;
}

static int spawn_locked(void) {
  int rc = cx__thread_spawn(NULL, worker_main, NULL);
  if (rc == 0) threads++;
  return rc;
}

void cx__job_init(cx__job *job, cx__job_fn run) {
  job->next = NULL;
  job->run = run;
  job->state = CX__JOB_IDLE;
  job->again = false;
}

int cx__job_submit(cx__job *job) {
  int rc = 0;
  pthread_mutex_lock(&mu);
  if (job->state == CX__JOB_RUNNING) job->again = true;
  if (job->state == CX__JOB_IDLE) {
    if (idle == 0 && threads < MAX_WORKERS) rc = spawn_locked();
    if (rc != 0 && threads > 0) rc = 0; /* the others will get to it */
    if (rc == 0) {
      job->state = CX__JOB_QUEUED;
      if (tail != NULL)
        tail->next = job;
      else
        head = job;
      tail = job;
      pthread_cond_signal(&work);
    }
  }
  pthread_mutex_unlock(&mu);
  return rc;
}

void cx__job_cancel(cx__job *job) {
  pthread_mutex_lock(&mu);
  job->again = false;
  if (job->state == CX__JOB_QUEUED) {
    cx__job **p = &head, *prev = NULL;
    while (*p != job) {
      prev = *p;
      p = &(*p)->next;
    }
    *p = job->next;
    if (tail == job) tail = prev;
    job->next = NULL;
    job->state = CX__JOB_IDLE;
  } else if (running_here != job) {
    while (job->state == CX__JOB_RUNNING) pthread_cond_wait(&done, &mu);
    if (job->state == CX__JOB_QUEUED) {
      /* Re-queued by a submit that raced the cancel: take it back out. */
      pthread_mutex_unlock(&mu);
      cx__job_cancel(job);
      return;
    }
  }
  pthread_mutex_unlock(&mu);
}

void cx__workers_fork_prepare(void);
void cx__workers_fork_parent(void);
void cx__workers_fork_child(void);

void cx__workers_fork_prepare(void) { pthread_mutex_lock(&mu); }
void cx__workers_fork_parent(void) { pthread_mutex_unlock(&mu); }

/* The workers are gone in the child: forget them and their queue. */
void cx__workers_fork_child(void) {
  pthread_mutex_init(&mu, NULL);
  pthread_cond_init(&work, NULL);
  pthread_cond_init(&done, NULL);
  threads = idle = 0;
  for (cx__job *j = head; j != NULL; j = j->next) j->state = CX__JOB_IDLE;
  head = tail = NULL;
}
