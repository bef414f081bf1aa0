/* examples/sources/file_source.c - see file_source.h: a custom source that
 * triggers when a file appears (issue #3). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "file_source.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef struct file_watch {
  char *path;
  double interval;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cond;
  bool stopping; /* guarded by mu */
  cx_source *source;
} file_watch;

static atomic_int threads_running;
static atomic_long checks;

int file_source_threads_running(void) { return atomic_load(&threads_running); }
long file_source_checks(void) { return atomic_load(&checks); }

static void *watch_main(void *arg) {
  file_watch *fw = arg;
  bool triggered = false;
  pthread_mutex_lock(&fw->mu);
  while (!fw->stopping) {
    struct stat st;
    struct timespec until;
    atomic_fetch_add(&checks, 1);
    if (!triggered && stat(fw->path, &st) == 0) {
      char message[512];
      snprintf(message, sizeof message, "file %s appeared", fw->path);
      /* Never call into the library with our own lock held. */
      pthread_mutex_unlock(&fw->mu);
      cx_source_trigger(fw->source, message);
      pthread_mutex_lock(&fw->mu);
      triggered = true;
    }
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += (long)(fw->interval * 1e9);
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    while (!fw->stopping &&
           pthread_cond_timedwait(&fw->cond, &fw->mu, &until) != ETIMEDOUT) {
    }
  }
  pthread_mutex_unlock(&fw->mu);
  atomic_fetch_sub(&threads_running, 1);
  return NULL;
}

static int file_start(cx_source *source, void *user_data) {
  file_watch *fw = user_data;
  int rc;
  fw->source = source;
  fw->stopping = false;
  atomic_fetch_add(&threads_running, 1);
  rc = pthread_create(&fw->thread, NULL, watch_main, fw);
  if (rc != 0) {
    atomic_fetch_sub(&threads_running, 1);
    return -rc;
  }
  return 0;
}

static void file_stop(cx_source *source, void *user_data) {
  file_watch *fw = user_data;
  (void)source;
  pthread_mutex_lock(&fw->mu);
  fw->stopping = true;
  pthread_cond_signal(&fw->cond);
  pthread_mutex_unlock(&fw->mu);
  pthread_join(fw->thread, NULL);
}

static void file_destroy(void *user_data) {
  file_watch *fw = user_data;
  pthread_cond_destroy(&fw->cond);
  pthread_mutex_destroy(&fw->mu);
  free(fw->path);
  free(fw);
}

int file_source_new(const char *path, double poll_interval, cx_source **out) {
  cx_source_ops ops;
  pthread_condattr_t attr;
  file_watch *fw;
  int rc;
  if (path == NULL || out == NULL || !(poll_interval > 0)) return -EINVAL;
  fw = calloc(1, sizeof *fw);
  if (fw == NULL) return -ENOMEM;
  fw->path = strdup(path);
  if (fw->path == NULL) {
    free(fw);
    return -ENOMEM;
  }
  fw->interval = poll_interval;
  pthread_mutex_init(&fw->mu, NULL);
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&fw->cond, &attr);
  pthread_condattr_destroy(&attr);
  memset(&ops, 0, sizeof ops);
  ops.size = sizeof ops;
  ops.start = file_start;
  ops.stop = file_stop;
  ops.destroy = file_destroy;
  rc = cx_source_new(out, &ops, fw, CX_REASON_CONDITION, "file");
  if (rc != 0) file_destroy(fw); /* on error the library did not take it */
  return rc;
}
