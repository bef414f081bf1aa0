/* src/runtime/wakeup-eventfd.c - wakeup descriptor backed by eventfd(2). */
#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/wakeup.h"

int cx__wakeup_open(cx__wakeup *w) {
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return -errno;
  w->read_fd = w->write_fd = fd;
  return 0;
}

void cx__wakeup_signal(const cx__wakeup *w) {
  uint64_t one = 1;
  ssize_t n;
  int saved = errno; /* may run in a signal handler */
  do {
    n = write(w->write_fd, &one, sizeof one);
  } while (n < 0 && errno == EINTR);
  errno = saved;
}

void cx__wakeup_signal_async(const cx__wakeup *w) {
  uint64_t one = 1;
  long n;
  int saved = errno;
  do {
    n = syscall(SYS_write, w->write_fd, &one, sizeof one);
  } while (n < 0 && errno == EINTR);
  errno = saved;
}

void cx__wakeup_clear(const cx__wakeup *w) {
  uint64_t count;
  ssize_t n;
  do {
    n = read(w->read_fd, &count, sizeof count);
  } while (n < 0 && errno == EINTR);
}

void cx__wakeup_close(cx__wakeup *w) {
  if (w->read_fd >= 0) close(w->read_fd);
  w->read_fd = w->write_fd = -1;
}
