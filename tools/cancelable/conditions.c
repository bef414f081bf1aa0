/* tools/cancelable/conditions.c - predicates for the file and shell-command
 * conditions.  They run on the library's condition worker threads, so a
 * command may take its time; a shutdown switch kills a check still running
 * when the tool winds up. */
#include "conditions.h"
#include "proctree.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cxu_utf8.h"

extern char **environ;

struct cond_shutdown {
  atomic_bool down;
  int fds[2]; /* a pipe; its read end turns readable at shutdown */
};

typedef struct command_cond {
  char *command; /* (owned) */
  cond_shutdown *shutdown;
} command_cond;

cond_shutdown *cond_shutdown_new(void) {
  cond_shutdown *s = calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  if (pipe2(s->fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    free(s);
    return NULL;
  }
  atomic_init(&s->down, false);
  return s;
}

void cond_shutdown_trigger(cond_shutdown *s) {
  if (s == NULL || atomic_exchange(&s->down, true)) return;
  (void)!write(s->fds[1], "x", 1);
}

void cond_shutdown_free(cond_shutdown *s) {
  if (s == NULL) return;
  close(s->fds[0]);
  close(s->fds[1]);
  free(s);
}

static int file_exists(void *user_data) {
  return access((const char *)user_data, F_OK) == 0 ? 1 : 0;
}

int cond_source_file(const char *path, double interval, cx_source **out) {
  char *copy = strdup(path), name[300];
  int rc;
  if (copy == NULL) return -ENOMEM;
  cxu_utf8_snprintf(name, sizeof name, "file %s", path);
  rc = cx_source_condition(out, file_exists, copy, free, interval, name);
  if (rc != 0) free(copy);
  return rc;
}

/* Starts `/bin/sh -c @command` in a new process group. */
static int spawn_shell(const char *command, pid_t *pid) {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t fa;
  sigset_t all, none;
  char *argv[] = {"sh", "-c", (char *)command, NULL};
  int rc;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
                                      POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETSIGMASK);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  rc = posix_spawn(pid, "/bin/sh", &fa, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  return -rc;
}

/* Waits for @pid, or kills its group when @s shuts down.
 * Returns: the wait status, or -1 when it was killed for the shutdown. */
static int wait_or_shutdown(pid_t pid, cond_shutdown *s) {
  int status = -1, pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  struct pollfd fds[2] = {{s->fds[0], POLLIN, 0}, {pidfd, POLLIN, 0}};
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR)) break;
    if (atomic_load(&s->down)) {
      kill(-pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) continue;
      status = -1;
      break;
    }
    /* Without a pidfd, look again every 50 ms. */
    poll(fds, pidfd >= 0 ? 2 : 1, pidfd >= 0 ? -1 : 50);
  }
  if (pidfd >= 0) close(pidfd);
  return status;
}

static int command_succeeds(void *user_data) {
  command_cond *c = user_data;
  pid_t pid;
  int rc, status;
  if (atomic_load(&c->shutdown->down)) return 0;
  rc = spawn_shell(c->command, &pid);
  if (rc != 0) return rc;
  /* The probe is the tool's, not a daemon the command left behind. */
  proctree_spare_group(pid, true);
  status = wait_or_shutdown(pid, c->shutdown);
  proctree_spare_group(pid, false);
  return status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void command_cond_free(void *user_data) {
  command_cond *c = user_data;
  free(c->command);
  free(c);
}

int cond_source_command(const char *command, double interval,
                        cond_shutdown *shutdown, cx_source **out) {
  command_cond *c = calloc(1, sizeof *c);
  char name[300];
  int rc;
  if (c == NULL || (c->command = strdup(command)) == NULL) {
    free(c);
    return -ENOMEM;
  }
  c->shutdown = shutdown;
  cxu_utf8_snprintf(name, sizeof name, "until %s", command);
  rc = cx_source_condition(out, command_succeeds, c, command_cond_free,
                           interval, name);
  if (rc != 0) command_cond_free(c);
  return rc;
}
