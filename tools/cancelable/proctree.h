/* tools/cancelable/proctree.h - the tool's descendants, read from /proc:
 * those in a process group (the command's group, which the tool shares)
 * and, for `run`, all of them (those that left the group with setsid and
 * the orphans a child subreaper gets back). */
#ifndef CANCELABLE_TOOL_PROCTREE_H
#define CANCELABLE_TOOL_PROCTREE_H

#include <stdbool.h>
#include <sys/types.h>

/* proctree_signal: send @signo (0: only count) to every live descendant
 * of the tool (not zombies) in process group @pgid, or in any group when
 * @pgid is 0, except @spare (the watcher; -1: none) and the children the
 * tool had before (proctree_mark_existing()) with their descendants.  Processes
 * forked while the scan runs may be missed: call again until it counts 0.
 * Returns: how many were found; -errno when /proc cannot be read. */
int proctree_signal(pid_t pgid, int signo, pid_t spare);

/* proctree_mark_existing: record the tool's children from before the
 * command (a shell's process substitution, `2> >(tee log)`, is a child of
 * the process that execs the tool): proctree_signal() skips them and
 * their descendants.  Call before spawning the command.
 * Returns: 0, or -errno (-ENOMEM, or /proc unreadable). */
int proctree_mark_existing(void);

/* proctree_spare_group: (@spare true) let proctree_signal() skip the
 * process group @pgid, the tool's own helper running there (a condition's
 * probe shell, in a group of its own), until called again with @spare
 * false (once it is reaped).  Any thread.  At most 32 groups at once; more
 * are not spared. */
void proctree_spare_group(pid_t pgid, bool spare);

#endif /* CANCELABLE_TOOL_PROCTREE_H */
