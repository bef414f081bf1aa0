/* tools/cancelable/child.c - spawns the command in the tool's own process
 * group (as GNU timeout) and tracks it: its exit is noticed through a pidfd (or
 * a SIGCHLD self-pipe where pidfd_open(2) is missing, or when
 * CANCELABLE_NO_PIDFD is set), so that the main loop can wait for it with
 * cx_poll() as a cancellation point.  The tool is a child subreaper, so
 * descendants orphaned inside the group are reparented to it and reaped here. A
 * watcher process kills the group if the tool dies.  Signals the tool
 * sends to the group do not reach the tool itself. */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proctree.h"
#include "sigfwd.h"

extern char **environ;

static int chld_pipe[2] = {-1, -1}; /* the SIGCHLD fallback */

double child_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_sigchld(int signo) {
  (void)signo;
  sigfwd_write_byte(chld_pipe[1], 'c');
}

/* Installs the SIGCHLD handler of the fallback (before the fork, so no
 * exit is missed). */
static int sigchld_pipe(void) {
  struct sigaction sa;
  if (chld_pipe[0] >= 0) return chld_pipe[0];
  if (pipe2(chld_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return -errno;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigchld;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGCHLD, &sa, NULL) != 0) return -errno;
  return chld_pipe[0];
}

/* Writes @n in decimal to @out (CHILD_FD_SLOT bytes); async-signal-safe. */
static void format_fd(int n, char *out) {
  char digits[CHILD_FD_SLOT];
  size_t k = 0;
  do digits[k++] = (char)('0' + n % 10);
  while ((n /= 10) != 0 && k < sizeof digits - 1);
  while (k > 0) *out++ = digits[--k];
  *out = '\0';
}

/* In the forked child: moves @fd to the lowest number >= 3 that the
 * command would find free (closed, or closed by exec), other than @err_fd,
 * and leaves it open across exec.  The tool's own descriptors are all
 * close-on-exec, so this is a one-digit number unless the tool inherited
 * many open ones.  Returns the number. */
static int keep_low(int fd, int err_fd) {
  for (int n = 3; n < fd; n++) {
    int flags;
    if (n == err_fd) continue;
    flags = fcntl(n, F_GETFD);
    if ((flags < 0 || (flags & FD_CLOEXEC)) && dup2(fd, n) == n) return n;
  }
  fcntl(fd, F_SETFD, 0);
  return fd;
}

/* Waits for the end of file on @fd (every write end closed). */
static ssize_t wait_eof(int fd) {
  char byte;
  ssize_t n;
  do n = read(fd, &byte, 1);
  while (n > 0 || (n < 0 && errno == EINTR));
  return n;
}

/* What the forked child reports on @err_fd when it cannot exec. */
enum { STAGE_EXEC, STAGE_CGROUP };

/* In the forked child: reports @stage and @e on @err_fd and exits. */
static void child_fail(int err_fd, int stage, int e) {
  int msg[2] = {stage, e};
  (void)!write(err_fd, msg, sizeof msg);
  _exit(127);
}

/* In the forked child: set it up, wait for @go_fd's end (the watcher is
 * ready) when it is not -1, join the cgroup, and exec; on failure write
 * the stage and errno to @err_fd and exit.  Only async-signal-safe calls:
 * the tool has threads. */
static void exec_child(const child_options *o, int err_fd, int go_fd,
                       pid_t parent) {
  int e;
  prctl(PR_SET_PDEATHSIG, o->death_signal);
  if (getppid() != parent) _exit(127); /* the tool is already gone */
  if (go_fd >= 0) {
    wait_eof(go_fd);
    close(go_fd);
    if (getppid() != parent) _exit(127);
  }
  if (o->cgroup != NULL && (e = cgroup_join_in_child(o->cgroup)) != 0)
    child_fail(err_fd, STAGE_CGROUP, e);
  if (o->keep_fd >= 0) {
    int n = keep_low(o->keep_fd, err_fd);
    if (o->keep_fd_slot != NULL) format_fd(n, o->keep_fd_slot);
  }
  sigfwd_reset_in_child();
  execvpe(o->argv[0], o->argv, o->envp != NULL ? o->envp : environ);
  child_fail(err_fd, STAGE_EXEC, errno);
}

