/* tools/cancelable/sigfwd.c - catches the signals the tool forwards to the
 * command (a handler writes the signal number to a self-pipe, the main loop
 * reads it) and restores the original dispositions in the command. */
#include "sigfwd.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static int pipe_fds[2] = {-1, -1};
static sigset_t ignored_at_start; /* signals the tool inherited as SIG_IGN */
/* TTIN and TTOU: ignored by the tool for itself, default in the command
 * (as GNU timeout does). */
static sigset_t default_in_child;
static sigset_t mask_at_start;

void sigfwd_write_byte(int fd, unsigned char byte) {
  int saved = errno;
  while (syscall(SYS_write, fd, &byte, 1) < 0 && errno == EINTR) continue;
  errno = saved;
}

static void on_signal(int signo) {
  sigfwd_write_byte(pipe_fds[1], (unsigned char)signo);
}

int sigfwd_init(void) {
  struct sigaction sa;
  sigemptyset(&ignored_at_start);
  sigemptyset(&default_in_child);
  sigaddset(&default_in_child, SIGTTIN);
  sigaddset(&default_in_child, SIGTTOU);
  for (int sig = 1; sig < NSIG; sig++) {
    struct sigaction old;
    if (sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_IGN)
      sigaddset(&ignored_at_start, sig);
  }
  pthread_sigmask(SIG_SETMASK, NULL, &mask_at_start);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_IGN;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGPIPE, &sa, NULL) != 0 ||
      sigaction(SIGTTIN, &sa, NULL) != 0 || sigaction(SIGTTOU, &sa, NULL) != 0)
    return -errno;
  return 0;
}

int sigfwd_catch(const int *signals, size_t count) {
  struct sigaction sa;
  if (pipe_fds[0] < 0 && pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0)
    return -errno;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < count; i++) {
    if (sigaction(signals[i], &sa, NULL) != 0) return -errno;
    /* ALRM means "time is up": blocked in the mask the tool inherited, it
     * would never come (GNU timeout unblocks it too). */
    if (signals[i] == SIGALRM) {
      sigset_t alrm;
      sigemptyset(&alrm);
      sigaddset(&alrm, SIGALRM);
      pthread_sigmask(SIG_UNBLOCK, &alrm, NULL);
    }
  }
  return 0;
}

int sigfwd_fd(void) { return pipe_fds[0]; }

int sigfwd_next(void) {
  unsigned char byte;
  if (pipe_fds[0] < 0) return 0;
  return read(pipe_fds[0], &byte, 1) == 1 ? byte : 0;
}

void sigfwd_reset_in_child(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  for (int sig = 1; sig < NSIG; sig++) {
    struct sigaction now;
    bool caught;
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    /* A signal the tool (or the library's signal dispatcher) catches gets
     * the default action, as exec gives any caught signal: so GNU
     * timeout's command gets INT even in a background job of a script,
     * where the shell ignored it for the tool. */
    caught = sigaction(sig, NULL, &now) == 0 && now.sa_handler != SIG_IGN &&
             now.sa_handler != SIG_DFL;
    sa.sa_handler = sigismember(&ignored_at_start, sig) && !caught &&
                            !sigismember(&default_in_child, sig)
                        ? SIG_IGN
                        : SIG_DFL;
    sigaction(sig, &sa, NULL);
  }
  sigprocmask(SIG_SETMASK, &mask_at_start, NULL);
}

void sigfwd_block_all(sigset_t *old) {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, old);
}

void sigfwd_die_of(int sig) {
  struct rlimit none = {0, 0};
  struct sigaction sa;
  sigset_t set;
  if (setrlimit(RLIMIT_CORE, &none) != 0) return;
  fflush(NULL);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  /* SIGKILL cannot be caught or blocked: raise() alone ends the process. */
  if (sig != SIGKILL && sigaction(sig, &sa, NULL) != 0) return;
  sigemptyset(&set);
  sigaddset(&set, sig);
  pthread_sigmask(SIG_UNBLOCK, &set, NULL);
  raise(sig); /* this thread's: the default action ends the process */
}
