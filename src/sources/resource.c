/* src/sources/resource.c - the resource source: a condition that reads
 * memory use (/proc/meminfo), CPU use (/proc/stat, over the last interval)
 * and disk use (statvfs) and triggers when one reaches its threshold. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "runtime/alloc.h"
#include "sources/condition.h"

typedef struct resource {
  cx_resource_limits limits;
  char *disk_path;              /* (owned) */
  unsigned long long last_busy; /* previous /proc/stat sample */
  unsigned long long last_total;
  char message[160]; /* the trigger message */
} resource;

/* System memory in use, %, or -1 when /proc/meminfo is unreadable. */
static double memory_percent(void) {
  FILE *f = fopen("/proc/meminfo", "re");
  char line[128];
  double total = 0, available = -1;
  if (f == NULL) return -1;
  while (fgets(line, sizeof line, f) != NULL) {
    sscanf(line, "MemTotal: %lf", &total);
    sscanf(line, "MemAvailable: %lf", &available);
  }
  fclose(f);
  if (total <= 0 || available < 0) return -1;
  return 100.0 * (1.0 - available / total);
}

/* CPU busy % since the previous call, or -1 on the first call / error. */
static double cpu_percent(resource *r) {
  FILE *f = fopen("/proc/stat", "re");
  unsigned long long v[8] = {0}, busy, total;
  double pct = -1;
  int n;
  if (f == NULL) return -1;
  n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
             &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
  fclose(f);
  if (n < 4) return -1;
  total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
  busy = total - v[3] - v[4]; /* minus idle and iowait */
  if (r->last_total != 0 && total > r->last_total)
    pct =
        100.0 * (double)(busy - r->last_busy) / (double)(total - r->last_total);
  r->last_busy = busy;
  r->last_total = total;
  return pct;
}

static double disk_percent(const char *path) {
  struct statvfs st;
  if (statvfs(path, &st) != 0 || st.f_blocks == 0) return -1;
  return 100.0 * (1.0 - (double)st.f_bavail / (double)st.f_blocks);
}

static bool over(resource *r, const char *what, double value, double limit) {
  if (limit <= 0 || value < 0 || value < limit) return false;
  snprintf(r->message, sizeof r->message,
           "%s use %.1f%% reached the %g%% threshold", what, value, limit);
  return true;
}

static int predicate(void *user_data) {
  resource *r = user_data;
  const cx_resource_limits *l = &r->limits;
  if (l->cpu_percent > 0 && over(r, "cpu", cpu_percent(r), l->cpu_percent))
    return 1;
  if (l->memory_percent > 0 &&
      over(r, "memory", memory_percent(), l->memory_percent))
    return 1;
  if (l->disk_percent > 0 &&
      over(r, "disk", disk_percent(r->disk_path), l->disk_percent))
    return 1;
  return 0;
}

static const char *describe(void *user_data) {
  return ((resource *)user_data)->message;
}

static void destroy(void *user_data) {
  resource *r = user_data;
  cx__free(r->disk_path);
  cx__free(r);
}

static bool valid_limit(double v) { return v == 0 || (v > 0 && v <= 100); }

int cx_source_resource(const cx_resource_limits *limits, cx_source **out) {
  resource *r;
  double interval;
  int rc;
  if (out != NULL) *out = NULL;
  if (limits == NULL || out == NULL ||
      limits->size < sizeof(cx_resource_limits) ||
      !valid_limit(limits->memory_percent) ||
      !valid_limit(limits->cpu_percent) || !valid_limit(limits->disk_percent) ||
      (limits->memory_percent == 0 && limits->cpu_percent == 0 &&
       limits->disk_percent == 0))
    return -EINVAL;
  interval = limits->interval == 0 ? 5.0 : limits->interval;
  if (!(isfinite(interval) && interval > 0)) return -EINVAL;
  if (limits->disk_percent > 0) {
    /* A typo in the path must not silently turn the limit off. */
    struct statvfs st;
    if (statvfs(limits->disk_path ? limits->disk_path : "/", &st) != 0)
      return -errno;
  }
  r = cx__calloc(1, sizeof *r);
  if (r == NULL) return -ENOMEM;
  r->limits = *limits;
  r->disk_path = cx__strdup(limits->disk_path ? limits->disk_path : "/");
  if (r->disk_path == NULL) {
    cx__free(r);
    return -ENOMEM;
  }
  r->limits.disk_path = r->disk_path;
  rc = cx__condition_new(predicate, r, destroy, interval, "resource", out);
  if (rc != 0) {
    destroy(r);
    return rc;
  }
  cx__condition_set_describe(*out, describe);
  return 0;
}