/* Closes every descriptor from @low up. */
static void close_from(int low) {
  struct rlimit rl;
#ifdef SYS_close_range
  if (syscall(SYS_close_range, (unsigned)low, ~0U, 0) == 0) return;
#endif
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur > 1 << 20)
    rl.rlim_cur = 1 << 20;
  for (int fd = low; fd < (int)rl.rlim_cur; fd++) close(fd);
}

/* In the watcher: makes @fds[i] descriptor i (closed where -1), for i
 * below @n, and closes every other one. */
static void keep_fds(const int *fds, int n) {
  int high[4];
  for (int i = 0; i < n; i++)
    high[i] = fds[i] >= 0 ? fcntl(fds[i], F_DUPFD, 16) : -1;
  for (int i = 0; i < n; i++)
    if (high[i] < 0 || dup2(high[i], i) != i) close(i);
  close_from(n);
}

/* The forked watcher: leaves the tool's process group, ignores every
 * signal it can (those sent to the tool's group while it was there were
 * blocked, and are dropped now), keeps only @fd, the read end of its pipe
 * (and the cgroup's cgroup.kill), and waits.  The end of file means that
 * the tool is gone, however it died: the command's group @pgid (when not
 * 0) and the cgroup @cg (when not NULL) are killed.  The tool never writes
 * to the pipe; it stops the watcher with SIGKILL.  Only async-signal-safe
 * calls: the tool has threads. */
static void watcher_main(int fd, pid_t pgid, const cgroup *cg) {
  /* Kept: the pipe as 0, the cgroup's cgroup.kill, cgroup.freeze and
   * cgroup.procs (read) as 1, 2, 3. */
  int keep[4] = {fd, -1, -1, -1};
  struct sigaction sa;
  sigset_t none;
  setpgid(0, 0);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_IGN;
  sigemptyset(&sa.sa_mask);
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &sa, NULL);
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  prctl(PR_SET_NAME, "cancelable-wd");
  if (cg != NULL) {
    keep[1] = cg->kill_fd;
    keep[2] = cg->freeze_fd;
    keep[3] = cg->list_fd;
  }
  keep_fds(keep, 4);
  if (wait_eof(0) != 0) _exit(0);
  if (pgid > 0) kill(-pgid, SIGKILL);
  if (cg != NULL) {
    cgroup mine = {.path = cg->path,
                   .procs_fd = -1,
                   .kill_fd = keep[1] >= 0 ? 1 : -1,
                   .freeze_fd = keep[2] >= 0 ? 2 : -1,
                   .list_fd = keep[3] >= 0 ? 3 : -1};
    cgroup_end_in_child(&mine);
  }
  _exit(0);
}

/* Starts the watcher of the command's group (a fork, with every signal
 * blocked, so that no handler of the tool runs in it). */
static int watcher_start(child *c, const cgroup *cg) {
  int fds[2], e;
  sigset_t old;
  if (pipe2(fds, O_CLOEXEC) != 0) return -errno;
  sigfwd_block_all(&old);
  c->watcher = fork();
  if (c->watcher == 0) watcher_main(fds[0], c->pgid, cg);
  e = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  close(fds[0]);
  if (c->watcher < 0) {
    close(fds[1]);
    return -e;
  }
  /* Both sides, so that a SIGKILL to the tool's group cannot reach it once
   * the command may run. */
  setpgid(c->watcher, c->watcher);
  c->watcher_fd = fds[1];
  return 0;
}

/* Stops the watcher: SIGKILL before our end of the pipe is closed, so
 * that it never sees the end of file. */
static void watcher_stop(child *c) {
  if (c->watcher <= 0) return;
  kill(c->watcher, SIGKILL);
  while (waitpid(c->watcher, NULL, 0) < 0 && errno == EINTR) continue;
  close(c->watcher_fd);
  c->watcher = -1;
  c->watcher_fd = -1;
}

