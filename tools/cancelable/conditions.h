/* tools/cancelable/conditions.h - the predicates behind --until-file and
 * --until (file:PATH and cond:CMD): a file's existence and a shell
 * command's success, polled by the library's condition sources. */
#ifndef CANCELABLE_TOOL_CONDITIONS_H
#define CANCELABLE_TOOL_CONDITIONS_H

#include <cancelable.h>

/* Shared by every shell-command condition of one run: once shut down, a
 * running check is killed (its process group gets SIGKILL) and no new one
 * starts, so cx_op_exit() never waits for a hung command. */
typedef struct cond_shutdown cond_shutdown;

/* Returns: (transfer full) a new switch, or NULL (out of memory or fds). */
cond_shutdown *cond_shutdown_new(void);
/* Flips the switch (idempotent).  Any thread. */
void cond_shutdown_trigger(cond_shutdown *s);
/* Frees the switch; every condition using it must be freed first. */
void cond_shutdown_free(cond_shutdown *s);

/* cond_source_file: a condition source met when @path exists.
 * Returns: 0 or a negative errno (then nothing was created). */
int cond_source_file(const char *path, double interval, cx_source **out);

/* cond_source_command: a condition source met when `/bin/sh -c @command`
 * exits with status 0.  The command runs in its own process group with
 * stdin and stdout on /dev/null (stderr is the tool's), and is killed when
 * @shutdown is triggered.
 * Returns: 0 or a negative errno (then nothing was created). */
int cond_source_command(const char *command, double interval,
                        cond_shutdown *shutdown, cx_source **out);

#endif /* CANCELABLE_TOOL_CONDITIONS_H */
