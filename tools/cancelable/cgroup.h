/* tools/cancelable/cgroup.h - `run --cgroup`: the command in a cgroup v2 of
 * its own, a child of the tool's cgroup, stopped whole at the end and
 * removed, as `systemd-run --scope` does with a scope unit.  What a
 * cgroup holds cannot leave it (setsid and double forks change nothing),
 * so no descendant escapes, even when the tool itself is killed (the
 * group's watcher kills the cgroup too). */
#ifndef CANCELABLE_TOOL_CGROUP_H
#define CANCELABLE_TOOL_CGROUP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cgroup {
  char *path;    /* (owned) the cgroup's directory, or NULL: none */
  int procs_fd;  /* (owned) its cgroup.procs, open for writing (close-on-
                    exec; a forked child writes "0" to join), or -1 */
  int kill_fd;   /* (owned) its cgroup.kill (Linux 5.14) for writing, or
                    -1 where the kernel has none (or CANCELABLE_CGROUP_NO_KILL
                    is set, which tests the other way): freeze + SIGKILL */
  int freeze_fd; /* (owned) its cgroup.freeze for writing, or -1 */
  int list_fd;   /* (owned) its cgroup.procs open for reading, or -1: what
                    cgroup_end_in_child() reads (the watcher) */
} cgroup;

/* No cgroup: what cgroup_create() leaves on failure and cgroup_destroy()
 * after. */
#define CGROUP_NONE          \
  ((cgroup){.path = NULL,    \
            .procs_fd = -1,  \
            .kill_fd = -1,   \
            .freeze_fd = -1, \
            .list_fd = -1})

/* cgroup_create: make a new cgroup "cancelable-PID[-N]" under the tool's own
 * (the "0::" line of /proc/self/cgroup, under the cgroup2 mount that
 * /proc/self/mountinfo lists: /sys/fs/cgroup, or /sys/fs/cgroup/unified on
 * hybrid hosts) and open its control files.  On failure *@cg is empty and
 * @why (@size bytes) says what is missing, with the path.
 * Returns: 0; -ENOENT no cgroup v2 (no cgroup2 mount, or no "0::" line);
 *   -EACCES/-EPERM/-EROFS the hierarchy is not writable (not delegated);
 *   another -errno of mkdir(2)/open(2). */
int cgroup_create(cgroup *cg, char *why, size_t size);

/* cgroup_join_in_child: in a forked child before exec, move the calling
 * process into @cg (writes "0" to its cgroup.procs); async-signal-safe.
 * Returns: 0 or a positive errno (EBUSY, EACCES, EOPNOTSUPP...). */
int cgroup_join_in_child(const cgroup *cg);

/* cgroup_end_in_child: in the watcher, once the tool is gone: kill every
 * member of @cg (cgroup.kill; or, without it, freeze, SIGKILL each
 * process listed by list_fd until none is, thaw), then remove the
 * directory when it is empty (within 10 s; a cgroup the command made below
 * it stays).  Async-signal-safe (the descriptors only; path for rmdir). */
void cgroup_end_in_child(const cgroup *cg);

/* cgroup_signal: send @signo (0: only count) to every process in @cg and
 * in the cgroups below it (the command may make some).
 * Returns: how many were listed; -errno when cgroup.procs cannot be
 *   read. */
int cgroup_signal(const cgroup *cg, int signo);

/* cgroup_stop: end everything in @cg: the @stop_signal (0: none) and
 * SIGCONT to each member, up to @grace seconds (INFINITY: 5 s) for them to
 * exit, then the whole cgroup killed (cgroup.kill, or frozen, each member
 * SIGKILLed, thawed) until cgroup.procs is empty.  Zombies do not count
 * (the kernel takes them out of cgroup.procs).  Call from the main thread.
 * Returns: how many processes were left when it began (0: nothing to
 *   stop); -EBUSY when members survived SIGKILL for 30 s. */
int cgroup_stop(const cgroup *cg, int stop_signal, double grace);

/* cgroup_destroy: remove @cg's directory (it must be empty: after
 * cgroup_stop()) and release its descriptors; idempotent.
 * Returns: 0 or the -errno of rmdir(2). */
int cgroup_destroy(cgroup *cg);

#endif /* CANCELABLE_TOOL_CGROUP_H */
