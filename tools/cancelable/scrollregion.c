/* tools/cancelable/scrollregion.c - the scroll region that keeps the
 * terminal's last row for the status line (apt's install-progress.cc does
 * the same: index, save the cursor, DECSTBM, restore, up one row), and its
 * reset on every way out. */
#include "scrollregion.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sigfwd.h"

/* The signals whose default action ends the process (SIGKILL aside):
 * those still at SIG_DFL when the region is set get reset_on_fatal(). */
static const int fatal_signals[] = {
    SIGHUP,    SIGINT,  SIGQUIT,   SIGILL,  SIGTRAP, SIGABRT, SIGBUS,
    SIGFPE,    SIGUSR1, SIGSEGV,   SIGUSR2, SIGPIPE, SIGALRM, SIGTERM,
    SIGXCPU,   SIGXFSZ, SIGVTALRM, SIGPROF, SIGIO,   SIGSYS,
#ifdef SIGSTKFLT
    SIGSTKFLT,
#endif
#ifdef SIGPWR
    SIGPWR,
#endif
};

static int term_fd = -1;
static int rows;                     /* the terminal's rows; 0: no region */
static bool fatal_caught[NSIG];      /* reset_on_fatal() installed by us */
static struct sigaction saved[NSIG]; /* what it replaced */
static bool tstp_caught, winch_caught;

/* The rows a dying tool's reset is for (reset_on_fatal(), on any thread):
 * one atomic int, from which a handler formats the reset on its own
 * stack, so that no buffer is shared with the thread that resizes. */
static _Atomic int reset_rows;

/* Writes @len bytes as raw system calls (no sanitizer interceptor: also
 * from a signal handler); keeps errno. */
static void put(const char *buf, size_t len) {
  int saved_errno = errno;
  while (len > 0) {
    long n = syscall(SYS_write, term_fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buf += n;
    len -= (size_t)n;
  }
  errno = saved_errno;
}

/* The terminal's rows, or 0 when unknown. */
static int terminal_rows(void) {
  struct winsize ws;
  return ioctl(term_fd, TIOCGWINSZ, &ws) == 0 ? ws.ws_row : 0;
}

/* Appends @s to @buf at *@n (async-signal-safe). */
static void append(char *buf, size_t *n, const char *s) {
  while (*s != '\0') buf[(*n)++] = *s++;
}

/* The reset for @rows rows into @buf (64 bytes; async-signal-safe, no
 * stdio): the full screen scrolls again (DECSTBM without margins moves the
 * cursor home: saved and restored around it), and the last row, where the
 * status line was, is cleared.  Returns its length. */
static size_t format_reset(char *buf, int rows_now) {
  char digits[12];
  size_t n = 0, d = 0;
  unsigned v = rows_now > 0 ? (unsigned)rows_now : 1u;
  do digits[d++] = (char)('0' + v % 10u);
  while ((v /= 10u) != 0 && d < sizeof digits);
  append(buf, &n, "\0337\033[r\0338\0337\033[");
  while (d > 0) buf[n++] = digits[--d];
  append(buf, &n, ";1H\033[2K\0338");
  return n;
}

/* Writes the reset for the size a handler would use. */
static void put_reset(void) {
  char buf[64];
  put(buf, format_reset(buf, atomic_load(&reset_rows)));
}

/* Records the current size for a handler. */
static void prepare_reset(void) { atomic_store(&reset_rows, rows); }

/* Scrolls all rows but the last: index (the screen moves up one row when
 * the cursor is on the last), save the cursor, set the margins (which
 * moves it home), restore it, and up one row, back to its text. */
static void set_region(void) {
  char buf[64];
  int n =
      snprintf(buf, sizeof buf, "\033D\0337\033[1;%dr\0338\033[1A", rows - 1);
  put(buf, (size_t)n);
  prepare_reset();
}

/* A signal whose default action ends the tool: reset the terminal, then
 * die of it (SA_RESETHAND put the default action back; the signal is
 * blocked here, so it comes once the handler returns). */
static void reset_on_fatal(int signo) {
  put_reset();
  syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), signo);
}

static void catch_fatal(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = reset_on_fatal;
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++) {
    int sig = fatal_signals[i];
    if (sigaction(sig, NULL, &saved[sig]) == 0 &&
        saved[sig].sa_handler == SIG_DFL && sigaction(sig, &sa, NULL) == 0)
      fatal_caught[sig] = true;
  }
  for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
    if (sigaction(sig, NULL, &saved[sig]) == 0 &&
        saved[sig].sa_handler == SIG_DFL && sigaction(sig, &sa, NULL) == 0)
      fatal_caught[sig] = true;
}

/* Catches @sig through the signal pipe, saving its disposition; only when
 * it is the default one.  Returns: whether it is caught. */
static bool catch_piped(int sig) {
  if (sigaction(sig, NULL, &saved[sig]) != 0 ||
      saved[sig].sa_handler != SIG_DFL)
    return false;
  return sigfwd_catch(&sig, 1) == 0;
}

/* Puts back @sig's disposition when it is still reset_on_fatal(). */
static void restore_fatal(int sig) {
  struct sigaction now;
  if (sigaction(sig, NULL, &now) == 0 && now.sa_handler == reset_on_fatal)
    sigaction(sig, &saved[sig], NULL);
}

bool scrollregion_start(int fd) {
  if (rows > 0) return false;
  term_fd = fd;
  rows = terminal_rows();
  if (rows < 3) {
    rows = 0;
    return false;
  }
  tstp_caught = catch_piped(SIGTSTP);
  winch_caught = catch_piped(SIGWINCH);
  set_region();
  catch_fatal();
  return true;
}

int scrollregion_row(void) { return rows; }

/* Stops the tool as SIGTSTP's default action would, with the terminal
 * reset meanwhile (the shell's prompt then has the whole screen). */
static void suspend(void) {
  struct sigaction dfl, ours;
  sigset_t tstp, old;
  put_reset();
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigemptyset(&tstp);
  sigaddset(&tstp, SIGTSTP);
  sigaction(SIGTSTP, &dfl, &ours);
  pthread_sigmask(SIG_UNBLOCK, &tstp, &old);
  raise(SIGTSTP); /* stops here until SIGCONT (nothing in an orphaned group) */
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  sigaction(SIGTSTP, &ours, NULL);
}

bool scrollregion_on_signal(int signo) {
  if (rows == 0 || (signo != SIGWINCH && signo != SIGTSTP)) return false;
  if (signo == SIGTSTP) suspend();
  /* After a resize (or while stopped) the terminal may have reset the
   * margins and moved the text: set them again for the size it has now. */
  {
    char buf[16];
    put(buf, (size_t)snprintf(buf, sizeof buf, "\0337\033[r\0338"));
  }
  if (terminal_rows() < 3) {
    scrollregion_end(); /* too small now: the line goes without a region */
    return true;
  }
  rows = terminal_rows();
  set_region();
  return true;
}

void scrollregion_end(void) {
  char buf[64];
  if (rows == 0) return;
  for (int sig = 1; sig < NSIG; sig++)
    if (fatal_caught[sig]) {
      restore_fatal(sig);
      fatal_caught[sig] = false;
    }
  put(buf, format_reset(buf, rows));
  rows = 0;
  /* The pipe's handler; nothing reads it once the line is gone. */
  if (tstp_caught) sigaction(SIGTSTP, &saved[SIGTSTP], NULL);
  if (winch_caught) sigaction(SIGWINCH, &saved[SIGWINCH], NULL);
  tstp_caught = winch_caught = false;
}
