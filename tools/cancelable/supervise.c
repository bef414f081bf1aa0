/* tools/cancelable/supervise.c - the tool's main loop: waits for the
 * command with cx_poll() on its pidfd, the progress pipe and the
 * forwarded-signal pipe, so that the wait ends as soon as the operation is
 * cancelled; then stops the command's group gracefully. */
#include "supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "gnu_compat.h"
#include "proctree.h"
#include "sigfwd.h"
#include "signames.h"
#include "statusline.h"

extern char **environ;

/* Everything the loop works with. */
typedef struct loop {
  cx_op *op;
  const supervise_config *cfg;
  supervise_result *res;
  progress_state *st;
  child child;
  progress_reader reader;
  statusline line;
  double kill_at; /* child_now() when SIGKILL is due (after a forward) */
  bool stopping;  /* stop_group() has begun */
} loop;

static void say(loop *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* With --verbose, prints a message about what the tool does. */
static void say(loop *l, const char *fmt, ...) {
  va_list ap;
  if (!l->cfg->verbose) return;
  statusline_clear(&l->line);
  fprintf(stderr, "%s: ", l->cfg->prog);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

/* Sends @signo (0: only SIGCONT, as GNU timeout) to the command's group
 * (or the command alone with foreground), saying so with --verbose. */
static void send_signal(loop *l, int signo) {
  const char *cmd = l->cfg->argv[0];
  char buf[16];
  const char *name = signame_name(signo, buf, sizeof buf);
  if (l->cfg->verbose && l->cfg->gnu_messages) {
    char *quoted = gnu_quote(cmd);
    say(l, "sending signal %s to command %s", name,
        quoted != NULL ? quoted : cmd);
    free(quoted);
  } else if (l->cfg->foreground) {
    say(l, "sending signal %s to command '%s'", name, cmd);
  } else {
    say(l, "sending signal %s to the process group of '%s'", name, cmd);
  }
  child_signal(&l->child, signo);
  if (signo == SIGKILL) l->res->killed = true;
}

/* The alarm signal came: time is up.  The first one cancels the op as its
 * timeout would (the wait ends and stop_group() runs); one that comes while
 * the command is being stopped (by the alarm or any other cancel) sends
 * the stop signal again, or KILL with alarm_kill, as GNU timeout does when
 * its timer fires again. */
static void on_alarm(loop *l) {
  char name[16];
  if (!l->stopping) {
    char msg[64];
    snprintf(msg, sizeof msg, "timed out (SIG%s received)",
             signame_name(l->cfg->alarm_signal, name, sizeof name));
    cx_op_cancel(l->op, CX_REASON_TIMEOUT, msg);
    return;
  }
  send_signal(l, l->cfg->alarm_kill ? SIGKILL : l->cfg->stop_signal);
}

/* The command's environment: ours plus the progress descriptor and the
 * operation's id, which are at @ours_at and after. */
static char **child_env(int progress_fd, cx_op *op, size_t *ours_at) {
  size_t n = 0, k = 0;
  char **env;
  while (environ[n] != NULL) n++;
  env = calloc(n + 3, sizeof *env);
  if (env == NULL) return NULL;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], PROGRESS_ENV "=", sizeof PROGRESS_ENV) != 0 &&
        strncmp(environ[i], "CANCELABLE_OP_ID=", 17) != 0)
      env[k++] = environ[i];
  *ours_at = k;
  /* The number is rewritten in the command (child_options.keep_fd_slot). */
  if (asprintf(&env[k], "%s=%-*d", PROGRESS_ENV, CHILD_FD_SLOT - 1,
               progress_fd) < 0 ||
      asprintf(&env[k + 1], "CANCELABLE_OP_ID=%s", cx_op_id(op)) < 0) {
    free(env[k]);
    free(env);
    return NULL;
  }
  return env;
}

static void free_env(char **env, size_t ours_at) {
  if (env == NULL) return;
  free(env[ours_at]);
  free(env[ours_at + 1]);
  free(env);
}

/* Spawns the command, with the progress pipe when asked. */
static int spawn(loop *l) {
  int pp[2] = {-1, -1}, rc;
  size_t ours_at = 0;
  char **env = NULL;
  child_options co = {.argv = l->cfg->argv,
                      .new_group = !l->cfg->foreground,
                      .keep_fd = -1,
                      .death_signal = l->cfg->death_signal,
                      .watch_group = l->cfg->watch_group,
                      .cgroup = l->cfg->cgroup};
  if (l->cfg->progress_channel) {
    if (pipe2(pp, O_CLOEXEC) != 0) return -errno;
    env = child_env(pp[1], l->op, &ours_at);
    if (env == NULL) {
      close(pp[0]);
      close(pp[1]);
      return -ENOMEM;
    }
    co.envp = env;
    co.keep_fd = pp[1];
    co.keep_fd_slot = env[ours_at] + sizeof PROGRESS_ENV; /* after "=" */
  }
  rc = child_spawn(&l->child, &co, &l->res->exec_failed);
  l->res->join_failed = l->child.join_failed;
  free_env(env, ours_at);
  if (pp[1] >= 0) close(pp[1]);
  progress_reader_init(&l->reader, rc == 0 ? pp[0] : -1, l->op);
  if (rc != 0 && pp[0] >= 0) close(pp[0]);
  return rc;
}