/* Waits for the command, which has exited or been killed. */
static void reap_command(child *c) {
  while (waitpid(c->pid, &c->status, 0) < 0 && errno == EINTR) continue;
  c->exited = true;
}

/* Reads the error the child reports and its stage, or 0 when the exec
 * succeeded (the close-on-exec pipe closed without data). */
static int read_exec_error(int fd, int *stage) {
  int msg[2] = {STAGE_EXEC, 0};
  ssize_t n;
  do n = read(fd, msg, sizeof msg);
  while (n < 0 && errno == EINTR);
  *stage = msg[0];
  return n == (ssize_t)sizeof msg ? msg[1] : 0;
}

/* Whether to wait with a pidfd: the kernel has pidfd_open(2) and
 * CANCELABLE_NO_PIDFD is not set.  Decided before the fork, so that the
 * SIGCHLD handler of the fallback is installed only when needed. */
static bool pidfd_usable(void) {
  const char *no = getenv("CANCELABLE_NO_PIDFD");
  int fd;
  if (no != NULL && *no != '\0') return false;
  fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
  if (fd < 0) return false;
  close(fd);
  return true;
}

/* Opens what the main loop polls for the command's exit.  A SIGCHLD
 * handler installed after the fork loses nothing: child_update() looks
 * before every wait. */
static int open_wait_fd(child *c) {
  int rc;
  if (c->use_pidfd) {
    c->wait_fd = (int)syscall(SYS_pidfd_open, c->pid, 0);
    if (c->wait_fd >= 0) {
      fcntl(c->wait_fd, F_SETFD, FD_CLOEXEC);
      return 0;
    }
    c->use_pidfd = false; /* out of descriptors? try the fallback */
  }
  rc = sigchld_pipe();
  if (rc < 0) {
    child_signal(c, SIGKILL);
    reap_command(c);
    watcher_stop(c);
    return rc;
  }
  c->wait_fd = rc;
  return 0;
}

int child_spawn(child *c, const child_options *o, bool *exec_failed) {
  int errpipe[2], go[2] = {-1, -1}, e, stage;
  bool watch = o->watch_group && (o->new_group || o->cgroup != NULL);
  sigset_t old;
  pid_t parent = getpid();
  memset(c, 0, sizeof *c);
  c->pid = -1;
  c->wait_fd = -1;
  c->watcher = -1;
  c->watcher_fd = -1;
  *exec_failed = false;
  /* Orphans of the command are reparented to us, so that we reap them. */
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  proctree_mark_existing(); /* without it, those are taken as the command's */
  /* As GNU timeout: the tool makes itself a process group, which the
   * command joins by inheritance.  At a shell prompt the tool is already
   * the leader of its job's group, the terminal's foreground one: the call
   * changes nothing, and the command reads the terminal, gets its Ctrl-C
   * and is stopped with the tool by Ctrl-Z.  Elsewhere (a script) the
   * group is new.  EPERM: the tool leads a session, hence its group. */
  if (o->new_group) {
    setpgid(0, 0);
    c->pgid = getpgrp();
  }
  c->use_pidfd = pidfd_usable();
  if (!c->use_pidfd && (e = sigchld_pipe()) < 0) return e;
  if (pipe2(errpipe, O_CLOEXEC) != 0) return -errno;
  if (watch && pipe2(go, O_CLOEXEC) != 0) {
    e = -errno;
    close(errpipe[0]);
    close(errpipe[1]);
    return e;
  }
  sigfwd_block_all(&old); /* no handler of ours may run in the child */
  c->pid = fork();
  if (c->pid == 0) {
    close(errpipe[0]);
    if (watch) close(go[1]);
    exec_child(o, errpipe[1], go[0], parent);
  }
  e = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  close(errpipe[1]);
  if (watch) close(go[0]);
  if (c->pid < 0) {
    close(errpipe[0]);
    if (watch) close(go[1]);
    return -e;
  }
  c->group = o->new_group;
  if (watch) {
    /* The command waits for this end of file before its exec, so that no
     * process of its group ever runs unwatched. */
    e = watcher_start(c, o->cgroup);
    close(go[1]);
    if (e != 0) {
      kill(c->pid, SIGKILL); /* before its exec */
      reap_command(c);
      close(errpipe[0]);
      return e;
    }
  }
  e = read_exec_error(errpipe[0], &stage);
  close(errpipe[0]);
  if (e != 0) {
    *exec_failed = stage == STAGE_EXEC;
    c->join_failed = stage == STAGE_CGROUP;
    reap_command(c);
    watcher_stop(c);
    return -e;
  }
  return open_wait_fd(c);
}

