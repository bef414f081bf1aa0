/* src/runtime/wakeup.h - descriptors that can be made readable for good. */
#ifndef CX_RUNTIME_WAKEUP_H
#define CX_RUNTIME_WAKEUP_H

/* ---- wakeup fd (wakeup-eventfd.c or wakeup-pipe.c): a descriptor that can
 * be made readable for good. */
typedef struct cx__wakeup {
  int read_fd;  /* what pollers watch */
  int write_fd; /* what cx__wakeup_signal writes (== read_fd for eventfd) */
} cx__wakeup;
/* Creates a close-on-exec, non-blocking wakeup.  Returns 0 or -errno. */
int cx__wakeup_open(cx__wakeup *w);
/* Makes it readable.  Async-signal-safe. */
void cx__wakeup_signal(const cx__wakeup *w);
/* The same from a signal handler: the write is a raw system call, which no
 * sanitizer intercepts (ThreadSanitizer runs a handler deferred at the end
 * of the next intercepted call; a handler that itself makes one can re-enter
 * that delivery, which then leaves every signal blocked in the thread). */
void cx__wakeup_signal_async(const cx__wakeup *w);
/* Makes it unreadable again (reads what the signals wrote); for wake-ups
 * that are drained, as a notifier's.  Never blocks. */
void cx__wakeup_clear(const cx__wakeup *w);
void cx__wakeup_close(cx__wakeup *w);

#endif /* CX_RUNTIME_WAKEUP_H */