/* Handles what the descriptors reported: progress lines and signals to
 * forward. */
static void service(loop *l) {
  int signo;
  if (l->reader.fd >= 0 && progress_reader_read(&l->reader) == 1) {
    progress_reader_finish(&l->reader);
    close(l->reader.fd);
    l->reader.fd = -1;
  }
  while ((signo = sigfwd_next()) != 0) {
    if (signo == l->cfg->alarm_signal) {
      on_alarm(l);
      continue;
    }
    if (statusline_signal(&l->line, signo)) continue; /* WINCH, TSTP */
    send_signal(l, signo);
    sigaddset(&l->res->passed_on, signo);
    if (!isinf(l->cfg->kill_after_forward) && isinf(l->kill_at))
      l->kill_at = child_now() + l->cfg->kill_after_forward;
  }
  if (child_now() >= l->kill_at) {
    send_signal(l, SIGKILL);
    l->kill_at = INFINITY;
  }
  statusline_tick(&l->line, l->op, l->st);
}

/* The poll timeout: the status line's period and the pending SIGKILL. */
static double next_wakeup(const loop *l, double limit) {
  double t = limit;
  if (l->line.enabled && t > 1.0 / STATUSLINE_HZ) t = 1.0 / STATUSLINE_HZ;
  if (!isinf(l->kill_at)) {
    double left = l->kill_at - child_now();
    if (left < t) t = left > 0 ? left : 0;
  }
  return t;
}

static nfds_t fill_fds(const loop *l, struct pollfd *fds) {
  nfds_t n = 0;
  fds[n++] = (struct pollfd){l->child.wait_fd, POLLIN, 0};
  if (l->reader.fd >= 0) fds[n++] = (struct pollfd){l->reader.fd, POLLIN, 0};
  if (sigfwd_fd() >= 0) fds[n++] = (struct pollfd){sigfwd_fd(), POLLIN, 0};
  return n;
}

/* Waits, as a cancellation point, until the command exits or the op is
 * cancelled.  Returns: 0, -ECANCELED, or another negative errno. */
static int wait_running(loop *l) {
  struct pollfd fds[3];
  while (!child_update(&l->child)) {
    double t = next_wakeup(l, INFINITY);
    int rc = cx_poll(l->op, fds, fill_fds(l, fds), isinf(t) ? CX_FOREVER : t);
    if (rc < 0 && rc != -ETIMEDOUT) return rc;
    service(l);
  }
  return 0;
}

/* Waits (not a cancellation point) until the command exits or @seconds
 * pass, still forwarding signals and reading progress. */
static bool wait_stopping(loop *l, double seconds) {
  double deadline = child_now() + seconds;
  struct pollfd fds[3];
  while (!child_update(&l->child)) {
    double left = deadline - child_now();
    double t = next_wakeup(l, isinf(seconds) ? 1.0 : left);
    if (left <= 0) return false;
    if (t > 1.0) t = 1.0;
    if (poll(fds, fill_fds(l, fds), (int)(t * 1000.0) + 1) < 0 &&
        errno != EINTR)
      return false;
    service(l);
  }
  return true;
}

int supervise_cancel_signal(cx_op *op) {
  const char *msg = cx_op_cancel_message(op);
  const char *open;
  int signo;
  if (cx_op_cancel_reason(op) != CX_REASON_SIGNAL || msg == NULL ||
      strncmp(msg, "received signal ", 16) != 0 ||
      (open = strrchr(msg, '(')) == NULL || sscanf(open, "(%d)", &signo) != 1)
    return 0;
  return signo > 0 && signo < NSIG ? signo : 0;
}

/* Whether @signo is one a user sends to end a job (a terminal's Ctrl-C
 * and Ctrl-\\, its hangup, kill's default). */
static bool user_end_signal(int signo) {
  return signo == SIGINT || signo == SIGQUIT || signo == SIGHUP ||
         signo == SIGTERM;
}

/* The first signal of stop_group(): the stop signal, or with
 * forward_cancel_signal the signal that cancelled the op when it is one
 * a user sends to end a job (others, such as USR1 or ALRM in a source,
 * get the stop signal). */
static int first_signal(loop *l) {
  int signo = 0;
  if (l->cfg->forward_cancel_signal && l->res->cancelled)
    signo = supervise_cancel_signal(l->op);
  if (!user_end_signal(signo)) return l->cfg->stop_signal;
  sigaddset(&l->res->passed_on, signo);
  return signo;
}

