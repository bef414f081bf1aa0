/* src/runtime/workers.c - condition workers: threads, started on demand,
 * that run jobs off the timer thread.  Predicates (normal jobs) may block,
 * so at most MAX_NORMAL threads are started for them; urgent jobs (condvar
 * wakes handed off by a cancel) have a queue of their own that every
 * worker serves first, and get a new thread (up to MAX_THREADS) when no
 * worker is idle, so they never wait behind a slow predicate. */
#include <errno.h>
#include <signal.h>

#include "runtime/clock.h"
#include "runtime/fork.h"
#include "runtime/thread.h"
#include "runtime/workers.h"

#define MAX_NORMAL 4
#define MAX_THREADS 64

typedef struct queue {
  cx__job *head, *tail;
} queue;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work = PTHREAD_COND_INITIALIZER; /* jobs queued */
static pthread_cond_t done = PTHREAD_COND_INITIALIZER; /* a job finished */
static queue urgent_q, normal_q;                       /* guarded by mu */
static cx__job *running;     /* guarded by mu: jobs being run */
static cx__job *resume_list; /* guarded by mu: dropped by a fork */
static int threads;          /* guarded by mu */
static int idle;             /* guarded by mu: waiting, not yet woken
                                for a job */
static int wakeups;          /* guarded by mu: signals sent, not yet
                                taken by a woken worker */
static uint64_t runs;        /* guarded by mu: job runs finished */
static _Thread_local cx__job *running_here;

static void push_locked(queue *q, cx__job *job) {
  job->next = NULL;
  if (q->tail != NULL)
    q->tail->next = job;
  else
    q->head = job;
  q->tail = job;
}

static cx__job *pop_locked(queue *q) {
  cx__job *job = q->head;
  if (job != NULL) {
    q->head = job->next;
    if (q->head == NULL) q->tail = NULL;
    job->next = NULL;
  }
  return job;
}

static bool remove_locked(queue *q, cx__job *job) {
  cx__job **p = &q->head, *prev = NULL;
  while (*p != NULL && *p != job) {
    prev = *p;
    p = &(*p)->next;
  }
  if (*p == NULL) return false;
  *p = job->next;
  if (q->tail == job) q->tail = prev;
  job->next = NULL;
  return true;
}

static void unlink_running_locked(cx__job *job) {
  cx__job **p = &running;
  while (*p != NULL && *p != job) p = &(*p)->run_next;
  if (*p != NULL) *p = job->run_next;
  job->run_next = NULL;
}

static void *worker_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&mu);
  for (;;) {
    cx__job *job = pop_locked(&urgent_q);
    if (job == NULL) job = pop_locked(&normal_q);
    if (job == NULL) {
      idle++;
      pthread_cond_wait(&work, &mu);
      if (wakeups > 0)
        wakeups--; /* the submitter already took us off idle */
      else
        idle--; /* a spurious wakeup */
      continue;
    }
    job->state = CX__JOB_RUNNING;
    job->run_next = running;
    running = job;
    pthread_mutex_unlock(&mu);
    running_here = job;
    job->run(job);
    running_here = NULL;
    pthread_mutex_lock(&mu);
    unlink_running_locked(job);
    runs++;
    if (job->state == CX__JOB_RUNNING) job->state = CX__JOB_IDLE;
    if (job->again && job->state == CX__JOB_IDLE) {
      /* Submitted while it ran: run it again. */
      job->again = false;
      job->state = CX__JOB_QUEUED;
      push_locked(job->urgent ? &urgent_q : &normal_q, job);
    }
    pthread_cond_broadcast(&done);
  }
  return NULL;
}

/* Wakes an idle worker, or starts one when the job's kind allows it. */
static int dispatch_locked(bool urgent) {
  int rc;
  if (idle > 0) {
    /* Reserve that worker, so that the next submit starts another one
     * instead of counting on it too. */
    idle--;
    wakeups++;
    pthread_cond_signal(&work);
    return 0;
  }
  if (threads >= (urgent ? MAX_THREADS : MAX_NORMAL)) return 0; /* later */
  rc = cx__thread_spawn(NULL, worker_main, NULL);
  if (rc == 0) {
    threads++;
    return 0;
  }
  return threads > 0 ? 0 : rc; /* the others will get to it */
}

