/* tools/cancelable/child.h - the supervised command: spawning it in its own
 * process group, noticing its exit through a pollable descriptor, stopping
 * its group and reaping everything it leaves behind, and killing the group
 * when the tool itself dies. */
#ifndef CANCELABLE_TOOL_CHILD_H
#define CANCELABLE_TOOL_CHILD_H

#include <stdbool.h>
#include <sys/types.h>

#include "cgroup.h"

typedef struct child_options {
  char **argv;        /* (not nullable) the command; argv[0] searched in PATH */
  char **envp;        /* (nullable) its environment; NULL: the tool's */
  bool new_group;     /* put the tool in a process group of its own, which
                         the command joins (not --foreground): see
                         child_spawn() */
  int keep_fd;        /* a descriptor to leave open in it, or -1; it gets the
                         lowest number >= 3 the command would otherwise find
                         free (so a shell can use it: dash takes only one
                         digit in >&N) */
  char *keep_fd_slot; /* (nullable) where the command's number for keep_fd
                         is written, NUL-terminated, before exec: a
                         CHILD_FD_SLOT-byte tail of an @envp entry */
  int death_signal;   /* sent to the command when the tool dies
                         (PR_SET_PDEATHSIG), or 0 */
  bool watch_group;   /* with new_group or cgroup: start a watcher that
                         kills the whole group (and cgroup) with SIGKILL
                         when the tool dies */
  const cgroup *cgroup; /* (nullable) the command joins it before exec
                           (`run --cgroup`) */
} child_options;

/* Room for a descriptor number and its NUL in child_options.keep_fd_slot. */
#define CHILD_FD_SLOT 12

typedef struct child {
  pid_t pid;   /* the command */
  bool group;  /* with new_group: it is in the tool's process group */
  pid_t pgid;  /* that group (the tool's pid, or its session's group) */
  int wait_fd; /* a pidfd, or the SIGCHLD self-pipe: readable when the
                  command may have exited */
  bool use_pidfd;
  bool exited;      /* the command was reaped; @status is its wait status */
  bool join_failed; /* child_spawn() failed: the command could not join
                       child_options.cgroup (never exec'ed) */
  int status;
  pid_t watcher;  /* the group's watcher, or -1 */
  int watcher_fd; /* (owned) the tool's end of the watcher's pipe, or -1 */
} child;

/* child_spawn: start the command.  With new_group, the tool first makes
 * itself a process group, as GNU timeout: at a shell prompt it already
 * leads its job's group (the terminal's foreground one) and nothing
 * changes, so the command, which stays in that group, can read the
 * terminal and gets the terminal's signals; in a script the group is
 * new.  In the command, before exec: the tool's start-up signal dispositions
 * and mask, and @death_signal when the tool dies (PR_SET_PDEATHSIG, which
 * fires when the forking *thread* ends: call this from the main thread).
 * With watch_group, a watcher process is started before the command may
 * exec: it waits for the end of a pipe whose write end only the tool holds
 * (close-on-exec), so that however the tool dies, even by SIGKILL, it
 * kills the command's group with SIGKILL.  The watcher is in a process
 * group of its own (not the command's, which it would keep alive, nor the
 * tool's, which a terminal or a `kill -- -PGID` of the tool's job signals)
 * and ignores every signal it can; child_close() stops it.  Processes that
 * leave the group (setsid) are not its business, unless they are in
 * @opts->cgroup: the watcher then also kills the cgroup (cgroup.kill,
 * where the kernel has it) and removes its directory once empty.  With a
 * cgroup the command moves into it before exec (after the watcher is
 * ready), so that everything it starts is there.
 * Returns: 0; -errno of a failed exec with *@exec_failed set (ENOENT:
 *   not found, EACCES/ENOEXEC...: not executable); -errno of fork/pipe
 *   failures with *@exec_failed clear; -errno of the write to the
 *   cgroup's cgroup.procs with c->join_failed set (the command was not
 *   run). */
int child_spawn(child *c, const child_options *opts, bool *exec_failed);

/* child_update: reap the command if it has exited (never blocks; drains
 * the SIGCHLD pipe).  Returns: c->exited. */
bool child_update(child *c);

/* child_signal: send @signo to the command's group but the tool itself
 * (KILL: to the tool's descendants in the group), and to the command if it
 * left the group; or to the command alone without a group; followed by
 * SIGCONT so that stopped processes see it (unless @signo is SIGKILL or
 * SIGCONT).  Signal 0 sends only SIGCONT, as GNU timeout -s 0 does.  Call
 * from the main thread. */
void child_signal(const child *c, int signo);

/* child_group_wait: after the leader has exited, reap the group's other
 * members until none is left or @timeout seconds have passed.
 * Returns: true when the group is gone (always true without a group). */
bool child_group_wait(child *c, double timeout);

/* child_group_alive: whether descendants of the tool remain in the
 * command's group (reaping those that are zombies of ours first). */
bool child_group_alive(child *c);

/* child_close: release the wait descriptor and stop the watcher (SIGKILL,
 * then reaped: it never kills the group on this path). */
void child_close(child *c);

/* Monotonic seconds, for deadlines. */
double child_now(void);

#endif /* CANCELABLE_TOOL_CHILD_H */