/* Stops the command's group: the first signal, the grace period, SIGKILL;
 * with clean_group, until no member of the group is left. */
static void stop_group(loop *l) {
  const supervise_config *cfg = l->cfg;
  double start = child_now(), left;
  int first = first_signal(l);
  l->stopping = true;
  /* Signal 0 too: it is said with --verbose, and the group gets SIGCONT,
   * as from GNU timeout -s 0; then only KILL after the grace stops it. */
  send_signal(l, first);
  if (first != 0) l->res->stop_sent = true;
  if (!wait_stopping(l, cfg->grace)) {
    send_signal(l, SIGKILL);
    wait_stopping(l, INFINITY);
  }
  if (!cfg->clean_group) return;
  left = cfg->grace - (child_now() - start);
  if (child_group_wait(&l->child, left > 0 ? left : 0)) return;
  /* A few rounds: a process stuck in the kernel may take a while. */
  for (int round = 0; round < 3; round++) {
    send_signal(l, SIGKILL);
    if (child_group_wait(&l->child, 10.0)) return;
  }
  fprintf(stderr, "%s: warning: processes of group %ld survived SIGKILL\n",
          cfg->prog, (long)l->child.pid);
}

/* Stops what is left in the command's cgroup once the command and its
 * group are done (daemons that left the group), before the watcher goes,
 * so that a tool killed meanwhile still leaves nothing. */
static void stop_cgroup(loop *l) {
  const supervise_config *cfg = l->cfg;
  int n;
  if (cfg->cgroup == NULL || cgroup_signal(cfg->cgroup, 0) <= 0) return;
  say(l, "stopping what '%s' left in its cgroup", cfg->argv[0]);
  n = cgroup_stop(cfg->cgroup, cfg->stop_signal, cfg->grace);
  if (n > 0) l->res->leftovers = true;
  if (n == -EBUSY)
    fprintf(stderr, "%s: warning: processes of cgroup %s survived SIGKILL\n",
            cfg->prog, cfg->cgroup->path);
}

int supervise(cx_op *op, const supervise_config *cfg, progress_state *st,
              supervise_result *res) {
  loop l;
  int rc;
  memset(res, 0, sizeof *res);
  memset(&l, 0, sizeof l);
  l.op = op;
  l.cfg = cfg;
  l.res = res;
  l.st = st;
  l.kill_at = INFINITY;
  sigemptyset(&res->passed_on);
  statusline_init(&l.line, STDERR_FILENO, cfg->live, cfg->prog);
  rc = spawn(&l);
  if (rc != 0) {
    statusline_end(&l.line, l.op, l.st);
    res->error = -rc;
    return rc;
  }
  res->ran = true;
  res->pid = l.child.pid;
  rc = wait_running(&l);
  if (rc == -ECANCELED) {
    res->cancelled = true;
    stop_group(&l);
  } else if (rc != 0) {
    res->error = -rc; /* cannot wait cancellably: stop the command */
    stop_group(&l);
  } else if (cfg->clean_group && child_group_alive(&l.child)) {
    say(&l, "command '%s' exited; stopping what it left in its group",
        cfg->argv[0]);
    res->leftovers = true;
    stop_group(&l);
  }
  stop_cgroup(&l);
  if (l.reader.fd >= 0) {
    progress_reader_finish(&l.reader);
    close(l.reader.fd);
  }
  statusline_end(&l.line, l.op, l.st);
  res->status = l.child.status;
  child_close(&l.child);
  return res->error != 0 ? -res->error : 0;
}

/* Waits until no descendant of the tool is alive, or @seconds pass.
 * Returns: whether none is left. */
static bool descendants_gone(double seconds) {
  double deadline = child_now() + seconds;
  while (proctree_signal(0, 0, -1) > 0) {
    if (child_now() >= deadline) return false;
    poll(NULL, 0, 50);
  }
  return true;
}

void supervise_stop_escaped(const supervise_config *cfg,
                            supervise_result *res) {
  if (!res->ran || proctree_signal(0, 0, -1) <= 0) return;
  if (cfg->verbose)
    fprintf(stderr, "%s: stopping what '%s' left outside its group\n",
            cfg->prog, cfg->argv[0]);
  res->leftovers = true;
  if (cfg->stop_signal != 0) proctree_signal(0, cfg->stop_signal, -1);
  proctree_signal(0, SIGCONT, -1);
  if (descendants_gone(isinf(cfg->grace) ? 5.0 : cfg->grace)) return;
  for (int round = 0; round < 3; round++) {
    proctree_signal(0, SIGKILL, -1);
    if (descendants_gone(10.0)) return;
  }
  fprintf(stderr, "%s: warning: descendants survived SIGKILL\n", cfg->prog);
}