void cx__job_init(cx__job *job, cx__job_fn run, bool urgent, bool resume) {
  job->next = job->run_next = NULL;
  job->run = run;
  job->state = CX__JOB_IDLE;
  job->again = false;
  job->urgent = urgent;
  job->resume = resume;
}

int cx__job_submit(cx__job *job) {
  int rc = 0;
  pthread_mutex_lock(&mu);
  if (job->state == CX__JOB_RUNNING) job->again = true;
  if (job->state == CX__JOB_IDLE) {
    rc = dispatch_locked(job->urgent);
    if (rc == 0) {
      job->state = CX__JOB_QUEUED;
      push_locked(job->urgent ? &urgent_q : &normal_q, job);
    }
  }
  pthread_mutex_unlock(&mu);
  return rc;
}

void cx__job_cancel(cx__job *job) {
  pthread_mutex_lock(&mu);
  job->again = false;
  for (;;) {
    if (job->state == CX__JOB_QUEUED) {
      remove_locked(job->urgent ? &urgent_q : &normal_q, job);
      job->state = CX__JOB_IDLE;
    } else if (job->state == CX__JOB_RUNNING && running_here != job) {
      pthread_cond_wait(&done, &mu);
      continue; /* it may have been queued again meanwhile */
    }
    break;
  }
  remove_locked(&urgent_q, job); /* in case a fork child left it listed */
  pthread_mutex_unlock(&mu);
}

int cx__workers_quiesce(int64_t deadline, uint64_t *finished) {
  int rc = 0;
  pthread_mutex_lock(&mu);
  if (running_here != NULL) {
    rc = -EDEADLK; /* a job would wait for itself */
  } else {
    /* Every job run ends with a broadcast of `done`; a job queued again
     * (resubmitted while it ran) is queued before that broadcast. */
    while (urgent_q.head != NULL || normal_q.head != NULL || running != NULL) {
      rc = cx__cond_wait_deadline(&done, &mu, deadline);
      if (rc != 0) break;
    }
  }
  if (finished != NULL) *finished = runs;
  pthread_mutex_unlock(&mu);
  return rc;
}

/* ---- fork */

void cx__workers_fork_prepare(void) { pthread_mutex_lock(&mu); }
void cx__workers_fork_parent(void) { pthread_mutex_unlock(&mu); }

/* Forgets one job the fork dropped; keeps it for resubmission if asked. */
static void drop_for_fork(cx__job *job) {
  job->state = CX__JOB_IDLE;
  job->again = false;
  job->next = NULL;
  job->run_next = NULL;
  if (job->resume) {
    job->next = resume_list;
    resume_list = job;
  }
}

/* The workers are gone in the child: jobs queued or running there never
 * finish; they become idle (so stopping their source does not wait for
 * them), and the resumable ones (condition checks) are submitted again by
 * cx__workers_resume(). */
void cx__workers_fork_child(void) {
  cx__job *job;
  pthread_mutex_init(&mu, NULL);
  pthread_cond_init(&work, NULL);
  pthread_cond_init(&done, NULL);
  threads = idle = wakeups = 0;
  while ((job = pop_locked(&urgent_q)) != NULL) drop_for_fork(job);
  while ((job = pop_locked(&normal_q)) != NULL) drop_for_fork(job);
  while ((job = running) != NULL) {
    running = job->run_next;
    drop_for_fork(job);
  }
}

void cx__workers_resume(void) {
  cx__job *job;
  pthread_mutex_lock(&mu);
  job = resume_list;
  resume_list = NULL;
  pthread_mutex_unlock(&mu);
  while (job != NULL) {
    cx__job *next = job->next;
    job->next = NULL;
    cx__job_submit(job);
    job = next;
  }
}
