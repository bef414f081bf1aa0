/* tools/cancelable/cgroup.c - finds the tool's cgroup v2 directory from
 * /proc/self/mountinfo and /proc/self/cgroup, makes a child cgroup for the
 * command, and kills and removes it at the end (cgroup.kill, or freeze and
 * SIGKILL each member where the kernel is older than 5.14). */
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "child.h"

/* Decodes mountinfo's octal escapes (\040 for a blank) in place. */
static void unescape(char *s) {
  char *out = s;
  for (; *s != '\0'; s++) {
    if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
        s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
      *out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
      s += 3;
    } else {
      *out++ = *s;
    }
  }
  *out = '\0';
}

/* The first cgroup2 mount: its mount point and the root of the hierarchy it
 * shows (mountinfo fields 5 and 4; the type follows " - ").
 * Returns: whether one was found. */
static bool find_mount(char *point, char *root, size_t size) {
  FILE *f = fopen("/proc/self/mountinfo", "re");
  char *line = NULL;
  size_t cap = 0;
  bool found = false;
  if (f == NULL) return false;
  while (!found && getline(&line, &cap, f) > 0) {
    char r[4096], p[4096], type[64];
    const char *dash = strstr(line, " - ");
    if (dash == NULL || sscanf(dash, " - %63s", type) != 1 ||
        strcmp(type, "cgroup2") != 0 ||
        sscanf(line, "%*s %*s %*s %4095s %4095s", r, p) != 2)
      continue;
    unescape(r);
    unescape(p);
    found = strlen(p) < size && strlen(r) < size;
    if (found) {
      strcpy(point, p);
      strcpy(root, r);
    }
  }
  free(line);
  fclose(f);
  return found;
}

/* The tool's cgroup v2 path ("0::PATH" in /proc/self/cgroup).
 * Returns: whether it was found. */
static bool own_cgroup(char *path, size_t size) {
  FILE *f = fopen("/proc/self/cgroup", "re");
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  bool found = false;
  if (f == NULL) return false;
  while (!found && (n = getline(&line, &cap, f)) > 0) {
    if (strncmp(line, "0::", 3) != 0) continue;
    if (line[n - 1] == '\n') line[n - 1] = '\0';
    found = strlen(line + 3) < size;
    if (found) strcpy(path, line + 3);
  }
  free(line);
  fclose(f);
  return found;
}

/* The directory of the tool's cgroup: the mount point, then the cgroup's
 * path below the mount's root.  Returns: 0 or -ENOENT with @why set. */
static int own_directory(char *dir, size_t size, char *why, size_t wsize) {
  char point[4096], root[4096], own[4096];
  const char *rel;
  size_t rlen;
  if (!find_mount(point, root, sizeof point)) {
    snprintf(why, wsize, "no cgroup v2 file system is mounted");
    return -ENOENT;
  }
  if (!own_cgroup(own, sizeof own)) {
    snprintf(why, wsize, "no cgroup v2 line (0::) in /proc/self/cgroup");
    return -ENOENT;
  }
  rlen = strcmp(root, "/") == 0 ? 0 : strlen(root);
  rel = rlen > 0 && strncmp(own, root, rlen) == 0 ? own + rlen : own;
  if ((size_t)snprintf(dir, size, "%s%s", point,
                       strcmp(rel, "/") == 0 ? "" : rel) >= size) {
    snprintf(why, wsize, "the cgroup path is too long");
    return -ENOENT;
  }
  return 0;
}

/* Opens @name in @cg's directory for writing.  Returns: the descriptor or
 * -errno. */
static int open_control(const cgroup *cg, const char *name) {
  char path[4200];
  int fd;
  snprintf(path, sizeof path, "%s/%s", cg->path, name);
  fd = open(path, O_WRONLY | O_CLOEXEC);
  return fd >= 0 ? fd : -errno;
}

/* Opens @cg's cgroup.procs for reading.  Returns: the descriptor or
 * -errno. */
static int open_list(const cgroup *cg) {
  char path[4200];
  int fd;
  snprintf(path, sizeof path, "%s/cgroup.procs", cg->path);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  return fd >= 0 ? fd : -errno;
}

