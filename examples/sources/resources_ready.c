/* examples/sources/resources_ready.c - the seed's "Resource-Ready AND
 * Quota-Available" example: wait until BOTH enough disk space is free AND
 * an API quota has been refreshed, with two condition sources combined by
 * all-of.  The quota is refreshed by another thread after 0.2 s.  The op
 * "waiting for resources" is cancelled (reason CONDITION, "all 2 sources
 * triggered") exactly when both are ready; then the work proceeds.
 * Issue #3.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include <cancelable.h>

static atomic_int api_quota_remaining;
static atomic_bool disk_checked;
static double quota_refreshed_at; /* cx_now(), written before the store */

static void check(bool ok, const char *what) {
  if (!ok) {
    printf("check failed: %s\nexample: FAIL\n", what);
    exit(1);
  }
}

/* More than 1 MB free where we run (the seed uses 1 GB on "/"). */
static int disk_available(void *user_data) {
  struct statvfs st;
  (void)user_data;
  atomic_store(&disk_checked, true);
  if (statvfs(".", &st) != 0) return -1; /* counted; polling goes on */
  return (double)st.f_bavail * (double)st.f_frsize > 1e6;
}

static int quota_available(void *user_data) {
  (void)user_data;
  return atomic_load(&api_quota_remaining) > 100;
}

static void *refresh_quota(void *arg) {
  struct timespec ts = {0, 200 * 1000 * 1000};
  (void)arg;
  nanosleep(&ts, NULL);
  quota_refreshed_at = cx_now();
  printf("quota refreshed\n");
  fflush(stdout);
  atomic_store(&api_quota_remaining, 500);
  return NULL;
}

int main(void) {
  cx_source *disk, *quota, *both;
  cx_op *wait_op;
  pthread_t refresher;
  cx_op_options o = CX_OP_OPTIONS_INIT;

  atomic_store(&api_quota_remaining, 3); /* exhausted */
  check(cx_source_condition(&disk, disk_available, NULL, NULL, 0.05,
                            "disk_available") == 0,
        "disk condition");
  check(cx_source_condition(&quota, quota_available, NULL, NULL, 0.05,
                            "quota_available") == 0,
        "quota condition");
  cx_source *sources[] = {disk, quota};
  check(cx_source_all_of(&both, sources, 2) == 0, "all_of");

  o.name = "wait_for_resources";
  o.timeout = 10.0; /* a safety net: never wait forever */
  check(cx_op_create(&wait_op, &o) == 0, "create");
  check(cx_op_add_source(wait_op, both) == 0, "add");
  check(cx_op_enter(wait_op) == 0, "enter");
  check(pthread_create(&refresher, NULL, refresh_quota, NULL) == 0, "thread");
  /* Wait (cancellably) until the all-of source says both are ready. */
  int rc = cx_sleep(wait_op, 30.0);
  double ready_at = cx_now();
  cx_op_exit(wait_op, rc);
  pthread_join(refresher, NULL);

  printf("both resources ready after %.2f s: %s (%s)\n", cx_op_elapsed(wait_op),
         cx_op_cancel_message(wait_op),
         cx_reason_name(cx_op_cancel_reason(wait_op)));
  check(rc == -ECANCELED, "the wait ended by the sources");
  check(cx_op_cancel_reason(wait_op) == CX_REASON_CONDITION,
        "reason condition (not the safety timeout)");
  check(strncmp(cx_op_cancel_message(wait_op),
                "all 2 sources triggered (the last: ", 35) == 0,
        "all-of message");
  check(atomic_load(&disk_checked), "disk checked");
  check(
      atomic_load(&api_quota_remaining) > 100 && ready_at >= quota_refreshed_at,
      "not ready before the quota was refreshed");
  cx_op_unref(wait_op);
  printf("proceeding with the work\nexample: ok\n");
  return 0;
}
