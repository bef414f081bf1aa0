/* src/runtime/wakeup-pipe.c - wakeup descriptor backed by a pipe, where
 * eventfd(2) is missing. */
#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/wakeup.h"

static int set_flags(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) return -errno;
  return 0;
}

int cx__wakeup_open(cx__wakeup *w) {
  int fds[2], rc;
  if (pipe(fds) != 0) return -errno;
  rc = set_flags(fds[0]);
  if (rc == 0) rc = set_flags(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    close(fds[1]);
    return rc;
  }
  w->read_fd = fds[0];
  w->write_fd = fds[1];
  return 0;
}

void cx__wakeup_signal(const cx__wakeup *w) {
  char c = 1;
  ssize_t n;
  int saved = errno; /* may run in a signal handler */
  do {
    n = write(w->write_fd, &c, 1);
  } while (n < 0 && errno == EINTR);
  errno = saved;
}

void cx__wakeup_signal_async(const cx__wakeup *w) {
  char c = 1;
  long n;
  int saved = errno;
  do {
    n = syscall(SYS_write, w->write_fd, &c, 1);
  } while (n < 0 && errno == EINTR);
  errno = saved;
}

void cx__wakeup_clear(const cx__wakeup *w) {
  char buf[256];
  ssize_t n;
  do {
    n = read(w->read_fd, buf, sizeof buf);
  } while (n == (ssize_t)sizeof buf || (n < 0 && errno == EINTR));
}

void cx__wakeup_close(cx__wakeup *w) {
  if (w->read_fd >= 0) close(w->read_fd);
  if (w->write_fd >= 0 && w->write_fd != w->read_fd) close(w->write_fd);
  w->read_fd = w->write_fd = -1;
}