/* Makes the directory: "cancelable-PID", or "-N" after it when taken. */
static int make_dir(cgroup *cg, const char *parent) {
  for (int n = 1; n <= 100; n++) {
    char name[64];
    if (n == 1)
      snprintf(name, sizeof name, "cancelable-%ld", (long)getpid());
    else
      snprintf(name, sizeof name, "cancelable-%ld-%d", (long)getpid(), n);
    free(cg->path);
    if (asprintf(&cg->path, "%s/%s", parent, name) < 0) {
      cg->path = NULL;
      return -ENOMEM;
    }
    if (mkdir(cg->path, 0755) == 0) return 0;
    if (errno != EEXIST) return -errno;
  }
  return -EEXIST;
}

static void empty(cgroup *cg) { *cg = CGROUP_NONE; }

int cgroup_create(cgroup *cg, char *why, size_t size) {
  char parent[4096];
  const char *no_kill = getenv("CANCELABLE_CGROUP_NO_KILL");
  int rc;
  empty(cg);
  if ((rc = own_directory(parent, sizeof parent, why, size)) != 0) return rc;
  if ((rc = make_dir(cg, parent)) != 0) {
    snprintf(why, size, "cannot create a cgroup in %s: %s", parent,
             strerror(-rc));
    free(cg->path);
    empty(cg);
    return rc;
  }
  rc = cg->procs_fd = open_control(cg, "cgroup.procs");
  if (rc >= 0) rc = cg->freeze_fd = open_control(cg, "cgroup.freeze");
  if (rc >= 0) rc = cg->list_fd = open_list(cg);
  if (rc < 0) {
    snprintf(why, size, "cannot use the cgroup %s: %s", cg->path,
             strerror(-rc));
    cgroup_destroy(cg);
    return rc;
  }
  if (no_kill == NULL || *no_kill == '\0')
    cg->kill_fd = open_control(cg, "cgroup.kill");
  if (cg->kill_fd < 0) cg->kill_fd = -1; /* older kernel: freeze and kill */
  return 0;
}

int cgroup_join_in_child(const cgroup *cg) {
  ssize_t n;
  do n = write(cg->procs_fd, "0", 1);
  while (n < 0 && errno == EINTR);
  return n == 1 ? 0 : n < 0 ? errno : EIO;
}

/* Reads the file @name in the directory @dir whole (NUL-terminated,
 * malloc'ed).  Returns: the text or NULL with errno set. */
static char *read_control(const char *dir, const char *name) {
  char path[4200], *text = NULL;
  size_t len = 0, cap = 0, n;
  FILE *f;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  if ((f = fopen(path, "re")) == NULL) return NULL;
  do {
    if (len + 1024 > cap) {
      char *more = realloc(text, cap = cap * 2 + 4096);
      if (more == NULL) break;
      text = more;
    }
    n = fread(text + len, 1, cap - len - 1, f);
    len += n;
  } while (n > 0);
  fclose(f);
  if (text != NULL) text[len] = '\0';
  if (text == NULL) errno = ENOMEM;
  return text;
}

/* Calls @fn(@dir/NAME, @arg) for each cgroup below @dir (the command may
 * have made some: a nested `cancelable run --cgroup`).  Returns: the sum of
 * what @fn returned (negative values left out). */
static int each_child(const char *dir, int (*fn)(const char *, int), int arg) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int sum = 0;
  if (d == NULL) return 0;
  while ((e = readdir(d)) != NULL) {
    char *sub;
    int n;
    if (e->d_type != DT_DIR || e->d_name[0] == '.') continue;
    if (asprintf(&sub, "%s/%s", dir, e->d_name) < 0) continue;
    n = fn(sub, arg);
    if (n > 0) sum += n;
    free(sub);
  }
  closedir(d);
  return sum;
}

/* Signals (0: counts) the members of the cgroup @dir and of those below.
 * Returns: how many, or -errno when its cgroup.procs cannot be read. */
static int signal_tree(const char *dir, int signo) {
  char *text = read_control(dir, "cgroup.procs"), *p, *end;
  int found = 0;
  if (text == NULL) return -errno;
  for (p = text;; p = end) {
    long pid = strtol(p, &end, 10);
    if (end == p) break;
    if (pid <= 0) continue;
    found++;
    if (signo != 0) kill((pid_t)pid, signo);
  }
  free(text);
  return found + each_child(dir, signal_tree, signo);
}

int cgroup_signal(const cgroup *cg, int signo) {
  return cg->path != NULL ? signal_tree(cg->path, signo) : 0;
}