static void drain_sigchld_pipe(void) {
  char buf[64];
  if (chld_pipe[0] < 0) return;
  while (read(chld_pipe[0], buf, sizeof buf) > 0) continue;
}

bool child_update(child *c) {
  pid_t r;
  if (c->exited) return true;
  if (!c->use_pidfd) drain_sigchld_pipe();
  do r = waitpid(c->pid, &c->status, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == c->pid || (r < 0 && errno == ECHILD)) c->exited = true;
  return c->exited;
}

/* Sends catchable @signo to the group, which the tool is in, without
 * delivering it to the tool: blocked in this thread (the library's threads
 * block every signal), sent, and taken back from the pending set unless it
 * was pending already (then it came from someone else). */
static void signal_group_but_self(pid_t pgid, int signo) {
  sigset_t one, old, pending;
  struct timespec zero = {0, 0};
  bool was_pending;
  if (pgid != getpgrp()) {
    kill(-pgid, signo);
    return;
  }
  sigemptyset(&one);
  sigaddset(&one, signo);
  pthread_sigmask(SIG_BLOCK, &one, &old);
  sigpending(&pending);
  was_pending = sigismember(&pending, signo);
  kill(-pgid, signo);
  if (!was_pending)
    while (sigtimedwait(&one, NULL, &zero) < 0 && errno == EINTR) continue;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Sends @signo to the command and its group: the group but the tool, and
 * the command itself when it left the group (GNU timeout signals it
 * first for that).  KILL and STOP cannot spare the tool: they go to the
 * tool's descendants in the group, one by one. */
static void signal_group(const child *c, int signo) {
  if (!c->exited && getpgid(c->pid) != c->pgid) kill(c->pid, signo);
  if (signo == SIGKILL || signo == SIGSTOP)
    proctree_signal(c->pgid, signo, c->watcher);
  else
    signal_group_but_self(c->pgid, signo);
}

void child_signal(const child *c, int signo) {
  if (c->pid <= 0) return;
  if (!c->group) {
    if (signo != 0) kill(c->pid, signo);
    if (signo != SIGKILL && signo != SIGCONT) kill(c->pid, SIGCONT);
    return;
  }
  if (signo != 0) signal_group(c, signo);
  if (signo != SIGKILL && signo != SIGCONT) signal_group(c, SIGCONT);
}

/* Sleeps @seconds (at most 1 s). */
static void nap(double seconds) {
  int ms = seconds >= 1.0 ? 1000 : (int)(seconds * 1000.0) + 1;
  poll(NULL, 0, ms);
}

/* Reaps every zombie of ours in the command's group. */
static void reap_group(child *c) {
  int status;
  pid_t r;
  for (;;) {
    r = waitpid(-c->pgid, &status, WNOHANG);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return;
    if (r == c->pid) {
      c->status = status;
      c->exited = true;
    }
  }
}

bool child_group_alive(child *c) {
  if (!c->group || c->pid <= 0) return false;
  reap_group(c);
  /* The tool is a member: look for its descendants in the group. */
  return proctree_signal(c->pgid, 0, c->watcher) > 0;
}

bool child_group_wait(child *c, double timeout) {
  double deadline = child_now() + timeout;
  while (child_group_alive(c)) {
    double left = isinf(timeout) ? 0.05 : deadline - child_now();
    if (left <= 0) return false;
    /* Members are not our children until orphaned: look every 50 ms. */
    nap(left < 0.05 ? left : 0.05);
  }
  return true;
}

void child_close(child *c) {
  if (c->use_pidfd && c->wait_fd >= 0) close(c->wait_fd);
  c->wait_fd = -1;
  watcher_stop(c);
}
