/* tools/cancelable/proctree.c - scans /proc/PID/stat for the parent,
 * process group and state of every process, and signals the tool's
 * descendants among them. */
#include "proctree.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct proc {
  pid_t pid, ppid, pgrp;
  char state;
} proc;

/* Reads one /proc/PID/stat ("pid (comm) S ppid pgrp ...", comm may hold
 * any byte, ')' included).  Returns: whether @p was filled. */
static bool read_stat(pid_t pid, proc *p) {
  char path[64], buf[512];
  const char *close;
  FILE *f;
  size_t n;
  int ppid, pgrp;
  snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
  f = fopen(path, "re");
  if (f == NULL) return false;
  n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  close = strrchr(buf, ')');
  if (close == NULL ||
      sscanf(close + 1, " %c %d %d", &p->state, &ppid, &pgrp) != 3)
    return false;
  p->pid = pid;
  p->ppid = ppid;
  p->pgrp = pgrp;
  return true;
}

/* Every process: a malloc'ed array in *@out.  Returns: the count, or
 * -errno. */
static int list_procs(proc **out) {
  DIR *d = opendir("/proc");
  struct dirent *e;
  proc *all = NULL, p;
  size_t n = 0, cap = 0;
  if (d == NULL) return -errno;
  while ((e = readdir(d)) != NULL) {
    char *end;
    long pid = strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0 || !read_stat((pid_t)pid, &p)) continue;
    if (n == cap) {
      proc *more = realloc(all, (cap = cap ? cap * 2 : 256) * sizeof *all);
      if (more == NULL) {
        closedir(d);
        free(all);
        return -ENOMEM;
      }
      all = more;
    }
    all[n++] = p;
  }
  closedir(d);
  *out = all;
  return (int)n;
}

/* The tool's children from before the command (a shell's process
 * substitution, `2> >(tee log)`, is one): not the command's. */
static pid_t *existing;
static int nexisting;

static bool is_existing(pid_t pid) {
  for (int i = 0; i < nexisting; i++)
    if (existing[i] == pid) return true;
  return false;
}

/* The tool's helpers' groups (proctree_spare_group()). */
enum { SPARED_MAX = 32 };
static pthread_mutex_t spared_mu = PTHREAD_MUTEX_INITIALIZER;
static pid_t spared[SPARED_MAX]; /* guarded by spared_mu; 0: free slot */

void proctree_spare_group(pid_t pgid, bool spare) {
  pthread_mutex_lock(&spared_mu);
  for (int i = 0; i < SPARED_MAX; i++) {
    if (spare && spared[i] == 0) {
      spared[i] = pgid;
      break;
    }
    if (!spare && spared[i] == pgid) {
      spared[i] = 0;
      break;
    }
  }
  pthread_mutex_unlock(&spared_mu);
}

static bool is_spared(pid_t pgrp) {
  bool found = false;
  pthread_mutex_lock(&spared_mu);
  for (int i = 0; i < SPARED_MAX && !found; i++) found = spared[i] == pgrp;
  pthread_mutex_unlock(&spared_mu);
  return found;
}

static const proc *find(const proc *all, int n, pid_t pid) {
  for (int i = 0; i < n; i++)
    if (all[i].pid == pid) return &all[i];
  return NULL;
}

/* Whether @p descends from @self (parent links, at most @n steps), and
 * not through a child that @self had before the command. */
static bool descends(const proc *all, int n, const proc *p, pid_t self) {
  for (int steps = 0; p != NULL && steps < n; steps++) {
    if (is_existing(p->pid)) return false;
    if (p->ppid == self) return true;
    if (p->ppid <= 1) return false;
    p = find(all, n, p->ppid);
  }
  return false;
}

int proctree_signal(pid_t pgid, int signo, pid_t spare) {
  proc *all = NULL;
  pid_t self = getpid();
  int n = list_procs(&all), found = 0;
  if (n < 0) return n;
  for (int i = 0; i < n; i++) {
    const proc *p = &all[i];
    if (p->pid == self || p->pid == spare || p->state == 'Z' ||
        (pgid != 0 && p->pgrp != pgid) || is_spared(p->pgrp) ||
        !descends(all, n, p, self))
      continue;
    found++;
    if (signo != 0) kill(p->pid, signo);
  }
  free(all);
  return found;
}

int proctree_mark_existing(void) {
  proc *all = NULL;
  pid_t self = getpid();
  int n = list_procs(&all);
  if (n < 0) return n;
  free(existing);
  existing = malloc(((size_t)n + 1) * sizeof *existing);
  nexisting = 0;
  if (existing == NULL) {
    free(all);
    return -ENOMEM;
  }
  for (int i = 0; i < n; i++)
    if (all[i].ppid == self) existing[nexisting++] = all[i].pid;
  free(all);
  return 0;
}