/* Removes the cgroups below @dir, then @dir.  Returns: 0 or -errno. */
static int remove_tree(const char *dir, int unused) {
  (void)unused;
  each_child(dir, remove_tree, 0);
  return rmdir(dir) == 0 ? 0 : -errno;
}

/* Writes @value to the control file open on @fd.  Returns: success. */
static bool put(int fd, const char *value) {
  ssize_t n;
  if (fd < 0) return false;
  do n = pwrite(fd, value, strlen(value), 0);
  while (n < 0 && errno == EINTR);
  return n == (ssize_t)strlen(value);
}

/* Whether cgroup.events says "frozen 1". */
static bool frozen(const cgroup *cg) {
  char *text = read_control(cg->path, "cgroup.events");
  bool yes = text != NULL && strstr(text, "frozen 1") != NULL;
  free(text);
  return yes;
}

/* Waits until the cgroup is empty or @seconds pass.  Returns: empty. */
static bool wait_empty(const cgroup *cg, double seconds) {
  double deadline = child_now() + seconds;
  while (cgroup_signal(cg, 0) > 0) {
    if (child_now() >= deadline) return false;
    poll(NULL, 0, 20);
  }
  return true;
}

/* Kills every member: cgroup.kill, or (older kernels) freeze so that none
 * can fork meanwhile, SIGKILL each, thaw (killed members then exit). */
static void kill_all(const cgroup *cg) {
  if (put(cg->kill_fd, "1")) return;
  if (put(cg->freeze_fd, "1")) {
    double until = child_now() + 1.0;
    while (!frozen(cg) && child_now() < until) poll(NULL, 0, 10);
  }
  cgroup_signal(cg, SIGKILL);
  put(cg->freeze_fd, "0");
}

/* In the watcher: SIGKILLs each process that list_fd lists (read again
 * from its start; at most 4 KiB of pids a round).  Returns: how many. */
static int kill_listed(const cgroup *cg) {
  char buf[4096];
  ssize_t n;
  long pid = 0;
  int found = 0;
  if (lseek(cg->list_fd, 0, SEEK_SET) != 0) return 0;
  do n = read(cg->list_fd, buf, sizeof buf);
  while (n < 0 && errno == EINTR);
  for (ssize_t i = 0; i < n; i++) {
    if (buf[i] >= '0' && buf[i] <= '9') {
      pid = pid * 10 + (buf[i] - '0');
      continue;
    }
    if (pid > 0) {
      kill((pid_t)pid, SIGKILL);
      found++;
    }
    pid = 0;
  }
  return found;
}

void cgroup_end_in_child(const cgroup *cg) {
  struct timespec pause = {0, 20 * 1000 * 1000};
  if (!put(cg->kill_fd, "1") && cg->list_fd >= 0) {
    (void)!write(cg->freeze_fd, "1", 1);
    for (int round = 0; round < 500 && kill_listed(cg) > 0; round++)
      nanosleep(&pause, NULL);
    (void)!write(cg->freeze_fd, "0", 1);
  }
  for (int i = 0; i < 500; i++) {
    if (rmdir(cg->path) == 0 || errno != EBUSY) return;
    nanosleep(&pause, NULL);
  }
}

int cgroup_stop(const cgroup *cg, int stop_signal, double grace) {
  int left;
  if (cg->path == NULL) return 0;
  left = cgroup_signal(cg, 0);
  if (left <= 0) return left < 0 ? left : 0;
  if (stop_signal != 0) cgroup_signal(cg, stop_signal);
  cgroup_signal(cg, SIGCONT);
  if (wait_empty(cg, isinf(grace) ? 5.0 : grace)) return left;
  for (int round = 0; round < 3; round++) {
    kill_all(cg);
    if (wait_empty(cg, 10.0)) return left;
  }
  return -EBUSY;
}

int cgroup_destroy(cgroup *cg) {
  int rc = 0;
  if (cg->procs_fd >= 0) close(cg->procs_fd);
  if (cg->kill_fd >= 0) close(cg->kill_fd);
  if (cg->freeze_fd >= 0) close(cg->freeze_fd);
  if (cg->list_fd >= 0) close(cg->list_fd);
  if (cg->path != NULL) rc = remove_tree(cg->path, 0);
  free(cg->path);
  empty(cg);
  return rc;
}
