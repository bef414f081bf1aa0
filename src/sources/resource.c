/* src/sources/resource.c - the resource source: a condition that reads
 * memory use (/proc/meminfo), CPU use (/proc/stat, over the last interval)
 * and disk use (statvfs) and triggers when one has reached its threshold
 * (for the sustain time, when one is set). */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "runtime/alloc.h"
#include "runtime/clock.h"
#include "sources/condition.h"
#include "sources/resource.h"

enum { MEMORY, CPU, DISK, KINDS };

typedef struct resource {
  cx_resource_limits limits;
  char *disk_path;              /* (owned) */
  int64_t sustain;              /* ns */
  int64_t over_since[KINDS];    /* cx__now_ns() of the first check of the
                                   current run over the threshold; -1: none
                                   (touched only by the running check) */
  unsigned long long last_busy; /* previous /proc/stat sample */
  unsigned long long last_total;
  char message[192]; /* the trigger message */
} resource;

/* The test probe (cx__resource_set_probe()); NULL: the real readers. */
static _Atomic(cx__resource_probe_fn) probe;

void cx__resource_set_probe(cx__resource_probe_fn fn) {
  atomic_store(&probe, fn);
}

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

static const char *const kind_names[KINDS] = {"memory", "cpu", "disk"};

/* The value of resource @kind now, %, or -1 when unreadable. */
static double sample(resource *r, int kind) {
  cx__resource_probe_fn fn = atomic_load(&probe);
  if (fn != NULL) return fn(kind_names[kind]);
  if (kind == MEMORY) return memory_percent();
  if (kind == CPU) return cpu_percent(r);
  return disk_percent(r->disk_path);
}

/* Whether resource @kind has been at or above @limit long enough: a check
 * below (or unreadable) ends the run; the first check over starts it. */
static bool over(resource *r, int kind, double limit) {
  double value = sample(r, kind);
  int64_t now = cx__now_ns();
  if (value < 0 || value < limit) {
    r->over_since[kind] = -1;
    return false;
  }
  if (r->over_since[kind] < 0) r->over_since[kind] = now;
  if (now - r->over_since[kind] < r->sustain) return false;
  if (r->sustain > 0)
    snprintf(r->message, sizeof r->message,
             "%s use %.1f%% stayed at or above the %g%% threshold for %g s",
             kind_names[kind], value, limit, r->limits.sustain);
  else
    snprintf(r->message, sizeof r->message,
             "%s use %.1f%% reached the %g%% threshold", kind_names[kind],
             value, limit);
  return true;
}

static int predicate(void *user_data) {
  resource *r = user_data;
  const double limit[KINDS] = {r->limits.memory_percent, r->limits.cpu_percent,
                               r->limits.disk_percent};
  /* CPU first: its sample is over the time since the previous check. */
  static const int order[KINDS] = {CPU, MEMORY, DISK};
  for (int i = 0; i < KINDS; i++)
    if (limit[order[i]] > 0 && over(r, order[i], limit[order[i]])) return 1;
  return 0;
}

/* At each start: no run over a threshold, no CPU baseline. */
static void restart(void *user_data) {
  resource *r = user_data;
  for (int i = 0; i < KINDS; i++) r->over_since[i] = -1;
  r->last_busy = r->last_total = 0;
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

static bool valid_limits(const cx_resource_limits *l, int64_t *sustain) {
  int64_t interval;
  *sustain = 0;
  if (l->size < sizeof(cx_resource_limits) || !valid_limit(l->memory_percent) ||
      !valid_limit(l->cpu_percent) || !valid_limit(l->disk_percent) ||
      (l->memory_percent == 0 && l->cpu_percent == 0 && l->disk_percent == 0))
    return false;
  if (cx__condition_interval_ns(l->interval, &interval) != 0) return false;
  if (l->sustain == 0) return true;
  return isfinite(l->sustain) && l->sustain > 0 &&
         cx__duration_to_ns(l->sustain, sustain) == 0;
}

int cx_source_resource(cx_source **out, const cx_resource_limits *limits) {
  resource *r;
  int64_t sustain;
  int rc;
  if (out != NULL) *out = NULL;
  if (limits == NULL || out == NULL || !valid_limits(limits, &sustain))
    return -EINVAL;
  if (limits->disk_percent > 0) {
    /* A typo in the path must not silently turn the limit off. */
    struct statvfs st;
    if (statvfs(limits->disk_path ? limits->disk_path : "/", &st) != 0)
      return -errno;
  }
  r = cx__calloc(1, sizeof *r);
  if (r == NULL) return -ENOMEM;
  r->limits = *limits;
  r->sustain = sustain;
  r->disk_path = cx__strdup(limits->disk_path ? limits->disk_path : "/");
  if (r->disk_path == NULL) {
    cx__free(r);
    return -ENOMEM;
  }
  r->limits.disk_path = r->disk_path;
  rc = cx__condition_new(predicate, r, destroy, limits->interval, "resource",
                         out);
  if (rc != 0) {
    destroy(r);
    return rc;
  }
  cx__condition_set_describe(*out, describe);
  cx__condition_set_restart(*out, restart);
  return 0;
}
