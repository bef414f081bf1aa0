/* tools/cancelable/sigfwd.h - the tool's own signal handling: signals it
 * forwards to the command (through a self-pipe read by the main loop),
 * signals it ignores, and the dispositions a spawned command must get. */
#ifndef CANCELABLE_TOOL_SIGFWD_H
#define CANCELABLE_TOOL_SIGFWD_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

/* sigfwd_init: record the dispositions and mask the tool started with (the
 * command inherits those, not the tool's handlers), and ignore SIGPIPE,
 * SIGTTIN and SIGTTOU in the tool.  Call first, once.
 * Returns: 0 or a negative errno. */
int sigfwd_init(void);

/* sigfwd_catch: route @signals (a handler writes the number to the
 * self-pipe; see sigfwd_fd()).  Signals already handled by someone else
 * (the library's signal sources) must not be in the list.
 * Returns: 0 or a negative errno. */
int sigfwd_catch(const int *signals, size_t count);

/* The read end of the self-pipe (non-blocking), or -1 before
 * sigfwd_catch(). */
int sigfwd_fd(void);

/* Reads one caught signal number from the pipe.
 * Returns: the signal, or 0 when none is pending. */
int sigfwd_next(void);

/* In a forked child before exec (async-signal-safe): restore the start-up
 * dispositions (ignored stays ignored, everything else default), except
 * that the signals the tool catches, and TTIN and TTOU, get the default
 * action as GNU timeout's command does (a caught signal is reset by exec):
 * an INT the shell ignored in a background job still reaches the command.
 * Restores the start-up signal mask. */
void sigfwd_reset_in_child(void);

/* From a signal handler: writes @byte to @fd (non-blocking) as a raw
 * system call, which no sanitizer intercepts (ThreadSanitizer, running a
 * deferred handler that makes an intercepted call, can re-enter its own
 * delivery and leave every signal blocked).  Keeps errno. */
void sigfwd_write_byte(int fd, unsigned char byte);

/* Blocks every signal in the calling thread, saving the mask in @old. */
void sigfwd_block_all(sigset_t *old);

/* sigfwd_die_of: die of @sig, as the command did, so that the caller sees
 * a death by that signal and not an exit status: a shell stops a loop
 * whose command dies of SIGINT, which one Ctrl-C at the terminal then
 * ends.  Core dumps are turned off first (GNU timeout's rule: a SIGQUIT or
 * SIGSEGV must not leave a core of the tool); standard streams are
 * flushed.  Returns only when that cannot be done (then the caller exits
 * 128+@sig). */
void sigfwd_die_of(int sig);

#endif /* CANCELABLE_TOOL_SIGFWD_H */
