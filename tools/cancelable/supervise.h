/* tools/cancelable/supervise.h - runs the command inside an entered
 * operation: spawn, wait with cx_poll() (the cancellation point), forward
 * signals, read progress, and on cancel stop the command's process group
 * (stop signal, grace period, SIGKILL). */
#ifndef CANCELABLE_TOOL_SUPERVISE_H
#define CANCELABLE_TOOL_SUPERVISE_H

#include <cancelable.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "cgroup.h"
#include "progress_channel.h"

typedef struct supervise_config {
  char **argv;      /* the command */
  const char *prog; /* prefix of the tool's messages */
  bool foreground;  /* no process group: signal the command only */
  int stop_signal;  /* sent on cancel (0: none) */
  double grace;     /* seconds from the stop signal to SIGKILL; INFINITY:
                       never */
  bool clean_group; /* also stop and reap what is left of the group when
                       the command ends by itself (`run`) */
  double kill_after_forward;  /* after forwarding a signal, SIGKILL once
                                 this many seconds passed (GNU timeout -k);
                                 INFINITY: never */
  bool progress_channel;      /* give the command $CANCELABLE_PROGRESS_FD */
  bool live;                  /* draw the --progress status line */
  bool verbose;               /* say what is sent to whom */
  int death_signal;           /* the command's signal when the tool dies */
  bool watch_group;           /* kill the group when the tool dies (not with
                                 foreground) */
  bool gnu_messages;          /* --verbose says "sending signal TERM to
                                 command 'x'" as GNU timeout (else names the
                                 process group) */
  int alarm_signal;           /* a caught signal that means "time is up"
                                 (SIGALRM, as GNU timeout's own timer), or 0:
                                 the op is cancelled with reason TIMEOUT; one
                                 more while the command is being stopped
                                 sends the stop signal again (or KILL with
                                 alarm_kill) */
  bool alarm_kill;            /* see alarm_signal (GNU timeout -k) */
  bool forward_cancel_signal; /* a cancel by a signal source (reason
                                 SIGNAL) for INT, QUIT, HUP or TERM sends
                                 the command that signal, not stop_signal:
                                 the user's Ctrl-C reaches it as INT and
                                 its INT handler runs (`run`) */
  const cgroup *cgroup;       /* (nullable) the command runs in it (`run
                                 --cgroup`); once the command and its group
                                 are done, what is left in it is stopped
                                 (stop signal, grace, then killed whole) */
} supervise_config;

typedef struct supervise_result {
  bool ran;         /* the command was started */
  bool exec_failed; /* exec failed with @error (ENOENT, EACCES...) */
  bool join_failed; /* the command could not join cfg->cgroup (@error) */
  int error;        /* positive errno: spawn failure or tool error */
  pid_t pid;
  int status;         /* the command's wait status, when @ran */
  bool cancelled;     /* the op was cancelled and the tool stopped it */
  bool stop_sent;     /* the stop signal was sent */
  bool killed;        /* SIGKILL was sent */
  bool leftovers;     /* members of the group (or cgroup) outlived the
                         command and were stopped */
  sigset_t passed_on; /* signals the tool received and sent on to the
                         command (forwarded, or a cancel signal with
                         forward_cancel_signal) */
} supervise_result;

/* supervise: run @cfg->argv under @op, which the caller has entered.
 * @st: the progress state attached to @op (for the status line).
 * Returns: 0 when the command ran (whatever its status), or a negative
 *   errno (see @res->exec_failed and @res->error). */
int supervise(cx_op *op, const supervise_config *cfg, progress_state *st,
              supervise_result *res);

/* supervise_stop_escaped: once the command and its group are gone (and
 * the watcher stopped), stop the tool's descendants that are left: those
 * that left the group (setsid, a daemon's double fork), which a child
 * subreaper gets back when orphaned.  The stop signal and SIGCONT, then
 * SIGKILL after the grace period (5 s when it is infinite); sets
 * @res->leftovers when there were any.  For `run`: it leaves nothing
 * behind.  The commands of conditions must be stopped first. */
void supervise_stop_escaped(const supervise_config *cfg, supervise_result *res);

/* supervise_cancel_signal: the signal that cancelled @op, when a signal
 * source did (its message is "received signal SIGINT (2)",
 * cx_source_signal()).  Returns: the signal, or 0. */
int supervise_cancel_signal(cx_op *op);

#endif /* CANCELABLE_TOOL_SUPERVISE_H */
